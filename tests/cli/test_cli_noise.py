"""The ``noise`` command: the noise the denoiser measures, printed before any training."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage import data

from napari_autoencoders.cli import main


def test_row_noise_is_reported_with_its_correlation_and_the_split(tmp_path, capsys):
    camera = data.camera().astype(np.float32)
    white = np.random.default_rng(0).normal(0.0, 10.0, camera.shape)
    noisy = camera + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    path = tmp_path / "rows.tif"
    tifffile.imwrite(path, np.clip(noisy, 0, 255).astype(np.uint8))
    assert main(["noise", "--input", str(path)]) == 0
    out = capsys.readouterr().out
    along_x = next(line for line in out.splitlines() if "along X:" in line)
    assert float(along_x.split()[2]) > 0.5
    assert "noise at the 1st percentile: standard deviation" in out
    assert "clipped: below at 0 and above at 255" in out
    assert "takes 3 interleaved sets of columns, 3 pixels apart" in out


def test_shot_noise_is_reported_in_photons_and_white_noise_leaves_the_image_whole(tmp_path, capsys):
    rng = np.random.default_rng(1)
    counts = rng.poisson(30 * (0.1 + 0.8 * data.camera()[::2, ::2] / 255.0)) * 7 + 100
    path = tmp_path / "counts.tif"
    tifffile.imwrite(path, counts.astype(np.uint16))
    assert main(["noise", "--input", str(path), "--axes", "YX"]) == 0
    out = capsys.readouterr().out
    photons = next(line for line in out.splitlines() if "shot noise" in line)
    span = np.subtract(*np.percentile(counts, [99.8, 1.0])) / 7  # photons from the 1st to the 99.8th
    assert abs(float(photons.split()[2]) / span - 1) < 0.2
    assert 5 < float(photons.split("(")[1].split()[0]) < 9  # units per photon: 7
    assert "hot pixels: 0" in out and "takes the image whole" in out


def test_a_constant_image_gets_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, np.full((64, 64), 7, np.uint8))
    assert main(["noise", "--input", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-autoencoders: error:") and "\n" not in err


def test_a_zarr_store_is_measured_as_the_other_commands_read_it(tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    counts = np.random.default_rng(2).poisson(30 * (0.1 + 0.8 * data.camera()[::2, ::2] / 255.0))
    store = zarr.create_array(tmp_path / "counts.zarr", shape=counts.shape, chunks=(64, 64), dtype="f4")
    store[:] = counts
    assert main(["noise", "--input", str(tmp_path / "counts.zarr"), "--axes", "YX"]) == 0
    assert "shot noise" in capsys.readouterr().out


def test_a_complex_image_is_refused_as_by_the_other_commands(tmp_path, capsys):
    np.save(tmp_path / "complex.npy", np.ones((64, 64), np.complex64))
    assert main(["noise", "--input", str(tmp_path / "complex.npy")]) == 2
    assert "is complex; give its magnitude or real part" in capsys.readouterr().err


def test_a_last_axis_of_two_values_is_asked_about(tmp_path, capsys):
    np.save(tmp_path / "two.npy", np.random.default_rng(0).random((64, 64, 2), dtype=np.float32))
    assert main(["noise", "--input", str(tmp_path / "two.npy")]) == 2
    err = capsys.readouterr().err  # it measured 64 planes of 64x2 pixels and blamed their size
    assert "give --axes YXC" in err
