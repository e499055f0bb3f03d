"""Rebuild the Online Retail samples from the full UCI file.

    python scripts/make_retail_sample.py ../shared/data/online_retail.csv.gz
    python scripts/make_retail_sample.py ../shared/data/online_retail.csv.gz --check

Two samples, each every line of some customers drawn at random, plus the same
share of the lines that have no customer id, in the file's order, so that a
sample keeps the log's oddities (cancellations, returns, duplicates, missing
ids) for the RFM cleaning to report:

- ``src/custseg/datasets/data/online_retail_sample.csv.gz``: the bundled demo
  log, 500 customers (seed 0);
- ``tests/data/online_retail_subset.csv.gz``: the tests' log, 300 customers
  (seed 1), 40 of them also in the bundled sample so that a test can check the
  sample line by line without the full file; beside it
  ``online_retail_subset.json`` records the full file's checksum and counts.

The same input always gives the same bytes (gzip with mtime 0). ``--check``
rebuilds nothing and verifies the committed files against the full file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src/custseg/datasets/data/online_retail_sample.csv.gz"
SUBSET = ROOT / "tests/data/online_retail_subset.csv.gz"
MANIFEST = SUBSET.with_suffix("").with_suffix(".json")
SAMPLE_CUSTOMERS, SAMPLE_SEED = 500, 0
SUBSET_CUSTOMERS, SUBSET_SEED, SUBSET_SHARED = 300, 1, 40


def customers_of(lines: pd.DataFrame) -> np.ndarray:
    ids = lines["CustomerID"]
    return np.sort(ids[ids != ""].unique())


def draw(
    lines: pd.DataFrame, chosen: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Every line of the ``chosen`` customers plus anonymous lines in the same
    proportion, drawn with ``rng``, in the file's order."""
    ids = lines["CustomerID"]
    anonymous = np.flatnonzero((ids == "").to_numpy())
    share = len(chosen) / len(customers_of(lines))
    mask = ids.isin(set(chosen)).to_numpy().copy()
    mask[rng.choice(anonymous, round(share * len(anonymous)), replace=False)] = True
    return lines[mask]


def build_sample(lines: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The bundled sample and its customers (the draws in the order in which
    the sample was first built, so its bytes stay the same)."""
    rng = np.random.default_rng(SAMPLE_SEED)
    chosen = rng.choice(customers_of(lines), SAMPLE_CUSTOMERS, replace=False)
    return draw(lines, chosen, rng), chosen


def build_subset(lines: pd.DataFrame, in_sample: np.ndarray) -> pd.DataFrame:
    """The tests' subset: 40 customers of the bundled sample and 260 others."""
    rng = np.random.default_rng(SUBSET_SEED)
    shared = rng.choice(np.sort(in_sample), SUBSET_SHARED, replace=False)
    others = np.setdiff1d(customers_of(lines), in_sample)
    chosen = np.concatenate(
        [shared, rng.choice(others, SUBSET_CUSTOMERS - SUBSET_SHARED, replace=False)]
    )
    return draw(lines, chosen, rng)


def gzipped_csv(frame: pd.DataFrame, path: Path) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and the file's own name in the header: the same input always
    # gives the same bytes
    with gzip.GzipFile(
        path.name, mode="wb", compresslevel=9, fileobj=buffer, mtime=0
    ) as out:
        out.write(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return buffer.getvalue()


def manifest(source: Path, lines: pd.DataFrame, subset: pd.DataFrame) -> dict:
    ids = lines["CustomerID"]
    return {
        "source": "UCI Online Retail (CC BY 4.0), doi:10.24432/C5BW33",
        "source_file_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "source_lines": len(lines),
        "source_customers": int(ids[ids != ""].nunique()),
        "source_anonymous_lines": int((ids == "").sum()),
        "lines": len(subset),
        "customers": int(subset["CustomerID"].replace("", np.nan).nunique()),
        "customers_shared_with_bundled_sample": SUBSET_SHARED,
        "made_by": "scripts/make_retail_sample.py",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the full online_retail.csv.gz")
    parser.add_argument("--check", action="store_true", help="verify, write nothing")
    args = parser.parse_args()
    lines = pd.read_csv(args.source, dtype=str, keep_default_na=False)
    sample, in_sample = build_sample(lines)
    subset = build_subset(lines, in_sample)
    files = {
        SAMPLE: gzipped_csv(sample, SAMPLE),
        SUBSET: gzipped_csv(subset, SUBSET),
        MANIFEST: (
            json.dumps(manifest(args.source, lines, subset), indent=2) + "\n"
        ).encode(),
    }
    for path, data in files.items():
        if args.check:
            same = path.exists() and path.read_bytes() == data
            print(f"{'ok  ' if same else 'DIFFERS'} {path.relative_to(ROOT)}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path.relative_to(ROOT)} ({len(data) / 1e6:.2f} MB)")
    for name, frame in (("sample", sample), ("subset", subset)):
        n = frame["CustomerID"].replace("", np.nan).nunique()
        print(f"{name}: {len(frame):,} lines, {n} customers")
    if args.check and any(
        not p.exists() or p.read_bytes() != d for p, d in files.items()
    ):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
