"""Write output tables atomically: to a temporary name first, then renamed."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers of killed runs stay
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "EXCEL_SUFFIXES",
    "FORMULA_PREFIXES",
    "atomic_write",
    "check_out_dir",
    "out_dir_lock",
    "record_digests",
    "written_digest",
    "check_outputs",
    "neutralise_formulas",
    "output_checksums",
    "write_table",
]

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
# Excel's sheet limit, header row included.
EXCEL_MAX_ROWS = 1_048_575

# A text cell starting with one of these can run as a formula when a CSV is
# opened in a spreadsheet (OWASP "CSV injection"): "=HYPERLINK(...)",
# "+cmd|...", "-2+3", "@SUM(...)", and tab or carriage return before them.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"
# What tempfile.mkstemp puts after the prefix (see atomic_write).
_TEMP_SUFFIX = re.compile(r"[a-z0-9_]{8}")


def check_out_dir(path: str | os.PathLike[str]) -> Path:
    """Make the output folder ``path`` (and its parents) and prove that files
    can be written in it, before any work is done.

    Raises
    ------
    InputError
        The folder cannot be made or written: a file is in the way, the
        permission is missing, the file system is read-only or full. The
        message names the folder.

    Examples
    --------
    >>> import tempfile
    >>> check_out_dir(Path(tempfile.mkdtemp()) / "new" / "folder").is_dir()
    True
    """
    from custseg._format import printable
    from custseg.errors import InputError

    out = Path(path)
    name = printable(os.fsdecode(os.fspath(path)))
    hint = "Pass --out a folder you can write to (it is made if need be)."
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".custseg-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        raise InputError("is a file, not a folder", path=name, hint=hint) from None
    except NotADirectoryError:
        raise InputError(
            "cannot be made: a part of the path is a file, not a folder",
            path=name,
            hint=hint,
        ) from None
    except PermissionError:
        raise InputError(
            "cannot be written: permission denied", path=name, hint=hint
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot be made or written ({exc.strerror or exc})", path=name, hint=hint
        ) from None
    return out


# The folders this process holds the lock of, with how many holders: the
# command line locks its --out for the whole run, and write_outputs again.
_HELD: dict[Path, int] = {}
LOCK_NAME = ".custseg.lock"


@contextlib.contextmanager
def out_dir_lock(out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the output folder ``out`` for this run: a second run into the same
    folder while this one writes is refused with a message naming this one,
    so that two runs never mix their files. The lock is an ``flock`` on
    ``out/.custseg.lock``, removed when the run lets go; it goes with the
    process, even a killed one (which leaves the file, not the lock). Where
    file locks are not available (Windows) there is none.

    Raises
    ------
    InputError
        Another run holds the folder: its process id and start time.
    """
    folder = Path(out).resolve()
    handle = None if folder in _HELD else _lock_file(folder, out)
    if handle is None:  # held here already, or no locks on this file system
        with _holding(folder):
            yield
        return
    path = folder / LOCK_NAME
    try:
        with contextlib.suppress(OSError):  # read-only: the lock is enough
            handle.seek(0)
            handle.truncate()
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(f"process {os.getpid()}, started {started}")
            handle.flush()
        try:
            with _holding(folder):
                yield
        finally:
            # Removed while still held, so that the folder holds only outputs.
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    finally:
        handle.close()  # closing lets go of the lock


@contextlib.contextmanager
def _holding(folder: Path) -> Iterator[None]:
    """Count this process as a holder of ``folder`` while the block runs."""
    _HELD[folder] = _HELD.get(folder, 0) + 1
    try:
        yield
    finally:
        _HELD[folder] -= 1
        if not _HELD[folder]:
            del _HELD[folder]


def _lock_file(folder: Path, out: str | os.PathLike[str]) -> IO[str] | None:
    """The open, locked ``.custseg.lock`` of ``folder``; None where file locks
    are not available (Windows, some NFS and FUSE mounts)."""
    from custseg._format import printable
    from custseg.errors import InputError

    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        return None
    path = folder / LOCK_NAME
    while True:
        try:
            handle = path.open("a+", encoding="utf-8")
        except PermissionError:  # another user's leftover: flock works read-only
            handle = path.open(encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InputError(
                f"another custseg run is writing into this folder ({holder})",
                path=printable(os.fsdecode(os.fspath(out))),
                hint="Wait for it to finish, or pass another --out.",
            ) from None
        except OSError:
            handle.close()
            return None
        # The holder before us removes the file as it lets go: a lock won on
        # that removed file is no lock; open the new one.
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()


# Size and SHA-256 of what atomic_write wrote, by final path, while a run
# records them (record_digests): summary.json's checksums are then those of
# the bytes this run wrote, not of whatever is on disk when it looks.
# A context variable: the app's runs in other threads record their own.
_RECORDING: contextvars.ContextVar[dict[Path, dict[str, Any]] | None] = (
    contextvars.ContextVar("custseg_written_digests", default=None)
)


@contextlib.contextmanager
def record_digests() -> Iterator[None]:
    """Record the digest of every file :func:`atomic_write` writes (in this
    process, and in a helper forked meanwhile) until the block ends; read
    them with :func:`written_digest`."""
    token = _RECORDING.set({})
    try:
        yield
    finally:
        _RECORDING.reset(token)


def written_digest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Size and SHA-256 of the file this process wrote at ``path`` (recorded
    by :func:`atomic_write` under :func:`record_digests`), or of what is
    there (a folder written by Spark, say)."""
    target = Path(path)
    recording = _RECORDING.get()
    recorded = None if recording is None else recording.pop(target.resolve(), None)
    return recorded if recorded is not None else _digest(target)


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    A run that stops half-way never leaves a half-written file under the final
    name: the rename is atomic on POSIX file systems.

    The temporary file, ``.<name>.<8 random characters>`` in the same folder,
    is locked (``flock``) while it is written. A run killed half-way (SIGKILL,
    a power cut) leaves its temporary file behind, hidden but as large as the
    output; the next write of the same ``path`` removes such leftovers, but
    never one that a live process still holds locked (a run writing to the
    same folder at the same time). Where locks are not available (Windows,
    some network file systems) leftovers are left alone.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp, locked = _locked_temp(target)
    try:
        if locked:
            _remove_stale_temps(target, keep=tmp)
        write(tmp)
        # mkstemp creates the file 0600; give it the permissions a normal
        # open() would have had under the user's umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        recording = _RECORDING.get()
        if recording is not None:  # the bytes this run wrote, before the rename
            recording[target.resolve()] = _digest(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)  # releases the lock
    return target


def _locked_temp(target: Path) -> tuple[int, str, bool]:
    """A new temporary file next to ``target``, its descriptor held open and
    locked; ``locked`` is False where the file system has no locks."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        if fcntl is None:
            return fd, tmp, False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return fd, tmp, False
        # Another run's cleanup may have removed the file between mkstemp and
        # the lock (it was not locked yet): start again with a new one.
        try:
            if os.path.samestat(os.stat(tmp), os.fstat(fd)):
                return fd, tmp, True
        except FileNotFoundError:
            pass
        os.close(fd)


def _remove_stale_temps(target: Path, *, keep: str) -> list[str]:
    """Remove the temporary files of ``target`` that no process holds locked
    (left by a killed run); returns their paths."""
    assert fcntl is not None
    prefix = f".{target.name}."
    removed = []
    with os.scandir(target.parent) as entries:
        stale = [
            e.path
            for e in entries
            if e.name.startswith(prefix)
            and _TEMP_SUFFIX.fullmatch(e.name[len(prefix) :])
            and e.path != keep
            and e.is_file(follow_symlinks=False)
        ]
    for name in stale:
        try:
            fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.stat(name), os.fstat(fd)):
                os.unlink(name)
                removed.append(name)
        except OSError:  # locked by a live writer, or already gone
            pass
        finally:
            os.close(fd)
    return removed


def output_checksums(
    paths: Mapping[str, Path], digests: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Name, size and SHA-256 of each output, for ``summary.json``: from
    ``digests`` (taken as each was written: :func:`written_digest`) where
    given, else read from disk.

    ``summary.json`` is written last, so after a run killed half-way the
    folder can hold new files beside the previous run's summary; the sizes and
    checksums let a reader tell (:func:`check_outputs`). A folder (Spark's
    ``segments.parquet``) is hashed file by file, in name order.
    """
    digests = digests or {}
    return {
        name: {"file": path.name, **(digests.get(name) or _digest(path))}
        for name, path in paths.items()
    }


def check_outputs(out_dir: str | os.PathLike[str]) -> list[str]:
    """What is wrong with a folder of outputs, as sentences; empty when every
    output listed in its ``summary.json`` is there, with the size and
    SHA-256 recorded there (so all come from the same, finished run).

    Examples
    --------
    >>> import tempfile
    >>> check_outputs(tempfile.mkdtemp())[0].endswith(
    ...     "summary.json: missing: the run did not finish, or this is not "
    ...     "a custseg output folder"
    ... )
    True
    """
    import json

    out = Path(out_dir)
    summary = out / "summary.json"
    if not summary.is_file():
        return [
            f"{summary}: missing: the run did not finish, or this is not a custseg "
            "output folder"
        ]
    try:
        recorded = json.loads(summary.read_text(encoding="utf-8")).get("checksums")
    except (ValueError, AttributeError) as exc:
        return [f"{summary}: not a custseg summary ({exc})"]
    if not isinstance(recorded, dict):
        return [f"{summary}: records no checksums (written by an older custseg)"]
    problems = []
    for entry in recorded.values():
        path = out / str(entry.get("file"))
        if not path.exists():
            problems.append(f"{path}: missing")
        elif _digest(path) != {k: entry.get(k) for k in ("bytes", "sha256")}:
            problems.append(
                f"{path}: differs from what {summary.name} records: written by "
                "another run (one stopped half-way?) or changed since"
            )
    return problems


def _digest(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file (what ``sha256sum`` prints); of a folder, the
    total size and the SHA-256 of each file's relative name and SHA-256."""
    if not path.is_dir():
        with open(path, "rb") as fh:
            sha = hashlib.file_digest(fh, "sha256").hexdigest()
        return {"bytes": path.stat().st_size, "sha256": sha}
    h = hashlib.sha256()
    size = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        part = _digest(file)
        h.update(f"{file.relative_to(path).as_posix()}\0{part['sha256']}\n".encode())
        size += part["bytes"]
    return {"bytes": size, "sha256": h.hexdigest()}


def neutralise_formulas(table: pa.Table) -> tuple[pa.Table, int]:
    """Prefix ``'`` to every text cell that a spreadsheet would run as a
    formula (see :data:`FORMULA_PREFIXES`); numbers are left alone. Returns
    the table and the number of cells changed.

    Examples
    --------
    >>> t = pa.table({"name": ["=1+2", "Ann", None], "n": [-1, 2, 3]})
    >>> safe, changed = neutralise_formulas(t)
    >>> safe.column("name").to_pylist(), safe.column("n").to_pylist(), changed
    (["'=1+2", 'Ann', None], [-1, 2, 3], 1)
    """
    import pyarrow.compute as pc

    def fix(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        mask = pc.fill_null(pc.match_substring_regex(arr, _FORMULA_RE), False)
        if not pc.any(mask).as_py():
            return arr, mask
        quote, empty = pa.scalar("'", arr.type), pa.scalar("", arr.type)
        quoted = pc.binary_join_element_wise(quote, arr, empty)
        return pc.if_else(mask, quoted, arr), mask

    changed = 0
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
            chunks = []
            for chunk in column.chunks:
                # Fix each distinct value once; count the rows that use it.
                values, mask = fix(chunk.dictionary)
                used = pc.take(mask, chunk.indices)
                changed += pc.sum(pc.fill_null(used, False)).as_py() or 0
                chunks.append(pa.DictionaryArray.from_arrays(chunk.indices, values))
            columns.append(pa.chunked_array(chunks, type=kind))
        elif _is_text(kind):
            fixed = []
            for chunk in column.chunks:
                values, mask = fix(chunk)
                changed += pc.sum(mask).as_py() or 0
                fixed.append(values)
            columns.append(pa.chunked_array(fixed, type=kind))
        else:
            columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema), changed


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], *, safe_formulas: bool = True
) -> Path:
    """Write ``df`` as CSV, Excel (``.xlsx``) or Parquet (by the file's
    suffix), atomically.

    PyArrow writes CSV and Parquet: its CSV writer is several times faster than
    ``DataFrame.to_csv`` on large tables. In CSV and Excel, text cells that a
    spreadsheet would run as formulas get a leading ``'``
    (:func:`neutralise_formulas`) unless ``safe_formulas`` is False; Parquet
    keeps every value as it is.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = write_table(pd.DataFrame({"a": [1, 2]}), out)
    >>> out.read_text()
    '"a"\\n1\\n2\\n'
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    suffix = Path(path).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return atomic_write(path, lambda tmp: _to_file(tmp, pq.write_table, table))
    if safe_formulas:
        table, _ = neutralise_formulas(table)
    if suffix in EXCEL_SUFFIXES:
        return atomic_write(path, lambda tmp: _write_excel(table, tmp))
    return atomic_write(path, lambda tmp: _to_file(tmp, pa_csv.write_csv, table))


def _to_file(path: str, write: Callable[[pa.Table, Any], Any], table: pa.Table) -> None:
    """``write(table, file)`` into a file opened by Python: pyarrow takes only
    paths that are valid UTF-8, Python's ``open`` any the system allows."""
    with open(path, "wb") as out:
        write(table, out)


def _write_excel(table: pa.Table, path: str) -> None:
    """One sheet, ``segments``; openpyxl stores a text cell that starts with
    ``=`` as a formula, which is why formulas are neutralised first."""
    if table.num_rows > EXCEL_MAX_ROWS:
        from custseg.errors import ParameterError

        raise ParameterError(
            f"{table.num_rows:,} rows do not fit in an Excel sheet (at most "
            f"{EXCEL_MAX_ROWS:,}); write CSV or Parquet instead"
        )
    import io

    buffer = io.BytesIO()  # the temporary name has no .xlsx for pandas to see
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_pandas().to_excel(writer, sheet_name="segments", index=False)
    Path(path).write_bytes(buffer.getvalue())
