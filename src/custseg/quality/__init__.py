"""Data-quality checks: column roles, missing values, duplicates, outliers."""

from custseg.quality._check import (
    MAX_CATEGORIES,
    ColumnSummary,
    QualityReport,
    check_table,
    looks_like_id_name,
)

__all__ = [
    "MAX_CATEGORIES",
    "ColumnSummary",
    "QualityReport",
    "check_table",
    "looks_like_id_name",
]
