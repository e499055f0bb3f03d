"""The web app end to end: ``custseg app`` in a subprocess, driven by headless Chromium.

Screenshots of each page state go to ``<tmp>/screenshots`` (the path is printed;
run with ``-s`` to see it, or set ``CUSTSEG_SCREENSHOTS`` to choose the folder).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from custseg.datasets import mall_customers_path

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("app_browser"),
]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INCOME = "Annual Income (k$)"
SPENDING = "Spending Score (1-100)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(port: int, log: Path) -> subprocess.Popen[bytes]:
    """``python -m custseg app`` on ``port``; returns once it answers."""
    with log.open("wb") as out:  # the child keeps its own copy of the handle
        proc = subprocess.Popen(
            [sys.executable, "-m", "custseg", "app", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"custseg app exited: {log.read_text()}")
        try:
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"custseg app did not start in 60 s: {log.read_text()}")


def stop_app(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_app(port, tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_app(proc)


def wait_idle(page) -> None:
    """Until Streamlit has finished the current script run."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")


def go_to(page, step: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(step).click()
    wait_idle(page)


def remove_tag(page, name: str) -> None:
    page.get_by_role("button", name=f"Remove {name}", exact=True).first.click()
    wait_idle(page)


def selectbox(page, label: str):
    return page.get_by_test_id("stSelectbox").filter(has_text=label)


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label``."""
    box = selectbox(page, label).get_by_role("combobox")
    box.click()
    box.press("ArrowDown")  # opens the list (the arrow button does not, here)
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def test_analyst_segments_the_mall_data_in_a_browser(app_url, chromium, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)

    shots = Path(os.environ.get("CUSTSEG_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")

    def snap(name: str) -> None:
        # Streamlit scrolls inside its main block, so grow the window to fit it.
        height = page.evaluate(
            "document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": max(900, int(height))})
        page.wait_for_timeout(700)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 900})

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(app_url)
        expect(page.get_by_text("Your customer table")).to_be_visible()
        snap("1-start")

        page.locator('input[type="file"]').set_input_files(str(mall_customers_path()))
        expect(page.get_by_text("200 customers, 5 columns")).to_be_visible()
        wait_idle(page)
        snap("2-data")

        go_to(page, "2 · Explore")
        expect(page.get_by_role("tab", name="Distributions")).to_be_visible()
        page.wait_for_selector(".vega-embed")
        snap("3-explore")

        go_to(page, "3 · Features")
        expect(page.get_by_text("Features to segment on")).to_be_visible()
        remove_tag(page, "Age")
        remove_tag(page, "Gender")
        selected = page.get_by_role("group", name="Selected values").first
        tags = selected.locator("[data-tag]").all_inner_texts()
        assert [t.strip() for t in tags] == [INCOME, SPENDING]
        snap("4-features")

        page.get_by_role("button", name="Run segmentation").click()
        cards = page.locator('[class*="st-key-segment-card-"]')
        expect(cards).to_have_count(5)
        wait_idle(page)
        page.wait_for_selector(".vega-embed")
        names = [cards.nth(i).locator("h4").inner_text() for i in range(5)]
        assert names[0] == "0 · Average income and spending"
        assert all(" · " in n and len(n) > 8 for n in names), names
        expect(page.get_by_text("k = 5, chosen automatically.")).to_be_visible()
        snap("5-segments")

        pick(page, "x axis", "Age")

        go_to(page, "4 · Choose k")
        expect(page.get_by_text("Automatic choice: k = 5.")).to_be_visible()
        page.wait_for_selector(".vega-embed")
        snap("6-choose-k")
        pick(page, "Number of segments to use", "4")
        page.get_by_role("button", name="Use k = 4 and show the segments").click()
        expect(cards).to_have_count(4)
        wait_idle(page)
        # the axis picked before the refit is still the chart's x axis
        expect(selectbox(page, "x axis").get_by_role("combobox")).to_have_value("Age")
        go_to(page, "4 · Choose k")
        pick(page, "Number of segments to use", "5 (automatic)")
        page.get_by_role("button", name="Use k = 5 and show the segments").click()
        expect(cards).to_have_count(5)
        wait_idle(page)

        go_to(page, "6 · Downloads")
        button = page.get_by_role("button", name="Segments (CSV)")
        expect(button).to_be_visible()
        # the report and model follow when the background job has written them
        expect(page.get_by_role("button", name="Report (HTML)")).to_be_visible()
        expect(page.get_by_role("button", name="Model (.skops)")).to_be_visible()
        snap("7-downloads")
        with page.expect_download() as info:
            button.click()
        download = info.value
        assert download.suggested_filename == "segments.csv"
        saved = tmp_path / "segments.csv"
        download.save_as(saved)
        with page.expect_download() as info:
            page.get_by_role("button", name="Audience (CSV)").click()
        audience = tmp_path / info.value.suggested_filename
        info.value.save_as(audience)

        page.get_by_text("1 · Data").click()
        page.locator('input[type="file"]').set_input_files(
            files=[
                {
                    "name": "garbage.csv",
                    "mimeType": "text/csv",
                    "buffer": bytes(range(256)) * 64,
                }
            ]
        )
        expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text(
            "garbage.csv:"
        )
        wait_idle(page)
        snap("8-bad-upload")
        browser.close()

    segments = pd.read_csv(saved)
    assert len(segments) == 200
    # the audience is segment 0's customers, identifier first
    people = pd.read_csv(audience)
    assert audience.name.startswith("audience-0-")
    assert list(people.columns) == ["CustomerID", "segment", "segment_name"]
    in_zero = segments.loc[segments["segment"] == 0, "CustomerID"]
    assert list(people["CustomerID"]) == list(in_zero)
    assert "segment" in segments.columns and "segment_name" in segments.columns
    assert sorted(segments["segment"].unique()) == [0, 1, 2, 3, 4]


def test_wide_table_cards_in_a_browser(app_url, chromium, tmp_path):
    """A 29-column marketing-campaign-like table (tests/tables.py): each card
    shows the five features that set the segment apart, formatted by role,
    with the rest folded, the rule in readable labels, and the stability."""
    from playwright.sync_api import expect, sync_playwright
    from tests.tables import campaign_like

    expect.set_options(timeout=90_000)
    df, _ = campaign_like(1200)
    table = tmp_path / "campaign.tsv"
    df.to_csv(table, sep="\t", index=False)
    shots = Path(os.environ.get("CUSTSEG_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(90_000)
        page.goto(app_url)
        page.locator('input[type="file"]').set_input_files(str(table))
        expect(page.get_by_text("1,200 customers, 29 columns")).to_be_visible()
        wait_idle(page)
        go_to(page, "3 · Features")
        page.get_by_role("button", name="Run segmentation").click()
        cards = page.locator('[class*="st-key-segment-card-"]')
        expect(cards.first).to_be_visible()
        wait_idle(page)
        page.wait_for_selector(".vega-embed")
        height = page.evaluate(
            "document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": max(900, int(height))})
        page.wait_for_timeout(700)
        page.screenshot(path=str(shots / "wide-segments.png"), full_page=True)
        for i in range(cards.count()):
            card = cards.nth(i)
            text = card.inner_text()
            bullets = card.locator("li").all_inner_texts()
            assert len([b for b in bullets if b.strip()]) == 5, bullets
            assert "more features" in text
            assert "Rule:" in text and "Stability:" in text and "Why:" in text
            assert "MntWines" not in text and "NumWebVisitsMonth" not in text
            assert "Spend on wines" in text or "Number of" in text
        browser.close()


_SVG_GEOMETRY = """(chart) => {
    const box = (e) => { const r = e.getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom]; };
    const q = (sel) => Array.from(chart.querySelectorAll(sel));
    return {
        xlabels: q('.role-axis').filter(a => a.getAttribute('aria-label')?.startsWith('X'))
            .flatMap(a => Array.from(a.querySelectorAll('.role-axis-label text')))
            .map(t => [t.textContent, box(t)]),
        ylabels: q('.role-axis').filter(a => a.getAttribute('aria-label')?.startsWith('Y'))
            .flatMap(a => Array.from(a.querySelectorAll('.role-axis-label text')))
            .map(t => [t.textContent, box(t)]),
        bars: q('.mark-rect.role-mark path').map(box),
    };
}"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return (
        a[0] < b[2] - 0.5
        and b[0] < a[2] - 0.5
        and a[1] < b[3] - 0.5
        and b[1] < a[3] - 0.5
    )


def _readable(
    labels: list[tuple[str, list[float]]], expected: list[str], *, slanted: bool = False
) -> None:
    """Every expected label drawn in full, none over another. Slanted labels
    (whose bounding boxes overlap even when the text does not) end at their
    ticks: those ends must be a line's height apart."""
    assert sorted(t for t, _ in labels) == sorted(expected)
    boxes = [b for _, b in labels]
    if slanted:
        ends = sorted(b[2] for b in boxes)
        assert all(b - a >= 14 for a, b in itertools.pairwise(ends)), labels
        return
    for i, a in enumerate(boxes):
        assert all(not _overlap(a, b) for b in boxes[i + 1 :]), labels


def test_explore_charts_draw_every_bar_and_label(app_url, chromium, tmp_path):
    """Categories: one visible bar and one label per value, none on top of
    another (Gender on the demo; an 8-level region); correlations: every
    column named in full on both axes (no 'CASH_ADVANCE_...' twice)."""
    import numpy as np
    from playwright.sync_api import expect, sync_playwright

    rng = np.random.default_rng(3)
    n = 400
    regions = [f"Region {c}" for c in "ABCDEFGH"]
    long_names = [
        "CASH_ADVANCE_FREQUENCY",
        "CASH_ADVANCE_TRX",
        "PURCHASES_INSTALLMENTS_FREQUENCY",
        "BALANCE",
    ]
    df = pd.DataFrame({name: rng.gamma(2.0, 50.0, n).round(2) for name in long_names})
    df.insert(0, "CUST_ID", [f"C{i:05d}" for i in range(n)])
    df["Region"] = rng.choice(regions, n)
    df["Gender"] = rng.choice(["Female", "Male"], n)
    table = tmp_path / "cards.csv"
    df.to_csv(table, index=False)

    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(app_url)
        page.locator('input[type="file"]').set_input_files(str(table))
        expect(page.get_by_text("400 customers, 7 columns")).to_be_visible()
        wait_idle(page)
        go_to(page, "2 · Explore")
        page.get_by_role("tab", name="Categories").click()
        charts = page.locator('[role="tabpanel"]:visible .vega-embed')
        expect(charts).to_have_count(2)
        page.wait_for_timeout(800)
        for i, levels in enumerate((regions, ["Female", "Male"])):
            geometry = charts.nth(i).evaluate(_SVG_GEOMETRY)
            _readable(geometry["ylabels"], levels)
            assert len(geometry["bars"]) == len(levels)
            assert all(b[3] - b[1] >= 15 for b in geometry["bars"]), geometry["bars"]
        page.screenshot(path=str(tmp_path / "categories.png"), full_page=True)

        page.get_by_role("tab", name="Correlations").click()
        chart = page.locator('[role="tabpanel"]:visible .vega-embed')
        expect(chart).to_have_count(1)
        page.wait_for_timeout(800)
        geometry = chart.first.evaluate(_SVG_GEOMETRY)
        _readable(geometry["xlabels"], long_names, slanted=True)
        _readable(geometry["ylabels"], long_names)
        width = page.evaluate("document.documentElement.clientWidth")
        assert all(b[2] <= width for _, b in geometry["xlabels"])
        browser.close()


def test_a_persons_whole_path_checked_against_the_library(app_url, chromium, tmp_path):
    """Upload, quality, explore, features, segments, choose k (a k whose
    segments warn), downloads with an audience, the RFM page on the sample
    order log, then continuity with the first model: no traceback, and the
    numbers on the page are the library's."""
    from playwright.sync_api import expect, sync_playwright

    from custseg.app import _logic
    from custseg.pipeline import rfm
    from custseg.settings import Settings

    expect.set_options(timeout=120_000)
    shots = Path(os.environ.get("CUSTSEG_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    upload = _logic.Upload.from_bytes("mall.csv", mall_customers_path().read_bytes())
    df, quality = _logic.read_upload(upload)
    features = tuple(_logic.default_features(quality))
    auto = _logic.segment(upload, Settings(features=features))
    eight = _logic.segment(upload, Settings(features=features, n_clusters=8))
    table = tmp_path / "mall.csv"
    table.write_bytes(upload.data)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)

        def snap(name: str) -> None:
            height = page.evaluate(
                "document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
            )
            page.set_viewport_size({"width": 1400, "height": max(900, int(height))})
            page.wait_for_timeout(700)
            page.screenshot(path=str(shots / f"path-{name}.png"), full_page=True)
            page.set_viewport_size({"width": 1400, "height": 900})

        def no_traceback() -> None:
            assert "Traceback" not in page.inner_text("body")
            assert not page.locator('[data-testid="stException"]').count()

        cards = page.locator('[class*="st-key-segment-card-"]')
        page.goto(app_url)
        page.locator('input[type="file"]').set_input_files(str(table))
        expect(
            page.get_by_text(f"{len(df):,} customers, {df.shape[1]} columns")
        ).to_be_visible()
        wait_idle(page)
        values = page.locator('[data-testid="stMetricValue"]')
        expect(values).to_have_count(4)
        metrics = values.all_inner_texts()
        assert metrics == [
            f"{len(df):,}",
            str(df.shape[1]),
            f"{int(df.isna().sum().sum()):,}",
            f"{quality.duplicate_rows:,}",
        ]
        snap("1-data")
        go_to(page, "2 · Explore")
        page.wait_for_selector(".vega-embed")
        snap("2-explore")
        go_to(page, "3 · Features")
        page.get_by_role("button", name="Run segmentation").click()
        expect(cards).to_have_count(len(auto.profiles))
        wait_idle(page)
        expect(
            page.get_by_text(f"k = {auto.k_selection.k}, chosen automatically.")
        ).to_be_visible()
        names = [cards.nth(i).locator("h4").inner_text() for i in range(cards.count())]
        assert names == [f"{p.segment} · {p.name}" for p in auto.profiles]
        sizes = [cards.nth(i).inner_text() for i in range(cards.count())]
        assert all(
            f"{p.size:,} customers" in t
            for p, t in zip(auto.profiles, sizes, strict=True)
        )
        shown = zip(_logic.cards(auto), auto.profiles, sizes, strict=True)
        for i, (card, profile, text) in enumerate(shown):
            bullets = [b.strip() for b in cards.nth(i).locator("li").all_inner_texts()]
            assert bullets[: len(card.profile)] == [
                f"{f}: {t}" for f, t in card.profile
            ]
            assert card.profile == profile.feature_lines()[: len(card.profile)]
            assert f"Suggested action: {profile.action_title}." in text
        snap("3-segments")
        no_traceback()

        go_to(page, "4 · Choose k")
        expect(
            page.get_by_text(f"Automatic choice: k = {auto.k_selection.k}.")
        ).to_be_visible()
        snap("4-choose-k")
        pick(page, "Number of segments to use", "8")
        page.get_by_role("button", name="Use k = 8 and show the segments").click()
        expect(cards).to_have_count(8)
        wait_idle(page)
        warnings = page.locator(
            '[data-testid="stAlertContentWarning"]'
        ).all_inner_texts()
        wanted = [
            c.text.removeprefix("- ").split(":")[0] for c in _logic.cautions(eight)
        ]
        assert wanted and all(any(w in shown for shown in warnings) for w in wanted), (
            warnings
        )
        assert any("What to do:" in shown for shown in warnings)
        snap("5-segments-k8")

        go_to(page, "6 · Downloads")
        with page.expect_download() as info:
            page.get_by_role("button", name="Segments (CSV)").click()
        segments = pd.read_csv(info.value.path())
        want = eight.segments_frame()
        assert list(segments["segment"]) == list(want["segment"])
        expect(page.get_by_role("button", name="Model (.skops)")).to_be_visible()
        with page.expect_download() as info:
            page.get_by_role("button", name="Model (.skops)").click()
        model = tmp_path / "last-month.skops"
        info.value.save_as(model)
        pick(
            page,
            "Segment",
            f"3 · {eight.profiles[3].name} ({eight.profiles[3].size:,})",
        )
        # the buttons carry segment 3's file once the page has rerun
        expect(
            page.get_by_text(f"{eight.profiles[3].size:,} customers. Text")
        ).to_be_visible()
        expect(page.locator("code", has_text="audience-3-")).to_be_visible()
        with page.expect_download() as info:
            page.get_by_role("button", name="Audience (CSV)").click()
        people = pd.read_csv(info.value.path())
        assert list(people["CustomerID"]) == list(
            want.loc[want["segment"] == 3, "CustomerID"]
        )
        snap("6-downloads")
        no_traceback()

        go_to(page, "RFM · order log")
        page.get_by_role("button", name="Use the sample order log").click()
        wait_idle(page)
        page.get_by_role("button", name="Run RFM").click()
        expect(
            page.get_by_text("Cleaning: what happened to every line")
        ).to_be_visible()
        wait_idle(page)
        cleaning = rfm().rfm.cleaning
        headline = page.locator(
            '[data-testid="stAlertContentSuccess"]'
        ).first.inner_text()
        assert headline.startswith(
            f"{cleaning.customers:,} customers from {cleaning.used:,} of {cleaning.lines:,} lines"
        )
        assert f"net revenue {cleaning.net_revenue:,.2f}" in headline
        snap("7-rfm")
        no_traceback()

        go_to(page, "3 · Features")
        page.get_by_text("More settings").click()
        page.locator('input[type="file"]').last.set_input_files(str(model))
        expect(page.get_by_text("Using last-month.skops.")).to_be_visible()
        wait_idle(page)
        page.get_by_role("button", name="Run segmentation").click()
        expect(page.get_by_text("Who moved since the previous model")).to_be_visible()
        wait_idle(page)
        moved = _logic.segment(upload, Settings(features=features, previous=str(model)))
        m = moved.migration
        expect(
            page.get_by_text(f"{m.moved:,} of {m.moved + m.stayed:,} customers")
        ).to_be_visible()
        names = [cards.nth(i).locator("h4").inner_text() for i in range(cards.count())]
        assert names == [f"{p.segment} · {p.name}" for p in moved.profiles]
        snap("8-continuity")
        no_traceback()
        browser.close()
