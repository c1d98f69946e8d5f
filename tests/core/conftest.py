"""Tiny shared data and configs for the core tests."""

import numpy as np
import pytest
import torch
from skimage import filters

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread():
    """Run torch on one thread for the tiny test networks.

    They gain nothing from more, and two threads on two cores shared with
    other jobs made training up to 10 times slower (threads wait on each other).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
