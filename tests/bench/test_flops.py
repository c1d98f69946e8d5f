"""Tests for the FLOP counter."""

import torch
from torch import nn

from napari_autoencoders.core.config import ModelConfig
from flops import count_flops
from napari_autoencoders.core.nn.models import build_model


def test_conv_counts_two_operations_per_multiply_add():
    # 2 batches x 4 output channels x 6x6 outputs, each 3 channels x 3x3 products
    conv = nn.Conv2d(3, 4, 3)
    assert count_flops(conv, (2, 3, 8, 8)) == 2 * (2 * 4 * 6 * 6) * (3 * 3 * 3)


def test_transposed_conv_and_linear():
    # each of 1 x 2 x 4 x 4 inputs spreads over 5 channels x 2x2 outputs
    assert count_flops(nn.ConvTranspose2d(2, 5, 2, stride=2), (1, 2, 4, 4)) == 2 * 32 * 5 * 4
    assert count_flops(nn.Linear(10, 3), (4, 10)) == 2 * 4 * 3 * 10


def test_network_count_sums_its_layers_and_scales_with_the_batch():
    network = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 1, 1))
    single = count_flops(network, (1, 1, 8, 8))
    assert single == 2 * 2 * 64 * 9 + 2 * 1 * 64 * 2
    assert count_flops(network, (3, 1, 8, 8)) == 3 * single


def test_unet_count_leaves_no_hooks_behind():
    network = build_model(ModelConfig(width=8))
    assert count_flops(network, (1, 1, 32, 32)) > 0
    assert all(not layer._forward_hooks for layer in network.modules())
    assert isinstance(network(torch.zeros(1, 1, 32, 32)), torch.Tensor)
