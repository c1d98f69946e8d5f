"""Tests for the ``export`` command and ``apply --model package.zip``, run in-process."""

import io
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from napari_autoencoders.cli import main
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.model_files import load_model

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "16", "--batch-size", "2"]
FAST += ["--width", "8", "--device", "cpu", "--quiet"]


def read_member(package, name):
    """The bytes of file ``name`` in ``package``."""
    with zipfile.ZipFile(package) as archive:
        return archive.read(name)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    from bioimageio.spec import settings

    monkeypatch.setattr(settings, "cache_path", tmp_path / "bioimageio-cache")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A noisy 48x48 image and a denoiser trained on it."""
    folder = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    noisy = (rng.random((48, 48)) * 100).astype(np.float32)
    paths = {"noisy": folder / "noisy.npy", "model": folder / "model.safetensors"}
    np.save(paths["noisy"], noisy)
    assert (
        main(["train", "--input", str(paths["noisy"]), "--model", str(paths["model"]), *FAST]) == 0
    )
    return paths


def test_export_then_apply_the_package(files, tmp_path, capsys):
    package = tmp_path / "denoiser.zip"
    status = main(
        [
            "export",
            "--model",
            str(files["model"]),
            "--format",
            "bioimageio",
            "--output",
            str(package),
            "--authors",
            "Ada Lovelace;Alan Turing",
            "--name",
            "tiny denoiser",
            "--license",
            "MIT",
            "--input",
            str(files["noisy"]),
        ]
    )
    assert status == 0 and package.is_file()
    assert f"wrote bioimage.io package {package}" in capsys.readouterr().out
    rdf = read_member(package, "rdf.yaml").decode()
    assert "Ada Lovelace" in rdf and "Alan Turing" in rdf and "license: MIT" in rdf
    assert "name: tiny denoiser" in rdf
    test_input = np.load(io.BytesIO(read_member(package, "test_input.npy")))
    assert test_input.shape == (1, 1, 48, 48)  # the sample, 36 + 3 x 4

    result = tmp_path / "denoised.tif"
    apply = ["apply", "--model", str(package), "--input", str(files["noisy"])]
    assert main([*apply, "--output", str(result), "--device", "cpu", "--quiet"]) == 0
    noisy = np.load(files["noisy"])
    expected = predict(load_model(files["model"]), noisy, device="cpu")
    np.testing.assert_allclose(read_image(result), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--output", "model.safetensors"], "name the output 'model.zip'"),
        (["--output", "m.zip", "--license", "nope"], "not an SPDX licence identifier"),
        (["--output", "m.zip", "--authors", ";"], "at least one author"),
        (["--output", "missing/m.zip"], "the folder of 'missing/m.zip' does not exist"),
        (["--output", "folder.zip"], "'folder.zip': it is a folder"),
    ],
)
def test_bad_export_options_get_one_line_errors(
    files, tmp_path, capsys, monkeypatch, options, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.zip").mkdir()
    args = ["export", "--model", str(files["model"]), "--authors", "Ada", *options]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "m.zip").exists()


def test_a_sample_with_nan_is_refused_in_one_line(files, tmp_path, capsys):
    sample = np.load(files["noisy"])
    sample[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", sample)
    package = tmp_path / "m.zip"
    args = ["export", "--model", files["model"], "--output", package, "--input", tmp_path / "nan.npy"]
    assert main([str(arg) for arg in [*args, "--authors", "Ada"]]) == 2
    error = capsys.readouterr().err
    assert "the sample has 1 NaN or infinite value(s)" in error and error.count("\n") == 1
    assert not package.exists()


def test_a_package_is_not_exported_over_its_model(files, tmp_path, capsys):
    package = tmp_path / "m.zip"
    assert main(["export", "--model", str(files["model"]), "--output", str(package), "--authors", "A"]) == 0
    before = package.read_bytes()
    assert main(["export", "--model", str(package), "--output", str(package), "--authors", "A"]) == 2
    assert "would destroy the input" in capsys.readouterr().err
    assert package.read_bytes() == before


def test_unsupported_package_is_reported_by_apply(files, tmp_path, capsys):
    package = tmp_path / "m.zip"
    package.write_bytes(b"not a zip")
    assert (
        main(
            [
                "apply",
                "--model",
                str(package),
                "--input",
                str(files["noisy"]),
                "--output",
                str(tmp_path / "out.tif"),
            ]
        )
        == 2
    )
    assert "not a valid bioimage.io model package" in capsys.readouterr().err
