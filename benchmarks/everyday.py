"""Everyday runs, each against the notebook it replaces, measured in the same run.

Usage::

    python benchmarks/everyday.py [--repeat 3] [--rows help demo rfm 1m 10m app]

Every row is whole processes (interpreter start and imports included), the
median of ``--repeat`` runs, custseg and its baseline alternating so that a
busy spell on this shared machine hits both:

- ``custseg --help`` against ``python -c pass``;
- ``custseg run`` on the bundled 200-row demo against the notebook way on the
  same file: ``pd.read_csv``, ``StandardScaler`` on the numeric columns,
  ``KMeans(k, n_init=10, random_state=0)`` and ``silhouette_score`` for
  k = 2..10, the best k refitted, one seaborn scatter saved as PNG, the labelled
  table written as CSV;
- ``custseg rfm`` on the bundled Online Retail sample against a notebook RFM:
  pandas groupby for recency, order count and spend, quintile scores, KMeans
  k = 2..10 with the silhouette on log-scaled, standardised RFM, one plot, CSV;
- ``custseg run`` on a 1M-row CSV (8 numeric, a categorical, an id;
  ``benchmarks/_synth.py``) against a pandas read plus one scikit-learn
  ``KMeans(8)`` fit on the same columns;
- ``custseg run`` on a 10M-row Parquet file end to end, with its peak memory
  (no baseline: the notebook way needs hours for its silhouettes);
- the web app, upload to segment cards, on 8,950 x 17 (``tests/tables.py``'s
  credit-card table) and 100,000 rows, in headless Chromium (Debian's
  ``chromium``, Playwright), and from the cards to the CSV download button; the
  baseline is ``pipeline.run`` on the same file in this process.

Targets (issue 19) are printed beside each row; they live here, not in timed
tests. Data files are written once to ``benchmarks/_work``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _synth import FEATURES, write_tables  # noqa: E402

DEMO_NOTEBOOK = """
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
df = pd.read_csv(sys.argv[1])
cols = [c for c in df.select_dtypes("number").columns if "id" not in c.lower()]
X = StandardScaler().fit_transform(df[cols])
scores = {}
for k in range(2, 11):
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
    scores[k] = silhouette_score(X, labels)
best = max(scores, key=scores.get)
df["segment"] = KMeans(n_clusters=best, n_init=10, random_state=0).fit_predict(X)
sns.scatterplot(data=df, x=cols[-2], y=cols[-1], hue="segment", palette="tab10")
plt.savefig(sys.argv[2] + "/scatter.png", dpi=90)
df.to_csv(sys.argv[2] + "/segments.csv", index=False)
"""

RFM_NOTEBOOK = """
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
df = pd.read_csv(sys.argv[1], parse_dates=["InvoiceDate"], dtype={"CustomerID": str})
df = df.dropna(subset=["CustomerID"])
df = df[(df["Quantity"] > 0) & (df["UnitPrice"] > 0)]
df["Spend"] = df["Quantity"] * df["UnitPrice"]
snapshot = df["InvoiceDate"].max() + pd.Timedelta(days=1)
rfm = df.groupby("CustomerID").agg(
    Recency=("InvoiceDate", lambda d: (snapshot - d.max()).days),
    Frequency=("InvoiceNo", "nunique"),
    Monetary=("Spend", "sum"),
)
for col, asc in (("Recency", False), ("Frequency", True), ("Monetary", True)):
    ranks = rfm[col].rank(method="first", ascending=asc)
    rfm[col[0] + "_score"] = pd.qcut(ranks, 5, labels=[1, 2, 3, 4, 5]).astype(int)
X = StandardScaler().fit_transform(np.log1p(rfm[["Recency", "Frequency", "Monetary"]]))
scores = {}
for k in range(2, 11):
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
    scores[k] = silhouette_score(X, labels)
best = max(scores, key=scores.get)
rfm["segment"] = KMeans(n_clusters=best, n_init=10, random_state=0).fit_predict(X)
sns.scatterplot(data=rfm, x="Recency", y="Monetary", hue="segment", palette="tab10")
plt.yscale("log")
plt.savefig(sys.argv[2] + "/rfm.png", dpi=90)
rfm.to_csv(sys.argv[2] + "/rfm.csv")
"""

READ_AND_FIT = """
import json, sys
import pandas as pd
from sklearn.cluster import KMeans
df = pd.read_csv(sys.argv[1])
KMeans(n_clusters=8, random_state=0).fit(df[json.loads(sys.argv[2])].to_numpy())
"""

MIB = 2**20


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one subprocess, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def custseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "custseg", *args]


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def paired(
    ours: Callable[[Path], list[str]],
    base: Callable[[Path], list[str]] | None,
    repeat: int,
) -> tuple[list[float], list[float], float]:
    """Alternate custseg and its baseline ``repeat`` times, each in a fresh
    output folder: (custseg walls, baseline walls, custseg's peak MiB)."""
    walls, bases, peak = [], [], 0.0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="custseg-everyday-") as tmp:
            wall, rss = measure(ours(Path(tmp) / "custseg"))
            walls.append(wall)
            peak = max(peak, rss)
            if base is not None:
                out = Path(tmp) / "base"
                out.mkdir()
                bases.append(measure(base(out))[0])
    return walls, bases, peak


def app_rows(repeat: int) -> list[tuple[str, list[float], list[float], str]]:
    """Upload to segment cards and cards to the CSV download, in Chromium."""
    import pyarrow.csv as pacsv
    from _synth import make_table
    from playwright.sync_api import expect, sync_playwright
    from tests.tables import credit_card_like
    from tests.test_app_browser import ARGS, free_port, go_to, start_app, stop_app

    from custseg import pipeline

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("the app rows need Debian's chromium package")
    expect.set_options(timeout=300_000)
    work = Path(tempfile.mkdtemp(prefix="custseg-everyday-app-"))
    tables = {}
    wide, _ = credit_card_like(8950)
    tables["8,950 x 17"] = work / "credit_card.csv"
    wide.to_csv(tables["8,950 x 17"], index=False)
    tables["100,000 x 10"] = work / "customers_100k.csv"
    pacsv.write_csv(make_table(100_000), tables["100,000 x 10"])

    rows = []
    for label, csv in tables.items():
        cards, downloads, base = [], [], []
        for i in range(repeat):
            t0 = time.perf_counter()
            pipeline.run(csv)
            base.append(time.perf_counter() - t0)
            port = free_port()
            proc = start_app(port, work / f"server{i}.log")
            try:
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=chromium, args=ARGS)
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.set_default_timeout(300_000)
                    page.goto(f"http://127.0.0.1:{port}")
                    expect(page.get_by_text("Your customer table")).to_be_visible()
                    page.locator('input[type="file"]').set_input_files(str(csv))
                    expect(
                        page.get_by_text("customers", exact=False).first
                    ).to_be_visible()
                    go_to(page, "3 · Features")
                    t0 = time.perf_counter()
                    page.get_by_role("button", name="Run segmentation").click()
                    card = page.locator('[class*="st-key-segment-card-"]').first
                    expect(card).to_be_visible()
                    cards.append(time.perf_counter() - t0)
                    go_to_downloads = time.perf_counter()
                    page.locator('[data-testid="stSidebar"]').get_by_text(
                        "6 · Downloads"
                    ).click()
                    button = page.get_by_role("button", name="Segments (CSV)")
                    expect(button).to_be_visible()
                    downloads.append(time.perf_counter() - go_to_downloads)
                    browser.close()
            finally:
                stop_app(proc)
        rows.append((f"app {label}: upload to cards", cards, base, "under 3 s"))
        rows.append((f"app {label}: cards to CSV download", downloads, [], "under 1 s"))
    shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--rows",
        nargs="+",
        default=["help", "demo", "rfm", "1m", "10m", "app"],
        choices=["help", "demo", "rfm", "1m", "10m", "app"],
    )
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    from custseg.datasets import mall_customers_path, online_retail_sample_path

    demo = str(mall_customers_path())
    sample = WORK / "online_retail_sample.csv"
    if not sample.exists():  # the notebook reads a plain CSV, as its users would
        import gzip

        sample.write_bytes(gzip.decompress(online_retail_sample_path().read_bytes()))
    r = args.repeat
    rows: list[tuple[str, list[float], list[float], str, float | None]] = []

    def add(label: str, target: str, ours, base, peak: bool = False) -> None:  # type: ignore[no-untyped-def]
        walls, bases, rss = paired(ours, base, r)
        rows.append((label, walls, bases, target, rss if peak else None))
        print(f"done: {label}", file=sys.stderr, flush=True)

    if "help" in args.rows:
        add(
            "custseg --help vs python -c pass",
            "under 0.3 s",
            lambda out: custseg("--help"),
            lambda out: python("pass"),
        )
    if "demo" in args.rows:
        add(
            "run, 200-row demo vs the notebook way",
            "at most 1.0x",
            lambda out: custseg("run", "--out", str(out)),
            lambda out: python(DEMO_NOTEBOOK, demo, str(out)),
        )
    if "rfm" in args.rows:
        add(
            "rfm, bundled sample vs notebook RFM",
            "at most 1.0x",
            lambda out: custseg("rfm", "--out", str(out)),
            lambda out: python(RFM_NOTEBOOK, str(sample), str(out)),
        )
    if "1m" in args.rows:
        csv = write_tables(1_000_000, WORK)["csv"]
        add(
            "run, 1M-row CSV vs pandas read + one KMeans fit",
            "at most 3x",
            lambda out: custseg("run", str(csv), "--out", str(out)),
            lambda out: python(
                READ_AND_FIT, str(csv), __import__("json").dumps(FEATURES)
            ),
            peak=True,
        )
    if "10m" in args.rows:
        parquet = write_tables(10_000_000, WORK)["parquet"]
        add(
            "run, 10M-row Parquet, end to end",
            "under 20 s, peak under 2 GB",
            lambda out: custseg("run", str(parquet), "--out", str(out)),
            None,
            peak=True,
        )
    if "app" in args.rows:
        for label, walls, bases, target in app_rows(r):
            rows.append((label, walls, bases, target, None))

    med = statistics.median
    print()
    print(
        "| what | custseg | baseline, same run | ratio | peak memory | target | runs |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, walls, bases, target, rss in rows:
        ours = med(walls)
        base = f"{med(bases):.2f} s" if bases else "-"
        ratio = f"{ours / med(bases):.2f}x" if bases else "-"
        peak = f"{rss:,.0f} MiB" if rss is not None else "-"
        shown = ", ".join(f"{w:.2f}" for w in walls)
        print(
            f"| {label} | {ours:.2f} s | {base} | {ratio} | {peak} | {target} | {shown} |"
        )
    print(
        f"\nMedians of {r} whole processes each (wall seconds); the app rows time "
        "the browser from the click to what appears on screen."
    )


if __name__ == "__main__":
    main()
