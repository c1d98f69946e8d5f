"""Tests for the losses against closed forms and torch's own functions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_autoencoders.core.nn.losses import (
    channel_mse,
    kl_divergence,
    kl_weight,
    negative_elbo,
    reconstruction_loss,
    reparameterize,
)


def test_kl_matches_the_closed_form_per_dimension():
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2)/2 - 1/2, summed over dimensions
    mu = torch.tensor([[0.5, -1.0, 0.0]])
    sigma = torch.tensor([[0.3, 2.0, 1.0]])
    expected = (torch.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5).sum(dim=1)
    kl = kl_divergence(mu, torch.log(sigma**2))
    torch.testing.assert_close(kl, expected)
    assert kl.shape == (1,)


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    zeros = torch.zeros(4, 2)
    torch.testing.assert_close(kl_divergence(zeros, zeros), torch.zeros(4))
    assert (kl_divergence(torch.randn(4, 2), torch.randn(4, 2)) > 0).all()


def test_reparameterized_samples_have_the_posterior_statistics():
    mu = torch.tensor([[2.0, -1.0]]).expand(200_000, 2)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).expand(200_000, 2)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(z.mean(0).numpy(), [2.0, -1.0], atol=0.02)
    np.testing.assert_allclose(z.var(0).numpy(), [0.25, 4.0], rtol=0.02)


def test_reparameterization_is_differentiable_and_seeded():
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    again = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    torch.testing.assert_close(z, again)


def test_bce_equals_torch_summed_per_image():
    logits = torch.randn(2, 1, 4, 4)
    target = torch.rand(2, 1, 4, 4)
    expected = F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum") / 2
    torch.testing.assert_close(reconstruction_loss(logits, target, "bce").mean(), expected)


def test_bce_takes_targets_beyond_0_and_1_as_0_and_1():
    logits = torch.linspace(0, 50, 16).reshape(1, 1, 4, 4)
    target = torch.full((1, 1, 4, 4), 20.0)  # unbounded below as the logits grow, before
    torch.testing.assert_close(
        reconstruction_loss(logits, target, "bce"), reconstruction_loss(logits, torch.ones_like(target), "bce")
    )
    assert reconstruction_loss(logits, -target, "bce").item() >= 0


def test_mse_is_half_the_summed_squared_error():
    output, target = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    torch.testing.assert_close(reconstruction_loss(output, target, "mse"), torch.tensor([2.0]))


def test_negative_elbo_adds_beta_times_kl():
    logits, target = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    mu, logvar = torch.randn(3, 2), torch.randn(3, 2)
    total, reconstruction, kl = negative_elbo(logits, mu, logvar, target, kind="bce", beta=0.5)
    torch.testing.assert_close(total, reconstruction + 0.5 * kl)
    torch.testing.assert_close(kl, kl_divergence(mu, logvar).mean())


@pytest.mark.parametrize(
    "step, warmup, expected", [(0, 0, 2.0), (0, 10, 0.0), (5, 10, 1.0), (20, 10, 2.0)]
)
def test_kl_weight_warms_up_linearly(step, warmup, expected):
    assert kl_weight(step, beta=2.0, warmup=warmup) == pytest.approx(expected)


def test_channel_mse_is_the_plain_mse_without_weights_or_with_equal_ones():
    prediction, target = torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5)
    plain = F.mse_loss(prediction, target)
    assert torch.equal(channel_mse(prediction, target), plain)
    assert torch.allclose(channel_mse(prediction, target, torch.full((3,), 4.0)), plain)


def test_channel_mse_weights_each_channels_error():
    target = torch.zeros(2, 2, 4, 4)
    prediction = torch.stack([torch.full((2, 4, 4), 1.0), torch.full((2, 4, 4), 3.0)], dim=1)
    # errors 1 and 9 per pixel, weighted 3 and 1: (3 * 1 + 1 * 9) / 4
    assert float(channel_mse(prediction, target, torch.tensor([3.0, 1.0]))) == pytest.approx(3.0)
