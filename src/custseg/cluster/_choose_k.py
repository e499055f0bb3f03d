"""Choose the number of segments k, and say whether the data have segments at all.

The rule (documented in docs/choosing-k.md, and stated in every run's summary):

1. For each k in the range, fit K-Means and compute four indices: inertia (whose
   elbow is found by the Kneedle algorithm, ``kneed``), silhouette (higher is
   better), Calinski-Harabasz (higher is better) and Davies-Bouldin (lower is
   better). Each index *votes* for one k: the knee, the best silhouette, the best
   CH and the best DB.
2. Candidates are the k whose silhouette is within ``SILHOUETTE_TOLERANCE`` of
   the best silhouette: a knee or a CH peak that the silhouette clearly rejects is
   not taken, however the knee detector feels.
3. Among the candidates the k with the most votes wins; a tie goes to the
   smaller k (fewer segments are easier to act on).

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
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from custseg.cluster._lloyd import assign, kmeans
from custseg.cluster._silhouette import silhouette
from custseg.errors import InputError, ParameterError

__all__ = [
    "SILHOUETTE_TOLERANCE",
    "STRUCTURE_MARGIN",
    "KSelection",
    "choose_k",
    "decide_k",
    "default_n_init",
    "draw_samples",
    "score_fits",
    "score_k",
    "structure_check",
]

SILHOUETTE_TOLERANCE = 0.05
STRUCTURE_MARGIN = 0.05
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

    @property
    def has_structure(self) -> bool:
        """False when the data show no clear segment structure."""
        return self.structure != "none"

    def _repr_html_(self) -> str:
        """Jupyter: the choice and its reason, the curves and the index table."""
        from custseg.report._notebook import kselection_html

        return kselection_html(self)

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
    kmin, kmax = _check_range(k_range, n, n_clusters)
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

    inertia, sil, ch, db, _ = score_fits(Xs, Xsil, sil_idx, ks, fit_k, progress)

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
    extra scores (a mixture's BIC and AIC), one value per k."""
    inertia: list[float] = []
    sil: list[float] = []
    ch: list[float] = []
    db: list[float] = []
    extra: dict[str, list[float]] = {}
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
) -> KSelection:
    """Apply the rule to the scores of each k and run the structure check.

    This is the engine-neutral half of :func:`choose_k`: the Spark engine
    scores k with Spark and decides here. ``X_sil`` is the prepared sample the
    silhouettes were computed on (the structure check draws its random
    reference data from its bounding box).

    ``extra_votes`` are further indices' votes (a Gaussian mixture's BIC);
    ``tie_breaker(k)`` scores k that tie on votes (higher is better).
    """
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
        k, candidates, reason = _reconcile(ks, sil, votes, tie_breaker, tie_stability)
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
        extra_scores=dict(extra_scores or {}),
        tie_stability=tie_stability,
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


def _check_range(
    k_range: Sequence[int], n: int, n_clusters: int | None
) -> tuple[int, int]:
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
    elif n < 3:
        raise ParameterError(
            f"choosing k needs at least 3 rows; the data have {n}. "
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
    if len(ks) < 3:
        return None
    values = np.asarray(inertia, dtype=np.float64)
    # A flat curve (every k fits equally well: tied or repeated rows) has no
    # knee, and kneed would divide 0 by 0 normalising it.
    if not np.isfinite(values).all() or values.max() == values.min():
        return None
    from kneed import KneeLocator

    locator = KneeLocator(
        ks, inertia, curve="convex", direction="decreasing", online=False
    )
    return int(locator.knee) if locator.knee is not None else None


def _reconcile(
    ks: list[int],
    sil: list[float],
    votes: dict[str, int | None],
    tie_breaker: Callable[[int], float] | None = None,
    tie_stability: dict[int, float] | None = None,
) -> tuple[int, tuple[int, ...], str]:
    valid = [s for s in sil if not math.isnan(s)]
    if not valid:
        k = votes["elbow"] or ks[0]
        return (
            k,
            (k,),
            f"k = {k}: the silhouette could not be computed; used the elbow.",
        )
    best = max(valid)
    candidates = tuple(
        k
        for k, s in zip(ks, sil, strict=True)
        if not math.isnan(s) and s >= best - SILHOUETTE_TOLERANCE
    )
    tally = {k: sum(1 for v in votes.values() if v == k) for k in candidates}
    top = max(tally.values())
    tied = [c for c in candidates if tally[c] == top]
    k = min(tied)
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
    parts = [f"k = {k} (silhouette {s_k:.2f})"]
    if agree:
        parts.append(": " + _join([f"{_INDEX_WORDS[a]} at {k}" for a in agree]))
    text = (
        "".join(parts)
        + f" ({len(agree)} of {sum(v is not None for v in votes.values())} indices agree)."
    )
    if disagree:
        text += " " + _cap(_join(disagree)) + "."
        if len(candidates) > 1:
            text += (
                f" Among the k whose silhouette is within {SILHOUETTE_TOLERANCE} of "
                f"the best ({', '.join(map(str, candidates))}), {k} has the most "
                "support"
                + (
                    ", and the fewest segments on a tie."
                    if list(tally.values()).count(top) > 1 and not stable_note
                    else "."
                )
            )
    return k, candidates, text + stable_note


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
    return rng.uniform(lo, hi, size=rotated.shape) @ vt + mean


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
