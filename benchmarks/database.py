"""Reading customers from PostgreSQL and writing segments back: custseg against
pandas' own SQL functions, measured in the same run on the same server.

A throwaway server is started (tests/pg_server.py) and a synthetic customer
table of ``--rows`` rows (id, age, income, score, gender, city) is loaded once.
Each measurement runs in a fresh process; "peak MB" is how far its resident
set size (sampled every 5 ms) rose above where it stood when the measurement
began (imports and, for writes, the frame to write are excluded):

* read, ``custseg`` -- :func:`custseg.io.read_database` (server-side cursor,
  chunks to Arrow, typed column by column);
* read, ``pandas`` -- ``pd.read_sql`` of the whole table (the baseline), and
  ``pd.read_sql(chunksize=50_000)`` plus ``pd.concat``;
* write, ``custseg`` -- :func:`custseg.io.write_database` (COPY, one
  transaction, row count checked);
* write, ``pandas`` -- ``DataFrame.to_sql`` with ``method="multi"`` (the
  baseline) and with its default (executemany).

    python benchmarks/database.py                 # 1M rows
    python benchmarks/database.py --rows 200000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg_server import throwaway_postgres  # noqa: E402

SETUP = """
import os, sys, threading, time
import numpy as np, pandas as pd, psycopg, sqlalchemy
url, rows = sys.argv[1], int(sys.argv[2])
samples = []

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def watch():
    # ru_maxrss cannot be reset, and imports peak above some measurements:
    # sample the resident size every 5 ms from here on instead.
    def loop():
        while True:
            samples.append(rss())
            time.sleep(0.005)
    threading.Thread(target=loop, daemon=True).start()
    return rss()
"""

READERS = {
    "custseg": """
from custseg.io import DatabaseSource, read_database
before = watch()
t0 = time.perf_counter()
df = read_database(DatabaseSource(url, table="customers"))
""",
    "pandas read_sql": """
import sqlalchemy as sa
engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
before = watch()
t0 = time.perf_counter()
df = pd.read_sql("SELECT * FROM customers", engine)
""",
    "pandas chunks+concat": """
import sqlalchemy as sa
engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
before = watch()
t0 = time.perf_counter()
with engine.connect().execution_options(stream_results=True) as conn:
    df = pd.concat(pd.read_sql("SELECT * FROM customers", conn, chunksize=50_000))
""",
}

WRITERS = {
    "custseg": """
from custseg.io import write_database
df = frame(rows)
before = watch()
t0 = time.perf_counter()
write_database(df, url, "segments", if_exists="replace")
""",
    "pandas to_sql multi": """
import sqlalchemy as sa
engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
df = frame(rows)
before = watch()
t0 = time.perf_counter()
df.to_sql("segments", engine, if_exists="replace", index=False,
          method="multi", chunksize=10_000)
""",
    "pandas to_sql": """
import sqlalchemy as sa
engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
df = frame(rows)
before = watch()
t0 = time.perf_counter()
df.to_sql("segments", engine, if_exists="replace", index=False, chunksize=10_000)
""",
}

REPORT = """
elapsed = time.perf_counter() - t0
peak = max(samples) - before
size = df.memory_usage(deep=True).sum() / 2**20
print(elapsed, peak, size, len(df))
"""

FRAME = """
def frame(n):
    rng = np.random.default_rng(0)
    names = np.array(["Affluent high spenders", "Careful savers", "Young big spenders"])
    return pd.DataFrame({"CustomerID": np.arange(1, n + 1),
                         "segment": rng.integers(0, 3, n),
                         "segment_name": names[rng.integers(0, 3, n)]})
"""


def customers(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    cities = np.array([f"City {i}" for i in range(20)])
    return pd.DataFrame(
        {
            "CustomerID": np.arange(1, n + 1),
            "Age": rng.integers(18, 80, n),
            "Income": rng.normal(60, 20, n).round(2),
            "Score": rng.integers(1, 101, n),
            "Gender": np.where(rng.random(n) < 0.5, "Female", "Male"),
            "City": cities[rng.integers(0, 20, n)],
        }
    )


def measure(code: str, url: str, rows: int) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", SETUP + FRAME + code + REPORT, url, str(rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed, peak, size, n = out.stdout.split()
    return float(elapsed), float(peak), float(size), int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from custseg.io import write_database

    with throwaway_postgres() as server:
        write_database(
            customers(args.rows), server.url, "customers", if_exists="replace"
        )
        print(f"{args.rows:,} customers in PostgreSQL (6 columns)\n")
        for title, cases, baseline in (
            ("read", READERS, "pandas read_sql"),
            ("write segments", WRITERS, "pandas to_sql multi"),
        ):
            results = {
                name: measure(code, server.url, args.rows)
                for name, code in cases.items()
            }
            base_time, base_peak = results[baseline][:2]
            print(
                f"{title:<15} {'seconds':>8} {'x base':>7} {'peak MB':>8} {'x base':>7} {'frame MB':>9}"
            )
            for name, (elapsed, peak, size, n) in results.items():
                assert n == args.rows, (name, n)
                print(
                    f"  {name:<20} {elapsed:>8.2f} {elapsed / base_time:>6.2f}x "
                    f"{peak:>8.0f} {peak / base_peak:>6.2f}x {size:>9.0f}"
                )
            print()


if __name__ == "__main__":
    main()
