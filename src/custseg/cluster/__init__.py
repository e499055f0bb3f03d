"""Clustering: the algorithms, choosing k, the Segmenter estimator, stability,
label continuity, saving and loading models."""

from custseg.cluster._algorithms import ALGORITHMS
from custseg.cluster._choose_k import (
    SILHOUETTE_TOLERANCE,
    STRUCTURE_MARGIN,
    KSelection,
    choose_k,
    structure_check,
)
from custseg.cluster._continuity import Migration, continue_from
from custseg.cluster._persist import load_model, save_model
from custseg.cluster._segmenter import Segmenter, canonical_order
from custseg.cluster._stability import Stability, bootstrap_stability

__all__ = [
    "ALGORITHMS",
    "SILHOUETTE_TOLERANCE",
    "STRUCTURE_MARGIN",
    "KSelection",
    "Migration",
    "Segmenter",
    "Stability",
    "bootstrap_stability",
    "canonical_order",
    "choose_k",
    "continue_from",
    "load_model",
    "save_model",
    "structure_check",
]
