"""Save and load fitted Segmenters with skops, never with bare pickle.

A model file is a skops archive of plain data (dicts, lists, strings, numbers,
arrays) plus the scikit-learn objects of the preparation and the clusterer.
Loading checks every type in the file against ``TRUSTED_TYPES`` first and
refuses the file if anything else is in it, so a model file cannot run
arbitrary code.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from custseg.errors import ModelFileError

__all__ = ["MODEL_FORMAT", "TRUSTED_TYPES", "load_model", "save_model"]

MODEL_FORMAT = "custseg-model"
# Version 2 stores the centroids as an array (version 1 stored a scikit-learn
# KMeans object, with a copy of every training label in it). Version 3 adds the
# algorithm and its predictor (plain arrays), segment numbers, stability and
# rules; version 2 files (K-Means) still load.
MODEL_FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)
# Every non-builtin type a custseg model file may contain.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.utils._bunch.Bunch",
        "builtins.slice",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
        "numpy.arcsinh",
    }
)


def save_model(segmenter: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted :class:`Segmenter` to ``path`` (a ``.skops`` file)."""
    import skops.io as sio

    from custseg import __version__
    from custseg.io._write import atomic_write

    segmenter._check_fitted()
    state = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "custseg_version": __version__,
        "params": _plain(segmenter.get_params()),
        "numeric": list(segmenter.selection_.numeric),
        "categorical": list(segmenter.selection_.categorical),
        "excluded": dict(segmenter.selection_.excluded),
        "feature_names_in": [str(c) for c in segmenter.feature_names_in_],
        "preprocessor": segmenter.preprocessor_,
        "centers": segmenter.cluster_centers_,
        "inertia": segmenter.inertia_,
        "profiles": [_plain(p.to_dict()) for p in segmenter.profiles_],
        "k_selection": _plain(segmenter.k_selection_.to_dict()),
        "source": segmenter.quality_.source,
        "algorithm": segmenter.algorithm_,
        "predictor": {k: _plain_array(v) for k, v in segmenter.predictor_.items()},
        "label_map": np.asarray(segmenter.label_map_, dtype=np.int64),
        "segment_ids": np.asarray(segmenter.segment_ids_, dtype=np.int64),
        "max_segment_id": int(
            getattr(segmenter, "max_segment_id_", max(segmenter.segment_ids_))
        ),
        "predict_agreement": segmenter.predict_agreement_,
        "stability": _plain(segmenter.stability_.to_dict())
        if segmenter.stability_ is not None
        else None,
        "rules": [_plain(r.to_dict()) for r in segmenter.rules_],
    }
    atomic_write(path, lambda tmp: sio.dump(state, tmp))


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by :func:`save_model` (or ``custseg run``).

    Raises
    ------
    ModelFileError
        The file is missing, is not a custseg model, or contains types outside
        the trusted list (it may have been tampered with).
    """
    import skops.io as sio

    from custseg.cluster._choose_k import KSelection
    from custseg.cluster._segmenter import Segmenter
    from custseg.prep import FeatureSelection
    from custseg.profile import SegmentProfile

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ModelFileError(f"{name}: no such model file")
    try:
        untrusted = set(sio.get_untrusted_types(file=name))
    except Exception as exc:  # a corrupt archive raises zipfile/json errors
        raise ModelFileError(
            f"{name}: not a readable custseg model ({type(exc).__name__}: {exc})"
        ) from exc
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise ModelFileError(
            f"{name}: refused to load: the file contains types custseg does not "
            f"trust ({', '.join(refused[:5])}). It may have been tampered with; "
            "re-create it with 'custseg run'."
        )
    try:
        state = sio.load(name, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelFileError(
            f"{name}: not a readable custseg model ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{name}: not a custseg model file")
    version = state.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{name}: model format version {version} is not supported (this "
            f"custseg reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )

    params = dict(state["params"])
    if isinstance(params.get("k_range"), list):
        params["k_range"] = tuple(params["k_range"])
    seg = Segmenter(**params)
    seg.selection_ = FeatureSelection(
        tuple(state["numeric"]), tuple(state["categorical"]), dict(state["excluded"])
    )
    seg.preprocessor_ = state["preprocessor"]
    seg.cluster_centers_ = np.ascontiguousarray(state["centers"], dtype=np.float64)
    seg.n_clusters_ = len(seg.cluster_centers_)
    seg.inertia_ = float(state["inertia"])
    seg.profiles_ = tuple(
        SegmentProfile(**{**p, "traits": tuple(p["traits"])}) for p in state["profiles"]
    )
    seg.segment_names_ = tuple(p.name for p in seg.profiles_)
    ks = dict(state["k_selection"])
    ks.pop("has_structure", None)
    for key in (
        "k_values",
        "inertia",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "candidates",
    ):
        ks[key] = tuple(math.nan if v is None else v for v in ks[key])
    seg.k_selection_ = KSelection(**ks)
    seg.feature_names_in_ = state["feature_names_in"]
    seg.n_features_in_ = len(state["feature_names_in"])
    seg.source_ = state["source"]
    k = seg.n_clusters_
    seg.algorithm_ = state.get("algorithm", "kmeans")
    seg.predictor_ = dict(
        state.get("predictor")
        or {"method": "centroid", "centers": seg.cluster_centers_}
    )
    seg.label_map_ = np.asarray(state.get("label_map", np.arange(k)), dtype=np.int64)
    seg.segment_ids_ = np.asarray(
        state.get("segment_ids", np.arange(k)), dtype=np.int64
    )
    seg.predict_agreement_ = float(state.get("predict_agreement", 1.0))
    seg.max_segment_id_ = int(state.get("max_segment_id", int(seg.segment_ids_.max())))
    seg.stability_ = _stability(state.get("stability"))
    seg.rules_ = tuple(_rule(r) for r in state.get("rules", []))
    return seg


def _stability(state: dict[str, Any] | None) -> Any:
    from custseg.cluster._stability import Stability

    if not state:
        return None

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    return Stability(
        num(state["overall"]),
        tuple(num(v) for v in state["per_segment"]),
        tuple(num(v) for v in state["ari"]),
        int(state["n_resamples"]),
        int(state["sample_size"]),
        int(state["random_state"]),
    )


def _rule(state: dict[str, Any]) -> Any:
    from custseg.profile._rules import Condition, SegmentRule

    conditions = tuple(
        Condition(
            c["feature"],
            c["op"],
            tuple(c["value"]) if isinstance(c["value"], list) else c["value"],
            c.get("missing_as"),
        )
        for c in state["conditions"]
    )
    return SegmentRule(
        int(state["segment"]),
        conditions,
        state["text"],
        float(state["precision"]),
        float(state["coverage"]),
        int(state["matches"]),
    )


def _plain_array(value: Any) -> Any:
    """Predictor entries: arrays stay arrays, numbers and text become builtins."""
    if isinstance(value, np.ndarray):
        return value
    return _plain(value)


def _plain(value: Any) -> Any:
    """Turn tuples into lists and NaN into None so skops stores plain JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _plain(value.item())
    return value
