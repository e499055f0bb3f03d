"""Preparing customer tables for clustering: feature choice, imputation, scaling."""

from custseg.prep._features import (
    CHUNK_ROWS,
    LARGEST,
    FeatureSelection,
    converted_rows,
    finite_values,
    model_frame,
    model_matrix,
    model_rows,
    repair_messages,
    select_features,
)
from custseg.prep._preprocess import (
    CATEGORICAL_WEIGHT,
    PREP_SAMPLE_SIZE,
    SCALERS,
    DirectPrep,
    build_preprocessor,
    direct_prep,
)
from custseg.prep._skew import SKEW_LIMIT, heavy_tailed, skewness

__all__ = [
    "CATEGORICAL_WEIGHT",
    "CHUNK_ROWS",
    "LARGEST",
    "PREP_SAMPLE_SIZE",
    "SCALERS",
    "SKEW_LIMIT",
    "DirectPrep",
    "FeatureSelection",
    "build_preprocessor",
    "direct_prep",
    "finite_values",
    "heavy_tailed",
    "converted_rows",
    "model_frame",
    "model_matrix",
    "model_rows",
    "repair_messages",
    "select_features",
    "skewness",
]
