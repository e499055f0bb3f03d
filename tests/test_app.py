"""The web app, in process: its functions, and its pages through Streamlit's AppTest."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from custseg.app import SCRIPT, _logic, streamlit_command
from custseg.errors import ColumnTypeError, CustsegError, EmptyDataError, InputError
from custseg.settings import Settings

INCOME = "Annual Income (k$)"
SPENDING = "Spending Score (1-100)"


# -- the functions behind the pages ----------------------------------------------


def test_demo_upload_reads_like_the_file():
    df, quality = _logic.read_upload(_logic.demo_upload())
    assert df.shape == (200, 5)
    assert quality.source == "mall_customers.csv"
    assert quality.id_columns == ("CustomerID",)
    assert _logic.default_features(quality) == [
        "Age",
        INCOME,
        SPENDING,
        "Gender",
    ]


@pytest.mark.parametrize(
    ("name", "data", "error", "words"),
    [
        ("empty.csv", b"", EmptyDataError, "empty.csv: the file is empty (0 bytes)."),
        ("noise.csv", bytes(range(256)) * 40, CustsegError, "noise.csv:"),
        ("noise.xlsx", b"PK\x03\x04 not really a workbook", CustsegError, "noise.xlsx"),
        (
            "words.csv",
            b"name,city\nann,paris\nbob,rome\ncid,oslo\n",
            ColumnTypeError,
            "words.csv: no numeric column to segment on.",
        ),
    ],
    ids=["empty", "binary", "fake-excel", "no-numeric"],
)
def test_bad_uploads_raise_a_clean_error_naming_the_file(name, data, error, words):
    with pytest.raises(error) as info:
        _logic.read_upload(_logic.Upload.from_bytes(name, data))
    message = str(info.value)
    assert message.startswith(words), message
    assert "custseg-app-" not in message  # the staging folder never shows


def test_upload_over_the_limit_is_refused_before_reading():
    upload = _logic.Upload.from_bytes("big.csv", b"a,b\n" + b"1,2\n" * 300_000)
    with pytest.raises(
        InputError,
        match=r"big\.csv: the file is 1 MB, over the app's upload limit of 0\.5 MB",
    ):
        _logic.read_upload(upload, max_mb=0.5)


def test_uploaded_name_cannot_escape_the_staging_folder():
    path = _logic.stage_upload(_logic.Upload.from_bytes("../../etc/x.csv", b"a\n1\n"))
    assert path.name == "x.csv"
    assert path.parent.parent.name.startswith("custseg-app-")


def test_segment_runs_the_pipeline_and_keeps_the_file_name():
    settings = Settings((INCOME, SPENDING))
    result = _logic.segment(_logic.demo_upload(), settings)
    assert result.k_selection.k == 5
    assert result.source == result.settings["data"] == "mall_customers.csv"
    cards = _logic.cards(result)
    assert [c.size for c in cards] == [81, 39, 35, 23, 22]
    assert all(c.name and c.action for c in cards)
    curves = _logic.k_curves(result.k_selection)
    assert set(curves["index"]) == {
        "Elbow: inertia",
        "Silhouette",
        "Calinski-Harabasz",
        "Davies-Bouldin",
    }
    assert curves.loc[curves["chosen"], "k"].unique().tolist() == [5]
    points, centres = _logic.scatter_points(result, INCOME, SPENDING)
    assert len(points) == 200 and len(centres) == 5
    assert list(points.columns) == ["x", "y", "segment"]
    pca, centres, titles = _logic.projection_points(result)
    assert len(pca) == 200 and len(centres) == result.k_selection.k
    assert titles[0].startswith("PC1 (") and "of variance): " in titles[0]
    cells = _logic.profile_cells(result)
    assert len(cells) == 10 and set(cells["feature"]) == {INCOME, SPENDING}
    files = _logic.output_files(result)
    assert {"segments", "segments_excel", "report", "model", "profiles"} <= set(files)
    name, data = files["segments"]
    assert name == "segments.csv" and data.count(b"\n") == 201
    assert files["segments_excel"][0] == "segments.xlsx"
    assert files["segments_excel"][1][:2] == b"PK"


def test_streamlit_command_binds_to_loopback_by_default():
    command = streamlit_command()
    assert command[1:5] == ["-m", "streamlit", "run", str(SCRIPT)]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options == {
        "--server.address": "127.0.0.1",
        "--server.port": "8501",
        "--server.headless": "true",
        "--server.maxUploadSize": "200",
        "--browser.gatherUsageStats": "false",
        "--client.toolbarMode": "minimal",
    }


def test_cli_app_without_streamlit_says_how_to_install(monkeypatch):
    import importlib.util

    from custseg.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    result = CliRunner().invoke(cli, ["app"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: the web app needs Streamlit, which is not installed. Install it "
        'with: pip install "custseg[app]"\n'
    )


def test_importing_the_package_does_not_import_streamlit():
    code = "import custseg.app, sys; print('streamlit' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# -- the pages, through Streamlit's AppTest --------------------------------------

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _app():
    at = AppTest.from_file(str(SCRIPT), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at):
    parts = [m.value for m in at.markdown]
    for kind in ("success", "info", "warning", "error", "header", "subheader"):
        parts += [m.value for m in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_first_page_invites_an_upload():
    at = _app()
    assert at.sidebar.radio(key="page").value == "1 · Data"
    assert "Upload a table above, or pick a demo dataset" in _texts(at)
    assert not at.error


def test_demo_data_with_income_and_spending_gives_five_segments():
    at = _app()
    at.button[0].click().run()  # "Use the demo data"
    assert "**mall_customers.csv**: 200 customers, 5 columns" in _texts(at)
    assert "`CustomerID`" in _texts(at)
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    features = at.multiselect[0]
    assert features.value == ["Age", INCOME, SPENDING, "Gender"]
    features.set_value([INCOME, SPENDING]).run()
    run_button = next(b for b in at.button if b.label == "Run segmentation")
    run_button.click().run()
    assert not at.exception, at.exception
    assert at.sidebar.radio(key="page").value == "5 · Segments"
    text = _texts(at)
    assert "5 customer segments" in text
    assert "k = 5, chosen automatically." in text
    cards = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(cards) == 5
    assert cards[0] == "#### 0 · Average income and spending"

    at.sidebar.radio(key="page").set_value("4 · Choose k").run()
    assert "Automatic choice: k = 5." in _texts(at)
    at.selectbox(key="k_pick").set_value(4).run()
    next(b for b in at.button if b.label.startswith("Use k = 4")).click().run()
    assert "You chose k = 4.** The automatic choice is k = 5;" in _texts(at)
    assert "4 customer segments" in _texts(at)


def test_bad_upload_shows_an_error_and_the_next_upload_works():
    at = _app()
    uploader = at.get("file_uploader")[0]
    uploader.upload("garbage.csv", bytes(range(256)) * 64, "text/csv").run()
    assert not at.exception, at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith("garbage.csv:")
    assert "Traceback" not in _texts(at)
    at.get("file_uploader")[0].upload("empty.csv", b"", "text/csv").run()
    assert [e.value for e in at.error] == [
        "empty.csv: the file is empty (0 bytes). Choose a file with a header row "
        "and at least one customer."
    ]
    good = _logic.demo_upload().data
    at.get("file_uploader")[0].upload("customers.csv", good, "text/csv").run()
    assert not at.error
    assert "**customers.csv**: 200 customers" in _texts(at)


@pytest.mark.parametrize(
    ("name", "data", "says", "never"),
    [
        (
            "ragged.csv",
            b"id,a,b\n1,2,3\n2,3,4,5,6\n3,5,6\n4,1,1\n",
            "save the file again as a comma-separated CSV",
            "--delimiter",
        ),
        (
            "broken.xlsx",
            b"PK\x03\x04 not really a workbook",
            "it is damaged, or not an .xlsx/.xlsm file",
            "BadZipFile",
        ),
        (
            "broken.parquet",
            b"PAR1 not really parquet PAR1",
            "is not a readable Parquet file: it is damaged, cut off, or not Parquet",
            "footer",
        ),
        (
            "ids.csv",
            b"id\nA1\nA2\nA3\nA4\n",
            "",
            "--",
        ),
    ],
)
def test_upload_errors_speak_the_apps_language(name, data, says, never):
    at = _app()
    at.get("file_uploader")[0].upload(name, data, "application/octet-stream").run()
    assert not at.exception, at.exception
    shown = "\n".join(e.value for e in at.error) + _texts(at)
    assert at.error and says in shown, shown
    assert never not in shown and "Traceback" not in shown


def test_too_few_customers_are_refused_on_the_data_page():
    at = _app()
    at.get("file_uploader")[0].upload("one.csv", b"id,a,b\n1,2,3\n", "text/csv").run()
    assert not at.success
    [error] = [e.value for e in at.error]
    assert error.startswith("**one.csv**: 1 customer, 3 columns.")
    assert "at least 3 customers" in error


def test_the_data_page_does_not_send_you_to_itself():
    at = _app()
    assert "Start on the **1 · Data** page" not in _texts(at)
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    assert "Start on the **1 · Data** page" in _texts(at)


def _run_demo(at, features=(INCOME, SPENDING), **choices):
    """Demo data, the given features and choices, then Run segmentation."""
    at.button[0].click().run()
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    at.multiselect[0].set_value(list(features)).run()
    for key, value in choices.items():
        at.selectbox(key=key).set_value(value).run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    assert not at.exception, at.exception
    return at


def test_hdbscan_finds_its_own_k_and_reports_the_unassigned():
    at = _run_demo(_app(), algorithm="hdbscan")
    text = _texts(at)
    assert "HDBSCAN found 6 segments." in text
    warnings = [w.value for w in at.warning]
    assert any(
        "27 of 200 customers (13.5%) match no segment" in w and "consider K-Means" in w
        for w in warnings
    ), warnings
    # card shares are of all 200 customers, the unassigned included
    sizes = [
        int(m.value.split("**")[1].split()[0].replace(",", ""))
        for m in at.markdown
        if m.value.startswith("**") and " customers** (" in m.value
    ]
    shares = [
        m.value.split("(")[1].split("%")[0]
        for m in at.markdown
        if m.value.startswith("**") and " customers** (" in m.value
    ]
    assert sum(sizes) == 200 - 27
    assert shares == [f"{100 * n / 200:.0f}" for n in sizes]
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    domain = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert domain[-1] == "unassigned" and len(domain) == 7
    assert at.sidebar.caption[-1].value.startswith("HDBSCAN on ")
    at.sidebar.radio(key="page").set_value("4 · Choose k").run()
    assert "HDBSCAN has no k to choose" in _texts(at)
    assert not at.get("vega_lite_chart")  # no curves of a single k


def test_no_structure_is_a_warning_on_the_segments_and_choose_k_pages():
    at = _run_demo(_app(), features=("Age",))
    assert at.sidebar.radio(key="page").value == "5 · Segments"
    assert not at.success  # no green box over segments that are not there
    headline, *notes = [w.value for w in at.warning]
    assert headline.startswith("**k = 2, chosen automatically.**")
    assert any(
        n.startswith("No clear segment structure was found") and "fewer features" in n
        for n in notes
    ), notes
    at.sidebar.radio(key="page").set_value("4 · Choose k").run()
    assert not at.success
    assert any("No clear segment structure" in w.value for w in at.warning)


def test_a_run_with_clear_segments_has_no_caution():
    at = _run_demo(_app())
    assert [s.value for s in at.success][0].startswith(
        "**k = 5, chosen automatically.**"
    )
    assert not at.warning


def test_chart_legend_lists_unassigned_only_when_some_are():
    at = _run_demo(_app())
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    domain = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert len(domain) == 5 and "unassigned" not in domain
    assert "in no segment" not in _texts(at)


def test_changing_the_scatter_axis_reuses_the_cached_run(monkeypatch):
    calls = []
    real = _logic.segment
    monkeypatch.setattr(
        _logic, "segment", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    at = _run_demo(_app(), scaler="robust")  # settings no other test caches
    assert len(calls) == 1
    at.selectbox(key="seg_x").set_value("Age").run()
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["layer"][0]["encoding"]["x"]["title"] == "Age"
    assert len(calls) == 1


def test_picked_chart_axes_survive_a_refit_with_another_k():
    at = _run_demo(_app(), features=("Age", INCOME, SPENDING))
    best = (at.selectbox(key="seg_x").value, at.selectbox(key="seg_y").value)
    assert best == (SPENDING, INCOME)  # the best-separating pair, before any pick
    at.selectbox(key="seg_x").set_value("Age").run()
    at.sidebar.radio(key="page").set_value("4 · Choose k").run()
    at.selectbox(key="k_pick").set_value(3).run()
    next(b for b in at.button if b.label.startswith("Use k = 3")).click().run()
    assert "3 customer segments" in _texts(at)
    assert (at.selectbox(key="seg_x").value, at.selectbox(key="seg_y").value) == (
        "Age",
        INCOME,
    )
    assert not at.exception
    assert not [w for w in at.warning if "Session State" in w.value]


def test_segment_sizes_count_every_customer_and_values_follow_the_labels():
    settings = Settings((INCOME, SPENDING), algorithm="hdbscan")
    result = _logic.segment(_logic.demo_upload(), settings)
    sizes = _logic.segment_sizes(result)
    assert int(sizes["customers"].sum()) == 200
    unassigned = int((result.labels < 0).sum())
    assert unassigned > 0
    assert sizes.iloc[-1].tolist()[:2] == ["unassigned", unassigned]
    assert sizes["share"].sum() == pytest.approx(1.0)
    values = _logic.segment_values(result, "Age")
    assert len(values) == 200
    first = result.profiles[0]
    shown = f"{first.segment}: {first.name}"
    ages = result.data["Age"][result.labels == 0]
    assert sorted(values.loc[values["segment"] == shown, "value"]) == sorted(ages)


def test_segments_page_shows_sizes_and_a_box_plot_per_column():
    at = _run_demo(_app())
    subheaders = [h.value for h in at.subheader]
    assert "Segment sizes" in subheaders
    assert "How a column varies by segment" in subheaders
    assert at.selectbox(key="seg_box").value == INCOME
    at.selectbox(key="seg_box").set_value("Age").run()
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    boxes = [sp for sp in specs if sp.get("mark", {}).get("type") == "boxplot"]
    assert len(boxes) == 1 and boxes[0]["encoding"]["x"]["title"] == "Age"
    assert not at.exception


def test_an_audience_is_one_segments_customers_with_the_picked_columns():
    import io

    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame(
        {
            "customer_code": [f"K{i:04d}" for i in range(n)],
            "spend": np.r_[rng.normal(100, 5, n // 2), rng.normal(900, 20, n // 2)],
            "visits": np.r_[rng.normal(2, 0.3, n // 2), rng.normal(12, 1, n // 2)],
            "note": ['=HYPERLINK("http://x")'] * n,
        }
    )
    upload = _logic.Upload.from_bytes("people.csv", df.to_csv(index=False).encode())
    result = _logic.segment(upload, Settings(("spend", "visits"), n_clusters=2))
    first = result.profiles[0]
    name, data = _logic.audience_file(result, int(first.segment), ["note", "spend"])
    assert name.startswith(f"audience-{first.segment}-") and name.endswith(".csv")
    people = pd.read_csv(io.BytesIO(data))
    assert list(people.columns) == [
        "customer_code",
        "spend",
        "note",
        "segment",
        "segment_name",
    ]
    assert len(people) == first.size
    assert set(people["segment"]) == {first.segment}
    mine = result.segments_frame()["segment"] == first.segment
    assert list(people["customer_code"]) == list(df["customer_code"][mine.to_numpy()])
    assert people["note"].str.startswith("'=").all()  # neutralised formula
    _, xlsx = _logic.audience_file(result, int(first.segment), [], ".xlsx")
    book = pd.read_excel(io.BytesIO(xlsx))
    assert list(book.columns) == ["customer_code", "segment", "segment_name"]
    assert len(book) == first.size


def test_downloads_page_offers_an_audience_of_the_chosen_segment():
    at = _run_demo(_app())
    at.sidebar.radio(key="page").set_value("6 · Downloads").run()
    assert not at.exception, at.exception
    assert "An audience: one segment's customers" in [h.value for h in at.subheader]
    at.selectbox(key="audience_segment").set_value(3).run()
    at.multiselect(key="audience_columns").set_value(["Age", "Gender"]).run()
    assert not at.exception, at.exception
    size = next(p.size for p in _last_run(at).profiles if p.segment == 3)
    assert any(f"{size:,} customers" in m.value for m in at.markdown)


def _last_run(at):
    settings = at.session_state["settings"]
    return _logic.segment(_logic.demo_upload(), settings)


def test_gaussian_mixture_curves_include_bic():
    settings = Settings((INCOME, SPENDING), algorithm="gmm")
    result = _logic.segment(_logic.demo_upload(), settings)
    curves = _logic.k_curves(result.k_selection)
    bic = curves[curves["index"] == "BIC (Gaussian mixture)"]
    assert list(bic["k"]) == list(result.k_selection.k_values)
    assert bic.loc[bic["chosen"], "k"].tolist() == [result.k_selection.k]
    kmeans = _logic.k_curves(
        _logic.segment(_logic.demo_upload(), Settings((INCOME, SPENDING))).k_selection
    )
    assert "BIC (Gaussian mixture)" not in set(kmeans["index"])


def test_choices_survive_a_visit_to_other_pages():
    at = _run_demo(_app(), algorithm="gmm", covariance_type="diag")
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    at.number_input(key="random_state").set_value(7).run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    settings = at.session_state["settings"]
    assert (settings.algorithm, settings.covariance_type) == ("gmm", "diag")
    assert settings.random_state == 7
    at.sidebar.radio(key="page").set_value("3 · Features").run()  # back again
    assert at.selectbox(key="algorithm").value == "gmm"
    assert at.selectbox(key="covariance_type").value == "diag"
    assert at.number_input(key="random_state").value == 7
    assert at.multiselect[0].value == [INCOME, SPENDING]
    assert not at.exception


def _keys(at):
    kinds = ("selectbox", "slider", "number_input", "multiselect")
    keys = {w.key for kind in kinds for w in at.get(kind) if w.key}
    # a file setting's control is an uploader keyed NAME_upload (its id ends
    # with the key)
    for u in at.get("file_uploader"):
        key = u.proto.id.rsplit("-", 1)[-1]
        if key.endswith("_upload"):
            keys.add(key.removesuffix("_upload"))
    return keys


def test_features_page_draws_a_control_for_every_app_setting_of_the_table():
    """The app's controls are the settings table's (custseg.settings): every
    option the app offers has a widget keyed by its name, for the algorithms
    that use it; the k is picked on the Choose k page."""
    from custseg.settings import options

    at = _app()
    at.button[0].click().run()
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    table = [o for o in options("app") if o.name not in ("features", "n_clusters")]
    assert {"categorical_weight", "stability_resamples", "id_columns"} <= {
        o.name for o in table
    }
    for algorithm in ("kmeans", "agglomerative", "gmm", "hdbscan"):
        at.selectbox(key="algorithm").set_value(algorithm).run()
        drawn = _keys(at)
        expected = {o.name for o in table if o.used_by(algorithm)}
        assert expected <= drawn, (algorithm, expected - drawn)
        assert not {o.name for o in table} - expected & drawn, algorithm
    # a choice made there reaches the run
    at.selectbox(key="algorithm").set_value("kmeans").run()
    at.number_input(key="categorical_weight").set_value(1.0).run()
    at.number_input(key="stability_resamples").set_value(0).run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    assert not at.exception, at.exception
    settings = at.session_state["settings"]
    assert (settings.categorical_weight, settings.stability_resamples) == (1.0, 0)


# -- the RFM page ------------------------------------------------------------------


def _rfm_page(at):
    at.sidebar.radio(key="page").set_value("RFM · order log").run()
    assert not at.exception, at.exception
    return at


def test_rfm_page_on_the_sample_matches_the_library():
    from custseg.pipeline import rfm

    at = _rfm_page(_app())
    assert "Upload an order log above" in _texts(at)
    next(b for b in at.button if b.label == "Use the sample order log").click().run()
    roles = {s.label: s.value for s in at.selectbox}
    assert roles["Customer id"] == "CustomerID" and roles["Unit price"] == "UnitPrice"
    assert roles["Line amount (instead of quantity x price)"] == "(none)"
    next(b for b in at.button if b.label == "Run RFM").click().run()
    assert not at.exception, at.exception
    assert not at.error

    want = rfm().rfm.cleaning
    headline = at.success[0].value
    assert headline.startswith(f"**{want.customers:,} customers** from {want.used:,}")
    assert f"of {want.lines:,} lines, {want.orders:,} orders" in headline
    assert f"net revenue {want.net_revenue:,.2f}" in headline
    [cleaning] = [d.value for d in at.dataframe if "what happened" in d.value.columns]
    lines = dict(zip(cleaning["what happened"], cleaning["lines"], strict=True))
    dropped = sum(n for what, n in lines.items() if what.startswith("dropped:"))
    assert dropped + lines["used"] == lines["all lines in the file"] == want.lines
    subheaders = [h.value for h in at.subheader]
    assert "RFM segments" in subheaders and "RFM segments and clusters" in subheaders
    cards = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(cards) == len(rfm().profiles)
    # Behaviour per cluster: one column per cluster, every customer counted,
    # values written for people (percentages, not 0.2869).
    [behaviour] = [d.value for d in at.dataframe if "measure" in d.value.columns]
    assert len(behaviour.columns) - 1 == len(cards)
    sizes = behaviour.set_index("measure").loc["customers"]
    assert sum(int(v.replace(",", "")) for v in sizes) == want.customers
    weekend = behaviour.set_index("measure").loc["weekend orders (share)"]
    assert all(v.endswith("%") for v in weekend)
    # The customers who only cancelled are named, with the reason.
    unscored = [w.value for w in at.warning if "no usable purchase" in w.value]
    reasons = "; ".join(
        f"{n}: {why.removeprefix('no usable purchase: ')}"
        for why, n in want.unscored_reasons.items()
    )
    assert "only cancellations or returns" in reasons
    assert unscored == [
        f"{want.unscored_customers} customers of the log have no usable purchase "
        f"({reasons}). They are in the segments download without a segment, with "
        "the reason."
    ]
    others = [w.value for w in at.warning if "no usable purchase" not in w.value]
    print(others)
    assert all(
        "RFM segments do not rest on these clusters" in w
        or "stable" in w
        or "structure" in w
        for w in others
    ), others


def test_rfm_page_lets_a_person_correct_the_columns():
    rng = np.random.default_rng(9)
    n = 600
    log = pd.DataFrame(
        {
            "client": rng.integers(1, 80, n),
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            "total": rng.gamma(2.0, 30.0, n).round(2),
        }
    )
    data = log.to_csv(index=False).encode()
    at = _rfm_page(_app())
    at.get("file_uploader")[0].upload("orders.csv", data, "text/csv").run()
    roles = {s.label: s for s in at.selectbox}
    assert roles["Customer id"].value == "client"
    assert roles["Line amount (instead of quantity x price)"].value == "total"
    assert roles["Order date"].value == "(none)"  # 'when' is not a usual name
    next(b for b in at.button if b.label == "Run RFM").click().run()
    assert not at.exception, at.exception
    [error] = [e.value for e in at.error]
    assert "no date column (pick it under *Which column is which*)" in error
    assert "--" not in error and "Traceback" not in error
    roles["Order date"].set_value("when").run()
    next(b for b in at.button if b.label == "Run RFM").click().run()
    assert not at.exception and not at.error, at.error
    customers = log["client"].nunique()
    assert at.success[0].value.startswith(
        f"**{customers:,} customers** from {n:,} of {n:,} lines"
    )


# the run warns, as a library call does; the page says it in its own words
@pytest.mark.filterwarnings("ignore::custseg.errors.CustsegWarning")
def test_rfm_page_on_a_log_without_money_shows_recency_and_frequency():
    rng = np.random.default_rng(5)
    n = 900
    log = pd.DataFrame(
        {
            "member_id": rng.integers(1, 120, n),
            "order_date": (
                pd.Timestamp("2024-01-01")
                + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
            ).strftime("%Y-%m-%d"),
        }
    )
    at = _rfm_page(_app())
    at.get("file_uploader")[0].upload("visits.csv", log.to_csv(index=False).encode())
    at.run()
    next(b for b in at.button if b.label == "Run RFM").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "no money column" in at.success[0].value
    [said] = [w.value for w in at.warning if "no money column" in w.value]
    assert "Which column is which" in said and "--" not in said
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Net revenue"] == "n/a"
    subheaders = [h.value for h in at.subheader]
    assert "Recency and frequency" in subheaders
    assert "Recency, frequency and monetary value" not in subheaders


def _with_previous_model(name):
    """The demo on the Features page, with the model of a first run on income
    and spending uploaded as the previous model; the app and that first run."""
    first = _logic.segment(
        _logic.demo_upload(), Settings((INCOME, SPENDING), stability_resamples=0)
    )
    _, model = _logic.output_files(first)["model"]
    at = _app()
    at.button[0].click().run()
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    [uploader] = [
        u for u in at.get("file_uploader") if u.proto.label.startswith("Previous model")
    ]
    uploader.upload(name, model, "application/octet-stream").run()
    return at, first


def test_continuity_with_a_previous_model_uploaded_on_the_features_page():
    at, first = _with_previous_model("last-month.skops")
    at.multiselect[0].set_value([INCOME, SPENDING]).run()
    assert not at.exception, at.exception
    assert "Using **last-month.skops**." in [c.value for c in at.caption]
    at.number_input(key="stability_resamples").set_value(0).run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    assert not at.exception, at.exception
    assert "Who moved since the previous model" in [h.value for h in at.subheader]
    settings = at.session_state["settings"]
    assert settings.previous and settings.previous.endswith("last-month.skops")
    result = _logic.segment(_logic.demo_upload(), settings)
    m = result.migration
    text = _texts(at)
    assert "Compared with last-month.skops:" in text
    assert f"{m.moved:,} of {m.moved + m.stayed:,} customers" in text
    # the same data and settings: every segment persists and nobody moved
    assert m.moved == 0 and len(m.persisted) == len(result.profiles)
    cards = [v.value for v in at.markdown if v.value.startswith("#### ")]
    assert cards == [f"#### {p.segment} · {p.name}" for p in first.profiles]


def test_compare_page_runs_the_methods_side_by_side():
    from custseg.pipeline import compare

    at = _app()
    at.button[0].click().run()
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    at.multiselect[0].set_value([INCOME, SPENDING]).run()
    at.number_input(key="stability_resamples").set_value(0).run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    at.sidebar.radio(key="page").set_value("Compare methods").run()
    at.multiselect(key="compare_algorithms").set_value(
        ["kmeans", "gmm", "hdbscan"]
    ).run()
    next(b for b in at.button if b.label == "Compare").click().run()
    assert not at.exception, at.exception
    [table] = [d.value for d in at.dataframe if "method" in d.value.columns]
    want = compare(
        settings=at.session_state["settings"], algorithms=["kmeans", "gmm", "hdbscan"]
    )
    assert list(table["method"]) == list(want.table["label"])
    assert list(table["k"]) == list(want.table["k"])
    assert list(table["silhouette"].round(6)) == list(want.table["silhouette"].round(6))
    assert "How alike the methods' segments are" in [h.value for h in at.subheader]
    assert len(at.get("vega_lite_chart")) == 1


def test_output_job_writes_in_the_background_and_keeps_its_error(monkeypatch):
    result = _logic.segment(
        _logic.demo_upload(), Settings((INCOME, SPENDING), stability_resamples=0)
    )
    steps = []
    job = _logic.OutputJob(result)
    assert job.wait(300)
    assert job.error is None and job.fraction == 1.0
    assert set(job.files) >= {"segments", "report", "model", "profiles", "summary"}
    name, data = _logic.segments_csv(result)
    assert (name, data) == job.files["segments"]  # the file offered at once

    def broken(*args, **kwargs):
        steps.append(kwargs.get("progress"))
        raise OSError("disk full")

    monkeypatch.setattr(_logic.pipeline, "write_outputs", broken)
    failed = _logic.OutputJob(result)
    assert failed.wait(60)
    assert isinstance(failed.error, OSError) and failed.files is None
    assert steps and callable(steps[0])


def test_profile_heatmap_cells_read_like_the_cards_on_a_wide_table():
    from tests.tables import campaign_like

    df, _ = campaign_like(900)
    upload = _logic.Upload.from_bytes(
        "campaign.tsv", df.to_csv(sep="\t", index=False).encode()
    )
    _, quality = _logic.read_upload(upload)
    result = _logic.segment(
        upload,
        Settings(tuple(_logic.default_features(quality)), stability_resamples=0),
    )
    cells = _logic.profile_cells(result)
    assert len(set(cells["feature"])) > 8  # the tall layout
    assert not cells["text"].str.contains("e+", regex=False).any()
    label = dict(zip(cells["feature"], cells["label"], strict=True))
    assert label["MntWines"] == "Spend on wines"
    years = cells.loc[cells["feature"] == "Year_Birth", "text"]
    assert years.str.fullmatch(r"19\d\d").all()  # a year, not '1,963'
    flags = cells.loc[cells["feature"] == "Response", "text"]
    assert flags.str.fullmatch(r"\d+%").all()


def test_rfm_page_honours_no_invoice_column_and_keeps_the_choice():
    from custseg.pipeline import rfm
    from custseg.transactions import NO_COLUMN

    at = _rfm_page(_app())
    next(b for b in at.button if b.label == "Use the sample order log").click().run()
    invoice = next(s for s in at.selectbox if s.label.startswith("Order or invoice"))
    invoice.set_value("(none)").run()
    next(b for b in at.button if b.label == "Run RFM").click().run()
    assert not at.exception and not at.error, at.error
    want = rfm(columns={"invoice": NO_COLUMN}).rfm.cleaning
    assert want.columns.invoice is None
    assert f"{want.orders:,} orders" in at.success[0].value
    at.sidebar.radio(key="page").set_value("1 · Data").run()
    at.sidebar.radio(key="page").set_value("RFM · order log").run()
    invoice = next(s for s in at.selectbox if s.label.startswith("Order or invoice"))
    assert invoice.value == "(none)"  # still what the person chose
    assert f"{want.orders:,} orders" in at.success[0].value


def test_a_new_table_forgets_the_previous_model_and_comparison():
    at, _ = _with_previous_model("last.skops")
    assert "Using **last.skops**." in [c.value for c in at.caption]
    at.sidebar.radio(key="page").set_value("1 · Data").run()
    at.button[0].click().run()  # the demo again: a new table
    at.sidebar.radio(key="page").set_value("3 · Features").run()
    assert "Using **last.skops**." not in [c.value for c in at.caption]
    assert at.session_state["previous"] is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "Pass --encoding (e.g. --encoding latin-1).",
            "If accented letters look wrong, save the file again as UTF-8 CSV "
            "(in Excel: Save As, CSV UTF-8) and upload that.",
        ),
        (
            "the file is 1.5 MB; pass --delimiter.",
            "the file is 1.5 MB. If the columns are not split right, save the "
            "file again as a comma-separated CSV (or an Excel workbook) and "
            "upload that.",
        ),
        (
            "Sheet 'Sheet 2.1' is empty. Pass --sheet with one of 'Notes'.",
            "Sheet 'Sheet 2.1' is empty. The app reads the first sheet: move the "
            "table there, or save that sheet on its own, and upload it again.",
        ),
        ("Set it with --k 4.", "Pick the number of segments on 4 · Choose k."),
        ("No option named here.", "No option named here."),
    ],
)
def test_app_words_replace_whole_sentences_only(text, want):
    assert _logic.app_words(text) == want
