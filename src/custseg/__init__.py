"""custseg: customer segmentation from a table to named segments, a report and a model.

The public API lives here; everything else is private. See README.md.
"""

import typing as _typing

from custseg import _lazy
from custseg._version import __version__ as __version__
from custseg.errors import (
    BackendUnavailableError,
    ColumnTypeError,
    CustsegError,
    CustsegWarning,
    DataRepairWarning,
    EmptyDataError,
    EncodingError,
    FileFormatError,
    InputError,
    MissingColumnError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)

if _typing.TYPE_CHECKING:
    from custseg.cluster import KSelection, choose_k
    from custseg.datasets import load_mall_customers
    from custseg.io import (
        DatabaseSource,
        DatabaseTarget,
        LoadedTable,
        load_table,
        read_table,
        write_table,
    )
    from custseg.model import Segmenter, load_model, save_model
    from custseg.pipeline import (
        Comparison,
        RFMAnalysis,
        SegmentationRun,
        compare,
        predict,
        rfm,
        run,
        write_outputs,
        write_predictions,
    )
    from custseg.profile import SegmentProfile, profile_segments
    from custseg.quality import QualityReport, check_table
    from custseg.settings import Settings

# Public names loaded on first use (SPEC 1's lazy loading): ``import custseg``
# and the command line's start-up then import no scientific stack, and
# ``custseg --help`` answers at once. Errors are cheap and imported eagerly.
_LAZY = {
    "KSelection": "custseg.cluster",
    "Segmenter": "custseg.model",
    "choose_k": "custseg.cluster",
    "load_model": "custseg.model",
    "save_model": "custseg.model",
    "load_mall_customers": "custseg.datasets",
    "DatabaseSource": "custseg.io",
    "DatabaseTarget": "custseg.io",
    "LoadedTable": "custseg.io",
    "load_table": "custseg.io",
    "read_table": "custseg.io",
    "write_table": "custseg.io",
    "SegmentProfile": "custseg.profile",
    "profile_segments": "custseg.profile",
    "QualityReport": "custseg.quality",
    "check_table": "custseg.quality",
    "SegmentationRun": "custseg.pipeline",
    "Comparison": "custseg.pipeline",
    "RFMAnalysis": "custseg.pipeline",
    "compare": "custseg.pipeline",
    "rfm": "custseg.pipeline",
    "predict": "custseg.pipeline",
    "run": "custseg.pipeline",
    "write_outputs": "custseg.pipeline",
    "write_predictions": "custseg.pipeline",
    "Settings": "custseg.settings",
}


__getattr__, __dir__ = _lazy.attach(__name__, _LAZY)

__all__ = [
    "BackendUnavailableError",
    "ColumnTypeError",
    "Comparison",
    "CustsegError",
    "CustsegWarning",
    "DataRepairWarning",
    "DatabaseSource",
    "DatabaseTarget",
    "EmptyDataError",
    "EncodingError",
    "FileFormatError",
    "InputError",
    "KSelection",
    "LoadedTable",
    "MissingColumnError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "QualityReport",
    "RFMAnalysis",
    "SegmentProfile",
    "SegmentationRun",
    "Segmenter",
    "Settings",
    "check_table",
    "choose_k",
    "compare",
    "load_mall_customers",
    "load_model",
    "load_table",
    "predict",
    "profile_segments",
    "read_table",
    "rfm",
    "run",
    "save_model",
    "write_outputs",
    "write_predictions",
    "write_table",
]
