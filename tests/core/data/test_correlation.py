import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data, img_as_float32

from napari_autoencoders.core.data import correlation
from napari_autoencoders.core.data.noise import add_noise

def strides_of(planes):
    return correlation.choose_strides(planes)[1]


ROW_KERNEL = np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5)  # neighbours correlate at 0.67, 2 apart at 0.17


def correlated_noise(shape, sigma, *, axis, seed=0, kernel=ROW_KERNEL):
    white = np.random.default_rng(seed).normal(0.0, sigma, shape)
    return ndi.convolve1d(white, kernel, axis=axis, mode="wrap").astype(np.float32)


@pytest.mark.parametrize("strides", [(1, 1), (1, 3), (2, 1), (2, 3)])
@pytest.mark.parametrize("shape", [(2, 3, 11, 13), (1, 1, 4, 9, 10)])
def test_phases_interleave_back_to_the_input(strides, shape):
    batch = np.random.default_rng(0).random(shape).astype(np.float32)
    phases = correlation.to_phases(batch, strides)
    rows, columns = -(-shape[-2] // strides[0]), -(-shape[-1] // strides[1])
    assert phases.shape == (strides[0] * strides[1] * shape[0], *shape[1:-2], rows, columns)
    assert np.array_equal(correlation.from_phases(phases, strides, shape[-2:]), batch)


def test_cropped_phases_drop_the_last_rows_and_columns_instead_of_padding():
    batch = np.random.default_rng(2).random((1, 1, 11, 13)).astype(np.float32)
    phases = correlation.to_phases(batch, (2, 3), crop=True)
    assert phases.shape == (6, 1, 5, 4)
    assert np.array_equal(correlation.from_phases(phases, (2, 3), (10, 12)), batch[..., :10, :12])


def test_a_large_plane_is_measured_in_its_central_window():
    noise = correlated_noise((1, 1, 1500, 1200), 0.1, axis=3)
    window = correlation.WINDOW
    top, left = (1500 - window) // 2, (1200 - window) // 2
    centre = noise[..., top : top + window, left : left + window]
    assert np.array_equal(correlation.planes_correlation(noise), correlation.noise_correlation(centre[0, 0]))


def test_a_phase_holds_every_strideth_pixel():
    batch = np.arange(2 * 12 * 12, dtype=np.float32).reshape(2, 1, 12, 12)
    phases = correlation.to_phases(batch, (2, 3))
    for p in range(2):
        for q in range(3):
            for b in range(2):
                assert np.array_equal(phases[(p * 3 + q) * 2 + b], batch[b, :, p::2, q::3])


def test_phase_function_applies_to_each_phase_and_is_the_function_itself_without_strides():
    def double(x):
        return 2 * x

    assert correlation.phase_function(double, (1, 1)) is double
    batch = np.random.default_rng(1).random((1, 1, 10, 11)).astype(np.float32)
    shapes = []
    phased = correlation.phase_function(lambda x: shapes.append(x.shape) or double(x), (1, 4))
    assert np.allclose(phased(batch), 2 * batch)
    assert shapes == [(4, 1, 10, 3)]


def test_white_noise_does_not_correlate():
    noisy = add_noise(np.full((256, 256), 0.5, np.float32), "gaussian:0.1", seed=0)
    assert np.abs(correlation.noise_correlation(noisy)).max() < 0.1
    assert strides_of(noisy[None, None]) == (1, 1)


@pytest.mark.parametrize("axis, strides", [(1, (1, 3)), (0, (3, 1))])
def test_noise_correlated_along_one_axis_is_measured_and_split_apart(axis, strides):
    clean = img_as_float32(data.camera())[::2, ::2]
    noisy = clean + correlated_noise(clean.shape, 0.1, axis=axis)
    found = correlation.noise_correlation(noisy)
    assert found[axis, 0] == pytest.approx(2 / 3, abs=0.06)
    assert abs(found[1 - axis, 0]) < 0.1
    assert correlation.decorrelating_strides(found) == strides


@pytest.mark.parametrize("fill", ["zero", "median"])
def test_a_constant_canvas_around_the_image_leaves_the_measure_as_it_was(fill):
    clean = img_as_float32(data.camera())[::2, ::2]
    noisy = clean + correlated_noise(clean.shape, 0.1, axis=1)
    value = 0.0 if fill == "zero" else float(np.median(noisy))
    canvas = np.pad(noisy, 128, constant_values=value)  # once the flattest half: measured as 0
    np.testing.assert_allclose(correlation.noise_correlation(canvas), correlation.noise_correlation(noisy), atol=0.03)
    assert correlation.decorrelating_strides(correlation.noise_correlation(canvas)) == (1, 3)


@pytest.mark.parametrize("name", ["gravel", "grass", "brick"])
def test_texture_with_white_noise_is_not_taken_for_correlated_noise(name):
    clean = img_as_float32(getattr(data, name)())[:256, :256]
    assert strides_of(add_noise(clean, "gaussian:0.04", seed=2)[None, None]) == (1, 1)


@pytest.mark.parametrize("name, sigma", [("coins", 0), ("coins", 2), ("brick", 0), ("microaneurysms", 1)])
def test_the_grain_of_a_nearly_clean_8_bit_image_is_not_taken_for_row_noise(name, sigma):
    image = getattr(data, name)().astype(np.float32)
    image = np.round(image + np.random.default_rng(1).normal(0.0, sigma, image.shape)) if sigma else image
    assert strides_of(image[None, None]) == (1, 1)


def test_whole_numbers_measure_as_their_real_values_do():
    noisy = 100 + correlated_noise((256, 256), 3.0, axis=1, seed=4)
    rounded, exact = (correlation.noise_correlation(image) for image in (np.round(noisy), noisy))
    assert np.abs(rounded - exact).max() < 0.05


def test_noise_correlated_alike_along_both_axes_is_left_whole_and_the_strides_that_split_it_suggested():
    noisy = correlated_noise((256, 256), 0.1, axis=0)
    noisy = ndi.convolve1d(noisy, ROW_KERNEL, axis=1, mode="wrap")
    found = correlation.noise_correlation(noisy)
    assert correlation.decorrelating_strides(found) == (1, 1)
    assert correlation.suggested_strides(found) == (3, 3)  # 0.67 at 1 pixel, 0.17 at 2, 0 at 3
    assert correlation.suggested_strides(np.zeros((2, correlation.LAGS))) == (1, 1)
    assert correlation.correlates_along_both(found)
    assert "noise strides 3,3 split it" in correlation.both_axes_warning(found)


@pytest.mark.parametrize("name", ["gravel", "retina"])
def test_the_grain_of_a_nearly_clean_image_correlates_along_both_axes(name):
    image = img_as_float32(getattr(data, name)())
    image = image[..., 1] if image.ndim == 3 else image
    top, left = ((side - 256) // 2 for side in image.shape)
    assert correlation.correlates_along_both(correlation.noise_correlation(image[top:top + 256, left:left + 256]))


def test_white_noise_row_noise_and_no_measure_do_not_correlate_along_both_axes():
    clean = img_as_float32(data.gravel())[:256, :256]
    textured = add_noise(clean, "gaussian:0.06", seed=3)  # the benchmark's sigma 15 of 255
    rows = clean + correlated_noise(clean.shape, 0.1, axis=1)
    for image in (textured, rows):
        assert not correlation.correlates_along_both(correlation.noise_correlation(image))
    assert not correlation.correlates_along_both(None)


def test_strides_given_split_whatever_is_measured():
    white = np.random.default_rng(0).normal(0.0, 0.1, (1, 1, 64, 90)).astype(np.float32)
    found, strides = correlation.choose_strides(white, (2, 3))
    assert strides == (2, 3) and abs(found[:, 0]).max() < 0.2
    assert correlation.choose_strides(white, (1, 1))[1] == (1, 1)


@pytest.mark.parametrize("text, strides", [("auto", None), (" AUTO ", None), ("1,3", (1, 3)),
                                           ("2, 2", (2, 2)), ("3x1", (3, 1)), ("1,1", (1, 1))])
def test_strides_are_read_from_text(text, strides):
    assert correlation.parse_strides(text) == strides


@pytest.mark.parametrize("text", ["", "3", "1,2,3", "a,b", "1.5,2"])
def test_unreadable_strides_name_the_forms_read(text):
    with pytest.raises(ValueError, match="'auto' or two whole numbers Y,X"):
        correlation.parse_strides(text)


def test_too_small_an_image_is_refused_or_not_split():
    with pytest.raises(ValueError, match="more than 8 pixels a side"):
        correlation.noise_correlation(np.zeros((8, 64)))
    assert correlation.planes_correlation(np.zeros((1, 1, 8, 64))) is None
    small = np.zeros((1, 1, 8, 64))
    assert strides_of(small) == (1, 1)


def test_correlated_planes_are_measured_and_given_strides():
    noisy = correlated_noise((1, 1, 128, 100), 0.1, axis=3)
    found, strides = correlation.choose_strides(noisy)
    assert strides == (1, 3) and found[1, 0] > 0.5
