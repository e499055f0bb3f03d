"""Open the report in headless Chromium, as a user would."""

from __future__ import annotations

import pytest

from custseg.pipeline import run, write_outputs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_report_renders_with_every_image(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    paths = write_outputs(run(), tmp_path)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(paths["report"].as_uri())
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        headings = page.evaluate(
            "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
        )
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert len(images) >= 10
    assert all(complete and width > 200 for _, complete, width in images), images
    assert headings == [
        "Summary",
        "Data quality",
        "Exploration",
        "Choosing the number of segments",
        "Segments",
        "Details",
    ]
    # opens offline: nothing but the file itself and its embedded images is fetched
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 100_000
