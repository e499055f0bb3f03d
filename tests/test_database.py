"""PostgreSQL in and out, against a real throwaway server (see conftest.postgres):
round trips of the mall and Online Retail data, identifier quoting, the
if-exists modes, transactional writes under injected failures, streaming, and
a password that never shows."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import MALL_CSV, ONLINE_RETAIL, TEST_DATA
from tests.pg_server import PG_PASSWORD

from custseg.cli import cli
from custseg.errors import InputError
from custseg.io import _sql
from custseg.io._sql import (
    DatabaseSource,
    is_database_url,
    read_database,
    redact_url,
    write_database,
)

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("postgres")]


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args)


def query(postgres, sql: str) -> pd.DataFrame:
    with postgres.engine() as engine, engine.connect() as conn:
        return pd.read_sql(sa.text(sql), conn)


def execute(postgres, *statements: str) -> None:
    with postgres.engine() as engine, engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def load_mall(postgres, table: str = "mall") -> pd.DataFrame:
    frame = pd.read_csv(MALL_CSV)
    with postgres.engine() as engine:
        frame.to_sql(table, engine, index=False, if_exists="replace")
    return frame


def assert_no_password(*texts: str | bytes) -> None:
    for text in texts:
        raw = text.encode() if isinstance(text, str) else text
        assert PG_PASSWORD.encode() not in raw


def test_mall_round_trip_matches_the_file_run(postgres, tmp_path):
    load_mall(postgres)
    from_file = invoke(["run", str(MALL_CSV), "-o", str(tmp_path / "file"), "-q"])
    assert from_file.exit_code == 0, from_file.output
    out = tmp_path / "db"
    res = invoke(
        [
            "run", postgres.url, "--table", "mall", "--write-table", "mall_segments",
            "-o", str(out),
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "database postgresql://custseg:***@127.0.0.1" in res.output
    assert "table 'mall_segments' (200 rows)" in res.output

    counts = query(
        postgres,
        'SELECT count(*) AS n, count(DISTINCT "CustomerID") AS ids FROM mall_segments',
    )
    assert counts.to_dict("records") == [{"n": 200, "ids": 200}]
    written = query(postgres, 'SELECT * FROM mall_segments ORDER BY "CustomerID"')
    assert list(written.columns) == ["CustomerID", "segment", "segment_name"]
    file_segments = pd.read_csv(tmp_path / "file" / "segments.csv")
    by_id = file_segments.set_index("CustomerID").loc[written["CustomerID"]]
    # Same rows, same seed: the same segment for every customer, not only the
    # same counts.
    assert (by_id["segment"].to_numpy() == written["segment"].to_numpy()).all()
    assert (
        by_id["segment_name"].to_numpy() == written["segment_name"].to_numpy()
    ).all()
    per_segment = query(
        postgres, "SELECT segment, count(*) AS n FROM mall_segments GROUP BY segment"
    ).set_index("segment")["n"]
    assert per_segment.sort_index().to_dict() == (
        file_segments["segment"].value_counts().sort_index().to_dict()
    )

    # The password shows nowhere: output, summary, report, model, segments.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outputs"]["database"] == {
        "database": redact_url(postgres.url),
        "table": "mall_segments",
        "if_exists": "fail",
        "rows": 200,
    }
    assert summary["settings"]["data"].startswith("postgresql://custseg:***@")
    assert_no_password(
        res.output, *(p.read_bytes() for p in out.iterdir() if p.is_file())
    )


@pytest.mark.slow
def test_online_retail_rfm_round_trip_matches_the_file_run(postgres, tmp_path):
    # Loaded the way a database holds it: typed columns, prices as NUMERIC,
    # via COPY straight from the test log.
    execute(
        postgres,
        "DROP TABLE IF EXISTS transactions",
        'CREATE TABLE transactions ("InvoiceNo" text, "StockCode" text, '
        '"Description" text, "Quantity" integer, "InvoiceDate" timestamp, '
        '"UnitPrice" numeric(12, 3), "CustomerID" integer, "Country" text)',
    )
    import psycopg

    with (
        psycopg.connect(
            f"host=127.0.0.1 port={postgres.port} dbname=postgres user=custseg "
            f"password={PG_PASSWORD}"
        ) as conn,
        conn.cursor() as cur,
        cur.copy("COPY transactions FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        gzip.open(ONLINE_RETAIL, "rb") as fh,
    ):
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    lines = query(postgres, "SELECT count(*) AS n FROM transactions")["n"][0]
    source = json.loads((TEST_DATA / "online_retail_subset.json").read_text())
    assert lines == source["lines"] == 34_777

    common = ["-k", "4", "--stability-resamples", "0", "--no-report", "-q"]
    file_run = invoke(["rfm", str(ONLINE_RETAIL), "-o", str(tmp_path / "f"), *common])
    assert file_run.exit_code == 0, file_run.output
    db_run = invoke(
        [
            "rfm", postgres.url, "--table", "transactions",
            "--write-table", "rfm_out", "-o", str(tmp_path / "d"), *common,
        ]
    )  # fmt: skip
    assert db_run.exit_code == 0, db_run.output

    file_customers = pd.read_csv(tmp_path / "f" / "segments.csv")
    n = len(file_customers)
    assert 250 < n <= source["customers"]  # some have only cancellations
    counts = query(
        postgres,
        'SELECT count(*) AS n, count(DISTINCT "CustomerID") AS ids FROM rfm_out',
    )
    assert counts.to_dict("records") == [{"n": n, "ids": n}]
    written = query(postgres, "SELECT * FROM rfm_out")
    assert {"CustomerID", "segment", "segment_name", "rfm_segment"} <= set(written)
    for column in ("segment", "rfm_segment"):
        in_db = query(
            postgres, f"SELECT {column}, count(*) AS n FROM rfm_out GROUP BY {column}"
        ).set_index(column)["n"]
        # customers with no usable purchase have no segment, in both
        in_db.index = in_db.index.map(lambda v: "none" if pd.isna(v) else str(v))
        in_file = (
            file_customers[column]
            .astype(object)
            .where(file_customers[column].notna(), "none")
        )
        in_file = in_file.map(lambda v: v if v == "none" else str(v))
        assert in_db.sort_index().to_dict() == (
            in_file.value_counts().sort_index().to_dict()
        )
    # Customer by customer, not only in total.
    joined = file_customers.merge(
        written.astype({"CustomerID": "int64"}), on="CustomerID", suffixes=("", "_db")
    )
    assert len(joined) == n
    for column in ("segment", "rfm_segment", "unassigned_reason"):
        left, right = joined[column], joined[f"{column}_db"]
        assert ((left == right) | (left.isna() & right.isna())).all(), column
    assert joined["unassigned_reason"].notna().sum() > 0
    file_cleaning, db_cleaning = (
        json.loads((tmp_path / d / "summary.json").read_text())["rfm"]["cleaning"]
        for d in ("f", "d")
    )
    for key in ("lines", "used", "customers", "orders", "dropped"):
        assert db_cleaning[key] == file_cleaning[key], key
    assert round(db_cleaning["net_revenue"], 2) == round(
        file_cleaning["net_revenue"], 2
    )


def test_hostile_names_are_only_names(postgres, tmp_path):
    evil_source = "customers; DROP TABLE victims"
    evil_target = 'segs"; DROP TABLE victims; --'
    execute(
        postgres,
        "DROP TABLE IF EXISTS victims",
        "CREATE TABLE victims (x int)",
        "INSERT INTO victims VALUES (1)",
    )
    load_mall(postgres, evil_source)
    res = invoke(
        [
            "run", postgres.url, "--table", evil_source, "--write-table", evil_target,
            "--if-exists", "replace", "-o", str(tmp_path), "--no-report", "-q",
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert query(postgres, "SELECT count(*) AS n FROM victims")["n"][0] == 1
    names = set(query(postgres, "SELECT tablename FROM pg_tables")["tablename"])
    assert {evil_source, evil_target, "victims"} <= names
    quoted = evil_target.replace('"', '""')
    assert query(postgres, f'SELECT count(*) AS n FROM "{quoted}"')["n"][0] == 200


def test_query_source_with_colons_and_percent(postgres, tmp_path):
    load_mall(postgres)
    sql = (
        'SELECT "CustomerID", "Annual Income (k$)", "Spending Score (1-100)", '
        "'10:30'::time AS opened, \"Age\" % 10 AS age_digit FROM mall "
        "WHERE \"Gender\" = 'Female'"
    )
    df = read_database(DatabaseSource(postgres.url, query=sql))
    assert len(df) == 112
    assert df["age_digit"].between(0, 9).all()
    assert set(df["opened"]) == {"10:30:00"}
    res = invoke(
        [
            "run", postgres.url, "--query", sql, "-f", "Annual Income (k$)",
            "-f", "Spending Score (1-100)", "-o", str(tmp_path), "-q", "--no-report",
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "segments.csv")) == 112


def test_if_exists_modes(postgres, tmp_path):
    load_mall(postgres)
    execute(postgres, "DROP TABLE IF EXISTS modes")
    base = ["run", postgres.url, "--table", "mall", "--write-table", "modes", "-k", "3"]
    quick = ["--stability-resamples", "0", "--no-report", "-q"]

    first = invoke([*base, "-o", str(tmp_path / "a"), *quick])
    assert first.exit_code == 0, first.output
    refused = invoke([*base, "-o", str(tmp_path / "b"), *quick])
    assert refused.exit_code == 1
    assert "table 'modes': the table already exists" in refused.output
    assert "--if-exists replace" in refused.output
    # Refused before any work: no outputs for the second run.
    assert not (tmp_path / "b").exists()

    replaced = invoke(
        [*base, "--if-exists", "replace", "-o", str(tmp_path / "c"), *quick]
    )
    assert replaced.exit_code == 0, replaced.output
    assert query(postgres, "SELECT count(*) AS n FROM modes")["n"][0] == 200
    appended = invoke(
        [*base, "--if-exists", "append", "-o", str(tmp_path / "d"), *quick]
    )
    assert appended.exit_code == 0, appended.output
    assert query(postgres, "SELECT count(*) AS n FROM modes")["n"][0] == 400


def test_a_rejected_row_leaves_the_table_unchanged(postgres, tmp_path):
    load_mall(postgres)
    execute(
        postgres,
        "DROP TABLE IF EXISTS guarded",
        'CREATE TABLE guarded ("CustomerID" bigint, segment bigint CHECK (segment < 2),'
        " segment_name text)",
        "INSERT INTO guarded VALUES (1, 0, 'old'), (2, 1, 'old')",
    )
    before = query(postgres, "SELECT * FROM guarded ORDER BY 1")
    res = invoke(
        [
            "run", postgres.url, "--table", "mall", "--write-table", "guarded",
            "--if-exists", "append", "-k", "5", "-o", str(tmp_path), "-q", "--no-report",
        ]
    )  # fmt: skip
    assert res.exit_code == 1
    assert "table 'guarded': the database refused: CheckViolation" in res.output
    assert "Traceback" not in res.output
    assert_no_password(res.output)
    pd.testing.assert_frame_equal(
        query(postgres, "SELECT * FROM guarded ORDER BY 1"), before
    )


def kill_backends(postgres, like: str) -> None:
    """Another session ends the connections running a statement ``LIKE`` this."""
    execute(
        postgres,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE query LIKE '{like}' AND pid <> pg_backend_pid()",
    )


def test_a_killed_connection_mid_write_leaves_the_table_unchanged(
    postgres, monkeypatch
):
    old = pd.DataFrame({"id": [1, 2, 3], "segment": [7, 7, 7]})
    write_database(old, postgres.url, "killed", if_exists="replace")
    new = pd.DataFrame({"id": range(1000), "segment": [0] * 1000})
    real = _sql._csv_bytes
    calls = []

    def kill_after_first_chunk(batch, options):
        calls.append(len(batch))
        if len(calls) == 2:
            kill_backends(postgres, "COPY%killed%")  # mid-COPY
        return real(batch, options)

    monkeypatch.setattr(_sql, "_csv_bytes", kill_after_first_chunk)
    with pytest.raises(InputError, match="table 'killed'") as err:
        write_database(new, postgres.url, "killed", if_exists="replace", chunk_rows=100)
    assert len(calls) >= 2
    assert_no_password(str(err.value))
    pd.testing.assert_frame_equal(
        query(postgres, "SELECT * FROM killed ORDER BY id"), old
    )


def test_a_killed_connection_mid_read_is_one_clean_error(
    postgres, monkeypatch, tmp_path
):
    """The server ends the reading session after the first chunk: the run
    stops with one error naming the table, no password, and writes nothing."""
    execute(
        postgres,
        "DROP TABLE IF EXISTS cut_short",
        "CREATE TABLE cut_short AS SELECT g AS id, mod(g, 97) AS spend, mod(g, 13) AS visits "
        "FROM generate_series(1, 5000) g",
    )
    real = _sql._record_batch
    seen = []

    def kill_after_first_chunk(rows, names):
        seen.append(len(rows))
        if len(seen) == 1:
            kill_backends(postgres, "%cut_short%")
        return real(rows, names)

    monkeypatch.setattr(_sql, "_record_batch", kill_after_first_chunk)
    with pytest.raises(InputError, match="cut_short") as err:
        read_database(DatabaseSource(postgres.url, table="cut_short"), chunk_rows=500)
    assert len(seen) >= 1
    assert_no_password(str(err.value))
    seen.clear()  # the same cut, under custseg run
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", postgres.url, "--table", "cut_short", "-o", str(out)]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "cut_short" in res.output
    assert_no_password(res.output)
    assert not (out / "segments.csv").exists()


def test_reads_stream_in_chunks_with_stable_types(postgres, monkeypatch):
    rows = pd.DataFrame(
        {
            "id": range(1000),
            # Missing in the whole first chunk, numbers later.
            "late": [None] * 300 + [float(i) for i in range(700)],
            "price": [f"{i}.25" for i in range(1000)],
        }
    )
    execute(
        postgres,
        "DROP TABLE IF EXISTS chunks",
        "CREATE TABLE chunks (id int, late double precision, price numeric(10, 2))",
    )
    write_database(rows, postgres.url, "chunks", if_exists="append")
    batches = []
    real = _sql._record_batch
    monkeypatch.setattr(
        _sql, "_record_batch", lambda r, n: batches.append(len(r)) or real(r, n)
    )
    df = read_database(DatabaseSource(postgres.url, table="chunks"), chunk_rows=128)
    assert batches == [128] * 7 + [104]
    assert len(df) == 1000 and df["id"].is_monotonic_increasing
    assert df["late"].isna().sum() == 300 and df["late"].dtype == "float64"
    assert df["price"].iloc[-1] == 999.25


def test_file_to_database_and_predict_from_database(postgres, tmp_path):
    out = tmp_path / "out"
    res = invoke(
        [
            "run", str(MALL_CSV), "--write-table", "from_file", "--write-url", postgres.url,
            "--if-exists", "replace", "-o", str(out), "-q", "--no-report",
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert query(postgres, "SELECT count(*) AS n FROM from_file")["n"][0] == 200

    load_mall(postgres, "new_customers")
    scored = tmp_path / "scored.csv"
    res = invoke(
        [
            "predict", str(out / "model.skops"), postgres.url, "--table",
            "new_customers", "-o", str(scored), "--write-table", "scores",
            "--if-exists", "replace",
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert_no_password(res.output)
    in_db = query(postgres, 'SELECT * FROM scores ORDER BY "CustomerID"')
    assert list(in_db.columns) == ["CustomerID", "segment", "segment_name"]
    trained = query(postgres, 'SELECT * FROM from_file ORDER BY "CustomerID"')
    pd.testing.assert_frame_equal(in_db, trained)
    assert len(pd.read_csv(scored)) == 200


def test_errors_name_the_source_and_hide_the_password(postgres, tmp_path):
    load_mall(postgres)
    missing = invoke(["run", postgres.url, "--table", "mal", "-o", str(tmp_path)])
    assert missing.exit_code == 1
    assert "table 'mal': no table or view named 'mal'" in missing.output
    assert "Did you mean 'mall'?" in missing.output

    wrong = postgres.url.replace(PG_PASSWORD, "not-the-" + PG_PASSWORD)
    denied = invoke(["run", wrong, "--table", "mall", "-o", str(tmp_path)])
    assert denied.exit_code == 1
    assert "password authentication failed" in denied.output
    assert "custseg:***@" in denied.output

    execute(postgres, "DROP TABLE IF EXISTS empty", "CREATE TABLE empty (a int)")
    empty = invoke(["run", postgres.url, "--table", "empty", "-o", str(tmp_path)])
    assert empty.exit_code == 1
    assert "table 'empty': the table has no rows" in empty.output

    bad_sql = invoke(["run", postgres.url, "--query", "SELEC 1", "-o", str(tmp_path)])
    assert bad_sql.exit_code == 1
    assert "query: the database refused: SyntaxError" in bad_sql.output
    for res in (missing, denied, empty, bad_sql):
        assert "Traceback" not in res.output
        assert_no_password(res.output)


def test_unreachable_server_and_usage_errors(tmp_path):
    # No server needed: nothing listens on port 1.
    url = f"postgresql://ana:{PG_PASSWORD}@127.0.0.1:1/shop"
    res = invoke(["run", url, "--table", "t", "-o", str(tmp_path)])
    assert res.exit_code == 1
    assert "cannot reach the database" in res.output
    assert "postgresql://ana:***@127.0.0.1:1/shop" in res.output
    assert_no_password(res.output)

    usage = [
        (["run", url], "name a --table or give a --query"),
        (["run", url, "--table", "a", "--query", "SELECT 1"], "one of the two"),
        (["run", str(MALL_CSV), "--table", "a"], "give a database URL as the data"),
        (
            ["run", str(MALL_CSV), "--write-table", "a"],
            "--write-table needs a database",
        ),
        (["run", str(MALL_CSV), "--write-url", url], "--write-url needs --write-table"),
    ]
    for args, message in usage:
        res = invoke([*args, "-o", str(tmp_path)])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output
        assert_no_password(res.output)


def test_urls_are_recognised_and_redacted():
    assert is_database_url("postgresql+psycopg://a@h/db")
    assert is_database_url("sqlite:///tmp/x.db")
    assert not is_database_url("https://example.com/customers.csv")
    assert not is_database_url("C:\\data\\customers.csv")
    assert redact_url("postgresql://ana:p%40ss@h/db") == "postgresql://ana:***@h/db"
    assert "p@ss" not in repr(DatabaseSource("postgresql://ana:p@ss@h/db", table="t"))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_other_databases_use_the_generic_path(backend, tmp_path, monkeypatch):
    """No server needed: SQLite through SQLAlchemy's streamed results and
    pandas' multi-row INSERT, the path every non-PostgreSQL database takes."""
    monkeypatch.setattr(_sql, "_fetch_postgres", None)  # would fail if used
    url = f"{backend}:///{tmp_path / 'shop.db'}"
    with sa.create_engine(url).begin() as conn:
        pd.read_csv(MALL_CSV).to_sql("mall", conn, index=False)
    out = tmp_path / "out"
    res = invoke(
        [
            "run", url, "--table", "mall", "--write-table", "segs",
            "-o", str(out), "-q", "--no-report", "--stability-resamples", "0",
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            written = pd.read_sql("SELECT * FROM segs", conn)
    finally:
        engine.dispose()
    assert len(written) == 200 and written["CustomerID"].is_unique
    file_segments = pd.read_csv(out / "segments.csv")
    assert (written["segment"] == file_segments["segment"]).all()
    df = read_database(
        DatabaseSource(url, query="SELECT * FROM mall WHERE Gender = 'Male'"),
        chunk_rows=16,
    )
    assert len(df) == 88


def test_uuid_json_and_array_columns_are_kept_and_left_out_of_the_features(
    postgres, tmp_path
):
    """A uuid is an identifier; json, jsonb and arrays are kept in the output
    as JSON text and never segmented on, however mixed their documents."""
    execute(
        postgres,
        "DROP TABLE IF EXISTS docs",
        "CREATE TABLE docs (cid uuid, spend float8, visits int, doc jsonb, "
        "js json, tags text[], nums int[])",
        "INSERT INTO docs SELECT md5(g::text)::uuid, g * 1.5, mod(g, 7), "
        "jsonb_build_object('tier', mod(g, 3), 'src', 'web'), "
        "CASE WHEN mod(g, 2) = 0 THEN '{\"k\": 1}'::json ELSE '[1, 2]'::json END, "
        "ARRAY['a', 'b'], ARRAY[g, g + 1] FROM generate_series(1, 60) g",
    )
    source = DatabaseSource(postgres.url, table="docs")
    from custseg import check_table, read_table

    loaded = read_table(source)
    kinds = {c.name: c.kind for c in check_table(loaded).columns}
    assert kinds == {
        "cid": "id",
        "spend": "numeric",
        "visits": "numeric",
        "doc": "text",
        "js": "text",
        "tags": "text",
        "nums": "text",
    }
    frame = loaded.frame
    assert frame["js"].tolist()[:2] == ["[1, 2]", '{"k": 1}']
    assert frame["nums"][0] == "[1, 2]"
    result = CliRunner().invoke(
        cli,
        ["run", postgres.url, "--table", "docs", "-o", str(tmp_path), "-q"],
    )
    assert result.exit_code == 0, result.output
    segments = pd.read_csv(tmp_path / "segments.csv")
    assert len(segments) == 60 and segments["cid"].str.len().eq(36).all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["features"]["numeric"]) == {"spend", "visits"}


# Column types a PostgreSQL table holds, each with the SQL of its values
# (``g`` is the row number; every third row is NULL where ``nulls`` is drawn).
PG_TYPES = {
    "uuid": "md5(g::text)::uuid",
    "json": "CASE WHEN mod(g, 2) = 0 THEN to_json(g) ELSE json_build_array(g) END",
    "jsonb": "jsonb_build_object('a', mod(g, 3), 'b', 'x')",
    "int[]": "ARRAY[g, g + 1]",
    "text[]": "ARRAY['a', g::text]",
    "numeric(12,2)": "g * 1.25",
    "timestamptz": "timestamptz '2024-01-01 00:00+02' + g * interval '1 day'",
    "date": "date '2024-01-01' + g",
    "boolean": "mod(g, 2) = 0",
    "bytea": "decode(md5(g::text), 'hex')",
    "interval": "g * interval '1 hour'",
    "inet": "('10.0.0.' || mod(g, 200))::inet",
    "money": "(g * 10)::money",
    "time": "time '10:30' + g * interval '1 minute'",
    "text": "'long ' || repeat('x', mod(g, 7) * 50)",
}


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    chosen=st.lists(st.sampled_from(sorted(PG_TYPES)), min_size=1, max_size=5),
    nulls=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_any_postgres_column_types_segment_every_row_or_are_refused(
    postgres, chosen, nulls
):
    """Whatever types a table holds beside its numbers, every row comes out,
    or the read ends in one clean error."""
    from custseg import pipeline
    from custseg.errors import CustsegError

    columns = [f"c{i}" for i in range(len(chosen))]
    values = [
        f"CASE WHEN {'mod(g, 3) = 0' if null else 'false'} THEN NULL "
        f"ELSE {PG_TYPES[kind]} END"
        for kind, null in zip(chosen, nulls, strict=False)
    ]
    execute(
        postgres,
        "DROP TABLE IF EXISTS typed",
        "CREATE TABLE typed (spend float8, visits int, "
        + ", ".join(f"{c} {k}" for c, k in zip(columns, chosen, strict=True))
        + ")",
        "INSERT INTO typed SELECT mod(g * 37, 101) * 1.5, mod(g, 9), "
        + ", ".join(values)
        + " FROM generate_series(1, 40) g",
    )
    try:
        result = pipeline.run(
            DatabaseSource(postgres.url, table="typed"),
            n_clusters=2,
            stability_resamples=0,
        )
    except CustsegError as exc:
        assert str(exc) and "internal" not in str(exc)
        return
    assert len(result.segments_frame()) == 40
    assert {"spend", "visits"} <= set(result.segmenter.selection_.columns)
