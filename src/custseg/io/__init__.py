"""Reading customer tables and writing segments."""

from custseg.io._load import load_table, table_meta
from custseg.io._write import write_table

__all__ = ["load_table", "table_meta", "write_table"]
