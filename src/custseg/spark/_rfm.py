"""The RFM aggregation on Spark: the same cleaning rules, reasons and
per-customer table as :func:`custseg.transactions.aggregate_transactions` (DuckDB),
for transaction logs that live on a cluster.

Only the per-customer table (one row per customer) comes back to the driver;
scoring, segments and clustering then run locally on it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from custseg.errors import ColumnTypeError, ParameterError
from custseg.io import number_style
from custseg.spark._read import read_source
from custseg.spark._session import quiet_pyspark, spark_session
from custseg.transactions import (
    DROP_REASONS,
    PRICE_DISCOUNT,
    TOP_CATEGORIES,
    CustomerTable,
    check_rules,
    cleaning_from_groups,
    detect_date_format,
    find_columns,
    identical_rule,
    preference_rule,
    with_preferences,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

__all__ = ["aggregate_transactions_spark", "spark_datetime_pattern"]

_STRPTIME_TO_SPARK = {
    "%Y": "yyyy",
    "%m": "M",  # one or two digits when parsing
    "%d": "d",
    "%H": "H",
    "%M": "mm",
    "%S": "ss",
}


def spark_datetime_pattern(fmt: str) -> str:
    """A strptime format as a Spark datetime pattern.

    Examples
    --------
    >>> spark_datetime_pattern("%Y-%m-%dT%H:%M:%S")
    "yyyy-M-d'T'H:mm:ss"
    """
    out = []
    for token in re.split(r"(%[A-Za-z])", fmt):
        if token in _STRPTIME_TO_SPARK:
            out.append(_STRPTIME_TO_SPARK[token])
        elif token.startswith("%"):
            raise ParameterError(f"date format directive {token!r} is not supported")
        elif token:
            letters = re.sub(r"([A-Za-z]+)", r"'\1'", token)
            out.append(letters)
    return "".join(out)


def aggregate_transactions_spark(
    data: str | os.PathLike[str],
    *,
    columns: Mapping[str, str | None] | None = None,
    as_of: str | dt.date | None = None,
    cancellations: str = "net",
    drop_duplicates: bool | None = None,
    date_format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    na_values: Sequence[str] = (),
    categories: str | os.PathLike[str] | pd.DataFrame | None = None,
    products_top: int | None = None,
    top_categories: int = TOP_CATEGORIES,
    distinct_products: bool = False,
    price_discounts: bool = False,
    master: str | None = None,
) -> CustomerTable:
    """:func:`custseg.transactions.aggregate_transactions` on Spark (CSV or Parquet).

    The options are the DuckDB engine's, less ``sheet`` (Spark reads no
    Excel), ``threads`` and ``memory_limit``; ``master`` is the Spark master
    (default: a local session on every core). The result is the same, column
    for column (tests/test_spark.py compares the two).
    """
    snapshot_given = check_rules(cancellations, as_of)
    spark = spark_session(master)
    with quiet_pyspark():
        source = read_source(
            spark, data, delimiter=delimiter, encoding=encoding, na_values=na_values
        )
        return _aggregate(
            source.df.toDF(*source.names),
            source.meta,
            source.na_values,
            columns,
            snapshot_given,
            cancellations,
            drop_duplicates,
            date_format,
            categories=categories,
            products_top=products_top,
            top_categories=top_categories,
            distinct_products=distinct_products,
            price_discounts=price_discounts,
        )


def _aggregate(
    df: DataFrame,
    meta: dict[str, Any],
    na_values: frozenset[str],
    columns: Mapping[str, str | None] | None,
    snapshot_given: dt.date | None,
    cancellations: str,
    drop_duplicates: bool | None,
    date_format: str | None,
    *,
    categories: str | os.PathLike[str] | pd.DataFrame | None = None,
    products_top: int | None = None,
    top_categories: int = TOP_CATEGORIES,
    distinct_products: bool = False,
    price_discounts: bool = False,
) -> CustomerTable:
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DecimalType,
        DoubleType,
        FloatType,
        NumericType,
        StringType,
        TimestampNTZType,
        TimestampType,
    )

    name = str(meta["source"])
    types = {f.name: f.dataType for f in df.schema.fields}
    cols = find_columns(list(types), columns, source=name)
    wanted = preference_rule(cols, categories, products_top, top_categories)
    rule = identical_rule(cols, drop_duplicates)
    count_products = distinct_products and cols.product is not None
    na = sorted(na_values | {""})

    def text(col: str) -> Column:
        t = F.trim(F.col(f"`{col}`").cast("string"))
        return F.when(t.isin(na), None).otherwise(t)

    # As the DuckDB engine reads numbers written for people (its _number).
    comma = meta.get("format") == "csv" and meta.get("delimiter") not in (",", None)

    def number(col: str) -> Column:
        if isinstance(types[col], NumericType):
            return F.col(f"`{col}`").cast("double")
        value = text(col)
        with quiet_pyspark():
            rows = df.select(value.alias("v")).where(value.isNotNull()).limit(1000)
            sample = [str(r["v"]) for r in rows.collect()]
        style = number_style(sample, comma) if sample else None
        plain = F.regexp_replace(value, r"^[£$€¥]\s*|\s+", "").try_cast("double")
        if style is None:
            return plain
        digits = F.regexp_replace(value, style.remove, "")
        if style.decimal == ",":
            digits = F.regexp_replace(digits, ",", ".")
        return F.when(value.rlike(style.pattern), digits.try_cast("double")).otherwise(
            plain
        )

    def discount_flag(col: str) -> Column:
        # As the DuckDB engine reads it: any positive number, or yes/true/y/1.
        if isinstance(types[col], BooleanType):
            return F.coalesce(F.col(f"`{col}`"), F.lit(False))
        if isinstance(types[col], NumericType):
            return F.coalesce(F.col(f"`{col}`").cast("double") > 0, F.lit(False))
        low = F.lower(text(col))
        rate = F.regexp_replace(low, r"^[£$€¥]\s*|\s+|%$", "").try_cast("double")
        return F.coalesce(low.isin("y", "yes", "true", "t") | (rate > 0), F.lit(False))

    date_type = types[cols.date]
    fmt: str | None = None
    if isinstance(date_type, (TimestampType, TimestampNTZType, DateType)):
        # Parquet timestamps without a zone (pandas writes those) come as
        # TIMESTAMP_NTZ: their wall-clock time is taken in the session's zone.
        ts = F.col(f"`{cols.date}`").cast("timestamp")
    elif isinstance(date_type, StringType):
        sample = [
            r[0]
            for r in df.select(text(cols.date).alias("d"))
            .where(F.col("d").isNotNull())
            .limit(5000)
            .collect()
        ]
        fmt = date_format or (
            detect_date_format(sample, name, cols.date) if sample else None
        )
        ts = (
            F.try_to_timestamp(text(cols.date), F.lit(spark_datetime_pattern(fmt)))
            if fmt
            else F.lit(None).cast("timestamp")
        )
    else:
        # As the DuckDB engine: dates written as numbers (19970101), with
        # --date-format or when every value is a YYYYMMDD date.
        whole = None
        if isinstance(date_type, NumericType):
            with quiet_pyspark():
                bounds = df.agg(F.min(f"`{cols.date}`"), F.max(f"`{cols.date}`"))
                row = bounds.first()
            low, high = (row[0], row[1]) if row is not None else (None, None)
            whole = date_format is not None or (
                low is not None
                and high is not None
                and low >= 18_000_101
                and high <= 21_001_231
            )
        if not whole:
            raise ColumnTypeError(
                f"holds {date_type.simpleString()} values, not dates",
                path=name,
                column=cols.date,
                hint="Name the date column with --date-column, or give the "
                "format of dates written as numbers with --date-format.",
            )
        fmt = date_format or "%Y%m%d"
        digits = F.lpad(F.col(f"`{cols.date}`").cast("bigint").cast("string"), 8, "0")
        ts = F.try_to_timestamp(digits, F.lit(spark_datetime_pattern(fmt)))
    for role in ("quantity", "price", "amount"):
        col = getattr(cols, role)
        if col is not None and isinstance(
            types[col], (DateType, TimestampType, TimestampNTZType, BooleanType)
        ):
            raise ColumnTypeError(
                f"is the {role} column but holds {types[col].simpleString().upper()} "
                "values",
                path=name,
                column=col,
            )
    if isinstance(types[cols.customer], (FloatType, DoubleType, DecimalType)):
        # 17850.0 (a pandas export of an integer id with missing values) is
        # 17850; Spark would write 1.785E7 for 17850000.0.
        raw_id = F.col(f"`{cols.customer}`")
        customer = F.when(
            (F.abs(raw_id) < 9e15) & (raw_id == F.floor(raw_id)),
            raw_id.cast("long").cast("string"),
        ).otherwise(raw_id.cast("string"))
    else:
        customer = F.regexp_replace(text(cols.customer), r"^([0-9]+)\.0+$", "$1")
    if cols.amount is not None:
        q = number(cols.amount)
        p = F.lit(1.0)
        value = q
    elif cols.price is not None:
        assert cols.quantity is not None
        q, p = number(cols.quantity), number(cols.price)
        value = q * p
    else:  # no money: a line is worth its quantity, or one (as in DuckDB)
        q = number(cols.quantity) if cols.quantity is not None else F.lit(1.0)
        p = F.lit(1.0)
        value = q
    no_text = F.lit(None).cast("string")
    lines = df.select(
        *[F.col(f"`{c}`") for c in types],
        customer.alias("_c"),
        ts.alias("_ts"),
        q.alias("_q"),
        p.alias("_p"),
        value.try_cast("decimal(18,4)").alias("_v"),
        (text(cols.product) if cols.product is not None else no_text).alias("_prod"),
        (text(cols.category) if cols.category is not None else no_text).alias("_cat"),
        (
            discount_flag(cols.discount) if cols.discount is not None else F.lit(False)
        ).alias("_disc"),
    )
    if cols.invoice is not None:
        lines = lines.withColumn("_inv", text(cols.invoice))
        invoice_cancel = F.coalesce(F.col("_inv").rlike("^[Cc][0-9]"), F.lit(False))
    else:
        lines = lines.withColumn("_inv", F.date_format("_ts", "yyyy-MM-dd"))
        invoice_cancel = F.lit(False)
    lines = lines.withColumn(
        "_cx", invoice_cancel | F.coalesce(F.col("_v") < 0, F.lit(False))
    )

    # As in the DuckDB engine, one pass: the after-as-of rule only exists when
    # an as-of date is given, and the default snapshot comes from the result.
    code = {key: i for i, key in enumerate(DROP_REASONS, start=1)}
    exclude = cancellations == "exclude"
    reason = F.when(F.col("_ts").isNull(), code["missing_date"])
    if snapshot_given is not None:
        # A date literal, made a timestamp in the session's time zone like the
        # parsed dates (a Python datetime would be read in the driver's).
        snap = F.lit(snapshot_given).cast("timestamp")
        reason = reason.when(F.col("_ts") >= snap, code["after_as_of"])
    reason = (
        reason.when(F.col("_c").isNull(), code["missing_customer"])
        .when(
            F.col("_q").isNull() | F.col("_p").isNull() | F.col("_v").isNull(),
            code["missing_value"],
        )
        .when(F.col("_q") == 0, code["zero_quantity"])
        .when(F.col("_p") <= 0, code["bad_price"])
    )
    if exclude:
        reason = reason.when(F.col("_cx"), code["cancellation"])
    signed = F.when(F.col("_cx"), -F.abs("_v")).otherwise(F.col("_v"))
    lines = lines.select(
        *[F.col(f"`{c}`") for c in types],
        "_c",
        "_inv",
        "_ts",
        "_cx",
        "_prod",
        "_cat",
        signed.alias("_v"),
        (
            F.abs("_q") if cols.quantity is not None else F.lit(None).cast("double")
        ).alias("_it"),
        F.when(F.col("_disc"), signed).alias("_dv"),
        reason.alias("_reason"),
        "_p",
    )
    by_price = (
        price_discounts
        and cols.discount is None
        and cols.product is not None
        and cols.price is not None
    )
    if by_price:
        # As in DuckDB: more than 5% below the product's median unit price
        # over the purchase lines is a discount.
        usual = (
            lines.where(
                F.col("_reason").isNull() & ~F.col("_cx") & F.col("_prod").isNotNull()
            )
            .groupBy("_prod")
            .agg(F.median("_p").alias("_usual"))
        )
        lines = lines.join(usual, on="_prod", how="left").withColumn(
            "_dv",
            F.when(F.col("_p") < (1 - PRICE_DISCOUNT) * F.col("_usual"), F.col("_v")),
        )
    derived = ["_c", "_inv", "_ts", "_cx", "_prod", "_cat", "_v", "_it", "_dv"]
    # Identical lines: one group per distinct line (every input column), with
    # its number of copies. With rule "drop" a used line's value counts once,
    # otherwise once per copy.
    if rule != "unchecked":
        distinct = lines.groupBy(
            *[F.col(f"`{c}`") for c in types], *derived, "_reason"
        ).agg(F.count(F.lit(1)).cast("int").alias("_n"))
    else:
        distinct = lines.select(*derived, "_reason", F.lit(1).alias("_n"))
    used = F.col("_reason").isNull()
    n = F.col("_n")
    copies = F.when(used, F.lit(1)).otherwise(n) if rule == "drop" else n
    distinct = distinct.withColumn("_w", copies)
    # Distinct products, as in DuckDB: each order's set of product hashes,
    # merged per customer (8 bytes per product, not its text). xxhash64 of a
    # missing code is a number, so missing codes are left out before it.
    product_hash = F.when(used & F.col("_prod").isNotNull(), F.xxhash64("_prod"))
    products = [F.collect_set(product_hash).alias("prods")] if count_products else []
    groups = distinct.groupBy("_c", "_inv", "_cx", "_reason").agg(
        F.sum("_n").alias("n"),
        F.when(used, F.sum("_n") - F.count(F.lit(1))).otherwise(0).alias("dups"),
        F.sum(F.col("_v") * F.col("_w")).alias("amount"),
        F.sum(F.col("_it") * F.col("_w")).alias("items"),
        F.sum(F.col("_dv") * F.col("_w")).alias("disc"),
        *products,
        F.min("_ts").alias("first_ts"),
        F.max("_ts").alias("last_ts"),
    )
    # Orders -> customers: the gaps' window and the customers' group-by both
    # go by customer, so one shuffle by customer serves the two.
    orders = groups.repartition("_c")
    cx = F.col("_cx")
    purchase = used & ~cx
    by_order = Window.partitionBy("_c", "_cx", "_reason").orderBy("first_ts")
    gap = F.datediff(F.to_date("first_ts"), F.to_date(F.lag("first_ts").over(by_order)))
    orders = orders.withColumn("gap", F.when(purchase, gap))
    if snapshot_given is not None:
        recent_from = F.lit(snapshot_given - dt.timedelta(days=90)).cast("timestamp")
    else:
        # The default snapshot is the day after the last date of any order.
        last = orders.agg(F.max("last_ts").alias("_last"))
        orders = orders.crossJoin(F.broadcast(last))
        recent_from = F.date_add(F.to_date("_last"), 1 - 90).cast("timestamp")
    dropped_copies = F.col("dups") if rule == "drop" else F.lit(0)
    first, last_ts = F.col("first_ts"), F.col("last_ts")
    weekday = F.weekday("first_ts")  # 0 Monday .. 6 Sunday
    timed = (first != F.date_trunc("day", first)) | (
        last_ts != F.date_trunc("day", last_ts)
    )
    product_count = (
        F.size(F.array_distinct(F.flatten(F.collect_list(F.when(~cx, F.col("prods"))))))
        if count_products
        else F.lit(None)
    )
    result = (
        orders.groupBy(F.col("_c").alias("customer"), F.col("_reason").alias("reason"))
        .agg(
            F.sum("n").cast("long").alias("lines"),
            F.sum("dups").cast("long").alias("dups"),
            F.sum(dropped_copies).cast("long").alias("dropped_copies"),
            F.count(F.when(~cx, 1)).cast("long").alias("frequency"),
            F.sum(F.when(cx, F.col("n") - dropped_copies)).cast("long").alias("netted"),
            F.min(F.when(~cx, first)).alias("first_ts"),
            F.max(F.when(~cx, last_ts)).alias("last_ts"),
            F.max(last_ts).alias("any_ts"),
            F.sum("amount").cast("double").alias("monetary"),
            F.sum(F.when(~cx, F.col("amount"))).cast("double").alias("gross"),
            (-F.sum(F.when(cx, F.col("amount")))).cast("double").alias("returned"),
            F.sum(F.when(~cx, F.col("items"))).cast("double").alias("items"),
            F.sum(F.when(~cx, F.col("disc"))).cast("double").alias("discounted"),
            F.count(F.when(~cx & (first >= recent_from), 1))
            .cast("long")
            .alias("recent_orders"),
            F.avg("gap").alias("gap_mean"),
            F.stddev_pop("gap").alias("gap_sd"),
            F.count("gap").cast("long").alias("gaps"),
            F.count(F.when(~cx & (weekday >= 5), 1))
            .cast("long")
            .alias("weekend_orders"),
            product_count.cast("long").alias("products"),
            F.bool_or(timed).alias("has_time"),
            # Ties go to the smallest weekday and hour, as in DuckDB.
            F.mode(F.when(purchase, weekday + 1), deterministic=True).alias("fav_dow"),
            F.mode(F.when(purchase, F.hour("first_ts")), deterministic=True).alias(
                "fav_hour"
            ),
        )
        .toPandas()
    )
    table = cleaning_from_groups(
        result,
        snapshot_given=snapshot_given,
        cancellations=cancellations,
        identical=rule,
        discounts=cols.discount is not None or by_price,
        columns=cols,
        date_format=fmt,
        info={**{k: v for k, v in meta.items() if k != "repairs"}, "engine": "spark"},
        name=name,
    )
    if wanted is None:
        return table
    # The spend per customer and category (or product): a second job, run only
    # when the log has categories or products are asked for.
    spent = distinct.where(purchase)
    if wanted.kind == "product":
        key = F.col("_prod")
    elif wanted.categories is not None:
        mapping = df.sparkSession.createDataFrame(
            wanted.categories[["product", "category"]],
            schema="product string, category string",
        )
        spent = spent.join(
            F.broadcast(mapping), spent["_prod"] == mapping["product"], "left"
        )
        key = F.col("category")
    else:
        key = F.col("_cat")
    spend = (
        spent.groupBy(F.col("_c").alias("customer"), key.alias("key"))
        .agg(F.sum(F.col("_v") * F.col("_w")).cast("double").alias("spend"))
        .toPandas()
    )
    return with_preferences(table, spend, wanted)
