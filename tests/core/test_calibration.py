"""Tests for the calibration of a training's noisy input: strides, noise model, messages."""

import dataclasses

import numpy as np
import pytest

from napari_autoencoders.core.calibration import (
    Calibration,
    _check_noise,
    calibrate,
    noise_window,
    split_strides,
)
from napari_autoencoders.core.config import PRIOR_NETWORK
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.data.stabilization import NoiseModel


def _prior_config(tiny_config, mode, **training):
    return tiny_config(
        model=dict(PRIOR_NETWORK),
        data={"patch_size": 32},
        training={"mode": mode, "pretrained": True, **training},
    )


def _planes(image):
    """(1, 1, Y, X) planes of ``image``, raw and normalised, and their normaliser."""
    planes = image[None, None].astype(np.float32)
    norm = Normalizer.fit(planes, (1.0, 99.8))
    return norm.normalize(planes), planes, norm


def test_an_uncalibrated_training_holds_the_defaults():
    found = Calibration()
    assert found.photons is None and found.channel_weights is None and found.noise_check is None
    assert found.fewest_photons == np.inf and tuple(found.defects) == (0, 0)


def test_synthetic_mode_takes_the_noise_description_and_measures_nothing(tiny_config, blobs):
    config = _prior_config(tiny_config, "synthetic", noise="poisson:30+gaussian:0.01")
    x, planes, norm = _planes(blobs((64, 64)))
    found = Calibration()
    data, noisy, norms = calibrate(found, x, planes, config, (norm, norm))
    assert data is x and noisy is None and norms == (norm, norm)
    assert found.photons == NoiseModel(1 / 30, 0.01**2)
    assert found.fewest_photons == pytest.approx(30.0)
    assert (config.model.noise_gain, config.model.noise_variance) == (1 / 30, 0.01**2)


def test_self_supervised_mode_measures_the_shot_noise_and_replaces_hot_pixels(tiny_config, blobs):
    rng = np.random.default_rng(0)
    noisy = rng.poisson(50 * blobs((128, 128))).astype(np.float32)
    noisy[[20, 70, 100], [30, 80, 10]] = 5 * noisy.max()  # three hot pixels
    config = _prior_config(tiny_config, "self-supervised")
    x, planes, norm = _planes(noisy)
    canvas = np.zeros(planes.shape, bool)
    found = Calibration()
    data, measured, norms = calibrate(found, x, planes, config, (norm, norm), canvas=canvas)
    assert found.defects.hot == 3 and data.max() < x.max()
    assert measured is data and norms[0] is norm and norms[1] is norm  # one channel: nothing rescaled
    # 50 photons at intensity 1: a gain of 1 count per photon, on the normalised scale 1 / range
    assert config.model.noise_gain * (norm.high[0] - norm.low[0]) == pytest.approx(1.0, rel=0.2)
    assert found.photons.gain == pytest.approx(config.model.noise_gain, rel=0.1)


def test_an_image_without_noise_is_refused(tiny_config, blobs):
    config = _prior_config(tiny_config, "self-supervised")
    x, planes, norm = _planes(np.zeros((64, 64)) + blobs((64, 64)).round())
    with pytest.raises(ValueError, match="no noise could be measured"):
        calibrate(Calibration(), x, planes, config, (norm, norm), canvas=np.zeros(planes.shape, bool))


def test_the_noise_check_scales_each_channels_photons_alike_and_keeps_their_zero():
    from skimage import data as images

    from napari_autoencoders.core.config import ModelConfig

    gravel = images.gravel()[:128, :128] / 255.0
    two = np.stack([gravel, gravel[::-1]]).astype(np.float32)  # (C, Y, X), nearly clean
    found = Calibration(photons=[NoiseModel(0.01, -0.001), NoiseModel(0.02, -0.004)], fewest_photons=50.0)
    model = ModelConfig(**PRIOR_NETWORK, in_channels=2, out_channels=2)
    noise = _check_noise(found, two[None], NoiseModel(0.0, (4 / 255) ** 2), model)
    factor = found.noise_check[0]
    assert factor < 0.6 and noise.read_variance == pytest.approx(factor * (4 / 255) ** 2)
    assert [model.gain for model in found.photons] == pytest.approx([0.01 * factor, 0.02 * factor])
    assert [-m.read_variance / m.gain for m in found.photons] == pytest.approx([0.1, 0.2])
    assert found.fewest_photons == pytest.approx(50.0 / factor)


def _row_correlated(seed=0):
    """Camera with noise correlated along X (each pixel's noise shares its neighbours')."""
    from scipy import ndimage as ndi
    from skimage import data as images

    clean = images.camera()[::2, ::2][:160, :200] / 255.0
    white = np.random.default_rng(seed).normal(0.0, 0.1, clean.shape)
    correlated = ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    return (clean + correlated).astype(np.float32)[None, None]


@pytest.mark.parametrize("pretrained", [True, False])
def test_noise_correlated_along_x_splits_the_prior_and_only_warns_noise2void(tiny_config, pretrained):
    config = tiny_config(data={"patch_size": 32}, training={"mode": "self-supervised", "pretrained": False})
    config.training.pretrained = pretrained  # the strides' rule reads only this
    found = Calibration()
    split_strides(found, _row_correlated(), config)
    assert config.model.noise_strides == ((1, 3) if pretrained else (1, 1))
    assert found.unused_strides == (None if pretrained else (1, 3))
    assert (found.noise_correlation is not None) == pretrained and found.both_axes is None
    expected = "3 interleaved sets of columns" if pretrained else "noise strides 1,3 split it"
    assert [expected in message for message in found.messages(config)] == [True]


def test_white_noise_is_not_split_and_gives_no_message(tiny_config):
    config = tiny_config(data={"patch_size": 32}, training={"mode": "self-supervised"})
    found = Calibration()
    noisy = np.random.default_rng(1).normal(0.5, 0.1, (1, 1, 160, 200)).astype(np.float32)
    split_strides(found, noisy, config)
    assert config.model.noise_strides == (1, 1) and found.noise_correlation is None
    assert found.messages(config) == []


@pytest.mark.parametrize("width, used", [(200, True), (150, False)])
def test_strides_that_leave_sets_narrower_than_a_patch_are_not_used(tiny_config, width, used):
    config = tiny_config(data={"patch_size": 64}, training={"mode": "self-supervised"})
    config.training.pretrained = True
    found = Calibration()
    split_strides(found, _row_correlated(), config, sides=(160, width))  # sets 66 or 50 wide
    assert config.model.noise_strides == ((1, 3) if used else (1, 1))
    assert (found.noise_correlation is not None) == used and found.unused_strides is None


def test_the_messages_name_the_defects_and_the_strides_asked_for(tiny_config):
    from napari_autoencoders.core.data.defects import Defects

    config = tiny_config(data={"noise_strides": (2, 1)})
    config.model = dataclasses.replace(config.model, noise_strides=(2, 1))  # as split_strides sets it
    found = Calibration(defects=Defects(3, 1))
    first, second = found.messages(config)
    assert "were replaced by the median of their neighbours" in first
    assert "split into 2 interleaved sets" in second and "not measured" in second


def test_the_messages_come_in_their_order(tiny_config):
    from napari_autoencoders.core.data.defects import Defects

    config = tiny_config()
    config.model = dataclasses.replace(config.model, noise_strides=(1, 3))
    correlation = np.array([[0.0, 0.0, 0.0, 0.0], [0.6, 0.2, 0.0, 0.0]])
    found = Calibration(
        defects=Defects(1, 0), unused_strides=(1, 2), noise_check=(0.5, 0.4),
        both_axes=correlation, noise_correlation=correlation,
    )  # fmt: skip
    messages = found.messages(config)
    starts = ["1 hot", "the noise correlates along rows or columns, which a blind spot",
              "the prior removes only 40%", "", "the noise correlates along X"]  # fmt: skip
    assert len(messages) == 5
    for message, start in zip(messages, starts):
        assert message.startswith(start), message
    assert "both" in messages[3]


def test_channels_of_different_brightness_are_rescaled_to_one_noise_model(tiny_config, blobs):
    rng = np.random.default_rng(0)
    clean = blobs((2, 96, 96), seed=1)
    counts = np.stack([rng.poisson(peak * clean[c]) / peak for c, peak in enumerate((10, 300))])
    planes = counts[None].astype(np.float32)  # (1, 2, Y, X)
    config = _prior_config(tiny_config, "self-supervised")
    config.model = dataclasses.replace(config.model, in_channels=2, out_channels=2)
    norm = Normalizer.fit(planes, (1.0, 99.8))
    found = Calibration()
    canvas = np.zeros(planes.shape, bool)
    _, _, (rescaled, target) = calibrate(found, norm.normalize(planes), planes, config, (norm, norm), canvas=canvas)
    assert target is rescaled and rescaled != norm  # one normalisation, rescaled
    assert len(found.photons) == 2 and found.channel_weights.shape == (2,)
    assert float(found.channel_weights.max() / found.channel_weights.min()) > 2  # their scales differ


def test_the_noise_of_a_collection_is_measured_at_a_corner_unless_a_canvas_fills_it():
    from napari_autoencoders.core.data.collection import ImageCollection

    image = np.random.default_rng(0).normal(0.5, 0.1, (128, 128)).astype(np.float32)
    framed = image.copy()
    framed[:40] = framed[:, :40] = 0.5  # a canvas of the median in the top left
    collection = ImageCollection([image, framed], "YX")
    np.testing.assert_array_equal(noise_window(collection, 0, 64), image[None, :64, :64])
    np.testing.assert_array_equal(noise_window(collection, 1, 64), framed[None, 32:96, 32:96])


def test_the_noise_sample_holds_windows_of_up_to_8_planes_as_wide_as_the_smallest_allows():
    from napari_autoencoders.core.calibration import noise_sample
    from napari_autoencoders.core.data.collection import ImageCollection

    rng = np.random.default_rng(0)
    images = [rng.random((100 + 20 * index, 300), dtype=np.float32) for index in range(10)]
    sample = noise_sample(ImageCollection(images, "YX"))
    assert sample.shape[0] == 8 and sample.shape[1:] == (1, 100, 100)  # the smallest plane's side
    np.testing.assert_array_equal(sample[0], images[0][None, :100, :100])  # the first plane's corner


def test_planes_too_small_to_measure_say_so_for_the_prior():
    from napari_autoencoders.core.recipes import task_config
    from napari_autoencoders.core.training import Trainer

    rng = np.random.default_rng(0)
    frames = (0.5 + rng.normal(0.0, 0.1, (50, 8, 8))).astype(np.float32)  # clearly noisy
    trainer = Trainer(task_config("denoise", shape=frames.shape, axes="SYX"), frames)
    with pytest.raises(ValueError, match="planes of 8x8 pixels are too small to measure their noise"):
        trainer.prepare()
    way_out = r"--no-pretrained; in the Train widget, start from random"  # both named
    with pytest.raises(ValueError, match=way_out):
        trainer.prepare()


@pytest.mark.parametrize("side", [2, 5])
def test_an_image_too_small_for_the_prior_says_so_first(side):
    from napari_autoencoders.core.recipes import task_config
    from napari_autoencoders.core.training import Trainer

    image = np.random.default_rng(0).random((side, side), dtype=np.float32)
    trainer = Trainer(task_config("denoise", shape=image.shape), image)
    with pytest.raises(ValueError, match=f"planes of {side}x{side} pixels are too small to measure"):
        trainer.prepare()
