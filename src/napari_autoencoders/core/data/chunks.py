"""Chunked arrays (zarr) read through a small cache of decoded chunks.

Slicing a zarr array decodes every chunk the slice touches, whole, and
keeps none: a 256-pixel tile of an image in 2048-pixel chunks decodes 16 MB
for 256 KB, and its neighbour decodes the same chunk again. Tiled prediction
reads tiles in rows, so a cache of the chunks under one row of tiles decodes
each chunk about once.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np


class ChunkCache:
    """Read-only view of a chunked array that keeps the last ``capacity`` decoded chunks.

    Parameters
    ----------
    array : array-like
        An array with ``shape``, ``dtype``, a regular chunk shape ``chunks``
        and basic slicing, e.g. a ``zarr.Array``.
    chunks : sequence of int
        Its chunk shape.
    capacity : int
        Most chunks kept in memory (at least 1).
    """

    def __init__(self, array, chunks: Sequence[int], capacity: int):
        self.array, self.chunks, self.capacity = array, tuple(chunks), max(1, int(capacity))
        self.shape, self.dtype, self.ndim = tuple(array.shape), array.dtype, len(array.shape)
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        #: Chunks decoded so far, for tests and benchmarks.
        self.decoded = 0

    def __getitem__(self, key) -> np.ndarray:
        """Basic indexing: one int or slice (step 1) per axis."""
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        spans = [_span(k, n) for k, n in zip(key, self.shape)]
        out = np.empty([stop - start for start, stop in spans], self.dtype)
        ranges = [range(start // c, (stop - 1) // c + 1) if stop > start else range(0)
                  for (start, stop), c in zip(spans, self.chunks)]  # fmt: skip
        for index in itertools.product(*ranges):
            chunk = self._chunk(index)
            source, target = [], []
            for i, (start, stop), c in zip(index, spans, self.chunks):
                low, high = max(start, i * c), min(stop, (i + 1) * c)
                source.append(slice(low - i * c, high - i * c))
                target.append(slice(low - start, high - start))
            out[tuple(target)] = chunk[tuple(source)]
        dropped = tuple(0 if isinstance(k, (int, np.integer)) else slice(None) for k in key)
        return out[dropped]

    def _chunk(self, index: tuple[int, ...]) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, self.chunks))
        chunk = np.asarray(self.array[region])
        self.decoded += 1
        self._cache[index] = chunk
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return chunk


def _span(key, size: int) -> tuple[int, int]:
    """(start, stop) of an int or a step-1 slice along an axis of ``size``."""
    if isinstance(key, (int, np.integer)):
        index = int(key) + size if key < 0 else int(key)
        return index, index + 1
    start, stop, step = key.indices(size)
    if step != 1:
        raise ValueError(f"a chunk cache reads slices of step 1, got step {step}.")
    return start, max(start, stop)


def tile_capacity(
    shape: Sequence[int], chunks: Sequence[int], axes: str, *, tile: int, width: int
) -> int:
    """Chunks under one row of tiles ``tile`` high across ``width`` columns, in one plane.

    Such a row spans at most ``tile // chunk_y + 2`` rows of chunks and
    ``ceil(width / chunk_x) + 1`` columns, times the chunks along a channel
    axis.
    """
    size, chunk = dict(zip(axes, shape)), dict(zip(axes, chunks))
    rows = tile // chunk["Y"] + 2
    cols = math.ceil(width / chunk["X"]) + 1
    channels = math.ceil(size["C"] / chunk["C"]) if "C" in axes else 1
    return rows * cols * channels
