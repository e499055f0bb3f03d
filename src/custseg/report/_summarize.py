"""The run as one plain dictionary: the source of summary.json and of the report."""

from __future__ import annotations

import math
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationRun

__all__ = ["EXCLUDED_LISTED", "json_safe", "summarize"]

EXCLUDED_LISTED = 1_000


def json_safe(value: Any) -> Any:
    """Recursively replace NaN/inf by None and numpy scalars by Python ones."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize(result: SegmentationRun) -> dict[str, Any]:
    """Everything a reader needs to know about the run, as JSON-ready data.

    Examples
    --------
    >>> from custseg.pipeline import run
    >>> s = summarize(run(features=["Annual Income (k$)", "Spending Score (1-100)"]))
    >>> s["k"], [seg["size"] for seg in s["segments"]]
    (5, [81, 39, 35, 23, 22])
    """
    import numpy as np
    import pandas as pd
    import sklearn

    from custseg._version import __version__
    from custseg.cluster import ALGORITHMS
    from custseg.prep import PREP_SAMPLE_SIZE
    from custseg.report._figures import FIGURE_SAMPLE

    seg = result.segmenter
    ks = result.k_selection
    quality = result.quality
    excluded = seg.excluded_rows_
    stability = getattr(seg, "stability_", None)
    numbers = list(getattr(seg, "segment_ids_", range(len(seg.segment_names_))))
    summary: dict[str, Any] = {
        "custseg_version": __version__,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "source": quality.source,
        "random_state": seg.random_state,
        "settings": result.settings,
        "engine": result.engine,
        "n_rows": int(result.n_rows),
        "n_segmented": int(result.n_rows - len(excluded)),
        "n_unassigned": len(excluded),
        # records kept in the segments file without being segmented (an RFM
        # run's customers with no usable purchase), with their reason there
        "n_unscored": result.n_unscored,
        # Every unassigned row is in the segments file with its reason; the
        # summary lists the first EXCLUDED_LISTED of them.
        "excluded_rows": excluded.head(EXCLUDED_LISTED).to_dict("records"),
        "algorithm": {
            "name": getattr(seg, "algorithm_", "kmeans"),
            "label": ALGORITHMS[getattr(seg, "algorithm_", "kmeans")],
            "options": _algorithm_options(seg),
            "predict_method": getattr(seg, "predictor_", {}).get("method", "centroid"),
            "predict_agreement": getattr(seg, "predict_agreement_", 1.0),
            "fit_rows": int(getattr(seg, "n_fit_rows_", result.n_rows)),
        },
        "stability": None
        if stability is None
        else {
            **stability.to_dict(),
            "unstable_segments": [
                int(numbers[i]) for i in stability.unstable_segments()
            ],
            "segments": numbers,
            "warnings": stability.warnings(seg.segment_names_, numbers),
        },
        "rules": [r.to_dict() for r in getattr(seg, "rules_", ())],
        "migration": None if result.migration is None else result.migration.to_dict(),
        "features": {
            "numeric": list(seg.selection_.numeric),
            "categorical": list(seg.selection_.categorical),
            "excluded": dict(seg.selection_.excluded),
            "scaler": seg.scaler,
            "log_scale": list(getattr(seg, "log_features_", ())),
            "log_transform": getattr(seg, "log_transform", "none"),
            "columns": {
                c: r.to_dict() for c, r in getattr(seg, "columns_", {}).items()
            },
            "prepared_columns": getattr(seg, "n_prepared_features_", None),
        },
        "k": ks.k,
        "k_rule": ks.rule,
        "k_reason": ks.reason,
        "structure": {
            "level": ks.structure,
            "has_structure": ks.has_structure,
            "explanation": ks.structure_reason,
            "silhouette": ks.silhouette_at_k,
            "reference_silhouette": ks.reference_silhouette,
            "reference_silhouette_sd": ks.reference_silhouette_sd,
        },
        "k_scores": ks.to_frame().reset_index().to_dict("records"),
        "k_votes": ks.votes,
        "k_candidates": list(ks.candidates),
        # Other k nearly as good (silhouette within the tolerance, equally
        # supported): {"k", "silhouette", "stability" (None unless a tie)}.
        "k_runners_up": [dict(r) for r in getattr(ks, "runners_up", ())],
        "k_sample_size": ks.sample_size,
        "silhouette_sample_size": ks.silhouette_sample_size,
        "samples": {
            "k_selection_rows": ks.sample_size,
            "silhouette_rows": ks.silhouette_sample_size,
            # Spark learns its preparation statistics on every row.
            "preparation_rows": int(result.n_rows)
            if result.engine == "spark"
            else min(int(result.n_rows), PREP_SAMPLE_SIZE),
            "figure_rows": min(len(result.data), FIGURE_SAMPLE),
            "final_fit_rows": int(result.n_rows - len(excluded)),
            "seed": seg.random_state,
        },
        "segments": [p.to_dict() for p in result.profiles],
        "quality": {
            "n_rows": quality.n_rows,
            "n_columns": quality.n_columns,
            "findings": list(quality.findings),
            "repairs": list(quality.repairs),
            "id_columns": list(quality.id_columns),
            "duplicate_rows": quality.duplicate_rows,
            "duplicate_ids": quality.duplicate_ids,
            "constant_columns": list(quality.constant_columns),
            "mistyped": quality.mistyped,
            "file": quality.file_info,
            "columns": quality.to_frame().reset_index().to_dict("records"),
        },
        "timings_seconds": {k: round(v, 4) for k, v in result.timings.items()},
    }
    if result.rfm is not None:
        summary["rfm"] = result.rfm.to_dict()
    return json_safe(summary)  # type: ignore[no-any-return]


def _algorithm_options(seg: Any) -> dict[str, Any]:
    """The settings that matter for the algorithm used."""
    name = getattr(seg, "algorithm_", "kmeans")
    if name == "agglomerative":
        return {"linkage": seg.linkage}
    if name == "gmm":
        return {"covariance_type": seg.covariance_type}
    if name == "hdbscan":
        from custseg.cluster import default_min_cluster_size

        return {
            "min_cluster_size": seg.min_cluster_size
            or default_min_cluster_size(int(getattr(seg, "n_fit_rows_", 0)))
        }
    if name == "kprototypes":
        return {"gamma": 2.0 * float(seg.categorical_weight) ** 2}
    return {}
