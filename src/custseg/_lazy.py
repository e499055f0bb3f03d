"""Module attributes loaded on first use (SPEC 1's lazy loading, as
``lazy_loader.attach`` does it, without the dependency).

A package lists which public name lives in which module; its ``__getattr__``
imports that module the first time the name is asked for, and stores the value
in the package so later look-ups are plain attribute reads. ``import custseg``
and the command line's start-up then load no scientific stack.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps each lazy
    attribute to the module that defines it."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
