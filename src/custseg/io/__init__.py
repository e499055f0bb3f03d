"""Reading customer tables and writing segments."""

from custseg.io._load import load_table, table_meta
from custseg.io._sql import (
    DatabaseSource,
    DatabaseTarget,
    read_database,
    redact_url,
    write_database,
)
from custseg.io._write import write_table

__all__ = [
    "DatabaseSource",
    "DatabaseTarget",
    "load_table",
    "read_database",
    "redact_url",
    "table_meta",
    "write_database",
    "write_table",
]
