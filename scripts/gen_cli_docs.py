"""Regenerate docs/cli.md from the commands' --help text: python scripts/gen_cli_docs.py"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from custseg.cli import cli

HEADER = """# Command-line reference

Generated from `--help` by `python scripts/gen_cli_docs.py`; `tests/test_docs.py`
fails when this file falls behind the code.

Exit status: 0 on success, 1 when the data or a model file cannot be used (the
message names the file, the column and the rows where it can), 2 for a usage
error (an unknown option, a bad value). `--debug` (before the command:
`custseg --debug run ...`) shows the full traceback.
"""


def main() -> None:
    runner = CliRunner()
    parts = [HEADER]
    for command in sorted(cli.commands):
        text = runner.invoke(cli, [command, "--help"], terminal_width=88).output
        parts.append(f"## custseg {command}\n\n```\n{text.strip()}\n```\n")
    path = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    path.write_text("\n".join(parts))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
