from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler
from tests.conftest import INCOME, SPENDING, planted_blobs

from custseg import ParameterError, choose_k
from custseg.cluster._choose_k import _knee, _reconcile


def test_mall_income_spending_gives_five(mall_df):
    X = StandardScaler().fit_transform(mall_df[[INCOME, SPENDING]])
    sel = choose_k(X)
    assert sel.k == 5
    assert sel.silhouette_at_k >= 0.55
    assert sel.structure == "clear"
    assert sel.knee == 5 and sel.votes["silhouette"] == 5
    assert "k = 5" in sel.reason and "3 of 4 indices agree" in sel.reason


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
