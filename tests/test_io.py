from __future__ import annotations

import json
import os
import shutil
import stat
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from tests.conftest import INCOME, MALL_CSV, TEST_DATA

from custseg import (
    EmptyDataError,
    EncodingError,
    FileFormatError,
    InputError,
    ParameterError,
    load_table,
    read_table,
)
from custseg.cli import cli
from custseg.io import table_meta, write_table

ROWS = [
    ["CustomerID", "Gender", "Age", "City"],
    ["1", "Female", "31", "Zürich"],
    ["2", "Male", "45", "Besançon"],
    ["3", "Female", "28", "Łódź"],
]


def _write_csv(path, rows, delimiter=",", encoding="utf-8"):
    text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def test_bundled_mall_types(mall_df):
    assert mall_df.shape == (200, 5)
    assert mall_df[INCOME].dtype == "int32"  # integers that fit are stored compactly
    assert mall_df["Gender"].isin(["Male", "Female"]).all()


def test_same_table_as_the_published_file(mall_df):
    published = pd.read_csv(MALL_CSV)  # tests/data: the Kaggle file, byte for byte
    pd.testing.assert_frame_equal(mall_df, published, check_dtype=False)


def test_zero_padded_ids_stay_text():
    df = load_table(TEST_DATA / "Mall_Customers_genre_variant.csv")
    assert df["CustomerID"].iloc[0] == "0001"
    assert len(df) == 200  # no trailing newline: last row still read


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"]
)
def test_delimiter_is_sniffed(tmp_path, delimiter):
    df = load_table(_write_csv(tmp_path / "c.csv", ROWS, delimiter))
    assert list(df.columns) == ROWS[0]
    assert table_meta(df)["delimiter"] == delimiter
    assert df["City"].tolist() == ["Zürich", "Besançon", "Łódź"]


@pytest.mark.parametrize(
    "encoding,expected", [("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16")]
)
def test_bom_encodings(tmp_path, encoding, expected):
    df = load_table(_write_csv(tmp_path / "c.csv", ROWS, ",", encoding))
    assert list(df.columns) == ROWS[0]  # no BOM glued to the first header
    assert table_meta(df)["encoding"] == expected
    assert df["City"].iloc[0] == "Zürich"


def test_cp1252_fallback(tmp_path):
    rows = [["id", "note", "spend"], ["1", "£5 off", "10"], ["2", "café", "12"]]
    df = load_table(_write_csv(tmp_path / "c.csv", rows, ";", "cp1252"))
    assert table_meta(df)["encoding"] == "cp1252"
    assert df["note"].tolist() == ["£5 off", "café"]


def test_wrong_encoding_named_by_the_user_is_an_encoding_error(tmp_path):
    rows = [["id", "note", "spend"], ["1", "£5 off", "10"], ["2", "café", "12"]]
    path = _write_csv(tmp_path / "c.csv", rows, ";", "cp1252")
    with pytest.raises(EncodingError) as info:
        load_table(path, encoding="utf-8")
    assert str(info.value) == (
        f"{path}: cannot be decoded as utf-8: it holds bytes that are not UTF-8 "
        "(column 'note'). Pass the file's encoding (e.g. --encoding cp1252 or "
        "latin-1), or leave --encoding out to have it detected."
    )


def test_header_spaces_are_stripped_and_reported(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(" id ,  Annual   Income ,x\n1,2,3\n2,3,4\n")
    df = load_table(path)
    assert list(df.columns) == ["id", "Annual Income", "x"]
    assert any("Annual   Income" in r for r in table_meta(df)["repairs"])


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(EmptyDataError, match=r"empty\.csv: the file is empty"):
        load_table(path)


def test_header_only(tmp_path):
    path = tmp_path / "head.csv"
    path.write_text("CustomerID,Age\n")
    with pytest.raises(
        EmptyDataError, match=r"head\.csv: has a header but no data rows"
    ):
        load_table(path)


def test_binary_file(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(FileFormatError, match="binary"):
        load_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_table(tmp_path / "nope.csv")


def test_mostly_numeric_column_keeps_text_and_is_recorded(tmp_path):
    path = tmp_path / "c.csv"
    lines = ["id,age"] + [f"{i},{20 + i}" for i in range(1, 20)] + ["20,n/a?"]
    path.write_text("\n".join(lines) + "\n")
    df = load_table(path)
    info = table_meta(df)["mistyped"]["age"]
    assert info["rows"] == [20] and info["values"] == ["n/a?"]


def test_excel_and_parquet_round_trip(tmp_path, mall_df):
    xlsx, pq = tmp_path / "m.xlsx", tmp_path / "m.parquet"
    mall_df.to_excel(xlsx, index=False)
    mall_df.to_parquet(pq)
    for path in (xlsx, pq):
        df = load_table(path)
        assert df.shape == (200, 5)
        assert df[INCOME].sum() == mall_df[INCOME].sum()


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(FileFormatError, match=r"data\.json: files ending in '\.json'"):
        load_table(path)


def test_write_table_is_atomic_and_readable(tmp_path):
    out = tmp_path / "o.csv"
    write_table(pd.DataFrame({"a": [1, 2]}), out)
    assert os.listdir(tmp_path) == ["o.csv"]  # no temporary file left behind
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable by others, like open()
    assert pd.read_csv(out)["a"].tolist() == [1, 2]


def test_codes_padding_markers_and_whole_floats(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "code,hexid,spend,visits,note\n"
        "0x1F,0x10,  12.5 ,3.0,a\n"
        "0x20,0x11, NA ,4.0,b\n"
        "0x21,0x12,7,5.0,c\n"
    )
    df = load_table(path)
    assert df["code"].tolist() == ["0x1F", "0x20", "0x21"]
    assert df["hexid"].tolist() == ["0x10", "0x11", "0x12"]  # not 16, 17, 18
    assert df["spend"].tolist()[0] == 12.5 and np.isnan(df["spend"].iloc[1])
    assert df["visits"].dtype == "int32"


def test_ragged_row_names_its_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    with pytest.raises(FileFormatError, match=r"r\.csv: .*at line 3.*'3,4,5'"):
        load_table(path)


def test_a_delimiter_must_be_one_character_and_tab_has_names(tmp_path):
    from custseg.errors import ParameterError

    table = tmp_path / "t.txt"
    table.write_text("id\ta\tb\n1\t2\t3\n2\t5\t1\n")
    for name in ("\\t", "tab", "\t"):
        assert load_table(table, delimiter=name).shape == (2, 3)
    with pytest.raises(ParameterError, match="single character.*got 'ab'"):
        load_table(table, delimiter="ab")
    with pytest.raises(ParameterError, match="single character"):
        load_table(table, delimiter='"')


def test_cli_refuses_a_long_delimiter_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from custseg.cli import cli

    table = tmp_path / "t.csv"
    table.write_text("id,a\n1,2\n2,3\n3,4\n")
    out = CliRunner().invoke(cli, ["run", str(table), "--delimiter", "ab"])
    assert out.exit_code == 1
    assert "the delimiter must be a single character" in out.output
    assert "internal error" not in out.output


def test_a_repeated_header_never_takes_a_name_the_file_has(tmp_path):
    table = tmp_path / "dup.csv"
    table.write_text("id,Age,Age,Age_2,Score\n1,20,30,40,5\n2,21,31,41,6\n")
    df = load_table(table)
    assert list(df.columns) == ["id", "Age", "Age_3", "Age_2", "Score"]
    assert df["Age_3"].tolist() == [30, 31] and df["Age_2"].tolist() == [40, 41]
    assert "renamed a second column 'Age' to 'Age_3'" in df.attrs["custseg"]["repairs"]


@pytest.mark.skipif(sys.platform != "linux", reason="file names as raw bytes")
def test_file_and_folder_names_that_are_not_utf8(tmp_path):
    from custseg import pipeline
    from custseg.datasets import mall_customers_path

    raw = os.fsencode(tmp_path) + b"/mall\xff.csv"
    shutil.copy(mall_customers_path(), raw)
    source = os.fsdecode(raw)  # the undecodable byte as a lone surrogate
    out = os.fsdecode(os.fsencode(tmp_path) + b"/out\xfe")
    result = pipeline.run(source, n_clusters=3, stability_resamples=0)
    paths = pipeline.write_outputs(result, out)
    assert result.quality.source.endswith("mall\ufffd.csv")
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    assert summary["settings"]["data"].endswith("mall\ufffd.csv")
    assert len(pd.read_csv(paths["segments"])) == 200


def test_read_table_gives_the_notes_beside_the_frame_not_on_it(tmp_path):
    """The loader's notes travel as data (a LoadedTable), not in df.attrs: a
    run's rows carry none, and the quality report still lists the repairs."""
    from custseg import check_table, read_table, run

    path = tmp_path / "c.csv"
    path.write_text(
        ' id ,Income\n1,"$1,200"\n2,$900\n3,$40\n4,"$1,500"\n', encoding="utf-8"
    )
    table = read_table(path)
    assert table.source == str(path) and table.format == "csv"
    assert table.frame["Income"].tolist() == [1200, 900, 40, 1500]
    assert table.notes["repairs"] and "custseg" not in table.frame.attrs
    assert check_table(table).repairs == tuple(table.notes["repairs"])
    # load_table, the notebook's one-liner, keeps them on the frame
    assert check_table(load_table(path)).repairs == tuple(table.notes["repairs"])
    result = run(path, n_clusters=2, stability_resamples=0)
    assert "custseg" not in result.data.attrs
    assert result.quality.repairs[: len(table.notes["repairs"])] == tuple(
        table.notes["repairs"]
    )
    assert result.quality.file_info["format"] == "csv"


CDNOW = (
    "00001 19970101  1  11.77\n"
    "00001 19970112  1  12.00\n"
    "00002 19970112  5  77.00\n"
    "00003 19970102  2  20.76\n"
    "00003 19970330  2  20.76\n"
    "00004 19970101  2  29.33\n"
)


def test_columns_split_by_spaces_without_a_header_are_read(tmp_path):
    """The CDNOW master file's shape: runs of spaces between columns, no
    header line; sniffed, and named with names=."""
    path = tmp_path / "cdnow.txt"
    path.write_text(CDNOW, encoding="utf-8")
    table = read_table(path, header=False, names=["id", "date", "n", "amount"])
    frame = table.frame
    assert table.notes["delimiter"] == "whitespace" and table.notes["header"] is False
    assert frame["id"].tolist()[:3] == ["00001", "00001", "00002"]  # codes stay text
    assert frame["amount"].tolist() == [11.77, 12.0, 77.0, 20.76, 20.76, 29.33]
    assert read_table(path, header=False).frame.columns.tolist() == [
        "column_1",
        "column_2",
        "column_3",
        "column_4",
    ]
    with_header = tmp_path / "spaced.txt"
    with_header.write_text(
        "id  visits   spend\n1   3   10.5\n2  4 7\n", encoding="utf-8"
    )
    assert read_table(with_header).frame.columns.tolist() == ["id", "visits", "spend"]
    named = read_table(with_header, delimiter="whitespace", names=["a", "b", "c"])
    assert named.frame.columns.tolist() == ["a", "b", "c"] and len(named.frame) == 2


def test_a_header_of_numbers_points_to_no_header_and_names_must_fit(tmp_path):
    path = tmp_path / "cdnow.txt"
    path.write_text(CDNOW, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "--no-header" in result.output
    result = CliRunner().invoke(
        cli,
        ["run", str(path), "--no-header", "--names", "a,b", "-o", str(tmp_path / "o")],
    )
    assert result.exit_code == 1
    assert "--names gives 2 names, but the file has 4 columns" in result.output
    parquet = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(parquet)
    with pytest.raises(ParameterError, match="--no-header and --names are for text"):
        read_table(parquet, header=False)
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(path),
            "--no-header",
            "--names",
            "id,date,n,amount",
            "-k",
            "2",
            "-o",
            str(tmp_path / "ok"),
            "-q",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "ok" / "segments.csv")) == 6


# A report export with columns at fixed positions: values hold spaces
# ("New York"), a blank age, and a last column of free length.
FIXED = (
    "id     name          city          age   income  note\n"
    "000001 Ann Lee       New York       43    43076  long-standing customer\n"
    "000002 Bo            Los Angeles          9737   -\n"
    "000003 Carla Maria   Rome           40    21302  moved\n"
    "\n"
    "000004 Dee           San Jose        7   120500  \n"
)


def test_fixed_width_columns_are_sniffed_and_keep_spaces_and_blanks(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text(FIXED, encoding="utf-8")
    table = read_table(path)
    frame = table.frame
    assert table.notes["delimiter"] == "fixed-width"
    assert table.notes["columns_at"][:2] == [[1, 6], [8, 18]]
    assert frame.columns.tolist() == ["id", "name", "city", "age", "income", "note"]
    assert frame["id"].tolist() == ["000001", "000002", "000003", "000004"]
    assert frame["city"].tolist() == ["New York", "Los Angeles", "Rome", "San Jose"]
    assert frame["age"].isna().tolist() == [False, True, False, False]
    assert frame["income"].tolist() == [43076, 9737, 21302, 120500]
    assert frame["note"].iloc[0] == "long-standing customer"
    # runs of spaces would have split "New York" in two: the same file named
    # whitespace is refused as ragged, named fixed-width it reads the same
    assert read_table(path, delimiter="fixed").frame.equals(frame)
    with pytest.raises(FileFormatError, match="different numbers of fields"):
        read_table(path, delimiter="whitespace")


def test_fixed_width_names_one_space_apart_and_empty_columns(tmp_path):
    """Two columns whose names are one space apart stay two columns unless a
    value spans the space; a named column with no values stays a column; a
    wrong encoding is an encoding error, as for any text table."""
    from custseg import EncodingError

    path = tmp_path / "tight.txt"
    path.write_text(
        "CustomerID Gender   City         Age  fax\n"
        "1          Male     New York     19\n"
        "2          Female   Los Angeles  21\n"
        "3          Female   Rome         35\n",
        encoding="utf-8",
    )
    frame = read_table(path).frame
    assert frame.columns.tolist() == ["CustomerID", "Gender", "City", "Age", "fax"]
    assert frame["City"].tolist() == ["New York", "Los Angeles", "Rome"]
    assert frame["fax"].isna().all()
    latin = tmp_path / "latin.txt"
    latin.write_bytes(
        "id     city      n\n1      Z\xfcrich    3\n2      Bo\n".encode("latin-1")
    )
    with pytest.raises(EncodingError):
        read_table(latin, delimiter="fixed-width", encoding="utf-8")


def test_fixed_width_text_between_columns_names_the_line(tmp_path):
    # blank ages make it fixed-width, not split by spaces
    rows = [f"{i:06d} {'x' * 5}    {i % 90 if i % 10 else '':>3}" for i in range(1200)]
    rows[1100] = f"{1100:06d} {'y' * 9} {5:>3}"  # its name runs into the gap
    path = tmp_path / "drift.txt"
    path.write_text("id     name    age\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"line 1,102 has text at character 13"):
        read_table(path)
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "drift.txt" in result.output
    assert "Traceback" not in result.output


def test_rfm_reads_a_fixed_width_order_log(tmp_path):
    from custseg.transactions import aggregate_transactions

    lines = ["customer   order date    city          amount"]
    for i in range(40):
        city = ("New York", "Rome", "Los Angeles")[i % 3]
        lines.append(
            f"{i % 7:<10} 2024-0{1 + i % 9}-1{i % 10}  {city:<12} {i + 0.5:>8}"
        )
    path = tmp_path / "orders.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = aggregate_transactions(path, columns={"date": "order date"})
    assert table.cleaning.file_info["delimiter"] == "fixed-width"
    assert table.cleaning.lines == 40 and table.cleaning.used == 40
    assert table.cleaning.net_revenue == pytest.approx(sum(i + 0.5 for i in range(40)))


def test_spaces_split_edge_cases(tmp_path):
    """A header alone is an empty table; a wrong encoding is an encoding
    error; the Spark engine refuses what only the local reader reads."""
    from custseg import run

    only = tmp_path / "only.txt"
    only.write_text("id  spend  visits\n", encoding="utf-8")
    with pytest.raises(EmptyDataError):
        read_table(only, delimiter="whitespace")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("id spend\n1 2\nZ\xfcrich 3\n".encode("latin-1"))
    with pytest.raises(EncodingError):
        read_table(latin, delimiter="whitespace", encoding="utf-8")
    assert read_table(latin, delimiter="whitespace").frame["id"].tolist()[1] == "Zürich"
    with pytest.raises(ParameterError, match="--no-header, --names and --max-bytes"):
        run(only, engine="spark", no_header=True)
