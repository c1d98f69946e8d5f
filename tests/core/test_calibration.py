"""Tests for the noise calibration of the pretrained prior's training input."""

import numpy as np
import pytest

from napari_autoencoders.core.calibration import Calibration, _check_noise, calibrate
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
    data, noisy, found = calibrate(x, planes, config, (norm, norm))
    assert data is x and noisy is None
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
    data, measured, found = calibrate(x, planes, config, (norm, norm), canvas=canvas)
    assert found.defects.hot == 3 and data.max() < x.max()
    assert measured is data and found.input_norm is None  # one channel: nothing rescaled
    # 50 photons at intensity 1: a gain of 1 count per photon, on the normalised scale 1 / range
    assert config.model.noise_gain * (norm.high[0] - norm.low[0]) == pytest.approx(1.0, rel=0.2)
    assert found.photons.gain == pytest.approx(config.model.noise_gain, rel=0.1)


def test_an_image_without_noise_is_refused(tiny_config, blobs):
    config = _prior_config(tiny_config, "self-supervised")
    x, planes, norm = _planes(np.zeros((64, 64)) + blobs((64, 64)).round())
    with pytest.raises(ValueError, match="no noise could be measured"):
        calibrate(x, planes, config, (norm, norm), canvas=np.zeros(planes.shape, bool))


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
