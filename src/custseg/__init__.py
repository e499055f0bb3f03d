"""custseg: customer segmentation from a table to named segments, a report and a model.

The public API lives here; everything else is private. See README.md.
"""

from custseg.cluster import KSelection, Segmenter, choose_k, load_model, save_model
from custseg.datasets import load_mall_customers
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
from custseg.io import DatabaseSource, DatabaseTarget, load_table, write_table
from custseg.profile import SegmentProfile, profile_segments
from custseg.quality import QualityReport, check_table

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "ColumnTypeError",
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
    "MissingColumnError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "QualityReport",
    "SegmentProfile",
    "Segmenter",
    "check_table",
    "choose_k",
    "load_mall_customers",
    "load_model",
    "load_table",
    "profile_segments",
    "save_model",
    "write_table",
]
