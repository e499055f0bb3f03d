"""Synthetic customer tables for the benchmarks: 8 numeric features, a
categorical and an id, drawn from planted groups (fixed seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FEATURES = [
    "Age",
    "Annual Income (k$)",
    "Spending Score (1-100)",
    "Visits per Month",
    "Tenure (years)",
    "Orders per Year",
    "Average Basket ($)",
    "Days Since Last Visit",
]
# One row per planted group, columns in FEATURES order.
_CENTRES = np.array(
    [
        [42, 55, 50, 4, 5, 12, 40, 20],
        [32, 87, 82, 8, 4, 30, 90, 5],
        [41, 88, 17, 2, 7, 6, 35, 60],
        [45, 26, 21, 2, 6, 4, 20, 90],
        [25, 26, 79, 6, 2, 20, 30, 10],
    ],
    dtype=float,
)
_SPREAD = np.array([8, 7, 8, 1.5, 1.5, 4, 10, 8])
_SHARES = [0.4, 0.2, 0.18, 0.11, 0.11]
_DECIMALS = [0, 1, 0, 1, 1, 0, 2, 0]


def make_table(n: int, seed: int = 0, chunk: int = 1_000_000) -> pa.Table:
    """``n`` customers from five planted groups, built chunk by chunk."""
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        group = rng.choice(len(_CENTRES), size=m, p=_SHARES)
        values = _CENTRES[group] + rng.normal(size=(m, len(FEATURES))) * _SPREAD
        values = np.clip(values, 0, None)
        cols: dict[str, pa.Array] = {
            "CustomerID": pa.array(np.arange(start + 1, start + m + 1)),
            "Gender": pa.array(
                np.where(rng.random(m) < 0.56, "Female", "Male")
            ).dictionary_encode(),
        }
        for j, name in enumerate(FEATURES):
            col = values[:, j].round(_DECIMALS[j])
            cols[name] = pa.array(col.astype(np.int64) if _DECIMALS[j] == 0 else col)
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)


def write_tables(n: int, folder: Path) -> dict[str, Path]:
    """Write (or reuse) the Parquet and CSV files of ``n`` customers."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "parquet": folder / f"customers_{n}.parquet",
        "csv": folder / f"customers_{n}.csv",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    table = make_table(n)
    pq.write_table(table, paths["parquet"])
    table = table.set_column(
        1, "Gender", table["Gender"].cast(pa.string())
    )  # CSV has no dictionary type
    pacsv.write_csv(table, paths["csv"])
    return paths
