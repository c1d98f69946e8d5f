"""Tests for ``apply`` on zarr and OME-Zarr stores, on a dask cluster, and over many files."""

import functools

import numpy as np
import pytest
import zarr

from napari_autoencoders.cli import main
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.io.zarr_store import atomic_zarr, read_zarr

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "16", "--batch-size", "2"]
FAST += ["--width", "8", "--depth", "2", "--device", "cpu"]
#: Small tiles: a 256-pixel image is cut into several, as a large one would be.
TILES = ["--tile", "64", "--overlap", "16", "--device", "cpu", "--quiet"]


def train(*options):
    return main(["train", *map(str, options)])


def apply(*options):
    return main(["apply", *map(str, options)])


def blobs(shape, seed=0):
    """A smooth (Y, X) image in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape, np.float32)
    for y, x in rng.uniform(0, min(shape), (6, 2)):
        image += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 200.0)
    return np.clip(image, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("zarr") / "model.safetensors"
    noisy = blobs((48, 48)) + np.random.default_rng(1).normal(0, 0.1, (48, 48)).astype(np.float32)
    np.save(path.with_suffix(".npy"), noisy)
    assert train("--input", path.with_suffix(".npy"), "--model", path, "--quiet", *FAST) == 0
    return path


def stack(shape=(2, 256, 256)):
    return np.stack([blobs(shape[1:], seed=s) for s in range(shape[0])])


def test_ome_zarr_in_and_out_keep_axes_chunks_and_pixel_sizes(tmp_path, model_path):
    image = stack()[None]  # one time point of two planes
    source, result = tmp_path / "in.ome.zarr", tmp_path / "out.ome.zarr"
    placed = dict(scale=(60, 3, 0.2, 0.2), unit="micrometer", translation=(0.0, 0.0, 10.0, 20.0))
    with atomic_zarr(
        source, image.shape, chunks=(1, 1, 64, 64), axes="TZYX", time_unit="second", **placed
    ) as out:
        out[:] = image
    assert apply("--model", model_path, "--input", source, "--output", result, *TILES) == 0
    written = read_zarr(result)
    assert written.axes == "TZYX" and written.scale == (60.0, 3.0, 0.2, 0.2)
    assert written.unit == "micrometer" and written.translation == (0.0, 0.0, 10.0, 20.0)
    assert written.time_unit == "second"
    assert written.array.chunks == (1, 1, 64, 64)
    expected = predict(load_model(model_path), image, axes="TZYX", tile=64, overlap=16, device="cpu")
    np.testing.assert_allclose(written.array[:], expected, atol=1e-5)


def test_plain_zarr_to_npy_and_back(tmp_path, model_path):
    image = stack((1, 256, 256))[0]
    zarr.create_array(str(tmp_path / "in.zarr"), shape=image.shape, chunks=(64, 64), dtype="f4")[
        :
    ] = image
    steps = ((tmp_path / "in.zarr", tmp_path / "r.npy"), (tmp_path / "r.npy", tmp_path / "r.zarr"))
    for source, result in steps:
        assert apply("--model", model_path, "--input", source, "--output", result, *TILES) == 0
    assert read_zarr(tmp_path / "r.zarr").array.chunks == (
        256,
        256,
    )  # one 1024-pixel chunk, clipped


def test_a_compressed_tiff_is_predicted_strip_by_strip_into_full_chunks(tmp_path, model_path):
    import tifffile

    image = stack((1, 256, 256))[0]
    tifffile.imwrite(tmp_path / "in.tif", image, compression="zlib", rowsperstrip=16)
    assert apply("--model", model_path, "--input", tmp_path / "in.tif", "--output", tmp_path / "r.zarr", *TILES) == 0
    written = read_zarr(tmp_path / "r.zarr").array
    assert written.chunks == (256, 256)  # not the TIFF's strips of 16 rows
    expected = predict(load_model(model_path), image, axes="YX", tile=64, overlap=16, device="cpu")
    np.testing.assert_allclose(written[:], expected, atol=1e-5)


def test_output_over_the_input_store_is_refused(tmp_path, model_path, capsys):
    source = tmp_path / "in.zarr"
    zarr.create_array(str(source), shape=(64, 64), chunks=(32, 32), dtype="f4")[:] = 1
    assert apply("--model", model_path, "--input", source, "--output", source, "--quiet") != 0
    assert "destroy the input" in capsys.readouterr().err


@pytest.mark.slow
def test_two_local_workers_write_a_folder_s_local_predictions_as_zarr_stores(tmp_path, model_path):
    inputs = tmp_path / "raw"
    inputs.mkdir()
    image = stack()
    stored = zarr.create_array(
        str(inputs / "a.zarr"), shape=image.shape, chunks=(1, 128, 128), dtype="f4"
    )
    stored[:] = image
    np.save(inputs / "b.npy", blobs((64, 64)))
    for output, more in (("local", []), ("cluster", ["--workers", "2"])):
        # one orientation: the cluster's work is tested, not the network's
        options = ["--input", inputs, "--output", tmp_path / output, *TILES, "--no-ensemble", *more]
        assert apply("--model", model_path, *options) == 0
    cluster = read_zarr(tmp_path / "cluster" / "a.zarr").array
    assert cluster.chunks == (1, 128, 128)
    local = read_zarr(tmp_path / "local" / "a.zarr").array
    np.testing.assert_allclose(cluster[:], local[:], rtol=1e-5, atol=1e-5)
    local = np.load(tmp_path / "local" / "b.npy")  # every output on a cluster is a zarr store
    cluster = read_zarr(tmp_path / "cluster" / "b.zarr").array
    np.testing.assert_allclose(cluster[:], local, atol=1e-5)


def test_an_unreachable_scheduler_is_one_line(tmp_path, model_path, capsys, monkeypatch):
    from napari_autoencoders.cli import apply as command
    from napari_autoencoders.core.inference.distributed import cluster_client

    # one second for the refused connection, not the default ten
    monkeypatch.setattr(command, "cluster_client", functools.partial(cluster_client, timeout=1))
    np.save(tmp_path / "in.npy", blobs((64, 64)))
    status = apply(
        "--model",
        model_path,
        "--input",
        tmp_path / "in.npy",
        "--output",
        tmp_path / "out.zarr",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "--quiet",
    )
    error = capsys.readouterr().err.strip()
    assert status != 0 and len(error.splitlines()) == 1
    assert "cannot reach the dask scheduler at 'tcp://127.0.0.1:9'" in error
    assert not (tmp_path / "out.zarr").exists()


def test_a_cluster_writes_zarr_only(tmp_path, model_path, capsys):
    np.save(tmp_path / "in.npy", blobs((64, 64)))
    status = apply(
        "--model",
        model_path,
        "--input",
        tmp_path / "in.npy",
        "--output",
        tmp_path / "out.tif",
        "--workers",
        "2",
    )
    assert status != 0 and "ending in .zarr" in capsys.readouterr().err


def test_a_folder_is_applied_into_a_folder_and_resumed(tmp_path, model_path, capsys):
    inputs = tmp_path / "raw"
    inputs.mkdir()
    for index in range(3):
        np.save(inputs / f"image{index}.npy", blobs((64, 64), seed=index))
    (inputs / "notes.txt").write_text("not an image")
    results = tmp_path / "results"
    assert apply("--model", model_path, "--input", inputs, "--output", results, *TILES) == 0
    assert sorted(p.name for p in results.iterdir()) == [f"image{i}.npy" for i in range(3)]
    first = (results / "image0.npy").stat().st_mtime_ns
    (results / "image2.npy").unlink()  # as if the run had stopped before the last image
    capsys.readouterr()
    options = [o for o in TILES if o != "--quiet"]
    assert apply("--model", model_path, "--input", inputs, "--output", results, *options) == 0
    assert "skipping 2 image(s)" in capsys.readouterr().out
    assert (results / "image2.npy").exists()
    assert (results / "image0.npy").stat().st_mtime_ns == first  # finished: not redone


def test_a_quoted_glob_selects_images(tmp_path, model_path):
    for seed, name in enumerate(("a.npy", "b.npy")):
        np.save(tmp_path / name, blobs((64, 64), seed=seed))
    (tmp_path / "c.txt").write_text("not an image")
    pattern = str(tmp_path / "*.npy")
    assert (
        apply("--model", model_path, "--input", pattern, "--output", tmp_path / "out", *TILES) == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npy", "b.npy"]


def test_a_quoted_glob_of_stores_selects_them(tmp_path, model_path):
    for seed, name in enumerate(("a.zarr", "b.zarr")):
        zarr.create_array(str(tmp_path / name), shape=(64, 64), dtype="f4")[:] = blobs((64, 64), seed)
    pattern = str(tmp_path / "*.zarr")
    assert apply("--model", model_path, "--input", pattern, "--output", tmp_path / "out", *TILES) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.zarr", "b.zarr"]


def test_many_inputs_need_an_output_folder(tmp_path, model_path, capsys):
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, blobs((64, 64)))
    pattern = str(tmp_path / "*.npy")
    assert apply("--model", model_path, "--input", pattern, "--output", tmp_path / "x.tif") != 0
    assert "must be a folder" in capsys.readouterr().err


def test_inputs_whose_results_share_a_name_are_refused_before_writing(tmp_path, model_path, capsys):
    inputs = tmp_path / "raw"
    inputs.mkdir()
    np.save(inputs / "a.npy", blobs((64, 64)))
    np.savez(inputs / "a.npz", blobs((64, 64), seed=1))  # its result would be a.npy too
    output = tmp_path / "out"
    assert apply("--model", model_path, "--input", inputs, "--output", output) != 0
    assert "the results of a.npy and a.npz would all be written to 'a.npy'" in capsys.readouterr().err
    assert not output.exists()
    (inputs / "a.npz").rename(inputs / "A.npz")  # A.npy and a.npy: one file on macOS, Windows
    assert apply("--model", model_path, "--input", inputs, "--output", output) != 0
    assert "written to 'A.npy' and 'a.npy', one file on macOS" in capsys.readouterr().err
    assert not output.exists()
    (inputs / "A.npz").rename(inputs / "cafe\u0301.npz")  # é decomposed, as macOS stores it
    (inputs / "a.npy").rename(inputs / "caf\u00e9.npy")
    assert apply("--model", model_path, "--input", inputs, "--output", output) != 0
    assert "one file on macOS" in capsys.readouterr().err and not output.exists()


def test_a_stack_stored_as_channels_is_read_as_planes_by_a_grey_model(tmp_path, model_path, capsys):
    import tifffile

    planes = stack((3, 64, 64))
    tifffile.imwrite(tmp_path / "stack.tif", planes, imagej=True)  # stored as 3 channels
    assert apply("--model", model_path, "--input", tmp_path / "stack.tif",
                 "--output", tmp_path / "out.tif", "--tile", "64", "--device", "cpu") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "stores its axes as 'CYX', 3 channel(s), where the model takes 1: guessing" in out
    expected = predict(load_model(model_path), planes, axes="SYX", tile=64, device="cpu")
    np.testing.assert_allclose(tifffile.imread(tmp_path / "out.tif"), expected, atol=1e-5)


def test_an_output_folder_needs_its_parent(tmp_path, model_path, capsys):
    np.save(tmp_path / "a.npy", blobs((64, 64)))
    pattern, output = str(tmp_path / "*.npy"), tmp_path / "missing" / "out"
    assert apply("--model", model_path, "--input", pattern, "--output", output) != 0
    assert "create it first" in capsys.readouterr().err


def test_lower_case_axes_keep_the_outputs_axes_and_pixel_sizes(tmp_path, model_path):
    import tifffile

    from napari_autoencoders.core.io.tiff import read_layout

    source = tmp_path / "in.tif"
    tifffile.imwrite(source, stack((2, 64, 64)), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "TYX", "unit": "um", "finterval": 2.0, "tunit": "sec"})  # fmt: skip
    options = ["--input", source, "--axes", "tyx", *TILES]
    assert apply("--model", model_path, *options, "--output", tmp_path / "out.tif") == 0
    layout = read_layout(tmp_path / "out.tif")
    assert layout.axes == "TYX" and layout.scale == (2.0, 0.5, 0.5) and layout.unit is not None
    assert layout.time_unit == "sec"
    assert apply("--model", model_path, *options, "--output", tmp_path / "out.ome.zarr") == 0
    written = read_zarr(tmp_path / "out.ome.zarr")
    assert written.axes == "TYX" and written.scale == (2.0, 0.5, 0.5)
    assert written.time_unit == "second"
    tifffile.imwrite(source, stack((2, 64, 64)), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": 3.0})  # fmt: skip
    assert apply("--model", model_path, *options, "--output", tmp_path / "out.tif") == 0
    layout = read_layout(tmp_path / "out.tif")  # a Z spacing read as T is no frame interval
    assert layout.scale == (1.0, 0.5, 0.5) and layout.time_unit is None
