"""The one orchestrator: load, check, prepare, segment, explain, and write.

:func:`run` segments a customer table (through :func:`segment`, which
:func:`rfm` calls on its per-customer table and :func:`compare` once per
algorithm); :func:`predict` scores new customers with a saved model;
:func:`write_outputs`, :func:`write_predictions` and :func:`write_comparison`
write what they return. The command line and the app only parse, call these
and print.
"""

from custseg.pipeline._compare import Comparison, compare, write_comparison
from custseg.pipeline._rfm import RFM_FEATURES, RFMAnalysis, rfm, rfm_customers
from custseg.pipeline._run import (
    NAME_COLUMN,
    SEGMENT_COLUMN,
    SegmentationRun,
    Source,
    attach_segments,
    database_rows,
    key_rows,
    load_source,
    predict,
    run,
    segment,
    write_outputs,
    write_predictions,
)

__all__ = [
    "NAME_COLUMN",
    "RFM_FEATURES",
    "SEGMENT_COLUMN",
    "Comparison",
    "RFMAnalysis",
    "SegmentationRun",
    "Source",
    "attach_segments",
    "compare",
    "database_rows",
    "key_rows",
    "load_source",
    "predict",
    "rfm",
    "rfm_customers",
    "run",
    "segment",
    "write_comparison",
    "write_outputs",
    "write_predictions",
]
