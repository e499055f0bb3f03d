"""The web app on a 100,000-row upload, in headless Chromium against ``custseg app``.

Times (median of --repeat):
- run: from clicking "Run segmentation" to the segment cards on screen;
- redraw: from changing the scatter's x axis to the new chart on screen
  (cached: no clustering again);
- baseline: the same run through ``custseg.app._logic.segment`` (that is,
  ``custseg.pipeline.run``) in this process, with no browser.

    python benchmarks/app.py --rows 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import make_table  # noqa: E402
from tests.test_app_browser import (  # noqa: E402
    ARGS,
    free_port,
    go_to,
    remove_tag,
    start_app,
    stop_app,
    wait_idle,
)

from custseg.app import _logic  # noqa: E402

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)", "Visits per Month"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import pyarrow.csv as pacsv
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium package")
    expect.set_options(timeout=120_000)
    work = Path(tempfile.mkdtemp(prefix="custseg-bench-app-"))
    csv = work / "customers.csv"
    pacsv.write_csv(make_table(args.rows, seed=0), csv)
    print(f"{args.rows:,} rows, {csv.stat().st_size / 1e6:.1f} MB CSV")

    base = []
    upload = _logic.Upload.from_bytes(csv.name, csv.read_bytes())
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        _logic.segment(upload, _logic.Settings(features=tuple(FEATURES)))
        base.append(time.perf_counter() - t0)
        print(f"baseline {base[-1]:.2f} s", flush=True)

    runs, redraws = [], []
    for i in range(args.repeat):
        # A new server each time, so that nothing is cached from the last round.
        port = free_port()
        proc = start_app(port, work / f"server{i}.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(120_000)
                page.goto(f"http://127.0.0.1:{port}")
                expect(page.get_by_text("Your customer table")).to_be_visible()
                page.locator('input[type="file"]').set_input_files(str(csv))
                expect(page.get_by_text(f"{args.rows:,} customers")).to_be_visible()
                print("loaded", flush=True)
                go_to(page, "3 · Features")
                for name in ["Age", "Tenure (years)", "Orders per Year"]:
                    remove_tag(page, name)
                for name in ["Average Basket ($)", "Days Since Last Visit", "Gender"]:
                    remove_tag(page, name)
                print("features chosen", flush=True)
                t0 = time.perf_counter()
                page.get_by_role("button", name="Run segmentation").click()
                cards = page.locator('[class*="st-key-segment-card-"]').first
                try:
                    expect(cards).to_be_visible()
                except AssertionError:
                    page.screenshot(path="/tmp/bench-stuck.png", full_page=True)
                    raise
                page.wait_for_selector(".vega-embed")
                wait_idle(page)
                runs.append(time.perf_counter() - t0)
                # change the x axis; redrawn when the scatter's pixels change
                before = page.evaluate(
                    "document.querySelector('.vega-embed canvas').toDataURL()"
                )
                combo = page.get_by_role("combobox", name="x axis")
                combo.click()
                combo.fill("Visits per Month")
                t0 = time.perf_counter()
                combo.press("Enter")
                page.wait_for_function(
                    "before => { const c = document.querySelector('.vega-embed "
                    "canvas'); if (!c) return false; const url = c.toDataURL(); "
                    "return url !== before && url.length > 20000; }",
                    arg=before,
                    polling=25,
                )
                redraws.append(time.perf_counter() - t0)
                browser.close()
        finally:
            stop_app(proc)
    shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    print(f"\n{'step':<44} {'median s':>9} {'runs':>28}")
    rows = [
        ("baseline: pipeline.run in process", base),
        ("app: click Run -> segment cards shown", runs),
        ("app: change scatter x axis -> redrawn", redraws),
    ]
    for label, values in rows:
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:<44} {med(values):>9.2f} {shown:>28}")
    print(
        f"\napp run / pipeline.run: {med(runs) / med(base):.2f}x; "
        f"redraw / app run: {med(redraws) / med(runs):.3f} "
        f"({med(runs) / med(redraws):.0f}x faster than segmenting again)"
    )


if __name__ == "__main__":
    main()
