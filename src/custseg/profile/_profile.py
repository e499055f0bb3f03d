"""Per-segment profiles: size, averages in original units, z-scores, category mix."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from custseg.profile._actions import suggest_action
from custseg.profile._naming import segment_traits, unique_names

__all__ = [
    "CARD_FEATURES",
    "CategoryShares",
    "FeatureLine",
    "NumericStats",
    "SegmentProfile",
    "profile_segments",
    "feature_separation",
    "profiles_frame",
    "profiles_from_stats",
    "separating_pair",
]


# Distinguishing features a card shows before folding the rest away.
CARD_FEATURES = 5


@dataclass(frozen=True)
class FeatureLine:
    """One feature of one segment as a person reads it: ``label`` (the
    readable name of ``feature``), ``value`` in original units formatted by
    the column's ``role``, how it ``compares`` with the average of all
    customers ("2.3x avg", "+18 points"), and the ``effect`` it is ranked by
    (the standardised difference from the other customers)."""

    feature: str
    label: str
    role: str
    value: str
    compares: str
    effect: float

    @property
    def text(self) -> str:
        """``"812 (2.3x avg)"``."""
        return f"{self.value} ({self.compares})" if self.compares else self.value


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
    # Added with readable cards; models saved before them load with these
    # empty and fall back to names-only guesses.
    overall: dict[str, float] = field(default_factory=dict)
    overall_categories: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    effect: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def distinguishing(self) -> tuple[FeatureLine, ...]:
        """Every feature, the ones that set this segment apart most first
        (largest absolute effect; ties in feature order).

        A numeric feature's effect is (segment mean - mean of the other
        customers) / overall standard deviation; a categorical feature's is
        the same for its most over- or under-represented value, whose share
        the line shows.
        """
        from custseg._format import by_role, compare
        from custseg.quality import guess_role, readable_label

        lines: list[FeatureLine] = []
        for name, raw_mean in self.mean.items():
            mean = _num(raw_mean)
            role = self.roles.get(name) or guess_role(name)
            label = self.labels.get(name) or readable_label(name)
            overall = _num(self.overall.get(name, math.nan))
            bounded = role not in {"share", "frequency"} or (
                0 <= overall <= 1 and (math.isnan(mean) or 0 <= mean <= 1)
            )
            effect = _num(self.effect.get(name, self.z.get(name, math.nan)))
            lines.append(
                FeatureLine(
                    name,
                    label,
                    role,
                    by_role(mean, role, bounded=bounded),
                    compare(mean, overall, role, bounded=bounded),
                    effect,
                )
            )
        for name, shares in self.categories.items():
            label = self.labels.get(name) or readable_label(name)
            base = self.overall_categories.get(name, {})
            best: tuple[float, str, float, float] | None = None
            for value, share in shares.items():
                p = base.get(value, share)
                effect = (share - p) / math.sqrt(p * (1 - p)) if 0 < p < 1 else 0.0
                if best is None or abs(effect) > abs(best[0]):
                    best = (effect, value, share, p)
            for value, p in base.items():  # a value the segment lacks
                if value not in shares and 0 < p < 1:
                    effect = -p / math.sqrt(p * (1 - p))
                    if best is None or abs(effect) > abs(best[0]):
                        best = (effect, value, 0.0, p)
            if best is None:
                continue
            effect, value, share, p = best
            points = round(100 * (share - p))
            lines.append(
                FeatureLine(
                    name,
                    label,
                    "category",
                    f"{value} {share:.0%}",
                    "as avg" if points == 0 else f"{points:+d} points",
                    effect if base else 0.0,
                )
            )
        order = sorted(
            range(len(lines)),
            key=lambda i: (
                -abs(lines[i].effect) if math.isfinite(lines[i].effect) else 0.0,
                i,
            ),
        )
        return tuple(lines[i] for i in order)

    def feature_lines(self) -> tuple[tuple[str, str], ...]:
        """``(label, text)`` for each feature, as the cards show them, the
        most distinguishing first: ``("Annual income (k$)", "86.5 (+43% vs
        avg)")``, ``("Gender", "Female 59% (+3 points)")``."""
        return tuple((line.label, line.text) for line in self.distinguishing())

    def _repr_html_(self) -> str:
        """Jupyter: the segment as a card (size, means, categories, action)."""
        from custseg._display import html

        return html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return asdict(self)


def profile_segments(
    frame: pd.DataFrame,
    labels: np.ndarray,
    numeric: Sequence[str],
    categorical: Sequence[str],
    log_columns: Sequence[str] = (),
    columns: Mapping[str, Any] | None = None,
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
        # only means and spreads are needed for z: no medians
        z_stats[c] = _numeric_stats(logged, labels, order, sizes, with_medians=False)
    return profiles_from_stats(
        sizes,
        {c: _numeric_stats(frame[c], labels, order, sizes) for c in numeric},
        {c: _category_shares(frame[c], labels, valid, k) for c in categorical},
        z_stats=z_stats,
        columns=columns,
    )


NumericStats = tuple[float, float, np.ndarray, np.ndarray]
CategoryShares = tuple[list[dict[str, float]], dict[str, float]]


def profiles_from_stats(
    sizes: np.ndarray,
    numeric: dict[str, NumericStats],
    categorical: dict[str, CategoryShares],
    z_stats: dict[str, NumericStats] | None = None,
    columns: Mapping[str, Any] | None = None,
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
    columns : dict of str to ColumnRole, optional
        Each feature's label and role (:mod:`custseg.quality._roles`);
        guessed from the names when not given.
    """
    from custseg.quality import guess_role, readable_label

    columns = columns or {}
    features = [*numeric, *categorical]
    labels = {
        c: getattr(columns.get(c), "label", None) or readable_label(c) for c in features
    }
    roles = {
        c: getattr(columns.get(c), "role", None)
        or guess_role(c, kind="numeric" if c in numeric else "categorical")
        for c in features
    }
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
        traits = segment_traits(
            z,
            cats,
            {c: sh[1] for c, sh in categorical.items()},
            roles=roles,
            labels=labels,
            means=mean,
        )
        raw.append((seg, int(sizes[seg]), mean, median, z, cats, traits))

    # Fallback names ("Average income and spending") use the features that vary
    # most between segments.
    order = sorted(numeric, key=lambda c: -_spread([r[4][c] for r in raw]))
    names = unique_names([r[6] for r in raw], order, wide=len(numeric) > 3)
    overall = {c: _num(st[0]) for c, st in numeric.items()}
    overall_categories = {c: dict(sh[1]) for c, sh in categorical.items()}
    profiles = []
    for (seg, size, mean, median, z, cats, traits), name in zip(
        raw, names, strict=True
    ):
        action = suggest_action(z, roles, mean, overall)
        rest = n_total - size
        # Against the other customers, not all of them (which include the
        # segment): (m - m_rest) / sd = z * n / (n - size).
        effect = {c: v * n_total / rest if rest > 0 else v for c, v in z.items()}
        profile = SegmentProfile(
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
            overall=overall,
            overall_categories=overall_categories,
            labels=labels,
            roles=roles,
            effect=effect,
        )
        profiles.append(replace(profile, reason=_reason(profile)))
    return tuple(profiles)


def _reason(profile: SegmentProfile) -> str:
    """One line on why the action fits: the two features that set the
    segment apart most, compared with the average ("Spend on wines 2.3x avg,
    number of web purchases 0.5x avg")."""
    parts = [
        f"{line.label} {line.compares}"
        for line in profile.distinguishing()[:2]
        if line.compares and line.compares != "as avg"
    ]
    if not parts:
        return "Close to the average customer on every feature."
    text = ", ".join(parts[:1] + [p[:1].lower() + p[1:] for p in parts[1:]])
    return text + "."


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
    column: pd.Series,
    labels: np.ndarray,
    order: np.ndarray,
    sizes: np.ndarray,
    *,
    with_medians: bool = True,
) -> NumericStats:
    """Overall mean and standard deviation, and per-segment means and medians
    (NaN when ``with_medians`` is off), of a numeric column (infinite and
    absurd values count as missing). ``order`` sorts the rows by segment;
    ``sizes`` counts each segment."""
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
    segment_medians = np.full(k, np.nan)
    start = 0
    for seg, size in enumerate(sizes):
        part = by_segment[start : start + size]
        start += size
        part = part[~np.isnan(part)] if np.isnan(part).any() else part
        if len(part):
            means[seg] = part.mean()
            if with_medians:
                segment_medians[seg] = np.median(part, overwrite_input=True)
    return overall_mean, overall_std, means, segment_medians


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


def feature_separation(profiles: Sequence[SegmentProfile]) -> dict[str, float]:
    """How much each numeric feature separates the segments: the
    size-weighted mean of the squared z-scores of the segment means (the
    share of the feature's variance between segments, on the clustering's
    scale). Largest first."""
    total = sum(p.size for p in profiles) or 1
    out: dict[str, float] = {}
    for p in profiles:
        for c, raw in p.z.items():
            z = _num(raw)
            if math.isfinite(z):
                out[c] = out.get(c, 0.0) + p.size / total * z * z
            else:
                out.setdefault(c, 0.0)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], list(out).index(kv[0]))))


def separating_pair(
    profiles: Sequence[SegmentProfile], frame: pd.DataFrame | None = None
) -> tuple[str, str] | None:
    """The two numeric features a 2-D chart should show: the one that
    separates the segments most, and the one that adds most to it: its own
    separation times sqrt(1 - r^2), ``r`` the two features' correlation over
    the customers in ``frame`` (a sample is enough), so that two near copies
    of one measure (purchases and one-off purchases) are not shown against
    each other. None with fewer than two numeric features.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1, 2], 50)
    >>> a = np.repeat([0.0, 5, 10], 50) + rng.normal(size=150)
    >>> df = pd.DataFrame({"a": a, "copy_of_a": a + rng.normal(0, 0.1, 150),
    ...                    "b": np.repeat([0.0, 6, 0], 50) + rng.normal(size=150)})
    >>> p = profile_segments(df, labels, ["a", "copy_of_a", "b"], [])
    >>> separating_pair(p, df)[1]  # not the copy of the first
    'b'
    """
    separation = feature_separation(profiles)
    names = list(separation)
    if len(names) < 2:
        return None
    first = names[0]
    best, best_score = names[1], -1.0
    for other in names[1:]:
        r = 0.0
        if frame is not None and first in frame and other in frame:
            pair = frame[[first, other]].apply(pd.to_numeric, errors="coerce")
            with np.errstate(invalid="ignore", divide="ignore"):
                value = pair.corr().iloc[0, 1]
            r = float(value) if math.isfinite(value) else 0.0
        score = separation[other] * math.sqrt(max(0.0, 1 - r * r))
        if score > best_score + 1e-12:
            best, best_score = other, score
    return first, best
