from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler
from tests.conftest import INCOME, SPENDING, planted_blobs

from custseg import ParameterError, choose_k
from custseg.cluster._choose_k import (
    SEPARATION_RATIO,
    VOTE_WEIGHTS,
    KSelection,
    _knee,
    _reconcile,
    decide_k,
    support_scores,
)


def _benchmark_cases():
    """The planted cases of benchmarks/choose_k.py, so tests and benchmark
    draw the same data."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "choose_k.py"
    spec = importlib.util.spec_from_file_location("choose_k_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


CASES = _benchmark_cases()


def test_mall_income_spending_gives_five(mall_df):
    X = StandardScaler().fit_transform(mall_df[[INCOME, SPENDING]])
    sel = choose_k(X)
    assert sel.k == 5
    assert sel.silhouette_at_k >= 0.55
    assert sel.structure == "clear"
    assert sel.knee == 5 and sel.votes["silhouette"] == 5
    assert "k = 5" in sel.reason and "3 of 4 indices agree" in sel.reason
    # k = 6 and 7 score nearly as well, but cut a group where the customers'
    # density has no dip: they are not offered as sound alternatives.
    assert sel.silhouette[sel.k_values.index(6)] >= sel.silhouette_at_k - 0.05
    assert sel.support[sel.k_values.index(5)] == "valley"
    assert sel.support[sel.k_values.index(6)] == "none"
    assert sel.runners_up == () and sel.runners_up_text() == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "k", "at_least"),
    [
        ("unequal", 8, 7),  # eight groups, 400 down to 20 customers
        ("diamonds", 2, 9),  # two separated, elongated uniform diamonds
        ("bananas", 2, 9),  # two separated half-moons
        ("overlap", 2, 8),  # two overlapping groups, spreads 1 and 2.5
    ],
)
def test_harder_planted_structure_is_recovered(case, k, at_least):
    hits = []
    for seed in range(10):
        X, truth = CASES[case](seed)
        assert truth == k
        sel = choose_k(StandardScaler().fit_transform(X), random_state=seed)
        assert sel.has_structure
        hits.append(sel.k)
    assert sum(h == k for h in hits) >= at_least, f"{case}: chose {hits}"


def test_separated_bananas_are_two_although_every_index_says_more():
    X, _ = CASES["bananas"](0)
    sel = choose_k(StandardScaler().fit_transform(X), random_state=0)
    assert sel.k == 2
    assert all(v != 2 for v in sel.votes.values())
    assert sel.support[0] == "gap" and "gap" not in sel.support[1:]
    assert "Only at k = 2 are the segments separated by clear gaps" in sel.reason
    assert "although no index votes for it" in sel.reason


def test_runners_up_are_the_other_close_and_equally_supported_k():
    X, _ = CASES["unequal"](0)
    sel = choose_k(StandardScaler().fit_transform(X), random_state=0)
    others = [c for c in sel.candidates if c != sel.k]
    assert len(others) >= 2  # several k are close here
    assert [r["k"] for r in sel.runners_up] == sorted(others)
    level = sel.support[sel.k_values.index(sel.k)]
    for r in sel.runners_up:
        i = sel.k_values.index(r["k"])
        assert r["silhouette"] == sel.silhouette[i]
        assert r["silhouette"] >= max(sel.silhouette) - 0.05
        assert sel.support[i] == level
        assert r["stability"] is None  # no tie-breaker was given
    text = sel.runners_up_text()
    assert text.startswith("Also sound: k = ")
    assert f"(silhouette {sel.runners_up[0]['silhouette']:.2f})" in text


@pytest.mark.slow
def test_run_printout_summary_and_report_show_the_runners_up(tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from custseg.cli import cli

    X, _ = CASES["unequal"](0)
    table = tmp_path / "customers.csv"
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(table, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(table), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    runners = summary["k_runners_up"]
    assert summary["k"] == 8 and [r["k"] for r in runners] == [5, 6, 7]
    line = next(x for x in result.output.splitlines() if x.startswith("Also sound"))
    assert line.startswith("Also sound: k = 5 (silhouette ")
    assert f"k = 7 (silhouette {runners[2]['silhouette']:.2f}" in line
    html = (out / "report.html").read_text()
    assert "<strong>Also sound:</strong> k = 5 (silhouette" in html


def test_runners_up_carry_the_stability_of_a_tie():
    ks = [2, 3, 4, 5, 6]
    nan = math.nan
    stability = {3: 0.70, 4: 0.95, 5: 0.80}
    sel = decide_k(
        ks,
        [nan] * 5,  # no elbow
        [0.30, 0.50, 0.52, 0.51, 0.20],  # candidates 3, 4, 5; silhouette votes 4
        [1.0, 5.0, 2.0, 2.0, 1.0],  # Calinski-Harabasz votes 3
        [2.0, 1.0, 1.5, 0.5, 2.0],  # Davies-Bouldin votes 5
        np.random.default_rng(0).normal(size=(60, 2)),
        n_clusters=None,
        n_rows=60,
        sample_size=60,
        random_state=0,
        tie_breaker=stability.__getitem__,
    )
    assert sel.k == 4 and sel.tie_stability == stability
    assert sel.runners_up == (
        {"k": 3, "silhouette": 0.50, "stability": 0.70},
        {"k": 5, "silhouette": 0.51, "stability": 0.80},
    )
    assert sel.runners_up_text() == (
        "Also sound: k = 3 (silhouette 0.50, stability 0.70) and "
        "k = 5 (silhouette 0.51, stability 0.80)."
    )
    # the model file's JSON round trip keeps them
    plain = json.loads(json.dumps(sel.to_dict(), allow_nan=False))
    plain.pop("has_structure")
    for key in ("k_values", "inertia", "silhouette", "calinski_harabasz"):
        plain[key] = tuple(nan if v is None else v for v in plain[key])
    again = KSelection(**plain)
    assert again.runners_up == sel.runners_up
    assert again.runners_up_text() == sel.runners_up_text()


@pytest.mark.slow
@pytest.mark.parametrize("k", [3, 4, 5, 6, 7, 8])
def test_planted_k_is_recovered(k):
    hits = 0
    for seed in range(10):
        X, _ = planted_blobs(k, seed)
        sel = choose_k(StandardScaler().fit_transform(X), random_state=seed)
        hits += sel.k == k
        assert sel.structure == "clear"
    assert hits >= 9, f"planted k={k} recovered in only {hits}/10 seeds"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(300, 2), (600, 4)], ids=["2d", "4d"])
def test_uniform_noise_has_no_structure(seed, shape):
    X = np.random.default_rng(seed).uniform(size=shape)
    sel = choose_k(X, random_state=seed)
    assert sel.structure == "none"
    assert not sel.has_structure
    assert sel.structure_reason.startswith("No clear segment structure was found")


def test_single_gaussian_has_no_structure():
    X = np.random.default_rng(3).normal(size=(500, 3))
    assert choose_k(X).structure == "none"


def test_reconcile_rule_by_hand():
    ks = [2, 3, 4, 5, 6]
    sil = [0.30, 0.50, 0.52, 0.54, 0.40]
    # candidates within 0.05 of 0.54: 3, 4, 5. Votes: elbow 3, CH 3, silhouette 5, DB 4.
    votes = {"silhouette": 5, "elbow": 3, "calinski_harabasz": 3, "davies_bouldin": 4}
    k, candidates, reason = _reconcile(ks, sil, votes)
    assert (k, candidates) == (3, (3, 4, 5))
    assert "2 of 4 indices agree" in reason
    # a knee the silhouette clearly rejects is not taken
    votes = {"silhouette": 5, "elbow": 2, "calinski_harabasz": 2, "davies_bouldin": 5}
    assert _reconcile(ks, sil, votes)[0] == 5
    # a tie goes to the smaller k
    votes = {
        "silhouette": 5,
        "elbow": 4,
        "calinski_harabasz": None,
        "davies_bouldin": None,
    }
    assert _reconcile(ks, sil, votes)[0] == 4
    # choose_k breaks such a tie by the silhouette instead
    k, _, reason = _reconcile(ks, sil, votes, tie="silhouette")
    assert k == 5 and "the highest silhouette of the tied k" in reason


def test_the_elbow_vote_counts_half():
    ks = [2, 3, 4, 5, 6]
    sil = [0.30, 0.50, 0.52, 0.54, 0.40]
    votes = {"silhouette": 4, "elbow": 3, "calinski_harabasz": 3, "davies_bouldin": 4}
    assert _reconcile(ks, sil, votes)[0] == 3  # 2 votes each: fewer segments
    k, _, reason = _reconcile(ks, sil, votes, weights=VOTE_WEIGHTS)
    assert k == 4 and "(the elbow's vote counts half)" in reason


def test_only_the_best_supported_k_are_considered():
    ks = [2, 3, 4, 5, 6]
    sil = [0.46, 0.50, 0.58, 0.57, 0.55]
    votes = {"silhouette": 4, "elbow": 4, "calinski_harabasz": 6, "davies_bouldin": 5}
    assert _reconcile(ks, sil, votes)[0] == 4
    # k = 2 splits along a gap; every larger k cuts through a group
    k, candidates, reason = _reconcile(ks, sil, votes, support=[2, 1, 1, 0, 0])
    assert (k, candidates) == (2, (2,))
    assert "Only at k = 2 are the segments separated by clear gaps" in reason
    # no gap anywhere: the density dips decide
    k, candidates, reason = _reconcile(ks, sil, votes, support=[1, 1, 0, 1, 0])
    assert (k, candidates) == (5, (5,))
    assert "Only at k = 2, 3 and 5 is every segment separated" in reason


def test_support_scores_tell_a_gap_from_a_cut():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal([9, 0], 1, (300, 2))])
    apart = np.repeat([0, 1], 300)
    sep, dip = support_scores(X, apart)
    assert sep >= SEPARATION_RATIO and dip < 0.1
    across = (X[:, 1] > 0).astype(int)  # cuts both groups in half
    sep, dip = support_scores(X, across)
    assert sep < 1.5 and dip > 0.9


def test_repeated_values_and_outliers_make_no_gap():
    # Integer features: many customers share each value. Neighbours at
    # distance 0 must not pass for a gap between two ranges of values.
    X = np.random.default_rng(1).integers(0, 20, size=(3_000, 2)).astype(float)
    sep, _ = support_scores(X, (X[:, 0] < 10).astype(int))
    assert sep < SEPARATION_RATIO
    # Five far-away customers are not a segment of their own.
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal(50, 1, (5, 2))])
    assert support_scores(X, np.repeat([0, 1], [500, 5])) == (0.0, 1.0)


def test_silhouette_uses_a_sample_on_large_data():
    X, _ = planted_blobs(3, 0, n_per=4_000, dim=2)
    sel = choose_k(
        X.to_numpy(), (2, 4), silhouette_sample_size=1_000, sample_size=5_000
    )
    assert sel.sample_size == 5_000 and sel.silhouette_sample_size == 1_000
    assert sel.k == 3


def test_user_k_overrides(mall_df):
    X = StandardScaler().fit_transform(mall_df[[INCOME, SPENDING]])
    sel = choose_k(X, n_clusters=3)
    assert (
        sel.k == 3 and sel.rule == "user" and sel.reason == "k = 3 was set by the user."
    )
    assert not math.isnan(sel.silhouette_at_k)


def test_more_segments_than_rows():
    with pytest.raises(ParameterError, match="cannot make 9 segments from 5 rows"):
        choose_k(np.arange(10.0).reshape(5, 2), n_clusters=9)


@pytest.mark.parametrize("k_range", [(1, 5), (6, 3), ("a", 3)])
def test_bad_k_range(k_range):
    with pytest.raises(ParameterError):
        choose_k(np.random.default_rng(0).normal(size=(50, 2)), k_range)


@pytest.mark.parametrize(
    "inertia", [[0.004, 0.004, 0.004], [5.0, math.nan, 1.0], [math.inf, 2.0, 1.0]]
)
def test_a_flat_or_undefined_elbow_has_no_knee(inertia):
    """GMM on a few distinct values fits every k equally well: kneed divided
    0 by 0 (a RuntimeWarning; found by tests/test_properties.py)."""
    assert _knee([2, 3, 4], inertia) is None


def test_the_elbow_is_kneedle_as_kneed_finds_it():
    """custseg's own Kneedle (kneed costs 1.5 s of imports) finds the same
    elbow as the kneed package on smooth, noisy, stepped and tied curves."""
    from kneed import KneeLocator

    rng = np.random.default_rng(0)
    found = set()
    for t in range(3000):
        ks = list(range(2, 2 + int(rng.integers(3, 15))))
        m = len(ks)
        if t % 3 == 0:
            y = np.sort(rng.random(m))[::-1] * rng.choice([1.0, 1e6])
        elif t % 3 == 1:
            y = 1 / np.arange(1, m + 1) ** rng.uniform(0.2, 3) + rng.normal(0, 0.02, m)
        else:
            y = rng.integers(0, 5, m).astype(float)
        if y.max() == y.min():
            continue
        ref = KneeLocator(ks, list(y), curve="convex", direction="decreasing").knee
        ours = _knee(ks, list(y))
        assert ours == (None if ref is None else int(ref)), (ks, list(y))
        found.add(ours)
    assert None in found and len(found) > 5  # both outcomes, many knees
