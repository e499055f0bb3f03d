"""The ``custseg`` command line: a thin shell over :mod:`custseg.pipeline`.

User errors (:class:`custseg.CustsegError`) print ``Error: <message>`` and exit
with status 1; usage errors exit with 2 (click's convention). ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from custseg._format import printable
from custseg.errors import CustsegError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns custseg's errors into one clean line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CustsegError as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(str(exc)) from exc
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:  # a bug, not a user error: say so, briefly
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {exc}). Run again with "
                "--debug for the traceback, and please report it."
            ) from exc


class _Progress:
    """Stage lines on stderr with elapsed time and, for counted steps, time left."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()
        self.step_start: dict[str, float] = {}
        self.tty = sys.stderr.isatty()

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        key = step.split(" ")[0]
        first = self.step_start.setdefault(key, now)
        eta = ""
        if 0 < done < total:
            left = (now - first) / done * (total - done)
            eta = f", about {left:.0f} s left"
        # total 0: a step with no known end (Lloyd iterations until convergence)
        counts = f" ({done}/{total}{eta})" if total > 0 else ""
        line = f"[{now - self.start:6.1f}s] {step}{counts}"
        if self.tty:
            click.echo("\r\033[K" + line, err=True, nl=0 < total <= done)
        else:
            click.echo(line, err=True)

    def stage(self, text: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.start:6.1f}s] {text}", err=True)


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _apply(options: list[Callable[..., Any]]) -> Decorator:
    """One decorator that applies ``options`` in order (first listed, first in
    ``--help``)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _settings_options(command: str) -> Callable[..., Any]:
    """The options of the settings table (:mod:`custseg.settings`) that
    ``command`` offers, in the table's order. The command gets them as one
    ``settings`` keyword: a :class:`custseg.settings.Settings` with that
    command's defaults."""
    from custseg.settings import Settings, options

    table = list(options(command))
    made: list[Callable[..., Any]] = []
    for o in table:
        made.extend(_click_options(o, command))

    def decorate(command_fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command_fn)
        def wrapper(**kwargs: Any) -> Any:
            values: dict[str, Any] = {}
            for o in table:
                if o.kind == "range":
                    low, high = (kwargs.pop(_param(f)) for f in o.flags)
                    if high < low:
                        raise click.BadParameter(
                            f"{o.flags[1]} ({high}) is smaller than {o.flags[0]} ({low})"
                        )
                    values[o.name] = (low, high)
                elif o.kind == "columns":
                    given = kwargs.pop(o.name)
                    names = _split(given) if o.metavar == "COLUMNS" else list(given)
                    values[o.name] = names or None
                else:
                    values[o.name] = kwargs.pop(o.name)
            return command_fn(
                settings=Settings.for_command(command, **values), **kwargs
            )

        return _apply(made)(wrapper)

    return decorate


def _param(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


class _FiniteFloatRange(click.FloatRange):
    """A bounded float that is a number: click's range lets ``nan`` through
    (it compares false with both bounds)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _click_options(o: Any, command: str) -> list[Callable[..., Any]]:
    """The click option(s) for one :class:`custseg.settings.Option`."""
    flags = list(o.flags) or [f"--{o.name.replace('_', '-')}"]
    default = o.default_in(command)
    text = o.help_in(command)
    if o.kind == "range":
        low, high = o.pair_help
        return [
            click.option(
                flag,
                type=click.IntRange(
                    min=int(o.minimum),
                    max=None if o.maximum is None else int(o.maximum),
                ),
                default=value,
                show_default=True,
                help=words,
            )
            for flag, value, words in zip(o.flags, default, (low, high), strict=True)
        ]
    decls = [*flags, o.name]
    kwargs: dict[str, Any] = {"default": default, "help": text}
    if o.metavar:
        kwargs["metavar"] = o.metavar
    if o.kind == "int":
        kwargs["type"] = click.IntRange(
            min=None if o.minimum is None else int(o.minimum),
            max=None if o.maximum is None else int(o.maximum),
        )
    elif o.kind == "float":
        kwargs["type"] = _FiniteFloatRange(min=o.minimum, max=o.maximum)
    elif o.kind == "choice":
        kwargs["type"] = click.Choice(list(o.choices))
    elif o.kind == "flag":
        kwargs["is_flag"] = True
    elif o.kind in ("columns", "texts"):
        kwargs["multiple"] = True
        kwargs["default"] = ()
    elif o.kind == "path":
        kwargs["type"] = click.Path(dir_okay=False)
    if default is not None and o.kind not in ("columns", "texts", "flag", "path"):
        kwargs["show_default"] = True
    return [click.option(*decls, **kwargs)]


def _port_option(default: int) -> Callable[..., Any]:
    """--port, for the commands that listen (app, serve)."""
    return click.option(
        "--port",
        type=click.IntRange(1, 65535),
        default=default,
        show_default=True,
        help="Port to listen on.",
    )


_allow_formulas = click.option(
    "--allow-formulas",
    is_flag=True,
    help="Write text cells that start with =, +, - or @ as they are. By "
    "default they get a leading ' in CSV outputs, so a spreadsheet cannot run "
    "them as formulas.",
)


def _database_options(source: str, *, noun: str) -> Callable[..., Any]:
    """--table, --query, --write-table, --write-url and --if-exists.

    The command gets its ``source`` argument as a
    :class:`custseg.io.DatabaseSource` when it is a database URL, and a
    ``database`` keyword: the :class:`custseg.io.DatabaseTarget` to write
    segments to, or None. A target that cannot be written (unreachable, or
    the table exists with --if-exists fail) stops the command before any work.
    """
    from custseg._names import IF_EXISTS

    options = _apply(
        [
            click.option(
                "--table",
                metavar="NAME",
                default=None,
                help=f"Read the {noun} from this table or view when the data is a "
                "database URL (schema.table for another schema).",
            ),
            click.option(
                "--query",
                metavar="SQL",
                default=None,
                help=f"Read the {noun} from the rows of this SELECT when the data "
                "is a database URL.",
            ),
            click.option(
                "--write-table",
                metavar="NAME",
                default=None,
                help="Also write each customer's id, segment number and segment "
                "name to this database table, in one transaction.",
            ),
            click.option(
                "--write-url",
                metavar="URL",
                default=None,
                help="Database for --write-table. Default: the database the data "
                "comes from.",
            ),
            click.option(
                "--if-exists",
                type=click.Choice(list(IF_EXISTS)),
                default="fail",
                show_default=True,
                help="When the --write-table table exists: stop, re-create it, or "
                "add the rows to it.",
            ),
        ]
    )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            kwargs[source], kwargs["database"] = _database_args(
                kwargs[source],
                kwargs.pop("table"),
                kwargs.pop("query"),
                kwargs.pop("write_table"),
                kwargs.pop("write_url"),
                kwargs.pop("if_exists"),
            )
            return command(**kwargs)

        return options(wrapper)

    return decorate


def _database_args(
    data: str | None,
    table: str | None,
    query: str | None,
    write_table: str | None,
    write_url: str | None,
    if_exists: str,
) -> tuple[Any, Any]:
    from custseg.io import (
        DatabaseSource,
        DatabaseTarget,
        check_target,
        is_database_url,
    )

    from_database = is_database_url(data)
    if from_database:
        if (table is None) == (query is None):
            raise click.UsageError(
                "the data is a database URL: name a --table or give a --query "
                "(one of the two)"
            )
        assert data is not None
        source: Any = DatabaseSource(data, table=table, query=query)
    elif table is not None or query is not None:
        raise click.UsageError(
            "--table and --query read from a database: give a database URL as "
            "the data (e.g. postgresql://user@host/shop)"
        )
    else:
        source = data
    if write_url is not None and write_table is None:
        raise click.UsageError("--write-url needs --write-table")
    if write_table is None:
        return source, None
    url = write_url or (data if from_database else None)
    if url is None:
        raise click.UsageError(
            "--write-table needs a database: give --write-url, or read the data "
            "from a database URL"
        )
    if not is_database_url(url):
        raise click.UsageError("--write-url is not a database URL")
    target = DatabaseTarget(url, write_table, if_exists)
    check_target(target)
    return source, target


def _split(values: Sequence[str]) -> list[str] | None:
    """Accept ``-f a -f b`` and ``-f "a,b"``; names with commas can be repeated."""
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out or None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="custseg")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """custseg: find customer segments, explain them, and score new customers.

    Example:

        custseg run                       # the bundled mall customers demo

        custseg run customers.csv --out results/
    """


@cli.command()
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@_settings_options("run")
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default="custseg-output",
    show_default=True,
    help="Folder for segments, profiles, summary, report and model.",
)
@_database_options("data", noun="customers")
@_allow_formulas
@click.option(
    "--no-report", is_flag=True, help="Skip report.html (faster on big data)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run(
    data: Any,
    settings: Any,
    out: str,
    allow_formulas: bool,
    no_report: bool,
    quiet: bool,
    database: Any,
) -> None:
    """Segment the customers in DATA (CSV, Excel, Parquet, or a database URL).

    Without DATA, runs on the bundled mall customers demo. Writes segments.csv
    (every input row with its segment), profiles.csv, summary.json, report.html
    and model.skops to --out, and with --write-table the segments to a
    database table.

    Example:

        custseg run customers.csv -f "Annual Income (k$)" -f "Spending Score (1-100)"

        custseg run customers.csv --algorithm gmm --previous last-month/model.skops

        custseg run postgresql://ana@db/shop --table customers --write-table segments
    """
    from custseg import pipeline

    _hold(out)  # before any work
    progress = _Progress(quiet)
    progress.stage(f"loading {data or 'the bundled mall customers demo'}")
    result = pipeline.run(data, settings, progress=progress)
    paths = pipeline.write_outputs(
        result,
        out,
        report=not no_report,
        safe_formulas=not allow_formulas,
        database=database,
        progress=progress,
    )
    if quiet:
        return
    ks = result.k_selection
    click.echo(f"\n{result.n_rows:,} customers from {result.source}")
    click.echo(ks.reason)
    if ks.runners_up:
        click.echo(ks.runners_up_text())
    click.echo(ks.structure_reason)
    _echo_log_scale(result)
    _echo_trust(result)
    click.echo("")
    _echo_segments(result, paths, database)


# The order log's column options, one per role of
# custseg.transactions.TransactionColumns; the command gets them as one
# ``columns`` mapping of role to column name.
_LOG_COLUMNS = (
    (
        "customer",
        "Customer id column. Default: found by name (CustomerID, customer_id, ...).",
    ),
    (
        "invoice",
        "Order/invoice number column. Default: found by name (InvoiceNo, order_id, ...); without one, each purchase day is an order.",
    ),
    (
        "date",
        "Transaction date column. Default: found by name (InvoiceDate, order_date, ...).",
    ),
    ("quantity", "Quantity column (with --price-column). Default: found by name."),
    ("price", "Unit price column (with --quantity-column). Default: found by name."),
    ("amount", "Line total column, instead of quantity x price."),
    (
        "product",
        "Product code column (distinct products, --products-top, --categories). Default: found by name (StockCode, sku, product_id, ...).",
    ),
    (
        "line",
        "Order line number or id column. Default: found by name (line_id, line_no, ...).",
    ),
    (
        "category",
        "Product category column: each customer's share of spend per category. Default: found by name (category, department, ...).",
    ),
    (
        "discount",
        "Discount amount, rate or yes/no column: each customer's share of spend on discounted lines. Default: found by name (discount, promo, ...).",
    ),
)


def _log_column_options(command_fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command_fn)
    def wrapper(**kwargs: Any) -> Any:
        columns = {role: kwargs.pop(f"{role}_column") for role, _ in _LOG_COLUMNS}
        return command_fn(columns=columns, **kwargs)

    made = [
        click.option(f"--{role}-column", metavar="COLUMN", help=words)
        for role, words in _LOG_COLUMNS
    ]
    return _apply(made)(wrapper)


@cli.command()
@click.argument("transactions", type=click.Path(dir_okay=False), required=False)
@_log_column_options
@click.option(
    "--as-of",
    metavar="DATE",
    help="Snapshot date (YYYY-MM-DD) recency is counted from; later lines are dropped. Default: the day after the last transaction.",
)
@click.option(
    "--cancellations",
    type=click.Choice(["net", "exclude"]),
    default="net",
    show_default=True,
    help="Cancellations and returns: net them against the customer's spend, or drop them.",
)
@click.option(
    "--categories",
    type=click.Path(dir_okay=False),
    help="A product -> category table (CSV, Excel, Parquet) for a log without a category column.",
)
@click.option(
    "--products-top",
    type=click.IntRange(min=1),
    metavar="N",
    help="Without categories: each customer's share of spend on the N best-selling products.",
)
@click.option(
    "--drop-identical-lines/--keep-identical-lines",
    default=None,
    help="Identical lines: drop the copies, or keep them without looking (faster). Default: dropped when the log identifies lines (an invoice with a product or line id), else counted and kept.",
)
@click.option(
    "--date-format",
    metavar="FORMAT",
    help="strptime format of text dates, e.g. '%d/%m/%Y %H:%M'. Default: detected.",
)
@click.option(
    "--r-breaks",
    metavar="DAYS",
    help="Four recency thresholds in days for scores 5..2 instead of quantiles, e.g. 30,90,180,365.",
)
@click.option(
    "--f-breaks",
    metavar="ORDERS",
    help="Four frequency thresholds for scores 1..4 instead of quantiles, e.g. 1,2,5,10.",
)
@click.option(
    "--m-breaks",
    metavar="AMOUNTS",
    help="Four monetary thresholds for scores 1..4 instead of quantiles.",
)
@click.option(
    "--segment-map",
    type=click.Path(dir_okay=False),
    help="CSV mapping every (recency_score, fm_score) cell to a segment (and optionally an action), replacing the default map.",
)
@click.option(
    "--attributes",
    type=click.Path(dir_okay=False),
    help="A customer table (CSV, Excel, Parquet) joined on the customer id; its columns join the clustering features.",
)
@click.option(
    "--attributes-key",
    metavar="COLUMN",
    help="Customer id column of --attributes, if named differently.",
)
@_settings_options("rfm")
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default="custseg-output",
    show_default=True,
    help="Folder for segments, rfm_segments, profiles, summary, report and model.",
)
@_allow_formulas
@_database_options("transactions", noun="transaction lines")
@click.option("--no-report", is_flag=True, help="Skip report.html.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def rfm(
    transactions: Any,
    columns: dict[str, str | None],
    as_of: str | None,
    cancellations: str,
    categories: str | None,
    products_top: int | None,
    drop_identical_lines: bool | None,
    date_format: str | None,
    r_breaks: str | None,
    f_breaks: str | None,
    m_breaks: str | None,
    segment_map: str | None,
    attributes: str | None,
    attributes_key: str | None,
    settings: Any,
    out: str,
    allow_formulas: bool,
    no_report: bool,
    quiet: bool,
    database: Any,
) -> None:
    """RFM analysis of the TRANSACTIONS log (CSV, .csv.gz, Excel, Parquet, or
    a database URL with --table or --query). Without TRANSACTIONS, the bundled
    Online Retail sample (see custseg datasets).

    Cleans the lines (every dropped line is counted by reason), computes each
    customer's Recency, Frequency and Monetary value, scores them 1-5 (5 is
    best), names the standard RFM segments (Champions, Loyal, ... Lost), and
    clusters the customers on their behaviour. Writes segments.csv (one row per
    customer), rfm_segments.csv, profiles.csv, summary.json, report.html and
    model.skops to --out.

    Example:

        custseg rfm online_retail.csv --as-of 2011-12-10 -o rfm-output/

        custseg rfm postgresql://ana@db/shop --table orders --write-table rfm
    """
    from custseg import pipeline
    from custseg.pipeline import rfm as run_rfm

    _hold(out)  # before any work
    progress = _Progress(quiet)
    progress.stage(
        f"reading transactions from {transactions}"
        if transactions is not None
        else "reading the bundled Online Retail sample"
    )
    result = run_rfm(
        transactions,
        columns=columns,
        as_of=as_of,
        cancellations=cancellations,
        drop_duplicates=drop_identical_lines,
        date_format=date_format,
        categories=categories,
        products_top=products_top,
        breaks={
            "recency": r_breaks or "",
            "frequency": f_breaks or "",
            "monetary": m_breaks or "",
        },
        segment_map=segment_map,
        attributes=attributes,
        attributes_key=attributes_key,
        settings=settings,
        progress=progress,
    )
    paths = pipeline.write_outputs(
        result,
        out,
        report=not no_report,
        safe_formulas=not allow_formulas,
        database=database,
        progress=progress,
    )
    if quiet:
        return
    c = result.rfm.cleaning
    click.echo(f"\n{c.lines:,} transaction lines from {c.source}")
    for key, n in c.dropped.items():
        click.echo(f"  dropped {n:>10,}  {pipeline_reason(key)}")
    if c.netted:
        click.echo(
            f"  netted  {c.netted:>10,}  cancellation or return lines counted against spend"
        )
    click.echo(f"  used    {c.used:>10,}")
    if c.identical_note:
        click.echo(c.identical_note)
    money = c.columns.has_money
    revenue = (
        f"net revenue {c.net_revenue:,.2f}"
        if c.net_revenue is not None
        else "no money column"
    )
    click.echo(
        f"{c.customers:,} customers, {c.orders:,} orders, {revenue}, "
        f"snapshot {c.snapshot.isoformat()}"
    )
    if c.unscored_customers:
        click.echo(
            f"{c.unscored_customers:,} more customers in the log have no usable "
            "purchase; they are in segments.csv without a segment, with the reason:"
        )
        for why, n in c.unscored_reasons.items():
            click.echo(f"  {n:>10,}  {why}")
    click.echo(f"Clustered on: {', '.join(result.rfm.features)}")
    click.echo("\nRFM segments (scores 1-5, 5 = best):")
    for row in result.rfm.segments.itertuples(index=False):
        revenue = f"  revenue {row.revenue_share:6.1%}" if money else ""
        click.echo(
            f"  {row.rfm_segment:<19} {row.customers:>9,} ({row.share:6.1%}){revenue}"
        )
    click.echo(f"\nBehavioural clusters: {result.k_selection.reason}")
    _echo_trust(result)
    _echo_segments(result, paths, database)


def _echo_trust(result: Any) -> None:
    """Unassigned rows, how predict works, stability warnings and migration."""
    seg = result.segmenter
    unassigned = len(seg.excluded_rows_)
    if unassigned:
        click.echo(
            f"{unassigned:,} customers are in no segment (noise); they are kept in "
            "the output as 'unassigned'."
        )
    if seg.algorithm_ != "kmeans" and seg.predict_agreement_ < 1:
        click.echo(
            f"The saved model assigns new customers by "
            f"{_METHOD_WORDS.get(seg.predictor_['method'], seg.predictor_['method'])}; "
            f"it reproduces {seg.predict_agreement_:.1%} of the training segments."
        )
    if seg.stability_ is not None:
        click.echo(
            f"Stability (bootstrap, {seg.stability_.n_resamples} resamples): "
            f"{seg.stability_.overall:.2f}."
        )
        for line in seg.stability_.warnings(seg.segment_names_, seg.segment_ids_):
            click.echo(f"  Warning: {line}")
    if result.migration is not None:
        click.echo(result.migration.sentence())


def _echo_log_scale(result: Any) -> None:
    """Which features were clustered on a log scale, and how to turn it off."""
    logged = getattr(result.segmenter, "log_features_", ())
    if logged and result.settings.get("log_transform", "auto") == "auto":
        labels = result.segmenter.columns_
        names = ", ".join(labels[c].label if c in labels else c for c in logged)
        click.echo(
            f"Clustered on a log scale (heavy-tailed): {names}. Profiles stay in "
            "original units; --transform none turns this off."
        )


_METHOD_WORDS = {
    "centroid": "the nearest segment centre",
    "neighbours": "a vote of the nearest training customers",
    "gmm": "the most probable mixture component",
    "prototypes": "the nearest prototype",
}


def _echo_segments(result: Any, paths: dict[str, Path], database: Any = None) -> None:
    """One line per segment (number, name, size, share, action, rule), then the
    files and the database table."""
    width = max(len(p.name) for p in result.profiles)
    rules = {r.segment: r for r in getattr(result.segmenter, "rules_", ())}
    unassigned = len(result.segmenter.excluded_rows_)
    if unassigned:
        click.echo(
            f"  (shares are of the {result.n_rows - unassigned:,} assigned customers)"
        )
    for p in result.profiles:
        click.echo(
            f"  {p.segment:>2}  {p.name:<{width}}  {p.size:>9,} ({p.share:6.1%})  "
            f"{p.action_title}"
        )
        apart = [f"{line.label} {line.text}" for line in p.distinguishing()[:3]]
        click.echo(f"      {'':<{width}}  {'; '.join(apart)}")
        rule = rules.get(p.segment)
        if rule is not None:
            click.echo(
                f"      {'':<{width}}  rule: {rule.text} (precision "
                f"{rule.precision:.0%}, coverage {rule.coverage:.0%})"
            )
    click.echo("")
    label = max(len(name) for name in [*paths, "database" * bool(database)])
    for name, path in paths.items():
        click.echo(f"  {name:<{label}} {path}")
    if database is not None:
        click.echo(f"  {'database':<{label}} {database} ({result.n_rows:,} rows)")


def pipeline_reason(key: str) -> str:
    """The plain words for a drop reason."""
    from custseg.transactions import DROP_REASONS

    return DROP_REASONS[key]


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the scored rows (.csv or .parquet). "
    "Default: <DATA name>-segments.csv in the current folder.",
)
@_settings_options("predict")
@_database_options("data", noun="customers")
@_allow_formulas
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def predict(
    model: str,
    data: Any,
    output: str | None,
    settings: Any,
    allow_formulas: bool,
    quiet: bool,
    database: Any,
) -> None:
    """Assign the customers in DATA to the segments of a saved MODEL.

    DATA (a file, or a database URL with --table or --query) needs the feature
    columns the model was trained on; other columns are carried through to the
    output unchanged. --write-table also writes each customer's id, segment
    number and name to a database table.

    Example:

        custseg predict custseg-output/model.skops new_customers.csv -o scored.csv
    """
    import pandas as pd

    from custseg import pipeline
    from custseg.model import load_model, used_prefix

    target = Path(output or f"{_stem(data)}-segments.csv")
    _hold(target.parent, lock=False)  # before any work
    segmenter = load_model(model)
    df = pipeline.predict(segmenter, data, **settings.load_options())
    prefix = used_prefix(df.columns)
    pipeline.write_predictions(
        df, target, segmenter, database=database, safe_formulas=not allow_formulas
    )
    if quiet:
        return
    counts = (
        df.groupby([prefix + "segment_name"], observed=True, dropna=False)
        .agg(segment=(prefix + "segment", "first"), n=(prefix + "segment", "size"))
        .reset_index()
        .sort_values("segment", na_position="last")
    )
    click.echo(f"{len(df):,} customers scored with {model}:")
    for name, number, n in counts[[prefix + "segment_name", "segment", "n"]].itertuples(
        index=False
    ):
        shown = "" if pd.isna(number) else str(number)
        click.echo(f"  {shown:>2}  {name}  {n:,}")
    click.echo(f"written to {target}")
    if database is not None:
        click.echo(f"and to {database} ({len(df):,} rows)")


@cli.command("export-sql")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--table",
    required=True,
    metavar="NAME",
    help="The warehouse table of customers, with the columns the model was "
    "trained on (schema.table is split at the dot).",
)
@click.option(
    "--dialect",
    default="postgres",
    show_default=True,
    metavar="DIALECT",
    help="SQL dialect: postgres, duckdb, sqlite, bigquery, snowflake or spark.",
)
@click.option(
    "--id",
    "id_columns",
    multiple=True,
    metavar="COLUMN",
    help="Column to return beside each segment (repeat for several). Default: "
    "the training table's identifier columns.",
)
@click.option(
    "--view", metavar="NAME", default=None, help="Write CREATE VIEW NAME AS the query."
)
@click.option(
    "--rules",
    is_flag=True,
    help="The segments' plain rules as one CASE WHEN (for a CRM that can only "
    "filter) instead of the exact assignment.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the SQL to this file. Default: print it.",
)
def export_sql(
    model: str,
    table: str,
    dialect: str,
    id_columns: tuple[str, ...],
    view: str | None,
    rules: bool,
    output: str | None,
) -> None:
    """Write the segmentation of a saved MODEL as one SQL query.

    The query returns every customer of --table with the segment number and
    name `custseg predict` gives it, computed in the warehouse: the model's
    imputation, log transforms, scaling, category weights and nearest centre
    (K-Means, mini-batch K-Means, k-prototypes, Gaussian mixtures). See
    docs/activation.md.

    Example:

        custseg export-sql custseg-output/model.skops --table crm.customers \\
            --dialect postgres --view customer_segments -o segments.sql
    """
    from custseg.activation import model_sql
    from custseg.model import load_model

    segmenter = load_model(model)
    sql = model_sql(
        segmenter,
        table,
        dialect=dialect,
        id_columns=list(id_columns) or None,
        view=view,
        rules=rules,
    )
    if output is None:
        click.echo(sql, nl=False)
        return
    from custseg.io import atomic_write

    target = Path(output)
    _hold(target.parent, lock=False)
    atomic_write(target, lambda tmp: Path(tmp).write_text(sql, encoding="utf-8"))
    click.echo(f"written to {target}", err=True)


@cli.command()
@click.argument("models", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--model",
    "named",
    multiple=True,
    metavar="NAME=PATH",
    help="Serve a model under a name (repeat for several); a MODEL argument is "
    "named by its file name without the extension.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (the default, loopback, is this machine only).",
)
@_port_option(8000)
@click.option(
    "--api-key-env",
    metavar="VARIABLE",
    default=None,
    help="Require the API key held in this environment variable in the "
    "X-API-Key header of every request but /health.",
)
@click.option(
    "--max-request-bytes",
    type=click.IntRange(1_000, 2**31),
    default=10 * 2**20,
    show_default=True,
    help="Largest request body; a larger one gets 413.",
)
def serve(
    models: tuple[str, ...],
    named: tuple[str, ...],
    host: str,
    port: int,
    api_key_env: str | None,
    max_request_bytes: int,
) -> None:
    """Serve saved MODELS over HTTP for scoring where marketing works.

    POST JSON records or a CSV body to /predict (the first model) or
    /models/NAME/predict; GET /segments, /health, and the OpenAPI page at
    /docs. A model file that changes is loaded again (after its integrity
    check). See docs/activation.md.

    Example:

        CUSTSEG_API_KEY=secret custseg serve custseg-output/model.skops \\
            --api-key-env CUSTSEG_API_KEY --port 8000
    """
    import uvicorn

    from custseg.activation import ModelRegistry, api_key_from, create_app, parse_models

    registry = ModelRegistry(parse_models(models, named))
    app = create_app(
        registry, api_key=api_key_from(api_key_env), max_bytes=max_request_bytes
    )
    click.echo(
        f"serving {', '.join(registry.names)} on http://{host}:{port} "
        f"(docs at /docs); Ctrl+C stops",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _stem(data: Any) -> str:
    """A file name stem for DATA: the file's, or the database table's."""
    table = getattr(data, "table", None)
    if table is not None:
        return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in table)
    if getattr(data, "query", None) is not None:
        return "query"
    return Path(data).stem


@cli.command()
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--algorithms",
    metavar="NAMES",
    default=None,
    help="Algorithms to compare, separated by commas. Default: all "
    "(kmeans, minibatch-kmeans, agglomerative, gmm, hdbscan, kprototypes).",
)
@_settings_options("compare")
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default="custseg-compare",
    show_default=True,
    help="Folder for comparison.csv, agreement.csv, comparison.json and "
    "comparison.html.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def compare(
    data: str | None,
    algorithms: str | None,
    settings: Any,
    out: str,
    quiet: bool,
) -> None:
    """Compare clustering algorithms on the customers in DATA.

    Runs each algorithm on the same prepared features, lets each choose its k,
    and prints one table (k, silhouette, Calinski-Harabasz, Davies-Bouldin,
    stability, segment sizes, time) and the adjusted Rand index between every
    pair. Without DATA, uses the bundled mall customers demo.

    Example:

        custseg compare customers.csv --algorithms kmeans,gmm,agglomerative
    """
    from custseg._names import ALGORITHMS
    from custseg.pipeline import compare as run_compare
    from custseg.pipeline import write_comparison

    _hold(out)  # before any work
    progress = _Progress(quiet)
    result = run_compare(
        data,
        settings,
        algorithms=(_split([algorithms]) if algorithms else None) or list(ALGORITHMS),
        progress=progress,
    )
    paths = write_comparison(result, out)
    if quiet:
        return
    t = result.table
    click.echo(
        f"\n{result.n_rows:,} customers from {result.source}; features: "
        f"{', '.join(result.features)}\n"
    )
    head = (
        f"{'algorithm':<17} {'k':>3} {'silhouette':>10} {'CH':>9} {'DB':>6} "
        f"{'stability':>9} {'unassigned':>10} {'seconds':>8}  sizes"
    )
    click.echo(head)
    for name, r in t.iterrows():
        stability = "" if math.isnan(r.stability) else f"{r.stability:.2f}"
        click.echo(
            f"{name:<17} {r.k:>3} {r.silhouette:>10.3f} {r.calinski_harabasz:>9.1f} "
            f"{r.davies_bouldin:>6.3f} {stability:>9} {r.unassigned:>10,} "
            f"{r.seconds:>8.1f}  {r.sizes}"
        )
    for name, why in result.errors.items():
        click.echo(f"{name:<17} not compared: {why}")
    if len(result.agreement) > 1:
        click.echo("\nAgreement (adjusted Rand index):")
        names = list(result.agreement.index)
        width = max(len(n) for n in names)
        click.echo(" " * (width + 2) + " ".join(f"{n[:8]:>8}" for n in names))
        for n in names:
            values = " ".join(f"{v:>8.2f}" for v in result.agreement.loc[n])
            click.echo(f"{n:<{width}}  {values}")
    click.echo("")
    for name, path in paths.items():
        click.echo(f"  {name:<9} {path}")


@cli.command()
def datasets() -> None:
    """List the datasets bundled with custseg.

    Example:

        custseg datasets
    """
    from custseg.datasets import DATASETS

    for ds in DATASETS.values():
        click.echo(f"{ds.name}  ({ds.kind}: {ds.rows:,} rows x {ds.columns} columns)")
        click.echo(f"  {ds.description}")
        click.echo(f"  Source: {ds.source}")
        click.echo(f"  File: {ds.path()}")


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default serves this machine only; 0.0.0.0 "
    "opens the app to the network (it has no login).",
)
@_port_option(8501)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Largest file a user may upload, in megabytes.",
)
def app(host: str, port: int, max_upload_mb: int) -> None:
    """Start the web app for analysts: upload a table, pick features, see and
    download the segments, all in the browser. Needs Streamlit
    (pip install "custseg[app]").

    Example:

        custseg app --port 8501      # then open http://127.0.0.1:8501
    """
    from custseg.app import launch

    sys.exit(launch(host=host, port=port, max_upload_mb=max_upload_mb))


def _hold(folder: str | Path, *, lock: bool = True) -> None:
    """Make the output folder and check that it can be written, and (with
    ``lock``) hold it until the command ends, so that a second run into the
    same folder is refused at once instead of mixing its files with ours."""
    from custseg.io import check_out_dir, out_dir_lock

    out = check_out_dir(folder)
    if lock:
        click.get_current_context().with_resource(out_dir_lock(out))


def main() -> None:
    """Entry point of the ``custseg`` console script."""
    import os

    # Figures are only ever written to files: never open a window. (The
    # library itself leaves the backend alone, so that plots in a notebook
    # keep drawing inline after a report is rendered.) Through the
    # environment rather than matplotlib.use, so that --help does not pay
    # for importing matplotlib: matplotlib reads it when a command first
    # draws.
    os.environ["MPLBACKEND"] = "Agg"
    _print_warnings_for_people()
    cli(prog_name="custseg")


def _print_warnings_for_people() -> None:
    """custseg's warnings as ``Warning: <what>`` lines on stderr, not as
    Python shows them (the source file and line of the code that warned)."""
    import warnings

    from custseg.errors import CustsegWarning

    shown = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, CustsegWarning):
            click.echo(f"Warning: {printable(str(message))}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
