"""Training data larger than memory: many lazy images, read block by block through a bounded cache.

An :class:`ImageCollection` sees the planes (C, Y, X) of several images
(zarr arrays, memory-mapped files, NumPy arrays) as one set of planes of
possibly different sizes. Pixels are read in blocks (a zarr chunk, or
:data:`BLOCK` pixels a side for an unchunked array), converted to float32
and kept in a least-recently-used cache of at most ``cache_mb`` megabytes, so
the memory a training uses is bounded by the cache, not by the data.
:class:`CachedPatchSampler` draws the random patches of a training from it.

>>> collection = ImageCollection([zarr_array, memmap], axes="ZYX", cache_mb=256)  # doctest: +SKIP
>>> norm = Normalizer.fit(collection.sample_values(rng)[0])                       # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .axes import PlaneView, chunk_shape
from .canvas import canvas_mask
from .defects import fill_dark_outliers, fill_defects
from .normalization import Normalizer
from .patches import check_patch_size, held_out_count, split_indices, square_symmetries
from .stabilization import NoiseModel, noisy_flat

#: Default cache of decoded blocks, in megabytes.
DEFAULT_CACHE_MB = 512
#: Block side (Y and X) of an array without chunks, e.g. a memory-mapped TIFF.
BLOCK = 256
#: Blocks a normalisation is fitted to at most (a sample, not the whole data).
NORMALISATION_BLOCKS = 64
#: Values per channel a normalisation is fitted to at most.
NORMALISATION_VALUES = 4_000_000
#: Blocks one patch may span (2 x 2), which the cache must hold at once.
_BLOCKS_PER_PATCH = 4


@dataclass(frozen=True)
class Region:
    """Rows ``[y0, y1)`` and columns ``[x0, x1)`` of plane ``plane`` of a collection."""

    plane: int
    y0: int
    y1: int
    x0: int
    x1: int


def check_cache_size(cache_mb: float) -> None:
    """Raise ``ValueError`` unless ``cache_mb`` is a positive, finite number of megabytes."""
    if not (isinstance(cache_mb, (int, float)) and math.isfinite(cache_mb) and cache_mb > 0):
        raise ValueError(
            f"the cache size must be a positive number of megabytes, got {cache_mb!r}; "
            f"the default is {DEFAULT_CACHE_MB}."
        )


class ImageCollection:
    """The planes of several lazy images, read through a cache of float32 blocks.

    Parameters
    ----------
    images : sequence of array-like
        Arrays with ``shape``, ``dtype`` and basic slicing (zarr, memmap,
        NumPy), all with axes ``axes`` and the same number of channels;
        planes may differ in size.
    axes : str
        Their axis letters, e.g. ``"YX"``, ``"ZYX"``, ``"TCZYX"``.
    cache_mb : float
        Most megabytes of decoded float32 blocks kept in memory.
    names : sequence of str, optional
        A name per image (e.g. its file) for error messages.

    Raises
    ------
    ValueError
        If there are no images, the axes do not fit one, an image is empty
        or not numeric, or the channel counts differ.
    """

    def __init__(
        self,
        images: Sequence,
        axes: str,
        *,
        cache_mb: float = DEFAULT_CACHE_MB,
        names: Sequence[str] | None = None,
    ):
        if not images:
            raise ValueError("no images to train on; give at least one image file or store.")
        check_cache_size(cache_mb)
        names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
        self.names = names
        self.views = [_view(image, axes, name) for image, name in zip(images, names)]
        channels = {view.shape[1] for view in self.views}
        if len(channels) > 1:
            raise ValueError(
                f"the images have different channel counts {sorted(channels)}; train on images "
                "with the same channels."
            )
        self.channels = channels.pop()
        #: The images' axis letters, upper case.
        self.axes = self.views[0].layout.axes
        # (image, plane within it) of each plane of the collection
        self.planes = [(i, n) for i, view in enumerate(self.views) for n in range(len(view))]
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._cached = 0
        #: Blocks read from the images so far (cache misses), for tests and benchmarks.
        self.reads = 0

    def __len__(self) -> int:
        return len(self.planes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The first image's shape with the smallest Y and X of all: what a recipe plans for.

        A default patch planned for it fits every plane.
        """
        first = self.views[0].layout
        smallest = {a: min(view.layout.shape[view.layout.axes.index(a)] for view in self.views)
                    for a in "YX"}  # fmt: skip
        return tuple(smallest.get(a, size) for a, size in zip(first.axes, first.shape))

    @property
    def plane_sides(self) -> tuple[int, int]:
        """The smallest Y and the smallest X of all planes."""
        return min(view.shape[2] for view in self.views), min(view.shape[3] for view in self.views)

    @property
    def nbytes(self) -> int:
        """Size of all planes as float32, in bytes: what an in-memory training would hold."""
        return sum(4 * math.prod(view.shape) for view in self.views)

    def plane_shape(self, plane: int) -> tuple[int, int, int]:
        """(C, Y, X) of plane ``plane``."""
        image, _ = self.planes[plane]
        return self.views[image].shape[1:]

    def block_shape(self, plane: int) -> tuple[int, int]:
        """(Y, X) side of the cached blocks of plane ``plane``: its image's chunks, or :data:`BLOCK`."""
        image, _ = self.planes[plane]
        return self._blocks[image]

    def check_patch_size(self, patch_size: int) -> None:
        """Raise ``ValueError`` unless every plane and the cache fit patches of ``patch_size``."""
        smallest = min(self.views, key=lambda view: min(view.shape[2:]))
        try:
            check_patch_size(np.empty((0, 1) + smallest.shape[2:]), patch_size)
        except ValueError as err:
            name = self.names[self.views.index(smallest)]
            raise ValueError(f"{name}: {err}") from err
        largest = max(4 * self.channels * math.prod(self._blocks[i]) for i in range(len(self.views)))
        needed = _BLOCKS_PER_PATCH * largest
        if needed > self.cache_bytes:
            raise ValueError(
                f"a cache of {self.cache_bytes / 2**20:g} MB cannot hold the {_BLOCKS_PER_PATCH} "
                f"blocks one patch may span ({needed / 2**20:.3g} MB); give a cache of at least "
                f"{math.ceil(needed / 2**20)} MB."
            )

    @property
    def _blocks(self) -> list[tuple[int, int]]:
        return [view.block for view in self.views]

    def read(self, plane: int, y: int, x: int, size: int) -> np.ndarray:
        """The ``size`` x ``size`` region at (``y``, ``x``) of plane ``plane``, (C, P, P) float32."""
        return self.read_region(plane, y, y + size, x, x + size)

    def read_region(self, plane: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Rows ``[y0, y1)`` and columns ``[x0, x1)`` of plane ``plane``, (C, y1 - y0, x1 - x0) float32.

        The region must lie inside the plane.
        """
        block_y, block_x = self.block_shape(plane)
        out = np.empty((self.channels, y1 - y0, x1 - x0), np.float32)
        for row in range(y0 // block_y, (y1 - 1) // block_y + 1):
            for col in range(x0 // block_x, (x1 - 1) // block_x + 1):
                block = self._block(plane, row, col)
                top, left = row * block_y, col * block_x
                top0, top1 = max(y0, top), min(y1, top + block.shape[1])
                left0, left1 = max(x0, left), min(x1, left + block.shape[2])
                out[:, top0 - y0 : top1 - y0, left0 - x0 : left1 - x0] = (
                    block[:, top0 - top : top1 - top, left0 - left : left1 - left]
                )
        return out

    def minimum(self, plane: int) -> float:
        """The smallest value of plane ``plane``, read block by block through the cache."""
        _, height, width = self.plane_shape(plane)
        block_y, block_x = self.block_shape(plane)
        return min(
            float(self._block(plane, row, col).min())
            for row in range(math.ceil(height / block_y))
            for col in range(math.ceil(width / block_x))
        )

    def _block(self, plane: int, row: int, col: int) -> np.ndarray:
        """Block (``row``, ``col``) of ``plane``, (C, by, bx) float32, from the cache or the image."""
        key = (plane, row, col)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        image, index = self.planes[plane]
        view = self.views[image]
        block_y, block_x = view.block
        region = (slice(None), slice(row * block_y, (row + 1) * block_y),
                  slice(col * block_x, (col + 1) * block_x))  # fmt: skip
        block = np.asarray(view[index][region], dtype=np.float32)
        self.reads += 1
        if not np.isfinite(block).all():
            raise ValueError(
                f"{self.names[image]} has NaN or infinite values in plane {index} near row "
                f"{row * block_y}, column {col * block_x}; replace them (e.g. with "
                "numpy.nan_to_num) before training."
            )
        self._cache[key] = block
        self._cached += block.nbytes
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= dropped.nbytes
        return block

    def sample_values(
        self, rng: np.random.Generator, *, canvases: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Values of up to :data:`NORMALISATION_BLOCKS` random blocks, as planes (1, C, 1, V).

        What :meth:`.Normalizer.fit` estimates percentiles from: a sample of
        the data, read through the cache, never all of it. With
        ``canvases``, also where they lie in canvases (:func:`.canvas.canvas_mask`,
        found on each block), which a denoising leaves out; else None.
        """
        blocks = [
            (plane, row, col)
            for plane in range(len(self))
            for row in range(math.ceil(self.plane_shape(plane)[1] / self.block_shape(plane)[0]))
            for col in range(math.ceil(self.plane_shape(plane)[2] / self.block_shape(plane)[1]))
        ]
        chosen = rng.permutation(len(blocks))[:NORMALISATION_BLOCKS]
        per_block = max(1, NORMALISATION_VALUES // len(chosen))
        values, masks = [], []
        for index in chosen:
            block = self._block(*blocks[index])  # (C, Y, X)
            step = max(1, block[0].size // per_block)
            values.append(block.reshape(self.channels, -1)[:, ::step])
            if canvases:
                masks.append(canvas_mask(block).reshape(self.channels, -1)[:, ::step])
        sample = np.concatenate(values, axis=1)[np.newaxis, :, np.newaxis]
        return sample, np.concatenate(masks, axis=1)[np.newaxis, :, np.newaxis] if canvases else None


def _view(image, axes: str, name: str) -> PlaneView:
    """A :class:`PlaneView` of ``image`` with a ``block`` (Y, X): its chunks, or :data:`BLOCK`."""
    dtype = getattr(image, "dtype", None)
    if dtype is None or not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise ValueError(f"{name} must hold real numbers, got dtype {dtype}.")
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"{name} is complex; give its magnitude or real part instead.")
    try:
        view = PlaneView(image, axes)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from err
    if 0 in view.shape:
        raise ValueError(f"{name} is empty (shape {tuple(image.shape)}); give an image with pixels.")
    chunks = chunk_shape(image)
    if chunks is not None:
        view.block = tuple(chunks[view.layout.axes.index(a)] for a in "YX")
    else:
        view.block = (BLOCK, BLOCK)
    return view


def split_regions(
    collection: ImageCollection,
    *,
    fraction: float,
    patch_size: int,
    rng: np.random.Generator,
    warn: bool = True,
) -> tuple[list[Region], list[Region]]:
    """Training and validation regions of a collection, as :func:`.patches.split_validation` splits.

    Several planes give whole random planes for validation; otherwise each
    plane's bottom strip of rows (or right strip of columns), at least one
    patch wide, so validation patches never overlap training patches. Data
    too small to split is used for both (the same list), with a warning
    unless ``warn`` is False.
    """
    whole = [Region(p, 0, shape[1], 0, shape[2]) for p, shape in
             ((p, collection.plane_shape(p)) for p in range(len(collection)))]  # fmt: skip
    if fraction == 0:
        return whole, whole
    if held_out_count(len(whole), fraction):
        train, val = split_indices(len(whole), fraction, rng)
        return [whole[i] for i in train], [whole[i] for i in val]
    train, val = [], []
    for region in whole:
        cut = _strip(region, fraction, patch_size)
        if cut is None:
            if warn:
                warnings.warn(
                    "the planes are too small to hold out a validation region of one patch; "
                    "validating on the training data, so early stopping cannot detect "
                    "overfitting.",
                    stacklevel=2,
                )
            return whole, whole
        train.append(cut[0])
        val.append(cut[1])
    return train, val


def _strip(region: Region, fraction: float, patch_size: int) -> tuple[Region, Region] | None:
    """``region`` less a bottom (or right) strip, and the strip; None if too small."""
    height, width = region.y1, region.x1
    strip = max(patch_size, int(round(height * fraction)))
    if height - strip >= patch_size:
        cut = height - strip
        return (Region(region.plane, 0, cut, 0, width), Region(region.plane, cut, height, 0, width))
    strip = max(patch_size, int(round(width * fraction)))
    if width - strip >= patch_size:
        cut = width - strip
        return (Region(region.plane, 0, height, 0, cut), Region(region.plane, 0, height, cut, width))
    return None


class CachedPatchSampler:
    """Random normalised patches from regions of a collection, as :class:`.patches.PatchSampler` draws them.

    Each patch's region is drawn in proportion to its number of patch
    positions, so every position of the data is equally likely.

    Parameters
    ----------
    collection : ImageCollection
        Where the pixels are read, through its cache.
    regions : sequence of Region
        Where patches may lie, each at least ``patch_size`` a side.
    normalizer : Normalizer
        Applied to each batch.
    patch_size, batch_size : int
        Patch side and patches per batch.
    augment : bool
        Apply a random one of the 8 symmetries of the square to each patch.
    rng : numpy.random.Generator
        Source of randomness.
    noise : NoiseModel, optional
        The normalised patches' noise: their hot and dead pixels are replaced
        (:func:`.defects.fill_defects`), as an image's in memory are.
    dark_outliers : bool
        Also replace the pixels too dark for their neighbours' photons
        (:func:`.defects.fill_dark_outliers`; ``noise`` with a gain), as an
        image's in memory are for thinned pairs.
    strides : (int, int)
        Read windows ``strides`` times a patch (Y, X) and keep one random
        interleaved phase of each (:func:`.correlation.to_phases`), for noise
        correlated along rows or columns; (1, 1) reads patches.
    flat_noise : bool
        Give the patches' canvases noise of ``noise``'s variance
        (:func:`.stabilization.noisy_flat`), as an image's in memory get it
        for fine-tuning on pairs.
    """

    def __init__(self, collection, regions, normalizer: Normalizer, *, patch_size, batch_size,
                 augment, rng, noise: NoiseModel | None = None, dark_outliers=False,
                 strides=(1, 1), flat_noise=False):  # fmt: skip
        self.collection, self.regions, self.normalizer = collection, list(regions), normalizer
        self.noise, self.dark_outliers, self.strides = noise, dark_outliers, tuple(strides)
        self.flat_noise = flat_noise and noise is not None
        self.patch_size, self.batch_size, self.augment, self.rng = patch_size, batch_size, augment, rng
        height, width = (patch_size * stride for stride in self.strides)
        positions = np.array(
            [(r.y1 - r.y0 - height + 1) * (r.x1 - r.x0 - width + 1) for r in self.regions], float
        )
        self._weights = positions / positions.sum()

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return a batch of inputs and targets (the same patches), each (B, C, P, P) channels-last."""
        size, batch = self.patch_size, self.batch_size
        chosen = self.rng.choice(len(self.regions), size=batch, p=self._weights)
        patches = np.empty((batch, self.collection.channels, size, size), np.float32)
        for i, index in enumerate(chosen):
            patches[i] = self._read(self.regions[index])
        if self.augment:
            patches = _turn(patches, self.rng.integers(0, 4, batch) + 4 * (self.rng.random(batch) < 0.5))
        patches = self.normalizer.normalize(patches)
        if self.noise is not None:
            patches = fill_defects(patches, self.noise)[0]
            patches = fill_dark_outliers(patches, self.noise) if self.dark_outliers else patches
            patches = noisy_flat(patches, self.noise, self.rng) if self.flat_noise else patches
        x = torch.from_numpy(patches).contiguous(memory_format=torch.channels_last)
        return x, x.clone()

    def _read(self, region: Region) -> np.ndarray:
        """A random patch (C, P, P) of ``region``: a random phase of a window where strides split."""
        height, width = (self.patch_size * stride for stride in self.strides)
        y = int(self.rng.integers(region.y0, region.y1 - height + 1))
        x = int(self.rng.integers(region.x0, region.x1 - width + 1))
        if self.strides == (1, 1):
            return self.collection.read(region.plane, y, x, self.patch_size)
        window = self.collection.read_region(region.plane, y, y + height, x, x + width)
        rows, columns = self.strides
        p, q = divmod(int(self.rng.integers(rows * columns)), columns)  # to_phases's phase p * sx + q
        return window[:, p::rows, q::columns]


def _turn(patches: np.ndarray, symmetry: np.ndarray) -> np.ndarray:
    """Patches (B, C, P, P), each under its symmetry (an index into :func:`.patches.square_symmetries`)."""
    batch, channels, size, _ = patches.shape
    rows, cols = square_symmetries(size)[symmetry].transpose(1, 0, 2, 3)  # each (B, P, P)
    flat = (rows * size + cols).reshape(batch, 1, size * size)
    flat = np.broadcast_to(flat, (batch, channels, size * size))
    turned = np.take_along_axis(patches.reshape(batch, channels, size * size), flat, axis=2)
    return turned.reshape(patches.shape)


def collection_samplers(
    collection: ImageCollection,
    normalizer: Normalizer,
    *,
    patch_size: int,
    batch_size: int,
    augment: bool,
    validation_fraction: float,
    seed: int,
    rng: np.random.Generator,
    noise: NoiseModel | None = None,
    dark_outliers: bool = False,
    strides: tuple[int, int] = (1, 1),
    flat_noise: bool = False,
    warn: bool = True,
) -> tuple[CachedPatchSampler, CachedPatchSampler, bool]:
    """Training and validation samplers of a collection, split by :func:`split_regions`.

    With ``noise``, the patches' hot and dead pixels are replaced, with
    ``dark_outliers`` too dark ones, and with ``flat_noise`` their canvases
    get noise; with ``strides``, each patch is a phase of a larger window
    (:class:`CachedPatchSampler`). Also returns whether no validation
    region could be held out (validation then runs on the training data;
    ``warn``: with a warning).
    """
    window = patch_size * max(strides)  # each region holds a window of the strides
    train, val = split_regions(
        collection, fraction=validation_fraction, patch_size=window, rng=rng, warn=warn
    )
    unvalidated = train is val and validation_fraction > 0
    options = dict(patch_size=patch_size, batch_size=batch_size, noise=noise, dark_outliers=dark_outliers,
                   strides=strides, flat_noise=flat_noise)  # fmt: skip
    sampler = CachedPatchSampler(collection, train, normalizer, augment=augment, rng=rng, **options)
    val_rng = np.random.default_rng(seed + 1)
    val_sampler = CachedPatchSampler(collection, val, normalizer, augment=False, rng=val_rng, **options)
    return sampler, val_sampler, unvalidated
