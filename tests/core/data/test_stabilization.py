"""Noise estimation and the generalised Anscombe transform."""

import numpy as np
import pytest
import torch
from skimage import data, img_as_float32

from napari_autoencoders.core.data.clipping import clip_levels
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.data.stabilization import (
    NoiseBins,
    NoiseModel,
    _fit_line,
    _photons_clipped,
    channel_balance,
    declip_noise,
    estimate_channel_noise,
    estimate_noise,
    estimate_planes_noise,
    gat,
    inverse_gat,
    noise_model_of,
    noisy_flat,
    stabilize,
    thin,
    thinned_noise,
    unstabilize,
)


@pytest.fixture(scope="module")
def moon():
    """A 256x256 crop of the moon, scaled to [0, 1] as the trainer normalises it."""
    image = img_as_float32(data.moon())[:256, :256]
    low, high = np.percentile(image, (1, 99.8))
    return np.clip((image - low) / (high - low), 0, 1)


@pytest.mark.parametrize("sigma", [0.05, 0.1])
def test_estimate_noise_finds_gaussian_sigma(moon, sigma):
    noise = estimate_noise(add_noise(moon, f"gaussian:{sigma}", seed=1))
    # the same standard deviation across the image's intensities
    for intensity in np.percentile(moon, [5, 50, 95]):
        assert noise.sigma(intensity) == pytest.approx(sigma, rel=0.1)


@pytest.mark.parametrize("peak", [10, 100])
def test_estimate_noise_finds_poisson_gain(moon, peak):
    noise = estimate_noise(add_noise(moon, f"poisson:{peak}+gaussian:0.01", seed=1))
    assert noise.gain == pytest.approx(1 / peak, rel=0.2)
    assert noise.read_variance < 0.001


@pytest.mark.parametrize("name, sigma", [("coffee", 15), ("chelsea", 50), ("astronaut", 50)])
def test_gaussian_noise_on_colour_photographs_is_fitted_without_a_shot_noise_term(name, sigma):
    # each channel on its own [0, 1] scale, as the trainer normalises them; a line
    # through the binned variances finds a small spurious gain on some channels here
    image = img_as_float32(getattr(data, name)())[:512, :512]
    noisy = np.moveaxis(image + np.random.default_rng(100 + sigma).normal(0, sigma / 255, image.shape), -1, 0)
    low, high = np.percentile(noisy, (1, 99.8), axis=(1, 2), keepdims=True)
    planes = ((noisy - low) / (high - low))[None]
    noise, _ = estimate_planes_noise(planes)
    assert noise.gain == 0.0
    assert np.sqrt(noise.read_variance) == pytest.approx(np.median(sigma / 255 / (high - low)), rel=0.1)


def test_a_shot_noise_term_counts_from_half_the_read_variance_at_the_brightest_bin():
    means = np.linspace(0.1, 0.9, 9)
    counts = np.full(9, 1000)
    for gain, kept in ((0.004, False), (0.007, True)):  # 0.36 and 0.63 of the read variance at 0.9
        noise = _fit_line(means, 0.01 + gain * means, counts)
        assert noise.gain == pytest.approx(gain if kept else 0.0)
        if not kept:  # the bins' mean variance
            assert noise.read_variance == pytest.approx(0.01 + gain * 0.5)


@pytest.mark.parametrize("name", ["camera", "horse"])
def test_clipped_gaussian_noise_is_fitted_with_its_sigma_before_clipping(name):
    image = img_as_float32(getattr(data, name)())[:256, :256]  # the horse: black and white
    noisy = np.clip(add_noise(image, "gaussian:0.2", seed=1), 0.0, 1.0)
    levels = clip_levels(noisy)
    assert levels == (0.0, 1.0)
    plain, clipped = estimate_noise(noisy), estimate_noise(noisy, levels=levels)
    assert np.sqrt(plain.read_variance) < 0.17  # the squashed noise passes for less
    assert clipped.gain == 0.0
    assert np.sqrt(clipped.read_variance) == pytest.approx(0.2, rel=0.12)


def test_clipped_data_keep_a_shot_noise_that_shows_clear_of_the_clip_levels(moon):
    noisy = np.clip(add_noise(moon, "poisson:30+gaussian:0.01", seed=1), 0.0, 0.9)  # saturated
    noise = estimate_noise(noisy, levels=clip_levels(noisy))
    assert noise.gain == pytest.approx(1 / 30, rel=0.25)


@pytest.mark.parametrize("high", [1.0, 0.5])
def test_poisson_gaussian_noise_clipped_at_zero_photons_is_not_taken_for_gaussian(moon, high):
    # at 10 photons a dark region piles up at 0 only where no photon came and the
    # read noise was negative; Gaussian noise that squashed would pile most of it there
    noisy = np.clip(add_noise(moon, "poisson:10+gaussian:0.01", seed=1), 0.0, high)
    levels = clip_levels(noisy)
    assert levels == (0.0, high)
    noise = estimate_noise(noisy, levels=levels)
    assert noise.gain == pytest.approx(0.1, rel=0.2)  # saturated bins left out of the line
    assert noise.read_variance < 0.002


def test_declipping_poisson_gaussian_noise_moves_only_values_near_the_high_level():
    values = np.array([0.0, 0.02, 0.5, 0.9, 0.97, 1.0])
    gaussian = declip_noise(values, NoiseModel(0.0, 0.01), (0.0, 1.0))
    assert gaussian[1] < 0.02 and gaussian[-1] > 0.97  # both ends
    photons = declip_noise(values, NoiseModel(0.1, 0.0), (0.0, 1.0))
    np.testing.assert_allclose(photons[:2], values[:2], atol=1e-4)  # no clipped noise at zero photons
    assert 0.5 < photons[2] < 0.504  # 2.2 deviations (0.22) below 1
    # with the deviation of 0.32 at 1, clean 1 has a clipped mean of 0.87: the means
    # above it come from the level or beyond, and go to the level, no further
    assert photons[3:].tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(declip_noise(values, NoiseModel(0.1, 0.0), (0.0, None)), values)
    assert declip_noise(np.zeros(0), NoiseModel(0.1, 0.0), (0.0, 1.0)).shape == (0,)


def test_counts_clipped_at_zero_photons_are_told_apart_beside_a_canvas_below_them(moon):
    noisy = np.clip(add_noise(moon, "poisson:10+gaussian:0.01", seed=1), 0.0, 1.0)
    padded = _padded(noisy, -0.2)  # stitched onto a background below the data's clip level
    assert estimate_noise(padded, levels=(0.0, 1.0)).gain == pytest.approx(0.1, rel=0.2)


def test_bins_that_no_clipped_gaussian_noise_explains_are_taken_for_photon_counts():
    means = np.linspace(0.05, 0.5, 6)
    bins = NoiseBins(means, 0.05 * means + 1e-4, np.full(6, 1000), np.linspace(0.3, 0.0, 6))
    line = _fit_line(*bins[:3])
    assert _photons_clipped(bins, line, 0.0, None, sigma=None)
    assert not _photons_clipped(bins._replace(lowest=np.zeros(6)), line, 0.0, None, sigma=None)  # none at low


def test_clipped_gaussian_noise_on_a_dark_image_stays_gaussian():
    # hubble_deep_field: most of it near black, where clipping at 0 squashes the noise
    image = img_as_float32(data.hubble_deep_field()[:256, :256, 0])
    noisy = np.round(255 * np.clip(add_noise(image, "gaussian:0.1", seed=2), 0.0, 1.0)) / 255
    noise = estimate_noise(noisy, levels=clip_levels(noisy))
    assert noise.gain == 0.0
    assert np.sqrt(noise.read_variance) == pytest.approx(0.1, rel=0.12)


def _padded(image: np.ndarray, value: float, width: int = 64) -> np.ndarray:
    """``image`` on a canvas ``width`` pixels wider each side, filled with ``value``."""
    canvas = np.full(np.add(image.shape, 2 * width), value, dtype=np.float32)
    canvas[width:-width, width:-width] = image
    return canvas


def test_a_canvas_of_constant_value_inside_the_range_is_left_out_of_the_noise_fit(moon):
    counts = add_noise(moon, "poisson:30+gaussian:0.01", seed=5)
    padded = _padded(counts, float(np.median(counts)))
    # the canvas, smoothest of its bin, once halved the gain
    assert estimate_noise(padded).gain == pytest.approx(estimate_noise(counts).gain, rel=0.15)


@pytest.mark.parametrize("end", ["least", "greatest"])
def test_a_canvas_at_an_end_of_the_range_is_left_out_of_the_noise_fit(moon, end):
    counts = add_noise(moon, "poisson:30+gaussian:0.01", seed=5)
    padded = _padded(counts, float(counts.min() if end == "least" else counts.max()))
    # at the greatest value, the canvas once took the gain to a fifth
    assert estimate_noise(padded).gain == pytest.approx(estimate_noise(counts).gain, rel=0.15)


def test_a_flat_canvas_gets_the_models_noise_and_the_rest_is_kept(moon):
    counts = add_noise(moon, "poisson:30+gaussian:0.01", seed=5)
    median = float(np.median(counts))
    padded = _padded(counts, median)[None, None]  # (1, 1, Y, X)
    filled = noisy_flat(padded, NoiseModel(1 / 30, 1e-4), np.random.default_rng(0))
    canvas = filled[0, 0, :64]
    assert np.std(canvas) == pytest.approx(np.sqrt(median / 30 + 1e-4), rel=0.05)
    assert np.mean(canvas) == pytest.approx(median, abs=0.01)
    np.testing.assert_array_equal(filled[0, 0, 64:-64, 64:-64], counts)
    assert noisy_flat(counts, NoiseModel(1 / 30, 1e-4), np.random.default_rng(0)) is counts  # nothing flat


def test_flat_regions_already_found_are_not_searched_again(moon):
    counts = add_noise(moon, "poisson:30+gaussian:0.01", seed=5)
    padded = _padded(counts, float(np.median(counts)))[None, None]
    given = np.zeros(padded.shape, dtype=bool)
    given[..., :64, :] = True  # the top of the canvas only
    filled = noisy_flat(padded, NoiseModel(1 / 30, 1e-4), np.random.default_rng(0), given)
    assert np.std(filled[0, 0, :64]) > 0.05 and np.ptp(filled[0, 0, -64:]) == 0.0


def test_estimate_channel_noise_fits_each_channel_on_its_own(moon):
    noisy = add_noise(moon, "gaussian:0.05", seed=4)
    counts = add_noise(moon, "poisson:30+gaussian:0.01", seed=5)
    planes = np.stack([noisy, 2 * noisy, counts])[None]  # (1, 3, Y, X)
    (first, second, third), signed = estimate_channel_noise(planes)
    assert len(signed) == 3 and signed[2].gain > 0
    assert first.gain == second.gain == 0.0
    assert np.sqrt(first.read_variance) == pytest.approx(0.05, rel=0.1)
    assert second.read_variance == pytest.approx(4 * first.read_variance, rel=1e-6)
    assert third.gain == pytest.approx(1 / 30, rel=0.2)


def test_channels_with_shot_noise_are_balanced_to_one_model_their_lows_moving_down():
    models = [NoiseModel(0.05, 0.0), NoiseModel(0.001, 0.0002), NoiseModel(0.004, 0.0001)]
    factors, shifts, noise = channel_balance(models)
    assert noise.gain == pytest.approx(0.004) and noise.read_variance >= 0.0
    for fit, factor, shift in zip(models, factors, shifts):
        rescaled = fit.rescaled(factor * shift, factor)
        assert rescaled.gain == pytest.approx(noise.gain)
        assert rescaled.read_variance == pytest.approx(noise.read_variance, abs=1e-12)
    assert shifts[0] == 0.0 and np.all(shifts <= 0.0)  # no channel drops below its 1st percentile


def test_channels_of_gaussian_noise_are_balanced_by_their_deviations_alone():
    factors, shifts, noise = channel_balance([NoiseModel(0.0, 0.01), NoiseModel(0.0, 0.04), NoiseModel(0.0, 0.09)])
    np.testing.assert_allclose(factors, [0.5, 1.0, 1.5])
    assert np.all(shifts == 0.0) and noise == NoiseModel(0.0, pytest.approx(0.04))


@pytest.mark.parametrize("models", [[NoiseModel(0.01, 0.0), NoiseModel(0.0, 0.01)], [NoiseModel(0.0, 0.01), NoiseModel(0.0, 0.0)]])
def test_channels_are_not_balanced_where_one_has_no_shot_noise_or_no_noise(models):
    assert channel_balance(models) is None


def test_estimates_on_the_same_planes_share_their_bins(moon, monkeypatch):
    from napari_autoencoders.core.data import stabilization

    noisy = add_noise(moon, "gaussian:0.05", seed=4)
    planes = np.stack([noisy, 2 * noisy, add_noise(moon, "poisson:30+gaussian:0.01", seed=5)])[None]
    alone = estimate_planes_noise(planes), estimate_channel_noise(planes)
    binned, calls = {}, []
    original = stabilization._noise_bins
    monkeypatch.setattr(stabilization, "_noise_bins", lambda *args: calls.append(1) or original(*args))
    shared = estimate_planes_noise(planes, binned=binned), estimate_channel_noise(planes, binned=binned)
    assert shared == alone
    assert len(calls) == 3  # each channel binned once


def test_estimate_planes_noise_fits_each_channel_under_its_clip_levels(moon):
    noisy = np.clip(add_noise(moon, "gaussian:0.2", seed=3), 0.0, 1.0)
    planes = np.stack([noisy, 2 * noisy])[None]  # (1, 2, Y, X): the second channel on twice the scale
    noise, _ = estimate_planes_noise(planes, levels=[(0.0, 1.0), (0.0, 2.0)])
    plain, _ = estimate_planes_noise(planes)
    # the median of 0.2 and 0.4, where the plain fit, fooled by the clipping, finds less
    assert noise.gain == 0.0
    assert np.sqrt(noise.read_variance) == pytest.approx(np.sqrt((0.2**2 + 0.4**2) / 2), rel=0.12)
    assert plain.read_variance < 0.8 * noise.read_variance


def test_estimate_noise_refuses_tiny_or_3d_input():
    with pytest.raises(ValueError, match="2D image of at least 8x8"):
        estimate_noise(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="2D image"):
        estimate_noise(np.zeros((3, 16, 16)))


def test_estimate_planes_noise_takes_the_median_over_planes(moon):
    planes = np.stack([add_noise(moon, "gaussian:0.1", seed=s) for s in range(3)])[:, None]
    planes[1, 0] = moon  # one clean plane does not sway the median
    noise, _ = estimate_planes_noise(planes)
    assert np.sqrt(noise.read_variance) == pytest.approx(0.1, rel=0.1)


def test_stabilized_poisson_noise_has_unit_variance(moon):
    noise = NoiseModel(1 / 30, 0.01**2)
    noisy = add_noise(moon, "poisson:30+gaussian:0.01", seed=2)
    residual = stabilize(noisy, noise) - stabilize(moon, noise)
    bright = moon > 0.2  # where counts are high enough for the transform's approximation
    assert residual[bright].std() == pytest.approx(1.0, abs=0.05)


def test_unbiased_inverse_recovers_the_mean_at_low_counts():
    rng = np.random.default_rng(0)
    clean = 0.3  # 3 photons at peak 10
    noisy = rng.poisson(clean * 10, size=200_000) / 10
    noise = NoiseModel(0.1, 0.0)
    mean_stable = stabilize(noisy, noise).mean()
    unbiased = unstabilize(np.array([mean_stable]), noise)[0]
    algebraic = ((mean_stable / 2) ** 2 - 0.375) * 0.1
    assert abs(unbiased - clean) < 0.01
    assert abs(algebraic - clean) > 3 * abs(unbiased - clean)


def test_gaussian_model_is_a_scaling():
    x = torch.linspace(-1, 2, 7)
    assert torch.allclose(gat(x, 0.0, 0.04), x / 0.2)
    assert torch.allclose(inverse_gat(gat(x, 0.0, 0.04), 0.0, 0.04), x)


def test_noise_model_of_a_description():
    assert noise_model_of("poisson:20+gaussian:0.1") == NoiseModel(0.05, pytest.approx(0.01))
    with pytest.raises(ValueError, match="salt and pepper"):
        noise_model_of("saltpepper:0.1")


@pytest.mark.parametrize("peak", [10, 30])
def test_a_signed_estimate_finds_zero_photons_above_intensity_0(peak):
    # zero photons at 0.2: variance gain * (x - 0.2), a line through -0.2 * gain
    ramp = np.tile(np.linspace(0.0, 1.0, 256, dtype=np.float32), (256, 1))
    noisy = add_noise(ramp, f"poisson:{peak}", seed=1) + 0.2
    signed = estimate_noise(noisy, signed=True)
    assert signed.gain == pytest.approx(1 / peak, rel=0.15)
    assert signed.read_variance == pytest.approx(-0.2 / peak, rel=0.3)
    assert estimate_noise(noisy).read_variance == 0.0  # the Anscombe transform's, clamped


@pytest.mark.parametrize("peak, read, black", [(5, 0.0, 0.0), (30, 0.01, 0.0), (30, 0.1, 0.0),
                                               (30, 0.0, 0.05)])  # fmt: skip
def test_thinning_splits_into_independent_unbiased_images(peak, read, black):
    clean = torch.full((400, 400), 0.4 + black)  # zero photons at ``black``
    noise = NoiseModel(1 / peak, read**2 - black / peak)
    spec = f"poisson:{peak}" + (f"+gaussian:{read}" if read else "")
    noisy = torch.from_numpy(add_noise(clean.numpy() - black, spec, seed=1)) + black
    part, rest = thin(noisy, noise, 0.7, torch.Generator().manual_seed(0))

    for image in (part, rest):  # unbiased: the clean value on average
        assert float(image.mean()) == pytest.approx(0.4 + black, abs=0.01)
    first, second = (part - clean).flatten(), (rest - clean).flatten()
    assert abs(float(torch.corrcoef(torch.stack([first, second]))[0, 1])) < 0.02
    expected = thinned_noise(noise, 0.7)
    variance = expected.gain * (0.4 + black) + expected.read_variance
    assert float(first.var()) == pytest.approx(variance, rel=0.1)


@pytest.mark.parametrize("photons", [1, 3, 10])
def test_thinning_stays_unbiased_with_read_noise_narrower_than_a_count(photons):
    # read noise of 0.2 count: plain rounding pulls values towards whole counts
    clean = np.full((800, 800), photons / 20, np.float32)
    noisy = torch.from_numpy(add_noise(clean, "poisson:20+gaussian:0.01", seed=1))
    part, rest = thin(noisy, NoiseModel(1 / 20, 0.01**2), 0.7, torch.Generator().manual_seed(0))
    for image in (part, rest):  # in counts: the clean value on average
        assert float(image.mean()) * 20 == pytest.approx(photons, abs=0.015)


@pytest.mark.parametrize("peak", [30, 100])
def test_a_signed_estimate_is_not_tilted_by_the_darkest_bin(moon, peak):
    # the moon's darkest bin holds its clipped pixels: few, whole counts whose median absolute
    # deviation understates their variance; a line through it would overstate the gain
    signed = estimate_noise(add_noise(moon, f"poisson:{peak}+gaussian:0.01", seed=1), signed=True)
    assert signed.gain == pytest.approx(1 / peak, rel=0.1)


def test_thinning_counts_from_intensity_0_correlates_the_halves():
    # zero photons at 0.2 but a model that counts from 0: 6 photons too many a pixel, so
    # the counts vary less than their mean and the halves' noises are anticorrelated
    noisy = torch.from_numpy(add_noise(np.full((400, 400), 0.1, np.float32), "poisson:30", seed=1))
    part, rest = thin(noisy + 0.2, NoiseModel(1 / 30, 0.0), 0.7, torch.Generator().manual_seed(0))
    halves = torch.stack([(part - 0.3).flatten(), (rest - 0.3).flatten()])
    assert float(torch.corrcoef(halves)[0, 1]) < -0.1


def test_thinning_refuses_gaussian_noise():
    with pytest.raises(ValueError, match="shot noise"):
        thin(torch.zeros(4, 4), NoiseModel(0.0, 0.01), 0.5)


def test_a_rescaled_noise_model_keeps_each_pixels_variance():
    noise = NoiseModel(0.5, 4.0)
    unit = noise.rescaled(100.0, 200.0)
    intensity = np.array([100.0, 150.0, 300.0])
    np.testing.assert_allclose(unit.sigma((intensity - 100) / 200), noise.sigma(intensity) / 200)


def test_a_negligible_shot_noise_term_is_fitted_as_none():
    # a noiseless micrograph on the trainer's scale: any gain fitted there is error
    cell = img_as_float32(data.cell())
    low, high = np.percentile(cell, (1, 99.8))
    noise = estimate_noise((cell - low) / (high - low))
    assert noise.gain == 0.0 and 0 < noise.read_variance < 1e-5


def test_signal_correlation_sees_colours_through_the_noise():
    from napari_autoencoders.core.data.stabilization import signal_correlation

    photo = np.moveaxis(img_as_float32(data.chelsea())[:, :384], -1, 0)[None]  # (1, 3, Y, X)
    unrelated = np.stack([img_as_float32(getattr(data, name)())[:300, :384] for name in ("camera", "moon", "coins")])[None]
    noise = NoiseModel(0.0, 0.2**2)
    for planes, low, high in ((photo, 0.7, 1.1), (unrelated, -0.2, 0.2)):
        noisy = planes + np.random.default_rng(0).normal(0, 0.2, planes.shape)
        off = signal_correlation(noisy, noise)[np.triu_indices(3, 1)]
        assert np.all((low < off) & (off < high)), off
        assert np.all(np.corrcoef(noisy[0].reshape(3, -1))[np.triu_indices(3, 1)] < 0.5)  # noisy pixels hide it


def test_thinning_splits_each_channels_photons_from_its_own_zero():
    rng = np.random.default_rng(0)
    photons = torch.from_numpy(rng.poisson(20.0, (2, 2, 32, 32)).astype(np.float32))
    models = [NoiseModel(0.1, 0.05), NoiseModel(0.02, -0.004)]  # gain, signed read: zero at -0.5, +0.2
    values = torch.stack([0.1 * photons[:, 0] - 0.5, 0.02 * photons[:, 1] + 0.2], 1)
    part, rest = thin(values, models, 0.5, torch.Generator().manual_seed(0))
    for channel, model in enumerate(models):
        offset = model.read_variance / model.gain
        counts = ((part[:, channel] + offset) + (rest[:, channel] + offset)) / model.gain / 2
        torch.testing.assert_close(counts, photons[:, channel])  # every photon kept, in its channel
        halves = (part[:, channel] + offset) / model.gain * 0.5
        torch.testing.assert_close(halves, halves.round(), atol=1e-3, rtol=0)  # whole photons
    with pytest.raises(ValueError, match="shot noise"):
        thin(values, [models[0], NoiseModel(0.0, 0.01)], 0.5)


def test_photons_are_counted_from_the_clamped_model_where_only_it_shows_shot_noise():
    # 8-bit coins at sigma 25 (of 255): the fit under the clip levels keeps a shot-noise
    # term that the plain signed line does not, and thinning needs one
    noisy = add_noise(img_as_float32(data.coins()), f"gaussian:{25 / 255:.6f}", seed=205)
    eight_bit = np.clip(np.round(255 * noisy), 0, 255)[None, None]
    low, high = np.percentile(eight_bit, (1, 99.8))
    levels = [tuple((level - low) / (high - low) for level in clip_levels(eight_bit))]
    noise, photons = estimate_planes_noise((eight_bit - low) / (high - low), levels=levels)
    assert noise.gain > 0 and photons == noise
    (channel,), (channel_photons,) = estimate_channel_noise((eight_bit - low) / (high - low), levels=levels)
    assert channel_photons == channel == noise


def _correlated(shape, sigma, seed=0):
    """Gaussian noise of standard deviation ``sigma`` filtered by [0.5, 1, 0.5] along Y and X."""
    kernel = np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5)
    noise = np.random.default_rng(seed).normal(0.0, sigma, shape)
    for axis in (0, 1):
        noise = np.apply_along_axis(np.convolve, axis, noise, kernel, mode="same")
    return noise


def test_strides_measure_the_noise_of_the_phases_where_the_whole_image_hides_it(moon):
    noisy = (moon + _correlated(moon.shape, 0.1))[None, None]
    whole, _ = estimate_planes_noise(noisy)
    phases, _ = estimate_planes_noise(noisy, strides=(3, 3))
    assert whole.read_variance < 0.2 * 0.1**2  # neighbours correlate at 0.67 along both axes
    assert np.sqrt(phases.read_variance) == pytest.approx(0.1, rel=0.08)


@pytest.mark.parametrize("strides", [(3, 3), (1, 3)])
def test_strides_do_not_take_edges_for_noise(strides):
    horse = 1.0 - img_as_float32(data.horse())  # a silhouette: flat, with sharp edges
    noisy = add_noise(horse, "gaussian:0.1", seed=2)[None, None]
    noise, _ = estimate_planes_noise(noisy, strides=strides)
    # fitted on the 3,3 phases themselves: 0.109
    assert np.sqrt(noise.read_variance) == pytest.approx(0.1, rel=0.05)
