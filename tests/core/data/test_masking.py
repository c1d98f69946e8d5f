"""Tests for blind-spot masking: a masked pixel never sees its own value."""

import itertools

import pytest
import torch

from napari_autoencoders.core.data.masking import blind_spot, blind_spot_volume, masked_mse


def mask_with_seed(batch, seed, **options):
    return blind_spot(batch, generator=torch.Generator().manual_seed(seed), **options)


def unique_batch(batch=1, channels=1, height=5, width=5):
    """(B, C, Y, X) whose every value is unique; channel c is channel 0 + 1000 c."""
    plane = torch.arange(batch * height * width, dtype=torch.float32)
    plane = plane.reshape(batch, 1, height, width)
    return torch.cat([plane + 1000 * c for c in range(channels)], dim=1)


@pytest.mark.parametrize("seed", range(3))
def test_masked_input_does_not_depend_on_the_masked_pixel(seed):
    batch = torch.rand((2, 2, 7, 9), generator=torch.Generator().manual_seed(seed))
    masked, mask = mask_with_seed(batch, seed, fraction=0.3, radius=2)
    positions = mask[:, 0].nonzero().tolist()
    assert positions
    for b, y, x in positions:
        changed = batch.clone()
        changed[b, :, y, x] = 100.0
        masked_again, mask_again = mask_with_seed(changed, seed, fraction=0.3, radius=2)
        assert torch.equal(mask_again, mask)
        # the network input at (y, x) is the same whatever the pixel's own value
        assert torch.equal(masked_again[b, :, y, x], masked[b, :, y, x])


@pytest.mark.parametrize("radius", [1, 2])
@pytest.mark.parametrize("seed", range(5))
def test_replacement_comes_from_another_pixel_within_radius(radius, seed):
    # every pixel masked, so every border and corner pixel is checked
    batch = unique_batch(batch=2, channels=2, height=5, width=5)
    masked, mask = mask_with_seed(batch, seed, fraction=1.0, radius=radius)
    assert mask.all()
    # every channel comes from the same source pixel
    torch.testing.assert_close(masked[:, 1] - masked[:, 0], torch.full((2, 5, 5), 1000.0))
    for b in range(2):
        for y in range(5):
            for x in range(5):
                source = (batch[b, 0] == masked[b, 0, y, x]).nonzero()
                assert len(source) == 1, "the value comes from another patch or channel"
                sy, sx = source[0].tolist()
                assert (sy, sx) != (y, x)
                assert max(abs(sy - y), abs(sx - x)) <= radius


def test_offsets_cover_every_neighbour():
    batch = unique_batch(height=40, width=40)
    masked, mask = mask_with_seed(batch, 0, fraction=1.0, radius=2)
    offsets = set()
    for y in range(2, 38):  # away from the borders, where offsets are flipped
        for x in range(2, 38):
            source = int(masked[0, 0, y, x])
            offsets.add((source // 40 - y, source % 40 - x))
    expected = {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)} - {(0, 0)}
    assert offsets == expected


def test_unmasked_pixels_are_unchanged_and_input_is_not_modified():
    batch = torch.rand((2, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    original = batch.clone()
    masked, mask = mask_with_seed(batch, 0, fraction=0.1, radius=2)
    assert mask.shape == (2, 1, 16, 16) and mask.dtype == torch.bool
    keep = ~mask.expand_as(batch)
    assert torch.equal(masked[keep], batch[keep])
    assert torch.equal(batch, original)


@pytest.mark.parametrize("fraction", [0.02, 0.1])
def test_mask_fraction(fraction):
    _, mask = mask_with_seed(torch.zeros((8, 1, 64, 64)), 0, fraction=fraction)
    assert mask.float().mean().item() == pytest.approx(fraction, rel=0.1)


def test_same_generator_seed_gives_same_mask():
    batch = torch.rand((2, 1, 16, 16))
    first = mask_with_seed(batch, 5, fraction=0.1)
    second = mask_with_seed(batch, 5, fraction=0.1)
    other = mask_with_seed(batch, 6, fraction=0.1)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[1], other[1])


def test_masked_mse_counts_only_masked_pixels():
    target = torch.zeros((2, 2, 4, 4))
    prediction = torch.full((2, 2, 4, 4), 100.0)  # wrong everywhere ...
    mask = torch.zeros((2, 1, 4, 4), dtype=torch.bool)
    mask[0, 0, 1, 2] = mask[1, 0, 3, 3] = True
    prediction[0, :, 1, 2] = torch.tensor([1.0, 3.0])  # ... except at the masked pixels
    prediction[1, :, 3, 3] = torch.tensor([2.0, 0.0])
    expected = (1.0 + 9.0 + 4.0 + 0.0) / 4
    assert masked_mse(prediction, target, mask).item() == pytest.approx(expected)


def test_masked_mse_of_an_empty_mask_is_zero():
    mask = torch.zeros((1, 1, 4, 4), dtype=torch.bool)
    assert masked_mse(torch.ones((1, 1, 4, 4)), torch.zeros((1, 1, 4, 4)), mask).item() == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_volume_replacement_comes_from_another_voxel_within_radius(seed):
    # every voxel masked, so every face, edge and corner is checked
    shape = (2, 2, 5, 6, 7)
    batch = torch.arange(2 * 5 * 6 * 7, dtype=torch.float32).reshape(2, 1, 5, 6, 7)
    batch = torch.cat([batch, batch + 1000], dim=1)
    generator = torch.Generator().manual_seed(seed)
    masked, mask = blind_spot_volume(batch, fraction=1.0, radius=2, generator=generator)
    assert mask.shape == (2, 1, *shape[2:]) and mask.all()
    torch.testing.assert_close(masked[:, 1] - masked[:, 0], torch.full((2, 5, 6, 7), 1000.0))
    for b, z, y, x in itertools.product(*(range(size) for size in (2, *shape[2:]))):
        source = (batch[b, 0] == masked[b, 0, z, y, x]).nonzero()
        assert len(source) == 1, "the value comes from another volume or channel"
        offset = [s - i for s, i in zip(source[0].tolist(), (z, y, x))]
        assert any(offset) and max(map(abs, offset)) <= 2


def test_volume_offsets_reach_other_planes_and_leave_unmasked_voxels_alone():
    batch = torch.rand((1, 1, 12, 12, 12), generator=torch.Generator().manual_seed(0))
    masked, mask = blind_spot_volume(batch, fraction=0.2, radius=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(masked[~mask.expand_as(masked)], batch[~mask.expand_as(batch)])
    planes = set()
    for _, _, z, y, x in mask.nonzero().tolist():
        matches = (batch[0, 0, max(z - 1, 0) : z + 2] == masked[0, 0, z, y, x]).nonzero()
        planes.add(int(matches[0, 0]) + max(z - 1, 0) - z)
    assert planes == {-1, 0, 1}
