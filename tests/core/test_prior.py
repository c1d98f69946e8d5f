"""The shipped priors: loading, the zero-shot path, and their networks."""

import dataclasses

import numpy as np
import pytest
import torch
from skimage import data, img_as_float32

from napari_autoencoders.core import prior
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.data.stabilization import NoiseModel
from napari_autoencoders.core.config import SUPERRES_PRIOR_NETWORK, ModelConfig
from napari_autoencoders.core.data.resolution import FACTORS, downscale, upscale_interpolated
from napari_autoencoders.core.nn.models import SuperResolutionNet, UNet


def test_shipped_weights_load_without_code_and_match_the_config():
    network = prior.load_prior()
    assert isinstance(network, UNet)
    assert not network.training
    assert network.config == prior.PRIOR_CONFIG


def test_prior_sigma_is_the_networks_working_sigma():
    import inspect

    default = inspect.signature(UNet.denoise_stable).parameters["working_sigma"].default
    assert default == prior.PRIOR_SIGMA


def test_save_and_load_round_trip(tmp_path):
    network = prior.prior_network()
    path = prior.save_prior(network, tmp_path / "p.safetensors", steps=3)
    loaded = prior.load_prior(path)
    for key, value in network.state_dict().items():  # stored as float16, loaded as float32
        assert loaded.state_dict()[key].dtype == torch.float32
        assert torch.equal(loaded.state_dict()[key], value.half().float())


@pytest.mark.parametrize("spec", ["gaussian:0.1", "poisson:30+gaussian:0.01"])
def test_zero_shot_denoising_of_a_held_apart_photograph_beats_the_noisy_input(spec):
    clean = img_as_float32(data.camera())[128:256, 128:256]
    noisy = add_noise(clean, spec, seed=3)
    out = prior.denoise_image(noisy)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)


def test_zero_shot_averages_the_8_orientations_unless_told_not_to():
    clean = img_as_float32(data.camera())[128:192, 128:192]
    noisy = add_noise(clean, "gaussian:0.1", seed=3)
    noise = NoiseModel(0.0, 0.01)
    averaged = prior.denoise_image(noisy, noise)
    single = prior.denoise_image(noisy, noise, ensemble=False)
    turned = np.rot90(prior.denoise_image(np.rot90(noisy).copy(), noise, ensemble=False), -1)
    assert not np.allclose(single, turned, atol=1e-4)  # each orientation errs differently
    # the average is nearer the truth than one orientation
    assert np.mean((averaged - clean) ** 2) < np.mean((single - clean) ** 2)


def test_zero_shot_replaces_hot_pixels_unless_told_not_to():
    clean = img_as_float32(data.cell())[:128, :128]
    noisy = add_noise(clean, "poisson:30+gaussian:0.01", seed=3)
    spots = (np.array([10, 60, 100]), np.array([90, 30, 64]))
    noisy[spots] = 3.0
    replaced, kept = prior.denoise_image(noisy), prior.denoise_image(noisy, defects=False)
    assert np.abs(replaced[spots] - clean[spots]).max() < 0.1
    assert kept[spots].min() > 1.0  # the prior takes a hot pixel for a bright spot
    assert noisy[spots].tolist() == [3.0] * 3


def test_zero_shot_replaces_dead_pixels_among_bright_neighbours():
    clean = img_as_float32(data.moon())[200:328, 200:328]
    noisy = add_noise(clean, "poisson:1000+gaussian:0.01", seed=3)
    spots = (np.array([10, 40, 100]), np.array([90, 40, 64]))  # about 430 photons
    noisy[spots] = 0.0  # no photon: a dead pixel
    replaced, kept = prior.denoise_image(noisy), prior.denoise_image(noisy, defects=False)
    assert np.abs(replaced[spots] - clean[spots]).max() < 0.05
    assert np.abs(kept[spots] - clean[spots]).min() > 0.1  # the prior takes it for a dark dot


def test_zero_shot_denoises_noise_correlated_along_columns_in_phases():
    from scipy import ndimage as ndi

    clean = img_as_float32(data.camera())[::2, ::2][:, :200]
    white = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    noisy = clean + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=0).astype(np.float32)
    split = prior.denoise_image(noisy, ensemble=False)
    whole = prior.denoise_image(noisy, ensemble=False, strides=(1, 1))
    error = [np.mean((image - clean) ** 2) for image in (noisy, whole, split)]
    assert error[2] < error[1] / 3 and error[1] > error[0] / 2  # whole, the noise looks weak
    assert np.array_equal(split, prior.denoise_image(noisy, ensemble=False, strides=(3, 1)))


def test_a_given_noise_model_applies_where_read_noise_takes_pixels_below_zero_photons():
    clean = np.clip(img_as_float32(data.camera())[::4, ::4] - 0.2, 0.0, None)  # a black coat
    noisy = add_noise(clean, "poisson:30+gaussian:0.02", seed=0)
    assert np.percentile(noisy, 1) < 0
    denoised = prior.denoise_image(noisy, noise=NoiseModel(1 / 30, 0.02**2), ensemble=False)
    assert np.mean((denoised - clean) ** 2) < 0.2 * np.mean((noisy - clean) ** 2)


def _nearly_clean_gravel(side=256):
    """A crop of gravel, 8-bit, with noise of 1 of 255: its fine texture measures as noise of about 4."""
    clean = img_as_float32(data.gravel())[:side, :side]
    return clean, clean + np.random.default_rng(1).normal(0.0, 1 / 255, clean.shape).astype(np.float32)


def test_the_prior_removes_about_the_noise_variance_a_right_model_predicts():
    noisy = add_noise(img_as_float32(data.camera())[::2, ::2], "gaussian:0.1", seed=0)
    factor, share = prior.checked_noise(noisy[None], NoiseModel(0.0, 0.01))
    assert 0.8 < share < 1.1 and factor == 1.0


def test_the_check_leaves_out_regions_without_noise():
    noisy = add_noise(img_as_float32(data.camera())[::2, 64:448:2], "gaussian:0.1", seed=0)  # 256 x 192
    canvas = np.full((256, 256), float(np.median(noisy)), np.float32)
    canvas[:, 32:-32] = noisy  # a quarter of the checked crop is the constant canvas
    network = prior.pretrained_network(dataclasses.replace(prior.PRIOR_CONFIG, noise_variance=0.01))
    assert prior.removed_share(canvas[None], network) == pytest.approx(prior.removed_share(noisy[None], network), abs=0.1)


def test_a_noise_model_fitted_to_texture_is_found_too_large():
    _, noisy = _nearly_clean_gravel()
    factor, share = prior.checked_noise(noisy[None], NoiseModel(0.0, (4 / 255) ** 2))
    assert share < prior.LEAST_REMOVED and factor == pytest.approx(share / prior.REMOVED)


def test_planes_of_different_noise_are_each_checked_with_their_own_model():
    clean = img_as_float32(data.camera())[::2, ::2]
    planes = np.stack([add_noise(clean, f"gaussian:{sigma}", seed=0) for sigma in (0.05, 0.2)])[:, None]
    factor, share = prior.checked_planes_noise(planes)
    assert factor == 1.0 and 0.8 < share < 1.1
    # a model of both (the mean of their variances) is the weak plane's ninefold
    weak = prior.checked_noise(planes[0], NoiseModel(0.0, (0.05**2 + 0.2**2) / 2))[1]
    assert weak < prior.LEAST_REMOVED


def test_nearly_clean_planes_have_their_noise_scaled_by_the_median_share():
    _, gravel = _nearly_clean_gravel()
    planes = np.stack([gravel, gravel[::-1], gravel.T])[:, None]
    factor, share = prior.checked_planes_noise(planes)
    assert share < prior.LEAST_REMOVED and factor == pytest.approx(share / prior.REMOVED)


def test_planes_without_measurable_noise_pass_the_check():
    assert prior.checked_planes_noise(np.zeros((2, 1, 64, 64), np.float32)) == (1.0, 1.0)


def test_zero_shot_scales_a_noise_measure_that_is_texture_with_a_warning():
    clean, noisy = _nearly_clean_gravel()
    with pytest.warns(UserWarning, match="prior removes only .* not noise"):
        scaled = prior.denoise_image(noisy, ensemble=False)
    unscaled = prior.denoise_image(noisy, ensemble=False, noise=NoiseModel(0.0, (4 / 255) ** 2))  # given: kept
    errors = [np.mean((image - clean) ** 2) for image in (noisy, scaled, unscaled)]
    assert errors[1] < 0.5 * errors[2] and errors[2] > errors[0]


def test_zero_shot_leaves_white_noise_whole(recwarn):
    noisy = add_noise(img_as_float32(data.camera())[::4, ::4], "gaussian:0.1", seed=1)
    assert np.array_equal(prior.denoise_image(noisy), prior.denoise_image(noisy, strides=(1, 1)))
    assert not [w for w in recwarn if "both axes" in str(w.message) or "removes only" in str(w.message)]


def test_zero_shot_says_where_neighbours_correlate_along_both_axes():
    from scipy import ndimage as ndi

    clean = img_as_float32(data.camera())[::4, ::4]
    kernel = np.array([0.5, 1.0, 0.5]) / 1.5**0.5
    noise = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    noisy = clean + ndi.convolve1d(ndi.convolve1d(noise, kernel, axis=0), kernel, axis=1).astype(np.float32)
    with pytest.warns(UserWarning, match="correlate along both axes .* noise strides 3,3"):
        whole = prior.denoise_image(noisy, ensemble=False)
    assert np.array_equal(whole, prior.denoise_image(noisy, ensemble=False, strides=(1, 1)))


def test_zero_shot_without_measurable_noise_returns_a_copy():
    image = np.zeros((16, 16), np.float32)
    out = prior.denoise_image(image, NoiseModel(0.0, 0.0))
    assert np.array_equal(out, image) and out is not image


def test_pretrained_network_refuses_another_architecture():
    config = dataclasses.replace(prior.PRIOR_CONFIG, width=16)
    with pytest.raises(ValueError, match="cannot hold the prior's weights"):
        prior.pretrained_network(config)


def test_stabilized_unet_denoises_channels_one_at_a_time():
    config = dataclasses.replace(
        prior.PRIOR_CONFIG, in_channels=2, out_channels=2, noise_variance=0.01
    )
    network = prior.pretrained_network(config).eval()
    x = torch.rand(1, 2, 24, 24)
    with torch.no_grad():
        both = network(x)
        first = network(torch.cat([x[:, :1], x[:, :1]], dim=1))
    assert both.shape == x.shape
    assert torch.allclose(both[:, 0], first[:, 0], atol=1e-5)


def test_thinned_loss_measures_the_prior_against_the_rest_of_the_photons():
    from napari_autoencoders.core.data.stabilization import thin, thinned_noise

    clean = img_as_float32(data.camera())[128:192, 128:192]
    noise = NoiseModel(1 / 30, 1e-4)
    noisy = torch.from_numpy(add_noise(clean, "poisson:30+gaussian:0.01", seed=3))[None, None]
    config = dataclasses.replace(prior.PRIOR_CONFIG, noise_gain=noise.gain, noise_variance=1e-4)
    network = prior.pretrained_network(config).eval()
    part, rest = thin(noisy, noise, 0.7, torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = float(network.thinned_loss(part, rest, 0.7))
        thinned = dataclasses.replace(config, noise_gain=noise.gain / 0.7, noise_variance=1e-4 / 0.7)
        expected = float(torch.mean((prior.pretrained_network(thinned).eval()(part) - rest) ** 2))
    assert loss == pytest.approx(expected, rel=1e-5)
    # the input's distance to the rest holds both noises (variance 1/0.7 + 1/0.3 times the
    # data's); the loss, the rest's (1/0.3, 70 % of that) and the prior's small error
    assert loss < 0.8 * float(torch.mean((part - rest) ** 2))
    assert thinned_noise(noise, 0.7).gain == pytest.approx(noise.gain / 0.7)


def upscaler_config(factor: int, channels: int = 1) -> ModelConfig:
    """The config of the shipped upscaler of ``factor`` for ``channels`` channels."""
    return ModelConfig(**SUPERRES_PRIOR_NETWORK, factor=factor, in_channels=channels, out_channels=channels)


@pytest.mark.parametrize("factor", FACTORS)
def test_a_shipped_upscaler_for_every_factor(factor):
    path = prior.weights_file(upscaler_config(factor))
    assert path.name == f"superres-x{factor}.safetensors"
    network = prior.load_prior(path)
    assert isinstance(network, SuperResolutionNet)
    assert (network.config.factor, network.config.width, network.config.blocks) == (factor, 32, 4)


@pytest.mark.parametrize("factor", [2, 4])
def test_the_shipped_upscaler_beats_bicubic_on_a_held_apart_photograph(factor):
    truth = img_as_float32(data.camera())[128:384, 128:384]
    low = downscale(truth, factor)
    network = prior.pretrained_network(upscaler_config(factor)).eval()
    with torch.inference_mode():
        high = network(torch.from_numpy(low)[None, None]).numpy()[0, 0]

    def error(image):
        return np.mean((np.clip(image, 0, 1) - truth) ** 2)

    gain = 10 * np.log10(error(upscale_interpolated(low, factor)) / error(high))
    assert gain > 0.3  # dB


def test_a_channelwise_upscaler_holds_the_prior_for_any_channels():
    colour = prior.pretrained_network(upscaler_config(2, channels=3)).eval()
    grey = prior.pretrained_network(upscaler_config(2)).eval()
    image = torch.rand(2, 3, 12, 10)
    with torch.inference_mode():
        together = colour(image)
        apart = torch.cat([grey(image[:, c : c + 1]) for c in range(3)], dim=1)
    assert together.shape == (2, 3, 24, 20)
    torch.testing.assert_close(together, apart)


def test_zero_shot_is_blind_to_a_cameras_gain_and_offset():
    # the same photons read out as a camera does: 2 ADU per photon above an offset of 100
    clean = img_as_float32(data.camera())[128:256, 128:256]
    electrons = np.random.default_rng(0).poisson(30 * clean).astype(np.float32)
    out = prior.denoise_image(electrons / 30)
    counts = prior.denoise_image(2 * electrons + 100)
    assert np.abs((counts - 100) / 60 - out).max() < 0.01  # noise: 0.18 at mid-grey


def test_zero_shot_takes_the_noise_on_the_images_own_scale():
    clean = img_as_float32(data.camera())[128:192, 128:192]
    noisy = add_noise(clean, "gaussian:0.1", seed=3)
    out = prior.denoise_image(noisy, NoiseModel(0.0, 0.01))
    scaled = prior.denoise_image(5 * noisy + 7, NoiseModel(0.0, 0.25))
    np.testing.assert_allclose((scaled - 7) / 5, out, atol=1e-4)


def test_zero_shot_leaves_a_noiseless_micrograph_nearly_untouched():
    clean = img_as_float32(data.cell())
    out = prior.denoise_image(clean, ensemble=False)
    assert 10 * np.log10(np.ptp(clean) ** 2 / np.mean((out - clean) ** 2)) > 50  # 39 dB with a gain of 5e-12


def test_zero_shot_undoes_the_clipping_of_an_8_bit_image():
    clean = img_as_float32(data.horse())[:192, :192].astype(np.float32)  # black and white: half clipped
    noisy = np.clip(np.round(255 * add_noise(clean, "gaussian:0.1", seed=3)), 0, 255).astype(np.uint8)
    out = prior.denoise_image(noisy, ensemble=False) / 255
    psnr = 10 * np.log10(1 / np.mean((out - clean) ** 2))
    assert psnr > 40  # 28 dB before the clipping was modelled: noise fitted at half its sigma, means left brightened


def test_zero_shot_takes_poisson_gaussian_noise_clipped_at_zero_photons_for_what_it_is():
    # a dark sky at 10 photons, 0 where no photon came and the read noise was
    # negative: fitted as clipped Gaussian noise it came out at 25.4 dB (256x256)
    image = img_as_float32(data.hubble_deep_field())[300:556, 372:628].mean(axis=-1)
    low, high = np.percentile(image, (1, 99.8))
    clean = np.clip((image - low) / (high - low), 0, 1).astype(np.float32)
    noisy = np.clip(add_noise(clean, "poisson:10+gaussian:0.01", seed=1), 0.0, 1.0)
    out = prior.denoise_image(noisy, ensemble=False)
    assert 10 * np.log10(1 / np.mean((np.clip(out, 0, 1) - clean) ** 2)) > 28.5


@pytest.mark.parametrize("value", ["least", "median", "greatest"])
def test_a_canvas_is_kept_and_the_content_beside_it_denoised_as_if_mirrored(value):
    clean = data.camera()[100:228, 200:328].astype(np.float32) / 255
    noisy = (clean + np.random.default_rng(0).normal(0, 0.1, clean.shape)).astype(np.float32)
    fill = {"least": noisy.min(), "median": np.median(noisy), "greatest": noisy.max()}[value]
    padded = np.pad(noisy, 24, constant_values=fill)
    out = prior.denoise_image(padded, ensemble=False)
    canvas = np.ones(padded.shape, bool)
    canvas[24:-24, 24:-24] = False
    assert np.array_equal(out[canvas], padded[canvas])
    band = np.ones(clean.shape, bool)
    band[8:-8, 8:-8] = False  # within 8 pixels of the canvas
    error = np.abs(out[24:-24, 24:-24] - clean)[band].mean()
    plain = np.abs(prior.denoise_image(noisy, ensemble=False) - clean)[band].mean()
    assert error < 1.02 * plain  # 1.08 to 1.14 times with the step to the canvas in view


@pytest.mark.parametrize("value", ["least", "greatest"])
def test_a_canvas_at_an_end_of_the_range_is_not_taken_for_clipping(value):
    clean = img_as_float32(data.moon())[:192, :192]
    noisy = add_noise(clean, "poisson:30+gaussian:0.01", seed=3)
    padded = np.pad(noisy, 48, constant_values=noisy.min() if value == "least" else noisy.max())
    plain = prior.denoise_image(noisy, ensemble=False)
    out = prior.denoise_image(padded, ensemble=False)[48:-48, 48:-48]
    # as clipping, the greatest value cost 11 dB on the whole moon
    assert np.mean((out - clean) ** 2) < 1.15 * np.mean((plain - clean) ** 2)
