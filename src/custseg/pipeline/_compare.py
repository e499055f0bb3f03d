"""Compare clustering algorithms on the same customers and the same features.

:func:`compare` prepares the features once (the same imputation, scaling and
encoding for everyone), runs each algorithm through the ordinary
:class:`~custseg.Segmenter` (so each chooses its k by its usual rule), and
scores every result on that one prepared matrix and one silhouette sample, so
the figures compare like with like:

- k, silhouette, Calinski-Harabasz and Davies-Bouldin (on the customers each
  algorithm assigned; HDBSCAN's noise is left out and counted);
- bootstrap stability (the same resamples and seed for all);
- segment sizes and wall-clock time;
- the adjusted Rand index between every pair of algorithms, on all rows
  (noise counts as one more label).

:func:`write_comparison` writes the table (CSV and JSON), the agreement matrix
and a self-contained HTML page.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg import _display
from custseg.cluster import ALGORITHMS, Progress, check_algorithm, index_scores
from custseg.datasets import mall_customers_path
from custseg.errors import DataRepairWarning, ParameterError
from custseg.io import read_table
from custseg.model import Segmenter
from custseg.quality import check_table
from custseg.settings import Settings

__all__ = ["Comparison", "compare", "write_comparison"]

# Rows the silhouette of every algorithm is computed on (one fixed-seed sample).
SILHOUETTE_ROWS = 10_000


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`.

    Attributes
    ----------
    source : str
    n_rows : int
    features : tuple of str
        The features every algorithm used.
    table : DataFrame
        One row per algorithm (index: algorithm name).
    agreement : DataFrame
        Adjusted Rand index between every pair of algorithms.
    segmenters : dict of str to Segmenter
        Each fitted Segmenter, for a closer look.
    errors : dict of str to str
        Algorithms that could not segment these data, and why.
    """

    source: str
    n_rows: int
    features: tuple[str, ...]
    table: pd.DataFrame
    agreement: pd.DataFrame
    segmenters: dict[str, Segmenter]
    errors: dict[str, str]
    prepared: np.ndarray  # the shared prepared matrix (for the figures)

    def _repr_html_(self) -> str:
        """Jupyter: the algorithms side by side and their agreement."""
        return _display.html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        from custseg.report import json_safe

        rows = self.table.reset_index().to_dict("records")
        return json_safe(  # type: ignore[no-any-return]
            {
                "source": self.source,
                "n_rows": self.n_rows,
                "features": list(self.features),
                "algorithms": rows,
                "agreement": {
                    "algorithms": list(self.agreement.index),
                    "ari": self.agreement.to_numpy().tolist(),
                },
                "errors": self.errors,
            }
        )


def compare(
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    settings: Settings | None = None,
    *,
    algorithms: Sequence[str] = tuple(ALGORITHMS),
    progress: Progress | None = None,
    **options: Any,
) -> Comparison:
    """Run each of ``algorithms`` on the same prepared features and compare them.

    An algorithm that cannot segment the data (HDBSCAN finding a single dense
    group, say) is reported in ``errors`` rather than stopping the others.

    Parameters
    ----------
    data : path, DataFrame or None
        The customer table; ``None`` uses the bundled mall customers demo.
    settings : Settings, optional
        As for :func:`custseg.pipeline.run`; ``algorithm`` is each of
        ``algorithms`` in turn, and HDBSCAN ignores ``n_clusters``.
    algorithms : sequence of str
        The algorithms to compare (default: all).
    progress : callable, optional
        As for :func:`custseg.pipeline.run`.
    **options
        Any :class:`custseg.Settings` field, applied on top of ``settings``.

    Returns
    -------
    Comparison
        One row per algorithm (k, indices, stability, sizes, seconds), the
        pairwise adjusted Rand indices, and the algorithms that failed.

    Examples
    --------
    >>> c = compare(algorithms=["kmeans", "gmm"], stability_resamples=0,
    ...             features=["Annual Income (k$)", "Spending Score (1-100)"])
    >>> c.table["k"].tolist(), round(float(c.agreement.loc["kmeans", "gmm"]), 2)
    ([5, 5], 0.94)
    """
    from custseg.errors import CustsegError

    names = list(dict.fromkeys(check_algorithm(a) for a in algorithms))
    if not names:
        raise ParameterError("name at least one algorithm to compare")
    settings = (settings or Settings()).replace(**options)
    source = mall_customers_path() if data is None else data
    loaded = read_table(source, **settings.load_options())
    quality = check_table(loaded, id_columns=settings.id_columns)
    df = loaded.frame
    fitted: dict[str, Segmenter] = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    for i, name in enumerate(names):
        if progress:
            progress(f"running {ALGORITHMS[name]}", i, len(names))
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Repairs are the same for every algorithm: announce them once.
                if fitted:
                    warnings.simplefilter("ignore", DataRepairWarning)
                # HDBSCAN finds its own k: a k given for the others is not its.
                own = settings.replace(algorithm=name)
                if name == "hdbscan":
                    own = own.automatic()
                fitted[name] = Segmenter(**own.segmenter_params()).fit(
                    df, quality=quality
                )
        except CustsegError as exc:
            errors[name] = str(exc)
            continue
        seconds[name] = time.perf_counter() - t0
    if progress:
        progress("compared", len(names), len(names))
    if not fitted:
        raise ParameterError(
            "no algorithm could segment these data: "
            + "; ".join(f"{k}: {v}" for k, v in errors.items())
        )
    first = next(iter(fitted.values()))
    Z = first.prepare(df)
    rng = np.random.default_rng(settings.random_state)
    sil_rows = (
        np.sort(rng.choice(len(Z), SILHOUETTE_ROWS, replace=False))
        if len(Z) > SILHOUETTE_ROWS
        else np.arange(len(Z))
    )
    rows = []
    for name, seg in fitted.items():
        labels = seg.labels_
        keep = labels >= 0
        sub_keep = keep[sil_rows]
        sil, ch, db = index_scores(Z[keep], labels[keep], Z[sil_rows][sub_keep], None)
        sizes = [p.size for p in seg.profiles_]
        rows.append(
            {
                "algorithm": name,
                "label": ALGORITHMS[name],
                "k": seg.n_clusters_,
                "silhouette": sil,
                "calinski_harabasz": ch,
                "davies_bouldin": db,
                "stability": seg.stability_.overall if seg.stability_ else np.nan,
                "unstable_segments": len(seg.stability_.unstable_segments())
                if seg.stability_
                else 0,
                "unassigned": int((~keep).sum()),
                "sizes": " / ".join(f"{s:,}" for s in sizes),
                "smallest_share": min(sizes) / len(labels),
                "predict": seg.predictor_["method"],
                "predict_agreement": seg.predict_agreement_,
                "seconds": seconds[name],
            }
        )
    table = pd.DataFrame(rows).set_index("algorithm")
    return Comparison(
        source=quality.source,
        n_rows=len(df),
        features=tuple(first.selection_.columns),
        table=table,
        agreement=agreement_matrix({n: s.labels_ for n, s in fitted.items()}),
        segmenters=fitted,
        errors=errors,
        prepared=Z,
    )


def agreement_matrix(labels: dict[str, np.ndarray]) -> pd.DataFrame:
    """Adjusted Rand index between every pair of labelings (noise, -1, is one
    more label).

    Examples
    --------
    >>> agreement_matrix({"a": np.array([0, 0, 1, 1]), "b": np.array([1, 1, 0, 0])})
         a    b
    a  1.0  1.0
    b  1.0  1.0
    """
    from sklearn.metrics import adjusted_rand_score

    names = list(labels)
    out = np.ones((len(names), len(names)))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            out[i, j] = out[j, i] = adjusted_rand_score(labels[a], labels[names[j]])
    return pd.DataFrame(out, index=names, columns=names)


def write_comparison(
    comparison: Comparison, out_dir: str | os.PathLike[str] = "custseg-compare"
) -> dict[str, Path]:
    """Write comparison.csv, agreement.csv, comparison.json and comparison.html.

    Parameters
    ----------
    comparison : Comparison
        What :func:`compare` returned.
    out_dir : str or path
        The folder, created if needed.

    Returns
    -------
    dict of str to Path
        Each file written, by name.

    Examples
    --------
    >>> import tempfile
    >>> c = compare(algorithms=["kmeans", "gmm"], n_clusters=3,
    ...             stability_resamples=0)
    >>> sorted(write_comparison(c, tempfile.mkdtemp()))
    ['agreement', 'report', 'summary', 'table']
    """
    from custseg.io import atomic_write, write_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "table": write_table(comparison.table.reset_index(), out / "comparison.csv"),
        "agreement": write_table(
            comparison.agreement.reset_index(names="algorithm"),
            out / "agreement.csv",
        ),
    }
    text = json.dumps(comparison.to_dict(), indent=2, allow_nan=False)
    paths["summary"] = atomic_write(
        out / "comparison.json",
        lambda tmp: Path(tmp).write_text(text, encoding="utf-8"),
    )
    html = render_comparison(comparison)
    paths["report"] = atomic_write(
        out / "comparison.html",
        lambda tmp: Path(tmp).write_text(html, encoding="utf-8"),
    )
    return paths


def render_comparison(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML page."""
    import matplotlib.pyplot as plt

    from custseg._version import __version__
    from custseg.plots import AgreementDisplay, ProjectionDisplay
    from custseg.report import environment, report_style, to_data_uri

    figures = []
    with report_style({"figure.dpi": 100, "font.size": 10}):
        if len(comparison.agreement) > 1:
            figures.append(
                {
                    "title": "Agreement between algorithms",
                    "caption": "Adjusted Rand index of each pair of segmentations "
                    "on every customer: 1 is the same partition, 0 no more alike "
                    "than chance.",
                    "src": to_data_uri(
                        AgreementDisplay(comparison.agreement).plot().figure_
                    ),
                }
            )
        n = len(comparison.segmenters)
        cols = 2 if n > 1 else 1
        fig, axes = plt.subplots(
            (n + cols - 1) // cols, cols, figsize=(7.5 * cols, 4.6 * ((n + 1) // cols))
        )
        flat = np.atleast_1d(axes).ravel()
        for ax, (name, seg) in zip(flat, comparison.segmenters.items(), strict=False):
            ProjectionDisplay.from_prepared(
                comparison.prepared,
                seg.labels_,
                seg.cluster_centers_,
                list(seg.segment_names_),
                random_state=seg.random_state,
            ).plot(ax=ax)
            ax.set_title(f"{ALGORITHMS[name]} (k = {seg.n_clusters_})")
        for ax in flat[n:]:
            ax.set_visible(False)
        fig.tight_layout()
        figures.append(
            {
                "title": "Each algorithm's segments in the same 2-D projection",
                "caption": "Principal components of the shared prepared features; "
                "colours are each algorithm's own segments.",
                "src": to_data_uri(fig),
            }
        )
    return (
        environment()
        .get_template("comparison.html.j2")
        .render(
            c=comparison.to_dict(),
            table=comparison.table.reset_index().to_dict("records"),
            figures=figures,
            version=__version__,
        )
    )
