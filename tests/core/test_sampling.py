"""Tests for the choice of a training's samplers."""

import numpy as np
import pytest

from napari_autoencoders.core.data.collection import ImageCollection
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.sampling import samplers_for


def _planes(shape=(1, 1, 96, 96), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_patches_come_from_a_training_region_and_a_held_out_validation_region(tiny_config):
    config = tiny_config(data={"patch_size": 32, "batch_size": 4})
    x = _planes()
    sampler, val_sampler, unvalidated = samplers_for(config, x, x, np.random.default_rng(0), norm=None)
    patches, targets = sampler.sample()
    assert patches.shape == (4, 1, 32, 32) and not unvalidated
    assert tuple(val_sampler.sample()[0].shape) == (4, 1, 32, 32)


def test_planes_too_small_for_a_validation_region_are_validated_on_their_training_data(tiny_config):
    config = tiny_config(data={"patch_size": 32})
    x = _planes((1, 1, 40, 40))
    with pytest.warns(UserWarning):
        *_, unvalidated = samplers_for(config, x, x, np.random.default_rng(0), norm=None)
    assert unvalidated


def test_super_resolution_samples_a_patch_with_its_upscaled_target(tiny_config):
    config = tiny_config(
        model={"architecture": "superres", "factor": 2}, data={"patch_size": 16, "batch_size": 2},
        training={"task": "superres", "mode": "from-highres"},
    )  # fmt: skip
    low, high = _planes((1, 1, 64, 64)), _planes((1, 1, 128, 128), seed=1)
    sampler, _, unvalidated = samplers_for(config, low, high, np.random.default_rng(0), norm=None)
    patches, targets = sampler.sample()
    assert patches.shape[-2:] == (16, 16) and targets.shape[-2:] == (32, 32) and not unvalidated


def test_a_collection_is_sampled_lazily_with_its_normalisation(tiny_config):
    config = tiny_config(data={"patch_size": 32, "batch_size": 2})
    images = [np.full((96, 96), 100.0, np.float32) + _planes((96, 96), seed) for seed in (0, 1)]
    collection = ImageCollection(images, "YX")
    norm = Normalizer.fit(np.stack(images)[:, None], (1.0, 99.8))
    sampler, _, unvalidated = samplers_for(config, collection, collection, np.random.default_rng(0), norm=norm)
    patches, _ = sampler.sample()
    assert float(patches.max()) < 2 and not unvalidated  # normalised as read, not raw (about 100)
