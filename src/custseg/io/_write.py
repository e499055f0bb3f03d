"""Write output tables atomically: to a temporary name first, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = ["atomic_write", "write_table"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    A run that stops half-way never leaves a half-written file under the final
    name: the rename is atomic on POSIX file systems.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file 0600; give it the permissions a normal
        # open() would have had under the user's umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as CSV or Parquet (by the file's suffix), atomically.

    PyArrow writes both: its CSV writer is several times faster than
    ``DataFrame.to_csv`` on large tables.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = write_table(pd.DataFrame({"a": [1, 2]}), out)
    >>> out.read_text()
    '"a"\\n1\\n2\\n'
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    if Path(path).suffix.lower() in {".parquet", ".pq"}:
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return atomic_write(path, lambda tmp: pa_csv.write_csv(table, tmp))
