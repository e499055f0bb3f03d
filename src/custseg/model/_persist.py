"""Save and load fitted Segmenters with skops, never with bare pickle.

A model file is a skops archive (a zip) of plain data (dicts, lists, strings,
numbers, arrays) plus the scikit-learn objects of the preparation and the
clusterer. :func:`save_model` adds one member, ``custseg-integrity.json``, with
the SHA-256 of every other member. Loading refuses, with
:class:`~custseg.errors.ModelFileError`, in this order:

1. a file that is not a zip, is truncated, holds a member twice, or whose
   members unpack to far more than the file holds (a zip bomb);
2. any type outside ``TRUSTED_TYPES``, so a model file cannot run arbitrary
   code;
3. a member added, removed or changed since the file was saved (the
   integrity record); a byte flipped in place is also caught by the zip's own
   CRC-32;
4. an unknown format version, missing parts, or parts that do not fit
   together (features that are not those the preparation was fitted on, a
   segment count that differs between centroids and profiles, a prediction
   that fails on a probe row).

Files saved before the integrity record (format versions 2 and 3 from
earlier custseg releases) still load: they get checks 1, 2 and 4 and the
CRC-32, but an edit made by unpacking and re-zipping the file goes unseen.
Re-save them (``custseg run``) to get the record. The record guards against
damage and careless edits, not against a forger: whoever can rewrite the file
can rewrite the record too, and checks 2 and 4 are what stop such a file from
running code or predicting nonsense.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
import zipfile
from collections import Counter
from typing import Any

import numpy as np

from custseg.errors import CustsegError, ModelFileError

__all__ = [
    "INTEGRITY_MEMBER",
    "MODEL_FORMAT",
    "TRUSTED_TYPES",
    "load_model",
    "save_model",
]

MODEL_FORMAT = "custseg-model"
# Version 2 stores the centroids as an array (version 1 stored a scikit-learn
# KMeans object, with a copy of every training label in it). Version 3 adds the
# algorithm and its predictor (plain arrays), segment numbers, stability and
# rules; version 2 files (K-Means) still load.
MODEL_FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)
# The archive member with the SHA-256 of every other member.
INTEGRITY_MEMBER = "custseg-integrity.json"
# skops stores members uncompressed, so a model unpacks to about its file size;
# members declaring more than this (beyond a small allowance) are a zip bomb.
_UNPACK_RATIO = 20
_UNPACK_ALLOWANCE = 64 << 20
_REMAKE = "re-create it with 'custseg run'"
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

    from custseg._version import __version__
    from custseg.io import atomic_write

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
        "id_columns": list(getattr(segmenter, "id_columns_", ())),
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
        "columns": [c.to_dict() for c in getattr(segmenter, "columns_", {}).values()],
        "log_features": list(getattr(segmenter, "log_features_", ())),
    }

    def write(tmp: str) -> None:
        sio.dump(state, tmp)
        _seal(tmp)

    atomic_write(path, write)


def _seal(path: str) -> None:
    """Add the integrity record: the SHA-256 of every member of the archive."""
    with zipfile.ZipFile(path, "a") as zf:
        digests = {info.filename: _sha256(zf, info) for info in zf.infolist()}
        record = {"sha256": digests}
        zf.writestr(INTEGRITY_MEMBER, json.dumps(record, indent=1, sort_keys=True))


def _sha256(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    h = hashlib.sha256()
    with zf.open(info) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_archive(name: str) -> None:
    """Refuse a file that is not an intact model archive (checks 1 and 3 of
    the module docstring), before skops parses any of it."""
    try:
        with zipfile.ZipFile(name) as zf:
            infos = zf.infolist()
            members = [i.filename for i in infos]
            size = os.path.getsize(name)
            unpacked = sum(i.file_size for i in infos)
            if unpacked > _UNPACK_ALLOWANCE + _UNPACK_RATIO * size:
                raise ModelFileError(
                    f"{name}: refused to load: its members unpack to "
                    f"{unpacked:,} bytes from a file of {size:,} bytes (a zip "
                    f"bomb?); no custseg model does that. Use the model file "
                    f"custseg wrote, or {_REMAKE}."
                )
            twice = sorted(m for m, n in Counter(members).items() if n > 1)
            if twice:
                raise ModelFileError(
                    f"{name}: refused to load: the archive holds {twice[0]!r} "
                    f"twice, which custseg never writes. It may have been "
                    f"tampered with; {_REMAKE}."
                )
            if "schema.json" not in members:
                raise ModelFileError(
                    f"{name}: not a custseg model file (no schema.json in the archive)"
                )
            if INTEGRITY_MEMBER in members:
                _check_integrity(name, zf, infos)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ModelFileError(
            f"{name}: not a readable custseg model ({type(exc).__name__}: {exc}). "
            f"The file is damaged or not a model; {_REMAKE}."
        ) from exc
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        # Encrypted members, unknown compression, a malformed record.
        raise ModelFileError(
            f"{name}: not a readable custseg model ({type(exc).__name__}: {exc})"
        ) from exc


def _check_integrity(
    name: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]
) -> None:
    data = json.loads(zf.read(INTEGRITY_MEMBER))
    record = data.get("sha256") if isinstance(data, dict) else None
    if not isinstance(record, dict):
        raise ValueError(f"{INTEGRITY_MEMBER} has no 'sha256' table")
    stored = {i.filename for i in infos} - {INTEGRITY_MEMBER}
    changed = sorted(stored ^ set(record))
    changed += [
        i.filename
        for i in infos
        if i.filename in record
        and i.filename != INTEGRITY_MEMBER
        and _sha256(zf, i) != record[i.filename]
    ]
    if changed:
        shown = ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
        raise ModelFileError(
            f"{name}: refused to load: the file has changed since custseg saved "
            f"it ({len(changed)} part(s) added, removed or altered: {shown}). "
            f"It is damaged or has been tampered with; {_REMAKE}."
        )


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by :func:`save_model` (or ``custseg run``).

    Raises
    ------
    ModelFileError
        The file is missing, is not a custseg model, or contains types outside
        the trusted list (it may have been tampered with).
    """
    import skops.io as sio

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ModelFileError(f"{name}: no such model file")
    _check_archive(name)
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
    try:
        seg = _from_state(state)
    except CustsegError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else f"{exc}"
        raise ModelFileError(
            f"{name}: damaged model file: a part is missing or malformed "
            f"({type(exc).__name__}: {what}); {_REMAKE}."
        ) from exc
    problem = _inconsistency(seg)
    if problem:
        raise ModelFileError(
            f"{name}: damaged model file: {problem}. It may have been tampered "
            f"with; {_REMAKE}."
        )
    return seg


def _from_state(state: dict[str, Any]) -> Any:
    """The Segmenter a model file's state describes."""
    from custseg.cluster import KSelection
    from custseg.model._segmenter import Segmenter
    from custseg.prep import FeatureSelection
    from custseg.profile import SegmentProfile
    from custseg.quality import ColumnRole

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

    def numbers(values: Any) -> Any:
        # JSON has no NaN: _plain wrote missing numbers as None
        return {k: math.nan if v is None else v for k, v in (values or {}).items()}

    seg.profiles_ = tuple(
        SegmentProfile(
            **{
                **p,
                "traits": tuple(p["traits"]),
                **{
                    key: numbers(p.get(key))
                    for key in ("mean", "median", "z", "overall", "effect")
                    if key in p
                },
            }
        )
        for p in state["profiles"]
    )
    seg.segment_names_ = tuple(p.name for p in seg.profiles_)
    seg.columns_ = {c["name"]: ColumnRole(**c) for c in state.get("columns", [])}
    seg.log_features_ = tuple(
        state.get("log_features") or params.get("log_features") or ()
    )
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
    seg.id_columns_ = tuple(state.get("id_columns", ()))  # older files: none
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


def _inconsistency(seg: Any) -> str | None:
    """What does not fit together in a loaded model (None when all fits)."""
    import pandas as pd

    columns = [str(c) for c in seg.selection_.columns]
    fitted = getattr(seg.preprocessor_, "feature_names_in_", None)
    if fitted is not None and sorted(map(str, fitted)) != sorted(columns):
        return (
            f"its features ({', '.join(columns) or 'none'}) are not those its "
            f"preparation was fitted on ({', '.join(map(str, fitted))})"
        )
    k = seg.n_clusters_
    if k < 1 or seg.cluster_centers_.ndim != 2:
        return "it has no segment centroids"
    if len(seg.profiles_) != k or len(seg.segment_ids_) != k:
        return (
            f"it has {k} segment centroids but {len(seg.profiles_)} profiles "
            f"and {len(seg.segment_ids_)} segment numbers"
        )
    lm = seg.label_map_
    if lm.size and (int(lm.min()) < -1 or int(lm.max()) >= k):
        return f"its label map points outside the {k} segments"
    # A probe: one customer with every feature missing (imputed) must get a
    # segment index, or -1, without error.
    probe = pd.DataFrame({c: pd.Series([np.nan], dtype=object) for c in columns})
    for c in seg.selection_.numeric:
        probe[c] = probe[c].astype(np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            label = seg.predict(probe)
    except CustsegError:
        return None  # refused like data would be, not a broken model
    except Exception as exc:
        return f"a prediction fails ({type(exc).__name__}: {exc})"
    if label.shape != (1,) or not -1 <= int(label[0]) < k:
        return f"a prediction gives segment index {label.tolist()}"
    return None


def _stability(state: dict[str, Any] | None) -> Any:
    from custseg.cluster import Stability

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
    from custseg.profile import Condition, SegmentRule

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
