"""custseg export-sql: the generated query gives every customer the segment
``custseg predict`` gives it, in DuckDB, SQLite and a real PostgreSQL server,
with missing values, unseen categories and absurd numbers in the data; the
other dialects parse back with sqlglot (tests/test_spark.py runs the Spark
SQL on a local Spark session)."""

from __future__ import annotations

import sqlite3
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from click.testing import CliRunner
from tests.conftest import MALL_CSV, TEST_DATA

from custseg import ParameterError, load_model
from custseg.activation import DIALECTS, model_sql, rule_order
from custseg.cli import cli
from custseg.errors import CustsegWarning
from custseg.pipeline import predict, run
from custseg.profile import rule_mask

EXACT = ["kmeans", "minibatch-kmeans", "kprototypes", "gmm"]
WHOLESALE = TEST_DATA / "Wholesale customers data.csv"


def fit(df: pd.DataFrame, algorithm: str, k: int = 4, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CustsegWarning)
        return run(
            df, algorithm=algorithm, n_clusters=k, stability_resamples=0, **options
        ).segmenter


def expected(model, df: pd.DataFrame) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CustsegWarning)
        return predict(model, df)


def mixed_table(n: int, seed: int = 0) -> pd.DataFrame:
    """A customer table with heavy-tailed spend, a 0/1 flag, a birth year,
    categories, missing values everywhere, and text ids."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    df = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "Year_Birth": rng.integers(1940, 2004, n).astype(float),
            "Income": rng.gamma(2 + group, 12_000),
            "MntWines": rng.lognormal(3 + group, 1.2),
            "NumWebVisitsMonth": rng.poisson(2 + 2 * group).astype(float),
            "HasKids": rng.integers(0, 2, n).astype(float),
            "Region": rng.choice(["North", "South", "East", "West"], n),
            "Plan": np.where(group > 1, "gold", rng.choice(["basic", "silver"], n)),
        }
    )
    for col in ["Income", "MntWines", "Year_Birth", "Region", "Plan"]:
        df.loc[rng.random(n) < 0.03, col] = None
    return df


def to_score(df: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """The customers to score: new missing values, categories never seen in
    training (a typo, other case, a trailing space) and absurd numbers."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    n = len(out)
    out.loc[rng.random(n) < 0.02, "Region"] = "Other"
    out.loc[rng.random(n) < 0.01, "Region"] = "north"
    out.loc[rng.random(n) < 0.01, "Plan"] = "gold "
    out.loc[rng.random(n) < 0.01, "Income"] = 1e200  # treated as missing
    out.loc[rng.random(n) < 0.02, "MntWines"] = None
    return out


def in_duckdb(sql: str, df: pd.DataFrame, table: str = "customers") -> pd.DataFrame:
    con = duckdb.connect()
    con.register("frame", df)
    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM frame')
    return con.execute(sql).df()


def in_sqlite(sql: str, df: pd.DataFrame, table: str = "customers") -> pd.DataFrame:
    con = sqlite3.connect(":memory:")
    df.to_sql(table, con, index=False)
    return pd.read_sql_query(sql, con)


def same_segments(got: pd.DataFrame, want: pd.DataFrame, id_column: str) -> None:
    got = got.set_index(id_column).loc[want[id_column]]
    numbers = pd.to_numeric(got["segment"]).to_numpy(dtype=float)
    np.testing.assert_array_equal(numbers, want["segment"].to_numpy(dtype=float))
    assert got["segment_name"].tolist() == want["segment_name"].tolist()


@pytest.mark.parametrize("algorithm", EXACT)
@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_mall_and_wholesale_in_duckdb_and_sqlite(algorithm, engine):
    mall = pd.read_csv(MALL_CSV)
    wholesale = pd.read_csv(WHOLESALE)
    wholesale.insert(0, "customer", range(len(wholesale)))
    for df, id_column in ((mall, "CustomerID"), (wholesale, "customer")):
        model = fit(df, algorithm, id_columns=[id_column])
        sql = model_sql(model, "customers", dialect=engine)
        execute = in_duckdb if engine == "duckdb" else in_sqlite
        same_segments(execute(sql, df), expected(model, df), id_column)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", EXACT)
def test_a_100k_mixed_table_with_surprises_matches_predict(algorithm):
    train = mixed_table(100_000)
    model = fit(train, algorithm, k=5)
    assert model.id_columns_ == ("customer_id",)
    scored = to_score(train)
    want = expected(model, scored)
    for dialect, execute in (("duckdb", in_duckdb), ("sqlite", in_sqlite)):
        sql = model_sql(model, "customers", dialect=dialect)
        same_segments(execute(sql, scored), want, "customer_id")


def in_postgres(postgres, model, df: pd.DataFrame, table: str, id_column: str) -> None:
    """The query, and a view of it, run in PostgreSQL: every customer gets
    the segment predict gives."""
    import sqlalchemy as sa

    with postgres.engine() as engine:
        df.to_sql(table, engine, schema="public", index=False, if_exists="replace")
        sql = model_sql(model, f"public.{table}", dialect="postgres")
        with engine.connect() as conn:
            got = pd.read_sql_query(sa.text(sql), conn)
        view = model_sql(
            model, f"public.{table}", dialect="postgres", view=f"{table}_segments"
        )
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP VIEW IF EXISTS "{table}_segments"'))
            conn.execute(sa.text(view))
        with engine.connect() as conn:
            from_view = pd.read_sql_query(
                sa.text(f'SELECT * FROM "{table}_segments"'), conn
            )
    want = expected(model, df)
    same_segments(got, want, id_column)
    same_segments(from_view, want, id_column)


@pytest.mark.postgres
@pytest.mark.xdist_group("postgres")
@pytest.mark.parametrize("algorithm", EXACT)
def test_the_query_runs_in_postgresql_and_as_a_view(postgres, algorithm):
    name = algorithm.replace("-", "_")
    mall = pd.read_csv(MALL_CSV)
    in_postgres(postgres, fit(mall, algorithm), mall, f"mall_{name}", "CustomerID")
    wholesale = pd.read_csv(WHOLESALE)
    wholesale.insert(0, "customer", range(len(wholesale)))
    model = fit(wholesale, algorithm, id_columns=["customer"])
    in_postgres(postgres, model, wholesale, f"wholesale_{name}", "customer")
    train = mixed_table(5_000, seed=len(algorithm))
    model = fit(train, algorithm, k=4)
    in_postgres(postgres, model, to_score(train), f"mixed_{name}", "customer_id")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.xdist_group("postgres")
@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_a_100k_mixed_table_in_postgresql(postgres, algorithm):
    train = mixed_table(100_000)
    model = fit(train, algorithm, k=5)
    in_postgres(postgres, model, to_score(train), f"big_{algorithm}", "customer_id")


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake", "spark"])
@pytest.mark.parametrize("algorithm", ["kmeans", "kprototypes", "gmm"])
def test_the_other_dialects_parse_back(dialect, algorithm):
    model = fit(pd.read_csv(MALL_CSV), algorithm)
    sql = model_sql(model, "crm.customers", dialect=dialect, view="crm.segments")
    statements = sqlglot.parse(sql, read=dialect)
    assert len([s for s in statements if s is not None]) == 1
    tree = statements[0]
    assert isinstance(tree, sqlglot.exp.Create)
    # read back in DuckDB's words, the same query runs and gives the same answer
    as_duckdb = tree.expression.sql(dialect="duckdb").replace(
        "FROM crm.customers", "FROM customers"
    )
    df = pd.read_csv(MALL_CSV)
    same_segments(in_duckdb(as_duckdb, df), expected(model, df), "CustomerID")


def test_names_and_values_are_quoted_not_pasted():
    """A column name and a category that would end the SQL text, and a
    segment name with a quote, still give the right answer."""
    rng = np.random.default_rng(3)
    n = 300
    odd = 'spend"; DROP TABLE customers; --'
    df = pd.DataFrame(
        {
            "id": range(n),
            odd: rng.gamma(2, 50, n),
            "visits": rng.poisson(4, n),
            "city": rng.choice(["O'Brien's town", "x') OR 1=1 --", "Zürich"], n),
            # a boolean category: True in Python, true (or 1) as SQL text
            "member": rng.random(n) < 0.4,
        }
    )
    model = fit(df, "kmeans", k=3, id_columns=["id"])
    assert "member" in model.selection_.categorical
    model.segment_names_ = tuple(f"Joe's {i}" for i in range(3))
    for dialect, execute in (("duckdb", in_duckdb), ("sqlite", in_sqlite)):
        sql = model_sql(model, "customers", dialect=dialect)
        got = execute(sql, df)
        assert len(got) == n
        same_segments(got, expected(model, df), "id")


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_rules_as_case_when_apply_the_rules_in_their_order(engine):
    df = pd.read_csv(MALL_CSV)
    model = fit(df, "kmeans", k=5)
    sql = model_sql(model, "customers", dialect=engine, rules=True)
    assert "precision" in sql and "coverage" in sql  # in the comments
    execute = in_duckdb if engine == "duckdb" else in_sqlite
    got = execute(sql, df).set_index("CustomerID").loc[df["CustomerID"]]
    # the same rules, applied in Python in the same order
    want = np.full(len(df), np.nan)
    for rule in reversed(rule_order(model)):
        want[rule_mask(rule, df)] = rule.segment
    np.testing.assert_array_equal(pd.to_numeric(got["segment"]).to_numpy(float), want)
    # the rules approximate the model: most customers get their own segment
    agree = np.mean(want == expected(model, df)["segment"].to_numpy(dtype=float))
    assert agree > 0.8


@pytest.mark.parametrize("id_name", ["best", "z0", "s1", "cluster", "prepared"])
def test_an_id_named_like_a_step_of_the_query_changes_nothing(id_name):
    df = pd.read_csv(MALL_CSV).rename(columns={"CustomerID": id_name})
    model = fit(df, "kmeans", id_columns=[id_name])
    for execute, dialect in ((in_duckdb, "duckdb"), (in_sqlite, "sqlite")):
        got = execute(model_sql(model, "customers", dialect=dialect), df)
        assert list(got.columns) == [id_name, "segment", "segment_name"]
        same_segments(got, expected(model, df), id_name)
    # a table named like a step is the table
    got = in_duckdb(model_sql(model, "prepared", dialect="duckdb"), df, "prepared")
    same_segments(got, expected(model, df), id_name)


def test_table_names_are_quoted_only_where_needed():
    model = fit(pd.read_csv(MALL_CSV), "kmeans")
    sql = model_sql(model, "crm.customers", dialect="snowflake")
    assert "FROM crm.customers" in sql  # Snowflake finds CRM.CUSTOMERS
    sql = model_sql(model, "crm.my customers", dialect="postgres")
    assert 'FROM crm."my customers"' in sql
    with pytest.raises(ParameterError, match="segment"):
        model_sql(model, "t", id_columns=["segment"])


def test_algorithms_that_vote_and_bad_requests_are_refused_clearly():
    df = pd.read_csv(MALL_CSV)
    model = fit(df, "agglomerative")
    with pytest.raises(ParameterError, match="vote of its nearest training customers"):
        model_sql(model, "customers")
    kmeans = fit(df, "kmeans")
    with pytest.raises(ParameterError, match="unknown SQL dialect 'oracle'"):
        model_sql(kmeans, "customers", dialect="oracle")
    with pytest.raises(ParameterError, match="text between its dots"):
        model_sql(kmeans, "crm..customers")
    assert set(DIALECTS) >= {"postgres", "duckdb", "sqlite", "bigquery"}


def test_cli_export_sql_writes_the_query_and_names_errors(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", str(MALL_CSV), "-o", str(out), "-k", "4", "--no-report", "-q"]
    )
    assert res.exit_code == 0, res.output
    model_path = out / "model.skops"
    target = tmp_path / "segments.sql"
    res = CliRunner().invoke(
        cli,
        [
            "export-sql",
            str(model_path),
            "--table",
            "customers",
            "--dialect",
            "duckdb",
            "-o",
            str(target),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(MALL_CSV)
    same_segments(
        in_duckdb(target.read_text(), df),
        expected(load_model(model_path), df),
        "CustomerID",
    )
    res = CliRunner().invoke(
        cli, ["export-sql", str(model_path), "--table", "t", "--dialect", "oracle"]
    )
    assert res.exit_code == 1 and "unknown SQL dialect" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(
        cli, ["export-sql", str(tmp_path / "none.skops"), "--table", "t"]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
