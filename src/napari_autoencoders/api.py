"""The Python API: train, load, save, and the model's own predict, encode, sample, manifold.

Import it as the package: ``import napari_autoencoders as nae``, whose
``__all__`` lists these names; ``docs/python-api.md`` walks through them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# re-exported by the package
from .core.config import Config  # noqa: F401
from .core.data.collection import ImageCollection
from .core.io.model_files import load_model, save_model  # noqa: F401
from .core.model import TrainedModel
from .core.recipes import task_config
from .core.training import Trainer, TrainingEvent, fit  # noqa: F401


def train(
    inputs: np.ndarray | ImageCollection,
    targets: np.ndarray | None = None,
    *,
    task: str = "denoise",
    axes: str | None = None,
    mode: str | None = None,
    callback: Callable[[TrainingEvent], bool | None] | None = None,
    **options,
) -> TrainedModel:
    """Train a model on arrays with the task's recipe and return the best one.

    Parameters
    ----------
    inputs : ndarray
        Training images with axes ``axes``: the noisy image for
        self-supervised denoising, clean images for ``mode="synthetic"``, a
        stack of frames (S, Y, X) for ``"reconstruct"`` and ``"vae"``, the
        high- or low-resolution image for ``"superres"`` (see
        :class:`~napari_autoencoders.core.training.Trainer`). An
        :class:`ImageCollection` of many lazy images (zarr arrays, memory-mapped
        files) is read patch by patch through its bounded cache.
    targets : ndarray, optional
        Clean (paired denoising) or high-resolution (paired super-resolution)
        images matching ``inputs``.
    task : {"denoise", "reconstruct", "superres", "vae", "aae"}
        What the network learns.
    axes : str, optional
        Axes of ``inputs``, e.g. ``"YX"``, ``"SYX"``, ``"YXC"`` (default:
        guessed from the shape).
    mode : str, optional
        Source of the targets (default: the task's first mode,
        ``"self-supervised"`` for denoising, ``"from-highres"`` for
        super-resolution).
    callback : callable, optional
        Called with every :class:`TrainingEvent`; returning ``False`` stops
        the training (the best model so far is returned).
    **options
        Recipe options (:func:`~napari_autoencoders.core.recipes.task_config`),
        e.g. ``time_budget=60``, ``epochs=20``, ``latent_dim=2``,
        ``noise="poisson:30"``, ``factor=4``, ``device="cpu"``.

    Returns
    -------
    TrainedModel
        The weights with the best validation loss, with ``predict``,
        ``encode``, ``sample``, ``manifold`` and ``save``.

    Raises
    ------
    ValueError
        If an option does not apply to the task, is of the wrong type, or
        the data do not fit.
    FloatingPointError
        If the training diverged before its first validation.

    Warns
    -----
    UserWarning
        If the training diverged after a validation (its best validated
        weights are returned), or the result validates no better than its
        input.
    """
    if isinstance(inputs, ImageCollection):
        shape, axes = inputs.shape, axes or inputs.axes
    else:
        shape = np.shape(inputs)
    lazy = isinstance(inputs, ImageCollection)
    config = task_config(task, shape=shape, axes=axes, mode=mode, lazy=lazy, **options)
    return fit(config, inputs, targets, callback=callback)
