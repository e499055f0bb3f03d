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
from custseg.io import DatabaseSource, LoadedTable
from custseg.settings import Settings
from custseg.transactions import (
    DEFAULT_SEGMENT_MAP,
    SCORE_DIRECTION,
    SCORE_DIRECTION_RF,
    Cleaning,
    SegmentMap,
    aggregate_transactions,
    fm_score,
    load_segment_map,
    parse_breaks,
    score_values,
)

__all__ = [
    "BEHAVIOUR_FEATURES",
    "FEATURE_SETS",
    "RFM_FEATURES",
    "RFMAnalysis",
    "choose_rfm_features",
    "rfm",
    "rfm_customers",
]

# The behavioural clustering's features, and which way is better for each.
RFM_FEATURES = ("recency_days", "frequency", "monetary")
# The behaviour measures of the per-customer table (docs/rfm.md), in the
# order they are listed; each is present only where the log allows it.
BEHAVIOUR_FEATURES = (
    "tenure_days",
    "avg_order_value",
    "purchase_interval_days",
    "items_per_order",
    "interval_cv",
    "trend_90d",
    "return_rate",
    "discount_share",
    "weekend_share",
    "distinct_products",
)
# What ``features`` may name instead of columns. "auto" (the default) is RFM
# plus the return rate and discount share where the log has returns or
# discounts: measures a marketer acts on directly, which keep the clusters
# explainable; "behaviour" adds every measure present for most customers.
FEATURE_SETS = ("auto", "rfm", "behaviour", "preferences", "all")
# A behaviour measure joins the "behaviour" set only when known for at least
# this share of customers (the interval measures need two or three orders).
_MIN_KNOWN = 0.7
_BETTER_HIGH = {"recency_days": False, "frequency": True, "monetary": True}
_SCORE_COLUMNS = {
    "recency_days": "r_score",
    "frequency": "f_score",
    "monetary": "m_score",
}
# Behaviour measures that are amounts, counts or day spans (the others are
# shares and ratios).
_LOG_CANDIDATES = (
    "tenure_days",
    "avg_order_value",
    "purchase_interval_days",
    "items_per_order",
    "distinct_products",
)
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
    features: tuple[str, ...] = RFM_FEATURES  # what the clusters are made on
    # one row per cluster: the mean of each behaviour and preference measure
    behaviour: pd.DataFrame = field(default_factory=pd.DataFrame)
    # preference share column -> the category (or product) it is for
    preference_labels: dict[str, str] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        """Jupyter: how every transaction line was used, and the RFM segments."""
        return _display.html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": SCORE_DIRECTION
            if self.cleaning.columns.has_money
            else SCORE_DIRECTION_RF,
            "score_rule": "breaks" if self.breaks else "quantiles",
            "breaks": self.breaks,
            "fm_score": "floor((F + M + 1) / 2)"
            if self.cleaning.columns.has_money
            else "F (the log has no money column)",
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
            "features": list(self.features),
            "preference_labels": dict(self.preference_labels),
            "behaviour": self.behaviour_summary(),
        }

    def behaviour_summary(self) -> dict[str, Any]:
        """The behaviour table for people: each measure's column, label and
        kind (``share`` shows as a percentage, ``days`` as whole days,
        ``number`` with two decimals), and one row of values per cluster
        (None where unknown), with what the cluster prefers."""
        return _behaviour_dict(self.behaviour, self.preference_labels)


def rfm_customers(
    customers: pd.DataFrame,
    *,
    breaks: Mapping[str, Sequence[float]] | None = None,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> pd.DataFrame:
    """Add ``r_score``, ``f_score``, ``m_score``, ``fm_score``, ``rfm_score``
    (e.g. "545") and ``rfm_segment`` to a per-customer table. Without a
    ``monetary`` column (a log with no money) there is no ``m_score``: the FM
    score is the F score and ``rfm_score`` has two digits (e.g. "54")."""
    out = customers.copy()
    breaks = breaks or {}
    names = {
        "recency_days": "recency",
        "frequency": "frequency",
        "monetary": "monetary",
    }
    for col, score in _SCORE_COLUMNS.items():
        if col not in out.columns:
            continue
        out[score] = score_values(
            out[col].to_numpy(dtype=np.float64),
            higher_is_better=_BETTER_HIGH[col],
            breaks=breaks.get(names[col]),
        )
    money = "m_score" in out.columns
    out["fm_score"] = (
        fm_score(out["f_score"].to_numpy(), out["m_score"].to_numpy())
        if money
        else out["f_score"]
    )
    out["rfm_score"] = out["r_score"].astype(str) + out["f_score"].astype(str)
    if money:
        out["rfm_score"] += out["m_score"].astype(str)
    labels = segment_map.lookup(out["r_score"].to_numpy(), out["fm_score"].to_numpy())
    out["rfm_segment"] = pd.Categorical(labels, categories=segment_map.segments)
    return out


def _segment_table(customers: pd.DataFrame, segment_map: SegmentMap) -> pd.DataFrame:
    total = len(customers)
    grouped = customers.groupby("rfm_segment", observed=False)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "recency_days_mean": grouped["recency_days"].mean(),
            "frequency_mean": grouped["frequency"].mean(),
        }
    )
    if "monetary" in customers.columns:
        revenue = float(customers["monetary"].sum())
        table["monetary_mean"] = grouped["monetary"].mean()
        table["revenue"] = grouped["monetary"].sum()
    else:  # a log with no money: no revenue to share out
        revenue = 0.0
        table["monetary_mean"] = table["revenue"] = np.nan
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


def choose_rfm_features(
    customers: pd.DataFrame,
    requested: Sequence[str] | None,
    preference_columns: Sequence[str] = (),
    *,
    source: str | None = None,
) -> list[str]:
    """The clustering features of an RFM run: a set named in
    :data:`FEATURE_SETS`, or columns of the per-customer table.

    Examples
    --------
    >>> table = pd.DataFrame({"recency_days": [1, 9], "frequency": [2, 1],
    ...     "monetary": [5.0, 9.0], "return_rate": [0.0, 0.2],
    ...     "weekend_share": [0.5, 1.0]})
    >>> choose_rfm_features(table, None)
    ['recency_days', 'frequency', 'monetary', 'return_rate']
    >>> choose_rfm_features(table, ["behaviour"])
    ['recency_days', 'frequency', 'monetary', 'return_rate', 'weekend_share']
    >>> choose_rfm_features(table, ["frequency", "weekend_share"])
    ['frequency', 'weekend_share']
    """
    names = list(requested or ["auto"])
    if len(names) == 1 and names[0].lower() in FEATURE_SETS:
        which = names[0].lower()
    elif any(n.lower() in FEATURE_SETS for n in names):
        raise ParameterError(
            f"features takes one of {', '.join(FEATURE_SETS)}, or column names; "
            f"got {', '.join(names)}"
        )
    else:
        missing = [n for n in names if n not in customers.columns]
        if missing:
            raise MissingColumnError(
                missing, [str(c) for c in customers.columns], path=source
            )
        return names

    def varies(col: str) -> bool:
        values = customers[col]
        return bool(values.notna().mean() >= _MIN_KNOWN and values.nunique() > 1)

    chosen = [c for c in RFM_FEATURES if c in customers.columns]
    present = [c for c in BEHAVIOUR_FEATURES if c in customers.columns]
    if which == "auto":
        chosen += [
            c
            for c in ("return_rate", "discount_share")
            if c in present and varies(c) and (customers[c] > 0).mean() >= 0.01
        ]
    if which in ("behaviour", "all"):
        chosen += [c for c in present if varies(c)]
    if which in ("preferences", "all"):
        if not preference_columns:
            raise ParameterError(
                "features='preferences' needs a product category column "
                "(--category-column, or --categories FILE with a product column) "
                "or --products-top N"
            )
        chosen += [c for c in preference_columns if varies(c)]
    return chosen


def _join_attributes(
    customers: pd.DataFrame,
    id_column: str,
    attributes: str | os.PathLike[str] | pd.DataFrame,
    key: str | None,
    load_options: dict[str, Any],
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Left-join a customer attribute table; return the table, the attribute
    features chosen, and what happened (for the report)."""
    from custseg.io import read_table
    from custseg.prep import select_features
    from custseg.quality import check_table

    loaded = read_table(attributes, **load_options)
    table, source = loaded.frame, loaded.source
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
    report = check_table(loaded, id_columns=[key])
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
    drop_duplicates: bool | None = None,
    date_format: str | None = None,
    categories: str | os.PathLike[str] | pd.DataFrame | None = None,
    products_top: int | None = None,
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
    columns, as_of, cancellations, drop_duplicates, date_format, categories, products_top
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
        per-customer table either way). ``features`` names what to cluster
        on: one of :data:`FEATURE_SETS` (``auto``: RFM plus the return rate
        and discount share where the log has them; ``rfm``; ``behaviour``:
        RFM and every behaviour measure; ``preferences``: RFM and the
        category or product shares; ``all``), or columns of the customer
        table.
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
        "categories": categories,
        "products_top": products_top,
        "distinct_products": _wants_line_measures(settings.features),
        "price_discounts": _wants_line_measures(settings.features),
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
        if (
            settings.no_header
            or settings.names
            or settings.delimiter
            in (
                "whitespace",
                "space",
            )
        ):
            raise ParameterError(
                "engine='spark' reads delimited files with a header; read logs "
                "split by spaces, or named with --no-header/--names, with the "
                "local engine"
            )
        table = aggregate_transactions_spark(
            data, master=settings.spark_master, **common
        )
    elif engine == "local":
        table = aggregate_transactions(
            data,
            sheet=settings.sheet,
            header=not settings.no_header,
            names=settings.names,
            **common,
        )
    else:
        raise ParameterError(f"engine must be 'local' or 'spark'; got {engine!r}")
    timings["aggregate"], clock = _lap(clock)
    if progress:
        progress("aggregating transactions", 1, 1)
    cleaning = table.cleaning
    id_column = cleaning.columns.customer
    if "monetary" in parsed_breaks and not cleaning.columns.has_money:
        raise ParameterError(
            "monetary breaks (--m-breaks) need a money column, and the log has "
            "none (name one with --amount-column, or --quantity-column and "
            "--price-column)"
        )
    customers = rfm_customers(
        table.customers, breaks=parsed_breaks, segment_map=seg_map
    )

    attribute_features: list[str] = []
    attribute_info: dict[str, Any] = {}
    if attributes is not None:
        customers, attribute_features, attribute_info = _join_attributes(
            customers, id_column, attributes, attributes_key, load_options
        )
    features = choose_rfm_features(
        customers,
        settings.features,
        list(table.preference_labels),
        source=cleaning.source,
    )
    if settings.features is None or settings.features[0].lower() in FEATURE_SETS:
        features += [c for c in attribute_features if c not in features]
    # Heavy-tailed amounts and counts are clustered on a log scale; shares
    # (0 to 1) and ratios stay as they are.
    log_features = tuple(
        c
        for c in features
        if c in (*RFM_FEATURES, *_LOG_CANDIDATES)
        and abs(_skewness(customers[c])) > SKEW_LIMIT
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
    quality = check_table(
        LoadedTable(customers, {"source": source, "format": "rfm"}),
        id_columns=[id_column],
    )
    quality = quality.with_repairs(cleaning.messages())
    timings["score"], clock = _lap(clock)
    clustered = segment(
        customers,
        settings.replace(
            k_range=(max(2, low), max(2, high)),
            features=features,
            id_columns=(id_column,),
            log_features=log_features or None,
            column_roles=_measure_roles(customers, table.preference_labels),
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
    behaviour = _behaviour_table(
        customers, labels, cluster_names, table.preference_labels
    )
    analysis = RFMAnalysis(
        cleaning=cleaning,
        segment_map=seg_map,
        breaks=parsed_breaks,
        log_features=log_features,
        id_column=id_column,
        segments=_segment_table(customers, seg_map),
        overlap=overlap,
        attributes=attribute_info,
        features=tuple(features),
        preference_labels=dict(table.preference_labels),
        behaviour=behaviour,
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
        "categories": None
        if categories is None
        else str(
            categories if not isinstance(categories, pd.DataFrame) else "<DataFrame>"
        ),
        "products_top": products_top,
        "features": features,
        "n_clusters": n_clusters,
        "k_range": list(k_range),
        "scaler": settings.scaler,
        "random_state": settings.random_state,
        "algorithm": segmenter.algorithm_,
        "engine": engine,
    }
    unscored = table.unscored[[id_column, "reason"]] if len(table.unscored) else None
    return dataclasses.replace(
        clustered, settings=record, engine=engine, rfm=analysis, unscored=unscored
    )


# Labels and roles of the per-customer measures, for profiles and names.
_MEASURE_ROLES: dict[str, dict[str, str]] = {
    "tenure_days": {"label": "days as a customer", "role": "tenure"},
    "return_rate": {"label": "returns (share of spend)", "role": "share"},
    "discount_share": {"label": "discounted spend (share)", "role": "share"},
    "weekend_share": {"label": "weekend orders (share)", "role": "share"},
    "trend_90d": {"label": "order trend, last 90 days", "role": "number"},
    "interval_cv": {"label": "irregularity of order gaps", "role": "number"},
    "items_per_order": {"label": "items per order", "role": "number"},
    "distinct_products": {"label": "distinct products", "role": "count"},
    "n_categories": {"label": "categories bought", "role": "count"},
    "avg_order_value": {"label": "average order value", "role": "money"},
    "purchase_interval_days": {"label": "days between orders", "role": "number"},
}


def _wants_line_measures(features: Sequence[str] | None) -> bool:
    """Whether the features ask for the measures that cost more than the one
    scan (distinct products, discounts from prices; docs/scale.md)."""
    names = [f.lower() for f in features or ()]
    return bool(
        {"behaviour", "all", "distinct_products", "discount_share"} & set(names)
    )


def _behaviour_table(
    customers: pd.DataFrame,
    labels: np.ndarray,
    cluster_names: Sequence[str],
    preference_labels: Mapping[str, str],
) -> pd.DataFrame:
    """One row per cluster: its size, the mean of every behaviour measure and
    preference share the table has, and what it prefers most (the category
    or product with the largest mean share, and that share)."""
    measures = [
        c
        for c in (*BEHAVIOUR_FEATURES, *preference_labels, "n_categories")
        if c in customers.columns
    ]
    rows = []
    for i, name in enumerate(cluster_names):
        members = customers.loc[labels == i, measures]
        row: dict[str, Any] = {"cluster": name, "customers": len(members)}
        row.update({c: _mean(members[c]) for c in measures})
        shares = {c: row[c] for c in preference_labels if c in row}
        if shares:
            best = max(shares, key=lambda c: (shares[c], c))
            row["prefers"] = preference_labels[best]
            row["prefers_share"] = shares[best]
        rows.append(row)
    return pd.DataFrame(rows)


def _mean(values: pd.Series) -> float:
    known = values.dropna()
    return float(known.mean()) if len(known) else float("nan")


def _behaviour_dict(
    table: pd.DataFrame, preference_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The behaviour table for summary.json and the report: each measure's
    column, label and kind (``share`` shows as a percentage, ``days`` as
    whole days), and one row of values per cluster (None where unknown)."""
    if not len(table):
        return {"columns": [], "rows": []}
    measures = [
        c for c in table.columns if c in _MEASURE_ROLES or c in preference_labels
    ]
    columns = []
    for c in measures:
        role = _MEASURE_ROLES.get(c, {"label": f"spend on {preference_labels.get(c)}"})
        kind = (
            "share"
            if role.get("role", "share") == "share"
            else "days"
            if c.endswith("_days")
            else "number"
        )
        columns.append({"column": c, "label": role["label"], "kind": kind})
    rows = []
    for rec in table.to_dict("records"):
        rows.append(
            {
                "cluster": rec["cluster"],
                "customers": int(rec["customers"]),
                "values": [
                    None if pd.isna(rec[c]) else round(float(rec[c]), 4)
                    for c in measures
                ],
                "prefers": rec.get("prefers"),
                "prefers_share": rec.get("prefers_share"),
            }
        )
    return {"columns": columns, "rows": rows}


def _measure_roles(
    customers: pd.DataFrame, preference_labels: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The roles and labels of the measures the per-customer table has: a
    preference share reads "spend on <category>"."""
    roles = {c: dict(r) for c, r in _MEASURE_ROLES.items() if c in customers.columns}
    for col, what in preference_labels.items():
        roles[col] = {"label": f"spend on {what}", "role": "share"}
    return roles


def _skewness(column: pd.Series) -> float:
    """Sample skewness (third standardised moment); 0 for a constant column."""
    x = column.to_numpy(dtype=np.float64)
    x = x[np.isfinite(x)]
    sd = x.std() if len(x) else 0.0
    return float(np.mean((x - x.mean()) ** 3) / sd**3) if sd > 0 else 0.0


def _lap(start: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - start, now
