"""The ``custseg`` command line: a thin shell over :mod:`custseg.pipeline`.

User errors (:class:`custseg.CustsegError`) print ``Error: <message>`` and exit
with status 1; usage errors exit with 2 (click's convention). ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

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


def _load_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of :func:`custseg.load_table`, shared by every command that
    reads a customer table."""
    options = [
        click.option(
            "--delimiter", default=None, help="CSV delimiter. Default: sniffed."
        ),
        click.option(
            "--encoding", default=None, help="File encoding. Default: detected."
        ),
        click.option(
            "--sheet", default=None, help="Excel sheet name. Default: the first sheet."
        ),
        click.option(
            "--na-values",
            multiple=True,
            metavar="TEXT",
            help="Extra text to read as missing (e.g. --na-values '?').",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


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
@click.option(
    "-f",
    "--features",
    multiple=True,
    metavar="COLUMNS",
    help="Columns to segment on (repeat, or separate with commas). "
    "Default: numeric and low-cardinality categorical columns, minus IDs.",
)
@click.option(
    "-k",
    "--k",
    "n_clusters",
    type=click.IntRange(min=1),
    default=None,
    help="Number of segments. Default: chosen automatically.",
)
@click.option(
    "--k-min",
    type=click.IntRange(min=2),
    default=2,
    show_default=True,
    help="Smallest k to consider.",
)
@click.option(
    "--k-max",
    type=click.IntRange(min=2),
    default=10,
    show_default=True,
    help="Largest k to consider.",
)
@click.option(
    "--scaler",
    type=click.Choice(["standard", "robust", "minmax", "none"]),
    default="standard",
    show_default=True,
    help="How numeric features are scaled.",
)
@click.option(
    "--categorical-weight",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Weight of one-hot encoded categories against a standardised numeric "
    "feature (at 1, a 0/1 column can split the customers on its own).",
)
@click.option(
    "--random-state",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed: the same data and seed give the same segments and numbering.",
)
@click.option(
    "--id-column",
    "id_columns",
    multiple=True,
    metavar="COLUMN",
    help="Identifier column(s), kept in the output but not used as "
    "features. Default: detected automatically.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default="custseg-output",
    show_default=True,
    help="Folder for segments, profiles, summary, report and model.",
)
@_load_options
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Where the work runs: this machine, or Apache Spark (needs "
    "'pip install custseg[spark]' and Java).",
)
@click.option(
    "--spark-master",
    metavar="URL",
    default=None,
    help="Spark master for --engine spark, e.g. spark://host:7077 or yarn. "
    "Default: local[*] on this machine, bound to 127.0.0.1.",
)
@click.option(
    "--no-report", is_flag=True, help="Skip report.html (faster on big data)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run(
    data: str | None,
    features: tuple[str, ...],
    n_clusters: int | None,
    k_min: int,
    k_max: int,
    scaler: str,
    categorical_weight: float,
    random_state: int,
    id_columns: tuple[str, ...],
    out: str,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    na_values: tuple[str, ...],
    engine: str,
    spark_master: str | None,
    no_report: bool,
    quiet: bool,
) -> None:
    """Segment the customers in DATA (CSV, Excel or Parquet).

    Without DATA, runs on the bundled mall customers demo. Writes segments.csv
    (every input row with its segment), profiles.csv, summary.json, report.html
    and model.skops to --out.

    Example:

        custseg run customers.csv -f "Annual Income (k$)" -f "Spending Score (1-100)"
    """
    from custseg import pipeline

    if k_max < k_min:
        raise click.BadParameter(f"--k-max ({k_max}) is smaller than --k-min ({k_min})")
    progress = _Progress(quiet)
    progress.stage(f"loading {data or 'the bundled mall customers demo'}")
    result = pipeline.run(
        data,
        features=_split(features),
        n_clusters=n_clusters,
        k_range=(k_min, k_max),
        scaler=scaler,
        categorical_weight=categorical_weight,
        random_state=random_state,
        id_columns=list(id_columns) or None,
        delimiter=delimiter,
        encoding=encoding,
        sheet=sheet,
        na_values=list(na_values),
        engine=engine,
        spark_master=spark_master,
        progress=progress,
    )
    paths = pipeline.write_outputs(result, out, report=not no_report, progress=progress)
    if quiet:
        return
    ks = result.k_selection
    click.echo(f"\n{result.n_rows:,} customers from {result.source}")
    click.echo(ks.reason)
    click.echo(ks.structure_reason)
    click.echo("")
    width = max(len(p.name) for p in result.profiles)
    for p in result.profiles:
        click.echo(
            f"  {p.segment:>2}  {p.name:<{width}}  {p.size:>9,} ({p.share:6.1%})  "
            f"{p.action_title}"
        )
    click.echo("")
    for name, path in paths.items():
        click.echo(f"  {name:<9} {path}")


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
@_load_options
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def predict(
    model: str,
    data: str,
    output: str | None,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    na_values: tuple[str, ...],
    quiet: bool,
) -> None:
    """Assign the customers in DATA to the segments of a saved MODEL.

    DATA needs the feature columns the model was trained on; other columns are
    carried through to the output unchanged.

    Example:

        custseg predict custseg-output/model.skops new_customers.csv -o scored.csv
    """
    from custseg import pipeline
    from custseg.io import write_table

    df = pipeline.predict(
        model,
        data,
        delimiter=delimiter,
        encoding=encoding,
        sheet=sheet,
        na_values=list(na_values),
    )
    seg_col = df.columns[-2]
    target = Path(output or f"{Path(data).stem}-segments.csv")
    write_table(df, target)
    if quiet:
        return
    counts = df.groupby([seg_col, df.columns[-1]]).size().reset_index()
    click.echo(f"{len(df):,} customers scored with {model}:")
    for number, name, n in counts.itertuples(index=False):
        click.echo(f"  {number:>2}  {name}  {n:,}")
    click.echo(f"written to {target}")


@cli.command()
def datasets() -> None:
    """List the datasets bundled with custseg.

    Example:

        custseg datasets
    """
    from custseg.datasets import DATASETS

    for ds in DATASETS.values():
        click.echo(f"{ds.name}  ({ds.rows} rows x {ds.columns} columns)")
        click.echo(f"  {ds.description}")
        click.echo(f"  Source: {ds.source}")
        click.echo(f"  File: {ds.path()}")


def main() -> None:
    """Entry point of the ``custseg`` console script."""
    cli(prog_name="custseg")
