import numpy as np
import pytest
import torch
from pretrain_prior import (
    PRIOR_SIGMA,
    fluorescence,
    grey_and_channels,
    more_images,
    poisson_batch,
    random_patch,
    stable_target,
)

from napari_autoencoders.core.data.stabilization import gat, inverse_gat


@pytest.mark.parametrize("read", [0.0, 1.0, 3.0, 15.0])
def test_stable_target_is_what_the_unbiased_inverse_maps_to_the_counts(read):
    counts = torch.tensor([0.0, 0.5, 2.0, 10.0, 100.0, 300.0])
    target = stable_target(counts, torch.tensor(read**2))
    assert torch.allclose(inverse_gat(target, 1.0, read**2), counts, atol=1e-3)


@pytest.mark.parametrize(("counts", "read"), [(0.5, 0.0), (2.0, 1.0), (10.0, 0.0), (100.0, 3.0)])
def test_stable_target_is_the_mean_of_the_stabilised_noisy_counts(counts, read):
    rng = np.random.default_rng(0)
    noisy = rng.poisson(counts, 200_000) + rng.normal(0.0, read, 200_000)
    mean = gat(torch.tensor(noisy, dtype=torch.float32), 1.0, read**2).mean()
    target = stable_target(torch.tensor([counts]), torch.tensor(read**2))
    assert abs(float(mean - target[0])) < 0.03


def test_poisson_batch_has_the_prior_noise_level_around_its_targets():
    rng = np.random.default_rng(1)
    image = np.random.default_rng(2).random((96, 96)).astype(np.float32)
    noisy, target = poisson_batch([image], rng, 32, 64)
    assert noisy.shape == target.shape == (64, 1, 32, 32)
    assert torch.isfinite(noisy).all() and torch.isfinite(target).all()
    # the transform makes the noise Gaussian of variance 1, then it is scaled by PRIOR_SIGMA
    assert float((noisy - target).std()) == pytest.approx(PRIOR_SIGMA, rel=0.15)
    # centred on the noisy patch's mean, as the U-Net centres its input
    assert float(noisy.mean(dim=(1, 2, 3)).abs().max()) < 1e-5


def test_random_patch_is_a_turned_piece_of_an_image():
    rng = np.random.default_rng(3)
    image = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    patch = random_patch([image], rng, 16)
    assert patch.shape == (16, 16)
    assert np.isin(patch, image).all()
    shapes = [np.full((20, 20), -1.0, dtype=np.float32)]
    assert (random_patch([image], rng, 16, shapes, fraction=1.0) == -1.0).all()


def test_fluorescence_images_are_objects_on_a_dim_background():
    rng = np.random.default_rng(4)
    images = [fluorescence(rng, side=96) for _ in range(12)]
    for image in images:
        assert image.shape == (96, 96) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
    # mostly dark with bright objects: the median pixel is far below the brightest
    assert np.median([np.median(image) for image in images]) < 0.5
    assert len({float(image.sum()) for image in images}) == len(images)  # all different


def test_more_images_are_grey_unit_images():
    images = more_images()
    assert len(images) == 11
    for image in images:
        assert image.ndim == 2 and min(image.shape) >= 256
        assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0


def test_grey_and_channels_keeps_a_grey_image_and_splits_a_colour_one():
    grey = np.linspace(0, 255, 64, dtype=np.uint8).reshape(8, 8)
    (kept,) = grey_and_channels(grey)
    assert kept.dtype == np.float32 and np.allclose(kept, grey / 255.0)
    colour = np.random.default_rng(0).random((8, 8, 4), dtype=np.float32)  # RGBA: alpha dropped
    images = grey_and_channels(colour)
    assert len(images) == 4
    assert all(np.array_equal(images[1 + c], colour[..., c]) for c in range(3))
    assert images[0].dtype == np.float32 and images[0].shape == (8, 8)
