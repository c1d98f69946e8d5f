"""Super-resolution data: downscaling, interpolation baselines and low/high patch pairs.

Geometry: a low-resolution pixel covers a block of ``factor x factor``
high-resolution pixels, so high-resolution pixel ``j`` has its centre at
low-resolution coordinate ``(j + 0.5) / factor - 0.5`` (the convention of
``torch.nn.functional.interpolate(..., align_corners=False)``). Downscaling
and the networks keep it, so upscaled images overlay their input exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .axes import to_planes
from .patches import check_image, split_validation

#: Upscaling factors the super-resolution task supports.
FACTORS = (2, 3, 4)

#: Interpolation orders of :func:`upscale_interpolated`, as torch modes.
_INTERPOLATION = {1: "bilinear", 3: "bicubic"}


@dataclass(frozen=True)
class Downscale:
    """A parsed downscaling method: ``"area"``, or ``"gaussian"`` with ``sigma``."""

    method: str
    sigma: float = 0.0


#: The widest blur of ``gaussian:SIGMA`` (high-resolution pixels): wider blurs
#: every pixel of a downscaled copy into the same grey (and an infinite one raised).
MAX_SIGMA = 100.0


def parse_downscale(spec: str) -> Downscale:
    """Parse ``"area"`` or ``"gaussian:SIGMA"`` (SIGMA in high-resolution pixels).

    Raises
    ------
    ValueError
        If the method is unknown or SIGMA is not a positive number.
    """
    method, _, value = spec.strip().lower().partition(":")
    if method == "area" and not value:
        return Downscale("area")
    if method == "gaussian":
        try:
            sigma = float(value)
        except ValueError:
            sigma = -1.0
        if 0 < sigma <= MAX_SIGMA:
            return Downscale("gaussian", sigma)
    raise ValueError(
        f"downscale {spec!r} is not understood; use 'area' (block average) or "
        f"'gaussian:SIGMA' (blur of SIGMA high-resolution pixels, 0 < SIGMA <= {MAX_SIGMA:g}, "
        "then decimation), e.g. 'gaussian:1.0'."
    )


def downscale(image: np.ndarray, factor: int, *, method: str = "area") -> np.ndarray:
    """Shrink the last two axes (Y, X) of ``image`` by ``factor``.

    Rows and columns beyond a multiple of ``factor`` are dropped. ``"area"``
    averages each ``factor x factor`` block; ``"gaussian:SIGMA"`` blurs, then
    samples the blurred image at the block centres (between two pixels for an
    even factor, where the two are averaged), so both keep the block geometry.

    Parameters
    ----------
    image : ndarray, shape (..., Y, X)
        Image or planes, any real dtype.
    factor : int
        Shrink factor, at least 1.
    method : str
        ``"area"`` or ``"gaussian:SIGMA"``, see :func:`parse_downscale`.

    Returns
    -------
    ndarray of float32, shape (..., Y // factor, X // factor)

    Raises
    ------
    ValueError
        If the method is not understood, or Y or X is smaller than ``factor``.
    """
    parsed = parse_downscale(method)
    image = np.asarray(image, dtype=np.float32)
    height, width = (image.shape[-2] // factor) * factor, (image.shape[-1] // factor) * factor
    if height == 0 or width == 0:
        raise ValueError(
            f"a {image.shape[-2]}x{image.shape[-1]} image has no pixel left when shrunk by "
            f"{factor}; choose a smaller factor or a larger image."
        )
    image = image[..., :height, :width]
    if parsed.method == "area":
        blocks = image.reshape(image.shape[:-2] + (height // factor, factor, -1, factor))
        return blocks.mean(axis=(-3, -1), dtype=np.float32)
    sigma = (0.0,) * (image.ndim - 2) + (parsed.sigma, parsed.sigma)
    blurred = ndimage.gaussian_filter(image, sigma, mode="reflect")
    first, second = (factor - 1) // 2, factor // 2  # equal for an odd factor
    rows = (blurred[..., first::factor, :] + blurred[..., second::factor, :]) / 2
    return ((rows[..., first::factor] + rows[..., second::factor]) / 2).astype(np.float32)


def upscale_interpolated(image: np.ndarray, factor: int, *, order: int = 3) -> np.ndarray:
    """Enlarge the last two axes (Y, X) of ``image`` by ``factor`` by interpolation.

    The baselines of super-resolution: ``order`` 1 is bilinear, 3 bicubic
    (Keys, a = -0.75, as ``torch.nn.functional.interpolate``), with the block
    geometry of :func:`downscale`.

    Parameters
    ----------
    image : ndarray, shape (..., Y, X)
        Image or planes.

    Returns
    -------
    ndarray of float32, shape (..., Y * factor, X * factor)
    """
    if order not in _INTERPOLATION:
        raise ValueError(f"order must be 1 (bilinear) or 3 (bicubic), got {order}.")
    image = np.asarray(image, dtype=np.float32)
    planes = torch.from_numpy(image.reshape((-1, 1) + image.shape[-2:]))
    mode = _INTERPOLATION[order]
    upscaled = F.interpolate(planes, scale_factor=factor, mode=mode, align_corners=False)
    return upscaled.numpy().reshape(image.shape[:-2] + upscaled.shape[-2:])


def training_pairs(
    inputs: np.ndarray,
    targets: np.ndarray | None,
    *,
    axes: str,
    factor: int,
    method: str,
    paired: bool,
    patch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return low- and high-resolution planes to train a ``factor`` upscaler on.

    In paired mode ``inputs`` is low-resolution and ``targets`` the registered
    high-resolution image, ``factor`` times larger in Y and X. Otherwise
    ``inputs`` is the high-resolution image (``from-highres``) or the
    low-resolution image itself (``zero-shot``), and the network learns to undo
    its downscaling by ``method``.

    Parameters
    ----------
    inputs, targets : ndarray
        Images with axes ``axes`` (e.g. ``"YX"``, ``"SYX"``, ``"YXC"``).

    Returns
    -------
    low, high : ndarray
        Planes (N, C, Y, X) and (N, C, Y * factor, X * factor), raw units.

    Raises
    ------
    ValueError
        If the pair's shapes are not ``factor`` apart, or the low-resolution
        planes are smaller than a training patch.
    """
    planes, _ = to_planes(inputs, axes)
    check_image(planes, "the input image")
    if paired:
        if targets is None:
            raise ValueError(
                "paired super-resolution needs the high-resolution target image; give it "
                "with the low-resolution input."
            )
        high, _ = to_planes(targets, axes)
        check_image(high, "the target image")
        _check_pair(planes, high, factor)
        low = planes
    else:
        if targets is not None:
            raise ValueError(
                "a target image is only used in paired mode; leave it out, or choose mode "
                "'paired' with a low-resolution input."
            )
        low = downscale(planes, factor, method=method)
        high = planes[..., : low.shape[-2] * factor, : low.shape[-1] * factor]
    if min(low.shape[-2:]) < patch_size:
        height, width = planes.shape[-2:]
        raise ValueError(
            f"with factor {factor} the low-resolution training planes are "
            f"{low.shape[-2]}x{low.shape[-1]} pixels (from {height}x{width}), smaller than the "
            f"{patch_size}x{patch_size} training patch; choose a patch size of at most "
            f"{min(low.shape[-2:])}, a smaller factor or a larger image."
        )
    return low, high


def _check_pair(low: np.ndarray, high: np.ndarray, factor: int) -> None:
    expected = low.shape[:2] + (low.shape[2] * factor, low.shape[3] * factor)
    if high.shape != expected:
        raise ValueError(
            f"the high-resolution target planes {high.shape} (N, C, Y, X) are not {factor} "
            f"times the low-resolution input planes {low.shape} in Y and X (expected "
            f"{expected}); crop the images so that they are registered and exactly {factor} "
            "times apart, or choose the factor they have."
        )


class PairSampler:
    """Random low-resolution patches and the high-resolution patches they cover.

    Parameters
    ----------
    low, high : ndarray, shapes (N, C, Y, X) and (N, C, Y * factor, X * factor)
        Normalised planes.
    factor : int
        Size ratio of ``high`` to ``low``.
    patch_size, batch_size : int
        Low-resolution patch side and patches per batch.
    augment : bool
        Apply a random one of the 8 symmetries of the square to each pair;
        they commute with downscaling, so the pair stays consistent.
    rng : numpy.random.Generator
        Source of randomness.
    """

    def __init__(self, low, high, *, factor, patch_size, batch_size, augment, rng):
        self.low = torch.from_numpy(np.ascontiguousarray(low))
        self.high = torch.from_numpy(np.ascontiguousarray(high))
        self.factor = factor
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.augment = augment
        self.rng = rng

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return low (B, C, P, P) and high (B, C, P * factor, P * factor) patches."""
        count, _, height, width = self.low.shape
        size, factor, batch = self.patch_size, self.factor, self.batch_size
        planes = self.rng.integers(0, count, batch)
        ys = self.rng.integers(0, height - size + 1, batch)
        xs = self.rng.integers(0, width - size + 1, batch)
        turns = self.rng.integers(0, 4, batch)
        flips = self.rng.random(batch) < 0.5
        lows, highs = [], []
        for n, y, x, turn, flip in zip(planes, ys, xs, turns, flips):
            low = self.low[n, :, y : y + size, x : x + size]
            high = self.high[n, :, y * factor : (y + size) * factor, x * factor : (x + size) * factor]
            if self.augment:
                low, high = (_symmetry(patch, int(turn), bool(flip)) for patch in (low, high))
            lows.append(low)
            highs.append(high)
        return torch.stack(lows).contiguous(), torch.stack(highs).contiguous()


def _symmetry(patch: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    patch = torch.rot90(patch, turns, dims=(-2, -1))
    return patch.flip(-1) if flip else patch


def pair_samplers(
    low: np.ndarray,
    high: np.ndarray,
    *,
    factor: int,
    patch_size: int,
    batch_size: int,
    validation_fraction: float,
    augment: bool,
    seed: int,
    rng: np.random.Generator,
) -> tuple[PairSampler, PairSampler]:
    """Split normalised planes into training and validation samplers.

    The split is :func:`.patches.split_validation`'s (whole planes of a stack,
    a strip of one image), made on the high-resolution planes folded into
    ``factor**2`` channels so that both halves of a pair are cut alike.

    Returns
    -------
    train, validation : PairSampler
        The validation sampler never augments and draws from ``seed + 1``.
    """
    folded = F.pixel_unshuffle(torch.from_numpy(np.ascontiguousarray(high)), factor).numpy()
    train_low, train_high, val_low, val_high = split_validation(
        low, folded, fraction=validation_fraction, patch_size=patch_size, rng=rng
    )
    train_high, val_high = (
        F.pixel_shuffle(torch.from_numpy(np.ascontiguousarray(h)), factor).numpy()
        for h in (train_high, val_high)
    )
    options = dict(factor=factor, patch_size=patch_size, batch_size=batch_size)
    train = PairSampler(train_low, train_high, augment=augment, rng=rng, **options)
    validation = PairSampler(
        val_low, val_high, augment=False, rng=np.random.default_rng(seed + 1), **options
    )
    return train, validation
