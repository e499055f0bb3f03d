"""Docs cannot fall behind: every command and error is documented (sqlite-utils style)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
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
