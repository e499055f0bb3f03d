"""Preparing customer tables for clustering: feature choice, imputation, scaling."""

from custseg.prep._features import (
    CHUNK_ROWS,
    FeatureSelection,
    finite_values,
    model_frame,
    model_matrix,
    model_rows,
    select_features,
)
from custseg.prep._preprocess import CATEGORICAL_WEIGHT, SCALERS, build_preprocessor

__all__ = [
    "CATEGORICAL_WEIGHT",
    "CHUNK_ROWS",
    "SCALERS",
    "FeatureSelection",
    "build_preprocessor",
    "finite_values",
    "model_frame",
    "model_matrix",
    "model_rows",
    "select_features",
]
