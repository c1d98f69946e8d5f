import numpy as np
import pytest
import torch

from napari_autoencoders.core.data.subimages import compare_denoisers, diagonal_pairs


def test_each_sub_image_is_paired_with_its_diagonal_neighbours():
    rows, columns = torch.meshgrid(torch.arange(7.0), torch.arange(9.0), indexing="ij")
    planes = torch.stack([rows, columns])[None]  # (1, 2, 7, 9): each pixel holds its coordinates
    inputs, targets = diagonal_pairs(planes)
    assert inputs.shape == targets.shape == (4, 2, 3, 4)  # an odd last row and column left out
    # every target pixel lies one row and one column from its input pixel
    assert torch.equal((targets - inputs).abs(), torch.ones_like(inputs))
    assert sorted((int(i[0, 0, 0]), int(i[1, 0, 0])) for i in inputs) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_sub_images_of_white_noise_have_independent_noise():
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 256, 256)).astype(np.float32))
    inputs, targets = diagonal_pairs(noise)
    assert abs(float(torch.corrcoef(torch.stack([inputs.flatten(), targets.flatten()]))[0, 1])) < 0.02


@pytest.fixture
def noisy_pairs():
    y, x = np.mgrid[:256, :256]
    clean = torch.from_numpy((0.5 + 0.3 * np.sin(x / 9.0) * np.cos(y / 7.0)).astype(np.float32))[None, None]
    noise = torch.from_numpy(np.random.default_rng(1).normal(0, 0.2, (1, 1, 256, 256)).astype(np.float32))
    return diagonal_pairs(clean), diagonal_pairs(clean + noise)


def test_the_better_denoiser_scores_above_0_and_the_worse_below(noisy_pairs):
    (clean_inputs, _), (noisy_inputs, noisy_targets) = noisy_pairs
    # the clean sub-image is the ideal denoiser's output, the noisy input the identity's
    assert compare_denoisers(clean_inputs, noisy_inputs, noisy_targets) > 10
    assert compare_denoisers(noisy_inputs, clean_inputs, noisy_targets) < -10
    assert compare_denoisers(noisy_inputs, noisy_inputs.clone(), noisy_targets) == 0.0


def test_a_channel_weighted_0_does_not_count(noisy_pairs):
    (clean_inputs, _), (noisy_inputs, noisy_targets) = noisy_pairs
    # channel 0: the first denoiser is better; channel 1: the second
    first = torch.cat([clean_inputs, noisy_inputs], dim=1)
    second = torch.cat([noisy_inputs, clean_inputs], dim=1)
    targets = torch.cat([noisy_targets, noisy_targets], dim=1)
    assert compare_denoisers(first, second, targets, torch.tensor([1.0, 0.0])) > 10
    assert compare_denoisers(first, second, targets, torch.tensor([0.0, 1.0])) < -10
