"""The command line's super-resolution task, run in-process on tiny files."""

import numpy as np
import pytest

from napari_autoencoders.cli import main
from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.data.resolution import downscale

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "8", "--batch-size", "2"]
FAST += ["--width", "8", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 48x48 high-resolution image, its x2 and x3 downscalings, and a 192x192 one for zero-shot x3."""
    folder = tmp_path_factory.mktemp("cli_superres")
    yy, xx = np.mgrid[:48, :48]
    high = (0.5 + 0.4 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.float32)
    yy, xx = np.mgrid[:192, :192]
    big = (0.5 + 0.4 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.float32)
    arrays = {"high": high, "low2": downscale(high, 2), "low3": downscale(high, 3), "big": big}
    paths = {name: folder / f"{name}.npy" for name in arrays}
    for name, array in arrays.items():
        np.save(paths[name], array)
    return paths


def run(*argv):
    return main([*map(str, argv)])


@pytest.mark.parametrize(
    ("options", "mode"),
    [
        (["--input", "{high}"], "from-highres"),
        (["--mode", "paired", "--input", "{low3}", "--target", "{high}"], "paired"),
        (["--mode", "zero-shot", "--input", "{big}", "--downscale", "gaussian:1"], "zero-shot"),
    ],
)
def test_train_and_apply_each_mode(files, tmp_path, options, mode):
    names = {name: str(path) for name, path in files.items()}
    model_path, output = tmp_path / "sr.safetensors", tmp_path / "big.tif"
    options = [option.format(**names) for option in options]
    assert run("train", "--task", "superres", "--factor", "3", *options, "--model", model_path, *FAST) == 0
    config = load_model(model_path).config
    assert (config.training.mode, config.model.factor) == (mode, 3)
    assert run("apply", "--model", model_path, "--input", files["low3"], "--output", output, "--quiet") == 0
    assert read_image(output).shape == (48, 48)


def test_a_result_keeps_the_pixel_sizes_of_an_imagej_tiff_at_its_factor(files, tmp_path):
    import tifffile

    from napari_autoencoders.core.io.zarr_store import open_image

    model_path, source = tmp_path / "sr.safetensors", tmp_path / "low.tif"
    assert run("train", "--task", "superres", "--factor", "2", "--input", files["high"],
               "--model", model_path, *FAST) == 0  # fmt: skip
    low = np.stack([np.load(files["low2"])] * 2)
    tifffile.imwrite(source, low, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "micron", "spacing": 1.5})  # fmt: skip
    for output in (tmp_path / "high.tif", tmp_path / "high.ome.zarr"):
        assert run("apply", "--model", model_path, "--input", source, "--output", output, "--quiet") == 0
        result = open_image(output)
        assert result.axes == "ZYX" and result.array.shape == (2, 48, 48)
        assert result.scale == (1.5, 0.25, 0.25)  # half the pixel size in Y and X
        assert result.unit in ("micron", "micrometer")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "superres", "--mode", "synthetic", "--input", "{high}"], "task superres"),
        (["--task", "superres", "--mode", "paired", "--input", "{low2}"], "high-resolution"),
        (["--task", "superres", "--mode", "paired", "--input", "{low2}", "--target", "{low3}"],
         "not 2 times"),
        (["--task", "superres", "--factor", "4", "--input", "{low3}", "--patch-size", "8"],
         "smaller than the 8x8"),
        (["--task", "superres", "--downscale", "box", "--input", "{high}"], "gaussian:SIGMA"),
        (["--task", "superres", "--depth", "3", "--input", "{high}"], "--depth"),
        (["--factor", "2", "--input", "{high}"], "task superres only"),
        (["--blocks", "2", "--input", "{high}"], "--blocks applies to task superres only"),
    ],
)
def test_bad_superres_options_give_one_error_line(files, tmp_path, capsys, argv, message):
    names = {name: str(path) for name, path in files.items()}
    argv = ["train", *(arg.format(**names) for arg in argv), "--model", str(tmp_path / "m.safetensors")]
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("napari-autoencoders: error: ")
    assert message in lines[0]
    assert not (tmp_path / "m").exists()


def test_blocks_sets_the_residual_blocks_of_the_upscaler(files, tmp_path):
    model_path = tmp_path / "sr.safetensors"
    argv = ["--task", "superres", "--input", files["high"], "--blocks", "2", "--model", model_path]
    assert run("train", *argv, *FAST) == 0
    assert load_model(model_path).config.model.blocks == 2


def test_apply_no_ensemble_gives_the_single_orientation(files, tmp_path):
    model_path = tmp_path / "sr.safetensors"
    assert run("train", "--task", "superres", "--input", files["high"], "--model", model_path, *FAST) == 0
    outputs = {flag: tmp_path / f"{flag}.tif" for flag in ("--ensemble", "--no-ensemble")}
    for flag, output in outputs.items():
        argv = ["apply", "--model", model_path, "--input", files["low2"], "--output", output]
        assert run(*argv, flag, "--quiet") == 0
    model = load_model(model_path)
    low = read_image(files["low2"])
    np.testing.assert_allclose(read_image(outputs["--ensemble"]), model.predict(low), atol=1e-4)
    np.testing.assert_allclose(
        read_image(outputs["--no-ensemble"]), model.predict(low, ensemble=False), atol=1e-4
    )
