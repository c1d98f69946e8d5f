import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data

from napari_autoencoders.core.data.noise_report import noise_report


def test_the_report_holds_the_noise_model_hot_pixels_and_clipping_of_counts():
    rng = np.random.default_rng(0)
    clean = 0.1 + 0.8 * data.camera()[::2, ::2] / 255.0
    counts = (rng.poisson(30 * clean) * 5.0).astype(np.float32)
    counts[[20, 100, 200], [30, 60, 90]] = 5000.0
    report = noise_report(counts, "YX")
    span = np.subtract(*np.percentile(counts, [99.8, 1.0])) / 5.0  # in photons
    assert report.photons == pytest.approx(span, rel=0.2)
    assert report.hot_pixels == 3
    assert report.clip_levels == (None, None) and report.strides == (1, 1)
    assert report.low < report.high


def test_the_report_of_row_noise_measures_it_on_the_interleaved_columns():
    camera = data.camera().astype(np.float32)
    white = np.random.default_rng(1).normal(0.0, 10.0, camera.shape)
    noisy = camera + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    report = noise_report(np.stack([noisy, noisy[::-1]]), "SYX")
    assert report.strides == (1, 3) and report.correlation[1, 0] > 0.5
    assert report.read_sigma == pytest.approx(10.0, rel=0.15)  # the whole image's would read less
    assert not np.isfinite(report.photons)
