"""custseg's k-prototypes against the ``kmodes`` package, on planted mixed data.

Usage::

    python benchmarks/kprototypes.py [--sizes 20000 100000] [--kmodes-sizes 5000 20000]
                                     [--k 5] [--repeats 3]

Tables have 4 numeric columns (standardised) and 3 categorical columns (4, 6 and 8
categories) drawn from five planted groups (fixed seed): each group is a Gaussian
blob, and each of its rows takes the group's category with probability 0.85, else a
uniform one. ``gamma`` is 0.5, the ``kmodes`` default for standardised columns.

Measured, in wall seconds on this machine:

- ours, one fit (``n_init=1``) at ``--k`` clusters, best of ``--repeats`` runs, and
  choosing k: one ``kprototypes`` call for each k in 2..10 with ``n_init=3``
  (27 seeded fits), best of two runs;
- ``kmodes.kprototypes.KPrototypes`` (if installed; not a custseg dependency:
  ``pip install kmodes``) at ``--kmodes-sizes``, one fit (``n_init=1``, its
  default Cao initialisation, ``n_jobs=1``) at the same k, run once.

Cost agreement: kmodes' ``cost_``, the same prototypes scored by our
``assign_prototypes`` (the cost functions must agree), and our own costs. The
first call of the process, which loads numba's on-disk cache (or compiles, a few
seconds, on a fresh checkout), is timed apart and excluded.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import adjusted_rand_score

from custseg.cluster._kprototypes import assign_prototypes, kprototypes

GAMMA = 0.5
N_CATS = (4, 6, 8)
K_RANGE = range(2, 11)


def planted(n: int, groups: int = 5, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Numeric blobs with categorical columns tied to the blob (85%)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(groups, 4))
    own = [rng.permutation(c)[np.arange(groups) % c] for c in N_CATS]
    y = rng.integers(groups, size=n)
    X = centres[y] + rng.normal(size=(n, 4))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    codes = np.empty((n, len(N_CATS)), dtype=np.int64)
    for q, c in enumerate(N_CATS):
        keep = rng.random(n) < 0.85
        codes[:, q] = np.where(keep, own[q][y], rng.integers(c, size=n))
    return X, codes, y


def best_of(repeats: int, fn: Callable[..., object], *args: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def fit_once(X: np.ndarray, codes: np.ndarray, k: int) -> None:
    kprototypes(X, codes, k, gamma=GAMMA, n_init=1)


def choose_k(X: np.ndarray, codes: np.ndarray) -> None:
    for k in K_RANGE:
        kprototypes(X, codes, k, gamma=GAMMA, n_init=3)


def run_kmodes(X: np.ndarray, codes: np.ndarray, k: int) -> dict[str, object]:
    from kmodes.kprototypes import KPrototypes  # type: ignore[import-untyped]

    data = np.hstack([X, codes.astype(np.float64)])
    cat = list(range(X.shape[1], data.shape[1]))
    model = KPrototypes(n_clusters=k, gamma=GAMMA, n_init=1, random_state=0, n_jobs=1)
    start = time.perf_counter()
    model.fit(data, categorical=cat)
    seconds = time.perf_counter() - start
    centroids = np.asarray(model.cluster_centroids_, dtype=np.float64)
    num, modes = centroids[:, : X.shape[1]], centroids[:, X.shape[1] :]
    _, rescored = assign_prototypes(X, codes, num, modes.astype(np.int64), GAMMA)
    return {
        "seconds": seconds,
        "cost": float(model.cost_),
        "rescored": rescored,
        "labels": np.asarray(model.labels_),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--kmodes-sizes", type=int, nargs="*", default=[5_000, 20_000])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import kmodes  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        print("kmodes is not installed: only our timings (pip install kmodes)")
        args.kmodes_sizes = []

    X, codes, _ = planted(1_000)
    start = time.perf_counter()
    kprototypes(X, codes, args.k, gamma=GAMMA, n_init=1)
    assign_prototypes(X, codes, X[: args.k], codes[: args.k], GAMMA)
    print(
        f"first call (numba cache load or compile): {time.perf_counter() - start:.2f} s"
    )

    speed, costs = [], []
    for n in sorted(set(args.sizes) | set(args.kmodes_sizes)):
        X, codes, y = planted(n)
        print(f"{n:,} rows ...", flush=True)
        one = best_of(args.repeats, fit_once, X, codes, args.k)
        sweep = best_of(2, choose_k, X, codes)
        ours1 = kprototypes(X, codes, args.k, gamma=GAMMA, n_init=1)
        ours3 = kprototypes(X, codes, args.k, gamma=GAMMA, n_init=3)
        km = run_kmodes(X, codes, args.k) if n in args.kmodes_sizes else None
        row = [f"{n:,}", f"{one:.4f}", f"{sweep:.2f}"]
        if km is None:
            row += ["-", "-"]
        else:
            secs = float(km["seconds"])  # type: ignore[arg-type]
            row += [f"{secs:.1f}", f"**{secs / one:,.0f}x**"]
        speed.append(row)
        if km is not None:
            kc, rc = float(km["cost"]), float(km["rescored"])  # type: ignore[arg-type]
            costs.append(
                [
                    f"{n:,}",
                    f"{kc:,.1f}",
                    f"{rc:,.1f} ({'equal' if rc == kc else f'{abs(rc - kc) / kc:.0e}'})",
                    f"{ours1.cost:,.1f} ({ours1.cost / kc:.3f})",
                    f"{ours3.cost:,.1f} ({ours3.cost / kc:.3f})",
                    f"{adjusted_rand_score(y, km['labels']):.3f}",  # type: ignore[arg-type]
                    f"{adjusted_rand_score(y, ours1.labels):.3f}",
                    f"{adjusted_rand_score(y, ours3.labels):.3f}",
                ]
            )

    print()
    print(
        f"| rows | ours: 1 fit, k={args.k} (s) | ours: k=2..10, n_init=3 (s) "
        f"| kmodes: 1 fit, k={args.k} (s) | kmodes / ours (1 fit) |"
    )
    print("|---|---|---|---|---|")
    for row in speed:
        print("| " + " | ".join(row) + " |")
    if costs:
        print()
        print(
            "| rows | kmodes cost | kmodes prototypes, our cost (rel. diff.) "
            "| ours, 1 fit (/ kmodes) | ours, n_init=3 (/ kmodes) "
            "| ARI kmodes | ARI ours, 1 fit | ARI ours, n_init=3 |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for row in costs:
            print("| " + " | ".join(row) + " |")
    print()
    print(
        f"k={args.k}, gamma={GAMMA}; wall seconds: ours best of {args.repeats} "
        "(the k sweep best of 2), kmodes one run. ARI against the planted groups."
    )


if __name__ == "__main__":
    main()
