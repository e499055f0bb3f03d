"""Segment profiles from Spark aggregations over every row.

One pass groups the rows by segment and computes, per numeric feature, the
count, mean, population variance and median of its usable values (missing,
infinite and absurdly large values left out, as locally), the count of each
category of each categorical feature (known from the quality pass), plus each
segment's size and the sum of squared distances to its centre (the inertia). The overall mean and standard
deviation are combined from the per-segment ones (the parallel-variance
formula), and :func:`custseg.profile.profiles_from_stats` does the rest, as
for the local engine.

Medians are exact (interpolated, as pandas computes them) when the table has
at most ``EXACT_MEDIAN_ROWS`` rows, and ``percentile_approx`` (rank error
1/10,000, no interpolation) above: Spark's exact median keeps every distinct
value of a group in memory.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from custseg.prep import LARGEST, FeatureSelection
from custseg.profile import CategoryShares, NumericStats
from custseg.spark._session import quiet_pyspark
from custseg.spark._table import ColumnFacts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["EXACT_MEDIAN_ROWS", "SegmentStats", "segment_stats"]

EXACT_MEDIAN_ROWS = 10_000
_QUANTILE_ACCURACY = 10_000


class SegmentStats:
    """Per-segment statistics, indexed by the segment column's values 0..k-1."""

    def __init__(
        self,
        sizes: np.ndarray,
        sq_dist: np.ndarray,
        numeric: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
        categorical: dict[str, list[dict[str, int]]],
    ) -> None:
        self.sizes = sizes
        self.sq_dist = sq_dist
        self.numeric = numeric  # name: (counts, means, variances, medians)
        self.categorical = categorical  # name: per segment {value: count}

    def reordered(self, order: np.ndarray) -> SegmentStats:
        """The same statistics with new segment ``i`` = old segment ``order[i]``."""
        return SegmentStats(
            self.sizes[order],
            self.sq_dist[order],
            {c: tuple(a[order] for a in v) for c, v in self.numeric.items()},
            {c: [v[i] for i in order] for c, v in self.categorical.items()},
        )

    def profile_inputs(
        self,
    ) -> tuple[np.ndarray, dict[str, NumericStats], dict[str, CategoryShares]]:
        """Arguments for :func:`custseg.profile.profiles_from_stats`."""
        numeric: dict[str, NumericStats] = {}
        for name, (counts, means, variances, medians) in self.numeric.items():
            total = counts.sum()
            if total == 0:
                nothing = np.full(len(counts), np.nan)
                numeric[name] = (math.nan, math.nan, nothing, nothing)
                continue
            has = counts > 0
            mean = float(np.sum(counts[has] * means[has]) / total)
            m2 = np.sum(counts[has] * (variances[has] + (means[has] - mean) ** 2))
            numeric[name] = (mean, float(math.sqrt(m2 / total)), means, medians)
        categorical: dict[str, CategoryShares] = {}
        for name, per_segment in self.categorical.items():
            overall: dict[str, int] = {}
            for seg_counts in per_segment:
                for value, count in seg_counts.items():
                    overall[value] = overall.get(value, 0) + count
            categorical[name] = ([_shares(c) for c in per_segment], _shares(overall))
        return self.sizes, numeric, categorical


def segment_stats(
    labelled: DataFrame,
    k: int,
    selection: FeatureSelection,
    facts: dict[str, ColumnFacts],
    *,
    n_rows: int,
    segment: str = "__seg",
    sq_dist: str = "__d2",
) -> SegmentStats:
    """Aggregate ``labelled`` (input columns by key, plus the ``segment`` and
    ``sq_dist`` columns) by segment."""
    from pyspark.sql import functions as F

    exact = n_rows <= EXACT_MEDIAN_ROWS
    aggs = [F.count(F.lit(1)).alias("__size"), F.sum(sq_dist).alias("__d2sum")]
    for i, name in enumerate(selection.numeric):
        col = F.col(facts[name].key)
        x = F.when(F.abs(col) <= LARGEST, col)
        median = (
            F.median(x) if exact else F.percentile_approx(x, 0.5, _QUANTILE_ACCURACY)
        )
        aggs += [
            F.count(x).alias(f"n{i}"),
            F.avg(x).alias(f"mean{i}"),
            F.var_pop(x).alias(f"var{i}"),
            median.alias(f"median{i}"),
        ]
    categories = {
        c: sorted((facts[c].values or {}).keys()) for c in selection.categorical
    }
    for j, name in enumerate(selection.categorical):
        col = F.col(facts[name].key)
        aggs += [
            F.count(F.when(col == value, 1)).alias(f"cat{j}_{m}")
            for m, value in enumerate(categories[name])
        ]
    with quiet_pyspark():
        rows = labelled.groupBy(segment).agg(*aggs).collect()
    by_seg = {int(r[segment]): r for r in rows}

    def column(field: str) -> np.ndarray:
        return np.array(
            [_num(by_seg[s][field]) if s in by_seg else math.nan for s in range(k)]
        )

    sizes = np.nan_to_num(column("__size")).astype(np.int64)
    numeric = {
        name: (
            np.nan_to_num(column(f"n{i}")).astype(np.int64),
            column(f"mean{i}"),
            column(f"var{i}"),
            column(f"median{i}"),
        )
        for i, name in enumerate(selection.numeric)
    }
    categorical = {
        name: [
            {
                value: int(by_seg[s][f"cat{j}_{m}"])
                for m, value in enumerate(categories[name])
                if s in by_seg and by_seg[s][f"cat{j}_{m}"]
            }
            for s in range(k)
        ]
        for j, name in enumerate(selection.categorical)
    }
    return SegmentStats(sizes, np.nan_to_num(column("__d2sum")), numeric, categorical)


def _shares(counts: dict[str, int]) -> dict[str, float]:
    """Share of each value, largest first (ties by value)."""
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {v: c / total for v, c in ordered if c}


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)
