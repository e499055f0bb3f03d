"""Data bundled with custseg, loaded from package data.

``custseg datasets`` lists them. ``custseg run`` with no file uses the mall
customers table; ``custseg rfm`` with no file uses the Online Retail sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = [
    "DATASETS",
    "Dataset",
    "load_mall_customers",
    "mall_customers_path",
    "online_retail_sample_path",
]


@dataclass(frozen=True)
class Dataset:
    """A bundled table: its name, file, size and where it comes from.

    ``kind`` is ``"customers"`` (a row per customer, for ``custseg run``) or
    ``"transactions"`` (a row per order line, for ``custseg rfm``).
    """

    name: str
    filename: str
    rows: int
    columns: int
    description: str
    source: str
    kind: str = "customers"

    def path(self) -> Path:
        """Path of the bundled file inside the installed package."""
        return Path(str(resources.files(__package__) / "data" / self.filename))


DATASETS: dict[str, Dataset] = {
    "mall_customers": Dataset(
        name="mall_customers",
        filename="mall_customers.csv",
        rows=200,
        columns=5,
        description=(
            "Mall customers: CustomerID, Gender, Age, Annual Income (k$), "
            "Spending Score (1-100)."
        ),
        source=(
            "'Mall Customer Segmentation Data', Kaggle (vjchoudhary7), a teaching "
            "dataset widely used for K-Means tutorials; see data/README.md."
        ),
    ),
    "online_retail_sample": Dataset(
        name="online_retail_sample",
        filename="online_retail_sample.csv.gz",
        rows=65_126,
        columns=8,
        description=(
            "Transaction lines of a UK online shop, 2010-12 to 2011-12: every line "
            "of 500 random customers plus the same share of lines without a "
            "customer (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, "
            "UnitPrice, CustomerID, Country)."
        ),
        source=(
            "UCI Machine Learning Repository, 'Online Retail' (Chen, 2015), "
            "CC BY 4.0; sampled by scripts/make_retail_sample.py."
        ),
        kind="transactions",
    ),
}


def mall_customers_path() -> Path:
    """Path to the bundled mall customers CSV file."""
    return DATASETS["mall_customers"].path()


def online_retail_sample_path() -> Path:
    """Path to the bundled Online Retail transaction sample (.csv.gz)."""
    return DATASETS["online_retail_sample"].path()


def load_mall_customers() -> pd.DataFrame:
    """Load the classic 200-row mall customers table.

    Returns
    -------
    pandas.DataFrame
        Columns CustomerID, Gender, Age, Annual Income (k$), Spending Score (1-100).

    Examples
    --------
    >>> df = load_mall_customers()
    >>> df.shape
    (200, 5)
    >>> list(df.columns)[:3]
    ['CustomerID', 'Gender', 'Age']
    """
    from custseg.io import load_table

    return load_table(mall_customers_path())
