"""Apply a function to a (C, Y, X) image tile by tile with bounded memory.

:func:`plan_tiles` precomputes a regular grid of overlapping tiles whose last
row and column sit flush with the image border, so every tile has the same
shape and no padding is needed. :func:`iter_tiled` reads one batch of tiles at
a time, blends the results with smooth weights that fall off only across the
overlap with a neighbouring tile, and writes each output row as soon as no
later tile can touch it. :func:`iter_tiled_volume` does the same for the boxes
of a (C, Z, Y, X) volume, blended along Z too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np

from ..progress import run


@dataclass(frozen=True)
class Tile:
    """Input rows ``y0:y1`` and columns ``x0:x1`` of one tile at grid ``row``, ``col``."""

    y0: int
    y1: int
    x0: int
    x1: int
    row: int
    col: int

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """Slices that cut this tile out of a (C, Y, X) array."""
        return slice(None), slice(self.y0, self.y1), slice(self.x0, self.x1)


@dataclass(frozen=True)
class TilePlan:
    """Tile grid of a (Y, X) image: tiles of ``tile_yx`` starting at the given offsets."""

    shape_yx: tuple[int, int]
    tile_yx: tuple[int, int]
    y_starts: tuple[int, ...]
    x_starts: tuple[int, ...]

    def row(self, index: int) -> list[Tile]:
        """Tiles of grid row ``index``, left to right."""
        ty, tx = self.tile_yx
        y0 = self.y_starts[index]
        return [Tile(y0, y0 + ty, x0, x0 + tx, index, col) for col, x0 in enumerate(self.x_starts)]

    @property
    def tiles(self) -> list[Tile]:
        """All tiles, row by row, so sorted by ``y0``."""
        return [tile for index in range(len(self.y_starts)) for tile in self.row(index)]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a (Y, X) pair, got {value!r}.")
    return int(pair[0]), int(pair[1])


def check_tiling(
    tile: int | Sequence[int], overlap: int | Sequence[int], batch_size: int = 1
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Check tile sizes, overlaps and batch size; return the (Y, X) tile and overlap pairs.

    Lets a caller refuse bad options before it creates any output.

    Parameters
    ----------
    tile : int or (int, int)
        Tile size, positive.
    overlap : int or (int, int)
        Least overlap between neighbouring tiles, ``0 <= overlap < tile``.
    batch_size : int
        Tiles per call, an integer of at least 1.

    Raises
    ------
    ValueError
        Naming the bad value and a valid one.
    """
    tiles, overlaps = _pair(tile, "tile"), _pair(overlap, "overlap")
    for size, lap in zip(tiles, overlaps):
        if size <= 0:
            raise ValueError(f"tile must be positive, got {tile!r}; use e.g. tile=256.")
        if not 0 <= lap < size:
            raise ValueError(
                f"overlap must satisfy 0 <= overlap < tile, got overlap={overlap!r} "
                f"and tile={tile!r}; use a smaller overlap, e.g. tile // 8."
            )
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}; use e.g. 1.")
    return tiles, overlaps


def _axis_starts(size: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Evenly spaced tile starts along one axis, each step at most ``tile - overlap``."""
    span = size - tile
    if span <= 0:
        return (0,)
    steps = -(-span // (tile - overlap))  # ceil division
    return tuple(i * span // steps for i in range(steps + 1))


def plan_tiles(
    shape_yx: Sequence[int], *, tile: int | Sequence[int], overlap: int | Sequence[int]
) -> TilePlan:
    """Plan overlapping tiles covering a (Y, X) image.

    Parameters
    ----------
    shape_yx : sequence of int
        Image size (Y, X).
    tile : int or (int, int)
        Tile size (ty, tx); clipped to the image where the image is smaller.
    overlap : int or (int, int)
        Least overlap in pixels between neighbouring tiles, ``0 <= overlap < tile``.

    Returns
    -------
    TilePlan
        Tiles of one shape; the last row and column end at the image border.

    Raises
    ------
    ValueError
        If a tile size is not positive or an overlap is not in ``[0, tile)``.
    """
    tiles, overlaps = check_tiling(tile, overlap)
    clipped = (min(tiles[0], shape_yx[0]), min(tiles[1], shape_yx[1]))
    starts = [_axis_starts(n, t, lap) for n, t, lap in zip(shape_yx, clipped, overlaps)]
    return TilePlan(tuple(map(int, shape_yx)), clipped, starts[0], starts[1])


def fit_tile(size: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """The smallest tile side that covers ``size`` pixels with as few tiles of ``tile`` as possible.

    Tiles of at most ``tile`` pixels overlapping by ``overlap`` cover ``size``
    in ``k`` tiles; shrinking them to share the length evenly computes fewer
    overlapping pixels (a 2048-pixel side: 5 tiles of 436 instead of 5 of
    512). Sides are rounded up to a ``multiple`` a network needs, capped at ``tile``.

    Parameters
    ----------
    size : int
        Image length along one axis.
    tile, overlap : int
        Largest tile side and least overlap, ``0 <= overlap < tile``.
    multiple : int
        Tile sides are multiples of this (e.g. ``2**depth`` for a UNet).

    Returns
    -------
    int
        The tile side; ``tile`` itself when the image fits in one tile.

    Raises
    ------
    ValueError
        If ``tile`` is not positive or ``overlap`` not in ``[0, tile)``.
    """
    check_tiling(tile, overlap)
    if size <= tile:
        return tile
    count = -(-(size - overlap) // (tile - overlap))  # tiles of the largest side needed
    side = -(-(size - overlap) // count) + overlap
    return min(tile, -(-side // multiple) * multiple)


def _ramp(length: int) -> np.ndarray:
    """Raised cosine rising from near 0 to near 1 in ``length`` steps, never 0."""
    return ((1 - np.cos(np.pi * (np.arange(length) + 0.5) / length)) / 2).astype(np.float32)


def blend_window(starts: Sequence[int], index: int, tile: int, scale: int = 1) -> np.ndarray:
    """1-D blending weights of tile ``index`` along one axis, on the output grid.

    The window is 1 except across the overlap with a neighbouring tile, where
    it rises (or falls) smoothly; it is strictly positive everywhere.

    Parameters
    ----------
    starts : sequence of int
        Input start of every tile along the axis, increasing.
    index : int
        Which tile.
    tile : int
        Input tile length.
    scale : int
        Output pixels per input pixel.

    Returns
    -------
    np.ndarray
        float32 weights of shape (tile * scale,).
    """
    window = np.ones(tile * scale, np.float32)
    if index > 0:
        lap = (starts[index - 1] + tile - starts[index]) * scale
        window[:lap] = np.minimum(window[:lap], _ramp(lap))
    if index < len(starts) - 1:
        lap = (starts[index] + tile - starts[index + 1]) * scale
        window[window.size - lap :] = np.minimum(window[window.size - lap :], _ramp(lap)[::-1])
    return window


class _Band:
    """Weighted sums (C_out, rows, X_out) of the output rows tiles can still reach."""

    def __init__(self, channels: int, rows: int, width: int):
        self.values = np.zeros((channels, rows, width), np.float32)
        self.weights = np.zeros((rows, width), np.float32)
        self.top = 0  # output row held in the band's first row

    def add(self, result: np.ndarray, y0: int, x0: int, weights: np.ndarray) -> None:
        rows = slice(y0 - self.top, y0 - self.top + weights.shape[0])
        cols = slice(x0, x0 + weights.shape[1])
        self.values[:, rows, cols] += weights * result
        self.weights[rows, cols] += weights

    def flush(self, stop: int, out) -> None:
        """Write output rows ``top:stop`` to ``out`` and move later rows up."""
        count = stop - self.top
        out[:, self.top : stop, :] = self.values[:, :count] / self.weights[:count]
        for buffer in (self.values, self.weights):
            buffer[..., : buffer.shape[-2] - count, :] = buffer[..., count:, :]
            buffer[..., buffer.shape[-2] - count :, :] = 0
        self.top = stop


def _run_batch(fn: Callable, image, batch: list[Tile], scale: int) -> np.ndarray:
    """Call ``fn`` on a float32 (B, C, ty, tx) stack and check its (B, C_out, Y, X) result."""
    result = np.asarray(fn(np.stack([np.asarray(image[t.slices], np.float32) for t in batch])))
    tile = batch[0]
    expected = (len(batch), (tile.y1 - tile.y0) * scale, (tile.x1 - tile.x0) * scale)
    if result.ndim != 4 or (result.shape[0], *result.shape[2:]) != expected:
        raise ValueError(
            f"fn must return (B, C_out, Y, X) = ({expected[0]}, C_out, {expected[1]}, "
            f"{expected[2]}) for this batch, got shape {result.shape}; check scale={scale}."
        )
    return result


def _check_out(out, shape: tuple[int, int, int]):
    if out is None:
        return np.zeros(shape, np.float32)
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape (C_out, Y, X) = {shape}, got {tuple(out.shape)}.")
    return out


def iter_tiled(
    fn: Callable[[np.ndarray], np.ndarray],
    image,
    *,
    tile: int | Sequence[int],
    overlap: int | Sequence[int],
    scale: int = 1,
    out=None,
    batch_size: int = 1,
) -> Generator[tuple[int, int], None, object]:
    """Apply ``fn`` to a (C, Y, X) image tile by tile, yielding progress.

    ``fn`` always receives a float32 batch (B, C, ty, tx), a fresh copy, and
    must return (B, C_out, ty * scale, tx * scale). Batches hold up to
    ``batch_size`` tiles of one grid row. Memory stays at one band of
    ``ty * scale`` output rows across the full width (values and weights),
    however tall the image: after each grid row the finished output rows are
    written to ``out`` and the band moves down.

    Parameters
    ----------
    fn : callable
        Maps (B, C, ty, tx) to (B, C_out, ty * scale, tx * scale).
    image : array-like
        (C, Y, X) image supporting basic slicing (numpy, memmap, dask, zarr);
        only one tile at a time is read.
    tile, overlap : int or (int, int)
        Tile size and least overlap, see :func:`plan_tiles`.
    scale : int
        Output pixels per input pixel along Y and X, at least 1.
    out : array-like, optional
        (C_out, Y * scale, X * scale) destination supporting ``__setitem__``,
        e.g. an ``np.memmap``; a float32 array is allocated if None.
    batch_size : int
        Most tiles per call of ``fn``.

    Yields
    ------
    (done, total) : tuple of int
        Tiles processed so far and tiles in all, after each batch.

    Returns
    -------
    array-like
        ``out``, of shape (C_out, Y * scale, X * scale), the generator's return value.
    """
    if getattr(image, "ndim", None) != 3:
        raise ValueError(
            f"image must be (C, Y, X), got shape {getattr(image, 'shape', None)}; "
            "add a channel axis with image[np.newaxis] for a 2-D image."
        )
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale}.")
    check_tiling(tile, overlap, batch_size)
    plan = plan_tiles(image.shape[1:], tile=tile, overlap=overlap)
    (ty, tx), (height, width) = plan.tile_yx, plan.shape_yx
    windows_x = [blend_window(plan.x_starts, i, tx, scale) for i in range(len(plan.x_starts))]
    band, done, total = None, 0, len(plan.y_starts) * len(plan.x_starts)
    for row in range(len(plan.y_starts)):
        tiles, window_y = plan.row(row), blend_window(plan.y_starts, row, ty, scale)
        for first in range(0, len(tiles), batch_size):
            batch = tiles[first : first + batch_size]
            results = _run_batch(fn, image, batch, scale)
            if band is None:
                out = _check_out(out, (results.shape[1], height * scale, width * scale))
                band = _Band(results.shape[1], ty * scale, width * scale)
            for tile_, result in zip(batch, results):
                weights = np.outer(window_y, windows_x[tile_.col])
                band.add(result, tile_.y0 * scale, tile_.x0 * scale, weights)
            done += len(batch)
            yield done, total
        next_y0 = plan.y_starts[row + 1] if row + 1 < len(plan.y_starts) else height
        band.flush(next_y0 * scale, out)
    return out


def tiled_region(
    fn: Callable[[np.ndarray], np.ndarray],
    image,
    region: Sequence[tuple[int, int]],
    *,
    tile: int | Sequence[int],
    overlap: int | Sequence[int],
    scale: int = 1,
    batch_size: int = 1,
) -> np.ndarray:
    """Output ``region`` of :func:`iter_tiled`'s result, computed from the tiles touching it.

    The tiles are those of the whole image's plan, blended with the same
    weights and summed in the same order, so pieces computed apart (on the
    workers of a cluster, say) equal the corresponding pieces of the whole
    result. Each tile is read whole: the region's halo is the tiles' extent.

    Parameters
    ----------
    fn, image, tile, overlap, scale, batch_size
        As :func:`iter_tiled`; ``image`` is (C, Y, X).
    region : ((int, int), (int, int))
        Output rows ``(y0, y1)`` and columns ``(x0, x1)``, on the grid ``scale`` times finer.

    Returns
    -------
    ndarray of float32
        The region, (C_out, y1 - y0, x1 - x0).
    """
    plan = plan_tiles(image.shape[1:], tile=tile, overlap=overlap)
    (ty, tx), ((y0, y1), (x0, x1)) = plan.tile_yx, region
    rows = _touching(plan.y_starts, ty * scale, scale, y0, y1)
    cols = _touching(plan.x_starts, tx * scale, scale, x0, x1)
    tiles = [plan.row(row)[col] for row in rows for col in cols]
    values, weights = None, np.zeros((y1 - y0, x1 - x0), np.float32)
    for first in range(0, len(tiles), batch_size):
        batch = tiles[first : first + batch_size]
        for tile_, result in zip(batch, _run_batch(fn, image, batch, scale)):
            if values is None:
                values = np.zeros((result.shape[0], y1 - y0, x1 - x0), np.float32)
            window = np.outer(
                blend_window(plan.y_starts, tile_.row, ty, scale),
                blend_window(plan.x_starts, tile_.col, tx, scale),
            )
            # the part of this tile's output inside the region, in both frames
            top, left = tile_.y0 * scale, tile_.x0 * scale
            a, b = max(y0, top), min(y1, top + ty * scale)
            c, d = max(x0, left), min(x1, left + tx * scale)
            inside = (slice(a - top, b - top), slice(c - left, d - left))
            where = (slice(a - y0, b - y0), slice(c - x0, d - x0))
            values[(slice(None), *where)] += window[inside] * result[(slice(None), *inside)]
            weights[where] += window[inside]
    return values / weights


def _touching(starts: Sequence[int], length: int, scale: int, first: int, stop: int) -> list[int]:
    """Indices of the tiles (input ``starts``, output ``length``) reaching output ``first:stop``."""
    return [i for i, y in enumerate(starts) if y * scale < stop and y * scale + length > first]


def apply_tiled(fn: Callable[[np.ndarray], np.ndarray], image, **options):
    """Run :func:`iter_tiled` to the end and return its (C_out, Y * scale, X * scale) output."""
    return run(iter_tiled(fn, image, **options))


def check_volume_tiling(
    tile: Sequence[int], overlap: Sequence[int], batch_size: int = 1
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check (Z, Y, X) tile sizes and overlaps as :func:`check_tiling` does; return them.

    Raises
    ------
    ValueError
        Naming the bad value and a valid one.
    """
    tiles, overlaps = tuple(map(int, tile)), tuple(map(int, overlap))
    if len(tiles) != 3 or len(overlaps) != 3:
        raise ValueError(
            f"a volume's tile and overlap are (Z, Y, X) triples, got tile={tile!r} and "
            f"overlap={overlap!r}."
        )
    for size, lap in zip(tiles, overlaps):
        check_tiling(size, lap, batch_size)
    return tiles, overlaps


def iter_tiled_volume(
    fn: Callable[[np.ndarray], np.ndarray],
    image,
    *,
    tile: Sequence[int],
    overlap: Sequence[int],
    out=None,
    batch_size: int = 1,
) -> Generator[tuple[int, int], None, object]:
    """Apply ``fn`` to a (C, Z, Y, X) volume box by box, yielding progress.

    The 3D :func:`iter_tiled`: boxes of ``tile`` (Z, Y, X), clipped to the
    volume and overlapping by at least ``overlap``, the last ones flush with
    the far borders; results are blended with the product of the 1-D
    windows of :func:`blend_window` along Z, Y and X, so seams fade over the
    overlaps in every direction. ``fn`` receives a float32 batch
    (B, C, tz, ty, tx) and returns (B, C_out, tz, ty, tx). The weighted sums
    of the whole output are held in memory (a volume a 3D network is trained
    on fits there), and written to ``out`` at the end.

    Parameters
    ----------
    fn : callable
        Maps (B, C, tz, ty, tx) to (B, C_out, tz, ty, tx).
    image : array-like
        (C, Z, Y, X) volume supporting basic slicing; one box at a time is read.
    tile, overlap : (int, int, int)
        Box size and least overlap along Z, Y and X, ``0 <= overlap < tile``.
    out : array-like, optional
        (C_out, Z, Y, X) destination supporting ``__setitem__``; a float32
        array is allocated if None.
    batch_size : int
        Most boxes per call of ``fn``.

    Yields
    ------
    (done, total) : tuple of int
        Boxes processed so far and boxes in all, after each batch.

    Returns
    -------
    array-like
        ``out``, of shape (C_out, Z, Y, X), the generator's return value.
    """
    if getattr(image, "ndim", None) != 4:
        raise ValueError(
            f"image must be a volume (C, Z, Y, X), got shape {getattr(image, 'shape', None)}."
        )
    tiles, overlaps = check_volume_tiling(tile, overlap, batch_size)
    shape = tuple(int(size) for size in image.shape[1:])
    clipped = tuple(min(t, n) for t, n in zip(tiles, shape))
    starts = [_axis_starts(n, t, lap) for n, t, lap in zip(shape, clipped, overlaps)]
    windows = [
        [blend_window(axis, i, t) for i in range(len(axis))] for axis, t in zip(starts, clipped)
    ]
    corners = list(itertools.product(*(enumerate(axis) for axis in starts)))
    values, weights = None, np.zeros(shape, np.float32)
    for first in range(0, len(corners), batch_size):
        batch = corners[first : first + batch_size]
        regions = [
            tuple(slice(start, start + t) for (_, start), t in zip(corner, clipped))
            for corner in batch
        ]
        results = _run_volume_batch(fn, image, regions, clipped)
        if values is None:
            values = np.zeros((results.shape[1], *shape), np.float32)
        for corner, region, result in zip(batch, regions, results):
            wz, wy, wx = (windows[axis][index] for axis, (index, _) in enumerate(corner))
            window = wz[:, None, None] * wy[None, :, None] * wx[None, None, :]
            values[(slice(None), *region)] += window * result
            weights[region] += window
        yield first + len(batch), len(corners)
    out = _check_out_volume(out, values.shape)
    out[...] = values / weights
    return out


def _run_volume_batch(
    fn: Callable, image, regions: list[tuple], box: tuple[int, ...]
) -> np.ndarray:
    """Call ``fn`` on a float32 (B, C, tz, ty, tx) stack and check its (B, C_out, ...) result."""
    tiles = [np.asarray(image[(slice(None), *region)], np.float32) for region in regions]
    result = np.asarray(fn(np.stack(tiles)))
    if result.ndim != 5 or (result.shape[0], *result.shape[2:]) != (len(regions), *box):
        raise ValueError(
            f"fn must return (B, C_out, Z, Y, X) = ({len(regions)}, C_out, "
            f"{', '.join(map(str, box))}) for this batch, got shape {result.shape}."
        )
    return result


def _check_out_volume(out, shape: tuple[int, ...]):
    if out is None:
        return np.zeros(shape, np.float32)
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape (C_out, Z, Y, X) = {shape}, got {tuple(out.shape)}.")
    return out
