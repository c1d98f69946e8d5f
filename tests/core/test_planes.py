"""Tests for a training's planes: arrays and collections checked and cut into planes."""

import numpy as np
import pytest

from napari_autoencoders.core.data.collection import ImageCollection
from napari_autoencoders.core.planes import check_collection, input_planes, target_normalizer


def test_an_image_is_its_own_target(tiny_config):
    image = np.random.default_rng(0).random((2, 48, 40), dtype=np.float32)
    planes, targets = input_planes(tiny_config(data={"axes": "SYX", "patch_size": 32}), image)
    assert planes.shape == (2, 1, 48, 40) and targets is planes


def test_super_resolution_pairs_each_plane_with_its_downscaled_copy(tiny_config):
    config = tiny_config(
        model={"architecture": "superres", "factor": 2}, data={"patch_size": 16},
        training={"task": "superres", "mode": "from-highres"},
    )  # fmt: skip
    low, high = input_planes(config, np.random.default_rng(0).random((64, 48), dtype=np.float32))
    assert low.shape == (1, 1, 32, 24) and high.shape == (1, 1, 64, 48)


def test_paired_denoising_needs_a_registered_target_of_the_same_shape(tiny_config):
    config = tiny_config(training={"mode": "paired"})
    noisy = np.zeros((48, 48), np.float32)
    with pytest.raises(ValueError, match="needs a clean target image"):
        input_planes(config, noisy)
    with pytest.raises(ValueError, match="differ in shape"):
        input_planes(config, noisy, np.zeros((48, 40), np.float32))
    with pytest.raises(ValueError, match="only used by denoising in paired mode"):
        input_planes(tiny_config(), noisy, noisy)


def test_strides_that_split_planes_below_a_patch_are_refused(tiny_config):
    config = tiny_config(data={"patch_size": 32, "noise_strides": (1, 3)})
    with pytest.raises(ValueError, match=r"sets of 48x16 pixels, smaller than the 32-pixel"):
        input_planes(config, np.zeros((48, 48), np.float32))


def test_a_paired_targets_normalisation_follows_its_noisy_input(tiny_config):
    config = tiny_config(training={"mode": "paired"})
    clean = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(1, 1, 48, 48)
    noisy = 10 * clean + 5 + np.random.default_rng(0).normal(0, 0.01, clean.shape).astype(np.float32)
    from napari_autoencoders.core.data.normalization import Normalizer

    input_norm = Normalizer.fit(noisy, (1.0, 99.8))
    matched = target_normalizer(config, noisy, clean, input_norm)
    np.testing.assert_allclose(matched.normalize(clean), input_norm.normalize(noisy), atol=0.01)


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"training": {"mode": "paired"}}, "paired denoising reads a target"),
        ({"data": {"axes": "SYX"}}, "differ from the images'"),
    ],
)
def test_a_collection_is_refused_where_it_cannot_be_read_lazily(tiny_config, overrides, reason):
    collection = ImageCollection([np.zeros((64, 64), np.float32)], "YX")
    with pytest.raises(ValueError, match=reason):
        check_collection(tiny_config(**overrides), collection, None)
