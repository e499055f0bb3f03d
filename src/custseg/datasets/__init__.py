"""Customer tables bundled with custseg, loaded from package data.

``custseg datasets`` lists them; ``custseg run`` with no file uses the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["DATASETS", "Dataset", "load_mall_customers", "mall_customers_path"]


@dataclass(frozen=True)
class Dataset:
    """A bundled table: its name, file, size and where it comes from."""

    name: str
    filename: str
    rows: int
    columns: int
    description: str
    source: str

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
}


def mall_customers_path() -> Path:
    """Path to the bundled mall customers CSV file."""
    return DATASETS["mall_customers"].path()


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
