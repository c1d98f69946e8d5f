"""Tests for a training's planes: arrays and collections checked and cut into planes."""

import numpy as np
import pytest

from napari_autoencoders.core.data.collection import ImageCollection
from napari_autoencoders.core.planes import (
    check_collection,
    input_planes,
    target_normalizer,
)


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
    from napari_autoencoders.core.data.normalization import Normalizer

    config = tiny_config(training={"mode": "paired"})
    clean = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(1, 1, 64, 64)
    noisy = 10 * clean + 5 + np.random.default_rng(0).normal(0, 1.0, clean.shape).astype(np.float32)
    input_norm = Normalizer.fit(noisy, (1.0, 99.8))  # the noise widens the noisy percentiles
    matched = target_normalizer(config, noisy, clean, input_norm)
    np.testing.assert_allclose(matched.normalize(clean), input_norm.normalize(10 * clean + 5), atol=0.01)
    own = Normalizer.fit(clean, (1.0, 99.8)).normalize(clean)
    assert np.abs(matched.normalize(clean) - own).max() > 0.05


def test_a_target_that_falls_as_the_input_rises_is_normalised_on_its_own_with_a_warning(tiny_config):
    from napari_autoencoders.core.data.normalization import Normalizer

    config = tiny_config(training={"mode": "paired"})
    clean = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(1, 1, 64, 64)
    input_norm = Normalizer.fit(clean, (1.0, 99.8))
    with pytest.warns(UserWarning, match="do not rise with the noisy input's"):
        own = target_normalizer(config, clean, 1 - clean, input_norm)
    assert own.to_dict() == Normalizer.fit(1 - clean, config.data.percentiles).to_dict()


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
