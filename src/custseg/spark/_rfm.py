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
from custseg.spark._read import read_source
from custseg.spark._session import quiet_pyspark, spark_session
from custseg.transactions import (
    DROP_REASONS,
    CustomerTable,
    check_rules,
    cleaning_from_groups,
    detect_date_format,
    find_columns,
)

if TYPE_CHECKING:
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
    drop_duplicates: bool = True,
    date_format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    na_values: Sequence[str] = (),
    master: str | None = None,
) -> CustomerTable:
    """:func:`custseg.transactions.aggregate_transactions` on Spark (CSV or Parquet)."""
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
        )


def _aggregate(
    df: DataFrame,
    meta: dict[str, Any],
    na_values: frozenset[str],
    columns: Mapping[str, str | None] | None,
    snapshot_given: dt.date | None,
    cancellations: str,
    drop_duplicates: bool,
    date_format: str | None,
) -> CustomerTable:
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, NumericType, StringType, TimestampType

    name = str(meta["source"])
    types = {f.name: f.dataType for f in df.schema.fields}
    cols = find_columns(list(types), columns, source=name)
    na = sorted(na_values | {""})

    def text(col: str) -> Column:
        t = F.trim(F.col(f"`{col}`").cast("string"))
        return F.when(t.isin(na), None).otherwise(t)

    def number(col: str) -> Column:
        if isinstance(types[col], NumericType):
            return F.col(f"`{col}`").cast("double")
        cleaned = F.regexp_replace(text(col), r"^[£$€¥]\s*|\s+", "")
        return cleaned.try_cast("double")

    date_type = types[cols.date]
    fmt: str | None = None
    if isinstance(date_type, (TimestampType, DateType)):
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
        raise ColumnTypeError(
            f"holds {date_type.simpleString()} values, not dates",
            path=name,
            column=cols.date,
            hint="Name the date column with --date-column.",
        )
    customer = F.regexp_replace(text(cols.customer), r"^([0-9]+)\.0+$", "$1")
    if cols.amount is not None:
        q = number(cols.amount)
        p = F.lit(1.0)
        value = q
    else:
        assert cols.quantity is not None and cols.price is not None
        q, p = number(cols.quantity), number(cols.price)
        value = q * p
    lines = df.select(
        *[F.col(f"`{c}`") for c in types],
        customer.alias("_c"),
        ts.alias("_ts"),
        q.alias("_q"),
        p.alias("_p"),
        value.try_cast("decimal(18,4)").alias("_v"),
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
        snap = F.lit(dt.datetime.combine(snapshot_given, dt.time()))
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
    lines = lines.withColumn("_reason", reason).withColumn(
        "_v", F.when(F.col("_cx"), -F.abs("_v")).otherwise(F.col("_v"))
    )
    # Exact duplicates: one group per distinct line (every input column), with
    # its number of copies; each group's value counts once.
    if drop_duplicates:
        distinct = lines.groupBy(
            *[F.col(f"`{c}`") for c in types],
            "_c",
            "_inv",
            "_cx",
            "_reason",
            "_ts",
            "_v",
        ).agg(F.count(F.lit(1)).alias("_n"))
    else:
        distinct = lines.withColumn("_n", F.lit(1))
    orders = distinct.groupBy("_c", "_inv", "_cx", "_reason").agg(
        F.sum("_n").alias("n"),
        (F.sum("_n") - F.count(F.lit(1))).alias("dups"),
        F.sum("_v").alias("amount"),
        F.min("_ts").alias("first_ts"),
        F.max("_ts").alias("last_ts"),
    )
    orders = orders.withColumn(
        "dups", F.when(F.col("_reason").isNull(), F.col("dups")).otherwise(0)
    )
    result = (
        orders.groupBy(
            F.when(F.col("_reason").isNull(), F.col("_c")).alias("customer"),
            F.col("_reason").alias("reason"),
        )
        .agg(
            F.sum("n").cast("long").alias("lines"),
            F.sum("dups").cast("long").alias("dups"),
            F.count(F.when(~F.col("_cx"), 1)).cast("long").alias("frequency"),
            F.sum(F.when(F.col("_cx"), F.col("n") - F.col("dups")))
            .cast("long")
            .alias("netted"),
            F.min(F.when(~F.col("_cx"), F.col("first_ts"))).alias("first_ts"),
            F.max(F.when(~F.col("_cx"), F.col("last_ts"))).alias("last_ts"),
            F.max("last_ts").alias("any_ts"),
            F.sum("amount").cast("double").alias("monetary"),
        )
        .toPandas()
    )
    return cleaning_from_groups(
        result,
        snapshot_given=snapshot_given,
        cancellations=cancellations,
        drop_duplicates=drop_duplicates,
        columns=cols,
        date_format=fmt,
        info={**{k: v for k, v in meta.items() if k != "repairs"}, "engine": "spark"},
        name=name,
    )
