"""Tests for chunked arrays read through a cache of decoded chunks."""

import numpy as np
import pytest
import zarr

from napari_autoencoders.core.data.chunks import ChunkCache, tile_capacity


class CountingStore:
    """A chunked array that counts its reads."""

    def __init__(self, data, chunks):
        self.data, self.chunks, self.reads = data, chunks, 0
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, key):
        self.reads += 1
        return self.data[key]


@pytest.mark.parametrize(
    "key",
    [
        (1, slice(None), slice(3, 40)),
        (slice(0, 3), slice(5, 6), slice(None)),
        (-1, slice(30, 50), slice(0, 50)),
        (2,),
        (0, 7, slice(10, 10)),
    ],
)
def test_reads_equal_the_array(tmp_path, key):
    data = np.random.default_rng(0).random((3, 50, 45)).astype(np.float32)
    stored = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(2, 16, 16), dtype="f4")
    stored[...] = data
    cached = ChunkCache(stored, stored.chunks, capacity=4)
    np.testing.assert_array_equal(cached[key], data[key])


def test_each_chunk_is_decoded_once_while_it_stays_in_the_cache():
    store = CountingStore(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), (32, 32))
    cached = ChunkCache(store, store.chunks, capacity=4)
    for y in range(0, 56, 8):  # tiles of 8 rows, left to right, top to bottom
        for x in range(0, 56, 8):
            np.testing.assert_array_equal(cached[y : y + 8, x : x + 8], store.data[y : y + 8, x : x + 8])
    assert store.reads == cached.decoded == 4
    small = ChunkCache(store, store.chunks, capacity=1)
    small[0:8, 28:36]
    small[0:8, 28:36]
    assert small.decoded == 4  # two chunks, neither kept while the other is read


def test_steps_are_refused():
    with pytest.raises(ValueError, match="step 1"):
        ChunkCache(np.zeros((4, 4)), (2, 2), 1)[::2]


def test_the_capacity_covers_a_row_of_tiles():
    shape, chunks = (4096, 8192, 3), (256, 1024, 2)
    assert tile_capacity(shape, chunks, "YXC", tile=512, width=8192) == 4 * 9 * 2
    assert tile_capacity((100, 100), (64, 64), "YX", tile=32, width=100) == 2 * 3
