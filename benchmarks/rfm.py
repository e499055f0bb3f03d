"""RFM aggregation throughput and memory on synthetic transaction logs.

For each size, a Parquet log shaped like UCI Online Retail is written once to
benchmarks/_work (see _synth_tx.py), then aggregated in a fresh process:

* ``custseg`` -- :func:`custseg.transactions.aggregate_transactions` (DuckDB), with the
  exact duplicate-line check (the default) and without it (``--keep-identical-lines``);
* ``pandas`` -- the notebook way, the baseline measured in the same run:
  ``read_parquet`` of the whole log, the same filters, ``drop_duplicates`` and
  two ``groupby`` passes (skipped above ``--pandas-max`` lines, where it would
  need more memory than the machine should give it).

Peak memory is the child process's maximum resident set size. "Raw" is the
log's size in memory as an Arrow table (what loading it would take before any
work), from its first row group scaled to every line.

    python benchmarks/rfm.py                      # 1M, 10M and 50M lines
    python benchmarks/rfm.py --sizes 1000000      # one size
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"

CUSTSEG = """
import sys, time
from custseg.transactions import aggregate_transactions
t0 = time.perf_counter()
table = aggregate_transactions(sys.argv[1], drop_duplicates=sys.argv[2] == "1")
elapsed = time.perf_counter() - t0
c = table.cleaning
print(elapsed, c.customers, round(c.net_revenue, 2))
"""

PANDAS = """
import sys, time
import pandas as pd
t0 = time.perf_counter()
df = pd.read_parquet(sys.argv[1])
df = df[df["CustomerID"].notna() & df["InvoiceDate"].notna()]
df = df[(df["Quantity"] != 0) & (df["UnitPrice"] > 0)]
if sys.argv[2] == "1":
    df = df.drop_duplicates()
cancel = df["InvoiceNo"].str.match(r"^[Cc][0-9]") | (df["Quantity"] < 0)
df = df.assign(value=df["Quantity"] * df["UnitPrice"], cancel=cancel)
buys = df[~df["cancel"]]
per = buys.groupby("CustomerID").agg(
    last=("InvoiceDate", "max"), first=("InvoiceDate", "min"),
    frequency=("InvoiceNo", "nunique"))
per["monetary"] = df.groupby("CustomerID")["value"].sum()
elapsed = time.perf_counter() - t0
print(elapsed, len(per), round(per["monetary"].sum(), 2))
"""


def measure(script: str, path: Path, dedup: bool) -> tuple[float, int, float, int]:
    """(seconds, customers, net revenue, peak RSS bytes) of one fresh process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path), "1" if dedup else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {out}")
    seconds, customers, revenue = out.split()
    return float(seconds), int(customers), float(revenue), usage.ru_maxrss * 1024


def raw_size(path: Path) -> int:
    parquet = pq.ParquetFile(path)
    first = parquet.read_row_group(0)
    return int(first.nbytes * parquet.metadata.num_rows / first.num_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000]
    )
    parser.add_argument("--pandas-max", type=int, default=10_000_000)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _synth_tx import write_transactions

    mib = 1024 * 1024
    rows = []
    for n in args.sizes:
        path = WORK / f"tx_{n}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            write_transactions(n, path)
            print(f"wrote {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        raw = raw_size(path)
        for dedup in (True, False):
            base = measure(PANDAS, path, dedup) if n <= args.pandas_max else None
            ours = measure(CUSTSEG, path, dedup)
            if base is not None:
                # Same customers and the same revenue, to the cent.
                assert ours[1] == base[1], (ours, base)
                assert abs(ours[2] - base[2]) < 0.01 + 1e-12 * abs(base[2]), (
                    ours,
                    base,
                )
            rows.append((n, dedup, ours, base, raw))
            print(f"done {n:,} dedup={dedup}", file=sys.stderr)

    header = (
        "| lines | duplicate check | custseg | M lines/s | peak RSS | raw (Arrow) "
        "| RSS / raw | pandas | pandas peak | time ratio | memory ratio |"
    )
    print(header)
    print("|---" * 11 + "|")
    for n, dedup, ours, base, raw in rows:
        secs, _, _, rss = ours
        cells = [
            f"{n:,}",
            "on" if dedup else "off",
            f"{secs:.1f} s",
            f"{n / secs / 1e6:.2f}",
            f"{rss / mib:,.0f} MiB",
            f"{raw / mib:,.0f} MiB",
            f"{rss / raw:.2f}",
        ]
        if base is not None:
            cells += [
                f"{base[0]:.1f} s",
                f"{base[3] / mib:,.0f} MiB",
                f"{base[0] / secs:.1f}x faster",
                f"{base[3] / rss:.1f}x less",
            ]
        else:
            cells += ["not run", "", "", ""]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
