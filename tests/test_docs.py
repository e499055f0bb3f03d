"""Docs cannot fall behind: every command and error is documented (sqlite-utils style)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

import custseg
from custseg.cli import cli

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_command_is_documented_with_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"## custseg {command}" in (DOCS / "cli.md").read_text()
    undocumented = [
        param.opts[0]
        for param in cli.commands[command].params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert not undocumented, f"options without help text: {undocumented}"


def test_cli_reference_is_current():
    """docs/cli.md holds the --help text of every command, as printed now."""
    text = (DOCS / "cli.md").read_text()
    for command in sorted(cli.commands):
        help_text = (
            CliRunner().invoke(cli, [command, "--help"], terminal_width=88).output
        )
        assert help_text.strip() in text, f"regenerate docs/cli.md ({command} changed)"


@pytest.mark.parametrize(
    "name", [n for n in custseg.__all__ if n.endswith(("Error", "Warning"))]
)
def test_error_is_documented(name):
    assert re.search(rf"^## {name}\b", (DOCS / "errors.md").read_text(), re.M)


# -- the documentation site ---------------------------------------------------

ROOT = DOCS.parent
# Pages whose ```python blocks cannot run in a test, and how many such blocks
# each has; every one is marked `<!-- not-run: reason -->` in the Markdown.
# Every other ```python block in docs/ runs in test_python_examples_run.
NOT_RUN = {"activation.md": 1, "database.md": 1, "spark.md": 3}
NOT_RUN_MARK = re.compile(r"<!--\s*not-run:\s*(?P<reason>[^>]*?)\s*-->\s*$")
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.M | re.S)


def _pages() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md"))


def _python_blocks(page: str) -> list[tuple[int, str, str | None]]:
    """(line, code, not-run reason or None) for each ```python block of a page."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = []
    for match in PYTHON_BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = NOT_RUN_MARK.search(before)
        line = text.count("\n", 0, match.start()) + 1
        reason = marked.group("reason") if marked else None
        blocks.append((line, match.group("code"), reason))
    return blocks


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    if isinstance(nav, list):
        return [p for v in nav for p in _nav_pages(v)]
    return []


def test_site_builds_strict(tmp_path):
    """mkdocs fails on a broken link, a missing anchor or a page not in nav."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"]
        + ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index.html").exists()


def test_every_page_is_in_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["docs_dir"] == "docs"
    in_nav = _nav_pages(config["nav"])
    assert sorted(set(_pages()) - set(in_nav)) == [], "add these pages to mkdocs.yml"
    assert sorted(set(in_nav) - set(_pages())) == [], "nav names missing pages"


def test_links_outside_docs_exist():
    """Links that leave docs/ (mkdocs does not check them) point at real paths,
    and the example notebooks the docs name exist."""
    for page in _pages():
        text = (DOCS / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\((\.\./[^)#\s]*)", text):
            assert (DOCS / target).exists(), f"{page}: broken link {target}"
    named = {
        name
        for page in _pages()
        for name in re.findall(
            r"examples/([\w.-]+\.ipynb)", (DOCS / page).read_text(encoding="utf-8")
        )
    }
    assert named, "the docs name the example notebooks"
    if not (ROOT / "examples").is_dir():
        pytest.skip("examples/ has not been written yet")
    missing = sorted(n for n in named if not (ROOT / "examples" / n).exists())
    assert not missing, f"docs name notebooks that do not exist: {missing}"


def test_not_run_blocks_are_counted():
    """Only the blocks listed in NOT_RUN are skipped, each with a reason."""
    counted = {}
    for page in _pages():
        reasons = [
            reason for _, _, reason in _python_blocks(page) if reason is not None
        ]
        assert all(reasons), f"{page}: a not-run mark without a reason"
        if reasons:
            counted[page] = len(reasons)
    assert counted == NOT_RUN


RUN_PAGES = [
    page
    for page in _pages()
    if any(reason is None for _, _, reason in _python_blocks(page))
]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_python_examples_run(page, tmp_path, monkeypatch):
    """Each page's ```python blocks run in order, in one namespace, in a fresh
    folder: the examples cannot fall behind the API."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs.{page}"}
    try:
        for line, code, reason in _python_blocks(page):
            if reason is None:
                exec(compile(code, f"docs/{page}:{line}", "exec"), namespace)
    finally:
        plt.close("all")
