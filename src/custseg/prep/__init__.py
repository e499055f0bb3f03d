"""Preparing customer tables for clustering: feature choice, imputation, scaling."""

from custseg.prep._features import FeatureSelection, model_frame, select_features
from custseg.prep._preprocess import CATEGORICAL_WEIGHT, SCALERS, build_preprocessor

__all__ = [
    "CATEGORICAL_WEIGHT",
    "SCALERS",
    "FeatureSelection",
    "build_preprocessor",
    "model_frame",
    "select_features",
]
