"""Blind-spot masking for self-supervised denoising (Noise2Void).

A network that never sees a pixel's own noisy value cannot learn to copy its
noise, so trained to predict masked pixels from their surroundings it
predicts the clean signal when the noise is pixel-wise independent. Masked
pixels take the value of a random neighbour, and the loss counts masked
pixels only.
"""

from __future__ import annotations

import torch


def blind_spot(
    batch: torch.Tensor,
    *,
    fraction: float,
    radius: int = 2,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a random share of pixels of ``batch`` (B, C, Y, X).

    Every channel of a masked pixel is replaced by the same channels of a
    random other pixel at most ``radius`` away (offsets that would leave the
    patch are flipped), so
    the masked value never contains the pixel's own value.

    Parameters
    ----------
    batch : torch.Tensor, shape (B, C, Y, X)
        Noisy patches; Y and X must exceed ``2 * radius``.
    fraction : float
        Expected share of masked pixels.
    radius : int
        Largest offset of the replacing neighbour, in pixels.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    masked : torch.Tensor, shape (B, C, Y, X)
        Copy of ``batch`` with masked pixels replaced.
    mask : torch.Tensor of bool, shape (B, 1, Y, X)
        True where a pixel was masked.
    """
    size_b, _, height, width = batch.shape
    device = batch.device
    mask = torch.rand((size_b, 1, height, width), generator=generator, device=device) < fraction
    b, _, y, x = mask.nonzero(as_tuple=True)
    # Draw offsets from the (2r+1)^2 - 1 neighbours: skip index 0 of the
    # flattened window, which is the centre after the shift below.
    side = 2 * radius + 1
    pick = torch.randint(1, side * side, (b.numel(),), generator=generator, device=device)
    pick = (pick + (side * side) // 2) % (side * side)
    dy, dx = pick // side - radius, pick % side - radius
    source_y = _inside(y, dy, height)
    source_x = _inside(x, dx, width)
    masked = batch.clone()
    masked[b, :, y, x] = batch[b, :, source_y, source_x]
    return masked, mask


def blind_spot_volume(
    batch: torch.Tensor,
    *,
    fraction: float,
    radius: int = 2,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a random share of voxels of volumes ``batch`` (B, C, Z, Y, X).

    The 3D :func:`blind_spot`: every channel of a masked voxel is replaced by
    the same channels of a random other voxel of the (2r+1)^3 box around it
    (offsets that would leave the patch are flipped). A neighbour in Z is
    as good a stand-in as one in the plane, and the noise of a camera is
    independent between planes too.

    Parameters
    ----------
    batch : torch.Tensor, shape (B, C, Z, Y, X)
        Noisy volumes; Z, Y and X must exceed ``2 * radius``.
    fraction, radius, generator
        As :func:`blind_spot`.

    Returns
    -------
    masked : torch.Tensor, shape (B, C, Z, Y, X)
        Copy of ``batch`` with masked voxels replaced.
    mask : torch.Tensor of bool, shape (B, 1, Z, Y, X)
        True where a voxel was masked.
    """
    size_b, _, depth, height, width = batch.shape
    device = batch.device
    shape = (size_b, 1, depth, height, width)
    mask = torch.rand(shape, generator=generator, device=device) < fraction
    b, _, z, y, x = mask.nonzero(as_tuple=True)
    side = 2 * radius + 1
    box = side**3
    # skip index 0 of the flattened box, the centre after the shift below
    pick = torch.randint(1, box, (b.numel(),), generator=generator, device=device)
    pick = (pick + box // 2) % box
    dz, dy, dx = pick // side**2 - radius, pick // side % side - radius, pick % side - radius
    sources = [_inside(i, d, n) for i, d, n in ((z, dz, depth), (y, dy, height), (x, dx, width))]
    masked = batch.clone()
    masked[b, :, z, y, x] = batch[b, :, sources[0], sources[1], sources[2]]
    return masked, mask


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked pixels (mask (B, 1, Y, X), or (B, 1, Z, Y, X)) only."""
    weight = mask.to(prediction.dtype)
    squared = (prediction - target) ** 2 * weight
    count = weight.sum() * prediction.shape[1]
    return squared.sum() / count.clamp(min=1.0)


def _inside(index: torch.Tensor, offset: torch.Tensor, size: int) -> torch.Tensor:
    """Return ``index + offset``, or ``index - offset`` where that leaves ``[0, size)``.

    Flipping the offset (rather than mirroring the index) keeps the source
    pixel distinct from the masked one; it needs ``size > 2 * radius``.
    """
    moved = index + offset
    outside = (moved < 0) | (moved >= size)
    return torch.where(outside, index - offset, moved)
