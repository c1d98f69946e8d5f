"""Generation and latent exploration with a trained autoencoder.

Frames and results are stacks (N, Y, X) for grey models, (N, Y, X, C) for
multi-channel ones, in the units of the training data. Sampling needs a
generative model (a VAE, or an adversarial autoencoder, which samples from
its own prior) and latent noise a variational one; the latent manifold and
the interpolation also work for a plain autoencoder, so they can be compared.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
import torch
from scipy.special import ndtri  # the normal quantile; scipy.stats takes a second to import

from ..config import (
    GENERATIVE_ARCHITECTURES,
    LATENT_ARCHITECTURES,
    VARIATIONAL_ARCHITECTURES,
    Architecture,
    Prior,
)
from ..data.patches import check_image
from ..model import TrainedModel
from ..progress import run
from ..nn.adversarial import MIXTURE_SPAN, sample_prior

#: Quantiles of the prior spanned by the default VAE manifold, as in the textbook figure.
MANIFOLD_QUANTILES = (0.05, 0.95)
#: Largest result, in bytes, that sampling or a manifold may produce (2 GiB).
MAX_RESULT_BYTES = 2 * 1024**3
#: Latent codes decoded per forward pass, so memory stays bounded for many images.
DECODE_BATCH = 256


#: Where samples' codes come from: the density fitted to the training codes, or the prior.
SOURCES = ("auto", "density", "prior")


def sample(model: TrainedModel, n: int, **options) -> np.ndarray:
    """Decode ``n`` codes of :func:`sample_codes` (same options) into images.

    Returns
    -------
    ndarray, shape (n, S, S[, C])
        The generated images; the same ``seed`` gives the same images.
    """
    return decode(model, sample_codes(model, n, **options))


def sample_codes(
    model: TrainedModel, n: int, *, temperature: float = 1.0, seed: int = 0, source: str = "auto"
) -> np.ndarray:
    """Draw ``n`` codes (n, D) from the model's latent density or from its prior.

    Parameters
    ----------
    source : {"auto", "density", "prior"}
        ``"density"``: the Gaussian mixture fitted to the codes of the
        training frames (:class:`.density.LatentDensity`), each component's
        spread scaled by ``temperature``; ``"prior"``: ``z = temperature *
        eps``, ``eps ~ N(0, I)``; ``"auto"``: the density when the model has
        one (a VAE or AAE trained on whole frames by this version), else the
        prior (an AAE's chosen one).

    Returns
    -------
    ndarray of float32, shape (n, D)
        The same ``seed`` gives the same codes.

    Raises
    ------
    ValueError
        For a model that is not variational, ``n < 1``, a negative or
        non-finite temperature, an unknown source or a density the model does
        not have, or a result larger than :data:`MAX_RESULT_BYTES`.
    """
    check_generative(model, "sample from the prior")
    if n < 1 or not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(
            f"need n >= 1 samples and a finite temperature >= 0, got n={n}, "
            f"temperature={temperature}."
        )
    if source not in SOURCES:
        raise ValueError(f"the source of the codes must be one of {list(SOURCES)}, got {source!r}.")
    if source == "density" and model.density is None:
        raise ValueError(
            "this model has no latent density (trained by an older version, or not on frames); "
            "sample from the prior instead."
        )
    check_result_size(model, n, f"{n} samples")
    if model.density is not None and source != "prior":
        return model.density.sample(n, temperature=temperature, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    network = model.config.model
    z = sample_prior(
        network.prior, n, network.latent_dim, generator=generator, temperature=temperature
    )
    return z.numpy()


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
        missing frames, a span that is not a positive finite number, or a
        mosaic larger than :data:`MAX_RESULT_BYTES`.
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
    if span is not None and not (math.isfinite(span) and span > 0):
        raise ValueError(f"span must be a positive, finite number, got {span}; e.g. span=3.")
    check_result_size(model, grid * grid, f"a manifold of {grid}x{grid} tiles")
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
    return mosaic(decode(model, points.reshape(grid * grid, -1)))


def interpolate(model: TrainedModel, frame_a: np.ndarray, frame_b: np.ndarray, **options) -> np.ndarray:
    """Decode the codes of :func:`interpolation_codes` (same options): (steps, S, S[, C])."""
    return decode(model, interpolation_codes(model, frame_a, frame_b, **options))


def reconstruct_noisy(model: TrainedModel, frames: np.ndarray, **options) -> np.ndarray:
    """Decode the codes of :func:`noisy_codes` (same options): (N, S, S[, C])."""
    return decode(model, noisy_codes(model, frames, **options))


def encode(model: TrainedModel, frames: np.ndarray) -> np.ndarray:
    """Latent codes (N, D) of frames (N, S, S[, C]): a VAE's posterior means."""
    check_latent(model, "encode frames")
    with torch.no_grad():
        return model.network_on("cpu").encode(_to_batch(model, frames)).numpy()


def decode(model: TrainedModel, codes: np.ndarray) -> np.ndarray:
    """Images (N, S, S[, C]) in data units from latent codes (N, D); see :func:`iter_decode`."""
    return run(iter_decode(model, codes))


def check_result_size(model: TrainedModel, count: int, what: str) -> None:
    """Raise ``ValueError`` if ``count`` decoded images would exceed :data:`MAX_RESULT_BYTES`.

    Parameters
    ----------
    model : TrainedModel
        A model with a latent; its input size and channels give each image's size.
    count : int
        Images to decode.
    what : str
        What is asked for, for the message, e.g. ``"1000000 samples"``.
    """
    size, channels = model.config.model.input_size, model.config.model.out_channels
    needed = count * size * size * channels * np.dtype(np.float32).itemsize
    if needed > MAX_RESULT_BYTES:
        most = MAX_RESULT_BYTES // (size * size * channels * np.dtype(np.float32).itemsize)
        raise ValueError(
            f"{what} of {size}x{size} pixels would need {needed / 1024**3:.1f} GiB, more "
            f"than the {MAX_RESULT_BYTES / 1024**3:.0f} GiB allowed; ask for at most "
            f"{most} images."
        )


def check_latent(model: TrainedModel, action: str) -> None:
    """Raise ``ValueError`` unless ``model`` has a flat latent (autoencoder, VAE or AAE)."""
    architecture = model.config.model.architecture
    if architecture not in LATENT_ARCHITECTURES:
        raise ValueError(
            f"cannot {action}: this {architecture!r} model has no latent vector; train a "
            "'vae', 'aae' or 'reconstruct' model."
        )


def check_generative(model: TrainedModel, action: str) -> None:
    """Raise ``ValueError`` unless ``model`` decodes draws from a prior (a VAE or an AAE)."""
    architecture = model.config.model.architecture
    if architecture not in GENERATIVE_ARCHITECTURES:
        raise ValueError(
            f"cannot {action}: this {architecture!r} model ({model.config.training.task}) is not "
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
            f"cannot {action}: this {architecture!r} model ({model.config.training.task}) is not "
            "variational; train one with task 'vae'."
        )


def check_frames(model: TrainedModel, shape: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless a stack of ``shape`` holds frames ``model`` takes: (N, S, S[, C]).

    A stack of the right size but other channels (colour frames for a grey
    model, or grey for a colour one) is told so, not to resize its frames.
    """
    channels, size = model.config.model.in_channels, model.config.model.input_size
    expected = (size, size) if channels == 1 else (size, size, channels)
    if len(shape) == len(expected) + 1 and tuple(shape[1:]) == expected:
        return
    given = 1 if len(shape) == 3 else shape[-1]
    kind = "grey" if channels == 1 else f"{channels}-channel"
    # a last axis of 5 or more is no colour: (T, Z, Y, X) frames, say, of the model's size
    colours = len(shape) == 3 or (len(shape) == 4 and given <= 4)
    if colours and tuple(shape[1:3]) == (size, size) and given != channels:
        raise ValueError(
            f"the model takes {channels}-channel frames but these have {given} channel(s) "
            f"(a stack of shape {tuple(shape)}); choose {kind} frames, or a model trained on "
            "frames like these."
        )
    raise ValueError(
        f"the model takes frames of shape {expected} stacked as (N, *{expected}), got an "
        f"array of shape {tuple(shape)}; crop or resize the frames to {size}x{size}."
    )


def _to_batch(model: TrainedModel, frames: np.ndarray) -> torch.Tensor:
    """Normalised (N, C, S, S) tensor of frames (N, S, S[, C]) in data units."""
    frames = np.asarray(frames)
    check_frames(model, frames.shape)
    channels = model.config.model.in_channels
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
    """Plane coordinates along one direction, relative to the origin, ascending.

    A grid of one tile is its centre: the origin.
    """
    if grid == 1:
        return np.zeros(1)
    if span is not None:
        return np.linspace(-span, span, grid)
    if variational:
        scale = 1.0 if projected is None else float(projected.std()) or 1.0
        return scale * ndtri(np.linspace(*MANIFOLD_QUANTILES, grid))
    return np.linspace(projected.min(), projected.max(), grid)


# -- the codes each action decodes, and the decoding in batches --


def interpolation_codes(
    model: TrainedModel, frame_a: np.ndarray, frame_b: np.ndarray, *, steps: int = 8
) -> np.ndarray:
    """Codes (steps, D) on the line between the codes of two frames (S, S[, C]).

    The first and last decode to the frames' reconstructions.
    """
    check_latent(model, "interpolate in the latent space")
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}.")
    codes = encode(model, np.stack([np.asarray(frame_a), np.asarray(frame_b)]))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1 - weights) * codes[0] + weights * codes[1]


def noisy_codes(
    model: TrainedModel, frames: np.ndarray, *, strength: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Codes ``z = mu + strength * sigma * eps`` (N, D) of frames (N, S, S[, C]).

    ``sigma`` is the encoder's posterior standard deviation, so ``strength``
    0 gives the plain reconstruction and 1 a draw from the posterior.
    """
    check_variational(model, "add latent noise")
    if not (math.isfinite(strength) and strength >= 0):
        raise ValueError(f"the noise strength must be a finite number >= 0, got {strength}.")
    network = model.network_on("cpu")
    with torch.no_grad():
        mu, logvar = network.encode_distribution(_to_batch(model, frames))
        generator = torch.Generator().manual_seed(seed)
        eps = torch.randn(mu.shape, generator=generator)
        return (mu + strength * torch.exp(0.5 * logvar) * eps).numpy()


def iter_decode(
    model: TrainedModel, codes: np.ndarray, *, batch_size: int = DECODE_BATCH
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Decode codes (N, D) in batches, yielding ``(done, total)`` codes before and after each.

    The images go into one array allocated first (after
    :func:`check_result_size`), so the network's activations never need more
    memory than one batch; a caller that stops iterating stops the decoding
    between two batches.

    Returns
    -------
    ndarray, shape (N, S, S[, C])
        Images in data units (the generator's value; :func:`decode` gives it).
    """
    if batch_size < 1:
        raise ValueError(f"the batch size must be at least 1, got {batch_size}.")
    codes = np.asarray(codes, dtype=np.float32)
    check_result_size(model, len(codes), f"{len(codes)} images")
    network = model.network_on("cpu")  # one copy for all batches
    size, channels = model.config.model.input_size, model.config.model.out_channels
    planes = np.empty((len(codes), channels, size, size), np.float32)
    total = len(codes)
    yield 0, total
    for start in range(0, total, batch_size):
        with torch.no_grad():
            decoded = network.decode(torch.from_numpy(codes[start : start + batch_size])).numpy()
        planes[start : start + batch_size] = model.target_norm.denormalize(decoded)
        yield min(start + batch_size, total), total
    return planes[:, 0] if channels == 1 else np.moveaxis(planes, 1, -1)


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """Lay out ``grid * grid`` tiles (grid², S, S[, C]) row by row, as :func:`manifold` does.

    Returns
    -------
    ndarray, shape (grid * S, grid * S[, C])
    """
    grid = math.isqrt(len(tiles))
    if grid * grid != len(tiles):
        raise ValueError(f"a mosaic needs a square number of tiles, got {len(tiles)}.")
    size = tiles.shape[1]
    rows = tiles.reshape(grid, grid, size, size, *tiles.shape[3:]).swapaxes(1, 2)
    return rows.reshape(grid * size, grid * size, *tiles.shape[3:])
