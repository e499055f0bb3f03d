"""Input at the limits: decompression bombs, huge cells, a thousand features,
odd Arrow and database types, output folders that cannot be written, and
option values out of range. Each ends in a result with every row, or in one
clean error line, within seconds and bounded memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from custseg import check_table, read_table
from custseg.cli import cli
from custseg.errors import CustsegError, InputError

ROW = b"1,2,3,4\n"
CHUNK = ROW * (1 << 20)  # 8 MiB of rows


def gzip_bomb(path: Path, mebibytes: int, *, members: bool) -> Path:
    """A gzip file of ``mebibytes`` of "1,2,3,4" rows: one stream (its trailer
    gives the size away), or many small members (the trailer tells nothing)."""
    with path.open("wb") as fh:
        if members:
            fh.write(gzip.compress(b"a,b,c,d\n"))
            member = gzip.compress(CHUNK, 9)
            for _ in range(mebibytes // 8):
                fh.write(member)
        else:
            with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1) as gz:
                gz.write(b"a,b,c,d\n")
                for _ in range(mebibytes // 8):
                    gz.write(CHUNK)
    return path


def zip_bomb(path: Path, mebibytes: int) -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("customers.csv", "w", force_zip64=True) as fh,
    ):
        fh.write(b"a,b,c,d\n")
        for _ in range(mebibytes // 8):
            fh.write(CHUNK)
    return path


_XML = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def xlsx_bomb(path: Path, mebibytes: int) -> Path:
    """A valid workbook whose one sheet is ``mebibytes`` of tiny rows."""
    row = b"<row><c><v>1</v></c><c><v>2</v></c></row>"
    block = row * ((8 << 20) // len(row))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, text in _XML.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://'
                b'schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                b'<row><c t="inlineStr"><is><t>a</t></is></c>'
                b'<c t="inlineStr"><is><t>b</t></is></c></row>'
            )
            for _ in range(mebibytes // 8):
                fh.write(block)
            fh.write(b"</sheetData></worksheet>")
    return path


BOMBS = {
    "one-stream.csv.gz": lambda p: gzip_bomb(p, 1024, members=False),
    "members.csv.gz": lambda p: gzip_bomb(p, 1024, members=True),
    "bomb.zip": lambda p: zip_bomb(p, 1024),
    "bomb.xlsx": lambda p: xlsx_bomb(p, 512),
}
# The run's address space: the interpreter with the scientific stack takes
# about 1.8 GB of it before reading, so the default limit is about 75 MB.
LIMIT_AS = 3 << 30


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bomb_ends_in_one_clean_error_within_seconds_under_a_memory_limit(
    tmp_path, name
):
    path = BOMBS[name](tmp_path / name)
    assert path.stat().st_size < 60 << 20  # small on disk, a gigabyte inside
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_AS}, {LIMIT_AS}))
        from custseg.cli import main
        sys.argv = ["custseg", "run", {str(path)!r}, "--out", {str(tmp_path / "out")!r},
                    "--no-report", "-q"]
        main()
        """
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), done.stderr
    assert "--max-bytes" in lines[0] and "internal error" not in lines[0]
    assert seconds < 60


def test_max_bytes_takes_sizes_and_refuses_a_larger_file(tmp_path):
    path = gzip_bomb(tmp_path / "small.csv.gz", 16, members=True)
    with pytest.raises(InputError, match="decompresses to .*more than the 1.0 MB"):
        read_table(path, max_bytes="1M")
    assert len(read_table(path, max_bytes="64M").frame) == 16 * (1 << 20) // 8
    plain = tmp_path / "plain.csv"
    plain.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    with pytest.raises(InputError, match="holds 4.0 KB of text"):
        read_table(plain, max_bytes=1000)
    result = CliRunner().invoke(
        cli, ["run", str(plain), "--max-bytes", "lots", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "--max-bytes must be a size such as 500M" in result.output


def test_an_app_upload_is_held_to_the_same_limit(tmp_path, monkeypatch):
    from custseg.app import _logic as app
    from custseg.io import _load

    monkeypatch.setattr(_load, "read_budget", lambda: 1 << 20)
    bomb = gzip_bomb(tmp_path / "upload.csv.gz", 16, members=True)
    upload = app.Upload.from_bytes(bomb.name, bomb.read_bytes())
    with pytest.raises(
        CustsegError, match=r"upload\.csv\.gz: decompresses to .*more than"
    ):
        app.read_upload(upload)


def test_a_ten_megabyte_cell_is_kept_and_never_laid_out(tmp_path):
    """A paragraph is free text, not a category: kept in the output as it is,
    left out of the features, and cut short where it is shown."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": range(40),
            "spend": rng.gamma(2, 50, 40),
            "visits": rng.poisson(5, 40),
            "note": ["ok"] * 39 + ["y" * 10_000_000],
            "memo": ["line\n" * 60] * 20 + ["short"] * 20,
        }
    )
    path = tmp_path / "cells.csv"
    frame.to_csv(path, index=False)
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 120
    assert max(len(line) for line in result.output.splitlines()) < 1000
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["features"]["excluded"]["note"] == "text"
    assert summary["features"]["excluded"]["memo"] == "text"
    segments = pd.read_csv(tmp_path / "out" / "segments.csv", keep_default_na=False)
    assert segments["note"].str.len().max() == 10_000_000
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert len(report) < 3_000_000 and "y" * 100 not in report


def test_a_thousand_named_features_on_sixty_rows_run_in_seconds(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        rng.normal(size=(60, 1000)), columns=[f"f{i}" for i in range(1000)]
    )
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    names = ",".join(frame.columns)
    start = time.perf_counter()
    result = CliRunner().invoke(
        cli, ["run", str(path), "-f", names, "-o", str(tmp_path / "out"), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 120
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "It shows 30 of the 1,000 numeric columns" in report
    assert "It shows 30 of the 1,000 numeric features" in report


def test_nested_uuid_binary_and_half_float_parquet_columns(tmp_path):
    rng = np.random.default_rng(2)
    n = 50
    table = pa.table(
        {
            "id": pa.array(range(n), pa.uint64()),
            "big": pa.array([2**63 + i * 2**40 for i in range(n)], pa.uint64()),
            "half": pa.array(rng.normal(size=n).astype(np.float16)),
            "x": rng.normal(size=n),
            "tags": [["a", "b"][: i % 3] for i in range(n)],
            "info": [{"tier": i % 2, "src": "web"} for i in range(n)],
            "token": pa.array([bytes([i % 7]) * 5 for i in range(n)], pa.binary()),
            "key": pa.array(
                [bytes(range(i % 16, i % 16 + 16)) for i in range(n)], pa.uuid()
            ),
        }
    )
    path = tmp_path / "odd.parquet"
    pq.write_table(table, path)
    loaded = read_table(path)
    report = check_table(loaded)
    kinds = {c.name: c.kind for c in report.columns}
    assert kinds["tags"] == kinds["info"] == kinds["token"] == "text"
    assert kinds["big"] == kinds["half"] == "numeric"
    assert loaded.frame["info"][1] == '{"tier": 1, "src": "web"}'
    assert loaded.frame["key"][0] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert any("holds lists" in r for r in report.repairs)
    result = CliRunner().invoke(
        cli, ["run", str(path), "-o", str(tmp_path / "out"), "-q", "--no-report"]
    )
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(tmp_path / "out" / "segments.parquet")
    assert len(out) == n and out["tags"][2] == '["a", "b"]'
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"tags", "info", "token"} <= set(summary["features"]["excluded"])


def test_a_column_one_ulp_wide_is_constant_and_drawn(tmp_path):
    rng = np.random.default_rng(3)
    for values in ([1.0, np.nextafter(1.0, 2.0)], [5e-324, 1e-323]):
        frame = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
        frame["ulp"] = values * 20
        path = tmp_path / "ulp.csv"
        frame.to_csv(path, index=False, float_format="%.17g")
        assert check_table(read_table(path)).column("ulp").constant
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["run", str(path), "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        assert (out / "report.html").exists()


@pytest.mark.parametrize(
    ("where", "code", "words"),
    [
        ("file/out", 1, "a part of the path is a file"),
        ("file", 2, "is a file"),  # click's own check of the option
    ],
)
@pytest.mark.parametrize("command", ["run", "rfm", "compare"])
def test_an_output_folder_that_cannot_be_written_fails_before_any_work(
    tmp_path, where, code, words, command
):
    (tmp_path / "file").write_text("x")
    out = tmp_path / where
    start = time.perf_counter()
    result = CliRunner().invoke(cli, [command, "-o", str(out), "-q"])
    assert result.exit_code == code, result.output
    assert str(out) in result.output and words in result.output
    assert "internal error" not in result.output
    assert time.perf_counter() - start < 10  # no segmentation ran


def test_write_outputs_names_a_folder_it_cannot_make(tmp_path):
    from custseg.pipeline import run, write_outputs

    (tmp_path / "file").write_text("x")
    result = run(n_clusters=2, stability_resamples=0)
    with pytest.raises(InputError, match="a part of the path is a file"):
        write_outputs(result, tmp_path / "file" / "out", report=False)


def test_a_read_only_output_folder_is_named(tmp_path, monkeypatch):
    """As root every folder is writable; a probe that fails stands in for one
    on a read-only file system."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = CliRunner().invoke(cli, ["run", "-o", str(tmp_path / "ro"), "-q"])
    assert result.exit_code == 1
    assert "cannot be written: permission denied" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--random-state", "99999999999999999999"],
        ["--random-state", "-1"],
        ["--categorical-weight", "1e308"],
        ["--k-max", "100000"],
        ["--stability-resamples", "10000000"],
    ],
)
def test_option_values_out_of_range_are_refused_by_name(tmp_path, args):
    result = CliRunner().invoke(cli, ["run", *args, "-o", str(tmp_path), "-q"])
    assert result.exit_code == 2
    assert f"Invalid value for '{args[0]}'" in result.output


def test_the_random_state_bound_is_numpys(tmp_path):
    from custseg import Segmenter

    Segmenter(random_state=2**32 - 1, n_clusters=2).fit(
        pd.DataFrame({"a": [1.0, 2, 3, 10, 11, 12]})
    )
    with pytest.raises(CustsegError):
        Segmenter(random_state=2**32, n_clusters=2).fit(
            pd.DataFrame({"a": [1.0, 2, 3, 10, 11, 12]})
        )


def test_predict_says_how_many_customers_have_unseen_or_missing_categories(
    tmp_path,
):
    """Scoring does nothing silently: values the model never saw, and missing
    ones, are counted and named."""
    from custseg import Segmenter
    from custseg.errors import CustsegWarning

    train = pd.DataFrame(
        {"Gender": ["Female", "Male"] * 30, "Age": np.arange(60) % 40 + 20.0}
    )
    model = Segmenter(features=["Gender", "Age"], n_clusters=2).fit(train)
    new = pd.DataFrame(
        {
            "Gender": ["Other", "FEMALE", "FEMALE", "male ", None, "Male"],
            "Age": [30.0, 40, 50, 25, 33, 61],
        }
    )
    with pytest.warns(CustsegWarning) as caught:
        labels = model.predict(new, source="new.csv")
    said = [str(w.message) for w in caught]
    assert len(labels) == 6
    assert any(
        m.startswith("new.csv: column 'Gender': 4 customers have a value the model")
        and "'FEMALE' (2)" in m
        and "'Other' (1)" in m
        and "(Female, Male)" in m
        for m in said
    ), said
    assert any(
        "1 customer has no value, counted as the most frequent" in m for m in said
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(train)  # nothing to say about the training rows


def test_formula_cells_saved_without_values_are_named(tmp_path):
    """A workbook written by a program that computes no formulas: the cells
    read as empty, and the repairs say which and what to do."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["CustomerID", "Spend", "Visits", "Total"])
    for row in range(2, 32):
        sheet.append([f"c{row}", 10.0 * (row % 7), row % 5, f"=B{row}*C{row}"])
    path = tmp_path / "formulas.xlsx"
    book.save(path)
    report = check_table(read_table(path))
    assert report.column("Total").kind == "empty"
    assert any(
        r.startswith("read 30 formula cells of column D (D2:D31) as empty")
        and "save it again" in r
        for r in report.repairs
    ), report.repairs


def test_a_second_run_into_a_folder_in_use_is_refused_by_name(tmp_path):
    """Two runs into one --out never mix files: while one holds the folder, a
    second is refused at once, naming the first; the lock leaves no file."""
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from custseg.io import out_dir_lock\n"
            f"with out_dir_lock({str(out)!r}):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = CliRunner().invoke(cli, ["run", "-o", str(out), "-q"])
        assert result.exit_code == 1
        assert "another custseg run is writing into this folder (process " in (
            result.output
        )
        assert not (out / "summary.json").exists()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    result = CliRunner().invoke(cli, ["run", "-o", str(out), "-q", "--no-report"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "model.skops",
        "profiles.csv",
        "segments.csv",
        "summary.json",
    ]


def test_summary_checksums_are_of_the_bytes_this_run_wrote(tmp_path, monkeypatch):
    """A file changed by someone else after this run wrote it (the case of
    two runs three seconds apart) is caught: the checksums in summary.json
    are taken from what this run wrote, not from what is on disk later."""
    import custseg.report as report_package
    from custseg.io._write import check_outputs
    from custseg.pipeline import run, write_outputs

    result = run(n_clusters=3, stability_resamples=0)
    summarize = report_package.summarize

    def meddle(*args, **kwargs):
        with (tmp_path / "segments.csv").open("a", encoding="utf-8") as fh:
            fh.write("999,Other,1,1,1,0,x\n")  # another run's row
        return summarize(*args, **kwargs)

    monkeypatch.setattr(report_package, "summarize", meddle)
    write_outputs(result, tmp_path, report=False)
    problems = check_outputs(tmp_path)
    assert any("segments.csv: differs" in p for p in problems), problems
    assert not any("profiles.csv" in p for p in problems)


def test_the_default_limit_follows_how_short_the_cells_are(tmp_path, monkeypatch):
    """Short cells cost more memory per byte of text: a bomb of one-digit
    cells gets half the default limit (and is refused), long cells up to four
    times it; --max-bytes is taken as given."""
    from custseg.io import _load

    monkeypatch.setattr(_load, "available_memory", lambda: 8 << 30)  # 512 MiB
    assert _load.read_budget() == 512 << 20
    short = gzip_bomb(tmp_path / "short.csv.gz", 400, members=False)
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"decompresses to more than the 268\.4 MB"):
        read_table(short)
    assert time.perf_counter() - start < 30
    long_cells = tmp_path / "long.csv"
    long_cells.write_text(
        "id,note\n" + "".join(f"{i},{'x' * 60}\n" for i in range(1000)),
        encoding="utf-8",
    )
    factor = _load._density_factor(_load._csv_source(long_cells, "long.csv"))
    assert factor == 4.0
    assert _load._density_factor(_load._csv_source(short, "short.csv.gz")) == 0.5
    with pytest.raises(
        InputError, match=r"holds 64\.9 KB of text, more than the 1\.0 KB"
    ):
        read_table(long_cells, max_bytes="1k")
