"""Poisson-Gaussian noise: estimating its parameters, and stabilising its variance.

A camera's noise is Poisson-Gaussian: a pixel of clean intensity ``x`` has
noise variance ``gain * x + read_variance``. The generalised Anscombe
transform (GAT) maps such data to values whose noise is Gaussian of unit
variance, so a Gaussian denoiser applies; the closed-form approximation of
the exact unbiased inverse maps the denoised values back without the bias
that the plain algebraic inverse leaves at low counts.

References
----------
.. [1] M. Mäkitalo and A. Foi, "Optimal inversion of the generalized
   Anscombe transformation for Poisson-Gaussian noise", IEEE TIP 22(1), 2013.
.. [2] A. Foi et al., "Practical Poissonian-Gaussian noise modeling and
   fitting for single-image raw-data", IEEE TIP 17(10), 2008.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage

from ..progress import checkpoint
from .canvas import canvas_mask, flat_pixels
from .clipping import declip, declip_photons, gaussian_share, photon_share
from .noise import parse_noise

#: A high-pass filter whose output has the variance of white input noise
#: (its squared weights sum to 1) and which removes constant and linear signal.
_HIGH_PASS = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64) / 6.0
_BINS = 16
#: Pixels a bin needs for its variance to count.
_LEAST_PER_BIN = 20
#: A fitted shot-noise term below this share of the read variance at the brightest
#: bin is taken for none: the noise is Gaussian. Photographs with white Gaussian
#: noise fit spurious terms of up to 0.16 of it (coffee and rocket in RGB at sigma
#: 15 and 25, of 255), and such a term cost them the opponent colours that
#: Gaussian noise allows; photographs clipped at 0 and 1 fit up to about 0.1 clear
#: of the clip levels; the benchmark's microscopy 25 or more. A tiny gain also
#: breaks the Anscombe transform, which offsets every value by 2 sqrt(read) / gain,
#: beyond float32's resolution: a noiseless cell micrograph, fitted a gain of
#: 5e-12, came out of the prior at 35.99 dB, at 58.85 dB as Gaussian noise.
_LEAST_SHOT_SHARE = 0.5
#: Bins whose mean lies closer to a clip level than this many noise standard
#: deviations are left out of the search for shot noise in clipped data.
_CLEAR_OF_CLIP = 2.0
#: The bins clear of the clip levels must span this share of all the bins'
#: intensities for a shot-noise term to be fitted on them: on camera, clipped
#: at sigma 0.2 in 256 x 256 pixels, the six clear bins (0.49 to 0.65 of 0.09
#: to 0.84) fitted a spurious gain of 0.034, 1.1 times the read variance.
_LEAST_CLEAR_SPAN = 0.5
#: Distances from a clip level, in noise standard deviations, where the
#: squashed variance is tabulated (:func:`_squashed_variance`).
_DISTANCES = np.linspace(-4.0, 6.0, 101)
#: Pixels per channel that :func:`signal_correlation` measures, about.
_CORRELATION_PIXELS = 1_000_000
#: A bin must hold this share of its pixels at the low clip level for
#: :func:`_photons_clipped` to tell the clipped noises apart by those shares.
_LEAST_SHARE_AT_LOW = 0.01


class NoiseBins(NamedTuple):
    """What :func:`_noise_bins` measures in each intensity bin, one value per bin."""

    means: np.ndarray  #: mean intensity
    variances: np.ndarray  #: robust noise variance
    counts: np.ndarray  #: pixels measured
    lowest: np.ndarray  #: share of them at the plane's lowest value


@dataclass(frozen=True)
class NoiseModel:
    """Noise variance ``gain * intensity + read_variance`` (both on the image's scale).

    ``read_variance`` is below 0 only in a signed estimate
    (:func:`estimate_noise`), where zero photons lie above intensity 0.
    """

    gain: float
    read_variance: float

    @property
    def is_gaussian(self) -> bool:
        """Whether the noise is signal-independent (no shot noise term)."""
        return self.gain <= 0.0

    def sigma(self, intensity: float | np.ndarray) -> float | np.ndarray:
        """Noise standard deviation at ``intensity``."""
        return np.sqrt(np.maximum(self.gain * intensity + self.read_variance, 0.0))

    def scaled(self, factor: float) -> NoiseModel:
        """This noise with ``factor`` times its variance at every intensity (zero photons kept)."""
        return NoiseModel(self.gain * factor, self.read_variance * factor)

    def rescaled(self, low: float, scale: float) -> NoiseModel:
        """The same noise on the scale ``(intensity - low) / scale``.

        Its read variance is below 0 where ``low`` lies more than
        ``read_variance / gain`` below the level of zero photons, 0.
        """
        return NoiseModel(self.gain / scale, (self.gain * low + self.read_variance) / scale**2)


def estimate_noise(
    image: np.ndarray, *, signed: bool = False, levels: tuple[float | None, float | None] = (None, None)
) -> NoiseModel:
    """Fit a Poisson-Gaussian noise model to one noisy image (Y, X).

    A high-pass residual isolates the noise; pixels are grouped by their
    local mean into intensity bins, the noise variance of each bin is a
    robust (median absolute deviation) estimate over its smoothest pixels,
    and a line through the bins gives the gain and the read variance.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        A noisy image on a scale whose 0 lies near zero photons, such as
        the normalised one (1st percentile at 0): whether shot noise shows
        is judged against the brightest intensity, so an image shifted far
        below 0 reads as Gaussian.
    signed : bool
        Keep the line's value at intensity 0 as fitted, below 0 where the
        level of zero photons is above intensity 0 (a camera offset, or a
        normalisation whose 0 is a percentile of noisy dark pixels): the
        photon counts that :func:`thin` splits need it. By default it is
        clamped at 0 (the line then goes through the origin), as the
        Anscombe transform needs a variance of at least 0.
    levels : (float or None, float or None)
        The levels at which the image's values were clipped, low and high
        (:func:`.clipping.clip_levels`), None for a side not clipped. The
        noise is then fitted as clipped Gaussian noise (:func:`_fit_clipped`),
        unless it is Poisson-Gaussian noise clipped at zero photons or a
        shot-noise term shows clear of them; ignored with ``signed``.

    Returns
    -------
    NoiseModel
        With ``gain`` 0 when the data show no signal-dependent noise; for
        clipped Gaussian noise, its variance before clipping.
    """
    bins = _noise_bins(image)
    return _fit_signed_line(*bins[:3]) if signed else _fit_clamped(bins, levels)


def _fit_clamped(bins: NoiseBins, levels: tuple[float | None, float | None]) -> NoiseModel:
    """:func:`_fit_clipped` where ``levels`` holds a clip level, else :func:`_fit_line`."""
    return _fit_line(*bins[:3]) if levels == (None, None) else _fit_clipped(bins, *levels)


def _noise_bins(image: np.ndarray, strides: tuple[int, int] = (1, 1)) -> NoiseBins:
    """The :class:`NoiseBins` of the intensity bins of an image (Y, X).

    With ``strides`` (Y, X), the high-pass's taps lie that many pixels
    apart: it measures the noise of the interleaved phases at those strides
    (:mod:`.correlation`), white there where the image's is correlated,
    while the local means and the smoothness that choose the pixels stay at
    the full resolution. Fitted on the phases themselves, on their coarser
    grid, edges counted as noise: noise correlated along both axes of
    horse, split at 3,3, fitted 1.24 times its variance (1.02 this way), and
    30 s of fine-tuning on it gave 36.60 dB (40.98 this way).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 8:
        raise ValueError(
            f"estimating the noise needs a 2D image of at least 8x8 pixels, got shape {image.shape}."
        )
    residual = ndimage.convolve(image, _high_pass(strides), mode="reflect")
    local_mean = ndimage.uniform_filter(image, 5, mode="reflect")
    # Edges and texture inflate the residual: each bin keeps its smoother half,
    # judged on a blurred copy so that the choice ignores the noise (and,
    # per bin, the noise's growth with intensity).
    activity = ndimage.gaussian_gradient_magnitude(image, 2.0, mode="reflect")
    # the flat regions, and the pixels whose local mean or residual reaches into them
    noisy = ~ndimage.maximum_filter(flat_pixels(image), 5)
    data = image[noisy]  # a canvas below the data's clip level is no value of theirs
    lowest = data == data.min(initial=np.inf)
    return _binned_variances(local_mean[noisy], residual[noisy], activity[noisy], lowest)


def noisy_flat(
    planes: np.ndarray, noise: NoiseModel, rng: np.random.Generator, flat: np.ndarray | None = None
) -> np.ndarray:
    """Training planes (..., Y, X) whose flat regions (:func:`.canvas.flat_pixels`) get noise of ``noise``'s variance.

    The two images of a thinned or recorrupted pair have independent noises
    only where the data are noisy as modelled; where they are constant the
    pair's noises are each other's negative, and fine-tuning learns to
    invert noise: 30 s on cell at 30 photons on a canvas of its median
    took the prior's 38.37 dB to 34.08. Gaussian noise of the model's
    variance at each value makes such a region one more noisy flat patch.
    This changes only what the network learns from, never the image it
    denoises. ``flat``, shaped like ``planes``, gives those regions where
    they are already known (:func:`.canvas.canvas_mask` of the planes
    before an affine map), else they are found.
    """
    values = np.asarray(planes, dtype=np.float32)
    flat = canvas_mask(values) if flat is None else flat
    if not flat.any():
        return planes
    out = values.copy()
    deviation = np.sqrt(np.maximum(noise.gain * values[flat] + noise.read_variance, 0.0))
    out[flat] += (rng.standard_normal(deviation.size) * deviation).astype(np.float32)
    return out


def _high_pass(strides: tuple[int, int]) -> np.ndarray:
    """:data:`_HIGH_PASS` with its taps ``strides`` (Y, X) pixels apart."""
    rows, columns = strides
    kernel = np.zeros((2 * rows + 1, 2 * columns + 1))
    kernel[::rows, ::columns] = _HIGH_PASS
    return kernel


def _binned_variances(
    means: np.ndarray, residual: np.ndarray, activity: np.ndarray, lowest: np.ndarray
) -> NoiseBins:
    """The :class:`NoiseBins` of pixels (any shape), from their local means, residuals and activities.

    ``lowest`` marks the pixels that hold the plane's lowest value.
    """
    means, residual, activity, lowest = means.ravel(), residual.ravel(), activity.ravel(), lowest.ravel()
    if means.size == 0:
        return NoiseBins(*(np.zeros(0),) * 4)
    # up to 16 bins, fewer for a small image, so that each keeps enough pixels
    bins = int(np.clip(means.size // 1000, 3, _BINS))
    edges = np.unique(np.quantile(means, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, means, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for index in range(len(edges) - 1):
        inside = which == index
        smooth = inside & (activity <= np.median(activity[inside])) if inside.any() else inside
        values = residual[smooth]
        if values.size < _LEAST_PER_BIN:
            continue
        mad = np.median(np.abs(values - np.median(values)))
        rows.append((means[smooth].mean(), (1.4826 * mad) ** 2, values.size, lowest[smooth].mean()))
    if not rows:
        return NoiseBins(*(np.zeros(0),) * 4)
    return NoiseBins(*(np.array(column) for column in zip(*rows)))


def _fit_line(
    means: np.ndarray, variances: np.ndarray, counts: np.ndarray, *, signed: bool = False
) -> NoiseModel:
    """Weighted least-squares line ``variance = gain * mean + read``, both clipped at 0.

    With ``signed``, ``read`` keeps its sign (the gain is still clipped).
    """
    if means.size == 0:
        return NoiseModel(0.0, 0.0)
    if means.size < 3 or np.ptp(means) <= 0:
        return NoiseModel(0.0, float(np.median(variances)))
    weights = np.sqrt(counts)
    design = np.stack([means, np.ones_like(means)], axis=1) * weights[:, None]
    (gain, read), *_ = np.linalg.lstsq(design, variances * weights, rcond=None)
    if gain <= 0 or gain * means.max() < _LEAST_SHOT_SHARE * read:
        return NoiseModel(0.0, float(np.average(variances, weights=counts)))
    if read < 0 and not signed:  # a line through the origin: shot noise only
        gain = float(np.sum(counts * means * variances) / np.sum(counts * means**2))
        read = 0.0
    return NoiseModel(float(gain), float(read))


def _fit_signed_line(means: np.ndarray, variances: np.ndarray, counts: np.ndarray) -> NoiseModel:
    """:func:`_fit_line` with a signed read variance, refitted without the bins that stray from it.

    Thinning needs the variance itself right at every intensity (counts
    whose variance is not their mean correlate the two images). The median
    absolute deviation misjudges a bin of few, whole counts (the darkest,
    often), and one such bin tilts the line: bins further than 15 % (or 3
    robust deviations of all the bins) from the first line are left out.
    The Anscombe transform's clamped model keeps every bin, where leaving
    them out changed the prior's denoising by -0.01 to -0.02 dB.
    """
    model = _fit_line(means, variances, counts, signed=True)
    if means.size < 4:
        return model
    ratio = variances / np.maximum(model.gain * means + model.read_variance, 1e-12)
    spread = 1.4826 * np.median(np.abs(ratio - np.median(ratio)))
    keep = np.abs(ratio - 1.0) <= max(0.15, 3.0 * spread)
    if keep.sum() < 3 or keep.all():
        return model
    return _fit_line(means[keep], variances[keep], counts[keep], signed=True)


def _fit_clipped(bins: NoiseBins, low: float | None, high: float | None) -> NoiseModel:
    """The noise of data clipped at ``low`` and ``high``: Gaussian before clipping, unless shot noise shows.

    Poisson-Gaussian noise cut at its level of zero photons
    (:func:`_photons_clipped`) gets the line through the bins clear of the
    high level (:func:`_photon_line`). Otherwise
    the bins clear of the clip levels (their mean :data:`_CLEAR_OF_CLIP`
    noise deviations or more away), where they span enough intensities
    (:data:`_LEAST_CLEAR_SPAN`), are fitted with a line; a shot-noise
    term of at least :data:`_LEAST_SHOT_SHARE` of the read variance there
    gives that line. Otherwise the noise is Gaussian, and every bin's
    squashed variance goes into :func:`_clipped_sigma`: clipped at 0 and 1,
    the camera at sigma 50 (of 255) fitted a gain of 0.014 and a standard
    deviation of 0.151 (0.196 before clipping); this fit finds no gain and
    0.198, and for the black-and-white horse at 0.098, 0.109 where a plain
    fit found 0.056.
    """
    means, variances, counts, _ = bins
    if means.size == 0:  # a blank plane, or too small a one: nothing to measure
        return NoiseModel(0.0, 0.0)
    line = _fit_line(means, variances, counts)  # through every bin
    gaussian = _clipped_sigma(means, variances, counts, low, high)
    if low is not None and _photons_clipped(bins, line, low, high, gaussian):
        photons = _photon_line(bins, line, high)
        if not photons.is_gaussian:
            return photons
    sigma = float(np.sqrt(np.average(variances, weights=counts)))
    for _ in range(4):
        clear = np.ones(means.shape, dtype=bool)
        if low is not None:
            clear &= means > low + _CLEAR_OF_CLIP * sigma
        if high is not None:
            clear &= means < high - _CLEAR_OF_CLIP * sigma
        if clear.sum() < 3 or np.ptp(means[clear]) < _LEAST_CLEAR_SPAN * np.ptp(means):
            break  # too narrow a span to tell shot noise from error: Gaussian
        clear_line = _fit_line(means[clear], variances[clear], counts[clear])
        if not clear_line.is_gaussian:  # _fit_line keeps only a term that shows
            return clear_line
        sigma = float(np.sqrt(np.average(variances[clear], weights=counts[clear])))
    return line if gaussian is None else NoiseModel(0.0, gaussian**2)


def _photon_line(bins: NoiseBins, line: NoiseModel, high: float | None) -> NoiseModel:
    """:func:`_fit_line` through the bins clear of ``high`` by :data:`_CLEAR_OF_CLIP` noise deviations.

    The deviations are the line's own, from ``line`` (through every bin),
    refitted until the bins kept stay the same: saturated bins' squashed variances tilt the line (retina at 10
    photons, clipped at 0 and 1, in ``bench/clipped_photons.py``: a gain
    of 0.051 and a read variance of 0.014 through every bin, 0.094 and 0
    without them).
    """
    means, variances, counts, _ = bins
    for _ in range(4):
        if high is None or line.is_gaussian:
            return line
        clear = means < high - _CLEAR_OF_CLIP * line.sigma(means)
        if clear.sum() < 3:
            return line
        refit = _fit_line(means[clear], variances[clear], counts[clear])
        if refit == line:
            return line
        line = refit
    return line


def _photons_clipped(
    bins: NoiseBins, line: NoiseModel, low: float, high: float | None, sigma: float | None
) -> bool:
    """Whether the data were clipped at ``low`` with Poisson-Gaussian noise ``line``, not Gaussian.

    ``line`` is :func:`_fit_line` through every bin. Both explain the
    squashed variances of dark bins: Gaussian noise of
    the larger deviation ``sigma`` (:func:`_clipped_sigma`; None where
    none explains them), its clean levels below ``low``, or shot noise
    that clipping at zero photons hardly squashes. The share of each bin's
    pixels at ``low`` tells them apart (:func:`.clipping.gaussian_share`,
    :func:`.clipping.photon_share`): the line through the bins is taken
    where its shares come within half the squared error of the Gaussian
    noise's. On the real-image benchmark's six
    micrographs, 256x256 at 10, 30 and 100 photons clipped at 0 and 1
    (``bench/clipped_photons.py``), it took the line in 13 of the 18
    cases, the other five showing shot noise clear of the clip levels,
    and the prior gained 0.03 to 4.6 dB: hubble_deep_field at 10 photons
    went from 25.51 to 30.14, its noise fitted before as clipped Gaussian
    noise of sigma 0.13. Gaussian noise clipped at 0 and 1 on 21
    scikit-image pictures at sigma 5 to 50 (of 255), 8-bit and not, kept
    the fit it had before in every case.
    """
    means, lowest = bins.means, bins.lowest
    if lowest.max(initial=0.0) < _LEAST_SHARE_AT_LOW or lowest.size < 3:
        return False  # too few values at low to tell (this plane may not reach it)
    if line.is_gaussian:
        return False
    if sigma is None:  # no Gaussian deviation explains the bins
        return True
    # a read variance the line clamped to 0 may be none (every pixel without a
    # photon at low) or too small to fit (half of them): the closer of the two
    photons = min(
        _share_error(photon_share(means, line.gain, read, low), bins)
        for read in (line.read_variance, max(line.read_variance, (line.gain / 100) ** 2))
    )
    return photons <= 0.5 * _share_error(gaussian_share(means, sigma, low, high), bins)


def _share_error(shares: np.ndarray, bins: NoiseBins) -> float:
    """Pixel-weighted mean squared error of ``shares`` against each bin's share at its lowest value."""
    return float(np.average((bins.lowest - shares) ** 2, weights=bins.counts))


def _clipped_sigma(
    means: np.ndarray, variances: np.ndarray, counts: np.ndarray, low: float | None, high: float | None
) -> float | None:
    """Standard deviation of Gaussian noise, before clipping, that explains binned variances.

    Each bin (mean intensity, robust noise variance, pixel count, as
    :func:`_noise_bins` measures them on clipped data) would
    show the variance ``sigma**2 * s(d)``, where ``d`` is its clean level's
    distance to the nearer clip level in units of ``sigma`` and ``s`` the
    squashing (:func:`_squashed_variance`); the clean level is found from
    the bin's mean through :func:`.clipping.declip`. ``sigma**2`` is then
    the count-weighted mean of ``variance / s(d)``, solved by fixed-point
    iteration from the plain mean of the variances, upwards to the smallest
    solution. Far from the clip levels ``s`` is 1 and this is the plain
    weighted mean.

    Returns
    -------
    float or None
        None when the iteration runs away (more than 10 times the plain
        estimate): the variances do not look like clipped Gaussian noise.
    """
    plain = float(np.sqrt(np.average(variances, weights=counts)))
    if plain <= 0:
        return None
    sigma = plain
    for _ in range(100):
        clean = declip(means, sigma, low, high, margin=6.0)
        unsquashed = variances / _squashing(clean, sigma, low, high)
        updated = float(np.sqrt(np.average(unsquashed, weights=counts)))
        if updated > 10 * plain:
            return None
        if abs(updated - sigma) <= 1e-5 * sigma:
            return updated
        sigma = updated
    return sigma


def _squashing(clean: np.ndarray, sigma: float, low: float | None, high: float | None) -> np.ndarray:
    """:func:`_squashed_variance` at the distance of ``clean`` to the nearer clip level."""
    distance = np.full(np.shape(clean), np.inf)
    if low is not None:
        distance = np.minimum(distance, (clean - low) / sigma)
    if high is not None:
        distance = np.minimum(distance, (high - clean) / sigma)
    table = _squashed_variance()
    return np.interp(distance, _DISTANCES, table, left=table[0], right=1.0)


@functools.cache
def _squashed_variance() -> np.ndarray:
    """The noise estimator's variance of unit Gaussian noise clipped at each of :data:`_DISTANCES`.

    Measured once, by simulation with a fixed seed, through the estimator
    itself (:data:`_HIGH_PASS` and the median absolute deviation), whose
    answer on squashed noise has no closed form: 0 far below the clip level
    (all values clipped), about 0.29 at it, 1 a few deviations above it.
    """
    rng = np.random.default_rng(0)
    table = []
    for distance in _DISTANCES:
        clipped = np.maximum(distance + rng.standard_normal((192, 192)), 0.0)
        residual = ndimage.convolve(clipped, _HIGH_PASS, mode="reflect")[4:-4, 4:-4]
        mad = np.median(np.abs(residual - np.median(residual)))
        table.append((1.4826 * mad) ** 2)
    return np.maximum(np.array(table), 1e-6)


def gat(values: torch.Tensor, gain: float, read_variance: float) -> torch.Tensor:
    """Generalised Anscombe transform of a tensor: the noise becomes Gaussian of variance 1.

    Noise of variance ``gain * x + read_variance``; with ``gain`` 0 the
    values are only divided by the noise's standard deviation.
    """
    if gain <= 0:
        return values / max(read_variance, 1e-12) ** 0.5
    return 2.0 * (values / gain + 0.375 + read_variance / gain**2).clamp(min=0.0).sqrt()


def inverse_gat(values: torch.Tensor, gain: float, read_variance: float) -> torch.Tensor:
    """Closed-form approximation of the exact unbiased inverse of :func:`gat` [1]_.

    The plain algebraic inverse is biased where counts are low: it maps the
    mean of the transformed noisy values to less than the clean value.
    """
    if gain <= 0:
        return values * max(read_variance, 1e-12) ** 0.5
    d = values.clamp(min=0.8)  # the expansion diverges at 0; below ~0.8 the data is empty
    root = 1.5**0.5
    exact = d**2 / 4 + root / 4 / d - 11 / 8 / d**2 + 5 / 8 * root / d**3 - 1 / 8
    return (exact - read_variance / gain**2).clamp(min=0.0) * gain


def stabilize(image: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """:func:`gat` of an array (any shape) with the noise model ``noise``."""
    values = torch.as_tensor(np.asarray(image, dtype=np.float32))
    return gat(values, noise.gain, noise.read_variance).numpy()


def unstabilize(values: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """:func:`inverse_gat` of an array (any shape) with the noise model ``noise``."""
    tensor = torch.as_tensor(np.asarray(values, dtype=np.float32))
    return inverse_gat(tensor, noise.gain, noise.read_variance).numpy()


def declip_noise(
    values: np.ndarray, noise: NoiseModel, levels: tuple[float | None, float | None]
) -> np.ndarray:
    """Denoised values, the means of clipped noisy ones, mapped back to clean values.

    Gaussian noise is declipped at both ``levels`` (:func:`.clipping.declip`);
    Poisson-Gaussian noise at the high level alone, with its deviation at
    each clean value (:func:`.clipping.declip_photons`): its zero photons
    lie at the low level (:func:`_photons_clipped`), where clipping cut only
    read noise. On
    the six micrographs of ``bench/clipped_photons.py`` at 10 photons,
    clipped at 0 and 1, declipping the high level gained the prior 0.18
    dB (hubble_deep_field) to 1.96 (retina, whose brightest regions
    saturate: 27.04 to 29.00).

    Parameters
    ----------
    values : ndarray
        Denoised values, any shape, on the scale of ``noise`` and ``levels``.
    noise : NoiseModel
        The noise before clipping.
    levels : (float or None, float or None)
        The clip levels, low and high; None where not clipped.

    Returns
    -------
    ndarray of float32, shaped like ``values``, between the levels.
    """
    if noise.is_gaussian:
        return declip(values, noise.read_variance**0.5, *levels)
    if levels[1] is None:
        return np.array(values, dtype=np.float32)
    return declip_photons(values, noise.gain, noise.read_variance, levels[1])


def thin(
    values: torch.Tensor,
    noise: NoiseModel | list[NoiseModel],
    fraction: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split noisy values into two images of the same clean signal with independent noise.

    Binomial thinning [3]_: the values become photon counts ``values / gain
    + read_variance / gain**2``, whose variance equals their mean (the read
    noise counted as extra photons); each photon goes to the first image
    with probability ``fraction``. Poisson counts split so are two
    independent Poisson images, so denoising one into the other is, up to a
    constant, supervised training (Noise2Noise) from a single noisy image,
    whatever the counts, where recorrupted pairs need Gaussian noise. Both
    images are scaled back to intensities, each an unbiased estimate of the
    clean values; the first has the noise model :func:`thinned_noise`.

    Counts are rounded 1/12 count up: rounding values that are not whole
    counts adds 1/12 count of variance, and the counts' mean must grow as
    much for their variance to stay their mean. Whole counts round back to
    themselves, and the mean shift of the rounding is taken off both images.

    Parameters
    ----------
    values : Tensor
        Noisy intensities, any shape.
    noise : NoiseModel or list of NoiseModel
        Their noise, with a gain above 0; its read variance signed
        (:func:`estimate_noise` with ``signed``), so that the counts start
        at the level of zero photons: counts shifted from it have a variance
        unequal to their mean, and their two parts correlated noises. A
        list holds one model per channel, the values' axis 1 (B, C, ...).
    fraction : float
        Share of the photons in the first image, in (0, 1).
    generator : torch.Generator, optional
        Source of the random split.

    Returns
    -------
    part, rest : Tensor
        Shaped like ``values``.

    References
    ----------
    .. [3] A. Krull et al., "Image denoising and the generative accumulation
       of photons", WACV 2024 (Poisson thinning into independent images).
    """
    models = [noise] if isinstance(noise, NoiseModel) else list(noise)
    if min(model.gain for model in models) <= 0 or not 0 < fraction < 1:
        raise ValueError(f"thinning needs shot noise (gains {[m.gain for m in models]}) and 0 < fraction < 1.")
    offsets = [model.read_variance / model.gain for model in models]
    gain, offset = _per_channel([model.gain for model in models], offsets, values)
    # counts whose variance exceeds their mean correlate the two images' noises
    exact = (values + offset) / gain
    counts = (exact + 1 / 12).round().clamp(min=0.0)
    if len(models) == 1:
        shift = float((counts - exact).mean())
    else:
        shift = (counts - exact).mean(dim=[axis for axis in range(values.ndim) if axis != 1], keepdim=True)
    part = torch.binomial(counts, torch.full_like(counts, fraction), generator=generator)
    return (gain * (part / fraction - shift) - offset,
            gain * ((counts - part) / (1 - fraction) - shift) - offset)


def _per_channel(gains: list[float], offsets: list[float], values: torch.Tensor):
    """Gain and offset as numbers for one model, else shaped to broadcast over axis 1 of ``values``."""
    if len(gains) == 1:
        return gains[0], offsets[0]
    shape = (1, len(gains)) + (1,) * (values.ndim - 2)
    return tuple(torch.tensor(numbers, dtype=values.dtype, device=values.device).reshape(shape)
                 for numbers in (gains, offsets))


def thinned_noise(noise: NoiseModel, fraction: float) -> NoiseModel:
    """The noise model of :func:`thin`'s first image: ``1 / fraction`` times the variance."""
    return NoiseModel(noise.gain / fraction, noise.read_variance / fraction)


def noise_model_of(spec: str) -> NoiseModel:
    """The noise model of a synthetic noise description such as ``"poisson:30+gaussian:0.02"``.

    Raises
    ------
    ValueError
        For salt-and-pepper noise, which is not Poisson-Gaussian.
    """
    gain, variance = 0.0, 0.0
    for term in parse_noise(spec):
        if term.kind == "gaussian":
            variance += term.value**2
        elif term.kind == "poisson":
            gain += 1.0 / term.value
        else:
            raise ValueError(f"the noise {spec!r} is not Poisson-Gaussian: it has salt and pepper.")
    return NoiseModel(gain, variance)


def spread_picks(count: int, most: int = 8) -> np.ndarray:
    """Indices of up to ``most`` of ``count`` planes, evenly spread from the first to the last."""
    return np.unique(np.linspace(0, count - 1, min(most, count)).round().astype(int))


def estimate_planes_noise(
    planes: np.ndarray,
    *,
    most: int = 8,
    levels: list[tuple[float | None, float | None]] | None = None,
    binned: dict | None = None,
    strides: tuple[int, int] = (1, 1),
) -> tuple[NoiseModel, NoiseModel]:
    """Noise models for planes (N, C, Y, X): medians over up to ``most`` of them.

    Each of up to ``most`` planes (channels count as planes), evenly spread
    over the data, is binned once and fitted as :func:`estimate_noise`
    does, clamped and signed; the gains and the read variances are the
    medians of theirs, which tolerates a plane without contrast or with
    strong structure. ``levels`` holds each channel's clip levels on the
    planes' scale (``levels`` of :func:`estimate_noise`), if any. A
    ``binned`` dict keeps each plane's bins, so that another estimate on
    the same planes (:func:`estimate_channel_noise`) bins none twice.
    ``strides`` (Y, X): the noise is that of the planes' interleaved phases
    at these strides, where the planes' own is correlated (:func:`_noise_bins`).

    Returns
    -------
    noise, signed : NoiseModel
        The clamped model (the Anscombe transform's) and the one with a
        signed read variance (:func:`thin`'s; the clamped one where only
        it shows shot noise).
    """
    channels = np.shape(planes)[1]
    levels = levels or [(None, None)] * channels
    planes = np.asarray(planes)
    picks = spread_picks(planes.shape[0] * channels, most)  # channels count as planes
    bins = [_plane_bins(planes, index // channels, index % channels, binned, strides) for index in picks]
    clamped = [_fit_clamped(each, levels[index % channels]) for index, each in zip(picks, bins)]
    return _with_photons(median_model(clamped), median_model([_fit_signed_line(*each[:3]) for each in bins]))


def estimate_channel_noise(
    planes: np.ndarray,
    *,
    most: int = 8,
    levels: list[tuple[float | None, float | None]] | None = None,
    binned: dict | None = None,
    strides: tuple[int, int] = (1, 1),
) -> tuple[list[NoiseModel], list[NoiseModel]]:
    """The noise models of each channel of planes (N, C, Y, X), clamped and signed.

    For each channel, the medians over up to ``most`` of its planes,
    evenly spread, each fitted as :func:`estimate_planes_noise` fits them;
    ``levels``, ``binned`` and ``strides`` as there.
    """
    channels = np.shape(planes)[1]
    levels = levels or [(None, None)] * channels
    picks = spread_picks(len(planes), most)
    clamped, signed = [], []
    for channel in range(channels):
        bins = [_plane_bins(planes, index, channel, binned, strides) for index in picks]
        fits = _with_photons(median_model([_fit_clamped(each, levels[channel]) for each in bins]),
                             median_model([_fit_signed_line(*each[:3]) for each in bins]))
        clamped.append(fits[0])
        signed.append(fits[1])
    return clamped, signed


def channel_balance(models: list[NoiseModel]) -> tuple[np.ndarray, np.ndarray, NoiseModel] | None:
    """What brings the noise models of channels (``models``, one per channel) to one.

    With shot noise in every channel, each channel's range is multiplied by
    its gain over the median gain, and its low moved so that its read
    variance is the channels' least; without shot noise in any, its range
    by its standard deviation over the median's. Each low moves down, so no
    channel's values drop below its own 1st percentile, where the inverse
    Anscombe transform clips (:func:`inverse_gat`): brought to the median
    read variance instead, a channel of 10 photons beside ones of 300 and
    3,000 (moon, immunohistochemistry and cell) dropped 3 ranges, and the
    prior gave it back at 14.35 dB, 30.91 alone.

    Returns
    -------
    factors, shifts : ndarray of float, shape (C,)
        The arguments of :meth:`.normalization.Normalizer.rescaled`.
    noise : NoiseModel
        The one model of the channels so rescaled.

    None where some channels have shot noise and others not, or a
    channel's noise is not measurable.
    """
    if all(model.gain > 0 for model in models):
        gains = np.array([model.gain for model in models])
        factors = gains / np.median(gains)
        reads = np.array([model.read_variance for model in models]) / factors**2
        shifts = (reads.min() - reads) / np.median(gains)
    elif all(model.is_gaussian and model.read_variance > 0 for model in models):
        sigmas = np.sqrt([model.read_variance for model in models])
        factors, shifts = sigmas / np.median(sigmas), np.zeros(len(models))
    else:
        return None
    noise = median_model([fit.rescaled(f * s, f) for fit, f, s in zip(models, factors, shifts)])
    return factors, shifts, NoiseModel(noise.gain, max(noise.read_variance, 0.0))  # 0 rounds below


def _plane_bins(
    planes: np.ndarray, index: int, channel: int, binned: dict | None, strides: tuple[int, int]
):
    """:func:`_noise_bins` of one plane of (N, C, Y, X) ``planes``, kept in ``binned`` if given."""
    checkpoint()  # a large stack's planes take a second or more each
    if binned is None:
        return _noise_bins(planes[index, channel], strides)
    if (index, channel) not in binned:
        binned[index, channel] = _noise_bins(planes[index, channel], strides)
    return binned[index, channel]


def _with_photons(clamped: NoiseModel, signed: NoiseModel) -> tuple[NoiseModel, NoiseModel]:
    """``clamped`` and ``signed``, or ``clamped`` twice where only it shows shot noise.

    A fit under clip levels can keep a shot-noise term that the plain
    signed line does not (8-bit coins at sigma 25 of 255); :func:`thin` then
    counts the photons from the clamped model's zero.
    """
    return (clamped, clamped) if clamped.gain > 0 and signed.gain <= 0 else (clamped, signed)


def median_model(models: list[NoiseModel]) -> NoiseModel:
    """The median gain and the median read variance of ``models``."""
    return NoiseModel(
        float(np.median([m.gain for m in models])),
        float(np.median([m.read_variance for m in models])),
    )


def signal_correlation(planes: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Correlations (C, C) between the channels of planes (N, C, Y, X) without their noise.

    Independent noise leaves the covariances between channels as they are
    and adds its mean variance to each channel's own, which is taken off:
    the colours of a photograph correlate at 0.68 or more at sigma 25 and
    50 (of 255) where the noisy pixels' correlation falls to 0.04;
    unrelated micrographs stacked as channels correlate at 0.07 or less.
    Measured on about :data:`_CORRELATION_PIXELS` pixels of each channel,
    a regular grid, never a float64 copy of all the planes.
    """
    planes = np.asarray(planes)
    step = max(1, math.ceil(math.sqrt(planes[:, 0].size / _CORRELATION_PIXELS)))
    grid = planes[:, :, ::step, ::step]  # a view; the noise is independent from pixel to pixel
    flat = np.stack([grid[:, c].reshape(-1) for c in range(grid.shape[1])]).astype(np.float64)
    covariance = np.atleast_2d(np.cov(flat))
    noise_variance = noise.gain * np.maximum(flat.mean(axis=1), 0.0) + noise.read_variance
    spread = np.sqrt(np.maximum(np.diag(covariance) - noise_variance, 1e-12))
    correlation = covariance / np.outer(spread, spread)
    np.fill_diagonal(correlation, 1.0)
    return correlation
