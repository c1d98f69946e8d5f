"""Training patches: input checks, the validation split and random patch batches.

All arrays here are normalised planes (N, C, Y, X) of float32, or volumes
(N, C, Z, Y, X) for a 3D network (:class:`VolumeSampler`).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch


#: Largest float32: wider floats beyond it would become infinite in the network.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Bytes of an image that :func:`check_image` scans at once: a mask of the whole of a
#: 40 GB memory-mapped file would take 10 GB of memory.
SCAN_BYTES = 64 * 2**20


def check_image(image: np.ndarray, name: str = "image") -> None:
    """Raise ``ValueError`` if ``image`` cannot be used for training or prediction.

    Accepts real numbers of any dtype (integers such as uint16 included) and
    booleans; rejects empty, complex and object arrays, NaN or infinite
    values, and values too large for float32 (the networks compute in
    float32, where they would become infinite).
    """
    if np.size(image) == 0:
        raise ValueError(
            f"{name} is empty (shape {np.shape(image)}); give an image with at least one "
            "pixel along every axis."
        )
    dtype = getattr(image, "dtype", None)
    if dtype is None or not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise ValueError(f"{name} must hold real numbers, got dtype {dtype}.")
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"{name} is complex; give its magnitude or real part instead.")
    if np.issubdtype(dtype, np.floating):
        bad = sum(block.size - int(np.count_nonzero(np.isfinite(block))) for block in _blocks(image))
        if bad:
            raise ValueError(
                f"{name} has {bad} NaN or infinite value(s); replace them (e.g. with "
                "numpy.nan_to_num) before training or prediction."
            )
    if np.issubdtype(dtype, np.floating) and float(np.finfo(dtype).max) > _FLOAT32_MAX:
        largest = max(float(np.max(image)), -float(np.min(image)))  # no copy, unlike abs
        if largest > _FLOAT32_MAX:
            raise ValueError(
                f"{name} has values up to {largest:.3g}, beyond float32's range "
                f"({_FLOAT32_MAX:.3g}) in which the network computes; rescale the image "
                "(e.g. divide it by its maximum) first."
            )


def _blocks(image: np.ndarray, values: int | None = None):
    """Views of ``image`` of at most ``values`` values (:data:`SCAN_BYTES` worth) that cover it once.

    Cut along the first axis, and along the next within one slice of the
    first that holds more; never a copy.
    """
    values = values or max(1, SCAN_BYTES // np.dtype(image.dtype).itemsize)
    size, shape = np.size(image), np.shape(image)
    if size <= values:
        yield image
        return
    inner = size // shape[0]
    if inner > values:  # one slice is too large: cut it in turn
        for index in range(shape[0]):
            yield from _blocks(image[index], values)
        return
    step = values // inner
    for start in range(0, shape[0], step):
        yield image[start : start + step]


def check_patch_size(planes: np.ndarray, patch_size: int, hint: str = "") -> None:
    """Raise ``ValueError`` if planes (N, C, Y, X) are smaller than a patch.

    ``hint`` is appended to the message, e.g. :func:`.axes.channel_hint`'s advice.
    """
    height, width = planes.shape[-2:]
    if height < patch_size or width < patch_size:
        raise ValueError(
            f"the image planes are {height}x{width} pixels, smaller than the "
            f"{patch_size}x{patch_size} training patch; choose a patch size of at most "
            f"{min(height, width)}.{hint}"
        )


def check_volume_patch(volumes: np.ndarray, patch_z: int, patch_size: int) -> None:
    """Raise ``ValueError`` if volumes (N, C, Z, Y, X) are smaller than a 3D patch.

    The patch is ``patch_z`` x ``patch_size`` x ``patch_size`` (Z, Y, X):
    an anisotropic stack of few planes needs thinner patches, not a 2D
    network, so the message names both fixes.
    """
    depth, height, width = volumes.shape[-3:]
    if depth < patch_z or height < patch_size or width < patch_size:
        raise ValueError(
            f"the volumes are {depth}x{height}x{width} (ZxYxX), smaller than the "
            f"{patch_z}x{patch_size}x{patch_size} training patch; choose a patch of at most "
            f"{min(depth, patch_z)} planes (patch_z) and {min(height, width, patch_size)} "
            "pixels (patch_size), or train a 2D network plane by plane."
        )


def held_out_count(count: int, fraction: float) -> int:
    """Planes of a stack of ``count`` that :func:`split_validation` holds out (0: none)."""
    held = int(round(count * fraction))
    return held if 1 <= held < count else 0


def split_indices(count: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation planes of a stack, as :func:`split_validation` draws them.

    Returns sorted indices (train, validation); all planes for both when
    :func:`held_out_count` holds none out.
    """
    held = held_out_count(count, fraction)
    if not held:
        everything = np.arange(count)
        return everything, everything
    order = rng.permutation(count)
    return np.sort(order[held:]), np.sort(order[:held])


def split_validation(
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    fraction: float,
    patch_size: int,
    rng: np.random.Generator,
    phases: int = 1,
    warn: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out data for validation.

    A stack of planes gives whole random planes; a single plane gives a strip
    of rows at the bottom (or of columns at the right) at least one patch
    wide, so validation patches never overlap training patches. Data too
    small to split is used for both (the same arrays), with a warning
    unless ``warn`` is False (for a caller that says what it does instead).

    Planes split into ``phases`` interleaved phases each
    (:func:`.correlation.to_phases`: item ``k * B + b`` is phase ``k`` of
    plane ``b``) are held out plane by plane, all phases of a plane
    together, or as a strip of each phase: a phase shows what its plane's
    other phases show, one pixel apart, so holding out one of them would
    validate on the content the network trained on.

    Returns
    -------
    train_inputs, train_targets, val_inputs, val_targets : ndarray
        Planes (N, C, Y, X), or volumes (N, C, Z, Y, X) split the same way
        (whole volumes, or a strip of rows or columns through all planes).
    """
    count, (height, width) = inputs.shape[0] // phases, inputs.shape[-2:]
    if fraction == 0:
        return inputs, targets, inputs, targets
    if held_out_count(count, fraction):
        train, val = (np.concatenate([index + k * count for k in range(phases)])
                      for index in split_indices(count, fraction, rng))  # fmt: skip
        return inputs[train], targets[train], inputs[val], targets[val]
    for axis, size in ((inputs.ndim - 2, height), (inputs.ndim - 1, width)):
        strip = max(patch_size, int(round(size * fraction)))
        if size - strip >= patch_size:
            cut = size - strip
            return (
                *(np.take(a, np.arange(cut), axis=axis) for a in (inputs, targets)),
                *(np.take(a, np.arange(cut, size), axis=axis) for a in (inputs, targets)),
            )
    if warn:
        warnings.warn(
            "the image is too small to hold out a validation region of one patch; "
            "validating on the training data, so early stopping cannot detect overfitting.",
            stacklevel=2,
        )
    return inputs, targets, inputs, targets


class PatchSampler:
    """Random square patches from planes, with flips and 90 degree rotations.

    Parameters
    ----------
    inputs, targets : ndarray, shape (N, C, Y, X)
        Normalised planes; the same crop and transform is taken from both.
    patch_size, batch_size : int
        Patch side and patches per batch.
    augment : bool
        Apply a random one of the 8 symmetries of the square to each patch.
    rng : numpy.random.Generator
        Source of randomness.
    """

    def __init__(self, inputs, targets, *, patch_size, batch_size, augment, rng):
        check_patch_size(inputs, patch_size)
        self.inputs = np.ascontiguousarray(inputs, np.float32)
        self.targets = np.ascontiguousarray(targets, np.float32)
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.augment = augment
        self.rng = rng

    def sample(
        self, planes: np.ndarray | None = None, symmetry: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return a batch of inputs and targets, each (B, C, P, P) in channels-last layout.

        ``planes`` (B,) chooses the plane of each patch; by default
        ``batch_size`` random ones. ``symmetry`` (B,) chooses each patch's
        symmetry (an index into :func:`square_symmetries`); by default a
        random one if ``augment``, else none. The whole batch is one gather
        from the flattened planes: each patch's symmetry is folded into the
        pixel coordinates it is read from, so no per-patch Python loop runs.
        """
        count, channels, height, width = self.inputs.shape
        size = self.patch_size
        if planes is None:
            planes = self.rng.integers(0, count, self.batch_size)
        batch = len(planes)
        ys = self.rng.integers(0, height - size + 1, batch)
        xs = self.rng.integers(0, width - size + 1, batch)
        if symmetry is None:
            symmetry = self.random_symmetries(batch)
        rows, cols = square_symmetries(size)[symmetry].transpose(1, 0, 2, 3)  # each (B, P, P)
        first = (planes[:, None] * channels + np.arange(channels)) * height  # (B, C)
        flat = ((first[..., None, None] + (ys[:, None, None] + rows)[:, None]) * width
                + (xs[:, None, None] + cols)[:, None])  # (B, C, P, P)
        return tuple(
            torch.from_numpy(a.reshape(-1)[flat]).contiguous(memory_format=torch.channels_last)
            for a in (self.inputs, self.targets)
        )

    def random_symmetries(self, count: int) -> np.ndarray:
        """``count`` random symmetries of the square if ``augment``, else the identity."""
        if not self.augment:
            return np.zeros(count, int)
        turns = self.rng.integers(0, 4, count)
        flips = self.rng.random(count) < 0.5
        return turns + 4 * flips


@functools.lru_cache(maxsize=8)
def square_symmetries(size: int) -> np.ndarray:
    """Source coordinates of the 8 symmetries of a ``size`` x ``size`` square.

    Returns
    -------
    ndarray of int, shape (8, 2, P, P)
        For symmetry ``k = turns + 4 * flip``, ``[k, 0]`` and ``[k, 1]`` hold
        the row and column each output pixel is read from: the patch is
        turned ``turns`` times by 90 degrees as :func:`torch.rot90` turns it,
        then mirrored left-right if ``flip``.
    """
    coords = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"))
    result = np.empty((8, 2, size, size), int)
    for turns in range(4):
        # rot90 of the coordinate grids gives, at each output pixel, its source
        turned = np.rot90(coords, turns, axes=(1, 2))
        result[turns] = turned
        result[turns + 4] = turned[..., ::-1]
    result.flags.writeable = False
    return result


class VolumeSampler:
    """Random boxes (Z, Y, X) from volumes, with flips and 90 degree turns in the plane.

    Parameters
    ----------
    inputs, targets : ndarray, shape (N, C, Z, Y, X)
        Normalised volumes; the same box and transform is taken from both.
    patch_z, patch_size : int
        Planes of a box, and its side in Y and X.
    batch_size : int
        Boxes per batch.
    augment : bool
        Apply a random one of the 8 symmetries of the square to each box's
        planes, and flip it along Z half the time. Turns stay in the YX
        plane: Z is often sampled more coarsely, so a turn through Z would
        show the network a resolution it never meets.
    rng : numpy.random.Generator
        Source of randomness.
    """

    def __init__(self, inputs, targets, *, patch_z, patch_size, batch_size, augment, rng):
        check_volume_patch(inputs, patch_z, patch_size)
        self.inputs = np.ascontiguousarray(inputs, np.float32)
        self.targets = np.ascontiguousarray(targets, np.float32)
        self.box = (patch_z, patch_size, patch_size)
        self.batch_size = batch_size
        self.augment = augment
        self.rng = rng

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return a batch of inputs and targets, each (B, C, Z, P, P), channels-last."""
        count = self.inputs.shape[0]
        corners = [
            self.rng.integers(0, size - side + 1, self.batch_size)
            for size, side in zip(self.inputs.shape[-3:], self.box)
        ]
        volumes = self.rng.integers(0, count, self.batch_size)
        pairs = [self._box(n, corner) for n, *corner in zip(volumes, *corners)]
        return tuple(
            torch.from_numpy(np.stack(batch)).contiguous(memory_format=torch.channels_last_3d)
            for batch in zip(*pairs)
        )

    def _box(self, volume: int, corner) -> tuple[np.ndarray, np.ndarray]:
        """The box at ``corner`` (z, y, x) of ``volume`` in inputs and targets, turned alike."""
        region = (volume, slice(None)) + tuple(slice(c, c + s) for c, s in zip(corner, self.box))
        boxes = (self.inputs[region], self.targets[region])  # each (C, Z, P, P)
        if self.augment:
            turns = self.rng.integers(0, 4)
            flip, flip_z = self.rng.random(2) < 0.5
            boxes = tuple(_turn(box, turns, flip, flip_z) for box in boxes)
        return tuple(np.ascontiguousarray(box) for box in boxes)


def _turn(box: np.ndarray, turns: int, flip: bool, flip_z: bool) -> np.ndarray:
    """Turn a box (C, Z, Y, X) ``turns`` times in YX, then mirror X if ``flip``, Z if ``flip_z``."""
    box = np.rot90(box, turns, axes=(2, 3))
    if flip:
        box = box[..., ::-1]
    return box[:, ::-1] if flip_z else box
