"""Tiny shared data and configs for the core tests."""

import numpy as np
import pytest
from skimage import filters

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig


#: Two epochs of three steps on the CPU, never stopped early.
TINY_TRAINING = {"epochs": 2, "steps_per_epoch": 3, "patience": 100, "device": "cpu"}


def _tiny_config(*, model=None, data=None, training=None) -> Config:
    """A config small enough to train in well under a second on a CPU.

    ``model``, ``data`` and ``training`` are dicts of fields overriding the
    tiny defaults of that section.
    """
    return Config(
        model=ModelConfig(**{"depth": 1, "width": 8, **(model or {})}),
        data=DataConfig(**{"patch_size": 16, "batch_size": 2, **(data or {})}),
        training=TrainingConfig(**{**TINY_TRAINING, **(training or {})}),
    )


def _blobs(shape=(48, 48), *, seed=0) -> np.ndarray:
    """Smooth random blobs, float32 in [0, 1], of ``shape`` (..., Y, X)."""
    rng = np.random.default_rng(seed)
    field = filters.gaussian(rng.random(shape), sigma=(0,) * (len(shape) - 2) + (3, 3))
    field = (field - field.min()) / (field.max() - field.min())
    return field.astype(np.float32)


@pytest.fixture(scope="session")
def tiny_config():
    """Factory of tiny configs: ``tiny_config(training={"mode": "paired"})``."""
    return _tiny_config


@pytest.fixture(scope="session")
def blobs():
    """Factory of smooth structured images: ``blobs((2, 40, 40), seed=1)``."""
    return _blobs


#: Settings of a tiny VAE on 16x16 frames (axes SYX, frame = patch, min-max scaled).
TINY_VAE = {
    "model": {"architecture": "vae", "input_size": 16, "latent_dim": 2},
    "data": {"axes": "SYX", "augment": False, "percentiles": (0.0, 100.0)},
    "training": {"task": "vae"},
}


@pytest.fixture(scope="session")
def tiny_vae_config():
    """Factory of tiny VAE configs: ``tiny_vae_config(model={"latent_dim": 3})``."""

    def make(*, model=None, data=None, training=None) -> Config:
        return _tiny_config(
            model={**TINY_VAE["model"], **(model or {})},
            data={**TINY_VAE["data"], **(data or {})},
            training={**TINY_VAE["training"], **(training or {})},
        )

    return make


def _disks(count: int, size: int = 16, *, seed: int = 0) -> np.ndarray:
    """A stack (S, Y, X) of bright disks of random centre and radius on black, in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    centres = rng.uniform(0.3 * size, 0.7 * size, (count, 2, 1, 1))
    radii = rng.uniform(0.15 * size, 0.3 * size, (count, 1, 1))
    inside = (y - centres[:, 0]) ** 2 + (x - centres[:, 1]) ** 2 < radii**2
    return inside.astype(np.float32)


@pytest.fixture(scope="session")
def frames():
    """A stack (S, Y, X) = (12, 16, 16) of disks, like tiny digits."""
    return _disks(12)
