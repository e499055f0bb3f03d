"""Clustering: choosing k, the Segmenter estimator, saving and loading models."""

from custseg.cluster._choose_k import (
    SILHOUETTE_TOLERANCE,
    STRUCTURE_MARGIN,
    KSelection,
    choose_k,
    structure_check,
)
from custseg.cluster._persist import load_model, save_model
from custseg.cluster._segmenter import Segmenter, canonical_order

__all__ = [
    "SILHOUETTE_TOLERANCE",
    "STRUCTURE_MARGIN",
    "KSelection",
    "Segmenter",
    "canonical_order",
    "choose_k",
    "load_model",
    "save_model",
    "structure_check",
]
