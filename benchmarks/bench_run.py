"""Time ``custseg run`` end to end on synthetic customer tables; print a table.

Usage: python benchmarks/bench_run.py [--sizes 10000 100000 1000000] [--repeat 1]

Each run happens in a fresh subprocess (so peak memory is that process's own
maximum resident set size, read with ``os.wait4``). The baseline, measured in the
same run on the same file, is the minimal notebook: ``pandas.read_csv``,
``StandardScaler`` and one scikit-learn ``KMeans(n_clusters=5)`` fit, with no
choice of k, no quality check, no profiles, no report and no outputs. Ratios
against it are what to quote: this machine is shared and absolute times drift.
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

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"

BASELINE = """
import sys, pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
df = pd.read_csv(sys.argv[1])
X = StandardScaler().fit_transform(df[["Age", "Annual Income (k$)", "Spending Score (1-100)",
                                      "Visits per Month", "Tenure (years)"]])
KMeans(n_clusters=5, random_state=0).fit(X)
"""


def make_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Customers from five planted groups, mall-like columns plus two more."""
    rng = np.random.default_rng(seed)
    centres = np.array(
        [  # income, spending, age, visits, tenure
            [55, 50, 42, 4, 5],
            [87, 82, 32, 8, 4],
            [88, 17, 41, 2, 7],
            [26, 21, 45, 2, 6],
            [26, 79, 25, 6, 2],
        ],
        dtype=float,
    )
    group = rng.choice(5, size=n, p=[0.4, 0.2, 0.18, 0.11, 0.11])
    spread = np.array([7, 8, 8, 1.5, 1.5])
    values = centres[group] + rng.normal(size=(n, 5)) * spread
    return pd.DataFrame(
        {
            "CustomerID": np.arange(1, n + 1),
            "Gender": rng.choice(["Female", "Male"], size=n, p=[0.56, 0.44]),
            "Age": np.clip(values[:, 2], 18, 80).round().astype(int),
            "Annual Income (k$)": np.clip(values[:, 0], 10, 150).round(1),
            "Spending Score (1-100)": np.clip(values[:, 1], 1, 100).round().astype(int),
            "Visits per Month": np.clip(values[:, 3], 0, None).round(1),
            "Tenure (years)": np.clip(values[:, 4], 0, None).round(1),
        }
    )


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB, and exit status of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size (median kept)"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="pass --no-report to custseg"
    )
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)

    rows = []
    for n in args.sizes:
        path = WORK / f"customers_{n}.csv"
        if not path.exists():
            make_table(n).to_csv(path, index=False)
        size_mb = path.stat().st_size / 2**20
        runs, base_runs, stages = [], [], {}
        for _ in range(args.repeat):
            out = Path(tempfile.mkdtemp(dir=WORK))
            cmd = [
                sys.executable,
                "-m",
                "custseg",
                "run",
                str(path),
                "--out",
                str(out),
                "-q",
            ]
            if args.no_report:
                cmd.append("--no-report")
            runs.append(measure(cmd))
            summary = json.loads((out / "summary.json").read_text())
            stages = summary["timings_seconds"]
            k = summary["k"]
            report_mb = (
                (out / "report.html").stat().st_size / 2**20
                if not args.no_report
                else 0
            )
            base_runs.append(measure([sys.executable, "-c", BASELINE, str(path)]))
        wall = float(np.median([r[0] for r in runs]))
        peak = float(np.median([r[1] for r in runs]))
        bwall = float(np.median([r[0] for r in base_runs]))
        bpeak = float(np.median([r[1] for r in base_runs]))
        rows.append(
            {
                "rows": f"{n:,}",
                "csv MiB": f"{size_mb:.1f}",
                "k": k,
                "custseg s": f"{wall:.1f}",
                "baseline s": f"{bwall:.1f}",
                "time ratio": f"{wall / bwall:.2f}",
                "custseg peak MiB": f"{peak:.0f}",
                "baseline peak MiB": f"{bpeak:.0f}",
                "memory ratio": f"{peak / bpeak:.2f}",
                "report MiB": f"{report_mb:.2f}",
                "stages (s)": ", ".join(f"{k2} {v:.1f}" for k2, v in stages.items()),
            }
        )
    table = pd.DataFrame(rows)
    print(
        table.to_markdown(index=False)
        if _has_tabulate()
        else table.to_string(index=False)
    )
    print(
        "\nbaseline = pandas.read_csv + StandardScaler + one KMeans(n_clusters=5) fit "
        "on 5 numeric columns, same file, same run."
    )


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
