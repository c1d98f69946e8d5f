"""Tests for ``train`` from many files, a folder, a glob or a zarr store, read through a cache."""

import numpy as np
import zarr

from napari_autoencoders.cli import main
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.io.zarr_store import atomic_zarr

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "16", "--batch-size", "2"]
FAST += ["--width", "8", "--depth", "1", "--device", "cpu"]


def noisy(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) + np.linspace(0, 1, shape[-1])).astype(np.float32)


def test_a_folder_of_files_and_stores_of_different_sizes_trains_one_model(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "a.npy", noisy((40, 48)))
    np.save(folder / "b.npy", noisy((32, 64), seed=1))
    store = zarr.create_array(str(folder / "c.zarr"), shape=(64, 64), chunks=(32, 32), dtype="f4")
    store[...] = noisy((64, 64), seed=2)
    (folder / "notes.txt").write_text("not an image")
    model = tmp_path / "m.safetensors"
    assert main(["train", "--input", str(folder), "--model", str(model), *FAST]) == 0
    out = capsys.readouterr().out
    assert "reading 3 plane(s) of 3 image(s)" in out and "cache of 512 MB" in out
    assert load_model(model).config.data.axes == "YX"


def test_several_inputs_and_a_glob_are_read_with_a_given_cache(tmp_path, capsys):
    for name in ("x1", "x2", "y1"):
        np.save(tmp_path / f"{name}.npy", noisy((2, 32, 32)))
    model = tmp_path / "m.safetensors"
    inputs = [str(tmp_path / "x*.npy"), str(tmp_path / "y1.npy")]
    argv = ["train", "--input", *inputs, "--model", str(model), "--axes", "ZYX", "--cache-mb", "1"]
    assert main([*argv, *FAST]) == 0
    assert "reading 6 plane(s) of 3 image(s), 0 MB as float32, through a cache of 1 MB" in (
        capsys.readouterr().out
    )


def test_a_cache_too_small_for_a_patch_is_one_line(tmp_path, run_error):
    np.save(tmp_path / "a.npy", noisy((64, 64)))
    line = run_error(["train", "--input", tmp_path / "a.npy", "--model", tmp_path / "m.safetensors",
                      "--cache-mb", "0.1", *FAST])  # fmt: skip
    assert "give a cache of at least 1 MB" in line
    assert not (tmp_path / "m.safetensors").exists()


def test_tasks_that_need_all_data_at_once_are_refused_for_a_folder(tmp_path, run_error):
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", noisy((32, 32)))
    line = run_error(["train", "--task", "superres", "--input", tmp_path, "--model",
                      tmp_path / "m.safetensors", "--epochs", "1", "--device", "cpu"])  # fmt: skip
    assert "reads patches lazily, but super-resolution" in line


def test_a_folder_of_frame_stacks_trains_an_autoencoder_by_default(tmp_path):
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", noisy((20, 16, 16)))
    model = tmp_path / "m.safetensors"
    argv = ["train", "--task", "reconstruct", "--input", str(tmp_path), "--axes", "SYX"]
    assert main([*argv, "--model", str(model), "--epochs", "1", "--steps-per-epoch", "2"]) == 0
    assert load_model(model).config.training.neighbour_weight == 0


def test_a_folder_without_images_is_one_line(tmp_path, run_error):
    (tmp_path / "empty").mkdir()
    line = run_error(["train", "--input", tmp_path / "empty", "--model", tmp_path / "m.safetensors"])
    assert "no images in" in line


def test_stores_of_different_ome_axes_are_refused(tmp_path, run_error):
    for name, shape, axes in (("a", (2, 32, 32), "ZYX"), ("b", (2, 32, 32), "CYX")):
        with atomic_zarr(tmp_path / f"{name}.ome.zarr", shape, chunks=shape, axes=axes) as out:
            out[...] = noisy(shape)
    line = run_error(["train", "--input", tmp_path, "--model", tmp_path / "m.safetensors"])
    assert "OME-Zarr axes differ" in line and "'ZYX'" in line and "'CYX'" in line


def test_the_axes_of_an_ome_zarr_store_are_used(tmp_path, capsys):
    with atomic_zarr(tmp_path / "a.ome.zarr", (2, 40, 40), chunks=(1, 40, 40), axes="ZYX") as out:
        out[...] = noisy((2, 40, 40))
    model = tmp_path / "m.safetensors"
    assert main(["train", "--input", str(tmp_path / "a.ome.zarr"), "--model", str(model), *FAST]) == 0
    assert "axes not given" not in capsys.readouterr().out
    assert load_model(model).config.data.axes == "ZYX"


def test_inputs_held_whole_beyond_the_cache_are_a_warning(tmp_path, capsys):
    for name in ("a", "b"):
        np.savez(tmp_path / f"{name}.npz", noisy((512, 512)))  # 1 MB each, not mappable
    np.save(tmp_path / "c.npy", noisy((512, 512)))  # mapped: not counted
    model = tmp_path / "m.safetensors"
    argv = ["train", "--input", str(tmp_path), "--model", str(model), "--cache-mb", "1.5"]
    assert main([*argv, *FAST]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 input(s) cannot be memory-mapped" in err and "a.npz" in err
    assert "(2 MB, more than the 1.5 MB cache)" in err
