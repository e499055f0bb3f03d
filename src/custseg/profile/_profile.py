"""Per-segment profiles: size, averages in original units, z-scores, category mix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from custseg.profile._actions import suggest_action
from custseg.profile._naming import segment_traits, unique_names

__all__ = ["SegmentProfile", "profile_segments", "profiles_frame"]


@dataclass(frozen=True)
class SegmentProfile:
    """Everything custseg says about one segment.

    ``z`` holds, per numeric feature, (segment mean - overall mean) / overall
    standard deviation. ``categories`` holds, per categorical feature, the share
    of each value within the segment.
    """

    segment: int
    name: str
    size: int
    share: float
    mean: dict[str, float]
    median: dict[str, float]
    z: dict[str, float]
    categories: dict[str, dict[str, float]]
    traits: tuple[str, ...]
    action_title: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return asdict(self)


def profile_segments(
    frame: pd.DataFrame,
    labels: np.ndarray,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> tuple[SegmentProfile, ...]:
    """Profile each segment of ``frame`` (features in original units).

    Parameters
    ----------
    frame : DataFrame
        The feature columns, numeric ones as floats (missing values allowed).
    labels : array of int
        Segment of each row, 0..k-1 (negative labels are ignored).

    Examples
    --------
    >>> df = pd.DataFrame({"Income": [10.0, 12, 90, 95], "Gender": list("FFMM")})
    >>> p = profile_segments(df, np.array([0, 0, 1, 1]), ["Income"], ["Gender"])
    >>> p[1].name, p[1].mean["Income"], p[1].categories["Gender"]["M"]
    ('High income, mostly M', 92.5, 1.0)
    """
    labels = np.asarray(labels)
    valid = labels >= 0
    k = int(labels[valid].max()) + 1 if valid.any() else 0
    num = (
        frame[list(numeric)].astype("float64")
        if numeric
        else pd.DataFrame(index=frame.index)
    )
    overall_mean = num.mean()
    overall_std = num.std(ddof=0).replace(0, np.nan)
    overall_cat = {
        c: frame[c].value_counts(normalize=True, dropna=True).to_dict()
        for c in categorical
    }
    groups = pd.Series(labels, index=frame.index)
    means = num.groupby(groups).mean() if numeric else None
    medians = num.groupby(groups).median() if numeric else None
    n_total = int(valid.sum())

    raw = []
    for seg in range(k):
        mask = labels == seg
        size = int(mask.sum())
        mean = {
            c: _num(means.loc[seg, c])
            if means is not None and seg in means.index
            else math.nan
            for c in numeric
        }
        median = {
            c: _num(medians.loc[seg, c])
            if medians is not None and seg in medians.index
            else math.nan
            for c in numeric
        }
        z = {c: _num((mean[c] - overall_mean[c]) / overall_std[c]) for c in numeric}
        cats = {
            c: {
                str(v): float(s)
                for v, s in frame.loc[mask, c].value_counts(normalize=True).items()
            }
            for c in categorical
        }
        traits = segment_traits(
            z,
            cats,
            {c: {str(k2): v for k2, v in d.items()} for c, d in overall_cat.items()},
        )
        raw.append((seg, size, mean, median, z, cats, traits))

    # Fallback names ("Average income and spending") use the features that vary
    # most between segments.
    order = sorted(numeric, key=lambda c: -_spread([r[4][c] for r in raw]))
    names = unique_names([r[6] for r in raw], order or list(categorical))
    profiles = []
    for (seg, size, mean, median, z, cats, traits), name in zip(
        raw, names, strict=True
    ):
        action = suggest_action(z)
        profiles.append(
            SegmentProfile(
                segment=seg,
                name=name,
                size=size,
                share=size / n_total if n_total else 0.0,
                mean=mean,
                median=median,
                z=z,
                categories=cats,
                traits=tuple(p for _, p in traits),
                action_title=action.title,
                action=action.text,
            )
        )
    return tuple(profiles)


def profiles_frame(profiles: Sequence[SegmentProfile]) -> pd.DataFrame:
    """One row per segment: size, share, name, action, then mean/median/z per
    numeric feature and the share of each category.

    Examples
    --------
    >>> df = pd.DataFrame({"Income": [10.0, 12, 90, 95]})
    >>> profiles_frame(profile_segments(df, np.array([0, 0, 1, 1]), ["Income"], []))[
    ...     ["segment", "size", "mean Income"]].to_dict("list")
    {'segment': [0, 1], 'size': [2, 2], 'mean Income': [11.0, 92.5]}
    """
    rows = []
    for p in profiles:
        row: dict[str, Any] = {
            "segment": p.segment,
            "name": p.name,
            "size": p.size,
            "share": round(p.share, 6),
            "action": p.action_title,
        }
        for col in p.mean:
            row[f"mean {col}"] = p.mean[col]
        for col in p.median:
            row[f"median {col}"] = p.median[col]
        for col in p.z:
            row[f"z {col}"] = round(p.z[col], 6)
        for col, shares in p.categories.items():
            for value, share in sorted(shares.items()):
                row[f"share {col}={value}"] = round(share, 6)
        rows.append(row)
    return pd.DataFrame(rows)


def _spread(z: list[float]) -> float:
    finite = [abs(v) for v in z if not math.isnan(v)]
    return max(finite) if finite else 0.0


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out
