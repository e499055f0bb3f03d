"""Rebuild the bundled Online Retail sample from the full UCI file.

    python scripts/make_retail_sample.py ../shared/data/online_retail.csv.gz

Every line of 500 customers drawn at random (seed 0), plus the same share of
the lines that have no customer id, in the file's order, so that the sample
keeps the log's oddities (cancellations, returns, duplicates, missing ids)
for the RFM cleaning to report.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CUSTOMERS = 500
OUT = Path(__file__).resolve().parents[1] / "src/custseg/datasets/data"


def main(source: str) -> None:
    lines = pd.read_csv(source, dtype=str, keep_default_na=False)
    ids = lines["CustomerID"]
    known = np.sort(ids[ids != ""].unique())
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(known, CUSTOMERS, replace=False))
    share = CUSTOMERS / len(known)
    anonymous = np.flatnonzero((ids == "").to_numpy())
    keep_anonymous = rng.choice(anonymous, round(share * len(anonymous)), replace=False)
    mask = ids.isin(chosen).to_numpy().copy()
    mask[keep_anonymous] = True
    sample = lines[mask]
    target = OUT / "online_retail_sample.csv.gz"
    # mtime=0: the same input always gives the same bytes
    with gzip.GzipFile(target, "wb", compresslevel=9, mtime=0) as out:
        out.write(sample.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    print(f"{len(sample):,} lines, {sample['CustomerID'].nunique() - 1} customers")
    print(f"{target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(sys.argv[1])
