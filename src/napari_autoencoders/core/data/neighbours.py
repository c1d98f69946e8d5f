"""Neighbourhoods of training frames, kept in the latent space by a contrastive loss.

An autoencoder trained only to reconstruct keeps what rebuilds the pixels,
and a 2D bottleneck then mixes up items that look alike. The neighbour
term adds a neighbour-embedding loss to the reconstruction: frames that are
near neighbours in pixel space attract each other in the latent space, and
the other frames of the batch repel them. It is the InfoNCE form of t-SNE
(InfoNC-t-SNE, Damrich et al., 2023), made parametric by the encoder as in
parametric UMAP (Sainburg et al., 2021): each frame must pick out its
neighbour among all the frames of the batch. The kernel has heavier tails
than t-SNE's Cauchy kernel (Kobak et al., 2019), which keeps pushing
groups apart once they are separated, and for the first part of the
training the attraction within pairs is exaggerated, as in t-SNE (van der
Maaten and Hinton, 2008), so that the groups gather before they spread.

The graph joins frames that are among each other's k nearest neighbours
(the mutual k-nearest-neighbour graph) after PCA to :data:`PCA_COMPONENTS`
components, unweighted, and each frame to its nearest neighbour, so that
none is left out. Damrich et al. use the symmetric graph, where one frame
among the other's neighbours is enough; the mutual graph holds fewer pairs
of unlike frames (on 4,000 MNIST digits with k = 15, 7 % of its pairs join
different digits, against 16 %). scikit-learn's exact nearest neighbours
are enough. Validation pairs join each held-out frame to its neighbours in
the same graph, so the neighbour term of the validation loss measures
frames the encoder has not seen.

References
----------
.. [1] S. Damrich, J. N. Böhm, F. A. Hamprecht, D. Kobak, "From t-SNE to
   UMAP with contrastive learning", ICLR (2023).
.. [2] T. Sainburg, L. McInnes, T. Q. Gentner, "Parametric UMAP embeddings
   for representation and semisupervised learning", Neural Computation 33
   (2021).
.. [3] D. Kobak, G. Linderman, S. Steinerberger, Y. Kluger, P. Berens,
   "Heavy-tailed kernels reveal a finer cluster structure in t-SNE
   visualisations", ECML PKDD (2019).
.. [4] L. van der Maaten, G. Hinton, "Visualizing data using t-SNE", JMLR 9
   (2008).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from ..estimators import sklearn_module
from .patches import PatchSampler, split_indices

#: Components kept before the neighbour search; they hold most of the variance of small frames.
PCA_COMPONENTS = 50
#: Degrees of freedom of the kernel of the loss in a 2D latent: tails heavier than t-SNE's
#: (1) separate groups better in a plane (Kobak et al., 2019).
PLANAR_DEGREES_OF_FREEDOM = 0.5
#: Degrees of freedom in a latent of 3 or more dimensions, t-SNE's Cauchy kernel: there is
#: room enough to separate groups without the heavier tails, which spread each group out.
#: On held-out MNIST digits (10-D latent, 4,000 steps, seeds 0 and 1) k-means NMI rose
#: from 0.66 and 0.69 (0.5) to 0.72 and 0.71; 2 gave 0.66 and 0.67.
DEGREES_OF_FREEDOM = 1.0
#: Early exaggeration of the attraction, as t-SNE's: it gathers the groups before the
#: plain term pushes them apart, and makes the 2D layout depend less on the seed.
EXAGGERATION = 4.0
#: Share of the training during which the attraction is exaggerated.
EXAGGERATED_SHARE = 0.3


def check_neighbour_count(count: int, neighbours: int) -> None:
    """Raise ``ValueError`` unless ``count`` frames can each have ``neighbours`` (k) neighbours."""
    if not 1 <= neighbours < count:
        raise ValueError(
            f"the neighbour term needs more frames than neighbours per frame: got {count} "
            f"frame(s) and {neighbours} neighbours; give more frames or fewer neighbours."
        )


def neighbour_graph(frames: np.ndarray, neighbours: int, *, seed: int = 0) -> np.ndarray:
    """Edges of the mutual k-nearest-neighbour graph of ``frames``, and of each nearest neighbour.

    Parameters
    ----------
    frames : ndarray, shape (N, ...)
        One item per entry, e.g. normalised planes (N, C, Y, X).
    neighbours : int
        Nearest neighbours of each frame (k); at most ``N - 1``.
    seed : int
        Seeds the randomised PCA.

    Returns
    -------
    edges : ndarray of int, shape (E, 2)
        Each pair (i, j) such that j is among the k nearest neighbours of
        i and i among those of j, or one is the other's nearest neighbour;
        both directions are listed.

    Raises
    ------
    ValueError
        If there are fewer than ``neighbours + 1`` frames.
    """
    count = len(frames)
    check_neighbour_count(count, neighbours)
    flat = np.asarray(frames, np.float32).reshape(count, -1)
    components = min(PCA_COMPONENTS, count, flat.shape[1])
    if components < flat.shape[1]:
        pca = sklearn_module("decomposition").PCA(components, random_state=seed)
        flat = pca.fit_transform(flat)
    nearest = sklearn_module("neighbors").NearestNeighbors(n_neighbors=neighbours).fit(flat)
    nearest = nearest.kneighbors(return_distance=False)
    graph = _adjacency(nearest)
    first = _adjacency(nearest[:, :1])
    graph = graph.minimum(graph.T).maximum(first).maximum(first.T).tocoo()
    return np.stack([graph.row, graph.col], axis=1).astype(np.int64)


def _adjacency(nearest: np.ndarray) -> sparse.csr_matrix:
    """The directed graph (N, N) from each frame to its neighbours ``nearest`` (N, k)."""
    count, neighbours = nearest.shape
    rows = np.repeat(np.arange(count), neighbours)
    ones = np.ones(nearest.size, np.int8)  # only ever combined by minimum and maximum
    return sparse.csr_matrix((ones, (rows, nearest.ravel())), shape=(count, count))


def neighbour_loss(
    heads: torch.Tensor,
    tails: torch.Tensor,
    *,
    degrees_of_freedom: float | None = None,
    exaggeration: float = 1.0,
) -> torch.Tensor:
    """InfoNCE loss of B neighbour pairs of latent codes, with a heavy-tailed kernel.

    Each head must pick out its own tail among the B tails of the batch,
    and each tail its head, with probabilities proportional to the
    similarity ``(1 + d**2 / a) ** -a`` of the codes, a Student t kernel
    with ``a`` degrees of freedom; the other B - 1 frames of the batch are
    its negatives.

    Parameters
    ----------
    heads, tails : Tensor, shape (B, D)
        Latent codes of the two ends of B graph edges.
    degrees_of_freedom : float, optional
        ``a``; 1 is t-SNE's Cauchy kernel, smaller values have heavier
        tails and push groups of frames further apart. By default
        :func:`kernel_degrees_of_freedom` of the latent's D.
    exaggeration : float
        Multiplies the attraction between the frames of a pair (their
        log-similarity), as t-SNE's early exaggeration does; 1 gives the
        InfoNCE loss.

    Returns
    -------
    Tensor
        A scalar, in nats: with ``exaggeration`` 1 the mean cross-entropy,
        ``log(B)`` when all codes coincide, 0 when each pair is far closer
        than the rest.
    """
    if degrees_of_freedom is None:
        degrees_of_freedom = kernel_degrees_of_freedom(heads.shape[1])
    squared = torch.cdist(heads, tails).pow(2)  # (B, B)
    log_similarity = -degrees_of_freedom * torch.log1p(squared / degrees_of_freedom)
    attraction = exaggeration * log_similarity.diagonal()  # each frame and its partner
    by_head = torch.logsumexp(log_similarity, dim=1) - attraction
    by_tail = torch.logsumexp(log_similarity, dim=0) - attraction
    return 0.5 * (by_head.mean() + by_tail.mean())


def kernel_degrees_of_freedom(latent_dim: int) -> float:
    """Degrees of freedom of the loss's kernel in a latent of ``latent_dim`` (D) dimensions.

    :data:`PLANAR_DEGREES_OF_FREEDOM` for D of 2 or less, where heavy tails
    keep groups apart in the plane, :data:`DEGREES_OF_FREEDOM` above.
    """
    return PLANAR_DEGREES_OF_FREEDOM if latent_dim <= 2 else DEGREES_OF_FREEDOM


def exaggeration_at(fraction: float) -> float:
    """The exaggeration of the neighbour term after ``fraction`` of the training.

    :data:`EXAGGERATION` during the first :data:`EXAGGERATED_SHARE`, then 1:
    the pairs first pull their frames into groups, which then settle apart.
    """
    return EXAGGERATION if fraction < EXAGGERATED_SHARE else 1.0


class NeighbourSampler:
    """Batches of neighbour pairs: the first half of a batch are heads, the second tails.

    Parameters
    ----------
    patches : PatchSampler
        Draws the frames (patches the size of the frames) and their symmetries.
    edges : ndarray of int, shape (E, 2)
        The graph, as :func:`neighbour_graph` returns it.
    rng : numpy.random.Generator
        Chooses the edges.
    """

    def __init__(self, patches: PatchSampler, edges: np.ndarray, rng: np.random.Generator):
        self.patches = patches
        self.edges = edges
        self.rng = rng

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets (2 * (batch_size // 2), C, P, P): heads, then their tails.

        Both frames of a pair get the same symmetry, which keeps them as
        alike as the graph found them.
        """
        count = self.patches.batch_size // 2
        pairs = self.edges[self.rng.integers(0, len(self.edges), count)]
        symmetry = self.patches.random_symmetries(count)
        return self.patches.sample(pairs.T.reshape(-1), np.concatenate([symmetry, symmetry]))


def neighbour_samplers(
    frames: np.ndarray,
    targets: np.ndarray,
    *,
    neighbours: int,
    fraction: float,
    batch_size: int,
    augment: bool,
    seed: int,
    rng: np.random.Generator,
) -> tuple[NeighbourSampler, NeighbourSampler]:
    """Training and validation samplers of neighbour pairs of whole frames.

    One graph joins all the frames. Training pairs join two training frames;
    validation pairs join a held-out frame to any of its neighbours, so the
    neighbour term of the validation loss asks whether the encoder puts
    frames it has not seen beside their neighbours, in a graph as dense as
    the training one (the tails, and so half of the reconstruction term,
    are mostly training frames). Without a held-out share both use all
    pairs. Training frames are drawn as often as they have edges.

    Parameters
    ----------
    frames, targets : ndarray, shape (N, C, P, P)
        Normalised frames, each the size of a patch, and their targets.
    neighbours, fraction, batch_size, augment, seed
        Neighbours per frame, share of frames held out for validation
        (:func:`.patches.split_indices`), frames per batch, random
        symmetries of the training frames, and the seed of the validation
        draws and of the PCA.
    rng : numpy.random.Generator
        Draws the split and the training batches.

    Returns
    -------
    train, validation : NeighbourSampler

    Raises
    ------
    ValueError
        If no two training frames are neighbours.
    """
    edges = neighbour_graph(frames, neighbours, seed=seed)
    train, val = split_indices(len(frames), fraction, rng)
    position = np.full(len(frames), -1)
    position[train] = np.arange(len(train))
    train_edges = position[edges[(position[edges] >= 0).all(axis=1)]]
    val_edges = edges[np.isin(edges[:, 0], val)]
    if not len(train_edges):
        raise ValueError(
            "no two training frames are neighbours, so the neighbour term has no pairs to "
            "learn from; give more frames, more neighbours or a smaller validation share."
        )
    options = dict(patch_size=frames.shape[-1], batch_size=batch_size)
    patches = PatchSampler(frames[train], targets[train], augment=augment, rng=rng, **options)
    val_rng = np.random.default_rng(seed + 1)
    val_patches = PatchSampler(frames, targets, augment=False, rng=val_rng, **options)
    return NeighbourSampler(patches, train_edges, rng), NeighbourSampler(val_patches, val_edges, val_rng)
