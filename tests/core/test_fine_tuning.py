"""Tests for the rules of fine-tuning the prior on its own noisy input."""

import numpy as np
import pytest
import torch

from napari_autoencoders.core.config import ModelConfig
from napari_autoencoders.core.fine_tuning import (
    CHECK_SIDE,
    KEEP_PRIOR_CLIPPED,
    PRIOR_PULL,
    PriorCheck,
    kept_prior_reason,
    pull_to_prior,
)


def test_each_step_pulls_the_weights_back_towards_the_prior():
    network = torch.nn.Conv2d(1, 2, 3)
    anchor = [weight.detach().clone() for weight in network.parameters()]
    with torch.no_grad():
        for weight in network.parameters():
            weight.add_(1.0)
    pull_to_prior(network, anchor, 1e-3)
    for weight, prior in zip(network.parameters(), anchor):
        assert torch.allclose(weight - prior, torch.full_like(weight, 1 - 1e-3 * PRIOR_PULL))


@pytest.mark.parametrize("lr", [0.01, 0.05])
def test_a_large_learning_rate_pulls_the_weights_back_to_the_prior_and_no_further(lr):
    network = torch.nn.Conv2d(1, 2, 3)
    anchor = [weight.detach().clone() for weight in network.parameters()]
    with torch.no_grad():
        for weight in network.parameters():
            weight.add_(1.0)
    pull_to_prior(network, anchor, lr)
    for weight, prior in zip(network.parameters(), anchor):
        assert torch.equal(weight, prior)


def test_the_prior_is_kept_where_nothing_validates_a_step():
    reason = kept_prior_reason(unvalidated=True, clipped_share=0.0, model=ModelConfig(), patch_size=48)
    assert "validation region of one patch (48 pixels a side" in reason


@pytest.mark.parametrize("share, kept", [(0.5 * KEEP_PRIOR_CLIPPED, False), (KEEP_PRIOR_CLIPPED, True)])
def test_the_prior_is_kept_where_much_of_the_noise_is_clipped(share, kept):
    clipped = ModelConfig(clip_low=0.0, clip_high=1.0)
    reason = kept_prior_reason(unvalidated=False, clipped_share=share, model=clipped, patch_size=48)
    assert (reason is not None) == kept
    if kept:
        assert f"{100 * share:.1f} % of the input's pixels are clipped (at 0.0 and 1.0)" in reason
    unclipped = kept_prior_reason(unvalidated=False, clipped_share=share, model=ModelConfig(), patch_size=48)
    assert unclipped is None  # a share without clip levels kept in the model


def test_poisson_gaussian_noise_clipped_at_zero_photons_fine_tunes():
    photons = ModelConfig(noise_gain=0.1, clip_low=0.0, clip_high=1.0)
    assert kept_prior_reason(unvalidated=False, clipped_share=0.25, model=photons, patch_size=48) is None


class _Smoother(torch.nn.Module):
    """A 3x3 mean filter: a crude denoiser, whose single weight sets how much it smooths."""

    def __init__(self, amount: float):
        super().__init__()
        self.amount = torch.nn.Parameter(torch.tensor(amount))

    def forward(self, x):
        mean = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return self.amount * mean + (1 - self.amount) * x


def _noisy_planes():
    clean = np.full((1, 1, 96, 96), 0.5, np.float32)
    return clean + np.random.default_rng(0).normal(0, 0.1, clean.shape).astype(np.float32)


def test_the_check_denoises_a_central_crop_of_the_middle_plane():
    rows = np.arange(CHECK_SIDE + 40, dtype=np.float32)[:, None] * np.ones(64, np.float32)
    planes = np.stack([index * 1000 + rows for index in range(3)])[:, None]  # (3, 1, Y, 64)
    network, state = _Smoother(0.0), {}  # the identity: its outputs are its inputs
    check = PriorCheck.of(network, planes, state, 0.5, torch.device("cpu"))
    assert check.inputs.shape == (4, 1, CHECK_SIDE // 2, 32)  # the crop's four 2x2 sub-images
    top_left = check.inputs[0, 0]  # the cells' top-left pixels: rows 20, 22, ... of plane 1
    assert float(top_left[0, 0]) == 1000 + 20 and float(top_left[-1, 0]) == 1000 + 20 + CHECK_SIDE - 2
    assert torch.equal(check.outputs, check.inputs) and check.state is state and check.loss == 0.5


def test_the_check_gives_the_prior_back_only_where_it_denoises_far_better():
    network = _Smoother(1.0)  # the "prior": smooths flat noise well
    prior_state = {key: value.clone() for key, value in network.state_dict().items()}
    check = PriorCheck.of(network, _noisy_planes(), prior_state, 0.1, torch.device("cpu"))
    assert check.verdict(network, {"amount": torch.tensor(0.95)}) is None  # about as good
    message = check.verdict(network, {"amount": torch.tensor(0.0)})  # the identity: keeps the noise
    assert message is not None and "worse than the pretrained prior's" in message
    assert torch.equal(network.amount, torch.tensor(1.0))  # the network itself is not changed


@pytest.mark.parametrize(
    "training, gain, pairs, thin",
    [
        ({"pretrained": True}, 0.01, True, True),
        ({"pretrained": True}, 0.0, True, False),  # Gaussian noise: recorrupted pairs
        ({"pretrained": False}, 0.01, False, False),  # Noise2Void from random weights
        ({"pretrained": True, "mode": "synthetic", "noise": "poisson:30"}, 0.01, False, False),
    ],
)
def test_pairs_are_made_by_pretrained_self_supervised_denoising_and_thinned_with_shot_noise(
    tiny_config, training, gain, pairs, thin
):
    from napari_autoencoders.core.config import PRIOR_NETWORK
    from napari_autoencoders.core.fine_tuning import on_pairs, thinned

    config = tiny_config(model=dict(PRIOR_NETWORK, noise_gain=gain), training=training)
    assert (on_pairs(config), thinned(config)) == (pairs, thin)
