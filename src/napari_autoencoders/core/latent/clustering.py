"""Project latent codes to 2D, cluster them, and place the scatter beside the data.

All functions take codes (N, D) and are reproducible for a given ``seed``.
scikit-learn is imported where it is used (:mod:`..estimators`): it takes
about 2 s, and every command of the command line reads this module's choices.
"""

from __future__ import annotations

import warnings
from enum import Enum

from typing import TYPE_CHECKING

import numpy as np

from ..estimators import sklearn_module

if TYPE_CHECKING:
    from sklearn.mixture import GaussianMixture

#: Cluster counts tried when the number of clusters is chosen automatically.
AUTO_RANGE = range(2, 11)
#: Silhouette scores are estimated on at most this many items.
SILHOUETTE_SAMPLES = 2000


class Embedding(str, Enum):
    """Projection of the latent codes to 2D."""

    IDENTITY = "identity"  # the latent itself, for a 2D latent
    PCA = "pca"
    UMAP = "umap"  # needs the optional umap-learn
    TSNE = "tsne"


class Clustering(str, Enum):
    """Clustering of the latent codes."""

    KMEANS = "kmeans"
    GMM = "gmm"  # Gaussian mixture
    HDBSCAN = "hdbscan"  # finds the number of clusters itself; -1 marks noise


def default_embedding(dim: int) -> str:
    """The latent itself when it is 1D or 2D, else PCA (fast and deterministic)."""
    return Embedding.IDENTITY.value if dim <= 2 else Embedding.PCA.value


def embed(latents: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """Project latent codes (N, D) to 2D (N, 2), float32.

    Parameters
    ----------
    method : {"identity", "pca", "umap", "tsne"}
        ``"identity"`` needs a 1D or 2D latent: a 1D code is x, and the
        items' order spreads them along y; ``"pca"`` of a 1D latent is that
        too. ``"umap"`` needs umap-learn.
    seed : int
        Seeds the random parts of PCA, UMAP and t-SNE.

    One or two items lie on the x axis, as far apart as their codes, whatever
    the method but ``"identity"``: no projection learns from fewer than 3.

    Raises
    ------
    ValueError
        If the method is unknown, or ``"identity"`` meets a latent of more
        than 2 dimensions.
    ImportError
        If ``"umap"`` is asked for without umap-learn installed.
    """
    method = _choice(method, Embedding, "projection")
    latents = np.asarray(latents, np.float32)
    count, dim = latents.shape
    if dim == 1 and method in (Embedding.IDENTITY.value, Embedding.PCA.value):
        return np.column_stack([latents[:, 0], np.arange(count, dtype=np.float32)])
    if method == Embedding.IDENTITY.value:
        if dim != 2:
            raise ValueError(
                f"the 'identity' projection needs a 1D or 2D latent, got {dim}D; choose 'pca', "
                "'umap' or 'tsne'."
            )
        return latents.copy()
    if count < 3:  # too few for a projection: along the line through them, as PCA puts them
        return _on_a_line(latents)
    if method == Embedding.PCA.value:
        pca = sklearn_module("decomposition").PCA(n_components=2, random_state=seed)
        return pca.fit_transform(latents).astype(np.float32)
    if method == Embedding.TSNE.value:
        perplexity = min(30.0, (count - 1) / 3)
        tsne = sklearn_module("manifold").TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed
        )
        return tsne.fit_transform(latents).astype(np.float32)
    return _umap(latents, seed)


def _on_a_line(latents: np.ndarray) -> np.ndarray:
    """2D points (N, 2) of one or two codes (N, D): x their offsets along their difference, y 0."""
    centred = latents - latents.mean(axis=0)
    distance = np.linalg.norm(centred, axis=1)
    x = distance * np.where(np.arange(len(latents)) == 0, -1.0, 1.0)
    return np.column_stack([x, np.zeros(len(latents))]).astype(np.float32)


def _umap(latents: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError as err:
        raise ImportError(
            "the 'umap' projection needs umap-learn: pip install 'napari-autoencoders[umap]' "
            "(or pip install umap-learn), or choose 'pca' or 'tsne'."
        ) from err
    neighbours = min(15, len(latents) - 1)
    # one job, as a seed makes it anyway: said here, umap-learn does not warn that it did
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed, n_jobs=1)
    return reducer.fit_transform(latents).astype(np.float32)


def cluster(
    latents: np.ndarray,
    method: str = "kmeans",
    n_clusters: int | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Cluster codes (N, D); return one cluster id per item (N,) of int.

    The number of clusters, when not given, is the best silhouette score
    over 2 to 10 clusters for k-means and the lowest BIC over 2 to 10
    components for a Gaussian mixture (diagonal covariances), at most the
    number of distinct codes; HDBSCAN finds it itself (and marks outliers
    -1), so ``n_clusters`` is then its minimum cluster size. One cluster
    asked for, or codes that are all the same, make one cluster (cluster 0);
    codes all the same also warn, for they say nothing of their items.

    Raises
    ------
    ValueError
        If the method is unknown, or there are fewer items, or fewer
        distinct codes, than clusters.
    """
    method = _choice(method, Clustering, "clustering")
    latents = np.asarray(latents, np.float64)
    count = len(latents)
    if n_clusters is not None and n_clusters < 1:
        raise ValueError(f"the number of clusters must be positive, got {n_clusters}.")
    hdbscan = method == Clustering.HDBSCAN.value
    if not hdbscan and n_clusters is not None and count < n_clusters:
        raise ValueError(
            f"{count} item(s) cannot form {n_clusters} clusters; encode more items or ask for "
            "fewer clusters."
        )
    distinct = len(np.unique(latents, axis=0))
    if distinct == 1 and count > 1:
        warnings.warn(
            f"all {count} items have the same latent code, so they make one cluster: are the "
            "images constant, or the model untrained?",
            stacklevel=2,
        )
    if distinct == 1 or (n_clusters == 1 and not hdbscan):
        return np.zeros(count, int)
    if not hdbscan and n_clusters is not None and distinct < n_clusters:
        raise ValueError(
            f"the {count} items have only {distinct} distinct latent codes, too few for "
            f"{n_clusters} clusters (identical items, such as constant frames or tiles); ask "
            f"for at most {distinct} clusters."
        )
    if hdbscan:
        size = min(n_clusters or max(5, count // 100), count)
        hdbscan = sklearn_module("cluster").HDBSCAN(min_cluster_size=max(2, size), copy=True)
        return hdbscan.fit_predict(latents)
    if n_clusters is None:
        return _auto(latents, method, seed, distinct)
    return _fit(latents, method, n_clusters, seed)


def _fit(latents: np.ndarray, method: str, k: int, seed: int):
    if method == Clustering.KMEANS.value:
        kmeans = sklearn_module("cluster").KMeans(n_clusters=k, n_init=4, random_state=seed)
        return kmeans.fit_predict(latents)
    return _mixture(latents, k, seed).predict(latents)


def _mixture(latents: np.ndarray, k: int, seed: int) -> GaussianMixture:
    # diagonal covariances: full ones overfit small clusters and BIC then picks too many
    mixture = sklearn_module("mixture").GaussianMixture
    return mixture(n_components=k, covariance_type="diag", random_state=seed).fit(latents)


def _auto(latents: np.ndarray, method: str, seed: int, distinct: int) -> np.ndarray:
    """Best k-means by silhouette, or Gaussian mixture by BIC, of at most ``distinct`` clusters.

    Tried over :data:`AUTO_RANGE`; ``distinct`` is the number of distinct codes.
    """
    best, best_score = None, -np.inf
    for k in (k for k in AUTO_RANGE if k < len(latents) and k <= distinct):
        if method == Clustering.KMEANS.value:
            ids = _fit(latents, method, k, seed)
            if len(np.unique(ids)) < 2:
                continue
            # the items scikit-learn's sample_size would draw, checked first: a sample of
            # one cluster (a tiny one left out) has no silhouette, and k is passed over
            sample = np.random.RandomState(seed).permutation(len(latents))[:SILHOUETTE_SAMPLES]
            if len(np.unique(ids[sample])) < 2:
                continue
            score = sklearn_module("metrics").silhouette_score(latents[sample], ids[sample])
        else:
            gmm = _mixture(latents, k, seed)
            ids, score = gmm.predict(latents), -gmm.bic(latents)
        if score > best_score:
            best, best_score = ids, score
    return best if best is not None else np.zeros(len(latents), int)


def place_beside(
    embedding: np.ndarray, bounds: np.ndarray, *, gap: float = 0.1
) -> np.ndarray:
    """World coordinates (N, 2) that put a 2D scatter to the right of a region.

    Parameters
    ----------
    embedding : ndarray, shape (N, 2)
        Scatter coordinates (x, y), in any units.
    bounds : ndarray, shape (2, 2)
        The region's world extent: rows (min, max), columns (Y, X).
    gap : float
        Space between the region and the scatter, as a share of the region's height.

    Returns
    -------
    ndarray, shape (N, 2)
        (Y, X) world coordinates: the scatter fills a square as high as the
        region, ``gap`` to the right of it, with y pointing up.
    """
    bounds = np.asarray(bounds, float)
    height = max(bounds[1, 0] - bounds[0, 0], 1.0)
    low, high = embedding.min(axis=0), embedding.max(axis=0)
    unit = (embedding - low) / np.where(high > low, high - low, 1.0)  # (N, 2) in [0, 1]
    rows = bounds[1, 0] - unit[:, 1] * height
    columns = bounds[1, 1] + gap * height + unit[:, 0] * height
    return np.stack([rows, columns], axis=1)


def _choice(value: str, enum: type[Enum], what: str) -> str:
    choices = [member.value for member in enum]
    if value not in choices:
        raise ValueError(f"the {what} must be one of {choices}, got {value!r}.")
    return value
