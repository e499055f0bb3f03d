"""RFM from start to finish: transactions -> customers -> scores, named RFM
segments and behavioural clusters, as one :class:`custseg.SegmentationRun`.

The clusters go through the same Segmenter, k choice, naming, report and
outputs as ``custseg run``; the RFM view rides along in ``run.rfm``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custseg import _display
from custseg.cluster import Progress
from custseg.errors import InputError, MissingColumnError, ParameterError
from custseg.io import DatabaseSource
from custseg.settings import Settings
from custseg.transactions import (
    DEFAULT_SEGMENT_MAP,
    SCORE_DIRECTION,
    Cleaning,
    SegmentMap,
    aggregate_transactions,
    fm_score,
    load_segment_map,
    parse_breaks,
    score_values,
)

__all__ = ["RFM_FEATURES", "RFMAnalysis", "rfm", "rfm_customers"]

# The behavioural clustering's features, and which way is better for each.
RFM_FEATURES = ("recency_days", "frequency", "monetary")
_BETTER_HIGH = {"recency_days": False, "frequency": True, "monetary": True}
_SCORE_COLUMNS = {
    "recency_days": "r_score",
    "frequency": "f_score",
    "monetary": "m_score",
}
# Features whose skewness exceeds this are log-transformed (asinh) before scaling.
SKEW_LIMIT = 1.0


@dataclass(frozen=True)
class RFMAnalysis:
    """The RFM side of a run made by :func:`rfm` (``result.rfm``): cleaning,
    scoring rules and the named segments.

    Attributes
    ----------
    cleaning : Cleaning
        How every transaction line was used or why it was dropped.
    segment_map : SegmentMap
        The rules from R and FM scores to named segments.
    breaks : dict of str to list of float
        The score breaks of recency, frequency and monetary value.
    log_features : tuple of str
        The features clustered on a log scale.
    id_column : str
        The customer id column.
    segments : DataFrame
        One row per named RFM segment, best first.
    overlap : DataFrame
        Customers per RFM segment (rows) and behavioural cluster (columns).
    attributes : dict
        The joined customer attributes, if any.

    Examples
    --------
    ``rfm(...).rfm`` (the log of :func:`rfm`'s example gives one like this):

    >>> import pandas as pd
    >>> dates = pd.to_datetime(["2024-01-02", "2024-03-01", "2024-02-01", "2024-03-05"])
    >>> log = pd.DataFrame({"CustomerID": [1, 1, 2, 3], "InvoiceNo": list("abcd"),
    ...                     "InvoiceDate": dates, "Quantity": 1, "UnitPrice": 10.0})
    >>> analysis = rfm(log, n_clusters=2, stability_resamples=0).rfm
    >>> analysis.id_column, analysis.cleaning.customers
    ('CustomerID', 3)
    """

    cleaning: Cleaning
    segment_map: SegmentMap
    breaks: dict[str, list[float]]
    log_features: tuple[str, ...]
    id_column: str
    segments: pd.DataFrame  # one row per named RFM segment, best first
    overlap: pd.DataFrame  # customers: RFM segment (rows) x cluster (columns)
    attributes: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        """Jupyter: how every transaction line was used, and the RFM segments."""
        return _display.html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": SCORE_DIRECTION,
            "score_rule": "breaks" if self.breaks else "quantiles",
            "breaks": self.breaks,
            "fm_score": "floor((F + M + 1) / 2)",
            "cleaning": self.cleaning.to_dict(),
            "snapshot": self.cleaning.snapshot.isoformat(),
            "log_features": list(self.log_features),
            "id_column": self.id_column,
            "segment_map": self.segment_map.to_dict(),
            "segments": self.segments.to_dict("records"),
            "overlap": {
                "rows": [str(i) for i in self.overlap.index],
                "columns": [str(c) for c in self.overlap.columns],
                "counts": self.overlap.to_numpy().tolist(),
            },
            "attributes": self.attributes,
        }


def rfm_customers(
    customers: pd.DataFrame,
    *,
    breaks: Mapping[str, Sequence[float]] | None = None,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> pd.DataFrame:
    """Add ``r_score``, ``f_score``, ``m_score``, ``fm_score``, ``rfm_score``
    (e.g. "545") and ``rfm_segment`` to a per-customer table."""
    out = customers.copy()
    breaks = breaks or {}
    names = {
        "recency_days": "recency",
        "frequency": "frequency",
        "monetary": "monetary",
    }
    for col, score in _SCORE_COLUMNS.items():
        out[score] = score_values(
            out[col].to_numpy(dtype=np.float64),
            higher_is_better=_BETTER_HIGH[col],
            breaks=breaks.get(names[col]),
        )
    out["fm_score"] = fm_score(out["f_score"].to_numpy(), out["m_score"].to_numpy())
    out["rfm_score"] = (
        out["r_score"].astype(str)
        + out["f_score"].astype(str)
        + out["m_score"].astype(str)
    )
    labels = segment_map.lookup(out["r_score"].to_numpy(), out["fm_score"].to_numpy())
    out["rfm_segment"] = pd.Categorical(labels, categories=segment_map.segments)
    return out


def _segment_table(customers: pd.DataFrame, segment_map: SegmentMap) -> pd.DataFrame:
    total = len(customers)
    revenue = float(customers["monetary"].sum())
    grouped = customers.groupby("rfm_segment", observed=False)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "recency_days_mean": grouped["recency_days"].mean(),
            "frequency_mean": grouped["frequency"].mean(),
            "monetary_mean": grouped["monetary"].mean(),
            "revenue": grouped["monetary"].sum(),
        }
    )
    table["share"] = table["customers"] / total
    table["revenue_share"] = table["revenue"] / revenue if revenue else np.nan
    table["action"] = [segment_map.actions.get(str(s), "") for s in table.index]
    table = table[table["customers"] > 0]
    table.index.name = "rfm_segment"
    return table.reset_index()[
        [
            "rfm_segment",
            "customers",
            "share",
            "revenue",
            "revenue_share",
            "recency_days_mean",
            "frequency_mean",
            "monetary_mean",
            "action",
        ]
    ]


def _join_attributes(
    customers: pd.DataFrame,
    id_column: str,
    attributes: str | os.PathLike[str] | pd.DataFrame,
    key: str | None,
    load_options: dict[str, Any],
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Left-join a customer attribute table; return the table, the attribute
    features chosen, and what happened (for the report)."""
    from custseg.io import load_table, table_meta
    from custseg.prep import select_features
    from custseg.quality import check_table

    table = load_table(attributes, **load_options)
    source = str(table_meta(table).get("source"))
    key = key or id_column
    if key not in table.columns:
        raise MissingColumnError([key], [str(c) for c in table.columns], path=source)
    keys = table[key].astype("string").str.strip()
    repeated = (keys.duplicated(keep=False) & keys.notna()).to_numpy(dtype=bool)
    if repeated.any():
        rows = (np.flatnonzero(repeated) + 1).tolist()
        raise InputError(
            f"customer id {keys[repeated].iloc[0]!r} appears more than once; each "
            "customer needs at most one row of attributes",
            path=source,
            column=key,
            rows=rows,
        )
    report = check_table(table, id_columns=[key])
    chosen = [c for c in select_features(report).columns if c not in customers.columns]
    extra = table[chosen].copy()
    extra.index = pd.Index(keys.to_numpy(), name=None)
    ids = customers[id_column].astype("string").str.strip().to_numpy()
    joined = extra.reindex(ids)
    joined.index = customers.index
    matched = int(pd.Index(ids).isin(extra.index).sum())
    out = pd.concat([customers, joined], axis=1)
    info = {
        "source": source,
        "key": key,
        "features": chosen,
        "matched_customers": matched,
        "unmatched_customers": len(customers) - matched,
        "unused_rows": int(len(table) - matched),
    }
    return out, chosen, info


def rfm(
    data: str | os.PathLike[str] | pd.DataFrame | DatabaseSource | None = None,
    *,
    columns: Mapping[str, str | None] | None = None,
    as_of: str | dt.date | None = None,
    cancellations: str = "net",
    drop_duplicates: bool = True,
    date_format: str | None = None,
    breaks: Mapping[str, str | Sequence[float]] | None = None,
    segment_map: SegmentMap | str | os.PathLike[str] | None = None,
    attributes: str | os.PathLike[str] | pd.DataFrame | None = None,
    attributes_key: str | None = None,
    settings: Settings | None = None,
    algorithm_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> Any:
    """RFM analysis of a transaction log, with behavioural clusters.

    Returns a :class:`custseg.pipeline.SegmentationRun` whose ``data`` is the
    per-customer table (id, recency_days, frequency, monetary, tenure_days,
    avg_order_value, purchase_interval_days, first and last purchase, the
    scores, rfm_segment, and any attributes), whose segments are the
    behavioural clusters, and whose ``rfm`` holds the RFM view.

    Parameters
    ----------
    data : path, DataFrame, DatabaseSource or None
        Transaction lines (CSV, ``.csv.gz``, Parquet, Excel, or a database
        table or query); ``None`` uses the bundled Online Retail sample.
    columns, as_of, cancellations, drop_duplicates, date_format
        As for :func:`custseg.transactions.aggregate_transactions`.
    breaks : mapping, optional
        Custom score thresholds instead of quantiles, e.g.
        ``{"recency": [30, 90, 180, 365], "frequency": "1,2,5,10"}``.
    segment_map : SegmentMap or path to a CSV, optional
        Replaces the default map of recency score x FM score to named segments.
    attributes : path or DataFrame, optional
        Customer attributes joined on the customer id (``attributes_key`` names
        the id column there if it differs); its numeric and categorical columns
        join the clustering features.
    settings : Settings, optional
        How to read and cluster (:class:`custseg.Settings`); default
        ``Settings.for_command("rfm")``, whose k range starts at 3: a two-way
        split (active against lapsed) is what the recency score shows. The
        features are the RFM ones (and the attributes'); ``engine`` says where
        the aggregation runs (scoring and clustering run locally on the
        per-customer table either way).
    algorithm_options : mapping, optional
        Settings fields for the clusters (``algorithm``, ``linkage``, ...), as
        a mapping; the same as passing them as keywords.
    progress : callable, optional
        As for :func:`custseg.pipeline.run`.
    **options
        Any :class:`custseg.Settings` field (``n_clusters``, ``k_range``,
        ``scaler``, ``random_state``, ``algorithm``, ``delimiter``, ``engine``,
        ...), applied on top of ``settings``.

    Returns
    -------
    SegmentationRun
        As described above; write it with :func:`custseg.write_outputs`.

    Examples
    --------
    >>> import pandas as pd
    >>> lines = pd.DataFrame({
    ...     "CustomerID": [1, 1, 2, 3, 3, 3, 4, 5],
    ...     "InvoiceNo": ["a", "b", "c", "d", "e", "f", "g", "h"],
    ...     "InvoiceDate": pd.to_datetime(["2024-01-02", "2024-03-01", "2024-02-01",
    ...         "2024-01-05", "2024-02-05", "2024-03-05", "2024-01-01", "2024-03-09"]),
    ...     "Quantity": [1, 2, 1, 3, 1, 1, 1, 5], "UnitPrice": [10.0] * 8})
    >>> result = rfm(lines, n_clusters=2)
    >>> first = result.data.iloc[0]
    >>> int(first.recency_days), int(first.frequency), float(first.monetary)
    (9, 2, 30.0)
    >>> str(first.rfm_segment)
    'Loyal'
    """
    from custseg.pipeline._run import segment
    from custseg.quality import check_table

    settings = (settings or Settings.for_command("rfm")).replace(
        **{**(algorithm_options or {}), **options}
    )
    engine = settings.engine
    if data is None:
        from custseg.datasets import online_retail_sample_path

        data = online_retail_sample_path()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    parsed_breaks = parse_breaks(breaks)
    if segment_map is None:
        seg_map = DEFAULT_SEGMENT_MAP
    elif isinstance(segment_map, SegmentMap):
        seg_map = segment_map
    else:
        seg_map = load_segment_map(segment_map)
    load_options = settings.load_options()
    if progress:
        progress("aggregating transactions", 0, 1)
    common: dict[str, Any] = {
        "columns": columns,
        "as_of": as_of,
        "cancellations": cancellations,
        "drop_duplicates": drop_duplicates,
        "date_format": date_format,
        "delimiter": settings.delimiter,
        "encoding": settings.encoding,
        "na_values": settings.na_values,
    }
    if engine == "spark":
        from custseg.spark import aggregate_transactions_spark

        if isinstance(data, (pd.DataFrame, DatabaseSource)):
            raise ParameterError(
                "engine='spark' reads files; pass a path (read DataFrames and "
                "database tables with the local engine)"
            )
        table = aggregate_transactions_spark(
            data, master=settings.spark_master, **common
        )
    elif engine == "local":
        table = aggregate_transactions(data, sheet=settings.sheet, **common)
    else:
        raise ParameterError(f"engine must be 'local' or 'spark'; got {engine!r}")
    timings["aggregate"], clock = _lap(clock)
    if progress:
        progress("aggregating transactions", 1, 1)
    cleaning = table.cleaning
    id_column = cleaning.columns.customer
    customers = rfm_customers(
        table.customers, breaks=parsed_breaks, segment_map=seg_map
    )

    attribute_features: list[str] = []
    attribute_info: dict[str, Any] = {}
    if attributes is not None:
        customers, attribute_features, attribute_info = _join_attributes(
            customers, id_column, attributes, attributes_key, load_options
        )
    features = [*RFM_FEATURES, *attribute_features]
    log_features = tuple(
        c for c in RFM_FEATURES if abs(_skewness(customers[c])) > SKEW_LIMIT
    )
    if len(customers) < 2:
        raise InputError(
            f"only {len(customers)} customer left after cleaning; RFM segments "
            "need at least 2",
            path=cleaning.source,
        )
    n_clusters, k_range = settings.n_clusters, settings.k_range
    low, high = k_range
    high = min(high, len(customers) - 1) if n_clusters is None else high
    low = min(low, high)
    source = cleaning.source
    customers.attrs["custseg"] = {"source": source, "format": "rfm"}
    quality = check_table(customers, id_columns=[id_column])
    quality = quality.with_repairs(cleaning.messages())
    timings["score"], clock = _lap(clock)
    clustered = segment(
        customers,
        settings.replace(
            k_range=(max(2, low), max(2, high)),
            features=features,
            id_columns=(id_column,),
            log_features=log_features or None,
            column_roles=None,
            previous=None,
        ),
        quality=quality,
        source=str(source),
        timings=timings,
        progress=progress,
    )
    segmenter = clustered.segmenter
    labels = segmenter.labels_
    cluster_names = [
        f"{i}. {n}"
        for i, n in zip(segmenter.segment_ids_, segmenter.segment_names_, strict=True)
    ]
    k = len(cluster_names)
    overlap = pd.crosstab(
        customers["rfm_segment"],
        pd.Categorical.from_codes(
            np.where(labels >= 0, labels, k).astype(np.int64),
            categories=pd.Index([*cluster_names, "unassigned"], dtype=object),
        ),
        dropna=False,
        colnames=["cluster"],
    )
    overlap = overlap.loc[overlap.sum(axis=1) > 0]
    if not (labels < 0).any():
        overlap = overlap.drop(columns="unassigned")
    analysis = RFMAnalysis(
        cleaning=cleaning,
        segment_map=seg_map,
        breaks=parsed_breaks,
        log_features=log_features,
        id_column=id_column,
        segments=_segment_table(customers, seg_map),
        overlap=overlap,
        attributes=attribute_info,
    )
    record = {
        "data": source,
        "command": "rfm",
        "columns": cleaning.columns.to_dict(),
        "as_of": cleaning.snapshot.isoformat() if as_of is not None else None,
        "cancellations": cancellations,
        "drop_duplicates": drop_duplicates,
        "breaks": parsed_breaks,
        "segment_map": "default"
        if segment_map is None
        else str(segment_map)
        if not isinstance(segment_map, SegmentMap)
        else "custom",
        "attributes": attribute_info.get("source"),
        "features": features,
        "n_clusters": n_clusters,
        "k_range": list(k_range),
        "scaler": settings.scaler,
        "random_state": settings.random_state,
        "algorithm": segmenter.algorithm_,
        "engine": engine,
    }
    return dataclasses.replace(clustered, settings=record, engine=engine, rfm=analysis)


def _skewness(column: pd.Series) -> float:
    """Sample skewness (third standardised moment); 0 for a constant column."""
    x = column.to_numpy(dtype=np.float64)
    x = x[np.isfinite(x)]
    sd = x.std() if len(x) else 0.0
    return float(np.mean((x - x.mean()) ** 3) / sd**3) if sd > 0 else 0.0


def _lap(start: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - start, now
