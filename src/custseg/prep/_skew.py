"""Which amounts and counts to cluster on a log scale.

Money and counts of customers are rarely bell-shaped: a few customers buy a
hundred times more than most. Clustered raw, those few set the scale, and
K-Means spends its segments on them while the bulk of the base lands in one
segment ("no clear structure"). The usual remedy is to cluster such columns
on a log scale; custseg does it by default for the columns where it matters,
and says so in the report, the summary and the printout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["LOG_ROLES", "SKEW_LIMIT", "heavy_tailed", "skewness"]

SKEW_LIMIT = 2.0
TAIL_LIMIT = 2.0
# Roles whose columns are amounts or counts (see custseg.quality._roles); ages,
# years, scores, shares, frequencies and flags never are.
LOG_ROLES = frozenset({"money", "spend", "income", "count", "number", "tenure"})
_SAMPLE = 200_000
_MIN_DISTINCT = 10


def skewness(values: np.ndarray) -> float:
    """Sample skewness (the third standardised moment) of the finite values.

    Examples
    --------
    >>> round(skewness(np.array([1.0, 2, 3, 4, 100])), 2)
    1.5
    """
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    if len(x) < 3:
        return 0.0
    d = x - x.mean()
    m2 = float(np.mean(d * d))
    if m2 <= 0:
        return 0.0
    return float(np.mean(d**3) / m2**1.5)


def tail_ratio(x: np.ndarray) -> float:
    """(95th percentile - median) / (median - 5th percentile): about 1 for a
    symmetric column, above 2 for a long right tail. Unlike the skewness it
    ignores a lone absurd value (an income of 666,666 among 50,000s), which
    is a data error to report, not a tail to log.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(tail_ratio(rng.normal(50, 10, 10_000)), 1)
    1.0
    """
    q5, q50, q95 = np.percentile(x, [5, 50, 95])
    if q95 <= q50:
        return 0.0
    if q50 <= q5:
        return math.inf
    return float((q95 - q50) / (q50 - q5))


def heavy_tailed(
    frame: pd.DataFrame, numeric: Sequence[str], roles: Mapping[str, str]
) -> list[str]:
    """The numeric features to cluster on a log scale: amounts and counts
    (by role) that are never negative, take at least ten values, and have a
    skewness above ``SKEW_LIMIT`` and a :func:`tail_ratio` above
    ``TAIL_LIMIT``. A fixed sample of 200,000 rows decides on
    larger tables.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"spend": rng.lognormal(3, 1.2, 500),
    ...                    "Age": rng.normal(40, 10, 500)})
    >>> heavy_tailed(df, ["spend", "Age"], {"spend": "spend", "Age": "age"})
    ['spend']
    """
    rows = np.arange(len(frame))
    if len(frame) > _SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(len(frame), _SAMPLE, False))
    out = []
    for column in numeric:
        if roles.get(column, "number") not in LOG_ROLES:
            continue
        values = pd.to_numeric(frame[column].iloc[rows], errors="coerce")
        x = values.to_numpy(dtype="float64", na_value=np.nan)
        x = x[np.isfinite(x)]
        if len(x) < 20 or x.min() < 0 or len(np.unique(x)) < _MIN_DISTINCT:
            continue
        if skewness(x) > SKEW_LIMIT and tail_ratio(x) > TAIL_LIMIT:
            out.append(column)
    return out
