"""Imports in custseg go one way: down the layers, through public names.

Every ``src/custseg/**/*.py`` is parsed (function-local imports included) and
each absolute or relative import of custseg is checked against three rules:

(a) a module imports only from lower layers (``LAYERS``, lowest first);
    packages of one layer are peers and do not import each other, except the
    base modules, which are one unit;
(b) no module imports the package root ``custseg`` (``from custseg import
    __version__``): the root is the public facade on top of everything;
(c) an import from another package uses only the names its ``__init__``
    exports in ``__all__`` (``from custseg.io import atomic_write``, never
    ``from custseg.io._write import atomic_write``); names starting with "_"
    do not cross packages at all.

Imports under ``if TYPE_CHECKING:`` never run, so (a) and (b) skip them; they
still keep to (c). Imports by name at run time (``importlib.import_module``,
as :mod:`custseg._display` finds the report's renderers and the root loads its
lazy names) are deliberate and not seen here.

``ALLOWED`` would list exceptions, each with its reason; it is empty, and
:func:`test_allowed_has_no_stale_entries` fails once an entry's import is gone,
so that an entry is deleted with it. The checker itself is tested on made-up
imports and a made-up package (the last two tests).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "custseg"

# Lowest first. A layer may import only from the layers before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # base: no custseg import but each other; nothing heavy at import time
    (
        "custseg._version",
        "custseg._names",
        "custseg.errors",
        "custseg._format",
        "custseg._display",
        "custseg._lazy",  # module __getattr__ for lazily loaded names
        "custseg._parallel",  # jobs shared with a forked helper process
        "custseg.settings",
    ),
    ("custseg.io",),
    ("custseg.datasets",),  # load_mall_customers reads with custseg.io
    ("custseg.quality",),
    ("custseg.prep",),
    ("custseg.transactions",),  # order logs to a per-customer table
    ("custseg.cluster",),
    ("custseg.profile",),
    ("custseg.plots",),
    ("custseg.report",),
    # the Segmenter estimator and the run result: built from everything below
    # (its write_report and notebook display use the report)
    ("custseg.model",),
    ("custseg.spark",),  # the engine pipeline.run and rfm hand work to
    ("custseg.pipeline",),  # the one orchestrator: run, rfm, compare, predict
    ("custseg.activation",),  # a saved model as SQL for the warehouse
    ("custseg.app",),
    ("custseg.cli",),  # `custseg app` starts the app
    ("custseg", "custseg.__main__"),  # the public facade and `python -m custseg`
)
BASE = LAYERS[0]

# "importing module -> imported module": why it is still allowed. Empty: every
# import keeps to the rules. An entry needs a reason and says what replaces it;
# test_allowed_has_no_stale_entries deletes it with the import.
ALLOWED: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    importer: str  # dotted module doing the import
    target: str  # dotted module imported (resolved)
    name: str | None  # the name taken from it, None for a module import
    type_checking: bool

    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"

    def what(self) -> str:
        if self.name is None:
            return f"import {self.target}"
        return f"from {self.target} import {self.name}"

    def key(self) -> str:
        return f"{self.importer} -> {self.target}"


def _module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _path_of(module: str, src: Path = SRC) -> Path | None:
    base = src.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _component(module: str) -> str:
    """The unit a layer lists: ``custseg.io._load`` -> ``custseg.io``."""
    return ".".join(module.split(".")[:2])


def _rank(component: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if component in layer:
            return rank
    raise AssertionError(f"{component} is in no layer: add it to LAYERS")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_checking: bool = False):
    """Every Import/ImportFrom node with whether it only runs for type checkers."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, type_checking
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.body:
            yield from _walk(child, True)
        for child in node.orelse:
            yield from _walk(child, type_checking)
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, type_checking)


@cache
def _imports() -> tuple[Import, ...]:
    return _imports_in(SRC)


def _imports_in(src: Path) -> tuple[Import, ...]:
    """Every custseg import of the package under ``src``."""
    found = []
    for path in sorted((src / PACKAGE).rglob("*.py")):
        importer = _module_name(path, src)
        package = importer if _is_package(path) else importer.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, type_checking in _walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        found.append(
                            Import(
                                path,
                                node.lineno,
                                importer,
                                alias.name,
                                None,
                                type_checking,
                            )
                        )
                continue
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if _path_of(sub, src) is not None:  # `from custseg import pipeline`
                    target, name = sub, None
                else:
                    target, name = module, alias.name
                found.append(
                    Import(path, node.lineno, importer, target, name, type_checking)
                )
    return tuple(found)


@cache
def _exports(module: str) -> frozenset[str] | None:
    """The names in ``module.__all__``, or None when it has no literal one."""
    path = _path_of(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert node.value is not None
            return frozenset(ast.literal_eval(node.value))
    return None


def _problems(imp: Import) -> list[str]:
    source, target = _component(imp.importer), _component(imp.target)
    if source == target:
        return []  # inside one package anything goes
    problems = []
    if not imp.type_checking:
        if target == PACKAGE:
            problems.append("imports the package root (the public facade)")
        else:
            up, down = _rank(source), _rank(target)
            if down > up:
                problems.append(f"upward: layer {up} ({source}) imports layer {down}")
            elif down == up and source not in BASE:
                problems.append(f"peer: {source} and {target} share layer {up}")
    if imp.target != target:
        problems.append(f"reaches into {imp.target}, private to {target}")
    elif imp.name is not None and target != PACKAGE:
        exported = _exports(target)
        if exported is not None and imp.name in exported:
            pass  # public, dunders like __version__ included
        elif imp.name.startswith("_"):
            problems.append(f"{imp.name} is private to {target}")
        elif exported is not None:
            problems.append(f"{imp.name} is not in {target}.__all__")
    return problems


def _violations() -> list[tuple[Import, list[str]]]:
    return [(imp, p) for imp in _imports() if (p := _problems(imp))]


def test_the_layers_cover_every_module():
    modules = {_component(_module_name(p)) for p in (SRC / PACKAGE).rglob("*.py")}
    listed = {c for layer in LAYERS for c in layer}
    assert modules - listed == set(), "add these to LAYERS"
    assert listed - modules == set(), "these in LAYERS do not exist"


def test_imports_go_down_the_layers_through_public_names():
    assert _imports(), "found no custseg import: is SRC right?"
    unexpected = [
        f"{imp.where()}: {imp.what()}: {'; '.join(problems)}"
        for imp, problems in _violations()
        if imp.key() not in ALLOWED
    ]
    assert not unexpected, "imports against the layers:\n" + "\n".join(unexpected)


def test_allowed_has_no_stale_entries():
    current = {imp.key() for imp, _ in _violations()}
    stale = sorted(set(ALLOWED) - current)
    assert not stale, "fixed, so delete from ALLOWED:\n" + "\n".join(stale)


def test_the_checker_sees_each_kind_of_violation(monkeypatch):
    here = SRC / PACKAGE / "x.py"

    def problems(importer: str, target: str, name: str | None) -> str:
        return "; ".join(_problems(Import(here, 1, importer, target, name, False)))

    assert "upward" in problems("custseg.quality._check", "custseg.report", "summarize")
    assert "upward" in problems("custseg.cluster._algorithms", "custseg.model", "x")
    assert "package root" in problems("custseg.report._summarize", PACKAGE, "x")
    assert "reaches into custseg.io._write" in problems(
        "custseg.report._html", "custseg.io._write", "atomic_write"
    )
    assert "private" in problems("custseg.spark._run", "custseg.prep", "_LARGEST")
    assert "not in custseg.io.__all__" in problems(
        "custseg.quality._check", "custseg.io", "no_such_name"
    )
    assert problems("custseg.settings", "custseg._names", "SCALERS") == ""
    assert problems("custseg.model._persist", "custseg.io", "atomic_write") == ""
    assert problems("custseg.io._load", "custseg.io._excel", "read_excel") == ""
    type_only = Import(here, 1, "custseg.report._html", "custseg.pipeline", "x", True)
    assert "upward" not in "; ".join(_problems(type_only))
    # two packages of one layer are peers
    peers = (*LAYERS[:-3], ("custseg.app", "custseg.cli"), LAYERS[-1])
    monkeypatch.setattr(sys.modules[__name__], "LAYERS", peers)
    assert "peer" in problems("custseg.cli", "custseg.app", "launch")


def test_the_parser_finds_every_kind_of_import(tmp_path):
    """On a made-up package: module, from, relative, function-local and
    type-only imports are all found, resolved and flagged."""
    pkg = tmp_path / PACKAGE
    (pkg / "io").mkdir(parents=True)
    (pkg / "report").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "io" / "__init__.py").write_text("__all__ = ['load_table']\n")
    (pkg / "io" / "_load.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import custseg.report\n"  # upward, module import
        "from . import _write\n"  # relative, same package: fine
        "if TYPE_CHECKING:\n"
        "    from custseg.report import summarize\n"  # type-only: not upward
        "def f():\n"
        "    from custseg import __version__\n"  # function-local, the root
        "    from ..report._html import render\n"  # relative, private, upward
    )
    (pkg / "io" / "_write.py").write_text("")
    (pkg / "report" / "__init__.py").write_text("__all__ = ['Report']\n")
    (pkg / "report" / "_html.py").write_text("from custseg.io import _load\n")
    found = {
        (imp.importer, imp.what(), imp.type_checking): "; ".join(_problems(imp))
        for imp in _imports_in(tmp_path)
    }
    load = "custseg.io._load"
    assert set(found) == {
        (load, "import custseg.report", False),
        (load, "import custseg.io._write", False),
        (load, "from custseg.report import summarize", True),
        (load, "from custseg import __version__", False),
        (load, "from custseg.report._html import render", False),
        ("custseg.report._html", "import custseg.io._load", False),
    }
    assert "upward" in found[(load, "import custseg.report", False)]
    assert found[(load, "import custseg.io._write", False)] == ""
    assert found[(load, "from custseg.report import summarize", True)] == ""
    assert "package root" in found[(load, "from custseg import __version__", False)]
    private = found[(load, "from custseg.report._html import render", False)]
    assert "upward" in private and "reaches into custseg.report._html" in private
    assert (
        "reaches into custseg.io._load"
        in found[("custseg.report._html", "import custseg.io._load", False)]
    )
