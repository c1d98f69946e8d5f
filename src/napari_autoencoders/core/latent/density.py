"""The density of the training codes: a Gaussian mixture to sample a VAE's latent from.

A VAE's encoder never quite fills its prior N(0, I): the codes of the
training frames leave holes and cluster by class, and decoding draws from the
prior's holes gives blurred mixtures of classes. Fitting a density to the
encoded training frames after training and sampling from it instead
("ex-post density estimation", Ghosh et al., ICLR 2020) gives samples that
look like the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..estimators import sklearn_module

#: Mixture components: one per class of a collection like MNIST.
COMPONENTS = 10
#: Added to the covariances' diagonals, in latent units, so every component stays a density.
REGULARISATION = 1e-4


@dataclass
class LatentDensity:
    """A Gaussian mixture over latent codes (D,).

    Parameters
    ----------
    weights : ndarray, shape (K,)
        Component weights, positive, summing to 1.
    means : ndarray, shape (K, D)
    covariances : ndarray, shape (K, D, D)
        Symmetric positive definite.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray, *, components: int = COMPONENTS, seed: int = 0) -> LatentDensity:
        """Fit a mixture of at most ``components`` full-covariance Gaussians to ``codes`` (N, D).

        A single code (a training on one frame) gets one component at it,
        of the regularisation's spread: a mixture needs two codes to fit.
        """
        codes = np.asarray(codes, dtype=np.float64)
        if len(codes) == 1:
            return cls(np.ones(1), codes.copy(), REGULARISATION * np.eye(codes.shape[1])[None])
        count = max(1, min(components, len(codes) // 2))
        mixture = sklearn_module("mixture").GaussianMixture(
            count, covariance_type="full", reg_covar=REGULARISATION, random_state=seed
        ).fit(codes)
        return cls(mixture.weights_, mixture.means_, mixture.covariances_)

    def sample(self, n: int, *, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """Draw ``n`` codes (n, D) of float32; ``temperature`` scales each component's spread."""
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        factors = np.linalg.cholesky(self.covariances)  # (K, D, D)
        noise = rng.standard_normal((n, self.means.shape[1]))
        spread = np.einsum("nij,nj->ni", factors[component], noise)
        return (self.means[component] + temperature * spread).astype(np.float32)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable data."""
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict, latent_dim: int) -> LatentDensity:
        """Rebuild a density saved by :meth:`to_dict` for a latent of ``latent_dim``.

        Raises
        ------
        ValueError
            If a field is missing, of the wrong shape, not finite, the weights
            are not positive, or a covariance is not positive definite.
        """
        if not isinstance(data, dict):
            raise ValueError(f"the latent density must be an object, got {type(data).__name__}.")
        try:
            arrays = [np.asarray(data[key], dtype=np.float64) for key in ("weights", "means", "covariances")]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"the latent density is malformed ({err}).") from err
        weights, means, covariances = arrays
        count = len(weights)
        shapes = [(count,), (count, latent_dim), (count, latent_dim, latent_dim)]
        if count < 1 or [a.shape for a in arrays] != shapes:
            raise ValueError(
                f"the latent density's arrays have shapes {[a.shape for a in arrays]}, not "
                f"(K,), (K, {latent_dim}), (K, {latent_dim}, {latent_dim}) for the model's latent."
            )
        if not all(np.isfinite(a).all() for a in arrays) or (weights <= 0).any():
            raise ValueError("the latent density has non-finite values or weights that are not positive.")
        try:
            np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError as err:
            raise ValueError("a covariance of the latent density is not positive definite.") from err
        return cls(weights, means, covariances)
