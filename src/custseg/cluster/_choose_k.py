"""Choose the number of segments k, and say whether the data have segments at all.

The rule (documented in docs/choosing-k.md, and stated in every run's summary):

1. For each k in the range, fit K-Means and compute four indices: inertia (whose
   elbow is found by the Kneedle algorithm), silhouette (higher is
   better), Calinski-Harabasz (higher is better) and Davies-Bouldin (lower is
   better). Each index *votes* for one k: the knee, the best silhouette, the best
   CH and the best DB. The elbow's vote counts half (``VOTE_WEIGHTS``): a knee
   detector always finds some knee, and on planted data it was the least
   reliable of the four (``benchmarks/choose_k.py``).
2. Each k's segments are checked for *support* on a fixed sample of distinct
   customers (:func:`support_scores`). A k is ``"gap"``-supported when every
   segment is cut off from the rest by an empty gap: the closest two customers
   of different segments are at least ``SEPARATION_RATIO`` times farther apart
   than neighbouring customers within a segment (read off the minimum spanning
   tree, which holds the closest pair across every cut). Failing that, it is
   ``"valley"``-supported when every segment and its nearest segment are
   separated by a dip in customer density along the line joining their centres
   (density at the dip at most ``VALLEY_RATIO`` of the lower peak). Only the k
   at the best support level present are considered: a k that cuts through a
   group of customers is not taken while a k that splits them along gaps or
   density dips is available.
3. Candidates are the considered k whose silhouette is within
   ``SILHOUETTE_TOLERANCE`` of the best of them: a knee or a CH peak that the
   silhouette clearly rejects is not taken, however the knee detector feels.
4. Among the candidates the k with the most votes wins. A tie goes to the most
   stable k when a tie-breaker is given (stabilities within ``STABILITY_TIE``
   go to the smaller k: fewer segments are easier to act on), else to the k
   with the higher silhouette. The other candidates are the *runners-up*.

Why step 2: the silhouette and the other indices reward partitions that tile a
group into compact pieces. Two long, separated groups (banana- or diamond-
shaped) score higher cut into four, and a wide group beside a narrow one scores
higher cut in two; the support check sees that those extra cuts go through
continuous density, where the smaller k's cuts follow gaps or dips.

Knee detectors always find some knee, and the silhouette of K-Means on
structureless data is far from zero (about 0.4 on uniform 2-D noise), so neither
can tell "no segments" on its own. The structure check compares the silhouette
at the chosen k with the silhouette K-Means reaches, at the same k, on
``n_references`` reference tables drawn uniformly over the bounding box of the
data's principal axes (the null reference of Tibshirani, Walther and Hastie's gap
statistic, 2001). When the data beat the reference by less than
``STRUCTURE_MARGIN``, the run says plainly that no clear segment structure was
found.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict, cast

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from custseg.cluster._lloyd import assign, kmeans
from custseg.cluster._silhouette import silhouette
from custseg.errors import InputError, ParameterError

__all__ = [
    "MIN_ROWS",
    "SEPARATION_RATIO",
    "SILHOUETTE_TOLERANCE",
    "STRUCTURE_MARGIN",
    "VALLEY_RATIO",
    "VOTE_WEIGHTS",
    "KSelection",
    "Progress",
    "RunnerUp",
    "cap_k_range",
    "check_k_range",
    "choose_k",
    "decide_k",
    "default_n_init",
    "draw_samples",
    "index_scores",
    "score_fits",
    "score_k",
    "structure_check",
    "support_scores",
]

SILHOUETTE_TOLERANCE = 0.05
# How far below the best silhouette a k may be and still count its density
# support (see _reconcile).
SUPPORT_TOLERANCE = 0.15
STRUCTURE_MARGIN = 0.05

#: The fewest rows k can be chosen on (two segments and a row to compare).
MIN_ROWS = 3

Progress = Callable[[str, int, int], None]
_INDEX_NAMES = {
    "silhouette": "the silhouette",
    "elbow": "the elbow",
    "calinski_harabasz": "Calinski-Harabasz",
    "davies_bouldin": "Davies-Bouldin",
    "bic": "BIC",
}
_INDEX_WORDS = {
    "silhouette": "the silhouette peaks",
    "elbow": "the elbow of inertia is",
    "calinski_harabasz": "Calinski-Harabasz peaks",
    "davies_bouldin": "Davies-Bouldin is lowest",
    "bic": "BIC is lowest",
}
# Two tied k whose stabilities differ by less than this count as equally
# stable, and the smaller k wins.
STABILITY_TIE = 0.02
# A vote's weight (1 unless listed): the Kneedle elbow counts half.
VOTE_WEIGHTS: dict[str, float] = {"elbow": 0.5}
# Support (see the module docstring): a "gap" when the closest two customers of
# different segments are this many times farther apart than the median distance
# between neighbouring customers within a segment ...
SEPARATION_RATIO = 3.0
# ... a "valley" when the density at the dip between a segment and its nearest
# one is at most this share of the lower of the two peaks.
VALLEY_RATIO = 0.9
# Support is measured on at most this many distinct customers (a fixed-seed
# sample of the silhouette rows), and a segment with fewer than
# max(_MIN_GROUP_ROWS, _MIN_GROUP_SHARE of them) is no group of its own.
SUPPORT_ROWS = 2_000
_MIN_GROUP_ROWS = 11
_MIN_GROUP_SHARE = 0.01
_SUPPORT_SEED = 0
_VALLEY_GRID = 41
_SUPPORT_WORDS = {2: "gap", 1: "valley", 0: "none"}


class RunnerUp(TypedDict):
    """A k that was nearly as good as the chosen one (a plain dict in JSON)."""

    k: int
    silhouette: float
    stability: float | None


def default_n_init(n_rows: int) -> int:
    """K-Means restarts: 10 on up to 10,000 rows, 3 above (each costs a full fit)."""
    return 10 if n_rows <= 10_000 else 3


@dataclass(frozen=True)
class KSelection:
    """Scores for each k, the k chosen, why, and whether there is structure at all.

    ``structure`` is ``"clear"`` (silhouette >= 0.5), ``"moderate"``
    (0.25 to 0.5), ``"weak"`` (below 0.25), or ``"none"`` when the data are not
    better separated than structureless reference data.
    """

    k_values: tuple[int, ...]
    inertia: tuple[float, ...]
    silhouette: tuple[float, ...]
    calinski_harabasz: tuple[float, ...]
    davies_bouldin: tuple[float, ...]
    knee: int | None
    votes: dict[str, int | None]
    candidates: tuple[int, ...]
    k: int
    rule: str
    reason: str
    structure: str
    structure_reason: str
    silhouette_at_k: float
    reference_silhouette: float
    reference_silhouette_sd: float
    n_rows: int
    sample_size: int
    silhouette_sample_size: int
    random_state: int
    algorithm: str = "kmeans"
    # Scores only some algorithms have, one per k (a Gaussian mixture's BIC
    # and AIC), and the bootstrap stability of the k that tied on votes.
    extra_scores: dict[str, tuple[float, ...]] = field(default_factory=dict)
    tie_stability: dict[int, float] = field(default_factory=dict)
    # Support of each k (see support_scores; empty when not measured, as on
    # the Spark engine), and the other candidates in order of k.
    separation: tuple[float, ...] = ()
    valley: tuple[float, ...] = ()
    runners_up: tuple[RunnerUp, ...] = ()

    def __post_init__(self) -> None:
        # A model file stores these as JSON lists (None for NaN).
        for name in ("separation", "valley"):
            values = getattr(self, name)
            object.__setattr__(
                self,
                name,
                tuple(math.nan if v is None else float(v) for v in values),
            )
        object.__setattr__(
            self,
            "runners_up",
            tuple(
                RunnerUp(
                    k=int(r["k"]),
                    silhouette=float(r["silhouette"]),
                    stability=None if r["stability"] is None else float(r["stability"]),
                )
                for r in self.runners_up
            ),
        )

    @property
    def support(self) -> tuple[str, ...]:
        """Each k's support: ``"gap"``, ``"valley"`` or ``"none"`` (empty when
        it was not measured)."""
        return tuple(
            _SUPPORT_WORDS[level]
            for level in support_levels(self.separation, self.valley)
        )

    def runners_up_text(self) -> str:
        """The runners-up in one line (empty when there are none).

        Examples
        --------
        >>> from custseg.cluster._choose_k import _example_selection
        >>> _example_selection().runners_up_text()
        'Also sound: k = 6 (silhouette 0.53, stability 0.91) and k = 7 (silhouette 0.52).'
        """
        if not self.runners_up:
            return ""
        items = [
            f"k = {r['k']} (silhouette {r['silhouette']:.2f}"
            + (
                f", stability {r['stability']:.2f}"
                if r["stability"] is not None
                else ""
            )
            + ")"
            for r in self.runners_up
        ]
        return "Also sound: " + _join(items) + "."

    @property
    def has_structure(self) -> bool:
        """False when the data show no clear segment structure."""
        return self.structure != "none"

    def _repr_html_(self) -> str:
        """Jupyter: the choice and its reason, the curves and the index table."""
        from custseg._display import html

        return html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (NaN scores become ``None``)."""
        out = asdict(self)
        for key in ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin"):
            out[key] = [None if math.isnan(v) else v for v in out[key]]
        out["extra_scores"] = {
            key: [None if math.isnan(v) else v for v in values]
            for key, values in self.extra_scores.items()
        }
        out["tie_stability"] = {str(k): v for k, v in self.tie_stability.items()}
        for key in ("separation", "valley"):
            out[key] = [None if math.isnan(v) else v for v in out[key]]
        out["runners_up"] = [dict(r) for r in self.runners_up]
        out["has_structure"] = self.has_structure
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per k with the four indices (and BIC/AIC for a mixture)."""
        return pd.DataFrame(
            {
                "k": self.k_values,
                "inertia": self.inertia,
                "silhouette": self.silhouette,
                "calinski_harabasz": self.calinski_harabasz,
                "davies_bouldin": self.davies_bouldin,
                **{key: list(v) for key, v in self.extra_scores.items()},
            }
        ).set_index("k")


def choose_k(
    X: np.ndarray,
    k_range: Sequence[int] = (2, 10),
    *,
    n_clusters: int | None = None,
    random_state: int = 0,
    n_init: int | None = None,
    sample_size: int = 100_000,
    silhouette_sample_size: int = 10_000,
    n_references: int = 5,
    progress: Progress | None = None,
) -> KSelection:
    """Score k over ``k_range`` and pick one by the documented rule.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Prepared (imputed, encoded, scaled) features.
    k_range : (int, int)
        Smallest and largest k to try, inclusive.
    n_clusters : int, optional
        The user's k: scores are still computed for the report, but this k is used.
    sample_size : int
        Fits for choosing k use at most this many rows (a fixed-seed sample).
    silhouette_sample_size : int
        The silhouette is computed on at most this many rows of that sample, so
        choosing k never costs O(n^2).

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(300, centers=4, cluster_std=0.5, random_state=1)
    >>> sel = choose_k(X, (2, 8), random_state=0)
    >>> sel.k, sel.structure
    (4, 'clear')
    """
    return score_k(
        X,
        k_range,
        n_clusters=n_clusters,
        random_state=random_state,
        n_init=n_init,
        sample_size=sample_size,
        silhouette_sample_size=silhouette_sample_size,
        n_references=n_references,
        progress=progress,
    )[0]


def score_k(
    X: np.ndarray,
    k_range: Sequence[int] = (2, 10),
    *,
    n_clusters: int | None = None,
    random_state: int = 0,
    n_init: int | None = None,
    sample_size: int = 100_000,
    silhouette_sample_size: int = 10_000,
    n_references: int = 5,
    tie_breaker: Callable[[np.ndarray, np.ndarray, int], float] | None = None,
    progress: Progress | None = None,
) -> tuple[KSelection, dict[int, np.ndarray], bool]:
    """:func:`choose_k`, plus the centroids found for each k on the sample and
    whether that sample was every row. The Segmenter starts its final fit on all
    rows from these centroids, so that fit needs only a few Lloyd iterations.

    ``tie_breaker(X, labels, k)`` scores a k that tied with another on votes
    (the Segmenter passes the bootstrap stability); the higher score wins."""
    X = np.asarray(X)
    n = len(X)
    kmin, kmax = check_k_range(k_range, n, n_clusters)
    sample, sil_idx = draw_samples(n, sample_size, silhouette_sample_size, random_state)
    Xs = X if sample is None else X[sample]
    kmin, kmax = cap_k_range(Xs, kmin, kmax, n_clusters, every_row=n <= sample_size)
    n_init = n_init or default_n_init(len(Xs))
    Xsil = Xs if sil_idx is None else Xs[sil_idx]

    ks = list(range(kmin, kmax + 1))
    centers: dict[int, np.ndarray] = {}

    def fit_k(k: int) -> tuple[np.ndarray, float, dict[str, float]]:
        fit = kmeans(Xs, k, n_init=n_init, random_state=random_state)
        centers[k] = fit.centers
        return fit.labels, float(fit.inertia), {}

    inertia, sil, ch, db, extra = score_fits(Xs, Xsil, sil_idx, ks, fit_k, progress)

    def breaker(k: int) -> float:
        assert tie_breaker is not None
        labels = assign(Xs, centers[k])[0].astype(np.int64)
        return tie_breaker(Xs, labels, k)

    selection = decide_k(
        ks,
        inertia,
        sil,
        ch,
        db,
        Xsil,
        n_clusters=n_clusters,
        n_rows=n,
        sample_size=len(Xs),
        random_state=random_state,
        n_references=n_references,
        progress=progress,
        tie_breaker=breaker if tie_breaker is not None else None,
        separation=extra["separation"],
        valley=extra["valley"],
    )
    return selection, centers, sample is None


def draw_samples(
    n: int, limit: int, silhouette_limit: int, random_state: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The fixed-seed sample k is scored on (None: every row) and, within it,
    the rows silhouettes are computed on (None: the whole sample)."""
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, limit, replace=False)) if n > limit else None
    m = n if sample is None else limit
    sil_idx = None
    if m > silhouette_limit:
        sil_idx = np.sort(rng.choice(m, silhouette_limit, replace=False))
    return sample, sil_idx


def score_fits(
    Xs: np.ndarray,
    Xsil: np.ndarray,
    sil_idx: np.ndarray | None,
    ks: Sequence[int],
    fit_k: Callable[[int], tuple[np.ndarray, float, dict[str, float]]],
    progress: Progress | None = None,
) -> tuple[list[float], list[float], list[float], list[float], dict[str, list[float]]]:
    """Fit each k with ``fit_k(k) -> (labels, inertia, extra scores)`` and
    collect inertia, silhouette, Calinski-Harabasz, Davies-Bouldin and the
    extra scores (a mixture's BIC and AIC), one value per k.

    The extra scores also carry each k's support, ``"separation"`` and
    ``"valley"`` (:func:`support_scores`, on a sample of the rows ``Xsil``);
    :func:`decide_k` takes them out of ``extra_scores`` and uses them."""
    inertia: list[float] = []
    sil: list[float] = []
    ch: list[float] = []
    db: list[float] = []
    extra: dict[str, list[float]] = {}
    support: _Support | None = None
    for i, k in enumerate(ks):
        if progress:
            progress(f"scoring k={k} on {len(Xs):,} rows", i, len(ks))
        labels, inertia_k, extra_k = fit_k(k)
        inertia.append(inertia_k)
        for scores, value in zip(
            (sil, ch, db), index_scores(Xs, labels, Xsil, sil_idx), strict=True
        ):
            scores.append(value)
        for key, value in extra_k.items():
            extra.setdefault(key, []).append(value)
        if support is None:
            support = _Support(Xsil)
        on_sil = labels if sil_idx is None else labels[sil_idx]
        separation, valley = support.scores(on_sil)
        extra.setdefault("separation", []).append(separation)
        extra.setdefault("valley", []).append(valley)
    if progress:
        progress("scored", len(ks), len(ks))
    return inertia, sil, ch, db, extra


def cap_k_range(
    Xs: np.ndarray, kmin: int, kmax: int, n_clusters: int | None, *, every_row: bool
) -> tuple[int, int]:
    """Cap k at the number of distinct customers in the sample ``Xs``: K-Means
    cannot find more segments than that. ``every_row``: the sample is the data,
    so a larger user k is an error rather than a sampling accident."""
    distinct = len(np.unique(Xs, axis=0))
    if distinct < 2:
        raise InputError(
            "every customer has the same feature values; there is nothing to segment"
        )
    if n_clusters is not None and n_clusters > distinct and every_row:
        raise ParameterError(
            f"cannot make {n_clusters} segments: the data have only {distinct} "
            "distinct customers"
        )
    kmax = min(kmax, distinct)
    return min(kmin, kmax), kmax


def index_scores(
    X: np.ndarray, labels: np.ndarray, X_sil: np.ndarray, sil_idx: np.ndarray | None
) -> tuple[float, float, float]:
    """Silhouette (on ``X_sil``, the rows ``sil_idx`` of ``X``),
    Calinski-Harabasz and Davies-Bouldin of one clustering; NaN where an index
    is undefined (a single segment, or one segment per row)."""
    if not 2 <= len(np.unique(labels)) <= len(X) - 1:
        return math.nan, math.nan, math.nan
    sub = labels if sil_idx is None else labels[sil_idx]
    sil = (
        _silhouette(X_sil, sub)
        if 2 <= len(np.unique(sub)) <= len(X_sil) - 1
        else math.nan
    )
    return (
        sil,
        float(calinski_harabasz_score(X, labels)),
        float(davies_bouldin_score(X, labels)),
    )


def decide_k(
    ks: list[int],
    inertia: list[float],
    sil: list[float],
    ch: list[float],
    db: list[float],
    X_sil: np.ndarray,
    *,
    n_clusters: int | None,
    n_rows: int,
    sample_size: int,
    random_state: int,
    n_references: int = 5,
    progress: Progress | None = None,
    algorithm: str = "kmeans",
    extra_votes: dict[str, int | None] | None = None,
    extra_scores: dict[str, tuple[float, ...]] | None = None,
    tie_breaker: Callable[[int], float] | None = None,
    separation: Sequence[float] | None = None,
    valley: Sequence[float] | None = None,
) -> KSelection:
    """Apply the rule to the scores of each k and run the structure check.

    This is the engine-neutral half of :func:`choose_k`: the Spark engine
    scores k with Spark and decides here. ``X_sil`` is the prepared sample the
    silhouettes were computed on (the structure check draws its random
    reference data from its bounding box).

    ``extra_votes`` are further indices' votes (a Gaussian mixture's BIC);
    ``tie_breaker(k)`` scores k that tie on votes (higher is better).
    ``separation`` and ``valley`` are each k's support (:func:`support_scores`);
    :func:`score_fits` returns them among its extra scores, and they are taken
    from ``extra_scores`` when given there. Without them (the Spark engine)
    every k counts as equally supported.
    """
    extra_scores = dict(extra_scores or {})
    separation = extra_scores.pop("separation", separation)
    valley = extra_scores.pop("valley", valley)
    sep = tuple(float(v) for v in separation) if separation is not None else ()
    val = tuple(float(v) for v in valley) if valley is not None else ()
    if len(sep) != len(ks) or len(val) != len(ks):
        sep, val = (), ()
    knee = _knee(ks, inertia)
    votes = {
        "silhouette": _arg(ks, sil, max),
        "elbow": knee,
        "calinski_harabasz": _arg(ks, ch, max),
        "davies_bouldin": _arg(ks, db, min),
        **(extra_votes or {}),
    }
    tie_stability: dict[int, float] = {}
    if n_clusters is not None:
        k, rule = n_clusters, "user"
        candidates: tuple[int, ...] = (n_clusters,)
        reason = f"k = {n_clusters} was set by the user."
    else:
        k, candidates, reason = _reconcile(
            ks,
            sil,
            votes,
            tie_breaker,
            tie_stability,
            weights=VOTE_WEIGHTS,
            support=support_levels(sep, val),
            tie="silhouette",
        )
        rule = "auto"
    if progress:
        progress(f"comparing k={k} with random data", 0, 1)
    sil_at_k = sil[ks.index(k)] if k in ks else math.nan
    ref_mean, ref_sd = _reference_silhouette(
        X_sil, k, random_state=random_state, n_references=n_references
    )
    if math.isnan(sil_at_k):
        sil_at_k = _silhouette_for_k(X_sil, k, random_state)
    structure, structure_reason = structure_check(sil_at_k, ref_mean, ref_sd, k)
    return KSelection(
        k_values=tuple(ks),
        inertia=tuple(inertia),
        silhouette=tuple(sil),
        calinski_harabasz=tuple(ch),
        davies_bouldin=tuple(db),
        knee=knee,
        votes=votes,
        candidates=tuple(candidates),
        k=k,
        rule=rule,
        reason=reason,
        structure=structure,
        structure_reason=structure_reason,
        silhouette_at_k=sil_at_k,
        reference_silhouette=ref_mean,
        reference_silhouette_sd=ref_sd,
        n_rows=n_rows,
        sample_size=sample_size,
        silhouette_sample_size=len(X_sil),
        random_state=random_state,
        algorithm=algorithm,
        extra_scores=extra_scores,
        tie_stability=tie_stability,
        separation=sep,
        valley=val,
        runners_up=_runners_up(ks, sil, candidates, k, tie_stability),
    )


def structure_check(
    silhouette: float, reference: float, reference_sd: float, k: int
) -> tuple[str, str]:
    """Classify the segment structure and explain the verdict in words.

    Examples
    --------
    >>> structure_check(0.41, 0.40, 0.01, 4)[0]
    'none'
    >>> structure_check(0.55, 0.40, 0.01, 5)[0]
    'clear'
    """
    if math.isnan(silhouette) or silhouette - reference < STRUCTURE_MARGIN:
        return "none", (
            f"No clear segment structure was found: with k = {k} the silhouette is "
            f"{silhouette:.2f}, no better than the {reference:.2f} (± "
            f"{reference_sd:.2f}) that K-Means reaches on random data with no "
            "groups. The segments below split the customers into ranges, but they "
            "are not natural groups; treat them with care."
        )
    if silhouette >= 0.5:
        level, words = "clear", "The segments are clearly separated"
    elif silhouette >= 0.25:
        level, words = "moderate", "The segments are real but overlap"
    else:
        level, words = "weak", "The segments are weakly separated"
    return level, (
        f"{words}: silhouette {silhouette:.2f} against {reference:.2f} for random "
        "data with no groups."
    )


def check_k_range(
    k_range: Sequence[int], n: int, n_clusters: int | None
) -> tuple[int, int]:
    """``(kmin, kmax)`` from ``k_range``, checked against ``n`` rows (and
    ``n_clusters`` when given), with kmax capped at ``n - 1``; a
    ParameterError says what is wrong."""
    try:
        kmin, kmax = (int(v) for v in k_range)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"k_range must be two integers; got {k_range!r}") from exc
    if kmin < 2 or kmax < kmin:
        raise ParameterError(
            f"k_range must satisfy 2 <= min <= max; got ({kmin}, {kmax})"
        )
    if n_clusters is not None:
        if n_clusters < 1:
            raise ParameterError(f"n_clusters must be >= 1; got {n_clusters}")
        if n_clusters > n:
            raise ParameterError(
                f"cannot make {n_clusters} segments from {n} rows; "
                f"use at most {n} segments"
            )
    elif n < MIN_ROWS:
        raise ParameterError(
            f"choosing k needs at least {MIN_ROWS} rows; the data have {n}. "
            "Set the number of segments with --k"
        )
    kmax = min(kmax, n - 1)
    kmin = min(kmin, kmax)
    return kmin, kmax


def _arg(ks: list[int], values: list[float], pick: Callable[..., float]) -> int | None:
    valid = [(v, k) for k, v in zip(ks, values, strict=True) if not math.isnan(v)]
    if not valid:
        return None
    best = pick(v for v, _ in valid)
    return min(k for v, k in valid if v == best)


def _knee(ks: list[int], inertia: list[float]) -> int | None:
    """The elbow of a decreasing convex inertia curve by the offline Kneedle
    algorithm (Satopaa et al. 2011, sensitivity 1), step for step as the
    ``kneed`` package computes it (``curve="convex", direction="decreasing",
    online=False``). Written out here because importing kneed pulls in
    ``matplotlib.pyplot`` and SciPy's signal module: 1.5 s on every run for
    twenty lines of arithmetic (issue 19); ``tests/test_choose_k.py`` checks
    the two agree on random curves."""
    if len(ks) < 3:
        return None
    y = np.asarray(inertia, dtype=np.float64)
    # A flat curve (every k fits equally well: tied or repeated rows) has no
    # knee, and normalising it would divide 0 by 0.
    if not np.isfinite(y).all() or y.max() == y.min():
        return None
    x = np.asarray(ks, dtype=np.float64)
    xn = (x - x.min()) / (x.max() - x.min())
    yn = (y - y.min()) / (y.max() - y.min())
    diff = (yn.max() - yn) - xn  # the difference curve of the flipped curve
    n = len(diff)
    before = diff[np.maximum(np.arange(n) - 1, 0)]
    after = diff[np.minimum(np.arange(n) + 1, n - 1)]
    maxima = np.flatnonzero((diff >= before) & (diff >= after))
    minima = set(np.flatnonzero((diff <= before) & (diff <= after)).tolist())
    if not maxima.size:
        return None
    thresholds = diff[maxima] - abs(float(np.diff(xn).mean()))
    threshold, at, found, active = 0.0, 0, 0, True
    for i in range(int(maxima[0]), n - 1):
        if i in set(maxima.tolist()):
            threshold, at, found, active = float(thresholds[found]), i, found + 1, True
        if i in minima:
            threshold, active = 0.0, False
        if active and diff[i + 1] < threshold:
            return int(ks[at])
    return None


def _reconcile(
    ks: list[int],
    sil: list[float],
    votes: dict[str, int | None],
    tie_breaker: Callable[[int], float] | None = None,
    tie_stability: dict[int, float] | None = None,
    *,
    weights: dict[str, float] | None = None,
    support: Sequence[int] = (),
    tie: str = "fewer",
) -> tuple[int, tuple[int, ...], str]:
    """The rule's steps 2 to 4 (module docstring): ``weights`` of the votes
    (default 1 each), the ``support`` level of each k (2 gap, 1 valley,
    0 none; empty: all equal), and what breaks a tie without a tie-breaker:
    ``"fewer"`` segments, or the higher ``"silhouette"`` (then fewer)."""
    valid = [s for s in sil if not math.isnan(s)]
    if not valid:
        k = votes["elbow"] or ks[0]
        return (
            k,
            (k,),
            f"k = {k}: the silhouette could not be computed; used the elbow.",
        )
    levels = list(support) if len(support) == len(ks) else [0] * len(ks)
    scored = [
        (k, s, level)
        for k, s, level in zip(ks, sil, levels, strict=True)
        if not math.isnan(s)
    ]
    # A gap or a valley speaks for a k only when its silhouette is not far
    # below the best: a split that isolates a few customers by a gap while
    # cutting the rest badly is no better supported than the others.
    overall = max(s for _, s, _ in scored)
    scored = [
        (k, s, level if s >= overall - SUPPORT_TOLERANCE else 0)
        for k, s, level in scored
    ]
    top_level = max(level for _, _, level in scored)
    pool = [(k, s) for k, s, level in scored if level == top_level]
    best = max(s for _, s in pool)
    candidates = tuple(k for k, s in pool if s >= best - SILHOUETTE_TOLERANCE)
    weight = weights or {}
    tally = {
        c: sum(weight.get(name, 1.0) for name, v in votes.items() if v == c)
        for c in candidates
    }
    top = max(tally.values())
    tied = [c for c in candidates if math.isclose(tally[c], top)]
    k = min(tied)
    by_silhouette = tie == "silhouette" and tie_breaker is None and len(tied) > 1
    if by_silhouette:
        best_tied = max(sil[ks.index(c)] for c in tied)
        k = min(c for c in tied if sil[ks.index(c)] == best_tied)
    stable_note = ""
    if tie_breaker is not None and len(tied) > 1:
        scores = {c: float(tie_breaker(c)) for c in tied}
        if tie_stability is not None:
            tie_stability.update(scores)
        best_score = max(scores.values())
        near = [c for c in tied if scores[c] >= best_score - STABILITY_TIE]
        k = min(near)
        others = ", ".join(f"{scores[c]:.2f} for k = {c}" for c in tied if c != k)
        stable_note = (
            f" Of the tied k, {k} is the most stable under bootstrap resampling "
            f"({scores[k]:.2f}, against {others}"
            + (
                f"; stabilities within {STABILITY_TIE} go to fewer segments"
                if len(near) > 1
                else ""
            )
            + ")."
        )

    agree = [name for name, v in votes.items() if v == k]
    disagree = [
        f"{_INDEX_NAMES[name]} points to {v}"
        for name, v in votes.items()
        if v is not None and v != k
    ]
    s_k = sil[ks.index(k)]
    n_votes = sum(v is not None for v in votes.values())
    if agree:
        text = (
            f"k = {k} (silhouette {s_k:.2f}): "
            + _join([f"{_INDEX_WORDS[a]} at {k}" for a in agree])
            + f" ({len(agree)} of {n_votes} indices agree)."
        )
    else:
        text = f"k = {k} (silhouette {s_k:.2f}), although no index votes for it."
    if len(pool) < len(scored):
        text += " " + _support_sentence([c for c, _ in pool], top_level)
    if disagree:
        text += " " + _cap(_join(disagree)) + "."
    if disagree and len(candidates) > 1:
        counts = {c: sum(1 for v in votes.values() if v == c) for c in candidates}
        # Without the weights another candidate would have tied or won.
        halved = any(counts[c] >= counts[k] for c in candidates if c != k)
        text += (
            f" Among the k whose silhouette is within {SILHOUETTE_TOLERANCE} of "
            f"the best{' of those' if len(pool) < len(scored) else ''} "
            f"({', '.join(map(str, candidates))}), {k} has the most support"
            + (" (the elbow's vote counts half)" if halved and len(tied) == 1 else "")
            + (
                ", and the highest silhouette of the tied k."
                if by_silhouette
                else ", and the fewest segments on a tie."
                if len(tied) > 1 and not stable_note
                else "."
            )
        )
    return k, candidates, text + stable_note


def _support_sentence(pool: list[int], level: int) -> str:
    which = _klist(pool)
    if level == 2:
        return (
            f"Only at {which} are the segments separated by clear gaps; the other "
            "k cut through a group of customers, so they were not considered."
        )
    return (
        f"Only at {which} is every segment separated from its nearest one by a dip "
        "in customer density; the other k cut through a group where the density "
        "has no dip, so they were not considered."
    )


def _klist(ks: list[int]) -> str:
    """``k = 2``, ``k = 2, 3 and 5``, or ``k = 2 to 8`` for a run."""
    if len(ks) > 2 and ks == list(range(ks[0], ks[-1] + 1)):
        return f"k = {ks[0]} to {ks[-1]}"
    return "k = " + _join([str(k) for k in ks])


def _runners_up(
    ks: list[int],
    sil: list[float],
    candidates: Sequence[int],
    k: int,
    stability: dict[int, float],
) -> tuple[RunnerUp, ...]:
    """The candidates other than ``k``, with their silhouette and, where the
    tie-breaker computed one, their stability."""
    return tuple(
        RunnerUp(k=c, silhouette=float(sil[ks.index(c)]), stability=stability.get(c))
        for c in sorted(candidates)
        if c != k and c in ks
    )


def support_levels(
    separation: Sequence[float], valley: Sequence[float]
) -> tuple[int, ...]:
    """Each k's support level: 2 where the segments are separated by gaps
    (``separation >= SEPARATION_RATIO``), else 1 where every segment has a
    density valley towards its nearest one (``valley <= VALLEY_RATIO``), else 0.

    Examples
    --------
    >>> support_levels([8.0, 1.2, 0.9], [0.0, 0.5, 1.0])
    (2, 1, 0)
    """
    return tuple(
        2 if s >= SEPARATION_RATIO else 1 if v <= VALLEY_RATIO else 0
        for s, v in zip(separation, valley, strict=True)
    )


def support_scores(X: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """How well one clustering's segments are separated: ``(separation, valley)``.

    Both are measured on at most ``SUPPORT_ROWS`` distinct rows of ``X`` (a
    fixed-seed sample). A segment with fewer than 11 of them, or under 1%, is
    no group of its own: separation is then 0 and valley 1.

    separation
        The smallest, over segments, of the distance from the segment to its
        closest customer outside it, divided by the median distance between
        neighbouring customers inside it (edges of the minimum spanning tree:
        the tree holds the closest pair across every cut). Above 1 there is an
        empty gap; a cut through continuous density gives about 1 or less.
    valley
        The largest, over segments, of the density at the deepest dip between
        the segment and its nearest segment (by centre), along the line joining
        their centres, divided by the lower of the two peaks (a Gaussian kernel
        density with Silverman's bandwidth). 1 means no dip.

    Examples
    --------
    >>> X = np.r_[np.linspace(0, 1, 40), np.linspace(5, 6, 40)][:, None]
    >>> sep, dip = support_scores(X, np.repeat([0, 1], 40))
    >>> bool(sep > 10), dip < 0.01
    (True, True)
    >>> support_scores(X, (X[:, 0] > 0.5).astype(int))[0] < 1
    True
    """
    return _Support(np.asarray(X)).scores(np.asarray(labels))


class _Support:
    """The sample of distinct customers support is measured on, with its
    minimum spanning tree (computed once, used for every k)."""

    def __init__(self, X: np.ndarray) -> None:
        n = len(X)
        rows = np.arange(n)
        if n > SUPPORT_ROWS:
            rng = np.random.default_rng(_SUPPORT_SEED)
            rows = np.sort(rng.choice(n, SUPPORT_ROWS, replace=False))
        values = np.asarray(X[rows], dtype=np.float64)
        self.X, first = np.unique(values, axis=0, return_index=True)
        self.rows = rows[first]
        self.min_size = max(_MIN_GROUP_ROWS, _MIN_GROUP_SHARE * len(self.X))
        self.edges = _spanning_tree(self.X)

    def scores(self, labels: np.ndarray) -> tuple[float, float]:
        """``(separation, valley)`` for labels of the rows of ``X``."""
        lab = np.unique(np.asarray(labels)[self.rows], return_inverse=True)[1]
        lab = lab.reshape(-1)
        counts = np.bincount(lab)
        if len(counts) < 2:
            return math.nan, math.nan
        if counts.min() < self.min_size:
            return 0.0, 1.0
        return self._separation(lab, len(counts)), self._valley(lab, len(counts))

    def _separation(self, lab: np.ndarray, k: int) -> float:
        i, j, w = self.edges
        li, lj = lab[i], lab[j]
        cross = li != lj
        ratio = math.inf
        for c in range(k):
            inside = w[(li == c) & (lj == c)]
            leaving = w[cross & ((li == c) | (lj == c))]
            if len(inside) and len(leaving):
                scale = float(np.median(inside))
                if scale > 0:
                    ratio = min(ratio, float(leaving.min()) / scale)
        # An exact 0-or-huge ratio says the same thing; keep JSON finite.
        return min(ratio, 1_000.0)

    def _valley(self, lab: np.ndarray, k: int) -> float:
        X = self.X
        centres = np.array([X[lab == c].mean(axis=0) for c in range(k)])
        gaps = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
        np.fill_diagonal(gaps, np.inf)
        grid = np.linspace(0.0, 1.0, _VALLEY_GRID)
        worst = 0.0
        for a in range(k):
            b = int(np.argmin(gaps[a]))
            u = centres[b] - centres[a]
            length2 = float(u @ u)
            if length2 <= 0:
                return 1.0
            ta = (X[lab == a] - centres[a]) @ u / length2
            tb = (X[lab == b] - centres[a]) @ u / length2
            t = np.concatenate([ta, tb])
            h = max(0.9 * min(ta.std(), tb.std()) * len(t) ** -0.2, 1e-3)
            density = np.exp(-0.5 * ((grid[:, None] - t[None, :]) / h) ** 2).sum(1)
            dip = int(np.argmin(density))
            lower_peak = min(density[: dip + 1].max(), density[dip:].max())
            # Both peaks so narrow that the kernel sums underflow between the
            # grid points: the groups are far apart, a perfect valley.
            ratio = float(density[dip] / lower_peak) if lower_peak > 0 else 0.0
            worst = max(worst, ratio)
        return worst


def _spanning_tree(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges ``(i, j, length)`` of the Euclidean minimum spanning tree of the
    rows of ``X`` (Prim's algorithm on the full distance matrix: at most
    ``SUPPORT_ROWS`` rows, so about 30 MB and a tenth of a second)."""
    from scipy.spatial.distance import cdist

    n = len(X)
    if n < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    dist = cdist(X, X)
    best = dist[0].copy()
    parent = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    done[0] = True
    best[0] = np.inf
    i = np.empty(n - 1, dtype=np.int64)
    j = np.empty(n - 1, dtype=np.int64)
    w = np.empty(n - 1)
    for step in range(n - 1):
        nxt = int(np.argmin(best))
        i[step], j[step], w[step] = parent[nxt], nxt, best[nxt]
        done[nxt] = True
        closer = dist[nxt] < best
        closer &= ~done
        best[closer] = dist[nxt][closer]
        parent[closer] = nxt
        best[nxt] = np.inf
    return i, j, w


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reference_data(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform data over the bounding box of X's principal axes (gap statistic)."""
    mean = X.mean(axis=0)
    centred = X - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    rotated = centred @ vt.T
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    return cast(np.ndarray, rng.uniform(lo, hi, size=rotated.shape) @ vt + mean)


def _silhouette_for_k(X: np.ndarray, k: int, random_state: int) -> float:
    if k < 2 or k > len(X) - 1 or k > len(np.unique(X, axis=0)):
        return math.nan
    labels = kmeans(X, k, n_init=3, random_state=random_state).labels
    if not 2 <= len(np.unique(labels)) <= len(X) - 1:
        return math.nan
    return _silhouette(X, labels)


def _silhouette(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (scikit-learn's value, computed by a compiled kernel
    about fifteen times faster: see :mod:`custseg.cluster._silhouette`)."""
    return silhouette(X, labels)


def _reference_silhouette(
    X: np.ndarray, k: int, *, random_state: int, n_references: int
) -> tuple[float, float]:
    rng = np.random.default_rng(random_state + 1)
    if len(X) > 2_000:
        X = X[rng.choice(len(X), 2_000, replace=False)]
    values = []
    for _ in range(n_references):
        values.append(_silhouette_for_k(_reference_data(X, rng), k, random_state))
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return math.nan, math.nan
    return float(np.mean(clean)), float(np.std(clean))


def _example_selection() -> KSelection:
    """A hand-made selection for the doctests."""
    ks = (4, 5, 6, 7)
    return KSelection(
        k_values=ks,
        inertia=(40.0, 30.0, 27.0, 25.0),
        silhouette=(0.40, 0.55, 0.53, 0.52),
        calinski_harabasz=(100.0, 150.0, 140.0, 130.0),
        davies_bouldin=(0.9, 0.6, 0.65, 0.7),
        knee=5,
        votes={"silhouette": 5, "elbow": 5},
        candidates=(5, 6, 7),
        k=5,
        rule="auto",
        reason="",
        structure="clear",
        structure_reason="",
        silhouette_at_k=0.55,
        reference_silhouette=0.4,
        reference_silhouette_sd=0.01,
        n_rows=200,
        sample_size=200,
        silhouette_sample_size=200,
        random_state=0,
        tie_stability={5: 0.92, 6: 0.91},
        runners_up=(
            RunnerUp(k=6, silhouette=0.53, stability=0.91),
            RunnerUp(k=7, silhouette=0.52, stability=None),
        ),
    )
