"""The algorithms behind --algorithm: planted structure, every row kept,
prediction from saved models, stability, and the CLI on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from tests.conftest import INCOME, MALL_CSV, SPENDING, WHOLESALE_CSV, planted_blobs

from custseg import Segmenter, load_model
from custseg.cli import cli
from custseg.cluster._algorithms import ALGORITHMS, check_algorithm, within_ss
from custseg.cluster._choose_k import _reconcile
from custseg.errors import InputError, ParameterError


@pytest.mark.parametrize(
    "algorithm", ["kmeans", "minibatch-kmeans", "gmm", "agglomerative"]
)
def test_planted_blobs_are_recovered(algorithm):
    """Each algorithm finds the planted k and partition of separated blobs."""
    df, truth = planted_blobs(4, seed=3)
    seg = Segmenter(algorithm=algorithm, stability_resamples=0).fit(df)
    assert seg.n_clusters_ == 4
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9


def test_hdbscan_recovers_moons_and_keeps_noise_rows():
    """Two interleaved moons (which K-Means cuts wrongly) plus scattered noise:
    HDBSCAN finds the moons, and the noise rows stay in the output unassigned."""
    X, truth = make_moons(600, noise=0.06, random_state=0)
    rng = np.random.default_rng(0)
    noise = rng.uniform([-1.5, -1.0], [2.5, 1.5], size=(20, 2))
    df = pd.DataFrame(np.vstack([X, noise]), columns=["a", "b"])
    seg = Segmenter(algorithm="hdbscan", stability_resamples=0, scaler="none").fit(df)
    assert seg.n_clusters_ == 2
    assert adjusted_rand_score(truth, seg.labels_[:600]) >= 0.9
    kmeans = Segmenter(n_clusters=2, stability_resamples=0, scaler="none").fit(df)
    assert adjusted_rand_score(truth, kmeans.labels_[:600]) < 0.6
    unassigned = seg.labels_ < 0
    assert unassigned.any()
    assert len(seg.excluded_rows_) == unassigned.sum()
    assert (
        seg.excluded_rows_["row"].tolist() == (np.flatnonzero(unassigned) + 1).tolist()
    )
    out = seg.segment_names(seg.labels_)
    assert set(out[unassigned]) == {"unassigned"}


def test_hdbscan_varied_density_blobs():
    X, truth = make_blobs(
        [300, 200, 100],
        centers=[[0, 0], [6, 6], [12, 0]],
        cluster_std=[0.4, 1.0, 1.6],
        random_state=2,
    )
    df = pd.DataFrame(X, columns=["a", "b"])
    seg = Segmenter(algorithm="hdbscan", stability_resamples=0).fit(df)
    assert seg.n_clusters_ == 3
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9


def mixed_blobs(n_per: int = 150, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric blobs whose categories are tied to the blob (85% of rows)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]], dtype=float)
    channels = np.array(["web", "store", "phone", "app"])
    regions = np.array(["north", "south", "east", "west"])
    frames, truth = [], []
    for c, centre in enumerate(centres):
        num = rng.normal(centre, 1.0, size=(n_per, 2))
        own = rng.random(n_per) < 0.85
        ch = np.where(own, channels[c], rng.choice(channels, n_per))
        rg = np.where(rng.random(n_per) < 0.85, regions[c], rng.choice(regions, n_per))
        frames.append(
            pd.DataFrame({"x": num[:, 0], "y": num[:, 1], "channel": ch, "region": rg})
        )
        truth += [c] * n_per
    return pd.concat(frames, ignore_index=True), np.array(truth)


def test_kprototypes_recovers_mixed_blobs():
    df, truth = mixed_blobs()
    seg = Segmenter(algorithm="kprototypes", stability_resamples=0).fit(df)
    assert seg.selection_.categorical == ("channel", "region")
    assert seg.n_clusters_ == 4
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9
    assert seg.predictor_["method"] == "prototypes"
    assert seg.predictor_["modes"].shape == (4, 2)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_saved_model_assigns_new_customers(algorithm, tmp_path, mall_df):
    """Every algorithm's model file predicts; on the training rows it reproduces
    the training segments at least as often as it says it does."""
    seg = Segmenter(
        algorithm=algorithm, features=[INCOME, SPENDING], stability_resamples=0
    ).fit(mall_df)
    path = tmp_path / "model.skops"
    seg.save(str(path))
    loaded = load_model(path)
    assert loaded.algorithm_ == algorithm
    again = loaded.predict(mall_df)
    assert np.array_equal(again, seg.predict(mall_df))
    agreement = float(np.mean(again == seg.labels_))
    assert agreement >= seg.predict_agreement_ - 1e-9
    assert agreement >= 0.8
    assert 0.8 <= seg.predict_agreement_ <= 1.0
    new = pd.DataFrame({INCOME: [20, 120], SPENDING: [85, 10]})
    labels = loaded.predict(new)
    assert labels.shape == (2,) and (labels < loaded.n_clusters_).all()


def test_sample_fitted_algorithm_assigns_the_rest_by_the_fallback():
    """Above EXACT_ROWS, agglomerative clusters a sample and the fallback assigns
    the others; the model says so and every row still gets a segment."""
    df, truth = planted_blobs(3, seed=5, n_per=4_000, dim=3)
    seg = Segmenter(algorithm="agglomerative", stability_resamples=0).fit(df)
    assert seg.n_fit_rows_ == 10_000 < len(df)
    assert (seg.labels_ >= 0).all()
    assert adjusted_rand_score(truth, seg.labels_) >= 0.99
    assert seg.predictor_["method"] == "centroid"  # blobs: centres reproduce Ward
    assert seg.predict_agreement_ >= 0.99


def test_hdbscan_new_customer_near_noise_is_unassigned(tmp_path):
    X, _ = make_blobs(400, centers=[[0, 0], [10, 10]], cluster_std=0.5, random_state=1)
    df = pd.DataFrame(X, columns=["a", "b"])
    seg = Segmenter(algorithm="hdbscan", stability_resamples=0, scaler="none").fit(df)
    assert seg.predictor_["method"] in ("centroid", "neighbours")
    labels = seg.predict(pd.DataFrame({"a": [0.1, 9.9], "b": [0.0, 10.1]}))
    assert labels[0] != labels[1] and (labels >= 0).all()


def test_stability_is_high_on_blobs_and_lower_on_noise():
    df, _ = planted_blobs(4, seed=1, n_per=100, dim=2)
    blobs = Segmenter(stability_resamples=20).fit(df)
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.uniform(size=(400, 2)), columns=["a", "b"])
    forced = Segmenter(n_clusters=6, stability_resamples=20).fit(noise)
    assert blobs.stability_.overall >= 0.9
    assert min(blobs.stability_.per_segment) >= 0.9
    assert forced.stability_.overall <= blobs.stability_.overall - 0.15
    assert forced.stability_.warnings(forced.segment_names_)


def test_stability_breaks_ties_between_equally_voted_k():
    votes = {"silhouette": 3, "elbow": 4, "calinski_harabasz": 3, "davies_bouldin": 4}
    sil = [0.50, 0.52, 0.51]
    k, _, reason = _reconcile([2, 3, 4], sil, votes)
    assert k == 3  # a tie goes to fewer segments without a tie-breaker
    stability = {3: 0.70, 4: 0.95}
    scores: dict[int, float] = {}
    k, _, reason = _reconcile([2, 3, 4], sil, votes, stability.__getitem__, scores)
    assert k == 4 and scores == stability
    assert "most stable" in reason and "0.95" in reason
    close = {3: 0.94, 4: 0.95}
    k, _, _ = _reconcile([2, 3, 4], sil, votes, close.__getitem__, {})
    assert k == 3  # within 0.02: still the fewer segments


def test_gmm_scores_bic_and_aic_and_bic_votes(mall_df):
    seg = Segmenter(
        algorithm="gmm", features=[INCOME, SPENDING], stability_resamples=0
    ).fit(mall_df)
    ks = seg.k_selection_
    assert set(ks.extra_scores) == {"bic", "aic"}
    assert len(ks.extra_scores["bic"]) == len(ks.k_values)
    best_bic = ks.k_values[int(np.argmin(ks.extra_scores["bic"]))]
    assert ks.votes["bic"] == best_bic
    assert "bic" in ks.to_frame().columns


def test_agglomerative_linkages_and_tree(mall_df):
    for linkage in ("ward", "average", "complete", "single"):
        seg = Segmenter(
            algorithm="agglomerative",
            linkage=linkage,
            n_clusters=5,
            features=[INCOME, SPENDING],
            stability_resamples=0,
        ).fit(mall_df)
        assert seg.n_clusters_ == 5
        assert seg.linkage_.shape == (len(mall_df) - 1, 4)


def test_within_ss_matches_kmeans_inertia():
    X, _ = make_blobs(300, centers=3, random_state=0)
    seg = Segmenter(n_clusters=3, stability_resamples=0).fit(pd.DataFrame(X))
    Z = seg.prepare(pd.DataFrame(X))
    assert within_ss(Z, seg.labels_) == pytest.approx(seg.inertia_, rel=1e-5)


def test_unknown_algorithm_and_hdbscan_without_groups(mall_df):
    with pytest.raises(
        ParameterError, match="unknown algorithm 'dbscan'; choose one of kmeans"
    ):
        Segmenter(algorithm="dbscan").fit(mall_df)
    assert check_algorithm("K-Means") == "kmeans"
    noise = pd.DataFrame(np.random.default_rng(0).uniform(size=(300, 2)))
    with pytest.raises(InputError, match="HDBSCAN found"):
        Segmenter(algorithm="hdbscan", min_cluster_size=150).fit(noise)


def test_same_seed_same_segments_for_every_algorithm(mall_df):
    for algorithm in ALGORITHMS:
        a = Segmenter(algorithm=algorithm, stability_resamples=3).fit(mall_df)
        b = Segmenter(algorithm=algorithm, stability_resamples=3).fit(mall_df)
        assert np.array_equal(a.labels_, b.labels_), algorithm
        assert a.segment_names_ == b.segment_names_
        assert a.stability_.overall == b.stability_.overall


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize("data", [MALL_CSV, WHOLESALE_CSV], ids=["mall", "wholesale"])
def test_cli_runs_every_algorithm_on_real_data(algorithm, data, tmp_path):
    """custseg run --algorithm X on the mall and Wholesale tables: every input
    row comes out once, in order, with a segment or the reason it has none."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(data),
            "--algorithm",
            algorithm,
            "-o",
            str(out),
            "--stability-resamples",
            "5",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    source = pd.read_csv(data)
    segments = pd.read_csv(out / "segments.csv")
    assert len(segments) == len(source)
    assert segments.iloc[:, 0].tolist() == source.iloc[:, 0].tolist()
    none = segments["segment"].isna()
    assert (segments.loc[none, "segment_name"] == "unassigned").all()
    if none.any():
        assert segments.loc[none, "unassigned_reason"].str.startswith("noise").all()
    else:
        assert "unassigned_reason" not in segments.columns
    assert "rule:" in result.output and "Stability" in result.output
    predicted = CliRunner().invoke(
        cli,
        ["predict", str(out / "model.skops"), str(data), "-o", str(tmp_path / "p.csv")],
    )
    assert predicted.exit_code == 0, predicted.output
    scored = pd.read_csv(tmp_path / "p.csv")
    assert len(scored) == len(source)
    same = (scored["segment"].fillna(-1) == segments["segment"].fillna(-1)).mean()
    assert same >= 0.8


def test_rfm_clusters_with_another_algorithm():
    """custseg.rfm passes the algorithm through; HDBSCAN's unassigned customers
    get their own column in the RFM overlap table and are counted."""
    from custseg.pipeline import rfm

    rng = np.random.default_rng(0)
    rows = []
    for customer in range(400):
        group = customer % 2  # frequent recent buyers against one-off lapsed ones
        n = rng.integers(8, 12) if group == 0 else 1
        for i in range(n):
            day = rng.integers(300, 365) if group == 0 else rng.integers(0, 60)
            rows.append(
                {
                    "CustomerID": customer,
                    "InvoiceNo": f"{customer}-{i}",
                    "InvoiceDate": pd.Timestamp("2024-01-01")
                    + pd.Timedelta(days=int(day)),
                    "Quantity": 1,
                    "UnitPrice": float(rng.normal(50 if group == 0 else 20, 2)),
                }
            )
    lines = pd.DataFrame(rows)
    result = rfm(
        lines,
        algorithm_options={"algorithm": "hdbscan", "stability_resamples": 0},
    )
    seg = result.segmenter
    assert seg.algorithm_ == "hdbscan" and result.settings["algorithm"] == "hdbscan"
    overlap = result.rfm.overlap
    assert int(overlap.to_numpy().sum()) == 400
    unassigned = int((seg.labels_ < 0).sum())
    if unassigned:
        assert int(overlap["unassigned"].sum()) == unassigned
    else:
        assert "unassigned" not in overlap.columns
    gmm = rfm(lines, algorithm_options={"algorithm": "gmm", "stability_resamples": 0})
    assert gmm.segmenter.algorithm_ == "gmm"
    assert set(gmm.k_selection.extra_scores) == {"bic", "aic"}


@pytest.mark.parametrize(
    "algorithm", ["minibatch-kmeans", "gmm", "hdbscan", "agglomerative"]
)
def test_shuffled_rows_give_the_same_segments(algorithm, mall_df):
    """Same customers in another order, same seed: same segment for everyone."""
    a = Segmenter(algorithm=algorithm, stability_resamples=0).fit(mall_df)
    order = np.random.default_rng(1).permutation(len(mall_df))
    b = Segmenter(algorithm=algorithm, stability_resamples=0).fit(
        mall_df.iloc[order].reset_index(drop=True)
    )
    assert np.array_equal(a.labels_[order], b.labels_)
    assert a.segment_names_ == b.segment_names_


def test_gmm_above_the_sample_size_fits_every_row(tmp_path):
    """Above sample_size the mixture is warm-started from the sample's fit on
    float32 data (whose weights must be renormalised)."""
    df, truth = planted_blobs(3, seed=2, n_per=400, dim=2)
    seg = Segmenter(algorithm="gmm", sample_size=300, stability_resamples=0).fit(df)
    assert seg.n_clusters_ == 3 and not seg.k_sample_is_all_rows_
    assert adjusted_rand_score(truth, seg.labels_) >= 0.99


def test_empty_mixture_component_is_dropped_everywhere(mall_df):
    """A cluster that ends with no customer leaves the labels, the predictor
    and k, and the k reason says so."""
    from dataclasses import replace

    from custseg.cluster._algorithms import Clustering, SegmentResult, _drop_empty

    seg = Segmenter(
        algorithm="gmm",
        n_clusters=3,
        features=[INCOME, SPENDING],
        stability_resamples=0,
    ).fit(mall_df)
    p = dict(seg.predictor_)
    labels = np.where(seg.labels_ == 1, 2, seg.labels_)  # component 1 wins no row
    result = SegmentResult(
        replace(seg.k_selection_, k=3), Clustering(labels, p), True, 1.0, 200, None
    )
    out = _drop_empty(result)
    assert sorted(np.unique(out.clustering.labels)) == [0, 1]
    assert len(out.clustering.predictor["weights"]) == 2
    assert out.clustering.predictor["weights"].sum() == pytest.approx(1.0)
    assert out.selection.k == 2 and "ended with no customer" in out.selection.reason


def test_hdbscan_refuses_a_given_k(mall_df):
    with pytest.raises(ParameterError, match="HDBSCAN finds its own number"):
        Segmenter(algorithm="hdbscan", n_clusters=3).fit(mall_df)


def test_cli_predict_counts_every_segment_and_the_unassigned(tmp_path):
    out = tmp_path / "out"
    run = CliRunner().invoke(
        cli, ["run", "-a", "hdbscan", "-o", str(out), "-q", "--no-report"]
    )
    assert run.exit_code == 0, run.output
    segments = pd.read_csv(out / "segments.csv")
    assert segments["segment"].isna().any()
    data = tmp_path / "mall.csv"
    segments.iloc[:, :5].to_csv(data, index=False)
    result = CliRunner().invoke(
        cli,
        ["predict", str(out / "model.skops"), str(data), "-o", str(tmp_path / "p.csv")],
    )
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()[1:-1]]
    assert sum(int(line[-1].replace(",", "")) for line in lines) == 200
    assert any(line[0] == "unassigned" for line in lines)
