"""Sub-images of neighbouring pixels: pairs with independent noise, whatever its model.

Taking every other pixel of an image, from each corner of its 2x2 cells,
gives four sub-images of almost the same signal whose noises are
independent wherever the noise is independent from pixel to pixel, with
no model of it. Denoising one into its diagonal neighbour compares two
denoisers without a clean image (as in Neighbor2Neighbor): the target's
noise adds the same variance to both errors, so the difference of their
squared errors estimates, up to the small shift between the sub-images,
the difference of their true errors.

References
----------
.. [1] T. Huang et al., "Neighbor2Neighbor: self-supervised denoising from
   single noisy images", CVPR 2021.
"""

from __future__ import annotations

import math

import torch

#: Side of the blocks whose means :func:`compare_denoisers` takes as its samples:
#: an error is correlated over a few pixels, its blocks' means hardly.
BLOCK = 16


def diagonal_pairs(planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The four 2x2 sub-images of planes (N, C, Y, X), each with its diagonal neighbour.

    Returns
    -------
    inputs, targets : Tensor, shape (4 N, C, Y // 2, X // 2)
        The sub-images of the cells' top-left, bottom-right, top-right and
        bottom-left pixels, and those of the pixels diagonally across.
    """
    height, width = planes.shape[-2] // 2 * 2, planes.shape[-1] // 2 * 2
    corner = [planes[..., row:height:2, column:width:2] for row, column in ((0, 0), (1, 1), (0, 1), (1, 0))]
    targets = [corner[1], corner[0], corner[3], corner[2]]
    return torch.cat(corner), torch.cat(targets)


def compare_denoisers(
    first: torch.Tensor, second: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> float:
    """How many standard errors ``first`` lies closer to noisy ``targets`` than ``second``.

    Parameters
    ----------
    first, second : Tensor, shape (B, C, Y, X)
        Two denoisers' outputs for inputs whose noise is independent of
        the targets' (:func:`diagonal_pairs`).
    targets : Tensor, shape (B, C, Y, X)
        The noisy targets.
    weights : Tensor, shape (C,), optional
        Weights of the channels' squared errors (:func:`.nn.losses.channel_mse`).

    Returns
    -------
    float
        The mean of ``(second - targets)**2 - (first - targets)**2`` over
        its standard error, estimated from the means of
        :data:`BLOCK` x :data:`BLOCK` blocks: above 0 where ``first`` is
        the better denoiser, below where ``second`` is; 0 for equal outputs.
    """
    gain = (second - targets) ** 2 - (first - targets) ** 2
    if weights is not None:
        gain = gain * weights.to(gain).reshape(1, -1, 1, 1)
    gain = gain.mean(dim=1)
    rows, columns = gain.shape[-2] // BLOCK, gain.shape[-1] // BLOCK
    if rows and columns:  # fewer than one block: each pixel is a sample
        gain = gain[:, : rows * BLOCK, : columns * BLOCK].reshape(-1, rows, BLOCK, columns, BLOCK).mean(dim=(2, 4))
    samples = gain.flatten().double()
    spread = float(samples.std()) if samples.numel() > 1 else 0.0
    mean = float(samples.mean())
    if spread == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / (spread / samples.numel() ** 0.5)
