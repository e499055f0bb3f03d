"""Preparing customer tables for clustering: feature choice, imputation, scaling."""

from custseg.prep._features import (
    CHUNK_ROWS,
    LARGEST,
    FeatureSelection,
    finite_values,
    model_frame,
    model_matrix,
    model_rows,
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
    "model_frame",
    "model_matrix",
    "model_rows",
    "select_features",
    "skewness",
]
