"""Tests for ``apply`` on zarr and OME-Zarr stores."""

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
    image = stack()
    source, result = tmp_path / "in.ome.zarr", tmp_path / "out.ome.zarr"
    with atomic_zarr(
        source, image.shape, chunks=(1, 64, 64), axes="ZYX", scale=(3, 0.2, 0.2)
    ) as out:
        out[:] = image
    assert apply("--model", model_path, "--input", source, "--output", result, *TILES) == 0
    written = read_zarr(result)
    assert written.axes == "ZYX" and written.scale == (3.0, 0.2, 0.2)
    assert written.array.chunks == (1, 64, 64)
    expected = predict(load_model(model_path), image, axes="ZYX", tile=64, overlap=16, device="cpu")
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


def test_output_over_the_input_store_is_refused(tmp_path, model_path, capsys):
    source = tmp_path / "in.zarr"
    zarr.create_array(str(source), shape=(64, 64), chunks=(32, 32), dtype="f4")[:] = 1
    assert apply("--model", model_path, "--input", source, "--output", source, "--quiet") != 0
    assert "destroy the input" in capsys.readouterr().err
