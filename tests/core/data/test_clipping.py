"""Clipped Gaussian noise: clip levels, the clipped mean, declipping."""

import numpy as np
import pytest

from napari_autoencoders.core.data.clipping import (
    channel_levels,
    clip_levels,
    clipped_share,
    declip,
    expected_clipped,
    gaussian_share,
    photon_share,
)
from napari_autoencoders.core.data.normalization import Normalizer


def test_clip_levels_are_extremes_that_many_pixels_share():
    rng = np.random.default_rng(0)
    noisy = 0.5 + 0.3 * rng.standard_normal((200, 200))
    assert clip_levels(noisy) == (None, None)  # unclipped noise: extremes held by one pixel
    assert clip_levels(np.clip(noisy, 0.0, 1.0)) == (0.0, 1.0)
    assert clip_levels(np.clip(noisy, 0.0, None)) == (0.0, None)
    eight_bit = np.clip(np.round(255 * noisy), 0, 255).astype(np.uint8)
    assert clip_levels(eight_bit) == (0.0, 255.0)


def test_a_constant_image_has_no_clip_levels():
    assert clip_levels(np.zeros((16, 16))) == (None, None)
    assert clip_levels(np.zeros(0)) == (None, None)  # no data: an image all canvas


@pytest.mark.parametrize("levels", [(0.0, 1.0), (0.0, None), (None, 1.0)])
def test_expected_clipped_is_the_mean_of_clipped_noise(levels):
    rng = np.random.default_rng(1)
    clean = np.array([-0.2, 0.0, 0.05, 0.5, 0.95, 1.0, 1.3])
    samples = np.clip(clean[:, None] + 0.1 * rng.standard_normal((clean.size, 400_000)), *levels)
    np.testing.assert_allclose(expected_clipped(clean, 0.1, *levels), samples.mean(axis=1), atol=1e-3)


@pytest.mark.parametrize("levels", [(0.0, 1.0), (0.0, None), (None, 1.0)])
def test_declip_inverts_the_clipped_mean_between_the_clip_levels(levels):
    clean = np.linspace(levels[0] or 0.0, levels[1] or 1.0, 101)
    restored = declip(expected_clipped(clean, 0.1, *levels), 0.1, *levels)
    assert restored.dtype == np.float32
    np.testing.assert_allclose(restored, clean, atol=1e-4)


def test_declip_keeps_values_between_the_clip_levels_unless_given_a_margin():
    values = np.array([0.0, 0.02, 0.5, 0.99, 1.0])
    assert declip(values, 0.1, 0.0, 1.0).min() == 0.0
    assert declip(values, 0.1, 0.0, 1.0).max() == 1.0
    beyond = declip(values, 0.1, 0.0, 1.0, margin=6.0)
    assert beyond.min() < 0.0 < 1.0 < beyond.max()  # below the clipped mean of clean 0
    np.testing.assert_allclose(declip(values, 0.1, None, None), values)


def test_channel_levels_follow_each_channels_normalisation():
    norm = Normalizer(low=[0.0, 50.0], high=[255.0, 150.0])
    assert channel_levels(0.0, 255.0, norm) == [(0.0, 1.0), (-0.5, 2.05)]
    assert channel_levels(None, 255.0, norm)[1] == (None, 2.05)


def test_whole_counts_that_thin_out_towards_their_extremes_are_not_clipped():
    rng = np.random.default_rng(2)
    counts = (100 + rng.poisson(30 * rng.random((64, 64))) + rng.normal(0, 1, (64, 64))).round()
    assert clip_levels(counts.astype(np.uint16)) == (None, None)  # few distinct values, each extreme tied
    assert clip_levels(np.clip(counts, 105, 120)) == (105.0, 120.0)


def test_clipped_share_counts_the_values_at_either_level():
    values = np.array([0, 0, 3, 5, 9, 9, 9, 4])
    assert clipped_share(values, (0, 9)) == 5 / 8
    assert clipped_share(values, (None, 9)) == 3 / 8
    assert clipped_share(values, (None, None)) == 0.0


@pytest.mark.parametrize("levels", [(0.0, 1.0), (0.0, None)])
def test_gaussian_share_is_the_share_of_clipped_noise_at_the_low_level(levels):
    rng = np.random.default_rng(3)
    clean = np.array([-0.15, -0.05, 0.0, 0.1, 0.3])
    samples = np.clip(clean[:, None] + 0.1 * rng.standard_normal((clean.size, 200_000)), *levels)
    shares = gaussian_share(samples.mean(axis=1), 0.1, *levels)  # from the clipped means
    np.testing.assert_allclose(shares, (samples == levels[0]).mean(axis=1), atol=3e-3)


@pytest.mark.parametrize("gain, read", [(0.1, 1e-4), (0.02, 4e-4), (0.1, 0.0)])
def test_photon_share_is_the_share_of_clipped_poisson_gaussian_values_at_zero(gain, read):
    rng = np.random.default_rng(4)
    clean = np.array([0.0, 0.01, 0.05, 0.2, 0.5])
    photons = rng.poisson(clean[:, None] / gain, (clean.size, 200_000))
    samples = np.maximum(gain * photons + np.sqrt(read) * rng.standard_normal(photons.shape), 0.0)
    np.testing.assert_allclose(photon_share(clean, gain, read, 0.0), (samples == 0).mean(axis=1), atol=3e-3)
