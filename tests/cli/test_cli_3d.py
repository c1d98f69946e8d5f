"""The command line's 3D denoising (--3d), run in-process on tiny volumes."""

import numpy as np
import pytest

from napari_autoencoders.cli import build_parser, main
from napari_autoencoders.cli.train import config_from_args
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.model_files import load_model

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "16", "--patch-z", "8"]
FAST += ["--batch-size", "2", "--width", "8", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A noisy 8x24x24 volume, a 24x24 image, and a 3D model trained on the volume."""
    folder = tmp_path_factory.mktemp("cli_3d")
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:8, :24, :24]
    clean = np.exp(-((z - 4) ** 2 / 8 + (y - 12) ** 2 / 30 + (x - 10) ** 2 / 30)).astype(np.float32)
    paths = {name: folder / f"{name}.npy" for name in ("volume", "image")}
    np.save(paths["volume"], clean + rng.normal(0, 0.1, clean.shape).astype(np.float32))
    np.save(paths["image"], clean[4])
    paths["model"] = folder / "volume.safetensors"
    argv = ["train", "--3d", "--axes", "ZYX", "--input", paths["volume"], "--model", paths["model"]]
    assert main([str(arg) for arg in argv + FAST]) == 0
    return paths


def test_train_3d_writes_a_3d_model_that_apply_uses(files, tmp_path):
    model = load_model(files["model"])
    assert model.config.model.spatial_dims == 3 and model.config.data.patch_z == 8
    output = tmp_path / "denoised.npy"

    assert main(["apply", "--model", str(files["model"]), "--input", str(files["volume"]),
                 "--output", str(output), "--quiet"]) == 0  # fmt: skip

    expected = predict(model, np.load(files["volume"]), axes="ZYX")
    np.testing.assert_allclose(read_image(output), expected, atol=1e-6)


def test_a_3d_model_on_an_image_without_z_is_one_error_line_and_no_file(files, tmp_path, run_error):
    output = tmp_path / "denoised.npy"

    line = run_error(["apply", "--model", files["model"], "--input", files["image"], "--output", output])

    assert "3D model" in line and "no Z" in line
    assert not output.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--task", "superres", "--3d"], "--3d applies to task denoise only"),
        (["--3d", "--axes", "SYX"], "--3d needs a Z axis"),
        (["--patch-z", "4"], "--patch-z applies to 3D networks only"),
        (["--3d", "--axes", "ZYX", "--patch-z", "16"], "the volumes are 8x24x24"),
    ],
)
def test_bad_3d_options_are_one_error_line_and_no_model(files, tmp_path, run_error, options, message):
    model = tmp_path / "m.safetensors"
    argv = ["train", "--input", files["volume"], "--model", model, "--epochs", "1", *options]

    assert message in run_error(argv)
    assert not model.exists()


def test_3d_flag_reaches_the_recipe():
    args = build_parser().parse_args(["train", "--input", "v.npy", "--model", "m.safetensors", "--3d"])

    config = config_from_args(args, (40, 128, 128))

    assert config.model.spatial_dims == 3 and config.data.axes == "ZYX"
