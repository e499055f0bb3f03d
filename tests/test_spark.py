"""The Spark engine: the same segments as the local engine, every row accounted for.

Spark runs in ``local[2]`` in one session shared by the whole module (starting
one costs 10 s here). Tests that need Spark are marked ``spark`` and ``slow``
(deselect them with ``-m "not spark"``); they skip when PySpark is not
installed. The tests of the install hint run without Spark.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score
from tests.conftest import INCOME, MALL_CSV, SPENDING

from custseg import CustsegError, CustsegWarning, load_model
from custseg.pipeline import run, write_outputs
from custseg.quality import check_table
from custseg.spark import BackendUnavailableError, run_spark, spark_session

N_SYNTHETIC = 100_000
PLANTED_K = 4
# Both engines choose k over this range on the synthetic table (a narrow range
# keeps the Spark fits, which cost seconds each here, few).
SYNTHETIC_K_RANGE = (3, 5)


def needs_spark(test):
    """Mark a test as needing Spark (and slow). Under pytest-xdist each worker
    that runs one starts its own JVM; ``--dist loadgroup`` keeps them on one."""
    for mark in (pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")):
        test = mark(test)
    return test


def ensure_java() -> None:
    """Java 17+ for Spark: Debian's headless JRE when missing (as root)."""
    import shutil

    from tests.system import apt_install

    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return
    if not apt_install("openjdk-17-jre-headless"):
        pytest.fail(
            "The Spark tests need Java 17+: install a JRE (Debian: "
            "openjdk-17-jre-headless), or deselect them with -m 'not spark'."
        )


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for every Spark test, UI off, bound to 127.0.0.1."""
    pytest.importorskip("pyspark", reason='needs pip install "custseg[spark]"')
    ensure_java()
    session = spark_session("local[2]", config={"spark.ui.enabled": "false"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def mall_runs(spark):
    features = [INCOME, SPENDING]
    return run_spark(features=features, spark=spark), run(features=features)


def synthetic_table(n: int = N_SYNTHETIC, seed: int = 7) -> pa.Table:
    """An id, 8 numeric features in different units with ``PLANTED_K`` groups,
    and a region that mostly follows the group."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, size=(PLANTED_K, 8)) * [1, 2, 1, 3, 1, 1, 2, 1]
    group = rng.integers(0, PLANTED_K, n)
    X = centres[group] + rng.normal(0, 1, (n, 8))
    columns: dict[str, np.ndarray] = {"customer_id": rng.permutation(n) + 1}
    for i in range(8):
        columns[f"f{i}"] = X[:, i] * 10.0 ** (i % 3)
    regions = np.array(["north", "south", "east", "west"])
    columns["region"] = regions[(group + (rng.random(n) < 0.2)) % PLANTED_K]
    return pa.table(columns)


@pytest.fixture(scope="module")
def synthetic(spark, tmp_path_factory):
    """The synthetic table as Parquet, the Spark and local runs on it, and the
    Spark run's outputs."""
    folder = tmp_path_factory.mktemp("synthetic")
    path = folder / "customers.parquet"
    pq.write_table(synthetic_table(), path)
    spark_result = run_spark(path, spark=spark, k_range=SYNTHETIC_K_RANGE)
    local_result = run(path, k_range=SYNTHETIC_K_RANGE)
    paths = write_outputs(spark_result, folder / "out")
    return spark_result, local_result, paths


def local_labels_of(local, ids: pd.Series, id_column: str) -> np.ndarray:
    by_id = pd.Series(local.labels, index=local.data[id_column].to_numpy())
    return by_id.loc[ids.to_numpy()].to_numpy()


# -- without Spark -------------------------------------------------------------


def test_missing_pyspark_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark fails
    with pytest.raises(BackendUnavailableError) as info:
        run_spark(master="local[1]")
    assert 'pip install "custseg[spark]"' in str(info.value)
    assert isinstance(info.value, CustsegError)
    assert isinstance(info.value, ImportError)
    with pytest.raises(BackendUnavailableError, match=r"custseg\[spark\]"):
        run(engine="spark")


def test_missing_java_is_said_before_starting(monkeypatch, tmp_path):
    # spark_session() calls this before it starts a JVM.
    from custseg.spark._session import require_java

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendUnavailableError, match="needs Java .* none was found"):
        require_java()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(BackendUnavailableError, match="has no bin/java"):
        require_java()


# -- the session -----------------------------------------------------------------


@needs_spark
def test_session_is_loopback_only_without_ui(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert spark.sparkContext.uiWebUrl is None


# -- the mall data ----------------------------------------------------------------


@needs_spark
def test_mall_both_engines_choose_5_and_agree(mall_runs):
    spark_result, local_result = mall_runs
    assert spark_result.k_selection.k == local_result.k_selection.k == 5
    assert spark_result.engine == "spark"
    assert spark_result.n_rows == len(spark_result.data) == 200
    ids = spark_result.data["CustomerID"]
    local = local_labels_of(local_result, ids, "CustomerID")
    assert adjusted_rand_score(local, spark_result.labels) >= 0.95
    assert [p.size for p in spark_result.profiles] == [
        p.size for p in local_result.profiles
    ]


@needs_spark
def test_mall_profiles_and_quality_match_local(mall_runs):
    spark_result, local_result = mall_runs
    for mine, theirs in zip(spark_result.profiles, local_result.profiles, strict=True):
        assert mine.name == theirs.name
        for col, value in theirs.mean.items():
            assert mine.mean[col] == pytest.approx(value)
            assert mine.median[col] == pytest.approx(theirs.median[col])
            assert mine.z[col] == pytest.approx(theirs.z[col])
    compared = ["kind", "missing", "distinct", "constant", "outliers", "infinite"]
    pd.testing.assert_frame_equal(
        spark_result.quality.to_frame()[compared],
        local_result.quality.to_frame()[compared],
    )
    assert spark_result.quality.findings == local_result.quality.findings
    assert spark_result.quality.column("Gender").top == {"Female": 112, "Male": 88}


# -- a 100,000-row table ---------------------------------------------------------------


@needs_spark
def test_synthetic_engines_agree_at_the_planted_k(synthetic):
    spark_result, local_result, _ = synthetic
    assert spark_result.k_selection.k == local_result.k_selection.k == PLANTED_K
    assert spark_result.n_rows == N_SYNTHETIC
    assert len(spark_result.data) == 50_000
    ids = spark_result.data["customer_id"]
    assert ids.is_unique
    local = local_labels_of(local_result, ids, "customer_id")
    assert adjusted_rand_score(local, spark_result.labels) >= 0.95
    assert spark_result.quality.id_columns == ("customer_id",)
    assert sum(p.size for p in spark_result.profiles) == N_SYNTHETIC


@needs_spark
def test_synthetic_every_row_appears_once_in_the_segments(synthetic):
    spark_result, local_result, paths = synthetic
    assert paths["segments"].name == "segments.parquet"
    segments = pq.read_table(paths["segments"]).to_pandas()
    assert len(segments) == N_SYNTHETIC
    assert segments["customer_id"].is_unique
    assert set(segments["customer_id"]) == set(range(1, N_SYNTHETIC + 1))
    assert list(segments.columns[-2:]) == ["segment", "segment_name"]
    names = np.asarray(spark_result.segmenter.segment_names_, dtype=object)
    assert (segments["segment_name"].to_numpy() == names[segments["segment"]]).all()
    local = local_labels_of(local_result, segments["customer_id"], "customer_id")
    assert adjusted_rand_score(local, segments["segment"]) >= 0.95
    sizes = np.bincount(segments["segment"], minlength=PLANTED_K)
    assert sizes.tolist() == [p.size for p in spark_result.profiles]
    leftovers = [p.name for p in paths["segments"].parent.iterdir()]
    assert not [n for n in leftovers if n.startswith(".segments")]


@needs_spark
def test_synthetic_outputs_and_model(synthetic):
    spark_result, _, paths = synthetic
    assert {"report", "summary", "profiles", "model", "segments"} <= set(paths)
    summary = json.loads(paths["summary"].read_text())
    assert summary["engine"] == "spark"
    assert summary["n_rows"] == summary["quality"]["n_rows"] == N_SYNTHETIC
    assert summary["settings"]["spark_master"] == "local[2]"
    assert summary["k_sample_size"] == N_SYNTHETIC
    profiles = pd.read_csv(paths["profiles"])
    assert profiles["size"].sum() == N_SYNTHETIC
    assert "<img" in paths["report"].read_text()
    model = load_model(paths["model"])
    predicted = model.predict(spark_result.data)
    assert np.mean(predicted == spark_result.labels) >= 0.999


# -- typing and quality of a messy CSV ------------------------------------------------


@needs_spark
def test_messy_csv_is_typed_and_checked_like_local(spark, tmp_path):
    from custseg.io import load_table
    from custseg.spark._read import read_source
    from custseg.spark._table import inspect_table

    rng = np.random.default_rng(3)
    n = 300
    amount = [f"{v:.2f}" for v in rng.normal(50, 10, n)]
    amount[7], amount[150] = "n/a", "12k"  # a missing marker and stray text
    frame = pd.DataFrame(
        {
            "cust_no": [f"{i:05d}" for i in range(n)],  # codes with leading zeros
            "amount": amount,
            "visits": [" 3 " if i % 2 else "4" for i in range(n)],
            "plan": rng.choice(["basic", "gold", ""], n),
            "note": [f"free text {i}" for i in range(n)],
        }
    )
    path = tmp_path / "messy.csv"
    frame.to_csv(path, sep=";", index=False)

    local = check_table(load_table(path))
    table = inspect_table(read_source(spark, path), random_state=0)
    table.values.unpersist()
    mine = table.report
    compared = ["kind", "missing", "distinct", "constant", "outliers", "infinite"]
    pd.testing.assert_frame_equal(mine.to_frame()[compared], local.to_frame()[compared])
    assert mine.mistyped == local.mistyped
    assert mine.id_columns == local.id_columns
    assert mine.findings == local.findings
    assert mine.file_info["delimiter"] == ";"


def rfm_log(path, kind: str):
    """tests/test_rfm.py's hand-checked log, as is or in a variant."""
    from tests.test_rfm import HEADER, LINES

    frame = pd.DataFrame(LINES, columns=HEADER)
    if kind == "no_product":
        # Without a product code, identical lines are two purchases: kept.
        frame = frame.drop(columns="StockCode")
    elif kind == "discount":
        # Rates, a percentage, a yes/no flag and blanks, as logs write them.
        flags = ["0", "0.15", "", "5%", "0", "yes", "no"] * 3
        frame["Discount"] = flags[: len(frame)]
    elif kind == "category":
        frame["Category"] = ["toys" if s < "F" else "books" for s in frame["StockCode"]]
    elif kind == "no_price":  # items, and returns by a negative quantity
        frame = frame.drop(columns="UnitPrice")
    elif kind == "no_money":  # who bought when, in which order
        frame = frame[["InvoiceNo", "InvoiceDate", "CustomerID"]]
    elif kind in ("dollars", "euros"):
        return written_prices(frame, path, kind)
    frame.to_csv(path, index=False)
    return path


def written_prices(frame: pd.DataFrame, path, kind: str):
    """The log with unit prices (times 1,000) written for people: "$2,500.00"
    in a CSV, or "2.500,00 €" in a semicolon-delimited one."""
    prices = pd.to_numeric(frame["UnitPrice"]) * 1000
    if kind == "dollars":
        frame["UnitPrice"] = [f"${p:,.2f}" for p in prices]
    else:
        swap = str.maketrans(",.", ".,")
        frame["UnitPrice"] = [f"{p:,.2f}".translate(swap) + " €" for p in prices]
    frame.to_csv(path, index=False, sep=";" if kind == "euros" else ",")
    return path


@needs_spark
@pytest.mark.parametrize("cancellations", ["net", "exclude"])
@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("default", {"as_of": "2024-03-08", "distinct_products": True}),
        ("default", {"drop_duplicates": False, "price_discounts": True}),
        ("no_product", {}),
        ("discount", {"as_of": "2024-03-08"}),
        ("category", {}),
        ("dollars", {}),
        ("euros", {}),
        ("no_price", {}),
        ("no_money", {"drop_duplicates": True}),
    ],
    ids=[
        "default",
        "unchecked",
        "no_product",
        "discount",
        "category",
        "$",
        "€",
        "no_price",
        "no_money",
    ],
)
def test_rfm_aggregation_on_spark_matches_duckdb(
    spark, tmp_path, cancellations, kind, options
):
    from custseg.spark import aggregate_transactions_spark
    from custseg.transactions import aggregate_transactions

    log = rfm_log(tmp_path / "log.csv", kind)

    def said():
        if kind in ("no_price", "no_money"):
            return pytest.warns(CustsegWarning, match="no money column")
        return contextlib.nullcontext()

    with said():
        local = aggregate_transactions(log, cancellations=cancellations, **options)
    with said():
        on_spark = aggregate_transactions_spark(
            log, cancellations=cancellations, **options
        )
    # Every column, behaviour measures included; money may differ in the last bit.
    pd.testing.assert_frame_equal(
        on_spark.customers, local.customers, check_dtype=False, rtol=1e-9
    )
    pd.testing.assert_frame_equal(on_spark.unscored, local.unscored, check_dtype=False)
    assert on_spark.preference_labels == local.preference_labels
    mine, theirs = on_spark.cleaning.to_dict(), local.cleaning.to_dict()
    assert mine.pop("file")["engine"] == "spark"
    theirs.pop("file")
    assert mine == theirs
    # The variants do reach the code they are for.
    assert len(local.unscored) == 1  # customer 6 only cancelled
    columns = set(local.customers.columns)
    if kind in ("no_price", "no_money"):
        assert "monetary" not in columns and theirs["net_revenue"] is None
        assert ("items_per_order" in columns) == (kind == "no_price")
        return
    if options.get("price_discounts"):
        # priced below the product's median: customer 1's line of A at 5
        assert local.customers["discount_share"].gt(0).sum() == 1
    if kind == "no_product":
        assert theirs["identical_lines_rule"] == "keep"
        assert theirs["identical_lines"] == 1
        assert "distinct_products" not in columns
    elif kind == "discount":
        assert local.customers["discount_share"].gt(0).any()
        assert "distinct_products" not in columns  # not asked for
    elif kind == "category":
        assert {"share_toys", "share_books", "top_category"} <= columns
    elif kind in ("dollars", "euros"):  # every written price read
        assert theirs["dropped"] == rfm_cleaning(tmp_path, cancellations)["dropped"]
    elif "drop_duplicates" in options:
        assert theirs["identical_lines_rule"] == "unchecked"
    else:
        assert theirs["dropped"]["duplicate"] == 1
        assert "distinct_products" in columns


def rfm_cleaning(tmp_path, cancellations: str) -> dict:
    """The cleaning record of the plain log, for the variants to match."""
    from custseg.transactions import aggregate_transactions

    plain = rfm_log(tmp_path / "plain.csv", "default")
    return aggregate_transactions(plain, cancellations=cancellations).cleaning.to_dict()


@needs_spark
def test_rfm_on_spark_online_retail_cli(spark, tmp_path):
    from click.testing import CliRunner
    from tests.conftest import ONLINE_RETAIL

    from custseg.cli import cli
    from custseg.transactions import aggregate_transactions

    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["rfm", str(ONLINE_RETAIL), "--engine", "spark", "-o", str(out), "--no-report"],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    local = aggregate_transactions(ONLINE_RETAIL).cleaning
    assert summary["rfm"]["cleaning"]["dropped"] == local.dropped
    assert summary["rfm"]["cleaning"]["customers"] == local.customers
    assert summary["rfm"]["cleaning"]["net_revenue"] == round(local.net_revenue, 2)
    assert summary["settings"]["engine"] == "spark"


@needs_spark
def test_exported_spark_sql_runs_on_spark_and_matches_predict(spark):
    """custseg export-sql --dialect spark, run by Spark SQL (docs/activation.md)."""
    from custseg.activation import model_sql
    from custseg.pipeline import predict

    model = run(MALL_CSV, n_clusters=5, stability_resamples=0).segmenter
    table = (
        spark.read.option("header", True).option("inferSchema", True).csv(str(MALL_CSV))
    )
    table.createOrReplaceTempView("customers")
    query = model_sql(model, "customers", dialect="spark")
    rows = spark.sql(query.rstrip().rstrip(";")).collect()
    got = pd.DataFrame([r.asDict() for r in rows])
    want = predict(model, MALL_CSV)
    got = got.set_index("CustomerID").loc[want["CustomerID"]]
    assert got["segment"].tolist() == want["segment"].tolist()
    assert got["segment_name"].tolist() == want["segment_name"].tolist()
