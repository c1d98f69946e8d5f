"""Constant regions: a canvas or a mask, which holds no noise, told from clipped data.

An image padded onto a canvas of one value, or with a region masked to a
constant, holds regions where the noise that a denoiser models is absent.
They would pass for the smoothest pixels of their intensity bin in a noise
fit, for a pile of clipped values at a clip level, and for data in the
normalisation's percentiles; the pairs that fine-tuning splits from them
have noises that are each other's negative. Clipping makes constant
regions too, at a clip level, and those are data: telling the two apart
is :func:`_clipped_regions`. A denoiser meets the step from noisy content
to a canvas as it meets an image's border, and does worse near it; what it
is given to predict from has the content mirrored into the canvas instead
(:func:`reflect_into`), and the canvas is kept as it was.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Side of the window over which a region constant to the last digit holds no noise
#: (:func:`flat_pixels`): 49 pixels alike, where noise makes them differ.
FLAT_SIDE = 7
#: Share of the noisy pixels framing a constant region at an end of the
#: range that lie at or beyond its value, from which it is clipped data
#: (:func:`_clipped_regions`).
_LEAST_FRAME_SHARE = 0.01


def flat_pixels(image: np.ndarray, *, anywhere: bool = False) -> np.ndarray:
    """Where (Y, X) ``image`` is constant over :data:`FLAT_SIDE` pixels a side and holds no noise.

    Such a region (a canvas padded with a background value, a region
    masked to a constant) would pass for the smoothest pixels of its
    intensity bin and give it no variance: cell at 30 photons padded with
    its median came out of the prior at 21.70 dB where it gives 38.31
    unpadded. A constant region at or beyond the 1st or 99.8th percentile,
    the normalisation's ends, is kept where it is clipped data
    (:func:`_clipped_regions`: a clip level, which the fit models, a
    camera's counts at zero photons).

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        Any intensity scale.
    anywhere : bool
        Take every constant region, clipped data too.

    Returns
    -------
    ndarray of bool, shape (Y, X)
    """
    image = np.asarray(image)
    if image.dtype == bool:  # a mask: its percentiles are those of 0 and 1
        image = image.view(np.uint8)
    if not _has_flat_row(image):  # 0.01 s a 2048x2048 plane where the filters take 0.3 s
        return np.zeros(image.shape, dtype=bool)
    centres = ndimage.maximum_filter(image, FLAT_SIDE) == ndimage.minimum_filter(image, FLAT_SIDE)
    flat = ndimage.maximum_filter(centres, FLAT_SIDE)  # each whole window
    if anywhere or not flat.any():
        return flat
    low, high = np.percentile(image, (1.0, 99.8))
    return flat & ~_clipped_regions(image, flat, flat & ((image <= low) | (image >= high)), low)


def _has_flat_row(image: np.ndarray) -> bool:
    """Whether a row of (Y, X) ``image`` holds :data:`FLAT_SIDE` equal values in a row.

    Each flat window does; the rows are mirrored at their ends as the
    filters of :func:`flat_pixels` mirror them.
    """
    half = FLAT_SIDE // 2
    rows = np.pad(image, ((0, 0), (half, half)), mode="symmetric")
    same = rows[:, 1:] == rows[:, :-1]
    width = same.shape[1] - (FLAT_SIDE - 2)
    run = same[:, :width].copy()
    for shift in range(1, FLAT_SIDE - 1):
        run &= same[:, shift : shift + width]
    return bool(run.any())


def _clipped_regions(image: np.ndarray, flat: np.ndarray, ends: np.ndarray, low: float) -> np.ndarray:
    """Which of the constant regions ``ends`` at the range's ends were made by clipping.

    Clipping piles the noisy values beyond a level onto it: around a
    region at that level the clean values lie near it, and of the noisy
    pixels within 2 of its edge many are at or beyond it too
    (:data:`_LEAST_FRAME_SHARE`; 4.5 to 74 per cent around the saturated
    regions of four 8-bit photographs over-exposed 1.8 times). A canvas
    or a mask has none, or as few as the image holds anywhere: at the
    image's greatest or least value, it cost camera at sigma 25 6.7 dB
    and moon at 30 photons 11.4 dB as clipping.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
    flat : ndarray of bool, shape (Y, X)
        Every constant region of ``image``.
    ends : ndarray of bool, shape (Y, X)
        Those of them at or below ``low``, the 1st percentile, or at or
        above the 99.8th.
    low : float
        The 1st percentile: clipping piles values below a level at or under it.

    Returns
    -------
    ndarray of bool, shape (Y, X)
        The pixels of the regions of ``ends`` that clipping made.
    """
    labels, count = ndimage.label(ends)
    if count == 0:
        return ends
    frame = ndimage.binary_dilation(ends, iterations=2) & ~flat
    owner = ndimage.grey_dilation(labels, size=5)[frame]  # the region each frame pixel borders
    levels = np.asarray(ndimage.maximum(image, labels, np.arange(1, count + 1)))
    level = levels[owner - 1]
    below = level <= low  # where clipping lies below the level
    beyond = np.where(below, image[frame] <= level, image[frame] >= level)
    total = np.bincount(owner, minlength=count + 1)[1:]
    share = np.bincount(owner, weights=beyond, minlength=count + 1)[1:] / np.maximum(total, 1)
    clipped = np.concatenate([[False], share >= _LEAST_FRAME_SHARE])
    return clipped[labels]


def canvas_mask(planes: np.ndarray) -> np.ndarray:
    """:func:`flat_pixels` of each (Y, X) plane of ``planes`` (..., Y, X), shaped like them."""
    values = np.asarray(planes)
    flat = [flat_pixels(plane) for plane in values.reshape(-1, *values.shape[-2:])]
    return np.stack(flat).reshape(values.shape)


def reflect_into(planes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``planes`` (..., Y, X) with the pixels of ``mask`` replaced by the content mirrored into them.

    Each masked pixel ``p`` takes the value at ``2 q - p``, where ``q`` is
    the nearest pixel not masked: the content reflected across its edge,
    whatever the canvas's shape. Where that point lies outside the plane or
    in the mask, the value at ``q``. A denoiser then sees no step to a
    noiseless region: horse at sigma 25 of 255, padded by 100 pixels of its
    noisy median, least or greatest value, came out of the prior at 44.57,
    44.31 and 44.95 dB, 45.55 from what this gives (45.35 unpadded: the
    mirrored content also stands in for the convolutions' zero padding).

    Parameters
    ----------
    planes : ndarray, shape (..., Y, X)
    mask : ndarray of bool, shape of ``planes``
        The pixels to fill, e.g. :func:`canvas_mask`.

    Returns
    -------
    ndarray, shape and dtype of ``planes``
        A copy; planes all masked or with nothing masked are as they were.
    """
    values = np.array(planes, copy=True)
    flat = values.reshape(-1, *values.shape[-2:])
    for plane, masked in zip(flat, np.asarray(mask, dtype=bool).reshape(flat.shape)):
        if masked.any() and not masked.all():
            plane[masked] = plane[_mirrored(masked)]
    return values


def _mirrored(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of ``mask`` (Y, X), in ``np.nonzero`` order, the (Y, X) indices it mirrors."""
    nearest = ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
    inside = np.array(np.nonzero(mask))  # (2, n)
    edge = nearest[:, inside[0], inside[1]]
    mirror = 2 * edge - inside
    within = np.all((mirror >= 0) & (mirror < np.array(mask.shape)[:, None]), axis=0)
    mirror = np.where(within, mirror, edge)
    mirror = np.where(mask[mirror[0], mirror[1]], edge, mirror)
    return mirror[0], mirror[1]
