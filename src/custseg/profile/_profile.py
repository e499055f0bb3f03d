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

__all__ = [
    "CategoryShares",
    "NumericStats",
    "SegmentProfile",
    "profile_segments",
    "profiles_frame",
    "profiles_from_stats",
]


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

    def feature_lines(self) -> tuple[tuple[str, str], ...]:
        """``(feature, text)`` for each feature, as the cards show them:
        ``("Annual Income (k$)", "mean 86.54 (+1.0 sd)")`` for a numeric one,
        ``("Gender", "Female 59%, Male 41%")`` (top three) for a categorical
        one."""
        from custseg._format import number, signed

        numeric = tuple(
            (name, f"mean {number(mean) or 'n/a'} ({signed(self.z.get(name, 0.0))} sd)")
            for name, mean in self.mean.items()
        )
        categorical = tuple(
            (name, ", ".join(f"{v} {s:.0%}" for v, s in list(shares.items())[:3]))
            for name, shares in self.categories.items()
        )
        return numeric + categorical

    def _repr_html_(self) -> str:
        """Jupyter: the segment as a card (size, means, categories, action)."""
        from custseg.report._notebook import profile_html

        return profile_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return asdict(self)


def profile_segments(
    frame: pd.DataFrame,
    labels: np.ndarray,
    numeric: Sequence[str],
    categorical: Sequence[str],
    log_columns: Sequence[str] = (),
) -> tuple[SegmentProfile, ...]:
    """Profile each segment of ``frame`` (features in original units).

    Means and medians are in original units. The z-score of a feature in
    ``log_columns`` is measured on the ``asinh`` scale the clustering used: on a
    heavy-tailed feature such as spend, a raw z says nothing about most
    segments (a few huge spenders set the standard deviation).

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
    # One column at a time: a copy of all feature columns at once would double
    # memory on large tables. Rows are put in segment order once (a stable
    # integer sort), so each segment's median is one partition of a slice.
    order = np.argsort(np.where(valid, labels, k), kind="stable")
    sizes = np.bincount(labels[valid], minlength=k)
    z_stats = {}
    for c in log_columns:
        logged = pd.Series(
            np.arcsinh(
                pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64")
            )
        )
        z_stats[c] = _numeric_stats(logged, labels, order, sizes)
    return profiles_from_stats(
        sizes,
        {c: _numeric_stats(frame[c], labels, order, sizes) for c in numeric},
        {c: _category_shares(frame[c], labels, valid, k) for c in categorical},
        z_stats=z_stats,
    )


NumericStats = tuple[float, float, np.ndarray, np.ndarray]
CategoryShares = tuple[list[dict[str, float]], dict[str, float]]


def profiles_from_stats(
    sizes: np.ndarray,
    numeric: dict[str, NumericStats],
    categorical: dict[str, CategoryShares],
    z_stats: dict[str, NumericStats] | None = None,
) -> tuple[SegmentProfile, ...]:
    """Name, profile and suggest an action for each segment from its statistics.

    This is the engine-neutral half of :func:`profile_segments`: an engine that
    aggregates elsewhere (Spark) computes the same statistics and calls it.

    Parameters
    ----------
    sizes : array of int, one per segment
    numeric : dict
        Per numeric feature: (overall mean, overall population standard
        deviation, per-segment means, per-segment medians).
    categorical : dict
        Per categorical feature: (per segment, the share of each value, largest
        first; overall shares).
    z_stats : dict, optional
        Statistics of the same kind, for the features whose z-scores come from
        another scale (the log scale of log-transformed features).
    """
    z_source = {**numeric, **(z_stats or {})}
    k = len(sizes)
    n_total = int(np.sum(sizes))
    raw = []
    for seg in range(k):
        mean = {c: _num(st[2][seg]) for c, st in numeric.items()}
        median = {c: _num(st[3][seg]) for c, st in numeric.items()}
        z = {
            c: _num((st[2][seg] - st[0]) / st[1]) if st[1] > 0 else math.nan
            for c, st in ((c, z_source[c]) for c in numeric)
        }
        cats = {c: sh[0][seg] for c, sh in categorical.items()}
        traits = segment_traits(z, cats, {c: sh[1] for c, sh in categorical.items()})
        raw.append((seg, int(sizes[seg]), mean, median, z, cats, traits))

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


def _numeric_stats(
    column: pd.Series, labels: np.ndarray, order: np.ndarray, sizes: np.ndarray
) -> NumericStats:
    """Overall mean and standard deviation, and per-segment means and medians,
    of a numeric column (infinite and absurd values count as missing).
    ``order`` sorts the rows by segment; ``sizes`` counts each segment."""
    from custseg.prep import finite_values

    k = len(sizes)
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        column = pd.to_numeric(column.astype("string").str.strip(), errors="coerce")
    values, _ = finite_values(column.to_numpy(dtype="float64", na_value=np.nan))
    present = ~np.isnan(values)
    if not present.any():
        nothing = np.full(k, np.nan)
        return math.nan, math.nan, nothing, nothing
    with np.errstate(invalid="ignore", over="ignore"):
        overall_mean = float(np.nanmean(values))
        overall_std = float(np.nanstd(values))
    by_segment = values[order]
    del values
    means = np.full(k, np.nan)
    medians = np.full(k, np.nan)
    start = 0
    for seg, size in enumerate(sizes):
        part = by_segment[start : start + size]
        start += size
        part = part[~np.isnan(part)] if np.isnan(part).any() else part
        if len(part):
            means[seg] = part.mean()
            medians[seg] = np.median(part, overwrite_input=True)
    return overall_mean, overall_std, means, medians


def _category_shares(
    column: pd.Series, labels: np.ndarray, valid: np.ndarray, k: int
) -> CategoryShares:
    """Share of each value within each segment (largest first) and overall."""
    codes, uniques = pd.factorize(column, sort=False)
    m = len(uniques)
    names = [str(v) for v in uniques]
    keep = valid & (codes >= 0)
    table = np.bincount(labels[keep] * m + codes[keep], minlength=k * m).reshape(k, m)
    overall_counts = np.bincount(codes[codes >= 0], minlength=m)

    def shares(counts: np.ndarray) -> dict[str, float]:
        total = counts.sum()
        order = sorted(range(m), key=lambda j: -counts[j])
        return {names[j]: float(counts[j] / total) for j in order if counts[j]}

    return [shares(table[s]) for s in range(k)], shares(overall_counts)


def _spread(z: list[float]) -> float:
    finite = [abs(v) for v in z if not math.isnan(v)]
    return max(finite) if finite else 0.0


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out
