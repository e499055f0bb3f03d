"""What custseg objects show in Jupyter, found without importing the report.

The classes of the core layers (a quality report, a k selection, a segment
profile, the Segmenter) show HTML in a notebook, but that HTML is drawn by
:mod:`custseg.report`, a layer above them. Their ``_repr_html_`` calls
:func:`html`, which looks up the renderer registered for the object's class;
the first look-up imports the report by module name (the way pandas finds its
plotting backend), and the report registers its renderers when imported. The
core modules so never import the report, and importing them stays cheap.

Examples
--------
>>> class Card:
...     pass
>>> register(Card, lambda card: "<b>a card</b>")
>>> html(Card())
'<b>a card</b>'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND", "html", "register", "renderer"]

# The module that registers the renderers of custseg's own classes.
BACKEND = "custseg.report"

Renderer = Callable[[Any], str]
_RENDERERS: dict[type | str, Renderer] = {}


def register(kind: type | str, renderer: Renderer) -> None:
    """Show instances of ``kind`` (and of its subclasses) as ``renderer(obj)``.

    ``kind`` is a class, or a class's dotted name, for a class the caller may
    not import: its public path (``"custseg.pipeline.RFMAnalysis"``, the package
    that exports it) or its defining module's (``"custseg.pipeline._rfm.RFMAnalysis"``).
    """
    _RENDERERS[kind] = renderer


def _names(cls: type) -> tuple[str, ...]:
    """The dotted names a class is registered under: the public path (the
    module path up to its first private part) and the defining module's."""
    parts = cls.__module__.split(".")
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    full = f"{cls.__module__}.{cls.__qualname__}"
    short = ".".join([*public, cls.__qualname__])
    return (short, full) if short != full else (full,)


def renderer(cls: type) -> Renderer | None:
    """The renderer registered for ``cls`` or its nearest base class, if any."""
    for base in cls.__mro__:
        keys: tuple[type | str, ...] = (base, *_names(base))
        for key in keys:
            found = _RENDERERS.get(key)
            if found is not None:
                return found
    return None


def html(obj: Any) -> str:
    """``obj`` as HTML for Jupyter, by the renderer registered for its class.

    Raises
    ------
    TypeError
        No renderer is registered for the object's class, even after importing
        :data:`BACKEND`.
    """
    found = renderer(type(obj))
    if found is None:
        importlib.import_module(BACKEND)  # registers custseg's own renderers
        found = renderer(type(obj))
    if found is None:
        raise TypeError(f"no HTML display is registered for {type(obj).__qualname__}")
    return found(obj)
