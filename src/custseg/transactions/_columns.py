"""Which column of a transaction log is the customer, the order, the date...

Columns are found by name: the usual names (UCI Online Retail's ``CustomerID``,
``InvoiceNo``, ``InvoiceDate``, ``Quantity``, ``UnitPrice``; Online Retail II's
``Customer ID``, ``Invoice``, ``Price``; ``order_id``, ``amount`` and the like)
are matched after lower-casing and dropping everything but letters and digits.
Any role can be named explicitly instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from custseg.errors import InputError, MissingColumnError, ParameterError

__all__ = ["NO_COLUMN", "ROLES", "TransactionColumns", "find_columns", "guess_columns"]

#: The name that says a log has no column for a role (not guessed).
NO_COLUMN = ""

# Candidate names per role, most specific first (normalised: a-z and 0-9 only).
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "customer": (
        "customerid",
        "customer",
        "customerno",
        "customernumber",
        "customercode",
        "custid",
        "clientid",
        "client",
        "userid",
        "memberid",
        "membernumber",
        "memberno",
        "member",
        "accountid",
        "buyerid",
    ),
    "invoice": (
        "invoiceno",
        "invoice",
        "invoiceid",
        "invoicenumber",
        "orderid",
        "orderno",
        "ordernumber",
        "order",
        "transactionid",
        "receiptid",
        "receiptno",
        "basketid",
    ),
    "date": (
        "invoicedate",
        "orderdate",
        "transactiondate",
        "purchasedate",
        "saledate",
        "date",
        "datetime",
        "timestamp",
        "orderedat",
        "createdat",
    ),
    "quantity": ("quantity", "qty", "units", "unitssold", "quantityordered"),
    "price": ("unitprice", "price", "priceeach", "itemprice", "unitcost"),
    "product": (
        "stockcode",
        "productid",
        "productcode",
        "product",
        "sku",
        "itemid",
        "itemcode",
        "item",
        "itemdescription",
        "productname",
        "articleid",
        "article",
    ),
    "line": (
        "lineid",
        "lineno",
        "linenumber",
        "lineitemid",
        "orderlineid",
        "orderitemid",
    ),
    "category": (
        "category",
        "productcategory",
        "categoryname",
        "itemcategory",
        "department",
        "productline",
        "productgroup",
    ),
    "discount": (
        "discount",
        "discountamount",
        "discountpct",
        "discountpercent",
        "discountrate",
        "discounted",
        "ondiscount",
        "promo",
        "promotion",
        "coupon",
    ),
    "amount": (
        "amount",
        "lineamount",
        "linetotal",
        "totalamount",
        "totalprice",
        "total",
        "revenue",
        "sales",
        "netamount",
        "value",
        "spend",
    ),
}
ROLES = tuple(_CANDIDATES)


@dataclass(frozen=True)
class TransactionColumns:
    """The columns of a transaction log, by role.

    Money comes either from ``quantity`` x ``price`` or from ``amount`` (a line
    total); a log with neither (a basket log of member, date and item; a
    customer-and-date log) has no monetary value, and its analysis is of
    recency and frequency (:attr:`has_money`). ``invoice`` is optional
    (without it, each purchase day is an order).
    ``product`` (a product code), ``line`` (a line number or id),
    ``category`` (a product category) and ``discount`` (a discount amount,
    rate or yes/no flag) are optional and feed the behaviour and preference
    features; an invoice with a product or line id, or a line id alone,
    identifies each line, so that identical lines are known to be repeats.
    """

    customer: str
    date: str
    invoice: str | None = None
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    product: str | None = None
    line: str | None = None
    category: str | None = None
    discount: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def identifies_lines(self) -> bool:
        """Whether two identical lines can only be one line written twice: a
        line id, or an invoice with a product code. Without that, two
        identical lines are two purchases (the same thing bought twice on one
        day)."""
        return self.line is not None or (
            self.invoice is not None and self.product is not None
        )

    @property
    def has_money(self) -> bool:
        """Whether the log says what was spent: an amount, or a quantity and
        a unit price."""
        return self.amount is not None or self.price is not None

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The columns money comes from (without money, the quantity, if any:
        it still tells a purchase from a return)."""
        if self.amount is not None:
            return (self.amount,)
        return tuple(c for c in (self.quantity, self.price) if c is not None)

    @property
    def money_note(self) -> str | None:
        """The sentence that says the log has no money column (None when it
        has one)."""
        if self.has_money:
            return None
        return (
            "The log has no money column (an amount, or a quantity and a unit "
            "price): recency and frequency only, with no monetary value; name "
            "one with --amount-column, or --quantity-column and --price-column."
        )


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def guess_columns(
    columns: Sequence[str], explicit: Mapping[str, str | None] | None = None
) -> dict[str, str | None]:
    """Each role's column (``None`` where no usual name matches): ``explicit``
    names first, then the usual names, no column taken twice. Unlike
    :func:`find_columns`, it neither checks nor refuses: for a person to
    review the guess before the log is read.

    Examples
    --------
    >>> guess_columns(["client", "when", "total"])  # doctest: +NORMALIZE_WHITESPACE
    {'customer': 'client', 'invoice': None, 'date': None, 'quantity': None,
     'price': None, 'product': None, 'line': None, 'category': None,
     'discount': None, 'amount': 'total'}
    >>> guess_columns(["CustomerID", "InvoiceNo"], {"invoice": NO_COLUMN})["invoice"]
    """
    given: dict[str, str] = {k: v for k, v in (explicit or {}).items() if v}
    # an empty name says "the log has no such column": not guessed
    absent = {k for k, v in (explicit or {}).items() if v == NO_COLUMN}
    names = [str(c) for c in columns]
    taken = set(given.values())
    by_norm: dict[str, str] = {}
    for name in names:
        by_norm.setdefault(_norm(name), name)
    found: dict[str, str | None] = {}
    for role in ROLES:
        if role in given or role in absent:
            found[role] = given.get(role)
            continue
        found[role] = next(
            (
                by_norm[c]
                for c in _CANDIDATES[role]
                if c in by_norm and by_norm[c] not in taken
            ),
            None,
        )
        match = found[role]
        if match is not None:
            taken.add(match)
    return found


def find_columns(
    columns: Sequence[str],
    explicit: Mapping[str, str | None] | None = None,
    *,
    source: str | None = None,
) -> TransactionColumns:
    """Map roles to columns: ``explicit`` names first, then the usual names.

    Raises :class:`custseg.MissingColumnError` when a named column is absent,
    and :class:`custseg.InputError` when a required role (customer, date) is
    not found, naming the option that sets it. Money (quantity with price, or
    an amount) is optional: without it the log gives recency and frequency.
    A quantity without a price stays the quantity (items and returns).

    Examples
    --------
    >>> cols = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice",
    ...         "CustomerID", "Country"]
    >>> find_columns(cols).to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'customer': 'CustomerID', 'date': 'InvoiceDate', 'invoice': 'InvoiceNo',
     'quantity': 'Quantity', 'price': 'UnitPrice', 'amount': None,
     'product': 'StockCode', 'line': None, 'category': None, 'discount': None}
    """
    given: dict[str, str] = {k: v for k, v in (explicit or {}).items() if v}
    unknown = set(given) - set(ROLES)
    if unknown:
        raise ParameterError(
            f"unknown transaction column role(s) {sorted(unknown)}; "
            f"the roles are {', '.join(ROLES)}"
        )
    names = [str(c) for c in columns]
    for name in given.values():
        if name not in names:
            raise MissingColumnError([name], names, path=source)
    found = guess_columns(names, explicit)
    if found["price"] is not None and found["quantity"] is None and not found["amount"]:
        raise InputError(
            f"found the unit price column '{found['price']}' but no quantity "
            "column to multiply it by (name it with --quantity-column, or "
            "name a line total with --amount-column)",
            path=source,
        )
    if "amount" not in given and found["quantity"] and found["price"]:
        found["amount"] = None  # quantity x price wins over a guessed total
    missing = [
        (role, option)
        for role, option in (
            ("customer", "--customer-column"),
            ("date", "--date-column"),
        )
        if found[role] is None
    ]
    if missing:
        what = "; ".join(
            f"no {role} column (name it with {opt})" for role, opt in missing
        )
        listing = ", ".join(f"'{n}'" for n in names)
        raise InputError(
            f"cannot find the transaction columns: {what}; the columns are {listing}",
            path=source,
        )
    return TransactionColumns(
        customer=str(found["customer"]),
        date=str(found["date"]),
        invoice=found["invoice"],
        quantity=found["quantity"] if found["amount"] is None else None,
        price=found["price"] if found["amount"] is None else None,
        amount=found["amount"],
        product=found["product"],
        line=found["line"],
        category=found["category"],
        discount=found["discount"],
    )
