"""The HTML report in headless Chromium: it fits the window, every figure
loads, and warnings look like warnings, on a 29-column table."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.tables import campaign_like
from tests.test_app_browser import ARGS

from custseg import pipeline
from custseg.report import write_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    df, _ = campaign_like(1500)
    df.loc[df.index[:40], "Income"] = None  # a finding to show
    table = folder / "campaign.tsv"
    df.to_csv(table, sep="\t", index=False)
    result = pipeline.run(table, stability_resamples=5)
    return write_report(result, folder / "report.html")


@pytest.mark.parametrize("width", [1300, 900])
def test_the_report_fits_the_window_and_every_figure_loads(
    wide_report, chromium, width
):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(wide_report.as_uri())
        page.wait_for_load_state("load")
        # the page never scrolls sideways; a wide table scrolls in its own box
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        images = page.evaluate(
            """Array.from(document.images).map(i => [i.alt, i.naturalWidth,
                i.getBoundingClientRect().right <= document.documentElement.clientWidth])"""
        )
        assert len(images) >= 10
        assert all(w > 0 and inside for _, w, inside in images), images
        # findings a marketer must heed are drawn in a warning colour, not as
        # plain text
        colours = page.evaluate(
            """Array.from(document.querySelectorAll(
                'ul.findings li.warning, ul.findings li.problem'
            )).map(li => getComputedStyle(li).color)"""
        )
        assert colours and all(c != "rgb(31, 41, 51)" for c in colours), colours
        browser.close()
