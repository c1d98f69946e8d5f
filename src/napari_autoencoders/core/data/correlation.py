"""Noise correlated along image rows or columns, and the interleaved phases that undo it.

A camera read out line by line (sCMOS, EMCCD, line-scanning confocals) often
adds noise whose neighbouring values along one axis correlate. A denoiser of
white noise, the prior included, takes such noise for structure: it measures
little noise in it and removes little. Taking every ``s``-th pixel along that
axis (a *phase*: the pixel-shuffle downsampling of Zhou et al., 2020) leaves
neighbours ``s`` pixels apart, whose noise no longer correlates, so each phase
is denoised as white noise and the phases are interleaved back.

The correlation is measured on pixel differences in the flatter half of the
image: ``var(v[i + d] - v[i]) / 2 = sigma**2 (1 - rho(d))`` where the signal
hardly changes (a robust spread stands in for the variance). Texture raises
it along both axes alike; noise of a row-wise readout raises it along one
axis only, so an axis counts as correlated where it stands above the other
(:data:`ANISOTROPY`).

References
----------
Y. Zhou et al., "When AWGN-based denoiser meets real noises", AAAI 2020.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .canvas import flat_pixels

#: Lags (pixels) along each axis at which the correlation is measured.
LAGS = 4
#: How far one axis's correlation at a lag must exceed the other's for its
#: noise to count as correlated at that lag. Textured images with white noise
#: (the real-image benchmark's 30 cases) differ by at most 0.06.
ANISOTROPY = 0.1
#: At a lag of one pixel, where the correlation starts, the axis's correlation
#: must exceed :data:`ONSET` and the other's by :data:`ONSET_ANISOTROPY`
#: (a 3-pixel row kernel [0.5, 1, 0.5] correlates neighbours at 0.67,
#: [0.2, 1, 0.2] at 0.37), while the other axis's stays under :data:`ACROSS`:
#: a camera's row noise is white across rows, where the grain of a nearly
#: clean image (8-bit photographs and micrographs at a noise of 0 to 2 of
#: 255) correlates along both axes, at 0.29 to 0.7 across (those under 0.35
#: fail the anisotropy bound), and was taken for row noise without the two.
ONSET = 0.2
ONSET_ANISOTROPY = 0.15
ACROSS = 0.35
#: :func:`suggested_strides` counts the lags at which an axis's correlation exceeds this.
RESIDUAL = 0.15
#: Neighbours correlating above this along both axes (:func:`correlates_along_both`) are
#: said to (:func:`both_axes_warning`): the measure cannot tell noise correlated along both
#: axes (a [0.5, 1, 0.5] kernel along each: 0.55 to 0.73 on the real-image benchmark's
#: images; a Gaussian blur of 1 pixel: 0.66 to 0.81) from the grain of a nearly clean image
#: (above it: chelsea, gravel, immunohistochemistry and retina with noise of 0 to 2 of 255,
#: cell and moon with 0 and 1), and the image stays whole. White noise on the benchmark's 30
#: noisy inputs: at most 0.47 (gravel at sigma 15 of 255).
BOTH_AXES = 0.5
#: Side of the central window of a plane that is measured: a million pixels
#: are plenty, and a whole 4096x4096 plane took 3.5 s (0.2 s for this window).
WINDOW = 1024


def noise_correlation(image: np.ndarray) -> np.ndarray:
    """Correlation of the noise of one image (Y, X) along Y and X at lags 1 to :data:`LAGS`.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        A noisy image, any intensity scale.

    Returns
    -------
    ndarray of float, shape (2, LAGS)
        Row 0 along Y, row 1 along X; entry ``d - 1`` the correlation of
        values ``d`` pixels apart, measured where the image is flattest (see
        the module notes), relative to the variance at the largest lag.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) <= 2 * LAGS:
        raise ValueError(
            f"measuring the noise's correlation needs a 2D image of more than {2 * LAGS} pixels a "
            f"side, got shape {image.shape}."
        )
    activity = ndimage.gaussian_gradient_magnitude(image, 2.0, mode="reflect")
    # constant regions (a canvas, a zero padding) hold no noise and would pass for the flattest
    # half: camera with noise correlated along rows, on a canvas as wide again, measured 0 there
    noisy = ~flat_pixels(image, anywhere=True)
    if not noisy.any():
        return np.zeros((2, LAGS))
    flat = noisy & (activity <= np.median(activity[noisy]))
    halves = np.array(
        [[_half_variance(image, flat, axis, lag) for lag in range(1, LAGS + 1)] for axis in (0, 1)]
    )
    reference = halves[:, -1].max()
    return 1.0 - halves / reference if reference > 0 else np.zeros_like(halves)


def _half_variance(image: np.ndarray, flat: np.ndarray, axis: int, lag: int) -> float:
    """Half the variance of differences ``lag`` pixels apart along ``axis``, both pixels flat, up to a factor.

    Robust and unquantised: from the mean absolute deviation of the 90 % of
    differences closest to their median (a median absolute deviation of
    whole numbers, as 8-bit images give, moves in steps of 10 % or more).
    """
    values, flat = np.moveaxis(image, axis, 0), np.moveaxis(flat, axis, 0)
    differences = (values[lag:] - values[:-lag])[flat[lag:] & flat[:-lag]]
    if differences.size == 0:
        return 0.0
    deviations = np.abs(differences - np.median(differences))
    return float(np.mean(deviations[deviations <= np.quantile(deviations, 0.9)]) ** 2 / 2)


def decorrelating_strides(correlation: np.ndarray) -> tuple[int, int]:
    """Strides (Y, X) whose phases hold uncorrelated noise, from :func:`noise_correlation`.

    An axis whose correlation at one pixel exceeds :data:`ONSET` and the other
    axis's by :data:`ONSET_ANISOTROPY`, the other's staying under :data:`ACROSS`,
    takes one more than the number of leading lags at which it exceeds the
    other's by :data:`ANISOTROPY`; the other axis, 1. Noise correlated alike
    along both axes is not told from texture: (1, 1).
    """
    correlation = np.asarray(correlation)
    strides = [1, 1]
    for axis in (0, 1):
        excess = correlation[axis] - correlation[1 - axis]
        onset = correlation[axis, 0] > ONSET and excess[0] > ONSET_ANISOTROPY
        if onset and correlation[1 - axis, 0] < ACROSS:
            leading = np.argmin(np.append(excess > ANISOTROPY, False))
            strides[axis] = int(leading) + 1
    return strides[0], strides[1]


def planes_correlation(planes: np.ndarray, *, most: int = 4) -> np.ndarray | None:
    """The median :func:`noise_correlation` (2, LAGS) of up to ``most`` planes (N, C, Y, X).

    Each plane is measured in its central :data:`WINDOW` x :data:`WINDOW`
    pixels at most. None where the planes are too small to measure.
    """
    planes = np.asarray(planes)
    if min(planes.shape[-2:]) <= 2 * LAGS:
        return None
    top, left = ((side - min(side, WINDOW)) // 2 for side in planes.shape[-2:])
    planes = planes[..., top : top + WINDOW, left : left + WINDOW]
    flat = planes.reshape(-1, *planes.shape[-2:])
    picks = np.unique(np.linspace(0, len(flat) - 1, min(most, len(flat))).round().astype(int))
    return np.median([noise_correlation(flat[i]) for i in picks], axis=0)


def choose_strides(
    planes: np.ndarray, strides: tuple[int, int] | None = None
) -> tuple[np.ndarray | None, tuple[int, int]]:
    """Measure the noise of planes (N, C, Y, X) and the strides of the phases where it is white.

    Parameters
    ----------
    planes : ndarray, shape (N, C, Y, X)
    strides : (int, int), optional
        These strides (Y, X) whatever the measure finds (a user's choice,
        e.g. for noise correlated along both axes); by default
        :func:`decorrelating_strides`.

    Returns
    -------
    correlation : ndarray (2, LAGS) or None
        :func:`planes_correlation`.
    strides : (int, int)
        Those given, else :func:`decorrelating_strides` ((1, 1) where the
        planes are too small to measure): (1, 1) keeps the planes whole.
    """
    correlation = planes_correlation(planes)
    if strides is None:
        strides = (1, 1) if correlation is None else decorrelating_strides(correlation)
    return correlation, (int(strides[0]), int(strides[1]))


def suggested_strides(correlation: np.ndarray) -> tuple[int, int]:
    """Strides (Y, X) that would decorrelate noise showing ``correlation`` (2, LAGS), both axes alike.

    Each axis takes one more than its leading lags of a correlation above
    :data:`RESIDUAL`: what a user may ask for where :func:`decorrelating_strides`
    cannot tell noise correlated along both axes from texture.
    """
    above = np.asarray(correlation) > RESIDUAL
    rows, columns = (int(np.argmin(np.append(axis, False))) + 1 for axis in above)
    return rows, columns


def correlates_along_both(correlation: np.ndarray | None) -> bool:
    """Whether neighbours correlate above :data:`BOTH_AXES` along Y and X (correlation (2, LAGS) or None)."""
    return correlation is not None and bool(np.min(np.asarray(correlation)[:, 0]) > BOTH_AXES)


def both_axes_warning(correlation: np.ndarray) -> str:
    """The warning that an image whose neighbours correlate along both axes is denoised whole."""
    rows, columns = suggested_strides(correlation)
    return (
        f"neighbouring pixels correlate along both axes ({correlation[0, 0]:.2f} along Y, "
        f"{correlation[1, 0]:.2f} along X): the fine texture of a nearly clean image does that, "
        "and so does noise correlated along both axes (resampled, interpolated or "
        "camera-processed images). The image is denoised whole, as if its noise were white: "
        "correlated noise then mostly stays, and a nearly clean image may lose texture taken "
        f"for noise. If it is noise, noise strides {rows},{columns} split it into interleaved "
        "sets where it no longer correlates."
    )


def parse_strides(text: str) -> tuple[int, int] | None:
    """Strides from text: ``"auto"`` (None, measured) or ``"Y,X"``, e.g. ``"1,3"``, ``"2,2"``.

    Their range is the config's to check (``data.noise_strides``).

    Raises
    ------
    ValueError
        For anything else, naming the forms that are read.
    """
    text = text.strip().lower()
    if text == "auto":
        return None
    try:
        strides = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        strides = ()
    if len(strides) != 2:
        raise ValueError(
            "noise strides must be 'auto' or two whole numbers Y,X (e.g. 1,3 for every 3rd "
            f"column, 2,2 for both axes, 1,1 for the whole image), got {text!r}."
        )
    return strides


def to_phases(batch: np.ndarray, strides: tuple[int, int], *, crop: bool = False) -> np.ndarray:
    """Split arrays (B, ..., Y, X) into their interleaved phases, stacked along B.

    Y and X are first padded (mirrored) to multiples of ``strides``, or with
    ``crop`` cut down to them (data to learn from, where no pixel need come
    back); phase ``(p, q)`` holds pixels ``[p::sy, q::sx]`` and is batch item
    ``(p * sx + q) * B + b``.

    Returns
    -------
    ndarray, shape (sy * sx * B, ..., ceil(Y / sy), ceil(X / sx)), floor with ``crop``
    """
    sy, sx = strides
    lead, (height, width) = batch.shape[:-2], batch.shape[-2:]
    if crop:
        batch = batch[..., : height - height % sy, : width - width % sx]
    pads = [(0, 0)] * len(lead) + [(0, -batch.shape[-2] % sy), (0, -batch.shape[-1] % sx)]
    batch = np.pad(batch, pads, mode="symmetric") if any(pads[-2] + pads[-1]) else batch
    rows, columns = batch.shape[-2] // sy, batch.shape[-1] // sx
    split = batch.reshape(*lead, rows, sy, columns, sx)
    split = np.moveaxis(split, (-3, -1), (0, 1))  # (sy, sx, B, ..., rows, columns)
    return np.ascontiguousarray(split.reshape(sy * sx * lead[0], *lead[1:], rows, columns))


def from_phases(phases: np.ndarray, strides: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Interleave :func:`to_phases`'s output back into arrays (B, ..., Y, X) of Y, X ``shape``."""
    sy, sx = strides
    rows, columns = phases.shape[-2:]
    split = phases.reshape(sy, sx, -1, *phases.shape[1:])
    merged = np.moveaxis(split, (0, 1), (-3, -1))  # (B, ..., rows, sy, columns, sx)
    merged = merged.reshape(*merged.shape[:-4], rows * sy, columns * sx)
    return np.ascontiguousarray(merged[..., : shape[0], : shape[1]])


def phase_function(function, strides: tuple[int, int]):
    """``function`` of arrays (B, ..., Y, X) applied to their phases, interleaved back.

    The identity wrapper for strides (1, 1).
    """
    if tuple(strides) == (1, 1):
        return function

    def phased(batch: np.ndarray) -> np.ndarray:
        return from_phases(function(to_phases(batch, strides)), strides, batch.shape[-2:])

    return phased
