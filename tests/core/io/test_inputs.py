"""Tests for the training inputs named by paths and opened lazily."""

import numpy as np
import pytest
import tifffile
import zarr

from napari_autoencoders.core.io.inputs import image_paths, names_many, open_collection
from napari_autoencoders.core.io.zarr_store import atomic_zarr


def test_a_folder_names_its_images_in_order_and_a_store_names_itself(tmp_path):
    for name in ("b.npy", "a.npy"):
        np.save(tmp_path / name, np.zeros((8, 8), np.float32))
    (tmp_path / "notes.txt").write_text("not an image")
    assert image_paths(str(tmp_path)) == [tmp_path / "a.npy", tmp_path / "b.npy"]
    assert names_many(str(tmp_path)) and not names_many(str(tmp_path / "a.npy"))
    assert not names_many(str(tmp_path / "x.zarr"))


def test_a_glob_of_stores_names_them_and_a_store_with_glob_characters_itself(tmp_path):
    for name in ("b.zarr", "a.zarr", "c[1].zarr"):
        zarr.create_array(str(tmp_path / name), shape=(8, 8), dtype="f4")
    stores = [tmp_path / name for name in ("a.zarr", "b.zarr", "c[1].zarr")]
    assert names_many(str(tmp_path / "*.zarr")) and image_paths(str(tmp_path / "*.zarr")) == stores
    assert not names_many(str(tmp_path / "c[1].zarr"))


def test_an_empty_folder_says_what_it_wants(tmp_path):
    with pytest.raises(FileNotFoundError, match="no images in"):
        image_paths(str(tmp_path))


def test_files_open_lazily_with_guessed_axes(tmp_path):
    data = np.random.default_rng(0).random((3, 40, 40)).astype(np.float32)
    np.save(tmp_path / "a.npy", data)
    tifffile.imwrite(tmp_path / "b.tif", data, photometric="minisblack", compression="zlib")
    collection, axes = open_collection([tmp_path / "a.npy", tmp_path / "b.tif"], cache_mb=1)
    assert axes is None and collection.axes == "SYX" and len(collection) == 6
    assert isinstance(collection.views[0].array, np.memmap)
    assert isinstance(collection.views[1].array, zarr.Array)
    np.testing.assert_array_equal(collection.read(4, 3, 5, 16)[0], data[1, 3:19, 5:21])


def test_stored_axes_are_used_and_must_agree(tmp_path):
    for name, shape, axes in (("a", (2, 32, 32), "ZYX"), ("b", (2, 32, 32), "CYX")):
        with atomic_zarr(tmp_path / f"{name}.ome.zarr", shape, chunks=shape, axes=axes) as out:
            out[...] = 1.0
    collection, axes = open_collection([tmp_path / "a.ome.zarr"])
    assert axes == "ZYX" == collection.axes
    with pytest.raises(ValueError, match="OME-Zarr axes differ"):
        open_collection([tmp_path / "a.ome.zarr", tmp_path / "b.ome.zarr"])
    assert open_collection([tmp_path / "a.ome.zarr", tmp_path / "b.ome.zarr"], axes="ZYX")[1] == "ZYX"


def test_files_held_whole_beyond_the_cache_are_a_warning(tmp_path):
    np.savez(tmp_path / "a.npz", np.zeros((512, 512), np.float32))  # 1 MB, not mappable
    with pytest.warns(UserWarning, match="held in memory whole"):
        open_collection([tmp_path / "a.npz"], cache_mb=0.5)
