"""Data-quality checks: column roles, missing values, duplicates, outliers."""

from custseg.quality._check import (
    FINDING_GROUPS,
    FINDING_LEVELS,
    MAX_CATEGORIES,
    ColumnSummary,
    Finding,
    QualityReport,
    check_table,
    column_findings,
    looks_like_id_name,
)
from custseg.quality._roles import (
    ROLES,
    ColumnRole,
    check_overrides,
    describe_columns,
    guess_role,
    read_column_file,
    readable_label,
)

__all__ = [
    "FINDING_GROUPS",
    "FINDING_LEVELS",
    "MAX_CATEGORIES",
    "ROLES",
    "ColumnRole",
    "ColumnSummary",
    "Finding",
    "QualityReport",
    "check_overrides",
    "check_table",
    "column_findings",
    "describe_columns",
    "guess_role",
    "looks_like_id_name",
    "read_column_file",
    "readable_label",
]
