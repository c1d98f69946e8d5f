"""Sampling: the training and validation samplers of a training's normalised planes.

Each kind of data draws its patches its own way: a collection read
lazily (:mod:`.data.collection`), super-resolution's pairs of a patch and
its downscaled copy (:mod:`.data.resolution`), the neighbour term's pairs
of near frames (:mod:`.data.neighbours`), and random patches (2D or 3D) of
planes split into a training and a held-out validation region
(:mod:`.data.patches`). :func:`samplers_for` chooses from the config.
"""

from __future__ import annotations

import math

import numpy as np

from .config import Config, Task
from .data.collection import ImageCollection, collection_samplers
from .data.neighbours import neighbour_samplers
from .data.normalization import Normalizer
from .data.patches import PatchSampler, VolumeSampler, split_validation
from .data.resolution import pair_samplers
from .data.stabilization import NoiseModel
from .fine_tuning import on_pairs, thinned


def samplers_for(
    config: Config,
    x: np.ndarray | ImageCollection,
    y: np.ndarray | ImageCollection,
    rng: np.random.Generator,
    *,
    norm: Normalizer,
    patch_noise: NoiseModel | None = None,
) -> tuple[object, object, bool]:
    """The training and validation samplers of normalised planes ``x`` (N, C, ...) and targets ``y``.

    Parameters
    ----------
    config : Config
        The training's; its seed seeds the validation sampler (+ 1).
    x, y : ndarray or ImageCollection
        Inputs and targets; a collection is its own target, normalised by
        ``norm`` as its patches are read, their defective pixels replaced
        with ``patch_noise`` (:attr:`.calibration.Calibration.patch_noise`).
    rng : numpy.random.Generator
        Draws the validation region and the training patches.

    Returns
    -------
    sampler, val_sampler
        Each with ``sample()`` returning a batch of patches and targets.
    unvalidated : bool
        Whether no validation region could be held out of ``x``'s planes:
        validation then runs on the training data.
    """
    data, training = config.data, config.training
    common = dict(batch_size=data.batch_size, augment=data.augment, seed=training.seed, rng=rng)
    if isinstance(x, ImageCollection):
        return collection_samplers(
            x,
            norm,
            patch_size=data.patch_size,
            validation_fraction=data.validation_fraction,
            noise=patch_noise,
            dark_outliers=thinned(config),  # as an array's training data for thinned pairs
            flat_noise=on_pairs(config),  # as an array's training planes (noisy_flat)
            strides=config.model.noise_strides,
            warn=not on_pairs(config),  # else the trainer says it keeps the prior
            **common,
        )
    if training.task == Task.SUPERRES.value:
        samplers = pair_samplers(
            x, y, factor=config.model.factor, patch_size=data.patch_size,
            validation_fraction=data.validation_fraction, **common,
        )  # fmt: skip
        return *samplers, False
    if training.neighbour_weight > 0:
        samplers = neighbour_samplers(
            x, y, neighbours=training.neighbours, fraction=data.validation_fraction, **common
        )
        return *samplers, False
    return _patch_samplers(config, x, y, rng)


def _patch_samplers(config: Config, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """Random patches (2D, or 3D boxes) of a training region and of a held-out validation region."""
    data = config.data
    phases = math.prod(config.model.noise_strides)  # x holds the phases of each plane
    train_x, train_y, val_x, val_y = split_validation(
        x, y, fraction=data.validation_fraction, patch_size=data.patch_size, rng=rng,
        phases=phases, warn=not on_pairs(config),  # else the trainer says it keeps the prior
    )
    unvalidated = val_x is train_x and data.validation_fraction > 0
    options = dict(patch_size=data.patch_size, batch_size=data.batch_size)
    kind = PatchSampler
    if config.model.spatial_dims == 3:
        kind, options["patch_z"] = VolumeSampler, data.patch_z
    sampler = kind(train_x, train_y, augment=data.augment, rng=rng, **options)
    val_sampler = kind(val_x, val_y, augment=False, rng=np.random.default_rng(config.training.seed + 1), **options)
    return sampler, val_sampler, unvalidated
