"""The custseg web app. Start it with ``custseg app``.

A thin page script: every step calls :mod:`custseg.app._logic`, which calls
the library (load_table, check_table, pipeline.run, the plots' Display data,
write_outputs). Loads and runs are cached on the file's SHA-256 and the
settings, so changing a chart does not segment again.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import altair as alt
import matplotlib
import numpy as np
import pandas as pd
import streamlit as st
from matplotlib.colors import to_hex

from custseg.app import _logic as app
from custseg.cluster import ALGORITHMS, MIN_ROWS
from custseg.datasets import DATASETS
from custseg.errors import CustsegError
from custseg.pipeline import SegmentationRun
from custseg.plots import segment_colors
from custseg.quality import QualityReport
from custseg.settings import Option, Settings, options
from custseg.transactions import NO_COLUMN

PAGES = (
    "1 · Data",
    "2 · Explore",
    "3 · Features",
    "4 · Choose k",
    "5 · Segments",
    "6 · Downloads",
    "Compare methods",
    "RFM · order log",
)
# The settings the Features page draws, in the table's order (custseg.settings):
# features get their own multiselect, and k is picked on the Choose k page.
CONTROLS = tuple(o for o in options("app") if o.name not in ("features", "n_clusters"))
# The largest k the slider offers.
_K_SLIDER_MAX = 15


def _count(n: int, noun: str) -> str:
    """'1 customer', '2,000 customers'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _max_mb() -> float:
    return float(st.get_option("server.maxUploadSize"))


# -- cached work -----------------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner=False)
def _load(
    digest: str, name: str, max_mb: float, _upload: app.Upload
) -> tuple[pd.DataFrame, QualityReport]:
    return app.read_upload(_upload, max_mb=max_mb)


@st.cache_resource(show_spinner=False)
def _runs() -> OrderedDict[tuple[Any, ...], Any]:
    """Finished runs shared by every session, newest last. (A cached function
    cannot drive a progress bar made outside it, so runs are kept here.)"""
    return OrderedDict()


_KEEP_RUNS = 8


@st.cache_resource(max_entries=16, show_spinner=False)
def _output_job(key: tuple[Any, ...], _result: SegmentationRun) -> app.OutputJob:
    """The report, model and other files of a run, written in the background
    once per run (``key``) whoever asks."""
    return app.OutputJob(_result)


@st.cache_data(max_entries=8, show_spinner=False)
def _segments_csv(key: tuple[Any, ...], _result: SegmentationRun) -> tuple[str, bytes]:
    return app.segments_csv(_result)


@st.cache_data(max_entries=32, show_spinner=False)
def _scatter(
    key: tuple[Any, ...], x: str, y: str, _result: SegmentationRun
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return app.scatter_points(_result, x, y)


@st.cache_data(max_entries=16, show_spinner=False)
def _audience(
    key: tuple[Any, ...],
    segment: int,
    columns: tuple[str, ...],
    suffix: str,
    _result: SegmentationRun,
) -> tuple[str, bytes]:
    return app.audience_file(_result, segment, columns, suffix)


@st.cache_data(max_entries=32, show_spinner=False)
def _values(
    key: tuple[Any, ...], column: str, _result: SegmentationRun
) -> pd.DataFrame:
    return app.segment_values(_result, column)


@st.cache_data(max_entries=8, show_spinner=False)
def _projection(
    key: tuple[Any, ...], _result: SegmentationRun
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str]]:
    return app.projection_points(_result)


def _source() -> app.Upload | None:
    source: app.Upload | None = st.session_state.get("source")
    return source


def _table(
    *, here: bool = False
) -> tuple[app.Upload, pd.DataFrame, QualityReport] | None:
    """The current table, or None (with a message saying what to do; ``here``:
    on the Data page itself)."""
    source = _source()
    if source is None:
        if here:
            st.info(
                "Upload a table above, or pick a demo dataset and press **Use the demo data**."
            )
        else:
            st.info(
                "Start on the **1 · Data** page: upload a table or pick the demo data."
            )
        return None
    df, quality = _load(source.digest, source.name, _max_mb(), source)
    return source, df, quality


def _result(settings: Settings) -> SegmentationRun:
    source = _source()
    assert source is not None
    key = (source.digest, source.name, _astuple(settings), _max_mb())
    result: SegmentationRun = _cached_run(
        key,
        "Segmenting the customers…",
        lambda progress: app.segment(
            source, settings, max_mb=_max_mb(), progress=progress
        ),
    )
    return result


def _cached_run(key: tuple[Any, ...], doing: str, run: Callable[[Any], Any]) -> Any:
    """``run(progress)`` once per ``key``, kept in :func:`_runs` for every
    session (the newest :data:`_KEEP_RUNS`), with a progress bar while it
    runs. (A cached function cannot drive a bar made outside it.)"""
    runs = _runs()
    if key in runs:
        runs.move_to_end(key)
        return runs[key]
    bar = st.progress(0.0, text="Starting…")
    last = [0.0]

    def progress(step: str, done: int, total: int) -> None:
        if total > 0:  # total 0: a step of unknown length (K-Means iterations)
            last[0] = min(1.0, done / total)
        bar.progress(last[0], text=f"Working: {step}")

    with st.spinner(doing):
        try:
            runs[key] = run(progress)
        finally:
            bar.empty()
    while len(runs) > _KEEP_RUNS:
        runs.popitem(last=False)
    return runs[key]


def _astuple(settings: Settings) -> tuple[Any, ...]:
    """The settings as a tuple of plain values (a key Streamlit's caches hash)."""
    return dataclasses.astuple(settings)


def _settings() -> Settings | None:
    settings: Settings | None = st.session_state.get("settings")
    if settings is None:
        st.info(
            "Choose the features on the **3 · Features** page and press "
            "**Run segmentation**."
        )
    return settings


def _go(page: str) -> None:
    st.session_state["page"] = page


# -- 1. Data ---------------------------------------------------------------------


def _new_table() -> None:
    """Forget what belonged to the previous table: its run, a previous model
    chosen for it, a comparison asked for on it."""
    for key in ("settings", "compare_request", "previous", "previous_file"):
        st.session_state.pop(key, None)


def _uploaded() -> None:
    file = st.session_state.get("uploader")
    if file is not None:
        st.session_state["source"] = app.Upload.from_bytes(file.name, file.getvalue())
        _new_table()


def _use_demo() -> None:
    st.session_state["source"] = app.demo_upload(st.session_state["demo"])
    _new_table()


def page_data() -> None:
    st.header("Your customer table")
    st.write(
        "Upload one table with a row per customer (CSV, Excel or Parquet), or try "
        "the bundled demo data. custseg checks it and shows what it found."
    )
    left, right = st.columns([3, 2], gap="large")
    left.file_uploader(
        f"Upload a file (up to {_max_mb():g} MB)",
        type=list(app.UPLOAD_TYPES),
        key="uploader",
        on_change=_uploaded,
    )
    with right:
        st.selectbox(
            "…or use a demo dataset",
            [n for n, ds in DATASETS.items() if ds.kind == "customers"],
            format_func=lambda n: f"{n} ({DATASETS[n].rows} rows)",
            key="demo",
        )
        st.button("Use the demo data", on_click=_use_demo)
    table = _table(here=True)
    if table is None:
        return
    source, df, quality = table
    shape = f"**{quality.source}**: {_count(len(df), 'customer')}, {_count(df.shape[1], 'column')}."
    if len(df) < MIN_ROWS:
        st.error(
            f"{shape} Segments need at least {MIN_ROWS} customers: upload the "
            "full table (one row per customer)."
        )
    else:
        st.success(f"{shape} Next: **2 · Explore** or **3 · Features** in the sidebar.")
    missing = int(df.isna().sum().sum())
    cols = st.columns(4)
    cols[0].metric("Customers (rows)", f"{len(df):,}")
    cols[1].metric("Columns", df.shape[1])
    cols[2].metric("Missing values", f"{missing:,}")
    cols[3].metric("Duplicate rows", f"{quality.duplicate_rows:,}")
    st.subheader("Data quality")
    if quality.id_columns:
        st.write(
            "ID columns (kept in the output, not used to segment): "
            + ", ".join(f"`{c}`" for c in quality.id_columns)
        )
    for line in quality.findings:
        text = app.app_words(str(line))
        if line.level == "problem":
            st.warning(text, icon=":material/error:")
        elif line.level == "warning":
            st.warning(text)
        else:
            st.info(text)
    for repair in quality.repairs:
        st.info(app.app_words(f"Repaired: {repair}"))
    if not quality.findings and not quality.repairs:
        st.write("No problems found.")
    with st.expander("Column by column"):
        st.dataframe(quality.to_frame(), width="stretch")
    st.subheader("Preview (first 100 rows)")
    st.dataframe(df.head(100), width="stretch", hide_index=True)


# -- 2. Explore ------------------------------------------------------------------


def page_explore() -> None:
    table = _table()
    if table is None:
        return
    _, df, quality = table
    st.header("Explore the data")
    numeric = app.numeric_columns(quality)
    categorical = app.categorical_columns(quality)
    sample = app.sample_rows(df)
    if len(sample) < len(df):
        st.caption(
            f"Charts drawn from a random sample of {len(sample):,} of the "
            f"{len(df):,} customers."
        )
    tabs = st.tabs(["Distributions", "Categories", "Correlations", "Scatter"])
    with tabs[0]:
        charts = [
            alt.Chart(
                pd.DataFrame(
                    {"value": pd.to_numeric(sample[col], errors="coerce")}
                ).dropna(),
                title=col,
            )
            .mark_bar(color="#3366aa")
            .encode(
                alt.X("value:Q", bin=alt.Bin(maxbins=30), title=None),
                alt.Y("count():Q", title="customers"),
                tooltip=[
                    alt.Tooltip("value:Q", bin=alt.Bin(maxbins=30), title="range"),
                    alt.Tooltip("count():Q", title="customers"),
                ],
            )
            .properties(width=230, height=170)
            for col in numeric
        ]
        chart = alt.concat(*charts, columns=3)
        st.altair_chart(chart)
    with tabs[1]:
        if not categorical:
            st.write("No categorical columns (text with few distinct values).")
        for col in categorical:
            counts = df[col].astype("string").fillna("(missing)").value_counts()
            frame = pd.DataFrame({"value": counts.index, "customers": counts.values})
            # One band of fixed height per value (a Step, not a total height
            # that the title and axis eat into), every label in full.
            st.altair_chart(
                alt.Chart(frame, title=col)
                .mark_bar(color="#3366aa")
                .encode(
                    alt.X("customers:Q"),
                    alt.Y(
                        "value:N",
                        sort="-x",
                        title=None,
                        axis=alt.Axis(labelLimit=320, labelOverlap=False),
                    ),
                    tooltip=["value", "customers"],
                )
                .properties(height=alt.Step(28)),
                width="stretch",
            )
    with tabs[2]:
        if len(numeric) < 2:
            st.write("Correlations need two numeric columns.")
        else:
            values = df[numeric].apply(pd.to_numeric, errors="coerce")
            # a constant column has no correlation: named, not drawn as "null"
            constant = [c for c in numeric if values[c].nunique(dropna=True) < 2]
            shown = [c for c in numeric if c not in constant]
            corr = values[shown].corr()
            cells = corr.rename_axis(index="a", columns="b").stack()
            cells = cells.rename("r").reset_index()
            # Full column names (no "CASH_ADVANCE_..." twice), one cell of a
            # fixed size per pair.
            axis = alt.Axis(labelLimit=360, labelOverlap=False)
            base = alt.Chart(cells).encode(
                alt.X(
                    "a:N",
                    title=None,
                    sort=shown,
                    axis=alt.Axis(labelLimit=360, labelOverlap=False, labelAngle=-40),
                ),
                alt.Y("b:N", title=None, sort=shown, axis=axis),
            )
            heat = base.mark_rect().encode(
                alt.Color(
                    "r:Q",
                    scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                    title="correlation",
                ),
                tooltip=["a", "b", alt.Tooltip("r:Q", format=".2f")],
            )
            # cells that fit the page beside the labels; numbers in them
            # while they have room
            cell = max(20, min(90, 780 // max(1, len(shown))))
            chart = heat
            if cell >= 30:
                chart = heat + base.mark_text(fontSize=10 if cell < 40 else 11).encode(
                    alt.Text("r:Q", format=".2f")
                )
            st.altair_chart(
                chart.properties(width=alt.Step(cell), height=alt.Step(cell)),
                width="content",
            )
            if constant:
                st.caption(
                    "Not shown, each holding a single value: "
                    + ", ".join(f"`{c}`" for c in constant)
                    + "."
                )
    with tabs[3]:
        if not numeric:
            st.write("The scatter needs a numeric column.")
            return
        c = st.columns(3)
        hues = ["(none)", *categorical]
        _chart_choice("explore_x", numeric, numeric[0])
        _chart_choice("explore_y", numeric, numeric[min(1, len(numeric) - 1)])
        _chart_choice("explore_hue", hues, hues[0])
        x = c[0].selectbox("x axis", numeric, key="explore_x")
        y = c[1].selectbox("y axis", numeric, key="explore_y")
        hue = c[2].selectbox("colour by", hues, key="explore_hue")
        frame = pd.DataFrame({"x": sample[x].to_numpy(), "y": sample[y].to_numpy()})
        enc: list[Any] = [
            alt.X("x:Q", title=x, scale=alt.Scale(zero=False)),
            alt.Y("y:Q", title=y, scale=alt.Scale(zero=False)),
        ]
        tooltip = [alt.Tooltip("x:Q", title=x), alt.Tooltip("y:Q", title=y)]
        if hue != "(none)":
            frame["hue"] = sample[hue].astype("string").fillna("(missing)").to_numpy()
            enc.append(alt.Color("hue:N", title=hue))
            tooltip.append(alt.Tooltip("hue:N", title=hue))
        st.altair_chart(
            alt.Chart(frame)
            .mark_circle(size=40, opacity=0.7)
            .encode(*enc, tooltip=tooltip)
            .properties(height=450)
            .interactive(),
            width="stretch",
        )


# -- 3. Features -----------------------------------------------------------------


def _app_value(o: Option, value: Any) -> Any:
    """A widget's value as the setting's value (0 or nothing: the default)."""
    if o.kind == "range":
        return tuple(int(v) for v in value)
    if o.kind == "path":
        return value or None
    if o.kind == "columns":
        return tuple(value) or None
    if o.kind == "int":
        return None if o.default is None and int(value) == 0 else int(value)
    if o.kind == "float":
        return float(value)
    return value


def _widget_value(o: Option) -> Any:
    """The setting's default as its widget's value."""
    if o.kind == "columns":
        return list(o.default or ())
    if o.kind == "int" and o.default is None:
        return 0  # e.g. HDBSCAN's smallest segment: 0 stands for 2% of the rows
    return o.default


def _staged(name: str) -> None:
    """Keep the file uploaded for setting ``name`` (its bytes: the staged copy
    is written again when a run needs it, since old staging folders are
    pruned); removing the upload keeps the file, which **Forget** drops."""
    file = st.session_state.get(f"{name}_upload")
    if file is not None:
        st.session_state[f"{name}_file"] = app.Upload.from_bytes(
            file.name, file.getvalue()
        )


def _forget(name: str) -> None:
    st.session_state.pop(f"{name}_file", None)
    st.session_state[name] = None


def _start(features_key: str) -> None:
    state = st.session_state  # every choice is there (page_features sets defaults)
    for o in CONTROLS:
        if o.kind == "path":
            upload = state.get(f"{o.name}_file")
            try:
                state[o.name] = (
                    None
                    if upload is None
                    else str(app.stage_upload(upload, max_mb=_max_mb()))
                )
            except CustsegError as exc:  # an empty file: said on the page
                state.pop(f"{o.name}_file", None)
                state[o.name] = None
                state["start_error"] = app.app_message(exc)
                return
    state["settings"] = Settings(
        features=tuple(state[features_key]),
        **{o.name: _app_value(o, state[o.name]) for o in CONTROLS},
    )
    _go(PAGES[4])


def _control(where: Any, o: Option, quality: QualityReport) -> None:
    """The widget of one setting, keyed by the setting's name."""
    label = o.app_label or o.name
    help = o.app_help or o.help
    if o.kind == "choice":
        words = dict(o.choice_words)
        where.selectbox(
            label,
            list(o.choices),
            format_func=lambda name: words.get(name, name),
            key=o.name,
            help=help,
        )
    elif o.kind == "range":
        where.slider(
            label,
            min_value=int(o.minimum or 0),
            max_value=_K_SLIDER_MAX,
            key=o.name,
            help=help,
        )
    elif o.kind in ("int", "float"):
        # an optional count (HDBSCAN's smallest segment) takes 0 for "default"
        low = 0 if o.default is None else (o.minimum or 0)
        high = o.maximum
        where.number_input(
            label,
            min_value=int(low) if o.kind == "int" else float(low),
            max_value=None
            if high is None
            else int(high)
            if o.kind == "int"
            else float(high),
            step=(5 if o.default is None else 1) if o.kind == "int" else 0.1,
            key=o.name,
            help=help,
        )
    elif o.kind == "columns":
        where.multiselect(
            label, [c.name for c in quality.columns], key=o.name, help=help
        )
    elif o.kind == "path":  # a file the run reads: an upload, staged on disk
        where.file_uploader(
            label,
            type=["skops"],
            key=f"{o.name}_upload",
            help=help,
            on_change=_staged,
            args=(o.name,),
        )
        kept = st.session_state.get(f"{o.name}_file")
        if kept is not None:
            where.caption(f"Using **{app._safe_name(kept.name)}**.")
            where.button(
                "Forget it", key=f"{o.name}_forget", on_click=_forget, args=(o.name,)
            )
    else:
        raise TypeError(f"the app has no control for a {o.kind!r} setting")


def page_features() -> None:
    table = _table()
    if table is None:
        return
    source, _, quality = table
    st.header("Features and preparation")
    st.write(
        "Pick the columns that describe how customers differ. custseg has "
        "pre-selected every numeric and low-cardinality text column except IDs; "
        "for the classic mall demo, *Annual Income* and *Spending Score* alone "
        "give the best-known segments."
    )
    key = f"features-{source.digest[:16]}"
    # Defaults go into the session state, not the widgets: a widget given both
    # a default and a kept value (see _keep_choices) makes Streamlit warn.
    st.session_state.setdefault(key, app.default_features(quality))
    for name, value in _CHOICE_DEFAULTS.items():
        st.session_state.setdefault(name, value)
    features = st.multiselect(
        "Features to segment on",
        app.feature_choices(quality),
        key=key,
    )
    left, right = st.columns(2, gap="large")
    more = st.expander("More settings")
    places = {"method": left, "search": right, "more": more}
    # The method first: it decides which of the others are drawn (Streamlit
    # has the chosen value in the session state before the page runs).
    algorithm = st.session_state["algorithm"]
    for o in sorted(CONTROLS, key=lambda o: o.name != "algorithm"):
        if o.used_by(algorithm):
            _control(places[o.app_place], o, quality)
    if error := st.session_state.pop("start_error", None):
        st.error(error)
    if not features:
        st.warning("Choose at least one feature.")
    st.button(
        "Run segmentation",
        type="primary",
        disabled=not features,
        on_click=_start,
        args=(key,),
    )


# -- 4. Choose k -----------------------------------------------------------------


def _refit(k: int, auto_k: int) -> None:
    settings: Settings = st.session_state["settings"]
    st.session_state["settings"] = dataclasses.replace(
        settings, n_clusters=None if k == auto_k else k
    )
    _go(PAGES[4])


def page_choose_k() -> None:
    if _table() is None or (settings := _settings()) is None:
        return
    auto = _result(settings.automatic())
    ks = auto.k_selection
    st.header("How many segments?")
    if settings.algorithm == "hdbscan":
        st.success(f"**HDBSCAN found k = {ks.k}.** {ks.reason}")
        st.write(ks.structure_reason)
        st.write(
            "HDBSCAN has no k to choose: it keeps every dense group of at least "
            "the smallest segment size. Change that size, or the method, on "
            "**3 · Features**."
        )
        return
    headline = st.success if ks.has_structure else st.warning
    headline(f"**Automatic choice: k = {ks.k}.** {ks.reason}")
    if ks.has_structure and ks.structure != "weak":
        st.write(ks.structure_reason)
    else:
        _show_cautions([c for c in app.cautions(auto) if c.text == ks.structure_reason])
    curves = app.k_curves(ks)
    line = (
        alt.Chart()
        .mark_line(point=alt.OverlayMarkDef(size=60))
        .encode(
            alt.X("k:O", title="number of segments k", axis=alt.Axis(labelAngle=0)),
            alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("index:N", title="index"),
                "k:O",
                alt.Tooltip("value:Q", format=",.3f"),
                alt.Tooltip("reading:N", title="reading"),
            ],
        )
    )
    rule = (
        alt.Chart()
        .mark_rule(color="#d62728", strokeDash=[4, 3], size=2)
        .encode(x="k:O")
        .transform_filter(alt.datum.chosen)
    )
    chart = (
        alt.layer(line, rule, data=curves)
        .properties(width=380, height=190)
        .facet(
            alt.Facet("index:N", title=None, sort=list(curves["index"].unique())),
            columns=2,
        )
        .resolve_scale(y="independent")
    )
    st.altair_chart(chart)
    st.caption(
        "Red dashed line: the automatic choice. Hover a point for its value. "
        "The elbow is where adding a segment stops paying off; silhouette and "
        "Calinski-Harabasz are better when higher, Davies-Bouldin (and BIC, "
        "for a Gaussian mixture) when lower."
    )
    current = settings.n_clusters or ks.k
    c1, c2 = st.columns([1, 3])
    k = c1.selectbox(
        "Number of segments to use",
        list(ks.k_values),
        index=list(ks.k_values).index(current) if current in ks.k_values else 0,
        format_func=lambda v: f"{v} (automatic)" if v == ks.k else str(v),
        key="k_pick",
    )
    c2.write("")
    c2.button(
        f"Use k = {k} and show the segments",
        type="primary",
        on_click=_refit,
        args=(int(k), ks.k),
    )


# -- 5. Segments -----------------------------------------------------------------


def _colors(result: SegmentationRun) -> alt.Scale:
    names = list(result.segmenter.segment_names_)
    numbers = [
        int(n) for n in getattr(result.segmenter, "segment_ids_", range(len(names)))
    ]
    domain = [f"{n}: {name}" for n, name in zip(numbers, names, strict=True)]
    colors = [to_hex(c) for c in segment_colors(len(names), numbers=numbers)]
    if (result.labels < 0).any():  # only then does the legend list them
        domain, colors = [*domain, "unassigned"], [*colors, "#9e9e9e"]
    return alt.Scale(domain=domain, range=colors)


@st.fragment
def _segment_chart(
    key: tuple[Any, ...], result: SegmentationRun, quality: QualityReport
) -> None:
    """The segments on a chart whose axes the user picks. A fragment: changing
    an axis reruns only this function (the cards and heatmap stay as they
    are), and the points come from a cache, so nothing is segmented again."""
    st.subheader("Segments on a chart")
    numeric = app.numeric_columns(quality)
    features = [f for f in result.segmenter.selection_.numeric if f in numeric]
    best = app.default_axes(result)
    first = [c for c in best or () if c in features]
    axes = first + [f for f in features if f not in first]
    axes += [c for c in numeric if c not in axes]
    view = st.radio(
        "View",
        ["Two columns", "All features (PCA)"],
        horizontal=True,
        key="seg_view",
    )
    colour = alt.Color(
        "segment:N",
        scale=_colors(result),
        title="segment",
        legend=alt.Legend(labelLimit=320, orient="bottom", columns=3),
    )
    centres: pd.DataFrame | None = None
    if view == "Two columns" and len(axes) >= 1:
        c = st.columns(2)
        label = app.column_labels(result)
        # The best-separating pair of this run until the user picks axes;
        # theirs from then on, through refits and visits to other pages.
        keep = bool(st.session_state.get("seg_axes_picked"))
        _chart_choice("seg_x", axes, axes[0], keep=keep)
        _chart_choice("seg_y", axes, axes[min(1, len(axes) - 1)], keep=keep)
        x = c[0].selectbox(
            "x axis",
            axes,
            key="seg_x",
            format_func=lambda col: label.get(col, col),
            on_change=_picked_axes,
        )
        y = c[1].selectbox(
            "y axis",
            axes,
            key="seg_y",
            format_func=lambda col: label.get(col, col),
            on_change=_picked_axes,
        )
        points, centres = _scatter(key, x, y, result)
        xt, yt = label.get(x, x), label.get(y, y)
    else:
        points, centres, (xt, yt) = _projection(key, result)
        points = points.rename(columns={"PC1": "x", "PC2": "y"})
        centres = centres.rename(columns={"PC1": "x", "PC2": "y"})
    tooltip = [
        alt.Tooltip("segment:N"),
        alt.Tooltip("x:Q", title=xt),
        alt.Tooltip("y:Q", title=yt),
    ]
    chart = (
        alt.Chart(points)
        .mark_circle(size=45, opacity=0.75)
        .encode(
            alt.X("x:Q", title=xt, scale=alt.Scale(zero=False)),
            alt.Y("y:Q", title=yt, scale=alt.Scale(zero=False)),
            colour,
            tooltip=tooltip,
        )
    )
    if centres is not None:
        chart += (
            alt.Chart(centres)
            .mark_point(shape="cross", size=260, filled=True, stroke="black")
            .encode(x="x:Q", y="y:Q", color=colour, tooltip=tooltip)
        )
    st.altair_chart(chart.properties(height=480).interactive(), width="stretch")
    notes = ["Crosses mark segment centres."]
    if view == "Two columns" and best and (x, y) == best:
        notes.insert(0, "The two features that separate the segments best.")
    if len(points) < result.n_rows:
        notes.append(
            f"Drawn from a random sample of {len(points):,} of the "
            f"{result.n_rows:,} customers."
        )
    st.caption(" ".join(notes))


def _show_cards(result: SegmentationRun, *, key: str = "segment-card") -> None:
    """The segment cards, three to a row."""
    cards = app.cards(result)
    for start in range(0, len(cards), 3):
        row = st.columns(3)
        for col, card in zip(row, cards[start : start + 3], strict=False):
            with col.container(border=True, key=f"{key}-{card.number}"):
                st.markdown(f"#### {card.number} · {card.name}")
                st.markdown(
                    f"**{card.size:,} customers** ({card.share:.0%} of all customers)"
                )
                st.markdown(
                    "\n".join(f"- **{feat}**: {text}" for feat, text in card.profile)
                )
                if card.more:
                    with st.expander(f"{len(card.more)} more features"):
                        st.markdown(
                            "\n".join(f"- **{f}**: {text}" for f, text in card.more)
                        )
                if card.rule:
                    st.markdown(f"**Rule:** {card.rule}")
                if card.stability and card.unstable:
                    st.warning(
                        f"**Stability: {card.stability}.** This segment is not "
                        "found again reliably: treat it as tentative."
                    )
                elif card.stability:
                    st.markdown(f"**Stability:** {card.stability}")
                st.markdown(f"**Suggested action: {card.action_title}.** {card.action}")
                if card.reason:
                    st.caption(f"Why: {card.reason}")


def _show_cautions(notes: list[app.Caution]) -> None:
    for note in notes:
        box = st.warning if note.level == "warning" else st.info
        box(
            f"{note.text}\n\n**What to do:** {note.advice}",
            icon="⚠️" if note.level == "warning" else None,
        )


def page_segments() -> None:
    if (table := _table()) is None or (settings := _settings()) is None:
        return
    source, df, quality = table
    result = _result(settings)
    ks = result.k_selection
    st.header(f"{len(result.profiles)} customer segments")
    # A run with no clear structure gets no green box: its headline is a
    # warning, and so is every caution, above the cards they qualify.
    notes = app.cautions(result)
    headline = st.success if ks.has_structure else st.warning
    if settings.algorithm == "hdbscan":
        headline(f"**HDBSCAN found {ks.k} segments.** {ks.reason}")
    elif settings.n_clusters is None:
        headline(f"**k = {ks.k}, chosen automatically.** {ks.reason}")
    else:
        automatic = _result(settings.automatic()).k_selection.k
        st.info(
            f"**You chose k = {settings.n_clusters}.** The automatic choice is "
            f"k = {automatic}; see **4 · Choose k**."
        )
    _show_cautions(notes)
    _show_cards(result)

    _segment_chart((source.digest, source.name, _astuple(settings)), result, quality)

    cells = app.profile_cells(result)
    if len(cells):
        st.subheader("Segment profiles")
        lim = max(1.0, float(cells["z"].abs().max()))
        features = list(dict.fromkeys(cells["label"]))
        segments = list(dict.fromkeys(cells["segment"]))
        # Few features: a row per segment. Many (a wide table): a row per
        # feature, so that every label and number has room.
        tall = len(features) > 8
        feature_axis = alt.Axis(labelLimit=320, labelOverlap=False)
        segment_axis = alt.Axis(labelLimit=320, labelOverlap=False)
        if tall:
            segment_axis = alt.Axis(
                labelAngle=-30, labelLimit=260, labelOverlap=False, orient="top"
            )
            x = alt.X("segment:N", title=None, sort=segments, axis=segment_axis)
            y = alt.Y("label:N", title=None, sort=features, axis=feature_axis)
            size: dict[str, Any] = {
                "width": alt.Step(max(70, min(160, 900 // len(segments)))),
                "height": alt.Step(24),
            }
        else:
            feature_axis = alt.Axis(labelAngle=0, labelLimit=220, labelOverlap=False)
            x = alt.X("label:N", title=None, sort=features, axis=feature_axis)
            y = alt.Y("segment:N", title=None, sort=segments, axis=segment_axis)
            size = {"height": alt.Step(44)}
        base = alt.Chart(cells).encode(x, y)
        heat = base.mark_rect().encode(
            alt.Color(
                "z:Q",
                scale=alt.Scale(scheme="redblue", domain=[-lim, lim], reverse=True),
                title="z-score",
            ),
            tooltip=[
                "segment",
                alt.Tooltip("label:N", title="feature"),
                alt.Tooltip("text:N", title="mean"),
                alt.Tooltip("z:Q", format="+.2f"),
            ],
        )
        text = base.mark_text(fontSize=12).encode(alt.Text("text:N"))
        st.altair_chart(
            (heat + text).properties(**size),
            width="content" if tall else "stretch",
        )
        st.caption(
            "Numbers: the segment's mean. Colour: how far above (red) or below "
            "(blue) the average customer, in standard deviations."
        )
    _sizes_chart(result)
    if result.migration is not None:
        _migration(result)
    _distributions_chart(
        (source.digest, source.name, _astuple(settings)), result, quality
    )


def _migration(result: SegmentationRun) -> None:
    """Who moved between the previous model's segments and these."""
    m = result.migration
    st.subheader("Who moved since the previous model")
    total = m.moved + m.stayed
    # the sentence names the model file, not where the app staged it
    shown = dataclasses.replace(m, previous=Path(str(m.previous)).name)
    (st.info if m.moved else st.success)(shown.sentence())
    c = st.columns(3)
    c[0].metric("Kept their number and name", len(m.persisted))
    c[1].metric("New segments", len(m.new))
    c[2].metric(
        f"Customers who moved (of {total:,})",
        f"{m.moved:,} ({m.moved / (total or 1):.1%})",
    )
    _matrix_chart(
        m.matrix,
        rows="previous",
        columns="now",
        value="customers",
        scheme="blues",
        row_title="previous segment",
        column_title="segment now",
    )
    st.caption(
        "Customers by the segment the previous model gives them (rows) and the "
        "one they are in now (columns); the diagonal of kept numbers stayed."
    )
    if m.matches:
        st.dataframe(
            pd.DataFrame(list(m.matches)),
            hide_index=True,
            width="content",
        )


def _matrix_chart(
    matrix: pd.DataFrame,
    *,
    rows: str,
    columns: str,
    value: str,
    scheme: Any,
    fmt: str = ",",
    domain: list[float] | None = None,
    row_title: str | None = None,
    column_title: str | None = None,
    sort: list[str] | None = None,
    step: tuple[int, int] = (130, 30),
) -> None:
    """A table of numbers (``matrix``: rows x columns) as a heatmap with the
    numbers in its cells, every label shown: RFM segments x clusters, who
    moved, and the methods' agreement."""
    stacked = matrix.rename_axis(index=rows, columns=columns).stack()
    cells = pd.DataFrame({value: stacked}).reset_index()
    cells[rows] = cells[rows].astype(str)
    cells[columns] = cells[columns].astype(str)
    base = alt.Chart(cells).encode(
        alt.X(
            f"{columns}:N",
            title=column_title,
            sort=sort,
            axis=alt.Axis(labelAngle=-35, labelLimit=300, labelOverlap=False),
        ),
        alt.Y(
            f"{rows}:N",
            title=row_title,
            sort=sort,
            axis=alt.Axis(labelLimit=300, labelOverlap=False),
        ),
    )
    scale = (
        alt.Scale(scheme=scheme)
        if domain is None
        else alt.Scale(scheme=scheme, domain=domain)
    )
    heat = base.mark_rect().encode(
        alt.Color(f"{value}:Q", scale=scale, title=value),
        tooltip=[rows, columns, alt.Tooltip(f"{value}:Q", format=fmt)],
    )
    text = base.mark_text(fontSize=12).encode(alt.Text(f"{value}:Q", format=fmt))
    st.altair_chart(
        (heat + text).properties(width=alt.Step(step[0]), height=alt.Step(step[1])),
        width="content",
    )


def _sizes_chart(result: SegmentationRun) -> None:
    st.subheader("Segment sizes")
    sizes = app.segment_sizes(result)
    colour = alt.Color("segment:N", scale=_colors(result), legend=None)
    bars = alt.Chart(sizes).encode(
        alt.X("customers:Q", title="customers"),
        alt.Y(
            "segment:N",
            sort=list(sizes["segment"]),
            title=None,
            axis=alt.Axis(labelLimit=360, labelOverlap=False),
        ),
        tooltip=[
            "segment",
            alt.Tooltip("customers:Q", format=","),
            alt.Tooltip("share:Q", format=".1%", title="of all customers"),
        ],
    )
    text = bars.mark_text(align="left", dx=4).encode(alt.Text("share:Q", format=".0%"))
    st.altair_chart(
        (bars.mark_bar().encode(colour) + text).properties(height=alt.Step(30)),
        width="stretch",
    )
    st.caption(
        f"All {result.n_rows:,} customers; the label is the share of all of them."
    )


@st.fragment
def _distributions_chart(
    key: tuple[Any, ...], result: SegmentationRun, quality: QualityReport
) -> None:
    """One numeric column's spread in each segment (box plots); a fragment,
    like the segment chart, so picking a column reruns only this."""
    numeric = app.numeric_columns(quality)
    features = [f for f in result.segmenter.selection_.numeric if f in numeric]
    choices = features + [c for c in numeric if c not in features]
    if not choices:
        return
    st.subheader("How a column varies by segment")
    label = app.column_labels(result)
    _chart_choice("seg_box", choices, choices[0])
    column = st.selectbox(
        "Column", choices, key="seg_box", format_func=lambda c: label.get(c, c)
    )
    values = _values(key, column, result)
    title = label.get(column, column)
    chart = (
        alt.Chart(values)
        .mark_boxplot(extent=1.5, size=18)
        .encode(
            alt.X("value:Q", title=title, scale=alt.Scale(zero=False)),
            alt.Y(
                "segment:N",
                title=None,
                axis=alt.Axis(labelLimit=360, labelOverlap=False),
            ),
            alt.Color("segment:N", scale=_colors(result), legend=None),
        )
        .properties(height=alt.Step(30))
    )
    st.altair_chart(chart, width="stretch")
    note = (
        "Box: the middle half of the segment's customers, line at the median; "
        "whiskers reach 1.5 box lengths, dots beyond them."
    )
    if len(values) < result.n_rows:
        note += f" Drawn from a random sample of {len(values):,} customers."
    st.caption(note)


# -- 6. Downloads ----------------------------------------------------------------

_DOWNLOADS = (
    ("segments", "Segments (CSV)", "Every customer with its segment number and name."),
    ("segments_excel", "Segments (Excel)", "The same table as an .xlsx workbook."),
    ("report", "Report (HTML)", "A standalone page with every chart; opens offline."),
    ("profiles", "Profiles (CSV)", "One row per segment: size, means, action."),
    (
        "model",
        "Model (.skops)",
        "Scores new customers: custseg predict model.skops FILE.",
    ),
    ("summary", "Summary (JSON)", "Settings, choice of k and checksums, for programs."),
)
_MIME = {
    ".csv": "text/csv",
    ".parquet": "application/octet-stream",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".html": "text/html",
    ".json": "application/json",
    ".skops": "application/octet-stream",
}


def page_downloads() -> None:
    if (table := _table()) is None or (settings := _settings()) is None:
        return
    source = table[0]
    result = _result(settings)
    st.header("Download the results")
    key = (source.digest, source.name, _astuple(settings))
    _downloads(key, result)
    _audience_downloads(key, result)


def _downloads(
    key: tuple[Any, ...], result: SegmentationRun, prefix: str = "download"
) -> None:
    """The segments at once; the report, model and the rest as soon as the
    background job has written them (a progress bar until then)."""
    name, data = _segments_csv(key, result)
    _download_buttons({"segments": (name, data)}, prefix=prefix)
    job = _output_job(key, result)
    if not job.finished:
        _wait_for(job)
    elif job.error is not None:
        error = job.error
        st.error(
            app.app_message(error)
            if isinstance(error, CustsegError)
            else f"Writing the files went wrong inside custseg "
            f"({type(error).__name__}: {error}); please report it."
        )
        # the failed job stays cached until someone asks for a new one
        st.button(
            "Write the files again", key=f"{prefix}-retry", on_click=_output_job.clear
        )
    else:
        assert job.files is not None
        _download_buttons(
            {k: v for k, v in job.files.items() if k != "segments"}, prefix=prefix
        )


@st.fragment(run_every=1.0)
def _wait_for(job: app.OutputJob) -> None:
    """A progress bar that checks the background job every second and shows
    the buttons (a full rerun) once it is done."""
    if job.finished:
        st.rerun()
    st.progress(
        job.fraction,
        text=f"Writing the report, model and other files in the background "
        f"({job.step})…",
    )


def _download_buttons(
    files: dict[str, tuple[str, bytes]], prefix: str = "download"
) -> None:
    """A button and a line of help per file of :func:`custseg.app._logic.output_files`."""
    for key, label, help_text in _DOWNLOADS:
        if key not in files:
            continue
        name, data = files[key]
        c1, c2 = st.columns([1, 3])
        c1.download_button(
            label,
            data,
            file_name=name,
            mime=_MIME.get("." + name.rsplit(".", 1)[-1], "application/octet-stream"),
            key=f"{prefix}-{key}",
            on_click="ignore",
            width="stretch",
        )
        c2.write(f"`{name}` ({len(data) / 1024:,.0f} KB). {help_text}")


def _audience_downloads(key: tuple[Any, ...], result: SegmentationRun) -> None:
    """One segment's customers as a list for a campaign, with the columns the
    user picks beside the identifiers."""
    st.subheader("An audience: one segment's customers")
    labels = {
        int(p.segment): f"{int(p.segment)} · {p.name} ({p.size:,})"
        for p in result.profiles
    }
    c1, c2 = st.columns([1, 2])
    number = c1.selectbox(
        "Segment", list(labels), format_func=labels.__getitem__, key="audience_segment"
    )
    ids = list(result.quality.id_columns)
    others = [c for c in result.data.columns if c not in ids]
    columns = c2.multiselect(
        "Columns beside " + (", ".join(ids) if ids else "the segment"),
        others,
        key="audience_columns",
        help="Identifier columns come first in every audience file.",
    )
    picked = (int(number), tuple(columns))
    csv_name, csv_data = _audience(key, *picked, ".csv", result)
    xlsx_name, xlsx_data = _audience(key, *picked, ".xlsx", result)
    b1, b2, b3 = st.columns([1, 1, 2])
    b1.download_button(
        "Audience (CSV)",
        csv_data,
        file_name=csv_name,
        mime=_MIME[".csv"],
        key="download-audience-csv",
        on_click="ignore",
        width="stretch",
    )
    b2.download_button(
        "Audience (Excel)",
        xlsx_data,
        file_name=xlsx_name,
        mime=_MIME[".xlsx"],
        key="download-audience-xlsx",
        on_click="ignore",
        width="stretch",
    )
    size = next(p.size for p in result.profiles if int(p.segment) == int(number))
    b3.write(
        f"`{csv_name}`: {size:,} customers. Text that a spreadsheet would run "
        "as a formula is written with a leading apostrophe."
    )


# -- Compare methods ------------------------------------------------------------------


def _start_compare() -> None:
    st.session_state["compare_request"] = tuple(st.session_state["compare_algorithms"])


def page_compare() -> None:
    if (table := _table()) is None:
        return
    source, _, quality = table
    settings: Settings = st.session_state.get("settings") or Settings(
        features=tuple(app.default_features(quality))
    )
    st.header("Compare methods")
    st.write(
        "Each method segments the same prepared features ("
        + ", ".join(f"`{f}`" for f in settings.features or ())
        + "; change them on **3 · Features**). Higher silhouette and "
        "Calinski-Harabasz and lower Davies-Bouldin are better; the agreement "
        "matrix shows how alike two methods' segments are (adjusted Rand "
        "index, 1 = the same)."
    )
    st.session_state.setdefault("compare_algorithms", list(ALGORITHMS))
    st.multiselect(
        "Methods",
        list(ALGORITHMS),
        format_func=ALGORITHMS.__getitem__,
        key="compare_algorithms",
    )
    st.button(
        "Compare",
        type="primary",
        on_click=_start_compare,
        disabled=not st.session_state["compare_algorithms"],
    )
    chosen = st.session_state.get("compare_request")
    if not chosen:
        return
    key = ("compare", source.digest, source.name, _astuple(settings), chosen, _max_mb())
    comparison: Any = _cached_run(  # a custseg.pipeline.Comparison
        key,
        "Running each method…",
        lambda progress: app.compare_methods(
            source, settings, chosen, max_mb=_max_mb(), progress=progress
        ),
    )
    for name, why in comparison.errors.items():
        st.warning(f"**{ALGORITHMS[name]}** could not segment these data: {why}")
    shown = comparison.table.reset_index(drop=True)[
        [
            "label",
            "k",
            "silhouette",
            "calinski_harabasz",
            "davies_bouldin",
            "stability",
            "unassigned",
            "sizes",
            "smallest_share",
            "seconds",
        ]
    ].rename(
        columns={
            "label": "method",
            "calinski_harabasz": "Calinski-Harabasz",
            "davies_bouldin": "Davies-Bouldin",
            "smallest_share": "smallest segment",
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "silhouette": st.column_config.NumberColumn(format="%.3f"),
            "Calinski-Harabasz": st.column_config.NumberColumn(format="%.1f"),
            "Davies-Bouldin": st.column_config.NumberColumn(format="%.3f"),
            "stability": st.column_config.NumberColumn(format="%.2f"),
            "smallest segment": st.column_config.NumberColumn(format="percent"),
            "seconds": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    if len(comparison.agreement) > 1:
        labels = {n: ALGORITHMS[n] for n in comparison.agreement.index}
        st.subheader("How alike the methods' segments are")
        _matrix_chart(
            comparison.agreement.rename(index=labels, columns=labels),
            rows="b",
            columns="a",
            value="agreement",
            scheme="greens",
            fmt=".2f",
            domain=[0, 1],
            sort=list(labels.values()),
            step=(90, 34),
        )
    st.caption(
        "To use one method's segments, pick it on **3 · Features** and run the "
        "segmentation."
    )


# -- RFM from an order log ---------------------------------------------------------

_NO_COLUMN = "(none)"


def _rfm_grid(result: SegmentationRun) -> None:
    """Customers and net revenue per recency x frequency score cell."""
    from custseg.plots import rfm_grid

    counts, revenue = rfm_grid(result.data)
    money = result.rfm.cleaning.columns.has_money
    cells = pd.DataFrame(
        {"customers": counts.stack(), "revenue": revenue.fillna(0.0).stack()}
    ).reset_index()
    cells["customers text"] = [f"{int(v):,}" for v in cells["customers"]]
    cells["revenue text"] = [f"{v:,.0f}" for v in cells["revenue"]]
    st.subheader("Recency score against frequency score")
    charts = []
    schemes: tuple[tuple[str, Any], ...] = (("customers", "blues"),)
    if money:  # a log with no money has no revenue to show
        schemes += (("revenue", "oranges"),)
    for measure, scheme in schemes:
        base = alt.Chart(cells, title=f"{measure} per cell").encode(
            alt.X(
                "f_score:O",
                title="frequency score (5 = most frequent)",
                axis=alt.Axis(labelAngle=0),
            ),
            alt.Y(
                "r_score:O", title="recency score (5 = most recent)", sort="descending"
            ),
        )
        heat = base.mark_rect().encode(
            alt.Color(f"{measure}:Q", scale=alt.Scale(scheme=scheme), legend=None),
            tooltip=[
                "r_score",
                "f_score",
                alt.Tooltip("customers:Q", format=","),
                *([alt.Tooltip("revenue:Q", format=",.2f")] if money else []),
            ],
        )
        text = base.mark_text(fontSize=12).encode(alt.Text(f"{measure} text:N"))
        charts.append((heat + text).properties(width=alt.Step(64), height=alt.Step(40)))
    st.altair_chart(alt.hconcat(*charts), width="content")
    st.caption(
        "The top-right cell holds the most recent, most frequent buyers; every "
        "customer is counted."
    )


def _rfm_distributions(result: SegmentationRun) -> None:
    """A histogram per RFM measure, on a log axis where it is skewed."""
    skewed = set(result.rfm.log_features)
    sample = app.sample_rows(result.data)
    charts = []
    logged: list[str] = []
    for column, title in (
        ("recency_days", "Days since the last order"),
        ("frequency", "Orders"),
        ("monetary", "Net spend"),
    ):
        if column not in sample.columns:  # a log with no money
            continue
        values = pd.to_numeric(sample[column], errors="coerce")
        log = column in skewed and bool((values > 0).all())
        logged += [title] if log else []
        frame = pd.DataFrame({"value": np.log10(values) if log else values}).dropna()
        charts.append(
            alt.Chart(frame, title=title)
            .mark_bar(color="#3366aa")
            .encode(
                alt.X(
                    "value:Q",
                    bin=alt.Bin(maxbins=30),
                    title=f"{title} (log10)" if log else title,
                ),
                alt.Y("count():Q", title="customers"),
            )
            .properties(width=260, height=170)
        )
    st.subheader(
        "Recency, frequency and monetary value"
        if "monetary" in sample.columns
        else "Recency and frequency"
    )
    st.altair_chart(alt.hconcat(*charts), width="content")
    notes = [f"On a log10 axis (skewed): {', '.join(logged)}."] if logged else []
    if len(sample) < len(result.data):
        notes.append(f"Drawn from a random sample of {len(sample):,} customers.")
    if notes:
        st.caption(" ".join(notes))


@st.cache_resource(max_entries=4, show_spinner=False)
def _log_roles(
    digest: str, name: str, max_mb: float, _upload: app.Upload
) -> tuple[list[str], dict[str, str | None]]:
    return app.log_roles(_upload, max_mb=max_mb)


def _rfm_uploaded() -> None:
    file = st.session_state.get("rfm_uploader")
    if file is not None:
        st.session_state["rfm_source"] = app.Upload.from_bytes(
            file.name, file.getvalue()
        )
        st.session_state.pop("rfm_roles", None)


def _use_rfm_sample() -> None:
    st.session_state["rfm_source"] = app.demo_upload("online_retail_sample")
    st.session_state.pop("rfm_roles", None)


def _role_key(role: str, log: app.Upload) -> str:
    return f"rfm_role_{role}-{log.digest[:16]}"


def _start_rfm(log: app.Upload) -> None:
    state = st.session_state
    roles = {}
    for role, _ in app.LOG_ROLES:
        value = state[_role_key(role, log)]
        roles[role] = NO_COLUMN if value == _NO_COLUMN else value
    state["rfm_roles"] = (log.digest, tuple(roles.items()), state["rfm_features"])


def _rfm_result(
    log: app.Upload, roles: tuple[tuple[str, str | None], ...], features: str
) -> SegmentationRun:
    key = ("rfm", log.digest, log.name, roles, features, _max_mb())
    result: SegmentationRun = _cached_run(
        key,
        "Cleaning the lines, scoring and clustering the customers…",
        lambda progress: app.rfm_segment(
            log, dict(roles), features=features, max_mb=_max_mb(), progress=progress
        ),
    )
    return result


def page_rfm() -> None:
    st.header("RFM from an order log")
    st.write(
        "Upload an order export with one line per purchase (CSV, Excel or "
        "Parquet): customer, date, and quantity with price or a line amount "
        "(without money, recency and frequency only). "
        "custseg cleans the lines (every dropped line counted), scores Recency, "
        "Frequency and Monetary value, names the standard RFM segments and "
        "clusters the customers on their behaviour."
    )
    left, right = st.columns([3, 2], gap="large")
    left.file_uploader(
        f"Upload an order log (up to {_max_mb():g} MB)",
        type=list(app.UPLOAD_TYPES),
        key="rfm_uploader",
        on_change=_rfm_uploaded,
    )
    right.write("")
    right.button("Use the sample order log", on_click=_use_rfm_sample)
    log: app.Upload | None = st.session_state.get("rfm_source")
    if log is None:
        st.info(
            "Upload an order log above, or try the sample: 65,126 lines of the "
            "UCI Online Retail data."
        )
        return
    columns, guess = _log_roles(log.digest, log.name, _max_mb(), log)
    st.subheader("Which column is which")
    st.write(
        f"**{app._safe_name(log.name)}**: {_count(len(columns), 'column')}. custseg "
        "guessed the roles below from the names; correct any guess, then press "
        "**Run RFM**."
    )
    cols = st.columns(3)
    for i, (role, words) in enumerate(app.LOG_ROLES):
        key = _role_key(role, log)
        st.session_state.setdefault(key, guess[role] or _NO_COLUMN)
        cols[i % 3].selectbox(words, [_NO_COLUMN, *columns], key=key)
    st.selectbox(
        "Cluster the customers on",
        list[str](app.RFM_FEATURE_WORDS),
        format_func=lambda which: app.RFM_FEATURE_WORDS[which],
        key="rfm_features",
    )
    st.button("Run RFM", type="primary", on_click=_start_rfm, args=(log,))
    chosen = st.session_state.get("rfm_roles")
    if chosen is None or chosen[0] != log.digest:
        return
    try:
        result = _rfm_result(log, chosen[1], chosen[2])
    except CustsegError as exc:  # e.g. preferences without a category column
        st.error(app.app_message(exc))
        return
    _show_rfm(log, chosen[1], result)


def _show_rfm(
    log: app.Upload, roles: tuple[tuple[str, str | None], ...], result: SegmentationRun
) -> None:
    analysis = result.rfm
    cleaning = analysis.cleaning
    revenue = cleaning.net_revenue
    st.success(
        f"**{_count(cleaning.customers, 'customer')}** from "
        f"{cleaning.used:,} of {cleaning.lines:,} lines, {cleaning.orders:,} orders, "
        + (f"net revenue {revenue:,.2f}" if revenue is not None else "no money column")
        + f"; recency counted from {cleaning.snapshot.isoformat()}."
    )
    if cleaning.columns.money_note:
        st.warning(app.app_words(cleaning.columns.money_note))
    m = st.columns(4)
    m[0].metric("Customers", f"{cleaning.customers:,}")
    m[1].metric("Orders", f"{cleaning.orders:,}")
    m[2].metric(f"Lines used (of {cleaning.lines:,})", f"{cleaning.used:,}")
    m[3].metric("Net revenue", f"{revenue:,.2f}" if revenue is not None else "n/a")

    st.subheader("Cleaning: what happened to every line")
    st.dataframe(
        app.cleaning_rows(result),
        hide_index=True,
        width="content",
        column_config={"lines": st.column_config.NumberColumn(format="localized")},
    )
    if cleaning.netted:
        st.caption(
            f"{cleaning.netted:,} cancellation or return lines were netted against "
            "the customer's purchases (their value counts as negative)."
        )
    if cleaning.identical_rule == "keep" and cleaning.identical_lines:
        st.info(
            f"{_count(cleaning.identical_lines, 'identical line')} kept as separate "
            "purchases: the log has no "
            + ("invoice" if cleaning.columns.invoice is None else "product or line id")
            + " column to tell a repeat purchase from a line written twice."
        )
    if cleaning.unscored_customers:
        reasons = "; ".join(
            f"{n:,}: {why.removeprefix('no usable purchase: ')}"
            for why, n in cleaning.unscored_reasons.items()
        )
        st.warning(
            f"{_count(cleaning.unscored_customers, 'customer')} of the log "
            f"{'has' if cleaning.unscored_customers == 1 else 'have'} no usable "
            f"purchase ({reasons}). They are in the segments download without a "
            "segment, with the reason."
        )
    if len(analysis.behaviour):
        st.subheader("Behaviour and preferences by cluster")
        st.caption(
            "Each cluster's mean of every measure the log allows; the measures "
            "marked were clustered on."
        )
        st.dataframe(app.behaviour_rows(result), hide_index=True)

    st.subheader("RFM segments")
    table = analysis.segments
    order = list(table["rfm_segment"])
    # the report's "customers and revenue by RFM segment": both shares per
    # segment, side by side, best segment at the top
    money = cleaning.columns.has_money
    if not money:  # no revenue columns to show
        table = table.drop(columns=["revenue", "revenue_share", "monetary_mean"])
    shares = table.melt(
        id_vars="rfm_segment",
        value_vars=["share", "revenue_share"] if money else ["share"],
        var_name="measure",
        value_name="value",
    ).replace({"measure": {"share": "customers", "revenue_share": "net revenue"}})
    st.altair_chart(
        alt.Chart(shares)
        .mark_bar()
        .encode(
            alt.X("value:Q", title="share of all", axis=alt.Axis(format="%")),
            alt.Y(
                "rfm_segment:N",
                sort=order,
                title=None,
                axis=alt.Axis(labelLimit=300, labelOverlap=False),
            ),
            alt.YOffset("measure:N"),
            alt.Color(
                "measure:N",
                scale=alt.Scale(range=["#3366aa", "#e08a1e"]),
                title=None,
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("rfm_segment:N", title="segment"),
                "measure:N",
                alt.Tooltip("value:Q", format=".1%", title="share"),
            ],
        )
        .properties(height=alt.Step(13)),
        width="stretch",
    )
    shown = table.rename(
        columns={
            "rfm_segment": "segment",
            "revenue_share": "share of revenue",
            "recency_days_mean": "mean days since last order",
            "frequency_mean": "mean orders",
            "monetary_mean": "mean spend",
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "share": st.column_config.NumberColumn(format="percent"),
            "share of revenue": st.column_config.NumberColumn(format="percent"),
            "revenue": st.column_config.NumberColumn(format="%.2f"),
            "mean days since last order": st.column_config.NumberColumn(format="%.0f"),
            "mean orders": st.column_config.NumberColumn(format="%.1f"),
            "mean spend": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.caption(
        "Standard RFM segments from the recency score and the combined frequency "
        "and monetary score (quintiles, 5 = best)."
        if money
        else "Standard RFM segments from the recency score and the frequency "
        "score (quintiles, 5 = best); the log has no money column."
    )
    _rfm_grid(result)
    _rfm_distributions(result)

    st.subheader(f"Behavioural clusters: {len(result.profiles)}")
    st.write(result.k_selection.reason)
    _show_cautions(app.cautions(result))
    _show_cards(result, key="rfm-card")

    st.subheader("RFM segments and clusters")
    _matrix_chart(
        analysis.overlap.reindex(order).dropna(how="all"),
        rows="rfm segment",
        columns="cluster",
        value="customers",
        scheme="blues",
        step=(140, 26),
    )
    st.caption(
        "Customers in each RFM segment (rows) and behavioural cluster (columns)."
    )

    st.subheader("Downloads")
    _downloads(("rfm", log.digest, log.name, roles), result, prefix="rfm-download")


# -- the page --------------------------------------------------------------------

PAGE_FUNCTIONS: dict[str, Callable[[], None]] = dict(
    zip(
        PAGES,
        [
            page_data,
            page_explore,
            page_features,
            page_choose_k,
            page_segments,
            page_downloads,
            page_compare,
            page_rfm,
        ],
        strict=True,
    )
)


# Choices on the Features page. Streamlit forgets a widget's value in a run
# where it is not drawn, so leaving the page would reset the method and seed;
# writing each value back at the start of a run keeps it.
_CHOICE_DEFAULTS: dict[str, Any] = {o.name: _widget_value(o) for o in CONTROLS}


# Chart choices kept the same way: the axes picked on Explore and Segments
# stay picked after a visit to another page and after a refit with another k.
_CHART_CHOICES = (
    "explore_x",
    "explore_y",
    "explore_hue",
    "seg_view",
    "seg_x",
    "seg_y",
    "seg_box",
)


def _keep_choices() -> None:
    state = st.session_state
    for key in list(state.keys()):
        if (
            key in _CHOICE_DEFAULTS
            or key in _CHART_CHOICES
            or str(key).startswith(("features-", "rfm_role_"))
        ):
            state[key] = state[key]


def _chart_choice(
    key: str, options: list[str], default: str, *, keep: bool = True
) -> None:
    """Put a chart picker's value in the session state before it is drawn:
    the kept choice while ``keep`` and still offered, else ``default``. (The
    widget then takes no index: Streamlit warns about a widget given both.)"""
    state = st.session_state
    if not keep or state.get(key) not in options:
        state[key] = default


def _picked_axes() -> None:
    st.session_state["seg_axes_picked"] = True


def main() -> None:
    # The report is drawn in server threads: a GUI backend must never start.
    matplotlib.use("Agg")
    st.set_page_config(page_title="custseg: customer segments", layout="wide")
    _keep_choices()
    with st.sidebar:
        st.title("custseg")
        st.caption("Customer segments from a table, step by step.")
        page = st.radio("Step", PAGES, key="page")
        source = _source()
        if source is not None:
            st.caption(f"Data: **{app._safe_name(source.name)}**")
        settings: Settings | None = st.session_state.get("settings")
        if settings is not None:
            k = "auto" if settings.n_clusters is None else settings.n_clusters
            st.caption(
                f"{ALGORITHMS[settings.algorithm]} on "
                + ", ".join(settings.features or ("the default features",))
                + f" · k {k}"
            )
    try:
        PAGE_FUNCTIONS[page]()
    except CustsegError as exc:
        st.error(app.app_message(exc))
    except Exception as exc:  # a bug, not the user's doing: no traceback on screen
        st.error(
            f"Something went wrong inside custseg ({type(exc).__name__}: {exc}). "
            "Try another file or other settings, and please report it."
        )


if __name__ == "__main__":  # streamlit runs the script as __main__
    main()
