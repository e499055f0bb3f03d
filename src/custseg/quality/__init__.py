"""Data-quality checks: column roles, missing values, duplicates, outliers."""

from custseg.quality._check import (
    FINDING_GROUPS,
    FINDING_LEVELS,
    MAX_CATEGORIES,
    ColumnSummary,
    Finding,
    QualityReport,
    check_table,
    looks_like_id_name,
)

__all__ = [
    "FINDING_GROUPS",
    "FINDING_LEVELS",
    "MAX_CATEGORIES",
    "ColumnSummary",
    "Finding",
    "QualityReport",
    "check_table",
    "looks_like_id_name",
]
