"""Feature preparation with Spark ML, mirrored into the scikit-learn preprocessor.

Spark learns every statistic on all rows: medians (``Imputer``, approximate
quantiles with relative error 0.001), the scaler's statistics, the categories
and most frequent value of each categorical feature. The same numbers are then
written into the scikit-learn ``ColumnTransformer`` of
:func:`custseg.prep.build_preprocessor`, so a saved model prepares new
customers exactly as Spark prepared the training rows.

Where Spark and scikit-learn differ, the model follows Spark:

* ``StandardScaler`` divides by the *sample* standard deviation (n - 1), where
  scikit-learn uses the population one; the model stores Spark's.
* A feature with no spread: Spark's ``RobustScaler`` maps it to 0 and its
  ``MinMaxScaler`` to 0.5, so the model's scale is set to do the same
  (scikit-learn would use a scale of 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from custseg.prep import LARGEST, FeatureSelection, build_preprocessor, model_rows
from custseg.spark._session import quiet_pyspark
from custseg.spark._table import ColumnFacts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["FEATURES", "Preparation", "fit_preparation"]

# Name of the prepared feature vector column.
FEATURES = "__features"
_IMPUTER_ERROR = 0.001


@dataclass
class Preparation:
    """Fitted preparation: ``transform(df)`` adds the ``FEATURES`` vector to a
    frame of input columns (by key); ``preprocessor`` is its scikit-learn twin."""

    transform: Callable[[DataFrame], DataFrame]
    preprocessor: ColumnTransformer
    n_features: int


def fit_preparation(
    values: DataFrame,
    selection: FeatureSelection,
    facts: dict[str, ColumnFacts],
    sample: pd.DataFrame,
    *,
    scaler: str,
    categorical_weight: float,
    n_rows: int,
    source: str,
) -> Preparation:
    """Fit imputation, scaling and one-hot encoding on every row of ``values``."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import (
        ElementwiseProduct,
        Imputer,
        MinMaxScaler,
        OneHotEncoder,
        RobustScaler,
        StandardScaler,
        StringIndexerModel,
        VectorAssembler,
    )
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import functions as F

    numeric = [facts[c] for c in selection.numeric]
    categorical = [facts[c] for c in selection.categorical]
    categories = {c.name: sorted((c.values or {}).keys()) for c in categorical}
    modes = [c.mode for c in categorical]

    inputs = [
        F.when(F.abs(F.col(c.key)) <= LARGEST, F.col(c.key)).alias(f"__n{i}")
        for i, c in enumerate(numeric)
    ] + [
        F.coalesce(F.col(c.key), F.lit(mode)).alias(f"__k{j}")
        for j, (c, mode) in enumerate(zip(categorical, modes, strict=True))
    ]

    def with_inputs(df: DataFrame) -> DataFrame:
        return df.select("*", *inputs)

    stages: list[Any] = []
    parts = []
    if numeric:
        imputed = [f"__m{i}" for i in range(len(numeric))]
        stages += [
            Imputer(
                strategy="median",
                inputCols=[f"__n{i}" for i in range(len(numeric))],
                outputCols=imputed,
                relativeError=_IMPUTER_ERROR,
            ),
            VectorAssembler(inputCols=imputed, outputCol="__num"),
        ]
        spark_scaler: Any = {
            "standard": StandardScaler(withMean=True, withStd=True),
            "robust": RobustScaler(withCentering=True, withScaling=True),
            "minmax": MinMaxScaler(),
        }.get(scaler)
        if spark_scaler is not None:
            spark_scaler.setInputCol("__num").setOutputCol("__nums")
            stages.append(spark_scaler)
            parts.append("__nums")
        else:
            parts.append("__num")
    if categorical:
        width = sum(len(categories[c.name]) for c in categorical)
        stages += [
            StringIndexerModel.from_arrays_of_labels(
                [categories[c.name] for c in categorical],
                inputCols=[f"__k{j}" for j in range(len(categorical))],
                outputCols=[f"__x{j}" for j in range(len(categorical))],
                handleInvalid="error",
            ),
            OneHotEncoder(
                inputCols=[f"__x{j}" for j in range(len(categorical))],
                outputCols=[f"__o{j}" for j in range(len(categorical))],
                dropLast=False,
            ),
            VectorAssembler(
                inputCols=[f"__o{j}" for j in range(len(categorical))],
                outputCol="__cat",
            ),
            ElementwiseProduct(
                scalingVec=Vectors.dense([float(categorical_weight)] * width),
                inputCol="__cat",
                outputCol="__catw",
            ),
        ]
        parts.append("__catw")
    stages.append(VectorAssembler(inputCols=parts, outputCol=FEATURES))
    with quiet_pyspark():
        model: PipelineModel = Pipeline(stages=stages).fit(with_inputs(values))

    def transform(df: DataFrame) -> DataFrame:
        return model.transform(with_inputs(df))

    learned = _learned(model.stages, scaler, numeric)
    preprocessor = _sklearn_twin(
        selection,
        sample,
        learned,
        modes,
        categories,
        scaler=scaler,
        categorical_weight=categorical_weight,
        n_rows=n_rows,
        source=source,
    )
    n_features = len(numeric) + sum(len(v) for v in categories.values())
    return Preparation(transform, preprocessor, n_features)


def _learned(
    stages: list[Any], scaler: str, numeric: list[ColumnFacts]
) -> dict[str, Any]:
    """The statistics Spark learned: medians and the scaler's numbers."""
    from pyspark.ml.feature import (
        ImputerModel,
        MinMaxScalerModel,
        RobustScalerModel,
        StandardScalerModel,
    )

    out: dict[str, Any] = {}
    for stage in stages:
        if isinstance(stage, ImputerModel):
            with quiet_pyspark():
                row = stage.surrogateDF.first()
            assert row is not None
            out["medians"] = np.array(
                [row[f"__n{i}"] for i in range(len(numeric))], dtype=np.float64
            )
        elif isinstance(stage, StandardScalerModel):
            out["mean"] = stage.mean.toArray()
            out["std"] = stage.std.toArray()
        elif isinstance(stage, RobustScalerModel):
            out["median"] = stage.median.toArray()
            out["range"] = stage.range.toArray()
        elif isinstance(stage, MinMaxScalerModel):
            out["min"] = stage.originalMin.toArray()
            out["max"] = stage.originalMax.toArray()
    return out


def _sklearn_twin(
    selection: FeatureSelection,
    sample: pd.DataFrame,
    learned: dict[str, Any],
    modes: list[str | None],
    categories: dict[str, list[str]],
    *,
    scaler: str,
    categorical_weight: float,
    n_rows: int,
    source: str,
) -> ColumnTransformer:
    """``build_preprocessor`` fitted on the sample, then given Spark's numbers."""
    preprocessor = build_preprocessor(
        selection, scaler, float(categorical_weight), categories or None
    )
    frame, _ = model_rows(sample, selection, source=source)
    # Filled first, so no feature is all-missing in the sample (scikit-learn
    # would drop it); every statistic is overwritten below anyway.
    fill: dict[str, Any] = {}
    if selection.numeric:
        fill |= dict(zip(selection.numeric, learned["medians"], strict=True))
    fill |= dict(zip(selection.categorical, modes, strict=True))
    preprocessor.fit(frame.fillna(fill))

    if selection.numeric:
        steps = preprocessor.named_transformers_["numeric"].named_steps
        steps["impute"].statistics_ = learned["medians"]
        scale = steps["scale"]
        if scaler == "standard":
            std = learned["std"]
            scale.mean_ = learned["mean"]
            scale.var_ = std**2
            scale.scale_ = np.where(std == 0, 1.0, std)
            scale.n_samples_seen_ = np.int64(n_rows)
        elif scaler == "robust":
            spread = learned["range"]
            scale.center_ = learned["median"]
            # Spark maps a feature with no spread to 0: dividing by inf does too.
            scale.scale_ = np.where(spread == 0, np.inf, spread)
        elif scaler == "minmax":
            lo, hi = learned["min"], learned["max"]
            spread = hi - lo
            scale.data_min_, scale.data_max_, scale.data_range_ = lo, hi, spread
            # Spark maps a feature with no spread to the middle of [0, 1].
            scale.scale_ = np.where(spread == 0, 0.0, 1.0 / np.where(spread, spread, 1))
            scale.min_ = np.where(spread == 0, 0.5, -lo * scale.scale_)
            scale.n_samples_seen_ = np.int64(n_rows)
    if selection.categorical:
        steps = preprocessor.named_transformers_["categorical"].named_steps
        steps["impute"].statistics_ = np.array(modes, dtype=object)
    return preprocessor
