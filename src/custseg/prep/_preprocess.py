"""The scikit-learn preprocessing step: impute, one-hot encode, scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

from custseg._names import SCALERS
from custseg.errors import ParameterError
from custseg.prep._features import FeatureSelection

__all__ = [
    "PREP_SAMPLE_SIZE",
    "CATEGORICAL_WEIGHT",
    "SCALERS",
    "DirectPrep",
    "build_preprocessor",
    "direct_prep",
]


def _scaler(name: str) -> object:
    if name == "standard":
        return StandardScaler()
    if name == "robust":
        return RobustScaler()
    if name == "minmax":
        return MinMaxScaler()
    if name == "none":
        return FunctionTransformer(feature_names_out="one-to-one")
    raise ParameterError(f"scaler must be one of {', '.join(SCALERS)}; got {name!r}")


# Tables above this many rows have their preparation statistics learned on a
# fixed-seed sample of this size (see Segmenter._fit_preprocessor).
PREP_SAMPLE_SIZE = 1_000_000
CATEGORICAL_WEIGHT = 0.5


def build_preprocessor(
    selection: FeatureSelection,
    scaler: str = "standard",
    categorical_weight: float = CATEGORICAL_WEIGHT,
    categories: dict[str, list[str]] | None = None,
    log_columns: Sequence[str] = (),
) -> ColumnTransformer:
    """Build the ColumnTransformer for the selected features.

    Numeric: median imputation, then the scaler (``standard``, ``robust``,
    ``minmax`` or ``none``). Categorical: most-frequent imputation, then one-hot
    encoding; categories unseen at fit time encode as all zeros at predict time.
    One-hot columns are multiplied by ``categorical_weight`` (default 0.5), so
    two customers who differ only in one category are 0.5 x sqrt(2), about 0.7
    standard deviations apart. A 0/1 column on its own forms two perfectly
    separated groups, and at full weight K-Means latches onto it: on customer
    tables where gender is independent of behaviour, the "best" k becomes 2,
    one segment per gender. At 0.5 categories shape the segments without
    splitting the customers by category alone; the category mix of each segment
    is reported either way.

    ``log_columns`` (numeric features) go through ``asinh`` before imputation
    and scaling: a log that is defined at zero and for negative values (net
    refunds), and within 2% of ``log(2x)`` from x = 3 on. Heavy right tails
    (spend, order counts) then stop dominating the distances.

    ``categories`` fixes the one-hot categories of each categorical feature
    (by default, those seen when fitting). The Segmenter passes the values found
    in every row when it fits the preprocessor on a sample of a large table.

    Examples
    --------
    >>> sel = FeatureSelection(("Age",), ("Gender",))
    >>> build_preprocessor(sel).transformers[0][0]
    'numeric'
    """
    transformers = []
    logged = [c for c in selection.numeric if c in set(log_columns)]
    plain = [c for c in selection.numeric if c not in set(log_columns)]
    if plain:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("scale", _scaler(scaler)),
                    ]
                ),
                plain,
            )
        )
    if logged:
        transformers.append(
            (
                "log",
                Pipeline(
                    [
                        (
                            "log",
                            FunctionTransformer(
                                np.arcsinh, feature_names_out="one-to-one"
                            ),
                        ),
                        ("impute", SimpleImputer(strategy="median")),
                        ("scale", _scaler(scaler)),
                    ]
                ),
                logged,
            )
        )
    if not selection.numeric and scaler not in SCALERS:
        _scaler(scaler)
    if selection.categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        (
                            "onehot",
                            OneHotEncoder(
                                categories=[
                                    categories[c] for c in selection.categorical
                                ]
                                if categories
                                else "auto",
                                handle_unknown="ignore",
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                list(selection.categorical),
            )
        )
    if not categorical_weight >= 0:
        raise ParameterError(
            f"categorical_weight must be >= 0; got {categorical_weight!r}"
        )
    return ColumnTransformer(
        transformers,
        remainder="drop",
        verbose_feature_names_out=False,
        transformer_weights={"categorical": categorical_weight}
        if selection.categorical
        else None,
    )


@dataclass(frozen=True)
class DirectPrep:
    """The fitted preprocessor's arithmetic, read out of its fitted attributes,
    to fill a preallocated matrix column by column.

    Why not ``ColumnTransformer.transform``: on a 500,000-row chunk it builds a
    frame, copies it into a block, imputes, scales and stacks, each step a new
    float64 array; at ten million rows that was the slowest step of a run. The
    arithmetic below is the same, in the same order, so the result is
    identical (``tests/test_scale_paths.py`` compares them for every scaler).
    """

    numeric: tuple[str, ...]
    fill: np.ndarray  # imputed value per numeric column
    shift: np.ndarray | None  # subtracted first (StandardScaler/RobustScaler)
    divide: np.ndarray | None  # then divided by
    multiply: np.ndarray | None  # or multiplied by, then ``add``ed (MinMaxScaler)
    add: np.ndarray | None
    categorical: tuple[str, ...]
    most_frequent: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    weight: float
    log: tuple[bool, ...] = ()  # per numeric column: asinh first

    @property
    def n_columns(self) -> int:
        return len(self.numeric) + sum(len(c) for c in self.categories)

    def fill_numeric(self, j: int, values: np.ndarray, out: np.ndarray) -> None:
        """Impute and scale float64 ``values`` of numeric column ``j`` into
        ``out`` (a column of the output matrix)."""
        if self.log and self.log[j]:
            values = np.arcsinh(values)
        x = np.where(np.isnan(values), self.fill[j], values)
        if self.shift is not None:
            x -= self.shift[j]
        if self.divide is not None:
            x /= self.divide[j]
        if self.multiply is not None:
            x *= self.multiply[j]
        if self.add is not None:
            x += self.add[j]
        out[:] = x

    def fill_categorical(self, j: int, column: pd.Series, out: np.ndarray) -> None:
        """One-hot encode categorical column ``j`` into ``out`` (its block of
        columns), missing values as the most frequent one, unknown ones as zeros."""
        cat = (
            column.astype("category")
            if not isinstance(column.dtype, pd.CategoricalDtype)
            else column
        )
        known = {v: i for i, v in enumerate(self.categories[j])}
        # One -1 at the end: a column with no value at all has no categories,
        # and its codes (all -1) must still index something.
        lookup = np.array(
            [*(known.get(str(v), -1) for v in cat.cat.categories), -1],
            dtype=np.int64,
        )
        codes = cat.cat.codes.to_numpy()
        missing = known.get(self.most_frequent[j], -1)
        index = np.where(codes >= 0, lookup[np.maximum(codes, 0)], missing)
        out[:] = 0
        rows = np.flatnonzero(index >= 0)
        out[rows, index[rows]] = self.weight


def direct_prep(preprocessor: ColumnTransformer) -> DirectPrep | None:
    """A :class:`DirectPrep` for a preprocessor fitted by this module's
    :func:`build_preprocessor`, or None when its steps are not the known ones."""
    parts = {name: (est, cols) for name, est, cols in preprocessor.transformers_}
    weights = preprocessor.transformer_weights or {}
    numeric: tuple[str, ...] = ()
    log: tuple[bool, ...] = ()
    fills: list[np.ndarray] = []
    stats: dict[str, list[np.ndarray]] = {}
    for part in ("numeric", "log"):
        if part not in parts:
            continue
        pipe, cols = parts[part]
        if part == "log":
            func = pipe.named_steps["log"]
            if not (isinstance(func, FunctionTransformer) and func.func is np.arcsinh):
                return None
        numeric += tuple(cols)
        log += (part == "log",) * len(cols)
        fills.append(
            np.asarray(pipe.named_steps["impute"].statistics_, dtype=np.float64)
        )
        scaler = pipe.named_steps["scale"]
        found: dict[str, np.ndarray | None] = {}
        if isinstance(scaler, StandardScaler):
            found["shift"] = scaler.mean_ if scaler.with_mean else None
            found["divide"] = scaler.scale_ if scaler.with_std else None
        elif isinstance(scaler, RobustScaler):
            found["shift"] = scaler.center_ if scaler.with_centering else None
            found["divide"] = scaler.scale_ if scaler.with_scaling else None
        elif isinstance(scaler, MinMaxScaler):
            if scaler.clip:
                return None
            found["multiply"], found["add"] = scaler.scale_, scaler.min_
        elif not (isinstance(scaler, FunctionTransformer) and scaler.func is None):
            return None
        if weights.get(part, 1) != 1:
            return None
        for key, value in found.items():
            if value is not None:
                stats.setdefault(key, []).append(np.asarray(value, dtype=np.float64))
    if any(len(v) != len(fills) for v in stats.values()):
        return None  # the two parts were scaled differently
    fill = np.concatenate(fills) if fills else np.empty(0)
    joined = {k: np.concatenate(v) for k, v in stats.items()}
    shift, divide = joined.get("shift"), joined.get("divide")
    multiply, add = joined.get("multiply"), joined.get("add")
    categorical: tuple[str, ...] = ()
    most_frequent: tuple[str, ...] = ()
    categories: tuple[tuple[str, ...], ...] = ()
    if "categorical" in parts:
        pipe, cols = parts["categorical"]
        categorical = tuple(cols)
        most_frequent = tuple(str(v) for v in pipe.named_steps["impute"].statistics_)
        encoder = pipe.named_steps["onehot"]
        if encoder.drop is not None or encoder.handle_unknown != "ignore":
            return None
        categories = tuple(tuple(str(v) for v in c) for c in encoder.categories_)
    if set(parts) - {"numeric", "log", "categorical", "remainder"}:
        return None
    return DirectPrep(
        numeric,
        fill,
        shift,
        divide,
        multiply,
        add,
        categorical,
        most_frequent,
        categories,
        float(weights.get("categorical", 1.0)),
        log,
    )
