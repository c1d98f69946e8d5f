"""A training's planes: its images, or a collection, checked against the config and cut into planes.

The :class:`.training.Trainer` takes its images here: :func:`input_planes`
turns arrays into the planes (or 3D blocks) the network trains on, with
their targets, and refuses what the config cannot train on with a message
that says what to change; :func:`check_collection` does the same for a
collection read lazily; :func:`target_normalizer` fits the targets'
normalisation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .config import Config, Mode, Task
from .data.axes import channel_hint, to_planes, to_volumes
from .data.collection import ImageCollection
from .data.neighbours import check_neighbour_count
from .data.normalization import Normalizer
from .data.patches import check_image, check_patch_size, check_volume_patch
from .data.resolution import downscale, training_pairs


def input_planes(
    config: Config, inputs: np.ndarray, targets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The planes (N, C, Y, X), or blocks (N, C, Z, Y, X) in 3D, of ``inputs`` and of their targets.

    For super-resolution the low- and high-resolution planes
    (:func:`.data.resolution.training_pairs`); for paired denoising the
    clean ``targets``' planes; else the input planes are their own targets.

    Raises
    ------
    ValueError
        If the images are unusable for ``config``: not finite, smaller than a
        patch, split by ``data.noise_strides`` into sets smaller than one,
        frames of another size than the patch for the neighbour term, a
        target where none is used or none where one is.
    """
    if config.training.task == Task.SUPERRES.value:
        planes, target_planes = _resolution_pairs(config, inputs, targets)
    else:
        planes, _ = _blocks(config)(inputs, config.data.axes)
        target_planes = _target_planes(config, planes, targets)
    check_image(planes, "the input image")
    hint = channel_hint(np.shape(inputs), config.data.axes)
    if config.model.spatial_dims == 3:
        check_volume_patch(planes, config.data.patch_z, config.data.patch_size)
    else:
        check_patch_size(planes, config.data.patch_size, hint)
        _check_phase_size(config, planes.shape[-2:])
    if config.training.neighbour_weight > 0:
        _check_neighbour_frames(config, planes)
    return planes, target_planes


def check_collection(config: Config, collection: ImageCollection, targets) -> None:
    """Raise ``ValueError`` unless a training of ``config`` can read ``collection`` lazily.

    Only the tasks that learn from random patches of the input alone take
    one: the others need all the data at once (targets, downscaled pairs,
    neighbour frames, the frames of a latent density). Its axes must be the
    config's, its planes hold a patch, and any noise strides leave sets that
    do.
    """
    training = config.training
    reasons = [
        (training.task == Task.SUPERRES.value, "super-resolution pairs each patch with its "
         "downscaled copy"),
        (training.task == Task.DENOISE.value and training.mode == Mode.PAIRED.value,
         "paired denoising reads a target with every patch"),
        (targets is not None, "a target image is read with every patch"),
        (training.neighbour_weight > 0, "the neighbour term compares whole frames"),
    ]  # fmt: skip
    for needs_all, reason in reasons:
        if needs_all:
            raise ValueError(
                f"training from many files or a zarr store reads patches lazily, but {reason}; "
                "train on one image file in memory instead (or, for reconstruct and vae, set "
                "the neighbour weight to 0)."
            )
    if config.data.axes != collection.axes:
        raise ValueError(
            f"the config's axes {config.data.axes!r} differ from the images' "
            f"{collection.axes!r}; give the axes the collection was opened with."
        )
    collection.check_patch_size(config.data.patch_size)
    _check_phase_size(config, collection.plane_sides)


def target_normalizer(
    config: Config, planes: np.ndarray, target_planes: np.ndarray, input_norm: Normalizer
) -> Normalizer:
    """The normalisation of ``target_planes``: paired denoising targets on the noisy inputs' scale.

    A denoiser then learns to remove noise only, not an intensity change
    as well (which a fine-tuned prior, denoising on its input's scale,
    learned too slowly: paired training on one photograph fell 1.4 dB
    below the untuned prior). Paired super-resolution's high-resolution
    targets, downscaled, are matched to the low-resolution inputs alike
    (else the input's scale where they do not rise together): a sharper
    image has wider percentiles, and on its own scale the upscaler's
    bicubic start came out with its contrast stretched. Other targets, and
    denoising pairs whose intensities do not rise together, take their own
    percentiles.
    """
    if config.training.task == Task.SUPERRES.value:
        shrunk = downscale(target_planes, config.model.factor, method=config.training.downscale)
        height, width = (min(a, b) for a, b in zip(shrunk.shape[-2:], planes.shape[-2:]))
        reference = input_norm.normalize(planes[..., :height, :width])
        return Normalizer.matching(shrunk[..., :height, :width], reference) or input_norm
    if config.training.task == Task.DENOISE.value:
        matched = Normalizer.matching(target_planes, input_norm.normalize(planes))
        if matched is not None:
            return matched
        warnings.warn(
            "the clean target's intensities do not rise with the noisy input's; check that "
            "the pair shows the same field, registered. Each is normalised on its own.",
            stacklevel=3,
        )
    return Normalizer.fit(target_planes, config.data.percentiles)


def _target_planes(config: Config, planes: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
    """The planes of paired denoising's clean ``targets``, checked against the input ``planes``; else ``planes``."""
    paired = config.training.task == Task.DENOISE.value and config.training.mode == Mode.PAIRED.value
    if paired and targets is None:
        raise ValueError("paired training needs a clean target image; give one with the noisy input.")
    if targets is not None and not paired:
        raise ValueError(
            "a target image is only used by denoising in paired mode; choose task "
            "'denoise' with mode 'paired', or leave the target out."
        )
    if targets is None:
        return planes
    try:
        target_planes, _ = _blocks(config)(targets, config.data.axes)
    except ValueError as err:
        raise ValueError(f"the target image does not fit: {err}") from err
    if target_planes.shape != planes.shape:
        raise ValueError(
            f"the input {np.shape(planes)} and target {np.shape(target_planes)} planes differ "
            "in shape; paired images must be registered and of the same size."
        )
    check_image(target_planes, "the target image")
    return target_planes


def _resolution_pairs(config: Config, inputs: np.ndarray, targets: np.ndarray | None):
    """Low- and high-resolution planes (N, C, Y, X), (N, C, Y * F, X * F)."""
    return training_pairs(
        inputs,
        targets,
        axes=config.data.axes,
        factor=config.model.factor,
        method=config.training.downscale,
        paired=config.training.mode == Mode.PAIRED.value,
        patch_size=config.data.patch_size,
    )


def _check_phase_size(config: Config, sides: tuple[int, int]) -> None:
    """Raise ``ValueError`` if ``data.noise_strides`` split planes of ``sides`` (Y, X) into sets narrower than a patch."""
    strides = config.data.noise_strides
    if strides is None:
        return
    sets = [side // stride for side, stride in zip(sides, strides)]
    if min(sets) < config.data.patch_size:
        raise ValueError(
            f"data.noise_strides {tuple(strides)} split the {sides[0]}x{sides[1]} planes into "
            f"sets of {sets[0]}x{sets[1]} pixels, smaller than the {config.data.patch_size}-pixel "
            "training patches; give smaller strides or a smaller data.patch_size."
        )


def _check_neighbour_frames(config: Config, planes: np.ndarray) -> None:
    """Raise ``ValueError`` unless planes (N, C, Y, X) are frames the neighbour term can use."""
    count, _, height, width = planes.shape
    size = config.data.patch_size
    if (height, width) != (size, size):
        raise ValueError(
            f"the neighbour term treats each frame as one item, so the frames must be the "
            f"size of the patch: got {height}x{width} frames and {size}x{size} patches; "
            "set the patch size to the frame size, or crop the frames."
        )
    check_neighbour_count(count, config.training.neighbours)


def _blocks(config: Config) -> Callable:
    """How the network of ``config`` sees arrays: :func:`to_volumes` in 3D, :func:`to_planes` else."""
    return to_volumes if config.model.spatial_dims == 3 else to_planes
