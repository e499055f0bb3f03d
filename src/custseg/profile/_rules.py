"""Rules people can apply without the model: one short rule per segment.

Each segment gets a rule on the features in their original units, such as
``Annual Income (k$) > 69 and Spending Score (1-100) > 60``, with two numbers
that say how far to trust it.

Method
------
For each segment (each label >= 0) a one-vs-rest
:class:`~sklearn.tree.DecisionTreeClassifier` of depth ``max_depth`` learns to
tell the segment's rows from all other rows. Every node of the tree is a
candidate rule: the conjunction of the splits on the path from the root to that
node. A tree grows greedily, so the top levels of the depth-4 tree are the
depth-1, 2 and 3 trees, and its nodes are the candidates of every depth from 0
(the root: "all customers") to ``max_depth``. Two trees are grown per segment:
one with the rows weighted as they occur, and one with the segment and the rest
weighted equally, which finds rules for small segments. Categorical features
enter the trees one-hot (one 0/1 column per category, for the 30 most frequent
categories), plus, for a feature with three or more categories, one column
that numbers its categories by the segment's share among their rows: a single
split on that column is the best subset of categories (``Region in {A, B}``).

Each candidate is tidied before it is scored:

* conditions on one numeric feature merge into one condition, a range when it
  has two ends (``40 < Age <= 60``);
* thresholds are rounded to readable values (see *Rounding*), and an end
  that no row of the table lies beyond is dropped;
* conditions on one categorical feature merge into one ``is``, ``is not``,
  ``in`` or ``not in`` condition.

The score is F0.5, a harmonic mean of precision and coverage in which
precision counts more (precision first), measured with the rounded thresholds
on the learning sample. The kept rule is the shortest among those scoring
within 0.02 of the best (a range counts as two conditions; then the higher
score wins). Its precision, coverage and matches are then measured on *all*
rows, with the rule exactly as it is shown.

The trees learn on a fixed-seed sample of at most ``sample_size`` rows,
stratified by label so that even a small segment has rows in it, and weighted
back to the table's proportions.

Precision and coverage
----------------------
For a segment ``s`` and its rule::

    precision = (rows matching the rule that are in s) / (rows matching the rule)
    coverage  = (rows matching the rule that are in s) / (rows in s)

Rows labelled -1 (in no segment, such as HDBSCAN noise) get no rule of their
own, but count as non-members in every segment's precision.

Rounding
--------
A split's threshold ``t`` lies between two neighbouring values ``a <= t < b``
of the feature in the learning sample, and every threshold in ``[a, b)``
splits the sample in the same way. The threshold shown is a multiple of the
largest power of ten that falls in ``[a, b)`` (the multiple nearest ``t``):
``Income > 69.5`` on a column of whole numbers becomes ``Income > 69``, and
``Income <= 55`` between the values 30 and 80 becomes ``Income <= 60``. The
powers tried go down to two significant digits of the feature's standard
deviation, never below 1 on a column that holds whole numbers. Where none fits,
``t`` is rounded to that finest step and the rule can match a few rows more or
fewer than the tree's split did; the figures reported are always computed with
the rounded numbers, so they stay honest.

Missing values
--------------
A missing numeric value stands for the column's median over all rows of
``frame``, both to learn and to apply the rules; each numeric condition stores
that median (:attr:`Condition.missing_as`), so :func:`rule_mask` applies a rule
to new data the same way. A missing categorical value is the category
``"(missing)"``. Categorical values are compared as text (``str(value)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from custseg.errors import ColumnTypeError, MissingColumnError, ParameterError
from custseg.prep import LARGEST

__all__ = ["MISSING", "Condition", "SegmentRule", "rule_mask", "segment_rules"]

#: The category a missing categorical value becomes.
MISSING = "(missing)"

_NUMERIC_OPS = ("<=", ">", "between")
_CATEGORY_OPS = ("is", "is not", "in", "not in")
# Candidates within this much of the best F0.5 count as "nearly as good".
_TOLERANCE = 0.02
# F-beta with beta = 0.5: precision weighs more than coverage.
_BETA2 = 0.25
# One-hot columns per categorical feature (the most frequent categories).
_MAX_LEVELS = 30

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Condition:
    """One condition of a rule, on one feature in its original units.

    Attributes
    ----------
    feature : str
        The column the condition tests.
    op : {"<=", ">", "between", "is", "is not", "in", "not in"}
        ``"<="``, ``">"``: a numeric feature against ``value`` (a number).
        ``"between"``: ``value = (low, high)``, true when ``low < x <= high``.
        ``"is"``, ``"is not"``: a categorical feature against one category
        (a str). ``"in"``, ``"not in"``: against a tuple of categories.
    value : number, str or tuple
        The threshold, range or categories.
    missing_as : float or None
        For a numeric condition, the value a missing entry stands for (the
        median the rule was learnt with); None for a categorical condition,
        where a missing entry is the category ``"(missing)"``.

    Examples
    --------
    >>> Condition("Age", "between", (40, 60), missing_as=38.0).text()
    '40 < Age <= 60'
    >>> Condition("Region", "in", ("North", "West")).text()
    'Region in {North, West}'
    """

    feature: str
    op: str
    value: Any
    missing_as: float | None = None

    def __post_init__(self) -> None:
        if self.op not in _NUMERIC_OPS + _CATEGORY_OPS:
            known = ", ".join(repr(o) for o in _NUMERIC_OPS + _CATEGORY_OPS)
            raise ParameterError(
                f"condition on '{self.feature}': op {self.op!r} is not one of {known}"
            )

    def text(self, label: str | None = None) -> str:
        """The condition as a person reads it, e.g. ``"Age > 40"``; ``label``
        names the feature instead of its column name."""
        name = label or self.feature
        if self.op == "between":
            low, high = self.value
            return f"{_fmt(low)} < {name} <= {_fmt(high)}"
        if self.op in ("<=", ">"):
            return f"{name} {self.op} {_fmt(self.value)}"
        if self.op in ("in", "not in"):
            return f"{name} {self.op} {{{', '.join(self.value)}}}"
        return f"{name} {self.op} {self.value}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (tuples become lists)."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {
            "feature": self.feature,
            "op": self.op,
            "value": value,
            "missing_as": self.missing_as,
            "text": self.text(),
        }


@dataclass(frozen=True)
class SegmentRule:
    """A short rule that picks out one segment, and how well it does.

    Attributes
    ----------
    segment : int
        The label value in ``labels`` the rule describes.
    conditions : tuple of Condition
        All must hold; empty for a rule that matches every row.
    text : str
        The conditions joined by ``" and "``, or ``"all customers"``.
    precision : float
        Share of the rows matching the rule that are in the segment.
    coverage : float
        Share of the segment's rows that match the rule.
    matches : int
        Rows matching the rule.
    """

    segment: int
    conditions: tuple[Condition, ...]
    text: str
    precision: float
    coverage: float
    matches: int

    def readable(self, labels: Mapping[str, str]) -> str:
        """:attr:`text` with each feature's readable label (the thresholds
        unchanged), for cards; ``text`` keeps the column names, for applying
        the rule to the table.

        Examples
        --------
        >>> rule = SegmentRule(0, (Condition("MntWines", ">", 300.0),), "", 1, 1, 1)
        >>> rule.readable({"MntWines": "Spend on wines"})
        'Spend on wines > 300'
        """
        parts = [c.text(labels.get(c.feature)) for c in self.conditions]
        return " and ".join(parts) or "all customers"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view, for ``summary.json``."""
        return {
            "segment": self.segment,
            "text": self.text,
            "precision": self.precision,
            "coverage": self.coverage,
            "matches": self.matches,
            "conditions": [c.to_dict() for c in self.conditions],
        }


def segment_rules(
    frame: pd.DataFrame,
    labels: np.ndarray,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    max_depth: int = 4,
    random_state: int = 0,
    sample_size: int = 25_000,
) -> tuple[SegmentRule, ...]:
    """Learn one short, readable rule per segment (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        The features in original units; missing values allowed. A missing
        number stands for the column's median, a missing category is the
        category ``"(missing)"``.
    labels : array of int, one per row
        Segment of each row; -1 (or any negative label) marks rows in no
        segment, which get no rule but count as non-members.
    numeric, categorical : sequence of str
        The feature columns the rules may use.
    max_depth : int, default 4
        Depth of the trees, so at most this many splits per rule (a range on
        one feature counts as one condition but uses two splits).
    random_state : int, default 0
        Seed of the learning sample and the trees: the same data and seed give
        the same rules.
    sample_size : int, default 25_000
        Largest number of rows the trees learn on (stratified by segment, so
        small segments keep rows). A depth-4 tree's thresholds are settled
        long before that, and fitting the trees on 100,000 rows cost 2.6 s
        of a million-row run (issue 19). Precision, coverage and matches are
        always measured on all rows.

    Returns
    -------
    tuple of SegmentRule
        One per label >= 0 present in ``labels``, in label order.

    Raises
    ------
    MissingColumnError
        A named feature is not a column of ``frame``.
    ColumnTypeError
        A numeric feature holds text.
    ParameterError
        ``labels`` does not have one entry per row, or a parameter is out of
        range.

    Examples
    --------
    >>> df = pd.DataFrame({"Income": [10, 20, 30, 80, 90, 100]})
    >>> rules = segment_rules(df, np.array([0, 0, 0, 1, 1, 1]), ["Income"], [])
    >>> [r.text for r in rules]
    ['Income <= 60', 'Income > 60']
    >>> rules[1].precision, rules[1].coverage, rules[1].matches
    (1.0, 1.0, 3)
    """
    numeric, categorical = list(numeric), list(categorical)
    labels = _check_inputs(frame, labels, numeric, categorical)
    if isinstance(max_depth, bool) or not isinstance(max_depth, int | np.integer):
        raise ParameterError(f"max_depth must be an int, got {max_depth!r}")
    if max_depth < 1:
        raise ParameterError(f"max_depth={max_depth} should be >= 1")
    if isinstance(sample_size, bool) or not isinstance(sample_size, int | np.integer):
        raise ParameterError(f"sample_size must be an int, got {sample_size!r}")
    if sample_size < 1:
        raise ParameterError(f"sample_size={sample_size} should be >= 1")

    data = _Columns.from_frame(frame, numeric, categorical)
    segments = [int(s) for s in np.unique(labels[labels >= 0])]
    rng = np.random.default_rng(random_state)
    rows, weights = _learning_sample(labels, int(sample_size), rng)
    sample = data.take(rows)
    sample_labels = labels[rows]
    universe = {c: data.levels(c) for c in categorical}
    name_rows = {c: _name_rows(sample, c) for c in categorical}
    medians = {c: data.medians[c] for c in numeric}
    spec = _RoundingSpec.build(data, sample)
    design, columns = _design(sample, weights, name_rows, spec)
    cache: dict[Condition, BoolArray] = {}

    rules = []
    for seg in segments:
        y = sample_labels == seg
        seg_design, seg_columns = _with_ranked(design, columns, name_rows, y, weights)
        candidates = _candidates(
            seg_design, seg_columns, y, weights, int(max_depth), int(random_state)
        )
        scored: dict[tuple[Condition, ...], float] = {}
        for path in candidates:
            conds = _tidy(path, seg_columns, medians, spec, universe)
            if conds in scored:
                continue
            mask = _cached_mask(conds, sample, cache)
            scored[conds] = _f_half(mask, y, weights)
        top = max(scored.values())
        near = [c for c, f in scored.items() if f >= top - _TOLERANCE]
        best = min(near, key=lambda c: (_length(c), -scored[c], _text(c)))
        rules.append(_measure(seg, best, _mask(best, data), labels == seg))
    return tuple(rules)


def rule_mask(rule: SegmentRule, frame: pd.DataFrame) -> np.ndarray:
    """Rows of ``frame`` that match ``rule``, as a boolean array.

    Missing numbers stand for the medians stored on the rule's conditions, and
    missing categories are ``"(missing)"``, exactly as when the rule was
    learnt.

    Examples
    --------
    >>> rule = SegmentRule(0, (Condition("Age", ">", 40, missing_as=30.0),),
    ...                    "Age > 40", 1.0, 1.0, 1)
    >>> rule_mask(rule, pd.DataFrame({"Age": [25, 50, None]})).tolist()
    [False, True, False]
    """
    numeric = sorted({c.feature for c in rule.conditions if c.op in _NUMERIC_OPS})
    categorical = sorted({c.feature for c in rule.conditions if c.op in _CATEGORY_OPS})
    _check_columns(frame, numeric + categorical)
    data = _Columns.from_frame(frame, numeric, categorical)
    return _mask(rule.conditions, data)


# --------------------------------------------------------------------------
# Inputs


def _check_columns(frame: pd.DataFrame, names: Sequence[str]) -> None:
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise MissingColumnError(missing, [str(c) for c in frame.columns])


def _check_inputs(
    frame: pd.DataFrame,
    labels: np.ndarray,
    numeric: list[str],
    categorical: list[str],
) -> IntArray:
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ParameterError(
            f"column '{both[0]}' is listed as both numeric and categorical"
        )
    _check_columns(frame, numeric + categorical)
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != len(frame):
        raise ParameterError(
            f"labels has shape {arr.shape} but frame has {len(frame)} rows; "
            "give one label per row"
        )
    integral = arr.dtype.kind in "iu" or (
        arr.dtype.kind == "f" and bool(np.all(np.mod(arr, 1) == 0))
    )
    if not integral:
        raise ParameterError(f"labels must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


class _Columns:
    """Features ready for masks: numbers as float64 (NaN where missing) and
    categories as integer codes into a list of names (the last is "(missing)")."""

    def __init__(
        self,
        n: int,
        numbers: dict[str, FloatArray],
        codes: dict[str, IntArray],
        names: dict[str, list[str]],
        medians: dict[str, float],
        integer: dict[str, bool],
        std: dict[str, float],
    ) -> None:
        self.n = n
        self.numbers = numbers
        self.codes = codes
        self.names = names
        self.medians = medians
        self.integer = integer
        self.std = std

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
    ) -> _Columns:
        numbers, medians, integer, std = {}, {}, {}, {}
        for c in numeric:
            x = _to_float(frame[c], c)
            numbers[c] = x
            finite = x[np.isfinite(x)]
            medians[c] = float(np.median(finite)) if finite.size else 0.0
            integer[c] = bool(finite.size) and bool(np.all(np.mod(finite, 1) == 0))
            std[c] = float(np.std(finite)) if finite.size else 0.0
        codes, names = {}, {}
        for c in categorical:
            raw, uniques = pd.factorize(frame[c], use_na_sentinel=True)
            level_names = [str(u) for u in uniques] + [MISSING]
            raw = np.asarray(raw, dtype=np.int64)
            codes[c] = np.where(raw < 0, len(level_names) - 1, raw)
            names[c] = level_names
        return cls(len(frame), numbers, codes, names, medians, integer, std)

    def take(self, rows: IntArray) -> _Columns:
        return _Columns(
            len(rows),
            {c: x[rows] for c, x in self.numbers.items()},
            {c: x[rows] for c, x in self.codes.items()},
            self.names,
            self.medians,
            self.integer,
            self.std,
        )

    def levels(self, feature: str) -> list[str]:
        """Distinct category names present, sorted."""
        names = self.names[feature]
        present = np.unique(self.codes[feature])
        return sorted({names[i] for i in present})


def _to_float(series: pd.Series, column: str) -> FloatArray:
    converted = pd.to_numeric(series, errors="coerce")
    bad = np.asarray(converted.isna() & series.notna())
    if bad.any():
        raise ColumnTypeError(
            "text in a numeric feature",
            column=column,
            rows=[int(i) + 1 for i in np.flatnonzero(bad)[:5]],
            hint="Clean the column or list it as categorical.",
        )
    values = np.array(converted.to_numpy(dtype="float64", na_value=np.nan))
    # Infinite and absurdly large values count as missing, as the preparation
    # treats them (custseg.prep: |x| > 1e100).
    with np.errstate(invalid="ignore"):
        values[~(np.abs(values) <= LARGEST)] = np.nan
    return values


def _learning_sample(
    labels: IntArray, sample_size: int, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    """Rows to learn on and their weights: all rows, or a sample stratified by
    label in which each label keeps some rows and the weights restore the
    table's proportions."""
    n = len(labels)
    if n <= sample_size:
        return np.arange(n, dtype=np.int64), np.ones(n)
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    reserve = np.minimum(counts, max(1, sample_size // (4 * len(values))))
    if reserve.sum() > sample_size:  # more labels than the sample can hold
        rows = np.sort(rng.choice(n, size=sample_size, replace=False))
        return rows.astype(np.int64), np.full(sample_size, n / sample_size)
    rest = sample_size - int(reserve.sum())
    quota = reserve + (rest * (counts - reserve)) // (n - int(reserve.sum()))
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    parts, weights = [], []
    for start, count, q in zip(starts, counts, quota, strict=True):
        members = order[start : start + count]
        parts.append(rng.choice(members, size=int(q), replace=False))
        weights.append(np.full(int(q), count / q))
    rows = np.concatenate(parts)
    w = np.concatenate(weights)
    keep = np.argsort(rows, kind="stable")
    return rows[keep].astype(np.int64), w[keep]


# --------------------------------------------------------------------------
# Trees and candidates

# A tree column: (feature, kind, levels). kind "num": a numeric feature (no
# levels); "one": the one-hot column of the category levels[0]; "rank": the
# categories numbered 0, 1, ... in the order of levels (by the segment's share
# among their rows), so a split x <= t picks the set levels[: floor(t) + 1].
_Column = tuple[str, str, tuple[str, ...]]
# A raw split on a path: (tree column index, goes right (x > t), threshold t).
_Split = tuple[int, bool, float]
# Per categorical feature of the sample: each row's category as an index into
# the sorted distinct category names, and those names.
_NameRows = tuple[IntArray, list[str]]


def _name_rows(sample: _Columns, feature: str) -> _NameRows:
    names = sample.names[feature]
    distinct = sorted(set(names))
    where = {nm: i for i, nm in enumerate(distinct)}
    index = np.array([where[nm] for nm in names], dtype=np.int64)
    return index[sample.codes[feature]], distinct


def _design(
    sample: _Columns,
    weights: FloatArray,
    name_rows: dict[str, _NameRows],
    spec: _RoundingSpec,
) -> tuple[FloatArray, list[_Column]]:
    """The tree's matrix: imputed numbers, then one-hot categories (the
    ``_MAX_LEVELS`` most frequent of each feature).

    A number enters as its rank among the sample's distinct values
    (``spec.values``), not as itself: scikit-learn's trees work in float32,
    which turns values beyond 3.4e38 into infinity (and refuses them) and
    merges values closer than float32's precision. A split only depends on the
    order, and :func:`_tidy` turns a rank threshold back into the value
    interval it splits."""
    blocks: list[FloatArray] = []
    columns: list[_Column] = []
    for c, x in sample.numbers.items():
        imputed = np.where(np.isnan(x), sample.medians[c], x)
        blocks.append(np.searchsorted(spec.values[c], imputed).astype(np.float64))
        columns.append((c, "num", ()))
    for c, (rows, names) in name_rows.items():
        totals = np.bincount(rows, weights=weights, minlength=len(names))
        present = [i for i in range(len(names)) if totals[i] > 0]
        ranked = sorted(present, key=lambda i: (-totals[i], names[i]))[:_MAX_LEVELS]
        for i in sorted(ranked):
            blocks.append((rows == i).astype(np.float64))
            columns.append((c, "one", (names[i],)))
    if not blocks:
        return np.empty((len(weights), 0)), columns
    return np.column_stack(blocks), columns


def _with_ranked(
    design: FloatArray,
    columns: list[_Column],
    name_rows: dict[str, _NameRows],
    y: BoolArray,
    weights: FloatArray,
) -> tuple[FloatArray, list[_Column]]:
    """Add, per categorical feature with 3 or more categories, a column that
    numbers the categories by the segment's share among their rows: one split
    on it is the best subset of categories (``Region in {A, B}``), which
    one-hot columns reach only through many splits."""
    blocks: list[FloatArray] = []
    extra: list[_Column] = []
    for c, (rows, names) in name_rows.items():
        totals = np.bincount(rows, weights=weights, minlength=len(names))
        hits = np.bincount(rows, weights=weights * y, minlength=len(names))
        present = [i for i in range(len(names)) if totals[i] > 0]
        if len(present) < 3:
            continue
        order = sorted(present, key=lambda i: (hits[i] / totals[i], names[i]))
        rank = np.zeros(len(names))
        rank[order] = np.arange(len(order))
        blocks.append(rank[rows])
        extra.append((c, "rank", tuple(names[i] for i in order)))
    if not blocks:
        return design, columns
    return np.column_stack([design, *blocks]), columns + extra


def _candidates(
    design: FloatArray,
    columns: list[_Column],
    y: BoolArray,
    weights: FloatArray,
    max_depth: int,
    random_state: int,
) -> list[tuple[_Split, ...]]:
    """Root-to-node paths of two one-vs-rest trees (natural and balanced)."""
    from sklearn.tree import DecisionTreeClassifier

    paths: list[tuple[_Split, ...]] = [()]
    w_pos, w_all = float(weights[y].sum()), float(weights.sum())
    if not columns or w_pos in (0.0, w_all):
        return paths
    balanced = weights * np.where(y, w_all / (2 * w_pos), w_all / (2 * (w_all - w_pos)))
    for w in (weights, balanced):
        tree = DecisionTreeClassifier(max_depth=max_depth, random_state=random_state)
        tree.fit(design, y, sample_weight=w)
        paths.extend(_paths(tree.tree_))
    return paths


def _paths(tree: Any) -> Iterator[tuple[_Split, ...]]:
    stack: list[tuple[int, tuple[_Split, ...]]] = [(0, ())]
    while stack:
        node, path = stack.pop()
        if path:
            yield path
        left, right = int(tree.children_left[node]), int(tree.children_right[node])
        if left < 0:
            continue
        j, t = int(tree.feature[node]), float(tree.threshold[node])
        stack.append((right, (*path, (j, True, t))))
        stack.append((left, (*path, (j, False, t))))


# --------------------------------------------------------------------------
# Tidying: merge, round, phrase


class _RoundingSpec:
    """Per numeric feature: the sorted distinct imputed sample values and the
    finest rounding step."""

    def __init__(
        self,
        values: dict[str, FloatArray],
        finest: dict[str, int],
        span: dict[str, tuple[float, float]],
    ) -> None:
        self.values = values
        self.finest = finest
        self.span = span

    @classmethod
    def build(cls, data: _Columns, sample: _Columns) -> _RoundingSpec:
        values, finest, span = {}, {}, {}
        for c, x in sample.numbers.items():
            full = data.numbers[c]
            known = full[~np.isnan(full)]
            span[c] = (
                (float(np.min(known)), float(np.max(known)))
                if known.size
                else (data.medians[c], data.medians[c])
            )
            values[c] = np.unique(np.where(np.isnan(x), data.medians[c], x))
            std = data.std[c]
            e = math.floor(math.log10(std)) - 1 if std > 0 else 0
            finest[c] = max(e, 0) if data.integer[c] else e
        return cls(values, finest, span)

    def unrank(self, feature: str, t: float) -> float:
        """The value threshold for a threshold ``t`` between ranks (see
        :func:`_design`): midway between the two sample values it separates."""
        u = self.values[feature]
        i = min(max(math.floor(t), 0), len(u) - 2)
        if i < 0:  # one distinct value: a tree never splits on it
            return float(u[0])
        a, b = float(u[i]), float(u[i + 1])
        mid = a + (b - a) / 2  # |values| <= LARGEST, so no overflow
        return mid if mid < b else a

    def round(self, feature: str, t: float) -> int | float:
        """A readable threshold that splits the sample as ``t`` does (if any)."""
        u = self.values[feature]
        i = int(np.searchsorted(u, t, side="right"))
        a = float(u[i - 1]) if i > 0 else -math.inf
        b = float(u[i]) if i < len(u) else math.inf
        finest = self.finest[feature]
        span = max(abs(v) for v in (t, a, b) if math.isfinite(v))
        top = math.floor(math.log10(span)) + 1 if span > 0 else finest
        for e in range(max(top, finest), finest - 1, -1):
            step = 10.0**e
            lo, hi = math.ceil(a / step) if math.isfinite(a) else None, None
            if math.isfinite(b):
                hi = math.ceil(b / step) - 1
            k = math.floor(t / step + 0.5)
            if lo is not None:
                k = max(k, lo)
            if hi is not None:
                k = min(k, hi)
            r = _clean(k, e)
            if a <= r < b:
                return r
        return _clean(math.floor(t / 10.0**finest + 0.5), finest)


def _clean(k: int, e: int) -> int | float:
    """``k * 10**e`` without float noise, as an int when it is whole."""
    if e >= 0:
        return int(k) * int(10**e)
    value = round(k * 10.0**e, -e)
    return int(value) if value.is_integer() else value


def _tidy(
    path: tuple[_Split, ...],
    columns: list[_Column],
    medians: dict[str, float],
    spec: _RoundingSpec,
    universe: dict[str, list[str]],
) -> tuple[Condition, ...]:
    """Merge a path's splits per feature, round them and phrase them."""
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    allowed: dict[str, set[str]] = {}
    for j, right, t in path:
        feature, kind, levels = columns[j]
        if kind == "num":
            t = spec.unrank(feature, t)
            if right:
                lows[feature] = max(lows.get(feature, -math.inf), t)
            else:
                highs[feature] = min(highs.get(feature, math.inf), t)
            continue
        everything = set(universe[feature])
        if kind == "one":
            chosen, keep = {levels[0]}, right
        else:
            chosen, keep = set(levels[: math.floor(t) + 1]), not right
        part = chosen if keep else everything - chosen
        allowed[feature] = allowed.get(feature, everything) & part

    conditions = []
    for feature, fill in medians.items():
        if feature not in lows and feature not in highs:
            continue
        low = spec.round(feature, lows[feature]) if feature in lows else None
        high = spec.round(feature, highs[feature]) if feature in highs else None
        # A rounded end beyond the data's range excludes no row: drop it.
        smallest, largest = spec.span[feature]
        if low is not None and low < smallest:
            low = None
        if high is not None and high >= largest:
            high = None
        if low is None and high is None:
            continue
        if low is not None and high is not None:
            conditions.append(Condition(feature, "between", (low, high), fill))
        elif low is not None:
            conditions.append(Condition(feature, ">", low, fill))
        else:
            conditions.append(Condition(feature, "<=", high, fill))
    for feature, every in universe.items():
        if feature not in allowed:
            continue
        inside = [v for v in every if v in allowed[feature]]
        outside = [v for v in every if v not in allowed[feature]]
        if not outside:
            continue
        if len(inside) == 1:
            conditions.append(Condition(feature, "is", inside[0]))
        elif len(outside) == 1:
            conditions.append(Condition(feature, "is not", outside[0]))
        elif len(inside) <= len(outside):
            conditions.append(Condition(feature, "in", tuple(inside)))
        else:
            conditions.append(Condition(feature, "not in", tuple(outside)))
    return tuple(conditions)


# --------------------------------------------------------------------------
# Applying and measuring


def _condition_mask(cond: Condition, data: _Columns) -> BoolArray:
    if cond.op in _NUMERIC_OPS:
        x = data.numbers[cond.feature]
        if cond.missing_as is not None:
            x = np.where(np.isnan(x), cond.missing_as, x)
        if cond.op == "<=":
            return np.asarray(x <= cond.value)
        if cond.op == ">":
            return np.asarray(x > cond.value)
        low, high = cond.value
        return np.asarray((x > low) & (x <= high))
    names = data.names[cond.feature]
    if cond.op in ("is", "is not"):
        hit = np.array([nm == cond.value for nm in names])
    else:
        wanted = set(cond.value)
        hit = np.array([nm in wanted for nm in names])
    if cond.op in ("is not", "not in"):
        hit = ~hit
    return np.asarray(hit[data.codes[cond.feature]])


def _mask(conditions: Sequence[Condition], data: _Columns) -> BoolArray:
    mask = np.ones(data.n, dtype=bool)
    for cond in conditions:
        mask &= _condition_mask(cond, data)
    return mask


def _cached_mask(
    conditions: tuple[Condition, ...],
    data: _Columns,
    cache: dict[Condition, BoolArray],
) -> BoolArray:
    mask = np.ones(data.n, dtype=bool)
    for cond in conditions:
        if cond not in cache:
            cache[cond] = _condition_mask(cond, data)
        mask &= cache[cond]
    return mask


def _f_half(mask: BoolArray, y: BoolArray, weights: FloatArray) -> float:
    hit = float(weights[mask & y].sum())
    matched = float(weights[mask].sum())
    members = float(weights[y].sum())
    if hit <= 0 or matched <= 0 or members <= 0:
        return 0.0
    p, c = hit / matched, hit / members
    return (1 + _BETA2) * p * c / (_BETA2 * p + c)


def _measure(
    segment: int, conditions: tuple[Condition, ...], mask: BoolArray, y: BoolArray
) -> SegmentRule:
    matches = int(mask.sum())
    hit = int((mask & y).sum())
    size = int(y.sum())
    return SegmentRule(
        segment=segment,
        conditions=conditions,
        text=_text(conditions),
        precision=hit / matches if matches else 0.0,
        coverage=hit / size if size else 0.0,
        matches=matches,
    )


def _length(conditions: Sequence[Condition]) -> int:
    """How long a rule reads: a range counts as two conditions."""
    return sum(2 if c.op == "between" else 1 for c in conditions)


def _text(conditions: Sequence[Condition]) -> str:
    return " and ".join(c.text() for c in conditions) or "all customers"


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)
