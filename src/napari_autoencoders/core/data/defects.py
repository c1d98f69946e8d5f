"""A camera's defective pixels: single pixels far brighter (hot) or darker (dead) than all their neighbours.

An optical image's brightest pixel shares its light with its neighbours (a
point sampled at the Nyquist rate leaves a third or more of its height in
the nearest), and its darkest shares its shadow, where a defective pixel
shares neither. The denoisers take a hot pixel for a bright spot and a dead
one for a dark dot: on ``bench/defects.py``'s micrographs at 30 photons with
0.1 % of the pixels hot, the prior kept them and left a halo around each
(28.61 dB, 14.59 within 2 pixels of them; replaced, 31.19 and 24.43).

A pixel is taken for hot where it stands above the brightest of its 8
neighbours by :data:`HOT_SIGMAS` standard deviations of the noise of a
difference of two pixels as bright as that neighbour, and by
:data:`DEFECT_SHARE` of its height above their median; dead, where it stands
below the darkest by :data:`DEAD_SIGMAS` such deviations (at the darkest
neighbour's brightness) and by that share of its depth below the median; or,
where the noise shows shot noise, where its count or fewer is less likely
than :data:`DEAD_P` for a Poisson count of the darkest neighbour's mean and
that neighbour is not shaded beyond its noise (:data:`SHADE_P`): a Poisson
count's lower tail is far shorter than the Gaussian one the deviations
assume, and at a few tens of photons the share cannot tell a shadow from
noise. Either is replaced by that median. A hot pixel must stand clearer
than a dead one: the sky's stars and a micrograph's single-pixel spots are
real bright points (hubble_deep_field at 100 and 300 photons holds up to 6
that a rule of 4 deviations takes for hot), where nothing in an optical
image is a dark point narrower than a pixel. No pixel of the benchmarks'
other inputs is taken for either (the real images at every noise level and
at 300 photons, 8-bit, colour, channels, camera counts, volumes, phantoms,
the samples) but 3 for dead, dark points of the scanned originals that stand
clear of the noise at many photons: 1 of coins at 300 photons, 2 of an image
of ``bench/channels.py`` (moon, immunohistochemistry and cell at 10, 300 and
3000 photons). A dead pixel is told from noise only where its darkest
neighbour collects some 18 photons or more (a Poisson count of 18.4 reads 0
with a probability of 1e-8): with 0.1 % of the pixels dead, 1 to 97 % of
them per image are found at 100 photons, 3 to 97 % at 300, where the
deviations alone found 0 to 49 % and 1 to 84 % (the dark hubble_deep_field
the least; BENCHMARKS.md, "Dead pixels").

A camera's defective pixels sit at the same place in every frame it takes,
where the noise of the frames' mean falls with their number: the frames of
a stack are also judged by their mean (:func:`fixed_defects`), and a pixel
found there is replaced in every frame (:func:`fill_frame_defects`). On
stacks of 8 frames drifting by up to 64 pixels, cut from the real-image
benchmark's 30 cases, with 0.1 % of the pixels hot by 3 to 10 noise
deviations (too dim for one frame) or dead, the mean found 0 to 89 % of
the hot per stack where single frames found 0 to 8 %, and 0 to 100 % of
the dead where they found 0 to 94 %; nothing else but 2 pixels of one.
Its cost is a static scene's real single-pixel points, which the mean
shows clear of the noise as it shows a defect: 8 identical frames of coins
at 100 photons lose 41 dark points of the scan (0.05 dB after the prior),
of hubble_deep_field 104 (0.01 dB).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.special import pdtr  # the Poisson CDF; scipy.stats takes a second to import

from .stabilization import NoiseModel

#: How many noise standard deviations a hot pixel stands above its brightest neighbour.
HOT_SIGMAS = 8.0
#: How many a dead pixel stands below its darkest neighbour.
DEAD_SIGMAS = 4.0
#: The share of a defective pixel's distance to its neighbours' median by which it
#: stands clear of the nearest of them (so that no neighbour shares its light or shadow).
DEFECT_SHARE = 0.8
#: The variance is taken as at least this many photons' (in the dark, as at 0
#: photons, the fitted model's is near 0, where counts of a few photons are common).
FEWEST_PHOTONS = 4.0
#: A pixel of training data is taken for dead where its count or fewer is this unlikely
#: for a Poisson count of its neighbours' median mean (:func:`fill_dark_outliers`).
DARK_OUTLIER_P = 1e-6
#: Where the data show shot noise, a pixel is also taken for dead where its count or
#: fewer is this unlikely for a Poisson count of its darkest neighbour's mean, unless
#: that neighbour is shaded (:data:`SHADE_P`).
DEAD_P = 1e-8
#: A neighbour is shaded where its count or fewer is this unlikely at the median
#: count of the ring: it shares the pixel's shadow beyond the noise. The share rule
#: (:data:`DEFECT_SHARE`) cannot tell that at a few tens of photons, where the
#: darkest of 8 neighbours lies well under their median by chance alone.
SHADE_P = 1e-4
#: The most frames whose mean :func:`fixed_defects` takes as less noisy than one: a
#: mean of more frames is judged as if of this many, as the share rule cannot tell a
#: defect from a scene's real single-pixel point once the noise is low enough.
POOLED_FRAMES = 16
#: The 8 neighbours of a pixel in its plane.
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)


class Defects(NamedTuple):
    """How many hot and dead pixels were replaced."""

    hot: int
    dead: int

    def __str__(self) -> str:
        """The counts in words: '4 hot pixels', '1 dead pixel', '4 hot and 1 dead pixels'."""
        kinds = [f"{count} {kind}" for count, kind in zip(self, ("hot", "dead")) if count]
        noun = "pixel" if sum(self) == 1 else "pixels"
        return f"{' and '.join(kinds)} {noun}" if kinds else "no defective pixels"


def find_defects(planes: np.ndarray, noise: NoiseModel) -> tuple[np.ndarray, np.ndarray]:
    """Where ``planes`` (..., Y, X) hold hot and dead pixels, judged plane by plane.

    Parameters
    ----------
    planes : ndarray, shape (..., Y, X)
        Noisy images on the scale of ``noise``.
    noise : NoiseModel
        Their noise: variance ``gain * intensity + read_variance``.

    Returns
    -------
    hot, dead : ndarray of bool, shape of ``planes``
    """
    hot, dead, _ = _defects_and_median(np.asarray(planes, dtype=np.float32), noise)
    return hot, dead


def fill_defects(planes: np.ndarray, noise: NoiseModel) -> tuple[np.ndarray, Defects]:
    """``planes`` (..., Y, X) with each hot and dead pixel replaced by the median of its 8 neighbours.

    Returns the planes (the input itself where there is none, else a float32
    copy) and how many pixels of each kind were replaced.
    """
    values = np.asarray(planes, dtype=np.float32)
    hot, dead, median = _defects_and_median(values, noise)
    counts = Defects(int(hot.sum()), int(dead.sum()))
    return (planes, counts) if counts == (0, 0) else (np.where(hot | dead, median, values), counts)


def fixed_defects(mean: np.ndarray, frames: int, noise: NoiseModel) -> tuple[np.ndarray, np.ndarray]:
    """The hot and dead pixels that ``frames`` frames of one camera share, judged by their ``mean``.

    The mean of ``frames`` frames has the noise of ``noise`` over their
    number (at most :data:`POOLED_FRAMES`), so a defect too dim for any
    one frame stands clear of it; the scene's structure, where it moves
    between frames, blurs in the mean and is not taken.

    Parameters
    ----------
    mean : ndarray, shape (..., Y, X)
        The frames' mean, on the scale of ``noise``.
    frames : int
        How many frames it is the mean of, 2 or more: of one, it is that
        frame, which :func:`fill_defects` judges (its callers skip the mean).
    noise : NoiseModel
        The noise of one frame.

    Returns
    -------
    hot, dead : ndarray of bool, shape of ``mean``
    """
    return find_defects(mean, noise.scaled(1.0 / min(frames, POOLED_FRAMES)))


def frames_mean(frames: np.ndarray) -> np.ndarray:
    """The mean (..., Y, X) of ``frames`` (N, ..., Y, X), float32, accumulated in float64; read once."""
    return np.mean(frames, axis=0, dtype=np.float64).astype(np.float32)


def fill_fixed(frames: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """``frames`` (N, ..., Y, X) with the pixels of ``fixed`` (..., Y, X) replaced by the median of their 8 neighbours.

    Each frame's own neighbours, mirrored at the edges as the filters of
    :func:`fill_defects` mirror them. Returns ``frames`` itself where
    ``fixed`` holds no pixel, else a float32 copy.
    """
    if not fixed.any():
        return frames
    values = np.array(frames, dtype=np.float32)
    *lead, ys, xs = np.nonzero(fixed)
    height, width = fixed.shape[-2:]
    ring = [
        values[(slice(None), *lead, _mirror(ys + dy, height), _mirror(xs + dx, width))]
        for dy, dx in np.argwhere(_RING) - 1
    ]
    # the 5th of 8, as the median filter of fill_defects takes it
    values[(slice(None), *lead, ys, xs)] = np.partition(np.stack(ring), 4, axis=0)[4]
    return values


def fill_frame_defects(frames: np.ndarray, noise: NoiseModel) -> tuple[np.ndarray, Defects]:
    """The frames (N, ..., Y, X) of one camera with their hot and dead pixels replaced.

    Those of their mean (:func:`fixed_defects`) in every frame, then each
    frame's own (:func:`fill_defects`). Returns the frames (themselves where
    there is none, else a float32 copy) and how many pixels of each kind
    were replaced, a fixed pixel counted once per frame.
    """
    count = len(frames)
    if count < 2:  # no mean to judge: not even its copy of the one frame
        return fill_defects(frames, noise)
    hot, dead = fixed_defects(frames_mean(frames), count, noise)
    filled, counts = fill_defects(fill_fixed(frames, hot | dead), noise)
    return filled, Defects(counts.hot + count * int(hot.sum()), counts.dead + count * int(dead.sum()))


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """``index`` one step outside ``[0, size)`` mirrored back without repeating the edge."""
    return np.clip(np.abs(np.where(index >= size, 2 * (size - 1) - index, index)), 0, size - 1)


def fill_dark_outliers(planes: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Training planes (..., Y, X) with each pixel too dark for its neighbours' photons set to their median.

    Fine-tuning on thinned pairs learns a dead pixel that :func:`fill_defects`
    misses as structure (the pixel reads no photon in both halves of a
    pair): on ``bench/defects.py``'s cell with 0.1 % of its pixels dead, 30
    s of it fell 0.97 dB under the prior at 100 photons (39.91 dB), and
    with this 1.17 dB over it (42.05). A pixel whose count or fewer has a
    Poisson probability under :data:`DARK_OUTLIER_P` at its 8 neighbours'
    median count is a surer sign than a difference of deviations where
    counts are few (none where 20 are expected: 2e-9); counts as
    :func:`.stabilization.thin` makes them, the read noise counted as
    photons. Real dark details sharper than the median's reach are taken
    too (the benchmark's coins at 100 photons: 239 pixels), so this cleans
    only what the network learns from, never the image it denoises.
    ``noise`` needs a gain above 0.
    """
    values = np.asarray(planes, dtype=np.float32)
    footprint = _RING.reshape((1,) * (values.ndim - 2) + _RING.shape)
    median = ndimage.median_filter(values, footprint=footprint, mode="mirror")
    dark = _unlikely_counts(values, median, noise, DARK_OUTLIER_P)
    if not dark.any():
        return planes
    zero = -noise.read_variance / noise.gain  # the level of no count
    return np.where(dark, np.maximum(median, zero), values)


def _unlikely_counts(values: np.ndarray, means: np.ndarray, noise: NoiseModel, p: float) -> np.ndarray:
    """Where ``values``' counts or fewer have a Poisson probability under ``p`` at ``means``' counts.

    Counts as :func:`.stabilization.thin` makes them, the read noise
    counted as photons; ``noise`` needs a gain above 0.
    """
    offset = noise.read_variance / noise.gain**2
    counts = values / noise.gain + offset
    expected = np.maximum(means / noise.gain + offset, 0.0)
    candidates = np.nonzero(counts < expected - 3 * np.sqrt(expected))  # the tail's test where it may pass
    unlikely = pdtr(np.floor(np.maximum(counts[candidates], 0.0)), expected[candidates]) < p
    found = np.zeros(values.shape, dtype=bool)
    found[tuple(axis[unlikely] for axis in candidates)] = True
    return found


def _defects_and_median(
    values: np.ndarray, noise: NoiseModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The hot and dead pixels of ``values`` (..., Y, X), and the median of each pixel's 8 neighbours.

    The median (the costlier filter) is computed only where some pixel
    stands clear of its nearest neighbour's noise; else it is None.
    """
    footprint = _RING.reshape((1,) * (values.ndim - 2) + _RING.shape)
    # mirrored at the edges without the edge pixel itself: an edge pixel is not its own neighbour
    brightest = ndimage.maximum_filter(values, footprint=footprint, mode="mirror")
    darkest = ndimage.minimum_filter(values, footprint=footprint, mode="mirror")
    above, below = values - brightest, darkest - values
    # the noise of a difference of two pixels as bright as that neighbour
    hot = above > HOT_SIGMAS * np.sqrt(2 * _variance(brightest, noise))
    dead = below > DEAD_SIGMAS * np.sqrt(2 * _variance(darkest, noise))
    # few photons: a Poisson tail is far shorter than the Gaussian one the deviations assume
    few = _unlikely_counts(values, darkest, noise, DEAD_P) if noise.gain > 0 else np.zeros_like(dead)
    if not (hot.any() or dead.any() or few.any()):
        return hot, dead, None
    median = ndimage.median_filter(values, footprint=footprint, mode="mirror")
    # a neighbour near the pixel shares its light (or shadow): an optical spot (or dot)
    hot &= above > DEFECT_SHARE * (values - median)
    dead &= below > DEFECT_SHARE * (median - values)
    if few.any():
        dead |= few & ~_unlikely_counts(darkest, median, noise, SHADE_P)
    return hot, dead, median


def _variance(values: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """The noise variance at ``values``, at least that of :data:`FEWEST_PHOTONS` photons."""
    least = FEWEST_PHOTONS * noise.gain**2
    return np.maximum(noise.gain * np.maximum(values, 0.0) + noise.read_variance, least)
