"""The Segmenter estimator (a scikit-learn estimator built on the layers below:
quality, preparation, clustering, profiles), the result of a run, model files,
and continuity between a model and its successor."""

from custseg.model._continuity import Migration, continue_from
from custseg.model._engine import (
    Engine,
    EngineTable,
    Explanation,
    FittedSegments,
    LocalEngine,
    PreparedFeatures,
    fit_stages,
)
from custseg.model._persist import load_model, save_model
from custseg.model._run import (
    NAME_COLUMN,
    SEGMENT_COLUMN,
    SegmentationRun,
    attach_segments,
    output_prefix,
    used_prefix,
)
from custseg.model._segmenter import (
    EXPECTED_FAILED_CHECKS,
    STABILITY_ROWS,
    Segmenter,
    SegmenterNotFittedError,
    SegmenterParameterError,
    canonical_order,
    drop_unusable,
)

__all__ = [
    "Engine",
    "EngineTable",
    "Explanation",
    "FittedSegments",
    "LocalEngine",
    "PreparedFeatures",
    "fit_stages",
    "EXPECTED_FAILED_CHECKS",
    "NAME_COLUMN",
    "SEGMENT_COLUMN",
    "STABILITY_ROWS",
    "Migration",
    "SegmentationRun",
    "Segmenter",
    "SegmenterNotFittedError",
    "SegmenterParameterError",
    "attach_segments",
    "output_prefix",
    "used_prefix",
    "canonical_order",
    "continue_from",
    "drop_unusable",
    "load_model",
    "save_model",
]
