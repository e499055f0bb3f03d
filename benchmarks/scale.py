"""``custseg run`` from 100,000 to 10,000,000 customers, against the notebook way.

Usage::

    python benchmarks/scale.py [--sizes 100000 1000000 10000000] [--format parquet]
                               [--notebook-sizes 10000 30000]

Tables have 8 numeric features, a categorical (Gender) and an id, drawn from five
planted groups (``benchmarks/_synth.py``, fixed seed). Each run is a fresh
subprocess: wall time from outside, peak memory as that process's maximum
resident set size (``os.wait4``), stage times from its summary.json.

The baseline is the common notebook way, measured in the same run: read the CSV
with pandas, ``StandardScaler``, then for k = 2..10 scikit-learn ``KMeans`` with
its defaults and the silhouette on every row. Its silhouettes grow with the
square of the rows (PERF-NOTES: 144 s at 50,000 rows, about 15 hours at 1M), so
it is measured at ``--notebook-sizes`` and extrapolated to the larger sizes from
the largest one measured: fits linearly, silhouettes quadratically. The table
says which figures are measured and which are extrapolated.

Memory is judged against the prepared feature matrix (rows x prepared columns x
4 bytes, float32): peak minus a fixed overhead, the peak of the same command on
10,000 rows (interpreter, libraries, report), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _synth import FEATURES, write_tables  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work"

NOTEBOOK = """
import json, sys, time
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
X = StandardScaler().fit_transform(df[json.loads(sys.argv[2])])
t1 = time.perf_counter()
fits = sils = 0.0
for k in range(2, 11):
    a = time.perf_counter()
    labels = KMeans(n_clusters=k, random_state=0).fit_predict(X)
    b = time.perf_counter()
    silhouette_score(X, labels)
    fits += b - a
    sils += time.perf_counter() - b
print(json.dumps({"load": t1 - t0, "fits": fits, "silhouettes": sils}))
"""

STAGES = [
    ("load", ["load"]),
    ("quality", ["quality"]),
    ("prepare", ["segment.prepare"]),
    ("choose k", ["segment.choose_k"]),
    ("final fit", ["segment.final_fit"]),
    ("profile", ["segment.profile"]),
    ("write", ["write_segments", "write_profiles", "write_model"]),
    ("report", ["write_report"]),
]


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and stdout of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, out


def run_custseg(path: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=WORK) as out:
        cmd = [sys.executable, "-m", "custseg", "run", str(path), "-o", out, "-q"]
        wall, rss, _ = measure(cmd)
        summary = json.loads((Path(out) / "summary.json").read_text())
        report = Path(out) / "report.html"
        summary["report_bytes"] = report.stat().st_size
    n_cols = summary["features"]["prepared_columns"]
    return {"wall": wall, "rss": rss, "summary": summary, "prepared_columns": n_cols}


def run_notebook(path: Path) -> dict[str, float]:
    wall, rss, out = measure(
        [sys.executable, "-c", NOTEBOOK, str(path), json.dumps(FEATURES)]
    )
    return {"wall": wall, "rss": rss, **json.loads(out)}


def fmt_s(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000]
    )
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument(
        "--notebook-sizes", type=int, nargs="*", default=[10_000, 30_000]
    )
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)

    small = write_tables(10_000, WORK)[args.format]
    overhead = run_custseg(small)["rss"]
    print(
        f"fixed overhead (peak RSS of the same run on 10,000 rows): {overhead:.0f} MiB"
    )

    notebook: dict[int, dict[str, float]] = {}
    for n in args.notebook_sizes:
        notebook[n] = run_notebook(write_tables(n, WORK)["csv"])
        nb = notebook[n]
        print(
            f"notebook way at {n:,} rows: {fmt_s(nb['wall'])} "
            f"(fits {nb['fits']:.1f} s, silhouettes {nb['silhouettes']:.1f} s)"
        )
    ref_n = max(notebook) if notebook else None

    def notebook_time(n: int) -> tuple[float, str]:
        if n in notebook:
            return notebook[n]["wall"], "measured"
        assert ref_n is not None
        ref = notebook[ref_n]
        scale = n / ref_n
        rest = ref["wall"] - ref["fits"] - ref["silhouettes"]
        est = rest * scale + ref["fits"] * scale + ref["silhouettes"] * scale**2
        return est, f"extrapolated from {ref_n:,}"

    rows = []
    for n in args.sizes:
        path = write_tables(n, WORK)[args.format]
        print(f"running custseg on {n:,} rows ({args.format}) ...", flush=True)
        res = run_custseg(path)
        rows.append((n, res))

    print()
    print(
        "| rows | "
        + " | ".join(name for name, _ in STAGES)
        + " | total | peak memory | feature matrix | (peak - overhead) / matrix "
        "| report | k | notebook way | speed-up |"
    )
    print("|" + "---|" * (len(STAGES) + 10))
    for n, res in rows:
        summary = res["summary"]
        assert isinstance(summary, dict)
        timings = summary["timings_seconds"]
        stages = [sum(timings.get(k, 0.0) for k in keys) for _, keys in STAGES]
        matrix_mib = n * int(res["prepared_columns"]) * 4 / 2**20  # type: ignore[call-overload]
        rss = float(res["rss"])  # type: ignore[arg-type]
        wall = float(res["wall"])  # type: ignore[arg-type]
        cells = [f"{n:,}"] + [f"{s:.1f}" for s in stages]
        cells += [
            f"**{wall:.1f} s**",
            f"{rss:,.0f} MiB",
            f"{matrix_mib:,.0f} MiB",
            f"{(rss - overhead) / matrix_mib:.2f}x",
            f"{summary['report_bytes'] / 2**20:.1f} MB",
            str(summary["k"]),
        ]
        if ref_n is not None:
            nb_time, how = notebook_time(n)
            cells += [f"{fmt_s(nb_time)} ({how})", f"**{nb_time / wall:,.0f}x**"]
        else:
            cells += ["-", "-"]
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        "Stage times in seconds from summary.json; 'total' is the wall time of the "
        "whole command (interpreter start and imports included)."
    )


if __name__ == "__main__":
    main()
