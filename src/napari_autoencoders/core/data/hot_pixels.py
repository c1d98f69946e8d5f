"""Hot pixels: single pixels far brighter than all their neighbours, as a camera's defective ones are.

An optical image's brightest pixel shares its light with its neighbours (a
point sampled at the Nyquist rate leaves a third or more of its height in
the nearest), where a hot pixel shares none. The denoisers take a hot pixel
for a bright spot: on ``bench/hot_pixels.py``'s micrographs at 30 photons
with 0.1 % of the pixels hot, the prior kept them and left a halo around
each (28.61 dB, 14.59 within 2 pixels of them; replaced, 31.19 and 24.43). A
pixel is taken for hot where it stands above the brightest of its 8
neighbours by :data:`HOT_SIGMAS` standard deviations of the noise of a
difference of two pixels as bright as that neighbour, and by
:data:`HOT_SHARE` of its height above their median; it is replaced by that
median. No pixel of the other benchmarks' inputs is (the real images at
every noise level, 8-bit, colour, channels, camera counts, volumes,
phantoms).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .stabilization import NoiseModel

#: How many noise standard deviations a hot pixel stands above its brightest neighbour.
HOT_SIGMAS = 8.0
#: The share of its height above its neighbours' median by which it stands above the brightest.
HOT_SHARE = 0.8
#: The variance is taken as at least this many photons' (in the dark, as at 0
#: photons, the fitted model's is near 0, where counts of a few photons are common).
FEWEST_PHOTONS = 4.0
#: The 8 neighbours of a pixel in its plane.
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)


def find_hot_pixels(planes: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Where ``planes`` (..., Y, X) hold hot pixels, judged plane by plane.

    Parameters
    ----------
    planes : ndarray, shape (..., Y, X)
        Noisy images on the scale of ``noise``.
    noise : NoiseModel
        Their noise: variance ``gain * intensity + read_variance``.

    Returns
    -------
    ndarray of bool, shape of ``planes``
    """
    return _hot_and_median(np.asarray(planes, dtype=np.float32), noise)[0]


def fill_hot_pixels(planes: np.ndarray, noise: NoiseModel) -> tuple[np.ndarray, int]:
    """``planes`` (..., Y, X) with each hot pixel replaced by the median of its 8 neighbours.

    Returns the planes (the input itself where there is none, else a float32
    copy) and how many pixels were replaced.
    """
    values = np.asarray(planes, dtype=np.float32)
    hot, median = _hot_and_median(values, noise)
    count = int(hot.sum())
    return (planes, 0) if count == 0 else (np.where(hot, median, values), count)


def _hot_and_median(values: np.ndarray, noise: NoiseModel) -> tuple[np.ndarray, np.ndarray | None]:
    """The hot pixels of ``values`` (..., Y, X), and the median of each pixel's 8 neighbours.

    The median (the costlier filter) is computed only where some pixel
    stands clear of its brightest neighbour's noise; else it is None.
    """
    footprint = _RING.reshape((1,) * (values.ndim - 2) + _RING.shape)
    # mirrored at the edges without the edge pixel itself: an edge pixel is not its own neighbour
    brightest = ndimage.maximum_filter(values, footprint=footprint, mode="mirror")
    above = values - brightest
    hot = above > HOT_SIGMAS * np.sqrt(2 * _variance(brightest, noise))  # were the pixel as bright
    if not hot.any():
        return hot, None
    median = ndimage.median_filter(values, footprint=footprint, mode="mirror")
    return hot & (above > HOT_SHARE * (values - median)), median


def _variance(values: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """The noise variance at ``values``, at least that of :data:`FEWEST_PHOTONS` photons."""
    least = FEWEST_PHOTONS * noise.gain**2
    return np.maximum(noise.gain * np.maximum(values, 0.0) + noise.read_variance, least)
