"""The exceptions and warnings custseg raises.

Every error a user can cause derives from :class:`CustsegError`; the CLI turns
it into ``Error: <message>`` on stderr and exit code 1, without a traceback::

    CustsegError(Exception)
    +-- InputError(ValueError)          .path .column .rows .hint
    |   +-- FileFormatError             not a table we can read
    |   +-- EncodingError               bytes that decode in no supported encoding
    |   +-- EmptyDataError              no rows (or no header)
    |   +-- MissingColumnError          a named column does not exist
    |   +-- ColumnTypeError             text in a numeric column, and the like
    +-- ParameterError(ValueError, TypeError)
    +-- NotFittedError(ValueError, AttributeError)
    +-- ModelFileError                  a model file that cannot be trusted or read
    +-- BackendUnavailableError(ImportError)  an optional engine's package or Java is missing

    CustsegWarning(UserWarning)
    +-- DataRepairWarning               a repair was applied to the data
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = [
    "BackendUnavailableError",
    "ColumnTypeError",
    "CustsegError",
    "CustsegWarning",
    "DataRepairWarning",
    "EmptyDataError",
    "EncodingError",
    "FileFormatError",
    "InputError",
    "MissingColumnError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "format_rows",
]


def format_rows(rows: Sequence[int], limit: int = 5) -> str:
    """Format 1-based row numbers as ``"4, 17, 88 (+3 more)"``.

    Examples
    --------
    >>> format_rows([4, 17, 88, 90, 91, 92, 93])
    '4, 17, 88, 90, 91 (+2 more)'
    """
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" (+{len(rows) - limit} more)"
    return shown


class CustsegError(Exception):
    """Base class of every error custseg raises on purpose."""


class InputError(CustsegError, ValueError):
    """The input data cannot be used as it is.

    The message is built as ``<file>: column '<name>': <what> in rows ... <hint>``
    from whichever of the parts are known, and the parts stay available as
    attributes for programs that want them.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        column: str | None = None,
        rows: Sequence[int] = (),
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.column = column
        self.rows = list(rows)
        self.hint = hint
        self.detail = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = []
        if self.path:
            parts.append(f"{self.path}:")
        if self.column is not None:
            parts.append(f"column '{self.column}':")
        text = self.detail
        if self.rows:
            text += f" in rows {format_rows(self.rows)}"
        parts.append(text.rstrip(".") + ".")
        if self.hint:
            parts.append(self.hint)
        return " ".join(parts)


class FileFormatError(InputError):
    """The file is not a table in a format custseg reads."""


class EncodingError(InputError):
    """The file's bytes are not text in any supported encoding."""


class EmptyDataError(InputError):
    """The table has no data rows, or no header at all."""


class MissingColumnError(InputError):
    """A column named by the user does not exist; the message suggests close names."""

    def __init__(
        self,
        names: Sequence[str],
        available: Sequence[str],
        *,
        path: str | None = None,
        what: str = "column",
    ) -> None:
        self.missing = list(names)
        self.available = list(available)
        quoted = ", ".join(f"'{n}'" for n in names)
        suggestions = []
        for name in names:
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
            if close:
                suggestions.append(f"did you mean '{close[0]}' for '{name}'?")
        hint = " ".join(s[0].upper() + s[1:] for s in suggestions[:1]) or None
        listing = ", ".join(f"'{a}'" for a in available)
        noun = what if len(names) == 1 else what + "s"
        super().__init__(
            f"no {noun} named {quoted}; the columns are {listing}",
            path=path,
            hint=hint,
        )


class ColumnTypeError(InputError):
    """A column holds values of the wrong type, e.g. text in a numeric feature."""


class ParameterError(CustsegError, ValueError, TypeError):
    """A parameter has a value outside what it accepts."""


class NotFittedError(CustsegError, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class ModelFileError(CustsegError, ValueError):
    """A saved model cannot be loaded: unreadable, tampered with, or untrusted."""


class CustsegWarning(UserWarning):
    """Base class of custseg's warnings."""


class DataRepairWarning(CustsegWarning):
    """custseg changed the data to make it usable; the repair is also listed in the
    quality report."""


class BackendUnavailableError(CustsegError, ImportError):
    """An optional engine cannot run: its Python package or Java is missing.

    The message names what is missing and how to install it.
    """
