"""What the web app does, as plain functions the Streamlit script calls.

Nothing here imports Streamlit, so every step can be tested in process. Each
function is a thin adapter over the library: uploads become files read by
:func:`custseg.read_table`, runs go through :func:`custseg.pipeline.run` and
:func:`custseg.pipeline.write_outputs`, and the chart data comes from the
``from_*`` methods of the Display classes in :mod:`custseg.plots` (the app
draws them with Altair so that hovering shows the values).
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from custseg import pipeline
from custseg.cluster import NOISE_REASON, KSelection
from custseg.datasets import DATASETS
from custseg.errors import ColumnTypeError, CustsegError, EmptyDataError, InputError
from custseg.io import read_table, write_table
from custseg.prep import SCALERS, model_frame, select_features
from custseg.quality import QualityReport, check_table
from custseg.settings import Settings

__all__ = [
    "CHART_ROWS",
    "DEFAULT_MAX_UPLOAD_MB",
    "SCALERS",
    "UPLOAD_TYPES",
    "Card",
    "Caution",
    "OutputJob",
    "Upload",
    "app_message",
    "app_words",
    "audience",
    "audience_file",
    "cards",
    "cautions",
    "categorical_columns",
    "check_settings",
    "compare_methods",
    "default_features",
    "demo_upload",
    "behaviour_rows",
    "cleaning_rows",
    "feature_choices",
    "log_roles",
    "k_curves",
    "numeric_columns",
    "output_files",
    "profile_cells",
    "projection_points",
    "read_upload",
    "rfm_segment",
    "sample_rows",
    "scatter_points",
    "segment",
    "segment_sizes",
    "segments_csv",
    "segment_values",
    "stage_upload",
]

T = TypeVar("T")

DEFAULT_MAX_UPLOAD_MB = 200
# What the uploader accepts: the suffixes read_table reads.
UPLOAD_TYPES = ("csv", "tsv", "txt", "gz", "zip", "xlsx", "xlsm", "parquet", "pq")
# Charts draw at most this many customers (fixed-seed sample): a browser slows
# down beyond a few thousand points, and the picture does not change.
CHART_ROWS = 5_000
# Staged uploads kept on disk per server process (older ones are removed).
_KEEP_STAGED = 8

_root: Path | None = None


@dataclass(frozen=True)
class Upload:
    """A table the user gave the app: its file name, bytes and their SHA-256."""

    name: str
    data: bytes = dataclasses.field(repr=False)
    digest: str

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Upload:
        """Name and bytes, with the digest that keys every cached result."""
        return cls(name, data, hashlib.sha256(data).hexdigest())


def demo_upload(name: str = "mall_customers") -> Upload:
    """A bundled dataset (:data:`custseg.datasets.DATASETS`) as an upload."""
    path = DATASETS[name].path()
    return Upload.from_bytes(path.name, path.read_bytes())


def _staging_root() -> Path:
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="custseg-app-"))
        atexit.register(shutil.rmtree, _root, True)
    return _root


def _safe_name(name: str) -> str:
    """The base name of an uploaded file, with only harmless characters."""
    base = Path(name.replace("\\", "/")).name or "upload"
    return re.sub(r"[^A-Za-z0-9._() -]", "_", base).lstrip(".") or "upload"


def stage_upload(upload: Upload, *, max_mb: float = DEFAULT_MAX_UPLOAD_MB) -> Path:
    """Write the uploaded bytes to a private file with the original name (so
    the suffix picks the reader and :func:`custseg.read_table` sniffs it like
    any file). Empty and oversized uploads are refused here.

    Raises
    ------
    EmptyDataError
        The file has no bytes at all.
    InputError
        The file is larger than ``max_mb`` megabytes.
    """
    name = _safe_name(upload.name)
    size = len(upload.data)
    if size == 0:
        raise EmptyDataError(
            "the file is empty (0 bytes)",
            path=name,
            hint="Choose a file with a header row and at least one customer.",
        )
    if size > max_mb * 1024 * 1024:
        raise InputError(
            f"the file is {size / 1024 / 1024:,.0f} MB, over the app's upload "
            f"limit of {max_mb:g} MB",
            path=name,
            hint="Start the app with a larger limit (custseg app --max-upload-mb "
            "N), or segment the file on the command line: custseg run FILE.",
        )
    folder = _staging_root() / upload.digest[:16]
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.part"
        tmp.write_bytes(upload.data)
        tmp.replace(path)
        _prune(keep=folder)
    return path


def _prune(keep: Path) -> None:
    folders = sorted(
        (p for p in _staging_root().iterdir() if p.is_dir() and p != keep),
        key=lambda p: p.stat().st_mtime,
    )
    for old in folders[: max(0, len(folders) - (_KEEP_STAGED - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def _strip_folder(exc: CustsegError, path: Path) -> CustsegError:
    """Error messages name the user's file, not the staging folder."""
    prefix = str(path.parent) + "/"
    exc.args = tuple(
        a.replace(prefix, "") if isinstance(a, str) else a for a in exc.args
    )
    if isinstance(exc, InputError) and exc.path:
        exc.path = exc.path.replace(prefix, "")
    return exc


def _on_upload(
    upload: Upload, max_mb: float, call: Callable[[Path], T]
) -> tuple[T, str]:
    """``call(path)`` on the staged upload, and the file name to show; its
    errors name the user's file, not the staging folder."""
    path = stage_upload(upload, max_mb=max_mb)
    try:
        return call(path), path.name
    except CustsegError as exc:
        raise _strip_folder(exc, path) from None


def _as_uploaded(
    result: pipeline.SegmentationRun, name: str
) -> pipeline.SegmentationRun:
    """A run whose source is the uploaded file's name (as the CLI would name it)."""
    return dataclasses.replace(
        result,
        quality=dataclasses.replace(result.quality, source=name),
        settings={**result.settings, "data": name},
    )


def read_upload(
    upload: Upload, *, max_mb: float = DEFAULT_MAX_UPLOAD_MB
) -> tuple[pd.DataFrame, QualityReport]:
    """Stage, load and check an uploaded table.

    Returns the table and its :class:`~custseg.QualityReport`, whose source is
    the uploaded file's name.

    Raises
    ------
    CustsegError
        The file cannot be used: empty, too large, not a table, or without a
        numeric column. The message names the file and says what to do.

    Examples
    --------
    >>> df, quality = read_upload(demo_upload())
    >>> df.shape, quality.source, quality.id_columns
    ((200, 5), 'mall_customers.csv', ('CustomerID',))
    """
    path = stage_upload(upload, max_mb=max_mb)
    try:
        table = read_table(path)
        quality = check_table(table)
        df = table.frame
    except CustsegError as exc:
        raise _strip_folder(exc, path) from None
    quality = dataclasses.replace(quality, source=path.name)
    if not numeric_columns(quality):
        mistyped = ", ".join(f"'{c}'" for c in quality.mistyped)
        raise ColumnTypeError(
            "no numeric column to segment on"
            + (f" (numbers mixed with text in {mistyped})" if mistyped else ""),
            path=path.name,
            hint="custseg groups customers by numbers such as income, spending or "
            "visits; check that the file has such columns and that they hold "
            "plain numbers.",
        )
    return df, quality


# What to do in the app where the library's advice names a command-line
# option the app has no control for (the sentence holding the option is
# replaced by these words).
_APP_ADVICE = {
    "--delimiter": "If the columns are not split right, save the file again as "
    "a comma-separated CSV (or an Excel workbook) and upload that.",
    "--encoding": "If accented letters look wrong, save the file again as UTF-8 "
    "CSV (in Excel: Save As, CSV UTF-8) and upload that.",
    "--sheet": "The app reads the first sheet: move the table there, or save "
    "that sheet on its own, and upload it again.",
    "--na-values": "Replace those markers with empty cells in the file, or "
    "leave the column out on 3 · Features.",
    "--features": "Pick the features on 3 · Features.",
    "--k": "Pick the number of segments on 4 · Choose k.",
    "--k-range": "Set the range of k on 3 · Features.",
    "--algorithm": "Pick the method on 3 · Features.",
    "--min-cluster-size": "Set the smallest segment size on 3 · Features.",
    "--date-format": "Write the dates in the file as YYYY-MM-DD and upload it again.",
    "--customer-column": "Pick it under *Which column is which*.",
    "--date-column": "Pick it under *Which column is which*.",
    "--invoice-column": "Pick it under *Which column is which*.",
    "--quantity-column": "Pick it under *Which column is which*.",
    "--price-column": "Pick it under *Which column is which*.",
    "--amount-column": "Pick it under *Which column is which*.",
    "--columns": "",
}
_OPTION = re.compile(r"--[a-z][a-z-]*")
# Sentence ends: a full stop or semicolon before a space (not inside "1.5",
# "Sheet 2.1" or a file name), except after these abbreviations.
_ENDS = re.compile(r"(?<=[.;])\s+")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.")


def _sentences(text: str) -> list[str]:
    parts: list[str] = []
    for piece in _ENDS.split(text):
        if parts and parts[-1].endswith(_ABBREVIATIONS):
            parts[-1] += " " + piece
        else:
            parts.append(piece)
    return parts


def app_words(text: str) -> str:
    """``text`` with each sentence that names a command-line option replaced
    by what to do in the app (an option it does not know stays as it is).

    Examples
    --------
    >>> app_words("Bad row. Check the quoting in that line, or pass --delimiter.")
    'Bad row. If the columns are not split right, save the file again as a comma-separated CSV (or an Excel workbook) and upload that.'
    >>> app_words("The file is 1.5 MB. Pass --encoding (e.g. --encoding latin-1).")
    'The file is 1.5 MB. If accented letters look wrong, save the file again as UTF-8 CSV (in Excel: Save As, CSV UTF-8) and upload that.'
    """
    # the order log's roles are picked on the RFM page
    text = re.sub(
        r"name it with --[a-z]+-column", "pick it under *Which column is which*", text
    )
    out: list[str] = []
    for sentence in _sentences(text):
        known = [o for o in _OPTION.findall(sentence) if o in _APP_ADVICE]
        if not known:
            out.append(sentence)
            continue
        advice = _APP_ADVICE[known[0]]
        if out and out[-1].endswith(";"):  # the clause before it ends here
            out[-1] = out[-1][:-1] + "."
        if advice and advice not in out:
            out.append(advice)
    return " ".join(out).strip()


def app_message(exc: CustsegError) -> str:
    """The error as the app shows it: the library's message with its advice
    in the app's words (:func:`app_words`); an input error's hint is
    replaced whole, its description sentence by sentence."""
    if isinstance(exc, InputError) and exc.hint and _OPTION.search(exc.hint):
        rebuilt = InputError(
            app_words(exc.detail),
            path=exc.path,
            column=exc.column,
            rows=exc.rows,
            hint=app_words(exc.hint) or None,
        )
        return str(rebuilt)
    return app_words(str(exc))


def numeric_columns(quality: QualityReport) -> list[str]:
    """Columns the quality check found numeric."""
    return [c.name for c in quality.columns if c.kind == "numeric"]


def categorical_columns(quality: QualityReport) -> list[str]:
    """Columns the quality check found categorical (few distinct values)."""
    return [c.name for c in quality.columns if c.kind == "categorical"]


def default_features(quality: QualityReport) -> list[str]:
    """The features :class:`custseg.Segmenter` uses when none are named.

    Examples
    --------
    >>> default_features(read_upload(demo_upload())[1])
    ['Age', 'Annual Income (k$)', 'Spending Score (1-100)', 'Gender']
    """
    return list(select_features(quality).columns)


def segment(
    upload: Upload,
    settings: Settings,
    *,
    max_mb: float = DEFAULT_MAX_UPLOAD_MB,
    progress: Any = None,
) -> pipeline.SegmentationRun:
    """Run :func:`custseg.pipeline.run` on the staged upload, as ``custseg run``
    would on the file; the run's source is the uploaded file's name.

    Examples
    --------
    >>> run = segment(
    ...     demo_upload(),
    ...     Settings(features=("Annual Income (k$)", "Spending Score (1-100)")),
    ... )
    >>> run.k_selection.k, run.source
    (5, 'mall_customers.csv')
    """
    result, name = _on_upload(
        upload, max_mb, lambda path: pipeline.run(path, settings, progress=progress)
    )
    return _as_uploaded(result, name)


def compare_methods(
    upload: Upload,
    settings: Settings,
    algorithms: Sequence[str],
    *,
    max_mb: float = DEFAULT_MAX_UPLOAD_MB,
    progress: Any = None,
) -> Any:
    """:func:`custseg.compare` on the staged upload: each algorithm on the same
    prepared features, side by side (a :class:`custseg.pipeline.Comparison`
    whose source is the uploaded file's name)."""
    comparison, name = _on_upload(
        upload,
        max_mb,
        lambda path: pipeline.compare(
            path, settings, algorithms=algorithms, progress=progress
        ),
    )
    return dataclasses.replace(comparison, source=name)


# -- RFM from an order log ----------------------------------------------------

#: The roles of an order log's columns, with the words the RFM page shows.
LOG_ROLES = (
    ("customer", "Customer id"),
    ("date", "Order date"),
    ("invoice", "Order or invoice number (optional)"),
    ("quantity", "Quantity"),
    ("price", "Unit price"),
    ("amount", "Line amount (instead of quantity x price)"),
    ("product", "Product code (optional)"),
    ("category", "Product category (optional)"),
    ("discount", "Discount (optional)"),
)
# What the RFM clusters are made on (custseg.pipeline.FEATURE_SETS), in words.
RFM_FEATURE_WORDS = {
    "auto": "RFM, plus returns and discounts where the log has them (recommended)",
    "rfm": "Recency, frequency and monetary value only",
    "behaviour": "RFM and every behaviour measure (basket, regularity, trend, ...)",
    "preferences": "RFM and the share of spend per product category",
    "all": "RFM, behaviour and preferences",
}


def log_roles(
    upload: Upload, *, max_mb: float = DEFAULT_MAX_UPLOAD_MB
) -> tuple[list[str], dict[str, str | None]]:
    """An uploaded order log's columns and the guess of which is which
    (:func:`custseg.transactions.guess_columns`), for the person to check.

    Examples
    --------
    >>> columns, roles = log_roles(demo_upload("online_retail_sample"))
    >>> roles["customer"], roles["date"], roles["amount"]
    ('CustomerID', 'InvoiceDate', None)
    """
    from custseg.transactions import guess_columns, log_columns

    columns, _ = _on_upload(upload, max_mb, log_columns)
    roles = guess_columns(columns)
    if roles["quantity"] and roles["price"]:
        roles["amount"] = None  # quantity x price wins, as in the aggregation
    return columns, roles


def rfm_segment(
    upload: Upload,
    roles: dict[str, str | None],
    settings: Settings | None = None,
    *,
    features: str = "auto",
    max_mb: float = DEFAULT_MAX_UPLOAD_MB,
    progress: Any = None,
) -> pipeline.SegmentationRun:
    """:func:`custseg.rfm` on the staged order log with the columns the person
    confirmed and the feature set picked (:data:`RFM_FEATURE_WORDS`), as
    ``custseg rfm --features`` would run on the file."""
    result, name = _on_upload(
        upload,
        max_mb,
        lambda path: pipeline.rfm(
            path,
            columns=roles,
            settings=(settings or Settings.for_command("rfm")).replace(
                features=(features,)
            ),
            progress=progress,
        ),
    )
    return _as_uploaded(result, name)


def behaviour_rows(result: pipeline.SegmentationRun) -> pd.DataFrame:
    """The RFM clusters' behaviour as the report shows it: one row per
    measure (by its label), one column per cluster, values written as
    percentages, days or numbers, "n/a" where unknown."""
    summary = result.rfm.behaviour_summary()
    rows = summary["rows"]
    table: dict[str, list[str]] = {"measure": ["customers"]}
    for row in rows:
        table[row["cluster"]] = [f"{row['customers']:,}"]
    if rows and rows[0]["prefers"]:
        table["measure"].append("prefers (share of spend)")
        for row in rows:
            table[row["cluster"]].append(f"{row['prefers']} {row['prefers_share']:.0%}")
    for i, col in enumerate(summary["columns"]):
        clustered = " (clustered on)" if col["column"] in result.rfm.features else ""
        table["measure"].append(col["label"] + clustered)
        for row in rows:
            v = row["values"][i]
            text = (
                "n/a"
                if v is None
                else f"{v:.0%}"
                if col["kind"] == "share"
                else f"{v:,.0f}"
                if col["kind"] == "days"
                else f"{v:,.2f}"
            )
            table[row["cluster"]].append(text)
    return pd.DataFrame(table)


def cleaning_rows(result: pipeline.SegmentationRun) -> pd.DataFrame:
    """How every line of the log was used: one row per reason a line was
    dropped (those that happened), then the lines used and the total, which
    is the file's line count."""
    cleaning = result.rfm.cleaning
    reasons = cleaning.drop_reasons()
    rows = [
        {"lines": n, "what happened": f"dropped: {reasons[key]}"}
        for key, n in cleaning.dropped.items()
        if n
    ]
    rows.append({"lines": cleaning.used, "what happened": "used"})
    rows.append({"lines": cleaning.lines, "what happened": "all lines in the file"})
    return pd.DataFrame(rows, columns=["what happened", "lines"])


def sample_rows(df: pd.DataFrame, n: int = CHART_ROWS, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows, a fixed-seed sample in input order."""
    return df if len(df) <= n else df.iloc[sample_index(len(df), n, seed)]


def sample_index(total: int, n: int = CHART_ROWS, seed: int = 0) -> np.ndarray:
    """The positions of :func:`sample_rows`' rows among ``total``, in order."""
    if total <= n:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, n, replace=False))


# -- chart data from the Display classes ---------------------------------------

_INDICES = (
    ("inertia", "Elbow: inertia", "lower is better; look for the bend"),
    ("silhouette", "Silhouette", "higher is better"),
    ("calinski_harabasz", "Calinski-Harabasz", "higher is better"),
    ("davies_bouldin", "Davies-Bouldin", "lower is better"),
)
# Scores only some algorithms report (KSelection.extra_scores).
_EXTRA_INDICES = (
    ("bic", "BIC (Gaussian mixture)", "lower is better"),
    ("aic", "AIC (Gaussian mixture)", "lower is better; shown for comparison"),
)


def k_curves(selection: KSelection) -> pd.DataFrame:
    """One row per (index, k): the curves of :meth:`KSelection.to_frame`
    (elbow inertia, silhouette, Calinski-Harabasz, Davies-Bouldin, and a
    Gaussian mixture's BIC and AIC), long format, with the chosen k flagged."""
    frame = selection.to_frame()
    return pd.DataFrame(
        [
            {
                "index": title,
                "k": int(k),
                "value": float(v),
                "reading": reading,
                "chosen": int(k) == selection.k,
            }
            for key, title, reading in (*_INDICES, *_EXTRA_INDICES)
            if key in frame.columns
            for k, v in zip(selection.k_values, frame[key], strict=True)
        ]
    )


def _labels(result: pipeline.SegmentationRun) -> tuple[list[str], list[int]]:
    seg = result.segmenter
    names = list(seg.segment_names_)
    numbers = [int(n) for n in getattr(seg, "segment_ids_", range(len(names)))]
    return names, numbers


def _segment_column(labels: np.ndarray, names: list[str], numbers: list[int]) -> Any:
    shown = [f"{n}: {name}" for n, name in zip(numbers, names, strict=True)]
    cats = pd.Categorical.from_codes(
        np.where(labels < 0, len(shown), labels).astype(np.int64),
        pd.Index([*shown, "unassigned"]),
    )
    return cats.remove_unused_categories()


def scatter_points(
    result: pipeline.SegmentationRun, x: str, y: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points (a sample) and segment centres of two numeric columns, from
    :class:`~custseg.plots.SegmentScatterDisplay`; columns ``x``, ``y`` and
    ``segment``."""
    from custseg.plots import SegmentScatterDisplay

    names, numbers = _labels(result)
    frame = pd.DataFrame(
        {c: pd.to_numeric(result.data[c], errors="coerce") for c in (x, y)},
        dtype=float,
    )
    d = SegmentScatterDisplay.from_frame(
        frame,
        result.labels,
        x,
        y,
        names,
        numbers=numbers,
        random_state=result.segmenter.random_state,
    )
    points = pd.DataFrame(
        {"x": d.x, "y": d.y, "segment": _segment_column(d.labels, names, numbers)}
    )
    centres = pd.DataFrame(
        {
            "x": d.centers[:, 0],
            "y": d.centers[:, 1],
            "segment": [f"{n}: {name}" for n, name in zip(numbers, names, strict=True)],
        }
    )
    return points, centres


def segment_sizes(result: pipeline.SegmentationRun) -> pd.DataFrame:
    """Customers per segment, every customer counted (the unassigned too),
    from the profiles, which count all rows whatever the engine: columns
    ``segment`` (as the chart legend shows it), ``customers`` and ``share``
    (of all customers).

    Examples
    --------
    >>> run = segment(demo_upload(), Settings(n_clusters=3, stability_resamples=0))
    >>> int(segment_sizes(run)["customers"].sum())
    200
    """
    rows = [(f"{int(p.segment)}: {p.name}", int(p.size)) for p in result.profiles]
    unassigned = result.n_rows - sum(n for _, n in rows)
    if unassigned > 0:
        rows.append(("unassigned", unassigned))
    frame = pd.DataFrame(rows, columns=["segment", "customers"])
    frame["share"] = frame["customers"] / result.n_rows if result.n_rows else 0.0
    return frame


def segment_values(result: pipeline.SegmentationRun, column: str) -> pd.DataFrame:
    """One numeric column's values (a fixed-seed sample of at most
    :data:`CHART_ROWS` rows) with each row's segment, for box plots:
    columns ``value`` and ``segment``; missing values left out."""
    names, numbers = _labels(result)
    rows = sample_index(len(result.data), CHART_ROWS, result.segmenter.random_state)
    values = pd.to_numeric(result.data[column].iloc[rows], errors="coerce").to_numpy(
        dtype=float
    )
    frame = pd.DataFrame(
        {
            "value": values,
            "segment": _segment_column(result.labels[rows], names, numbers),
        }
    )
    kept: pd.DataFrame = frame[np.isfinite(values)].reset_index(drop=True)
    return kept


def projection_points(
    result: pipeline.SegmentationRun,
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str]]:
    """The PCA view of :class:`~custseg.plots.ProjectionDisplay`: points (a
    sample), segment centres, and the axis titles (the share of variance and
    the features that weigh most on each axis)."""
    from custseg.plots import ProjectionDisplay

    seg = result.segmenter
    names, numbers = _labels(result)
    rows = sample_index(len(result.data), 20_000, seg.random_state)
    frame, _ = model_frame(result.data.iloc[rows], seg.selection_)
    Z = seg.prepare_frame(frame)
    d = ProjectionDisplay.from_prepared(
        Z,
        result.labels[rows],
        seg.cluster_centers_,
        names,
        numbers=numbers,
        random_state=seg.random_state,
        feature_names=seg.prepared_feature_labels(),
    )
    points = pd.DataFrame(
        {
            "PC1": d.points[:, 0],
            "PC2": d.points[:, 1],
            "segment": _segment_column(d.labels, names, numbers),
        }
    )
    centres = pd.DataFrame(
        {
            "PC1": d.centers[:, 0],
            "PC2": d.centers[:, 1],
            "segment": [f"{n}: {name}" for n, name in zip(numbers, names, strict=True)],
        }
    )
    return points, centres, d.axis_titles()


def column_labels(result: pipeline.SegmentationRun) -> dict[str, str]:
    """Each column's readable label (features as the model read them; other
    columns as they would be)."""
    from custseg.quality import readable_label

    known = {c: r.label for c, r in getattr(result.segmenter, "columns_", {}).items()}
    return {str(c): known.get(str(c), readable_label(str(c))) for c in result.data}


def default_axes(result: pipeline.SegmentationRun) -> tuple[str, str] | None:
    """The two numeric features that separate the segments best
    (:func:`custseg.profile.separating_pair`), for the first chart."""
    from custseg.profile import separating_pair

    rows = sample_index(len(result.data), 20_000, result.segmenter.random_state)
    return separating_pair(result.profiles, result.data.iloc[rows])


def profile_cells(result: pipeline.SegmentationRun) -> pd.DataFrame:
    """One row per (segment, numeric feature): mean and z-score, from
    :class:`~custseg.plots.ProfileHeatmapDisplay` (features in its order,
    the separating ones first), the feature's label and the mean as text."""
    from custseg._format import by_role, number
    from custseg.plots import ProfileHeatmapDisplay

    d = ProfileHeatmapDisplay.from_profiles(result.profiles)
    z = d.z.rename_axis(index="segment", columns="feature").stack()
    means = d.means.rename_axis(index="segment", columns="feature").stack()
    cells = pd.DataFrame({"z": z, "mean": means}).reset_index()
    # the feature's readable label and the mean as the cards write numbers
    # (no "4.49e+4" in a cell)
    labels = column_labels(result)
    roles = {c: r.role for c, r in getattr(result.segmenter, "columns_", {}).items()}

    def text(feature: str, v: float) -> str:
        role = roles.get(feature)
        if role is None:
            return number(v)
        if role == "flag":  # "62%": the card's "of customers" does not fit
            return f"{v:.0%}"
        return by_role(v, role, bounded=0.0 <= v <= 1.0)

    cells["label"] = [labels.get(str(f), str(f)) for f in cells["feature"]]
    cells["text"] = [
        text(str(f), float(v))
        for f, v in zip(cells["feature"], cells["mean"], strict=True)
    ]
    return cells


@dataclass(frozen=True)
class Card:
    """What a segment card shows."""

    number: int
    name: str
    size: int
    share: float
    traits: tuple[str, ...]
    profile: tuple[tuple[str, str], ...]  # the top of SegmentProfile.feature_lines()
    action_title: str
    action: str
    more: tuple[tuple[str, str], ...] = ()  # the other features, folded
    reason: str = ""
    rule: str | None = None  # "Rule: ... (precision 98%, coverage 91%)"
    stability: str | None = None  # "stable (0.93)"; None when not measured
    unstable: bool = False


def cards(result: pipeline.SegmentationRun) -> list[Card]:
    """One card per segment, from the run's profiles: the same features in
    the same order as the report's cards, the rule and the stability."""
    from custseg.profile import CARD_FEATURES

    seg = result.segmenter
    rules = {r.segment: r for r in getattr(seg, "rules_", ())}
    stability = getattr(seg, "stability_", None)
    out = []
    for i, p in enumerate(result.profiles):
        lines = p.feature_lines()
        rule = rules.get(p.segment)
        rule_text = (
            f"{rule.readable(p.labels)} (precision {rule.precision:.0%}, "
            f"coverage {rule.coverage:.0%})"
            if rule is not None
            else None
        )
        word, value = None, None
        if stability is not None:
            value = float(stability.per_segment[i])
            word = stability.verdict(i)
        out.append(
            Card(
                int(p.segment),
                p.name,
                int(p.size),
                # of every customer, unassigned ones included (a profile's
                # share is of the assigned customers only)
                p.size / result.n_rows if result.n_rows else 0.0,
                tuple(p.traits),
                lines[:CARD_FEATURES],
                p.action_title,
                p.action,
                more=lines[CARD_FEATURES:],
                reason=p.reason,
                rule=rule_text,
                stability=None
                if word is None or word == "not measured"
                else f"{word} ({value:.2f})",
                unstable=word in ("unstable",),
            )
        )
    return out


# Above this share of unassigned customers the app warns; below it, it informs.
UNASSIGNED_WARN_SHARE = 0.10


@dataclass(frozen=True)
class Caution:
    """Something about a run a person must know before acting on it: what
    (``text``), what to try (``advice``), and whether it is a ``"warning"``
    or only ``"info"``."""

    text: str
    advice: str
    level: str = "warning"


def cautions(result: pipeline.SegmentationRun) -> list[Caution]:
    """The structure verdict, unstable segments and the unassigned share, each
    with one line of advice; empty when the segments can be used as they are.

    Examples
    --------
    >>> run = segment(demo_upload(), Settings(features=("Age",), n_clusters=6))
    >>> [c.level for c in cautions(run)][:1]
    ['warning']
    """
    seg = result.segmenter
    ks = result.k_selection
    out: list[Caution] = []
    if ks.structure == "none":
        out.append(
            Caution(
                ks.structure_reason,
                "The standard RFM segments do not rest on these clusters: act on "
                "them, and read the clusters as tendencies."
                if result.rfm is not None
                else "Try fewer features (those that matter for the decision at "
                "hand), another scaling, or another method on 3 · Features.",
            )
        )
    elif ks.structure == "weak":
        out.append(
            Caution(
                ks.structure_reason,
                "The segments overlap: read them as tendencies, not as groups "
                "with sharp edges, or try fewer features.",
            )
        )
    stability = getattr(seg, "stability_", None)
    if stability is not None:
        names = list(seg.segment_names_)
        numbers = [int(n) for n in getattr(seg, "segment_ids_", range(len(names)))]
        lines = stability.warnings(names, numbers)
        shaky = [i for i in range(len(names)) if stability.verdict(i) == "unstable"]
        if lines and (shaky or stability.overall < 0.8):
            out.append(
                Caution(
                    lines[0] if len(lines) == 1 else "\n".join(f"- {x}" for x in lines),
                    "Resampled data split these customers differently: try a "
                    "smaller k or fewer features, and treat unstable segments "
                    "as tentative.",
                )
            )
    unassigned = int((np.asarray(result.labels) < 0).sum())
    if unassigned:
        share = unassigned / result.n_rows
        out.append(
            Caution(
                f"{unassigned:,} of {result.n_rows:,} customers ({share:.1%}) "
                "match no segment. They are in the downloads with the name "
                f"*unassigned* and the reason *{NOISE_REASON}*, and grey on the "
                "chart.",
                "These customers match no segment: consider K-Means, which "
                "places every customer, or a larger smallest segment size."
                if share >= UNASSIGNED_WARN_SHARE
                else "A few customers far from every segment; they need no "
                "action of their own.",
                "warning" if share >= UNASSIGNED_WARN_SHARE else "info",
            )
        )
    return out


def segments_csv(result: pipeline.SegmentationRun) -> tuple[str, bytes]:
    """Every customer with its segment as CSV (formula-safe), the file the
    Downloads page offers at once, before the report and model are written."""
    with tempfile.TemporaryDirectory(prefix="custseg-app-csv-") as tmp:
        path = write_table(result.segments_frame(), Path(tmp) / "segments.csv")
        return path.name, path.read_bytes()


class OutputJob:
    """:func:`output_files` in a background thread, so that a page can offer
    the segments at once and show the report and model being written.

    ``fraction`` and ``step`` say how far it is; ``files`` holds the result
    once ``finished`` (or ``error`` the exception it raised).

    Examples
    --------
    >>> job = OutputJob(segment(demo_upload(), Settings(n_clusters=3, stability_resamples=0)))
    >>> job.wait(120) and sorted(job.files)[:2]
    ['model', 'profiles']
    """

    def __init__(self, result: pipeline.SegmentationRun) -> None:
        self.fraction = 0.0
        self.step = "starting"
        self.files: dict[str, tuple[str, bytes]] | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(result,), name="custseg-outputs", daemon=True
        )
        self._thread.start()

    def _progress(self, step: str, done: int, total: int) -> None:
        if total > 0:
            self.fraction = min(1.0, done / total)
        self.step = step

    def _run(self, result: pipeline.SegmentationRun) -> None:
        try:
            self.files = output_files(result, progress=self._progress)
        except BaseException as exc:  # shown on the page, not lost in a thread
            self.error = exc
        finally:
            self.fraction = 1.0
            self._done.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the job finished within ``timeout`` seconds."""
        return self._done.wait(timeout)


_DRAWING = threading.Lock()


def output_files(
    result: pipeline.SegmentationRun, *, progress: Any = None
) -> dict[str, tuple[str, bytes]]:
    """Every download, as ``{key: (file name, bytes)}``: what
    :func:`custseg.pipeline.write_outputs` writes (segments, profiles, report,
    model, summary) plus the segments as an Excel workbook."""

    def steps(step: str, done: int, total: int) -> None:
        # the workbook comes after write_outputs: its last tenth of the bar
        if progress is not None:
            progress(step, 9 * done, 10 * total)

    # One at a time per server: drawing sets matplotlib's global rcParams and
    # pyplot's figure list, which two jobs drawing at once would share.
    with _DRAWING, tempfile.TemporaryDirectory(prefix="custseg-app-out-") as tmp:
        paths = pipeline.write_outputs(result, tmp, progress=steps)
        if progress is not None:
            progress("writing segments.xlsx", 9, 10)
        xlsx = write_table(result.segments_frame(), Path(tmp) / "segments.xlsx")
        paths = {**paths, "segments_excel": xlsx}
        return {key: (path.name, path.read_bytes()) for key, path in paths.items()}


def audience(
    result: pipeline.SegmentationRun, segment: int, columns: Sequence[str]
) -> pd.DataFrame:
    """One segment's customers, as a list for a campaign: the identifier
    columns, then ``columns`` (in the input's order), then the segment number
    and name; rows in input order.

    Examples
    --------
    >>> run = segment(demo_upload(), Settings(n_clusters=3, stability_resamples=0))
    >>> people = audience(run, 0, ["Age"])
    >>> list(people.columns), len(people) == run.profiles[0].size
    (['CustomerID', 'Age', 'segment', 'segment_name'], True)
    """
    frame = result.segments_frame()
    # the segment number and name come right after the input's columns
    seg_col, name_col = frame.columns[len(result.data.columns) :][:2]
    ids = [c for c in result.quality.id_columns if c in frame.columns]
    wanted = set(columns)
    picked = [c for c in result.data.columns if c in wanted and c not in ids]
    rows = frame[seg_col] == segment
    return frame.loc[rows, [*ids, *picked, seg_col, name_col]].reset_index(drop=True)


def audience_file(
    result: pipeline.SegmentationRun,
    segment: int,
    columns: Sequence[str],
    suffix: str = ".csv",
) -> tuple[str, bytes]:
    """:func:`audience` as a CSV or Excel file (``suffix``), written like every
    other export (:func:`custseg.io.write_table`: text a spreadsheet would run
    as a formula is neutralised); returns its file name and bytes."""
    people = audience(result, segment, columns)
    name = next(p.name for p in result.profiles if int(p.segment) == segment)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "segment"
    file_name = f"audience-{segment}-{slug}{suffix}"
    with tempfile.TemporaryDirectory(prefix="custseg-app-audience-") as tmp:
        path = write_table(people, Path(tmp) / file_name)
        return file_name, path.read_bytes()


def feature_choices(quality: QualityReport) -> list[str]:
    """Columns a user may pick as features: all but empty and date columns."""
    return [c.name for c in quality.columns if c.kind not in {"empty", "datetime"}]


def check_settings(features: Sequence[str], k_range: tuple[int, int]) -> None:
    """Refuse settings the run would refuse, with the app's words."""
    from custseg.errors import ParameterError

    if not features:
        raise ParameterError("choose at least one feature to segment on")
    if k_range[0] >= k_range[1]:
        raise ParameterError("the range of k needs at least two values")
