"""Every setting of a segmentation run, declared once.

:class:`Settings` is the table: each field is one option, with its type and
default, and its ``option(...)`` metadata gives the allowed values, the help
text, the command-line spelling, which commands take it, and the web app's
label. Everything else reads it:

- :class:`custseg.Segmenter` takes its parameter defaults from it
  (:data:`DEFAULTS`), and its ``_parameter_constraints`` come from here
  (:func:`constraints`);
- :func:`custseg.pipeline.run`, :func:`custseg.rfm` and
  :func:`custseg.compare` take a ``Settings`` (or its fields as
  keywords);
- the command line builds its options from it (``custseg.cli``), so ``--help``
  and docs/cli.md cannot drift;
- the web app draws its controls from it (``custseg.app``).

Adding an option: add a field here, then use it where it matters (for a
Segmenter parameter, in ``Segmenter.__init__`` and the code that uses it).

The module imports nothing heavy, so ``custseg --help`` stays fast (see
:mod:`custseg._names`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from custseg._names import ALGORITHMS, COVARIANCE_TYPES, LINKAGES, SCALERS
from custseg.errors import ParameterError

__all__ = [
    "COMMANDS",
    "DEFAULTS",
    "Option",
    "Settings",
    "constraints",
    "options",
]

# The commands (and the app) that take settings from this table.
COMMANDS = ("run", "rfm", "compare", "predict", "app")
_SEGMENTING = ("run", "rfm", "compare", "app")
_LOCAL = ("run", "compare", "app")  # commands that segment a customer table
_LOADING = ("run", "rfm", "compare", "predict")


@dataclass(frozen=True)
class Option:
    """What the table says about one setting (the metadata of its field).

    ``kind`` picks the command-line type and the app widget: ``int``,
    ``float``, ``choice``, ``flag``, ``range`` (a pair, ``--k-min``/``--k-max``),
    ``columns`` (names, repeatable; a ``COLUMNS`` metavar also splits them
    at commas), ``texts`` (repeatable text), ``text`` or
    ``path``. ``commands`` are where it is offered (``app`` is the web app);
    ``help_for`` and ``default_for`` override the help text and the default
    for one command. ``only_for`` names the algorithms that use it.
    ``minimum`` and ``maximum`` bound a number. ``pair_help`` is the help of
    each half of a ``range``. ``segmenter``
    marks a :class:`custseg.Segmenter` parameter. ``app_label``, ``app_help``
    (default: ``help``) and ``choice_words`` are the app's words, and
    ``app_place`` where its control goes on the Features page (``method``,
    ``search``, or ``more``, an expander); an option a command line offers
    but the app does not says why in ``not_in_app``.
    """

    help: str
    kind: str
    flags: tuple[str, ...] = ()
    pair_help: tuple[str, ...] = ()
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    commands: tuple[str, ...] = ()
    help_for: Mapping[str, str] = field(default_factory=dict)
    default_for: Mapping[str, Any] = field(default_factory=dict)
    only_for: tuple[str, ...] = ()
    segmenter: bool = True
    app_label: str | None = None
    app_help: str | None = None
    app_place: str = "method"
    choice_words: Mapping[str, str] = field(default_factory=dict)
    not_in_app: str | None = None
    name: str = ""  # filled in from the field's name
    default: Any = None  # filled in from the field's default

    def help_in(self, command: str) -> str:
        """The help text for ``command``."""
        return self.help_for.get(command, self.help)

    def default_in(self, command: str) -> Any:
        """The default for ``command``."""
        return self.default_for.get(command, self.default)

    def used_by(self, algorithm: str) -> bool:
        """Whether ``algorithm`` uses this option."""
        return not self.only_for or algorithm in self.only_for


def option(default: Any, help: str, kind: str, **meta: Any) -> Any:
    """A :class:`Settings` field: its default and its :class:`Option`."""
    if isinstance(default, (list, dict)):
        raise TypeError("settings defaults are immutable (use a tuple)")
    return field(default=default, metadata={"option": Option(help, kind, **meta)})


@dataclass(frozen=True)
class Settings:
    """The settings of one run: how to read, prepare and segment the data.

    Column lists are kept as tuples, so settings are hashable (the app keys
    its cached runs on them). See each field's ``option(...)`` for its help.

    Examples
    --------
    >>> s = Settings(features=["Age", "Annual Income (k$)"], n_clusters=4)
    >>> s.features, s.k_range
    (('Age', 'Annual Income (k$)'), (2, 10))
    >>> Settings.for_command("rfm").k_range
    (3, 10)
    >>> s.replace(algorithm="gmm").algorithm
    'gmm'
    """

    # -- what to segment on ----------------------------------------------------
    features: tuple[str, ...] | None = option(
        None,
        "Columns to segment on (repeat, or separate with commas). Default: "
        "numeric and low-cardinality categorical columns, minus IDs.",
        "columns",
        flags=("-f", "--features"),
        metavar="COLUMNS",
        commands=(*_LOCAL, "rfm"),
        help_for={
            "compare": "Columns to segment on (repeat, or separate with "
            "commas). Default: chosen as for 'run'.",
            "rfm": "What to cluster on: rfm, behaviour (RFM and every behaviour "
            "measure the log allows), preferences (RFM and the category or "
            "product shares), all, or columns of the customer table. Default: "
            "RFM plus the return rate and discount share where the log has them.",
        },
        app_label="Features to segment on",
    )
    # -- how many segments -----------------------------------------------------
    n_clusters: int | None = option(
        None,
        "Number of segments. Default: chosen automatically.",
        "int",
        flags=("-k", "--k"),
        minimum=1,
        commands=_SEGMENTING,
        help_for={
            "rfm": "Number of behavioural clusters. Default: chosen automatically.",
            "compare": "Number of segments for every algorithm (HDBSCAN finds its "
            "own). Default: each algorithm chooses.",
        },
        app_label="Number of segments (on the Choose k page)",
    )
    k_range: tuple[int, int] = option(
        (2, 10),
        "Smallest and largest k to consider.",
        "range",
        flags=("--k-min", "--k-max"),
        pair_help=("Smallest k to consider.", "Largest k to consider."),
        minimum=2,
        maximum=100,  # a scan beyond is hours on a large table, and unreadable
        commands=_SEGMENTING,
        default_for={"rfm": (3, 10)},
        only_for=tuple(a for a in ALGORITHMS if a != "hdbscan"),
        app_label="Numbers of segments to try (k)",
        app_place="search",
    )
    scaler: str = option(
        "standard",
        "How numeric features are scaled.",
        "choice",
        choices=SCALERS,
        commands=_SEGMENTING,
        help_for={"rfm": "How the (log-transformed) RFM features are scaled."},
        app_label="Scaling (puts columns with different units on one footing)",
        choice_words={
            "standard": "standard: mean 0, standard deviation 1 (usual choice)",
            "robust": "robust: median and interquartile range (many outliers)",
            "minmax": "min-max: each column from 0 to 1",
            "none": "none: use the numbers as they are (same units only)",
        },
    )
    random_state: int = option(
        0,
        "Seed: the same data and seed give the same segments and numbering.",
        "int",
        minimum=0,
        maximum=2**32 - 1,  # what NumPy's generators take
        commands=_SEGMENTING,
        app_label="Random seed",
        app_help="The same data, settings and seed always give the same "
        "segments, numbered the same way.",
        app_place="search",
    )
    categorical_weight: float = option(
        0.5,
        "Weight of one-hot encoded categories against a standardised numeric "
        "feature (at 1, a 0/1 column can split the customers on its own).",
        "float",
        minimum=0,
        maximum=100,  # far beyond any use; a huge weight overflows distances
        commands=_LOCAL,
        app_label="Weight of categories against a numeric column",
        app_help="At 1, a 0/1 column (say gender) counts as much as a whole "
        "standardised numeric column and can split the customers on its own; "
        "the default 0.5 lets the numbers lead.",
        app_place="more",
    )
    id_columns: tuple[str, ...] | None = option(
        None,
        "Identifier column(s), kept in the output but not used as features. "
        "Default: detected automatically.",
        "columns",
        flags=("--id-column",),
        metavar="COLUMN",
        commands=_LOCAL,
        app_label="Identifier columns (kept, never segmented on; empty: detected)",
        app_place="more",
    )
    # -- which method ----------------------------------------------------------
    algorithm: str = option(
        "kmeans",
        "Clustering algorithm. gmm: Gaussian mixture; agglomerative: "
        "hierarchical (with a dendrogram); hdbscan: density-based, finds k "
        "itself and leaves noise unassigned; kprototypes: mixed numeric and "
        "categorical data without one-hot distances.",
        "choice",
        flags=("-a", "--algorithm"),
        choices=tuple(ALGORITHMS),
        commands=("run", "rfm", "app"),
        app_label="Method",
        choice_words={
            "kmeans": "K-Means: compact groups around a centre (the usual choice)",
            "minibatch-kmeans": "Mini-batch K-Means: K-Means on samples, for very "
            "large tables",
            "gmm": "Gaussian mixture: oval groups of different sizes and shapes",
            "agglomerative": "Hierarchical: merges the closest customers step by step",
            "hdbscan": "HDBSCAN: finds dense groups itself; outliers stay unassigned",
            "kprototypes": "k-prototypes: numbers and categories (e.g. gender) "
            "together",
        },
    )
    linkage: str = option(
        "ward",
        "Linkage for --algorithm agglomerative.",
        "choice",
        choices=LINKAGES,
        commands=("run", "rfm", "app"),
        only_for=("agglomerative",),
        app_label="Linkage (how the distance between two groups is measured)",
        app_help="ward: compact groups of similar size (usual choice); "
        "complete, average, single: the farthest, average or closest pair of "
        "customers.",
        app_place="search",
    )
    covariance_type: str = option(
        "full",
        "Covariance of each component for --algorithm gmm.",
        "choice",
        flags=("--covariance",),
        choices=COVARIANCE_TYPES,
        commands=("run", "rfm", "app"),
        only_for=("gmm",),
        app_label="Covariance (the shapes the groups may take)",
        app_help="full: any oval; tied: one shared shape; diag: ovals along "
        "the axes; spherical: round groups.",
        app_place="search",
    )
    min_cluster_size: int | None = option(
        None,
        "Smallest segment for --algorithm hdbscan. Default: 2% of the rows, "
        "at least 5.",
        "int",
        minimum=2,
        commands=("run", "rfm", "app"),
        only_for=("hdbscan",),
        app_label="Smallest segment (customers; 0 = 2% of the rows)",
        app_help="HDBSCAN chooses the number of segments itself: groups "
        "smaller than this are not segments, and customers in no dense group "
        "stay unassigned.",
        app_place="search",
    )
    stability_resamples: int = option(
        20,
        "Bootstrap resamples for segment stability (0: skip). Stability also "
        "breaks ties between equally supported k.",
        "int",
        minimum=0,
        maximum=1000,
        commands=_SEGMENTING,
        help_for={
            "compare": "Bootstrap resamples for each algorithm's stability (0: skip)."
        },
        app_label="Bootstrap resamples for stability (0: skip)",
        app_help="How often the customers are resampled and segmented again "
        "to measure how stable each segment is; 0 skips it (faster).",
        app_place="more",
    )
    # -- how features are prepared -----------------------------------------------
    log_transform: str = option(
        "auto",
        "auto: cluster heavy-tailed amounts and counts (skew above 2) on a log "
        "scale; none: as they are. Profiles stay in original units.",
        "choice",
        flags=("--transform",),
        choices=("auto", "none"),
        commands=("run", "app"),
        app_label="Heavy-tailed amounts and counts",
        app_help="Amounts and counts with a long tail (a few big spenders) "
        "are segmented on a log scale, so the tail does not get segments of "
        "its own; the profiles stay in the original units.",
        choice_words={
            "auto": "auto: on a log scale when heavily skewed (usual choice)",
            "none": "none: as they are",
        },
    )
    column_roles: str | os.PathLike[str] | Mapping[str, Mapping[str, str]] | None = (
        option(
            None,
            "CSV (column,label,role) or YAML file giving some columns a label and "
            "a role (money, count, share, flag, ...) instead of the guessed ones.",
            "path",
            flags=("--columns",),
            commands=("run",),
            not_in_app="a file of labels and roles is a command-line and library "
            "feature; the app shows the guessed roles on the Data page",
        )
    )
    log_features: tuple[str, ...] | None = option(
        None,
        "Numeric features log-transformed (asinh) before scaling; when given, "
        "exactly these, whatever log_transform says.",
        "columns",
    )
    rules: bool = option(
        True, "Learn a short rule per segment (a shallow decision tree).", "flag"
    )
    n_init: int | None = option(
        None,
        "K-Means restarts; default 10 on up to 10,000 rows, 3 above.",
        "int",
        minimum=1,
        maximum=1000,
    )
    max_iter: int = option(
        300,
        "Most Lloyd iterations of one K-Means fit.",
        "int",
        minimum=1,
        maximum=1_000_000,
    )
    sample_size: int = option(
        100_000,
        "Rows used to score k (a fixed-seed sample); the final fit uses every row.",
        "int",
        minimum=100,
    )
    silhouette_sample_size: int = option(
        10_000, "Rows used for silhouettes.", "int", minimum=100
    )
    # -- where the run happens ---------------------------------------------------
    previous: str | os.PathLike[str] | Any = option(
        None,
        "A previous model.skops: segments that persist keep its numbers and "
        "names, and the report shows how customers moved between segments.",
        "path",
        metavar="MODEL",
        commands=("run", "app"),
        segmenter=False,
        app_label="Previous model (optional)",
        app_help="The model.skops of an earlier run (the app's Model download, "
        "or custseg run): segments that persist keep its numbers and names, and "
        "the Segments page shows who moved.",
        app_place="more",
    )
    engine: str = option(
        "local",
        "Where the work runs: this machine, or Apache Spark (needs 'pip install "
        "custseg[spark]' and Java).",
        "choice",
        choices=("local", "spark"),
        commands=("run", "rfm"),
        help_for={
            "rfm": "Where the aggregation runs: DuckDB on this machine, or Apache "
            "Spark."
        },
        segmenter=False,
        not_in_app="the app runs on the machine that serves it",
    )
    spark_master: str | None = option(
        None,
        "Spark master for --engine spark, e.g. spark://host:7077 or yarn. "
        "Default: local[*] on this machine, bound to 127.0.0.1.",
        "text",
        metavar="URL",
        commands=("run", "rfm"),
        segmenter=False,
        not_in_app="the app runs on the machine that serves it",
    )
    # -- how the table is read ---------------------------------------------------
    delimiter: str | None = option(
        None,
        "CSV delimiter: one character (\\t or tab for a tab), 'whitespace' "
        "(columns split by runs of spaces) or 'fixed-width' (columns at fixed "
        "character positions). Default: sniffed.",
        "text",
        commands=_LOADING,
        segmenter=False,
        not_in_app="the app sniffs the delimiter of an upload",
    )
    encoding: str | None = option(
        None,
        "File encoding. Default: detected.",
        "text",
        commands=_LOADING,
        segmenter=False,
        not_in_app="the app detects the encoding of an upload",
    )
    sheet: str | int | None = option(
        None,
        "Excel sheet name. Default: the first sheet.",
        "text",
        commands=_LOADING,
        segmenter=False,
        not_in_app="the app reads the first sheet of a workbook",
    )
    na_values: tuple[str, ...] = option(
        (),
        "Extra text to read as missing (e.g. --na-values '?').",
        "texts",
        metavar="TEXT",
        commands=_LOADING,
        segmenter=False,
        not_in_app="the app reads the usual missing markers (empty, NA, n/a, "
        "null, ...)",
    )

    no_header: bool = option(
        False,
        "The text file has no header line: its first line is data (columns "
        "column_1, column_2, ... or --names).",
        "flag",
        commands=_LOADING,
        segmenter=False,
        not_in_app="uploads need a header line",
    )
    names: tuple[str, ...] | None = option(
        None,
        "Names of the text file's columns, in order, separated by commas (in "
        "place of its header line, or with --no-header).",
        "columns",
        metavar="COLUMNS",
        commands=_LOADING,
        segmenter=False,
        not_in_app="uploads need a header line",
    )
    max_bytes: str | None = option(
        None,
        "The most text a file may hold once decompressed (e.g. 500M, 8G); a "
        "larger one is refused before it fills the memory. Default: a sixteenth of "
        "the memory free, halved for files of very short cells and up to four "
        "times it for long ones.",
        "text",
        metavar="SIZE",
        commands=_LOADING,
        segmenter=False,
        not_in_app="uploads are limited by their size, and decompressed no "
        "further than the default limit",
    )

    def __post_init__(self) -> None:
        # Lists from callers become tuples: settings stay hashable and equal
        # settings compare equal however they were written.
        for name in ("features", "id_columns", "log_features", "na_values", "names"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, str):
                    raise ParameterError(
                        f"{name} must be a list of column names, not one string "
                        f"({value!r}); write [{value!r}]"
                    )
                object.__setattr__(self, name, tuple(value))
        if self.features == ():
            object.__setattr__(self, "features", None)
        if self.id_columns == ():
            object.__setattr__(self, "id_columns", None)
        if self.names == ():
            object.__setattr__(self, "names", None)
        if isinstance(self.k_range, list):
            object.__setattr__(self, "k_range", tuple(self.k_range))

    @classmethod
    def for_command(cls, command: str, **values: Any) -> Settings:
        """The settings of ``command`` (``run``, ``rfm``, ...): its defaults,
        then ``values``."""
        defaults = {
            o.name: o.default_in(command) for o in options() if command in o.default_for
        }
        return cls.build({**defaults, **values})

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from a mapping, with a clear error for an unknown name."""
        return cls().replace(**values)

    def replace(self, **values: Any) -> Settings:
        """These settings with some fields changed (unknown names are an error)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = [k for k in values if k not in known]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ParameterError(
                f"unknown setting {unknown[0]!r}{hint} (settings: "
                f"{', '.join(sorted(known))})"
            )
        return dataclasses.replace(self, **values)

    def segmenter_params(self) -> dict[str, Any]:
        """The :class:`custseg.Segmenter` parameters (column tuples as lists)."""
        out: dict[str, Any] = {}
        for o in options():
            if not o.segmenter:
                continue
            value = getattr(self, o.name)
            out[o.name] = (
                list(value)
                if isinstance(value, tuple) and o.kind == "columns"
                else value
            )
        return out

    def load_options(self) -> dict[str, Any]:
        """The keywords of :func:`custseg.load_table`."""
        return {
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "na_values": list(self.na_values),
            "max_bytes": self.max_bytes,
            "header": not self.no_header,
            "names": self.names,
        }

    def automatic(self) -> Settings:
        """The same settings with k chosen automatically."""
        return dataclasses.replace(self, n_clusters=None)

    def as_record(self) -> dict[str, Any]:
        """The settings as JSON-ready values (summary.json)."""
        out: dict[str, Any] = {}
        for o in options():
            value = getattr(self, o.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, os.PathLike):
                value = os.fspath(value)
            out[o.name] = value
        return out


def options(command: str | None = None) -> Iterator[Option]:
    """The table's options in order (those ``command`` offers, if given)."""
    for f in dataclasses.fields(Settings):
        meta: Option = f.metadata["option"]
        opt = dataclasses.replace(meta, name=f.name, default=f.default)
        if command is None or command in opt.commands:
            yield opt


DEFAULTS = Settings()


def _closed(o: Option) -> str:
    """scikit-learn's ``closed`` for an option's bounds (an open end is None)."""
    return "both" if o.maximum is not None else "left"


def constraints() -> dict[str, list[Any]]:
    """scikit-learn ``_parameter_constraints`` for the Segmenter parameters."""
    from numbers import Integral, Real

    from sklearn.utils._param_validation import Interval, StrOptions

    out: dict[str, list[Any]] = {}
    for o in options():
        if not o.segmenter:
            continue
        allowed: list[Any]
        if o.kind == "int":
            allowed = [Interval(Integral, o.minimum, o.maximum, closed=_closed(o))]
        elif o.kind == "float":
            allowed = [Interval(Real, o.minimum, o.maximum, closed=_closed(o))]
        elif o.name == "algorithm":
            # Aliases and any spelling (``K-Means``, ``hierarchical``) are
            # accepted; check_algorithm names the choices for an unknown one.
            allowed = [str]
        elif o.kind == "choice":
            allowed = [StrOptions(set(o.choices))]
        elif o.kind == "flag":
            allowed = ["boolean"]
        elif o.kind == "range":
            # the pair itself (ints >= 2, min <= max) is checked by the Segmenter
            allowed = [tuple, list]
        elif o.kind == "columns":
            allowed = [list, tuple, "array-like"]
        elif o.kind == "path":  # column_roles: the Segmenter takes the read dict
            allowed = [dict]
        else:
            allowed = [str]
        if o.default is None:
            allowed.append(None)
        out[o.name] = allowed
    return out
