"""Synthetic transaction logs for the RFM benchmark, shaped like UCI Online
Retail (fixed seed): about 18 lines per invoice and 6 invoices per customer,
2% cancellation invoices ("C" prefix, negative quantities), 20% of lines
without a customer id, 1% exact duplicate lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

LINES_PER_INVOICE = 18
INVOICES_PER_CUSTOMER = 6
_START = np.datetime64("2010-12-01T08:00:00", "s")
_DAYS = 373


def write_transactions(
    n: int, path: Path, seed: int = 0, chunk: int = 2_000_000
) -> Path:
    """Write ``n`` transaction lines to ``path`` (Parquet), chunk by chunk, so
    50 million lines never sit in memory at once."""
    rng = np.random.default_rng(seed)
    n_invoices = max(1, n // LINES_PER_INVOICE)
    n_customers = max(1, n_invoices // INVOICES_PER_CUSTOMER)
    stock = np.array([f"{s:05d}" for s in range(4000)], dtype=object)
    countries = np.array(["United Kingdom", "Germany", "France", "EIRE", "Spain"])
    schema = pa.schema(
        [
            ("InvoiceNo", pa.string()),
            ("StockCode", pa.string()),
            ("Quantity", pa.int32()),
            ("InvoiceDate", pa.timestamp("s")),
            ("UnitPrice", pa.float64()),
            ("CustomerID", pa.int64()),
            ("Country", pa.string()),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            # Lines are in invoice order, as in a real log.
            invoice = (np.arange(start, start + m) // LINES_PER_INVOICE).astype(
                np.int64
            )
            first = invoice[0]
            inv_rng = np.random.default_rng(seed * 1_000_003 + int(first))
            k = int(invoice[-1] - first + 1)
            customer = inv_rng.integers(0, n_customers, size=k)[invoice - first]
            cancelled = (inv_rng.random(k) < 0.02)[invoice - first]
            day = np.sort(inv_rng.integers(0, _DAYS * 86_400, size=k))
            when = _START + day[invoice - first].astype("timedelta64[s]")
            qty = rng.integers(1, 25, size=m).astype(np.int32)
            qty[cancelled] *= -1
            price = np.round(rng.gamma(2.0, 2.0, size=m) + 0.1, 2)
            no_customer = rng.random(m) < 0.2
            numbers = (536_365 + invoice).astype(str).astype(object)
            numbers[cancelled] = "C" + numbers[cancelled]
            dup = rng.random(m) < 0.01  # a line written twice
            idx = np.arange(m)
            idx[1:][dup[1:]] = idx[:-1][dup[1:]]
            table = pa.table(
                {
                    "InvoiceNo": pa.array(numbers[idx], pa.string()),
                    "StockCode": pa.array(
                        stock[rng.integers(0, len(stock), size=m)][idx], pa.string()
                    ),
                    "Quantity": pa.array(qty[idx]),
                    "InvoiceDate": pa.array(when[idx]),
                    "UnitPrice": pa.array(price[idx]),
                    "CustomerID": pa.array(
                        12_346 + customer[idx], mask=no_customer[idx]
                    ),
                    "Country": pa.array(
                        countries[customer[idx] % len(countries)], pa.string()
                    ),
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=1_000_000)
    return path
