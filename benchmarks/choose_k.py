"""How often the k choice is right, against each index on its own.

Usage::

    python benchmarks/choose_k.py [--seeds 10] [--cases unequal bananas ...]

Each case draws planted data for every seed, standardises it (as ``custseg
run`` does) and runs :func:`custseg.choose_k` with k from 2 to 10 and
``random_state`` = the seed. A hit is the planted k; on uniform noise the right
answer is "no structure" (``KSelection.has_structure`` false). The single
indices are read from the same run's ``votes`` (the highest silhouette, the
highest Calinski-Harabasz, the lowest Davies-Bouldin, the Kneedle elbow of
inertia): none of them can say "no structure", so on noise each counts as a
miss. The mall case is the one bundled table (income and spending score); its
seeds vary only the K-Means starts and samples. The 2-D shapes are turned by a
random angle per seed (before standardising, so their aspect changes too). The
last column lists what custseg chose where it missed. ``--seeds 10`` takes
about half a minute on 2 cores; docs/choosing-k.md has the table.

The cases:

``planted k=3`` .. ``planted k=8``
    k = 3..8 well separated Gaussian blobs in 4-D, 60 customers each (centres
    at least 8 standard deviations apart, as ``tests/conftest.py``).
``unequal``
    8 such blobs in 3-D of very unequal sizes: 400 customers down to 20, a
    geometric series (the smallest a twentieth of the largest).
``diamonds``
    2 separated, elongated diamonds in 2-D (uniform, 3 times longer than
    wide), side by side along their long axis.
``bananas``
    2 separated half-moons in 2-D (arcs with noise), one above the other.
``overlap``
    2 overlapping Gaussian groups in 2-D with unequal spread (standard
    deviations 1 and 2.5, centres 5.5 apart, 400 and 300 customers).
``noise``
    uniform noise, 300 x 2 and 600 x 4 on alternate seeds: no structure.
``mall``
    the mall customers' income and spending score: k = 5.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg import choose_k
from custseg.datasets import load_mall_customers

INDICES = ("silhouette", "calinski_harabasz", "davies_bouldin", "elbow")
HEADERS = ("custseg", "silhouette", "CH", "DB", "elbow")
Case = Callable[[int], tuple[np.ndarray, int | None]]


def planted(k: int, seed: int, sizes: list[int], dim: int = 4) -> np.ndarray:
    """Gaussian blobs (sd 1) with centres at least 8 apart in [-20, 20]^dim."""
    rng = np.random.default_rng(seed)
    centres: list[np.ndarray] = []
    while len(centres) < k:
        c = rng.uniform(-20, 20, size=dim)
        if all(np.linalg.norm(c - o) >= 8 for o in centres):
            centres.append(c)
    return np.vstack(
        [rng.normal(c, 1.0, size=(n, dim)) for c, n in zip(centres, sizes, strict=True)]
    )


def planted_k(k: int) -> Case:
    def make(seed: int) -> tuple[np.ndarray, int | None]:
        return planted(k, seed, [60] * k), k

    return make


def unequal(seed: int) -> tuple[np.ndarray, int | None]:
    sizes = np.round(400 * (1 / 20) ** (np.arange(8) / 7)).astype(int).tolist()
    return planted(8, seed, sizes, dim=3), 8


def _rotate(X: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return X @ np.array([[c, -s], [s, c]])


def diamonds(seed: int) -> tuple[np.ndarray, int | None]:
    rng = np.random.default_rng(seed)
    parts = []
    for centre in (-4.0, 4.0):
        # uniform in the diamond |x| / 3 + |y| <= 1 (rejection sampling)
        pts = rng.uniform([-3, -1], [3, 1], size=(1200, 2))
        pts = pts[np.abs(pts[:, 0]) / 3 + np.abs(pts[:, 1]) <= 1][:250]
        parts.append(pts + [centre, 0.0])
    return _rotate(np.vstack(parts), rng.uniform(0, np.pi)), 2


def bananas(seed: int) -> tuple[np.ndarray, int | None]:
    rng = np.random.default_rng(seed)
    n = 250
    t = rng.uniform(0, np.pi, size=(2, n))
    upper = np.column_stack([np.cos(t[0]), np.sin(t[0])])
    lower = np.column_stack([np.cos(t[1]), -np.sin(t[1]) - 0.6])
    X = np.vstack([upper, lower]) + rng.normal(0, 0.08, size=(2 * n, 2))
    return _rotate(X, rng.uniform(0, np.pi)), 2


def overlap(seed: int) -> tuple[np.ndarray, int | None]:
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [rng.normal([0, 0], 1.0, size=(400, 2)), rng.normal([5.5, 0], 2.5, (300, 2))]
    )
    return _rotate(X, rng.uniform(0, np.pi)), 2


def noise(seed: int) -> tuple[np.ndarray, int | None]:
    shape = (300, 2) if seed % 2 == 0 else (600, 4)
    return np.random.default_rng(seed).uniform(size=shape), None


def mall(seed: int) -> tuple[np.ndarray, int | None]:
    df = load_mall_customers()
    return df[["Annual Income (k$)", "Spending Score (1-100)"]].to_numpy(), 5


CASES: dict[str, Case] = {
    **{f"planted k={k}": planted_k(k) for k in range(3, 9)},
    "unequal": unequal,
    "diamonds": diamonds,
    "bananas": bananas,
    "overlap": overlap,
    "noise": noise,
    "mall": mall,
}


def run_case(case: Case, seeds: int) -> tuple[list[int], list[str]]:
    """Hits of custseg and of each index (HEADERS order), and custseg's misses."""
    hits = [0] * len(HEADERS)
    misses: list[str] = []
    for seed in range(seeds):
        X, truth = case(seed)
        sel = choose_k(StandardScaler().fit_transform(X), (2, 10), random_state=seed)
        if truth is None:
            ok = not sel.has_structure
            if not ok:
                misses.append(f"k={sel.k} ({sel.structure})")
        else:
            ok = sel.has_structure and sel.k == truth
            if not ok:
                misses.append(f"k={sel.k}" + ("" if sel.has_structure else " (none)"))
        hits[0] += ok
        for i, name in enumerate(INDICES, start=1):
            hits[i] += truth is not None and sel.votes[name] == truth
    return hits, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per case")
    parser.add_argument("--cases", nargs="*", choices=list(CASES), default=None)
    args = parser.parse_args()
    names = args.cases or list(CASES)
    width = max(len(n) for n in names) + 2
    print(f"{'case':<{width}}" + "".join(f"{h:>12}" for h in HEADERS) + "  misses")
    totals = [0] * len(HEADERS)
    start = time.perf_counter()
    for name in names:
        hits, misses = run_case(CASES[name], args.seeds)
        totals = [t + h for t, h in zip(totals, hits, strict=True)]
        cells = "".join(f"{f'{h}/{args.seeds}':>12}" for h in hits)
        print(f"{name:<{width}}{cells}  {', '.join(misses)}", flush=True)
    n = args.seeds * len(names)
    print(f"{'total':<{width}}" + "".join(f"{f'{t}/{n}':>12}" for t in totals))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
