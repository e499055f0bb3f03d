"""Shared fixtures: the bundled mall data, planted blobs, and a Chromium finder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.pg_server import Postgres, PostgresUnavailable, throwaway_postgres
from tests.system import apt_install

from custseg.datasets import load_mall_customers

# Every file a test reads is in the repository: tests/data/README.md gives each
# one's source and licence. Nothing here may read the data folder beside the
# checkout, which a user's clone does not have.
TEST_DATA = Path(__file__).resolve().parent / "data"
MALL_CSV = TEST_DATA / "Mall_Customers.csv"
WHOLESALE_CSV = TEST_DATA / "Wholesale customers data.csv"
ONLINE_RETAIL = TEST_DATA / "online_retail_subset.csv.gz"
INCOME = "Annual Income (k$)"
SPENDING = "Spending Score (1-100)"


@pytest.fixture
def mall_df() -> pd.DataFrame:
    """The bundled 200-row mall customers table."""
    return load_mall_customers()


def planted_blobs(
    k: int, seed: int, n_per: int = 60, dim: int = 4
) -> tuple[pd.DataFrame, np.ndarray]:
    """Well-separated Gaussian blobs: centres at least 8 standard deviations apart."""
    rng = np.random.default_rng(seed)
    centres: list[np.ndarray] = []
    while len(centres) < k:
        c = rng.uniform(-20, 20, size=dim)
        if all(np.linalg.norm(c - o) >= 8 for o in centres):
            centres.append(c)
    X = np.vstack([rng.normal(c, 1.0, size=(n_per, dim)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(dim)]), y


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to a Chromium binary; installs Debian's package when missing and root."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if apt_install("chromium"):
        found = shutil.which("chromium")
        if found:
            return found
    pytest.fail(
        "Chromium is needed for browser tests: install Debian's 'chromium' "
        "package, or deselect them with -m 'not browser'."
    )


# -- a throwaway PostgreSQL server ---------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the session (see tests/pg_server.py)."""
    try:
        with throwaway_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
