import warnings

import numpy as np
import pytest

from napari_autoencoders.core.latent.clustering import cluster, default_embedding, embed, place_beside
from sklearn.metrics import adjusted_rand_score


@pytest.fixture
def groups():
    """Three well separated 5-D Gaussian groups of 30 codes, and their group ids."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(3, 5))
    truth = np.repeat(np.arange(3), 30)
    return (centres[truth] + rng.normal(size=(90, 5))).astype(np.float32), truth


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projections_are_2d_and_reproducible(groups, method):
    codes, _ = groups
    first = embed(codes, method, seed=1)
    assert first.shape == (90, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, embed(codes, method, seed=1))


def test_identity_needs_a_1d_or_2d_latent(groups):
    codes, _ = groups
    np.testing.assert_array_equal(embed(codes[:, :2], "identity"), codes[:, :2])
    with pytest.raises(ValueError, match="needs a 1D or 2D latent"):
        embed(codes, "identity")


@pytest.mark.parametrize("method", ["identity", "pca"])
def test_a_1d_latent_is_x_and_the_items_spread_along_y(groups, method):
    codes = groups[0][:, :1]
    assert default_embedding(1) == "identity"
    scatter = embed(codes, method)
    assert scatter.shape == (90, 2) and scatter.dtype == np.float32
    np.testing.assert_array_equal(scatter[:, 0], codes[:, 0])
    assert len(np.unique(scatter[:, 1])) == 90


def test_umap_without_umap_learn_says_what_to_install(groups, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "umap", None)  # import umap now fails
    with pytest.raises(ImportError, match=r"napari-autoencoders\[umap\]"):
        embed(groups[0], "umap")


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
@pytest.mark.parametrize("k", [3, None])
def test_clusters_find_the_groups_reproducibly(groups, method, k):
    codes, truth = groups
    ids = cluster(codes, method, k, seed=2)
    assert adjusted_rand_score(truth, ids) == 1.0  # automatic choice finds k = 3 too
    np.testing.assert_array_equal(ids, cluster(codes, method, k, seed=2))


def test_hdbscan_chooses_the_number_itself(groups):
    codes, truth = groups
    assert adjusted_rand_score(truth, cluster(codes, "hdbscan")) > 0.9


@pytest.mark.parametrize("count", [2, 3, 4])
def test_hdbscan_clusters_a_few_items(groups, count):
    assert cluster(groups[0][:count], "hdbscan").shape == (count,)


def test_automatic_k_means_passes_over_a_sample_of_one_cluster():
    # a far outlier is a cluster of its own at k = 2, which the silhouette's sample of
    # 2000 of the 5001 codes misses with this seed
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(size=(5000, 4)), [[1000.0] * 4]])
    ids = cluster(codes, "kmeans", seed=0)
    assert ids.shape == (5001,) and len(np.unique(ids)) >= 2


@pytest.mark.parametrize(
    "args, message",
    [((5,), "cannot form 5 clusters"), ((0,), "must be positive")],
)
def test_too_few_items_or_clusters_are_refused(groups, args, message):
    with pytest.raises(ValueError, match=message):
        cluster(groups[0][:4], "kmeans", *args)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_one_cluster_asked_for_is_one_cluster(groups, method):
    np.testing.assert_array_equal(cluster(groups[0], method, 1), np.zeros(90))
    np.testing.assert_array_equal(cluster(groups[0][:1], method, 1), [0])


@pytest.mark.parametrize("method", ["kmeans", "gmm", "hdbscan"])
def test_codes_all_the_same_make_one_cluster_with_a_warning(method):
    codes = np.ones((20, 4), np.float32)
    with pytest.warns(UserWarning, match="all 20 items have the same latent code"):
        ids = cluster(codes, method)
    np.testing.assert_array_equal(ids, np.zeros(20))


def test_fewer_distinct_codes_than_clusters_are_refused_and_bound_the_automatic_choice(groups):
    codes = np.repeat(groups[0][[0, 30, 60]], 10, axis=0)  # 30 codes, 3 distinct
    with pytest.raises(ValueError, match="only 3 distinct latent codes, too few for 5 clusters"):
        cluster(codes, "kmeans", 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's own warnings about duplicate points
        ids = cluster(codes, "kmeans")
    assert len(np.unique(ids)) == 3


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_one_or_two_items_lie_on_a_line_as_far_apart_as_their_codes(method):
    codes = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], np.float32)
    np.testing.assert_allclose(embed(codes, method), [[-2.5, 0.0], [2.5, 0.0]])
    np.testing.assert_array_equal(embed(codes[:1], method), [[0.0, 0.0]])


def test_unknown_methods_are_refused(groups):
    with pytest.raises(ValueError, match="clustering must be one of"):
        cluster(groups[0], "dbscan")
    with pytest.raises(ValueError, match="projection must be one of"):
        embed(groups[0], "mds")


def test_scatter_lies_right_of_the_region_at_its_height():
    rng = np.random.default_rng(0)
    bounds = np.array([[10.0, -5.0], [110.0, 45.0]])  # rows 10..110, columns -5..45
    world = place_beside(rng.normal(size=(50, 2)) * 1000, bounds)
    assert world[:, 1].min() > bounds[1, 1]
    np.testing.assert_allclose([world[:, 0].min(), world[:, 0].max()], [10, 110])
    np.testing.assert_allclose(np.ptp(world[:, 1]), 100)
