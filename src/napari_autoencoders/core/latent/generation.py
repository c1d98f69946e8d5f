"""Generation and latent exploration with a trained autoencoder.

Frames and results are stacks (N, Y, X) for grey models, (N, Y, X, C) for
multi-channel ones, in the units of the training data. Sampling needs a
generative model (a VAE, or an adversarial autoencoder, which samples from
its own prior) and latent noise a variational one; the latent manifold and
the interpolation also work for a plain autoencoder, so they can be compared.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from ..config import (
    GENERATIVE_ARCHITECTURES,
    LATENT_ARCHITECTURES,
    VARIATIONAL_ARCHITECTURES,
    Architecture,
    Prior,
)
from ..data.patches import check_image
from ..model import TrainedModel
from ..nn.adversarial import MIXTURE_SPAN, sample_prior

#: Quantiles of the prior spanned by the default VAE manifold, as in the textbook figure.
MANIFOLD_QUANTILES = (0.05, 0.95)


def sample(
    model: TrainedModel, n: int, *, temperature: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Decode ``n`` draws from the model's prior, scaled by ``temperature``.

    A VAE's prior, and an adversarial autoencoder's by default, is the
    standard normal: ``z = temperature * eps`` with ``eps ~ N(0, I)``; an
    AAE's mixture prior scales each draw's deviation from its component's
    mean (:func:`.adversarial.sample_prior`).

    Returns
    -------
    ndarray, shape (n, S, S[, C])
        The generated images; the same ``seed`` gives the same images.
    """
    check_generative(model, "sample from the prior")
    if n < 1 or temperature < 0:
        raise ValueError(
            f"need n >= 1 samples and a temperature >= 0, got n={n}, temperature={temperature}."
        )
    generator = torch.Generator().manual_seed(seed)
    network = model.config.model
    z = sample_prior(
        network.prior, n, network.latent_dim, generator=generator, temperature=temperature
    )
    return decode(model, z.numpy())


def manifold_points(
    model: TrainedModel,
    *,
    grid: int = 15,
    span: float | None = None,
    axes: tuple[int, int] | str = (0, 1),
    frames: np.ndarray | None = None,
) -> np.ndarray:
    """The latent vectors of the manifold grid, shape (grid, grid, D).

    Point ``(i, j)`` lies in row ``i`` from the top and column ``j`` from the
    left of the mosaic; the first plane direction grows to the right (with
    ``j``), the second upwards (it falls with ``i``), as in a plot.

    Parameters
    ----------
    model : TrainedModel
        A VAE, an adversarial autoencoder or a plain autoencoder with a
        latent of at least 2 dimensions.
    grid : int
        Tiles per side.
    span : float, optional
        Plane coordinates run linearly from ``-span`` to ``span`` around the
        origin. By default those of a model with a standard normal prior (a
        VAE, an AAE) run through the prior's 5 to 95 % quantiles (inverse
        normal CDF, scaled by the data's spread along a principal
        direction), those of an AAE's mixture prior over its circle and two
        spreads of its components beyond (2.5), and a plain autoencoder's
        over the extent of the encoded ``frames``.
    axes : (int, int) or "pca"
        Two latent axes spanning the plane (other coordinates at the prior
        mean 0 for a VAE or an AAE, the encoded frames' mean otherwise), or ``"pca"``:
        the first two principal directions of the encoded ``frames``,
        through their mean.
    frames : ndarray, optional
        Frames (N, S, S[, C]) to encode; needed for ``"pca"`` and for a plain
        autoencoder without ``span``.

    Raises
    ------
    ValueError
        For a model without a latent, a latent of one dimension, bad axes,
        or missing frames.
    """
    check_latent(model, "draw a latent manifold")
    latent_dim = model.config.model.latent_dim
    if latent_dim < 2:
        raise ValueError(
            "the latent has 1 dimension; a manifold needs a latent plane: train with a "
            "latent dimension of at least 2, or interpolate instead."
        )
    if grid < 1:
        raise ValueError(f"the grid needs at least 1 tile per side, got {grid}.")
    # below, "variational" means a latent with a known prior (a VAE's or an AAE's): its centre
    # and quantiles set the default plane
    variational = model.config.model.architecture in GENERATIVE_ARCHITECTURES
    if span is None and model.config.model.prior == Prior.MIXTURE.value:
        span = MIXTURE_SPAN
    codes = None if frames is None else encode(model, frames)
    if (axes == "pca" or (not variational and span is None)) and codes is None:
        raise ValueError(
            "give frames to encode: principal directions and a plain autoencoder's "
            "default range come from encoded data (or give a span)."
        )
    origin, directions = _plane(axes, latent_dim, codes, variational)
    # a VAE's latent axes are in prior units already; other planes follow the data
    follow_data = codes is not None and (axes == "pca" or not variational)
    coordinates = [
        _coordinates(grid, span, variational, (codes - origin) @ d if follow_data else None)
        for d in directions
    ]
    across, up = np.meshgrid(coordinates[0], coordinates[1][::-1])  # (grid, grid), row 0 on top
    return origin + across[..., None] * directions[0] + up[..., None] * directions[1]


def manifold(model: TrainedModel, **options) -> np.ndarray:
    """Decode the grid of :func:`manifold_points` into one mosaic image.

    Returns
    -------
    ndarray, shape (grid * S, grid * S[, C])
        Tile ``(i, j)``, at rows ``i*S:(i+1)*S`` and columns ``j*S:(j+1)*S``,
        is the decoded point ``(i, j)`` of :func:`manifold_points`.
    """
    points = manifold_points(model, **options)
    grid = points.shape[0]
    tiles = decode(model, points.reshape(grid * grid, -1))  # (grid*grid, S, S[, C])
    size = tiles.shape[1]
    mosaic = tiles.reshape(grid, grid, size, size, *tiles.shape[3:]).swapaxes(1, 2)
    return mosaic.reshape(grid * size, grid * size, *tiles.shape[3:])


def interpolate(
    model: TrainedModel, frame_a: np.ndarray, frame_b: np.ndarray, *, steps: int = 8
) -> np.ndarray:
    """Decode ``steps`` points on the line between the codes of two frames.

    Parameters
    ----------
    frame_a, frame_b : ndarray, shape (S, S[, C])
        The two frames; the first and last outputs are their reconstructions.

    Returns
    -------
    ndarray, shape (steps, S, S[, C])
    """
    check_latent(model, "interpolate in the latent space")
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}.")
    codes = encode(model, np.stack([np.asarray(frame_a), np.asarray(frame_b)]))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decode(model, (1 - weights) * codes[0] + weights * codes[1])


def reconstruct_noisy(
    model: TrainedModel, frames: np.ndarray, *, strength: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Reconstruct frames from ``z = mu + strength * sigma * eps``.

    ``sigma`` is the encoder's posterior standard deviation, so ``strength``
    0 gives the plain reconstruction and 1 a draw from the posterior.

    Parameters
    ----------
    frames : ndarray, shape (N, S, S[, C])

    Returns
    -------
    ndarray, shape (N, S, S[, C])
    """
    check_variational(model, "add latent noise")
    if strength < 0:
        raise ValueError(f"the noise strength must not be negative, got {strength}.")
    network = model.network_on("cpu")
    with torch.no_grad():
        mu, logvar = network.encode_distribution(_to_batch(model, frames))
        generator = torch.Generator().manual_seed(seed)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + strength * torch.exp(0.5 * logvar) * eps
    return decode(model, z.numpy())


def encode(model: TrainedModel, frames: np.ndarray) -> np.ndarray:
    """Latent codes (N, D) of frames (N, S, S[, C]): a VAE's posterior means."""
    check_latent(model, "encode frames")
    with torch.no_grad():
        return model.network_on("cpu").encode(_to_batch(model, frames)).numpy()


def decode(model: TrainedModel, codes: np.ndarray) -> np.ndarray:
    """Images (N, S, S[, C]) in data units from latent codes (N, D)."""
    codes = np.asarray(codes, dtype=np.float32)
    with torch.no_grad():
        planes = model.network_on("cpu").decode(torch.from_numpy(codes)).numpy()
    planes = model.target_norm.denormalize(planes)  # (N, C, S, S)
    return planes[:, 0] if planes.shape[1] == 1 else np.moveaxis(planes, 1, -1)


def check_latent(model: TrainedModel, action: str) -> None:
    """Raise ``ValueError`` unless ``model`` has a flat latent (autoencoder, VAE or AAE)."""
    architecture = model.config.model.architecture
    if architecture not in LATENT_ARCHITECTURES:
        raise ValueError(
            f"cannot {action}: a {architecture!r} model has no latent vector; train a "
            "'vae', 'aae' or 'reconstruct' model."
        )


def check_generative(model: TrainedModel, action: str) -> None:
    """Raise ``ValueError`` unless ``model`` decodes draws from a prior (a VAE or an AAE)."""
    architecture = model.config.model.architecture
    if architecture not in GENERATIVE_ARCHITECTURES:
        raise ValueError(
            f"cannot {action}: a {architecture!r} model ({model.config.training.task}) is not "
            "generative; train one with task 'vae' or 'aae'."
        )


def check_variational(model: TrainedModel, action: str) -> None:
    """Raise ``ValueError`` unless ``model`` has a posterior spread (a VAE)."""
    architecture = model.config.model.architecture
    if architecture == Architecture.AAE.value:
        raise ValueError(
            f"cannot {action}: an adversarial autoencoder's encoder is deterministic, so it has "
            "no posterior spread to scale the noise by; sample, interpolate or draw the manifold "
            "instead, or train a 'vae'."
        )
    if architecture not in VARIATIONAL_ARCHITECTURES:
        raise ValueError(
            f"cannot {action}: a {architecture!r} model ({model.config.training.task}) is not "
            "variational; train one with task 'vae'."
        )


def _to_batch(model: TrainedModel, frames: np.ndarray) -> torch.Tensor:
    """Normalised (N, C, S, S) tensor of frames (N, S, S[, C]) in data units."""
    frames = np.asarray(frames)
    channels, size = model.config.model.in_channels, model.config.model.input_size
    expected = (size, size) if channels == 1 else (size, size, channels)
    if frames.ndim != len(expected) + 1 or frames.shape[1:] != expected:
        raise ValueError(
            f"the model takes frames of shape {expected} stacked as (N, *{expected}), got an "
            f"array of shape {frames.shape}; crop or resize the frames to {size}x{size}."
        )
    check_image(frames, "the frames")
    planes = frames[:, None] if channels == 1 else np.moveaxis(frames, -1, 1)
    return torch.from_numpy(model.input_norm.normalize(planes))


def _plane(axes, latent_dim: int, codes: np.ndarray | None, variational: bool):
    """Origin (D,) and two unit directions (2, D) of the manifold's plane."""
    if axes == "pca":
        origin = codes.mean(axis=0)
        _, _, components = np.linalg.svd(codes - origin, full_matrices=False)
        if components.shape[0] < 2:
            raise ValueError("principal directions need at least 2 encoded frames.")
        return origin, components[:2]
    if isinstance(axes, str) or len(axes) != 2 or len(set(axes)) != 2:
        raise ValueError(f'axes must be two different latent axes or "pca", got {axes!r}.')
    if not all(0 <= axis < latent_dim for axis in axes):
        raise ValueError(f"latent axes must lie in 0..{latent_dim - 1}, got {tuple(axes)}.")
    origin = np.zeros(latent_dim) if variational or codes is None else codes.mean(axis=0)
    return origin, np.eye(latent_dim)[list(axes)]


def _coordinates(grid: int, span, variational: bool, projected: np.ndarray | None) -> np.ndarray:
    """Plane coordinates along one direction, relative to the origin, ascending."""
    if span is not None:
        return np.linspace(-span, span, grid)
    if variational:
        scale = 1.0 if projected is None else float(projected.std()) or 1.0
        return scale * norm.ppf(np.linspace(*MANIFOLD_QUANTILES, grid))
    return np.linspace(projected.min(), projected.max(), grid)
