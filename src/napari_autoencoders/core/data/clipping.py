"""Clipped Gaussian noise: finding the clip levels, fitting the noise under them, undoing the bias.

An 8-bit photograph, or any image whose noisy values were cut at the
ends of a range, holds ``clip(x + sigma * n, low, high)``. Near a clip level
the noise is squashed: a variance estimate that ignores it finds less
noise there, fits a spurious shot-noise term, and takes the whole image for
less noisy than it is (``stabilization`` fits ``sigma`` to the squashed
variances instead); and a denoiser, which averages noisy values, returns
their clipped mean, brighter than the clean value near ``low`` and darker
near ``high``: :func:`declip` maps it back through that mean (Foi 2009 [1]_).

References
----------
.. [1] A. Foi, "Clipped noisy images: heteroskedastic modeling and practical
   denoising", Signal Processing 89(12), 2009.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, ndtr, xlogy

from .normalization import Normalizer

#: Share of the pixels that must hold the exact lowest (highest) value for it to be a clip level.
LEAST_CLIPPED_SHARE = 0.001
#: Points of the grid on which the clipped mean is inverted.
_GRID = 8193
#: Most photon counts summed over in :func:`photon_share`.
_MOST_COUNTS = 100_000
_SQRT_2PI = np.sqrt(2.0 * np.pi)


def clip_levels(values: np.ndarray) -> tuple[float | None, float | None]:
    """The values at which ``values`` (any shape) were clipped: its lowest and highest, or None.

    A clip level is an extreme held by at least :data:`LEAST_CLIPPED_SHARE`
    of the values and by twice as many as the next value inwards: clipping
    piles every value beyond it there, where unclipped noise leaves an
    extreme to one pixel or a few, and whole counts (a camera's) thin out
    towards their extremes.
    """
    values = np.asarray(values)
    if values.size == 0:  # an image all canvas (:mod:`.canvas`) holds no data
        return None, None
    least = LEAST_CLIPPED_SHARE * values.size
    low, high = values.min(), values.max()
    if low == high:
        return None, None
    above_low = np.min(values, where=values > low, initial=high)
    below_high = np.max(values, where=values < high, initial=low)
    return (float(low) if _piles_up(values, low, above_low, least) else None,
            float(high) if _piles_up(values, high, below_high, least) else None)


def _piles_up(values: np.ndarray, extreme, nearest, least: float) -> bool:
    """Whether ``extreme`` holds ``least`` values, and twice as many as ``nearest``, the next value inwards."""
    count = np.count_nonzero(values == extreme)
    return count >= least and count >= 2 * np.count_nonzero(values == nearest)


def clipped_share(values: np.ndarray, levels: tuple[float | None, float | None]) -> float:
    """Share of ``values`` (any shape) that lie at one of the clip levels ``levels``."""
    values = np.asarray(values)
    at_levels = sum(np.count_nonzero(values == level) for level in levels if level is not None)
    return at_levels / max(values.size, 1)


def channel_levels(
    low: float | None, high: float | None, norm: Normalizer
) -> list[tuple[float | None, float | None]]:
    """Clip levels in the data's units (None: not clipped) on each channel's normalised scale (``norm``)."""
    def scaled(level: float | None, offset: float, top: float) -> float | None:
        return None if level is None else (level - offset) / (top - offset)

    return [(scaled(low, offset, top), scaled(high, offset, top)) for offset, top in zip(norm.low, norm.high)]


def expected_clipped(
    clean: np.ndarray, sigma: float, low: float | None, high: float | None
) -> np.ndarray:
    """Mean of ``clip(clean + sigma * n, low, high)``, ``n`` standard normal (any shape).

    A level of None does not clip.
    """
    clean = np.asarray(clean, dtype=np.float64)
    below = (low - clean) / sigma if low is not None else np.full_like(clean, -np.inf)
    above = (high - clean) / sigma if high is not None else np.full_like(clean, np.inf)
    share_below, share_above = ndtr(below), ndtr(above)
    mean = clean * (share_above - share_below) + sigma * (density(below) - density(above))
    if low is not None:
        mean += low * share_below
    if high is not None:
        mean += high * (1.0 - share_above)
    return mean


def declip(
    values: np.ndarray, sigma: float, low: float | None, high: float | None, *, margin: float = 0.0
) -> np.ndarray:
    """The clean values whose clipped noisy mean (:func:`expected_clipped`) is ``values``.

    A denoiser trained on clipped data, or averaging it, estimates that
    mean; mapping it back takes out the bias near the clip levels.

    Parameters
    ----------
    values : ndarray
        Denoised values, any shape, on the scale of ``sigma``, ``low`` and ``high``.
    sigma : float
        The noise's standard deviation before clipping.
    low, high : float or None
        The clip levels; None where the values were not clipped.
    margin : float
        How far beyond the clip levels, in ``sigma``, the result may go;
        0 (the default) keeps it between them.

    Returns
    -------
    ndarray of float32, shaped like ``values``.
    """
    values = np.asarray(values, dtype=np.float32)
    if sigma <= 0 or (low is None and high is None):
        return values.copy()
    start = low if low is not None else min(float(values.min()), high)
    stop = high if high is not None else max(float(values.max()), low)
    grid = np.linspace(start - margin * sigma, stop + margin * sigma, _GRID)
    return np.interp(values, expected_clipped(grid, sigma, low, high), grid).astype(np.float32)


def declip_photons(values: np.ndarray, gain: float, read_variance: float, high: float) -> np.ndarray:
    """:func:`declip` for Poisson-Gaussian noise clipped at ``high`` alone.

    The noise's deviation at clean intensity ``x`` is
    ``sqrt(gain * x + read_variance)``, zero photons at 0: the clipped mean
    is inverted with the deviation of each clean value on the grid, not one
    for all.

    Parameters
    ----------
    values : ndarray
        Denoised values, clipped means, any shape, on the noise's scale.
    gain, read_variance : float
        The noise model.
    high : float
        The clip level.

    Returns
    -------
    ndarray of float32, shaped like ``values``, at most ``high``.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.size == 0:
        return values.copy()
    grid = np.linspace(min(float(np.nanmin(values)), high), high, _GRID)
    deviation = np.sqrt(np.maximum(gain * np.maximum(grid, 0.0) + read_variance, 1e-24))
    means = expected_clipped(grid, deviation, None, high)
    # a deviation that grows fast enough could bend the mean back near high
    return np.interp(values, np.maximum.accumulate(means), grid).astype(np.float32)


def gaussian_share(
    values: np.ndarray, sigma: float, low: float, high: float | None
) -> np.ndarray:
    """Share of ``clip(clean + sigma * n, low, high)`` at ``low``, for its clipped means.

    Parameters
    ----------
    values : ndarray
        Clipped means (any shape); the clean level of each is found
        through :func:`declip`.
    sigma : float
        The noise's standard deviation before clipping.
    low, high : float or None
        The clip levels (``high`` None where not clipped).

    Returns
    -------
    ndarray, shaped like ``values``.
    """
    clean = declip(values, sigma, low, high, margin=6.0).astype(np.float64)
    return ndtr((low - clean) / sigma)


def photon_share(values: np.ndarray, gain: float, read_variance: float, low: float) -> np.ndarray:
    """Share of Poisson-Gaussian values clipped at ``low``, at each mean intensity of ``values``.

    The noisy value of clean intensity ``x`` is ``gain * k + e``, ``k``
    Poisson of mean ``x / gain`` photons and ``e`` Gaussian of variance
    ``read_variance``: zero photons lie at intensity 0, and where ``low``
    is there, clipping cuts only the read noise of the pixels that caught
    none, half of them, where clipped Gaussian noise of the same variance
    would pile most of a dark region at ``low``.

    Parameters
    ----------
    values : ndarray
        Mean intensities (any shape), taken for the clean ones: clipping
        the read noise alone moves them little.
    gain, read_variance : float
        The noise model; ``gain`` above 0.
    low : float
        The clip level.

    Returns
    -------
    ndarray, shaped like ``values``.
    """
    deviation = np.sqrt(max(read_variance, 0.0))
    # counts whose values lie more than 8 deviations above low never reach it
    most = int(np.clip((low + 8.0 * deviation) / gain + 1.0, 0, _MOST_COUNTS))
    counts = np.arange(most + 1)
    below = low - gain * counts
    # each count's share of values at or below low (all or none of them without read noise)
    reach = ndtr(below / deviation) if deviation > 0 else (below >= 0).astype(np.float64)
    photons = np.maximum(np.asarray(values, dtype=np.float64), 0.0)[..., None] / gain
    # the Poisson probability of each count (scipy.stats costs a second to import)
    probability = np.exp(xlogy(counts, photons) - photons - gammaln(counts + 1.0))
    return np.sum(probability * reach, axis=-1)


def density(x: np.ndarray) -> np.ndarray:
    """The standard normal density (0 at infinite ``x``)."""
    return np.exp(-0.5 * np.square(x)) / _SQRT_2PI
