"""Generated customer tables shaped like real ones, with planted structure.

``credit_card_like`` follows the public credit-card usage table (17 numeric
columns in UPPER_CASE, heavy-tailed amounts, 0-1 frequencies, TENURE, text
ids); ``campaign_like`` the public marketing-campaign table (29 mixed
columns in CamelCase with Mnt/Num prefixes, a birth year, 0/1 campaign flags,
constant Z_ columns, missing incomes, tab-separated when written). Each plants
groups whose distinguishing features are known, so tests can check names,
rankings, formatting and actions against them. Nothing here is real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["campaign_like", "credit_card_like", "ugly_names_table"]


def _lognormal(rng: np.random.Generator, median: float, n: int, sigma: float = 0.9):
    return rng.lognormal(np.log(median), sigma, n)


def credit_card_like(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three planted groups: purchasers (0: high purchases and purchase
    frequency), cash-advance users (1: high cash advance, its frequency and
    balance, few purchases), and dormant holders (2: low everything)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(3, n, p=[0.35, 0.25, 0.40])
    g = [group == i for i in range(3)]

    def by_group(*medians: float, sigma: float = 0.8) -> np.ndarray:
        out = np.empty(n)
        for i, m in enumerate(medians):
            out[g[i]] = _lognormal(rng, m, int(g[i].sum()), sigma)
        return out

    def share(*centres: float) -> np.ndarray:
        out = np.empty(n)
        for i, c in enumerate(centres):
            out[g[i]] = rng.beta(c * 12, (1 - c) * 12, int(g[i].sum()))
        return np.round(out, 6)

    purchases = by_group(2500, 60, 80)
    oneoff = purchases * rng.uniform(0.2, 0.7, n)
    df = pd.DataFrame(
        {
            "CUST_ID": [f"C{10001 + i}" for i in range(n)],
            "BALANCE": by_group(900, 4200, 300),
            "BALANCE_FREQUENCY": share(0.9, 0.95, 0.6),
            "PURCHASES": purchases,
            "ONEOFF_PURCHASES": oneoff,
            "INSTALLMENTS_PURCHASES": purchases - oneoff,
            "CASH_ADVANCE": by_group(40, 3500, 30, sigma=1.0),
            "PURCHASES_FREQUENCY": share(0.85, 0.1, 0.15),
            "ONEOFF_PURCHASES_FREQUENCY": share(0.5, 0.05, 0.08),
            "PURCHASES_INSTALLMENTS_FREQUENCY": share(0.6, 0.07, 0.1),
            "CASH_ADVANCE_FREQUENCY": share(0.03, 0.45, 0.04),
            "CASH_ADVANCE_TRX": np.round(by_group(0.5, 12, 0.4, sigma=0.7)),
            "PURCHASES_TRX": np.round(by_group(40, 1, 2, sigma=0.6)),
            "CREDIT_LIMIT": np.round(by_group(6000, 7000, 2500, sigma=0.5), -2),
            "PAYMENTS": by_group(2500, 3800, 600),
            "MINIMUM_PAYMENTS": by_group(250, 1300, 180),
            "PRC_FULL_PAYMENT": share(0.45, 0.03, 0.1),
            "TENURE": rng.choice(
                [6, 8, 10, 11, 12], n, p=[0.03, 0.03, 0.04, 0.05, 0.85]
            ),
        }
    )
    df.loc[rng.choice(n, 30, replace=False), "MINIMUM_PAYMENTS"] = np.nan
    df.loc[rng.choice(n, 1, replace=False), "CREDIT_LIMIT"] = np.nan
    return df, group


def campaign_like(n: int = 2240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three planted groups: affluent wine and meat buyers who shop by
    catalogue and accept campaigns (0), young families buying little, online
    and on deals (1), and middle-aged store shoppers (2)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(3, n, p=[0.25, 0.40, 0.35])
    g = [group == i for i in range(3)]

    def pick(*values, dtype=float):
        out = np.empty(n, dtype=dtype)
        for i, v in enumerate(values):
            out[g[i]] = v(int(g[i].sum())) if callable(v) else v
        return out

    income = pick(
        lambda m: rng.normal(78_000, 9_000, m),
        lambda m: rng.normal(32_000, 8_000, m),
        lambda m: rng.normal(55_000, 9_000, m),
    ).round()
    df = pd.DataFrame(
        {
            "ID": rng.permutation(np.arange(1, 11_000))[:n].astype(str),
            "Year_Birth": pick(
                lambda m: rng.integers(1945, 1970, m),
                lambda m: rng.integers(1978, 1997, m),
                lambda m: rng.integers(1955, 1980, m),
                dtype=int,
            ),
            "Education": rng.choice(
                ["Graduation", "PhD", "Master", "Basic", "2n Cycle"],
                n,
                p=[0.5, 0.2, 0.16, 0.04, 0.1],
            ),
            "Marital_Status": rng.choice(
                ["Married", "Together", "Single", "Divorced", "Widow"],
                n,
                p=[0.39, 0.26, 0.21, 0.1, 0.04],
            ),
            "Income": income,
            "Kidhome": pick(
                lambda m: rng.choice([0, 1], m, p=[0.95, 0.05]),
                lambda m: rng.choice([0, 1, 2], m, p=[0.2, 0.65, 0.15]),
                lambda m: rng.choice([0, 1], m, p=[0.7, 0.3]),
                dtype=int,
            ),
            "Teenhome": rng.choice([0, 1, 2], n, p=[0.5, 0.47, 0.03]),
            "Dt_Customer": pd.to_datetime("2012-07-30")
            + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
            "Recency": rng.integers(0, 100, n),
            "MntWines": pick(
                lambda m: _lognormal(rng, 700, m, 0.5),
                lambda m: _lognormal(rng, 10, m, 0.9),
                lambda m: _lognormal(rng, 200, m, 0.6),
            ).round(),
            "MntFruits": _lognormal(rng, 8, n, 1.2).round(),
            "MntMeatProducts": pick(
                lambda m: _lognormal(rng, 450, m, 0.5),
                lambda m: _lognormal(rng, 15, m, 0.8),
                lambda m: _lognormal(rng, 80, m, 0.6),
            ).round(),
            "MntFishProducts": _lognormal(rng, 12, n, 1.2).round(),
            "MntSweetProducts": _lognormal(rng, 8, n, 1.2).round(),
            "MntGoldProds": _lognormal(rng, 24, n, 1.0).round(),
            "NumDealsPurchases": pick(1, lambda m: rng.integers(3, 8, m), 2, dtype=int),
            "NumWebPurchases": pick(
                lambda m: rng.integers(3, 7, m),
                lambda m: rng.integers(4, 9, m),
                lambda m: rng.integers(1, 4, m),
                dtype=int,
            ),
            "NumCatalogPurchases": pick(
                lambda m: rng.integers(5, 11, m),
                0,
                lambda m: rng.integers(0, 3, m),
                dtype=int,
            ),
            "NumStorePurchases": pick(
                lambda m: rng.integers(6, 12, m),
                lambda m: rng.integers(2, 4, m),
                lambda m: rng.integers(8, 13, m),
                dtype=int,
            ),
            "NumWebVisitsMonth": pick(
                lambda m: rng.integers(1, 4, m),
                lambda m: rng.integers(6, 10, m),
                lambda m: rng.integers(3, 6, m),
                dtype=int,
            ),
            **{
                f"AcceptedCmp{i}": pick(
                    lambda m: (rng.random(m) < 0.35).astype(int),
                    lambda m: (rng.random(m) < 0.02).astype(int),
                    lambda m: (rng.random(m) < 0.05).astype(int),
                    dtype=int,
                )
                for i in (3, 4, 5, 1, 2)
            },
            "Complain": (rng.random(n) < 0.01).astype(int),
            "Z_CostContact": 3,
            "Z_Revenue": 11,
            "Response": pick(
                lambda m: (rng.random(m) < 0.4).astype(int),
                lambda m: (rng.random(m) < 0.08).astype(int),
                lambda m: (rng.random(m) < 0.08).astype(int),
                dtype=int,
            ),
        }
    )
    df["Dt_Customer"] = df["Dt_Customer"].dt.strftime("%d-%m-%Y")
    df.loc[rng.choice(n, 24, replace=False), "Income"] = np.nan
    df.loc[int(rng.integers(n)), "Income"] = 666_666
    df.loc[rng.choice(n, 2, replace=False), "Year_Birth"] = [1893, 1899]
    return df, group


def ugly_names_table(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Four planted groups on columns named in every style people use:
    snake, camel, upper case and abbreviations. Group 0 spends much more
    (``total_spend_amt``), group 1 buys more often (``OrderFreqPerMonth``,
    a rate), group 2 is older (``CustAge``), group 3 has long tenure
    (``TENURE_MONTHS``) and a loyalty flag (``is_loyalty_member``)."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(4), n // 4)
    rng.shuffle(group)
    g = [group == i for i in range(4)]
    m = n // 4

    def base(low, high, special, gi):
        out = rng.uniform(low, high, n)
        out[g[gi]] = special(m)
        return out

    df = pd.DataFrame(
        {
            "customerId": [f"{i:06d}" for i in range(n)],
            "total_spend_amt": base(200, 400, lambda k: rng.uniform(1500, 2500, k), 0),
            "OrderFreqPerMonth": base(0.5, 1.5, lambda k: rng.uniform(5, 8, k), 1),
            "CustAge": base(25, 45, lambda k: rng.uniform(62, 78, k), 2),
            "TENURE_MONTHS": base(3, 30, lambda k: rng.uniform(80, 120, k), 3),
            "is_loyalty_member": (rng.random(n) < 0.1).astype(int),
            "AvgBasketQty": rng.uniform(2, 6, n),
        }
    )
    df.loc[g[3], "is_loyalty_member"] = (rng.random(m) < 0.9).astype(int)
    return df, group


PLANTED_GROUPS = (
    "bargain hunters",
    "home décor loyalists",
    "lapsing regulars",
    "steady",
)


def planted_order_log(
    per_group: int = 120, seed: int = 0, *, end: str = "2024-06-30"
) -> tuple[pd.DataFrame, pd.Series]:
    """An order log (invoice, product, category, discount, quantity, price,
    date with time) with four planted kinds of customer (``PLANTED_GROUPS``):
    bargain hunters buy only discounted lines across categories, often and
    one line at a time; home décor
    loyalists spend nearly all on home décor at full price; lapsing regulars
    ordered every week or two for a year and stopped four months before the
    end; steady customers order every few weeks up to the end, across the
    other categories. Returns the log and each customer's planted group (by
    customer id)."""
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    categories = {
        "home décor": [f"HD{i:02d}" for i in range(12)],
        "kitchen": [f"KI{i:02d}" for i in range(10)],
        "toys": [f"TO{i:02d}" for i in range(10)],
        "garden": [f"GA{i:02d}" for i in range(8)],
    }
    base_price = {
        p: float(rng.uniform(3, 30)) for ps in categories.values() for p in ps
    }
    rows: list[tuple] = []
    truth: dict[str, str] = {}
    invoice = 100000
    for g, group in enumerate(PLANTED_GROUPS):
        for i in range(per_group):
            cid = f"C{g}{i:04d}"
            truth[cid] = group
            if group == "lapsing regulars":
                stop = end_ts - pd.Timedelta(days=int(rng.integers(115, 140)))
                start = stop - pd.Timedelta(days=365)
                gap = rng.uniform(7, 14)
            else:
                stop = end_ts - pd.Timedelta(days=int(rng.integers(1, 20)))
                start = end_ts - pd.Timedelta(days=int(rng.integers(300, 500)))
                # bargain hunters come back often for small orders
                gap = (
                    rng.uniform(5, 9)
                    if group == "bargain hunters"
                    else rng.uniform(18, 35)
                )
            day = start
            while day <= stop:
                invoice += 1
                when = day + pd.Timedelta(minutes=int(rng.integers(8 * 60, 20 * 60)))
                basket = 2 if group == "bargain hunters" else 5
                for _ in range(int(rng.integers(1, basket))):
                    if group == "home décor loyalists":
                        cat = "home décor" if rng.random() < 0.92 else "kitchen"
                    elif group == "steady":
                        cat = str(rng.choice(["kitchen", "toys", "garden"]))
                    else:
                        cat = str(rng.choice(list(categories)))
                    product = str(rng.choice(categories[cat]))
                    discount = 0.3 if group == "bargain hunters" else 0.0
                    price = round(base_price[product] * (1 - discount), 2)
                    rows.append(
                        (
                            str(invoice),
                            product,
                            cat,
                            discount,
                            int(rng.integers(1, 6)),
                            price,
                            when.strftime("%Y-%m-%d %H:%M:%S"),
                            cid,
                        )
                    )
                day += pd.Timedelta(days=float(max(1.0, rng.normal(gap, gap / 4))))
    log = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Category",
            "Discount",
            "Quantity",
            "UnitPrice",
            "InvoiceDate",
            "CustomerID",
        ],
    )
    return log, pd.Series(truth, name="group")
