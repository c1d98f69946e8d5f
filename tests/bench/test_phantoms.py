import time

import numpy as np
import pytest

from phantoms import fluorescence_phantom


@pytest.mark.parametrize("shape", [(512, 512), (64, 96), (96, 64), (8, 8)])
def test_shape_dtype_and_range(shape):
    image = fluorescence_phantom(shape)
    assert image.shape == shape
    assert image.dtype == np.float32
    assert image.min() >= 0.0
    assert image.max() <= 1.0


def test_dim_background_and_bright_structures():
    image = fluorescence_phantom(seed=0)
    # Most of the field is dark background, the structures reach close to 1.
    assert 0.02 <= np.median(image) <= 0.05
    assert image.min() >= 0.015
    assert image.max() >= 0.9
    # Nuclei cover a real share of the image: a tenth of it is well above background.
    assert np.mean(image > 0.15) > 0.1
    assert image.std() > 0.05


def test_deterministic_for_a_seed():
    np.testing.assert_array_equal(fluorescence_phantom(seed=5), fluorescence_phantom(seed=5))


def test_seeds_give_different_images():
    first = fluorescence_phantom((128, 128), seed=0)
    second = fluorescence_phantom((128, 128), seed=1)
    assert np.abs(first - second).mean() > 0.01


def test_is_band_limited_by_the_psf():
    # Blurred by a Gaussian PSF: neighbouring pixels differ far less than the
    # intensity range, unlike white noise.
    image = fluorescence_phantom(seed=0)
    assert np.abs(np.diff(image, axis=1)).max() < 0.5
    assert np.abs(np.diff(image, axis=1)).mean() < 0.1 * image.std()


def test_fast():
    fluorescence_phantom((32, 32))  # import and warm-up outside the timing
    start = time.perf_counter()
    fluorescence_phantom((512, 512))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("shape", [(64,), (64, 64, 3), (4, 64), (64.5, 64)])
def test_bad_shape_raises(shape):
    with pytest.raises(ValueError, match="shape must be two integers"):
        fluorescence_phantom(shape)
