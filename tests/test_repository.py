"""The repository holds everything its tests read: tests/data lists each file
with its source, and nothing under src/ or tests/ reaches outside the clone."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conftest import TEST_DATA

ROOT = Path(__file__).resolve().parents[1]


def test_no_source_or_test_reads_the_shared_folder():
    pattern = re.compile(r"\.\./shared|[\"']shared[\"']\s*/|parents\[2\]")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("src", "tests", "examples")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".ipynb", ".toml", ".cfg"}
        and path != Path(__file__)
        and pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


def test_every_test_data_file_has_its_source_and_checksum_listed():
    readme = (TEST_DATA / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in TEST_DATA.iterdir() if p.name != "README.md")
    assert files, "tests/data is empty"
    for name in files:
        assert f"`{name}`" in readme, f"tests/data/README.md does not list {name}"
    listed = re.findall(r"^([0-9a-f]{64})  (.+)$", readme, flags=re.MULTILINE)
    assert len(listed) >= 3
    for digest, name in listed:
        data = (TEST_DATA / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name


def test_test_data_keeps_its_bytes():
    """CRLF endings and the missing final newline are what the tests exercise;
    .gitattributes keeps git from normalising them."""
    assert b"\r\n" in (TEST_DATA / "Mall_Customers.csv").read_bytes()
    assert (
        not (TEST_DATA / "Mall_Customers_genre_variant.csv")
        .read_bytes()
        .endswith(b"\n")
    )
    assert "tests/data/** -text" in (ROOT / ".gitattributes").read_text()
