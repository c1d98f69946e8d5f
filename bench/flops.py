"""Counting the floating point operations of a network's forward pass."""

from __future__ import annotations

import math

import torch
from torch import nn


def count_flops(network: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Floating point operations of one forward pass of ``network``.

    Counts the multiply-adds (2 operations each) of ``Conv2d``,
    ``ConvTranspose2d`` and ``Linear`` layers, which dominate a convolutional
    network; activations, pooling and additions are left out. A training
    step (forward, and backward for both inputs and weights) costs about 3x
    the forward pass.

    Parameters
    ----------
    network : torch.nn.Module
        The network; it is run once on zeros, without gradients.
    input_shape : tuple of int
        Shape of its input batch, e.g. (B, C, Y, X).

    Returns
    -------
    int
        Operations for the whole batch.
    """
    total = 0

    def count(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Linear):
            total += 2 * output.numel() * layer.in_features
        elif isinstance(layer, nn.Conv2d):  # each output sums C_in/groups x kernel products
            fan_in = layer.in_channels // layer.groups * math.prod(layer.kernel_size)
            total += 2 * output.numel() * fan_in
        else:  # ConvTranspose2d: each input spreads over C_out/groups x kernel outputs
            fan_out = layer.out_channels // layer.groups * math.prod(layer.kernel_size)
            total += 2 * inputs[0].numel() * fan_out

    layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    hooks = [m.register_forward_hook(count) for m in network.modules() if isinstance(m, layers)]
    try:
        parameter = next(network.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        with torch.no_grad():
            network(torch.zeros(input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return total
