"""Tests for noise descriptions, synthetic noise and its Gaussian sigma."""

import numpy as np
import pytest
import torch

from napari_autoencoders.core.data.noise import (
    NoiseTerm,
    add_noise,
    apply_noise,
    noise_sigma,
    parse_noise,
)

SHAPE = (256, 256)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gaussian:0.1", [NoiseTerm("gaussian", 0.1)]),
        ("poisson:30", [NoiseTerm("poisson", 30.0)]),
        ("saltpepper:0.05", [NoiseTerm("saltpepper", 0.05)]),
        (
            "poisson:30+gaussian:0.02",
            [NoiseTerm("poisson", 30.0), NoiseTerm("gaussian", 0.02)],
        ),
        (
            " Gaussian : 0.1 + SALTPEPPER:0.5",
            [NoiseTerm("gaussian", 0.1), NoiseTerm("saltpepper", 0.5)],
        ),
    ],
)
def test_parse_valid_specs(spec, expected):
    assert parse_noise(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "not understood"),
        ("gauss:0.1", "not understood"),
        ("gaussian", "not understood"),
        ("gaussian:0.1+", "not understood"),
        ("gaussian:abc", "needs a number"),
        ("gaussian:0", "positive"),
        ("poisson:-5", "positive"),
        ("gaussian:nan", "finite"),
        ("poisson:inf", "finite"),
        ("saltpepper:1", "below 1"),
        ("saltpepper:1.5", "below 1"),
    ],
)
def test_parse_invalid_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_noise(spec)


def test_gaussian_noise_has_the_given_sigma():
    clean = np.full(SHAPE, 0.5, np.float32)
    noisy = add_noise(clean, "gaussian:0.1", seed=0)
    residual = noisy - clean
    assert noisy.dtype == np.float32 and noisy.shape == SHAPE
    assert abs(residual.mean()) < 0.002
    assert residual.std() == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize("peak", [5.0, 30.0])
def test_poisson_noise_keeps_the_mean_with_variance_signal_over_peak(peak):
    clean = np.full(SHAPE, 0.4, np.float32)
    noisy = add_noise(clean, f"poisson:{peak}", seed=0)
    assert noisy.mean() == pytest.approx(0.4, rel=0.01)
    assert noisy.var() == pytest.approx(0.4 / peak, rel=0.03)
    # photon counts: every value is a whole number of photons
    np.testing.assert_allclose(noisy * peak, np.round(noisy * peak), atol=1e-4)


def test_poisson_noise_treats_negative_values_as_dark():
    noisy = add_noise(np.full((64, 64), -0.3, np.float32), "poisson:10", seed=0)
    np.testing.assert_array_equal(noisy, 0)


def test_saltpepper_sets_the_given_share_to_0_or_1():
    clean = np.full(SHAPE, 0.5, np.float32)
    noisy = add_noise(clean, "saltpepper:0.1", seed=0)
    hit = noisy != clean
    assert hit.mean() == pytest.approx(0.1, abs=0.005)
    assert set(np.unique(noisy[hit])) == {0.0, 1.0}
    assert (noisy[hit] == 1).mean() == pytest.approx(0.5, abs=0.03)


def test_terms_apply_in_order():
    clean = np.full(SHAPE, 0.5, np.float32)
    noisy = add_noise(clean, "gaussian:0.1+saltpepper:0.2", seed=0)
    # salt and pepper last: its pixels are exactly 0 or 1, untouched by the Gaussian
    assert np.isin(noisy, [0.0, 1.0]).mean() == pytest.approx(0.2, abs=0.01)


def test_seed_makes_noise_reproducible():
    clean = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    spec = "poisson:30+gaussian:0.05+saltpepper:0.01"
    np.testing.assert_array_equal(add_noise(clean, spec, seed=3), add_noise(clean, spec, seed=3))
    assert not np.array_equal(add_noise(clean, spec, seed=3), add_noise(clean, spec, seed=4))
    assert not np.array_equal(add_noise(clean, spec), add_noise(clean, spec))


def test_apply_noise_on_a_batch_uses_the_generator():
    batch = torch.full((2, 3, 8, 8), 0.5)
    terms = parse_noise("gaussian:0.1")
    first = apply_noise(batch, terms, torch.Generator().manual_seed(1))
    second = apply_noise(batch, terms, torch.Generator().manual_seed(1))
    assert first.shape == batch.shape
    assert torch.equal(first, second)
    assert torch.equal(batch, torch.full((2, 3, 8, 8), 0.5))  # input untouched


def test_noise_sigma_gaussian_is_sigma():
    clean = np.random.default_rng(0).random((16, 16))
    assert noise_sigma(clean, "gaussian:0.07") == pytest.approx(0.07)


def test_noise_sigma_poisson_gaussian_closed_form():
    clean = np.linspace(-0.1, 1, 100).reshape(10, 10)
    expected = np.sqrt(np.clip(clean, 0, None).mean() / 20 + 0.03**2)
    assert noise_sigma(clean, "poisson:20+gaussian:0.03") == pytest.approx(expected)


def test_noise_sigma_matches_the_noise_actually_added():
    clean = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (256, 1))
    spec = "poisson:30+gaussian:0.02"
    residual = add_noise(clean, spec, seed=0) - clean
    assert np.sqrt(np.mean(residual**2)) == pytest.approx(noise_sigma(clean, spec), rel=0.02)


def test_noise_sigma_of_saltpepper_raises():
    with pytest.raises(ValueError, match="salt-and-pepper"):
        noise_sigma(np.zeros((4, 4)), "saltpepper:0.1")
