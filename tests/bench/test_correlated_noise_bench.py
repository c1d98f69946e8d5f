"""The correlated-noise benchmark: its noise and quick run."""

import sys

import numpy as np
import pytest

import correlated_noise


def test_the_noise_correlates_along_rows_only_and_the_spectrum_holds_its_variance():
    noise = correlated_noise.correlated_noise((256, 256), seed=0)
    assert noise.std() == pytest.approx(correlated_noise.SIGMA, rel=0.03)
    along = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    across = np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]
    assert along == pytest.approx(2 / 3, abs=0.03) and abs(across) < 0.03
    spectrum = correlated_noise.noise_spectrum((256, 256))
    assert spectrum.mean() / spectrum.size == pytest.approx(correlated_noise.SIGMA**2)


def test_noise_along_both_axes_correlates_alike_and_its_spectrum_is_its_own():
    noise = correlated_noise.correlated_noise((256, 256), seed=0, axes=(0, 1))
    assert noise.std() == pytest.approx(correlated_noise.SIGMA, rel=0.03)
    along = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    across = np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]
    assert along == pytest.approx(2 / 3, abs=0.03) and across == pytest.approx(2 / 3, abs=0.03)
    spectrum = correlated_noise.noise_spectrum((256, 256), axes=(0, 1))
    measured = np.abs(np.fft.fft2(noise)) ** 2
    assert spectrum.mean() / spectrum.size == pytest.approx(correlated_noise.SIGMA**2)
    low, high = (slice(0, 16), slice(112, 144))  # near the zero and the Nyquist frequency
    for band in (low, high):
        assert measured[band, band].mean() == pytest.approx(spectrum[band, band].mean(), rel=0.15)


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_splits_the_image_and_beats_the_whole_image():
    means, cases, both, _ = (table["rows"] for table in correlated_noise.run(quick=True))
    psnr = {row[0]: float(row[1]) for row in means}
    assert list(psnr) == [
        "noisy input", "BM3D, white-noise sigma", "BM3D, true noise spectrum",
        "ours, prior (zero-shot), whole image", "ours, prior (zero-shot)", "ours, self-supervised (1 s)",
    ]
    assert psnr["ours, prior (zero-shot)"] > psnr["ours, prior (zero-shot), whole image"] + 3
    psnr = {row[0]: float(row[1]) for row in both}
    assert list(psnr)[3:] == [
        "ours, prior (zero-shot), whole image", "ours, prior (zero-shot), noise strides 3,3",
        "ours, self-supervised (1 s), noise strides 3,3",
    ]
    assert psnr["ours, prior (zero-shot), noise strides 3,3"] > psnr["ours, prior (zero-shot), whole image"] + 3
    sys.modules.pop("correlated_noise", None)
