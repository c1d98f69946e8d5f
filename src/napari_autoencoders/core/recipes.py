"""Task recipes: every rule and default of each task, in one place.

The command line, the Train widget and the Latent widget's object training
describe a training by a task, the shape of the data and the options the user
gave; :func:`task_config` turns that into a validated :class:`.Config`. No
front end decides a default of its own, so the same choices give the same
config everywhere.

>>> config = task_config("reconstruct", shape=(5000, 28, 28))
>>> config.data.axes, config.data.patch_size, config.model.architecture
('SYX', 28, 'autoencoder')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .config import (
    TASK_MODES,
    Architecture,
    Config,
    DataConfig,
    Mode,
    PRIOR_NETWORK,
    SUPERRES_PRIOR_NETWORK,
    ZERO_SHOT_MIN_COPY,
    ZERO_SHOT_MIN_SIDE,
    ModelConfig,
    Padding,
    ReconstructionLoss,
    Task,
    TrainingConfig,
    closest_name,
    wrong_type,
)
from .data.axes import Layout, as_volume_axes, channel_hint, check_axes, guess_axes
from .data.noise import has_saltpepper
from .data.resolution import FACTORS

#: Seconds of training when neither epochs nor a time budget is given: a first training that
#: ends in a couple of minutes on a laptop's CPU (and stops earlier without progress).
DEFAULT_TIME_BUDGET = 120.0
#: Zero-shot super-resolution's default budget: trained longer, it learns detail of the
#: coarser scale that the image itself lacks (docs/superresolution.md, zero-shot).
ZERO_SHOT_TIME_BUDGET = 30.0
#: Zero-shot super-resolution's default epochs, a cap within its time budget: on held-apart
#: validation strips its best weights came within the first 200 steps on real images
#: (bench/superres_real.py), and a step count, unlike seconds, does not grow with the machine.
ZERO_SHOT_EPOCHS = 4
#: Patches per batch of a super-resolution trained on given images (from-highres, paired), by
#: factor. At x2 a quarter of the default 16, for four times the steps in the same time: on
#: held-apart real images (bench/superres_real.py, 2,100 steps instead of 600) the gain over
#: bicubic rose from +0.52 to +0.97 dB on photographs and from +0.72 to +0.79 on science
#: images. Other factors keep the default: at x4, with 4 or 8 the smooth cell image lost 1.6
#: to 3.6 dB; x3 was not measured.
SUPERRES_BATCH_SIZE = {2: 4}
#: Epoch cap when a time budget decides when to stop.
UNBOUNDED_EPOCHS = 10**6
#: The network of each task; a VAE given ``dense=True`` uses the fully connected one.
ARCHITECTURES = {
    Task.DENOISE.value: Architecture.UNET.value,
    Task.RECONSTRUCT.value: Architecture.AUTOENCODER.value,
    Task.SUPERRES.value: Architecture.SUPERRES.value,
    Task.VAE.value: Architecture.VAE.value,
    Task.AAE.value: Architecture.AAE.value,
}
#: Networks with a convolutional decoder, which the recipe pads by edge replication.
CONV_DECODERS = (Architecture.AUTOENCODER.value, Architecture.VAE.value, Architecture.AAE.value)
#: Tasks whose items are whole frames with a flat latent code.
LATENT_TASKS = (Task.RECONSTRUCT.value, Task.VAE.value, Task.AAE.value)
#: Tasks that generate from a prior: each frame is one sample, scaled as their likelihood needs.
GENERATIVE_TASKS = (Task.VAE.value, Task.AAE.value)
#: Weight of the neighbour term that a stack of frames to embed gets by default.
NEIGHBOUR_WEIGHT = 1.0
#: A frame stack with the neighbour term: a network of width 16 (twice the steps of the
#: default 32 in the same time), 64 frames per batch (more frames to tell each neighbour
#: from) and a learning rate of 4e-3. On held-out MNIST digits after 120 s, the 2-D
#: latent's 5-NN accuracy rose from 0.66 to 0.80 (8e-3 gave 0.68; bench/defaults.py).
FRAME_WIDTH = 16
FRAME_BATCH_SIZE = 64
FRAME_LEARNING_RATE = 4e-3
#: Tasks with the neighbour term.
NEIGHBOUR_TASKS = (Task.RECONSTRUCT.value, Task.VAE.value)
#: Learning rate of a fine-tuning from the shipped denoising prior.
PRETRAINED_LEARNING_RATE = 2e-4
#: Learning rate of a fine-tuning from a shipped super-resolution prior.
SUPERRES_PRETRAINED_LEARNING_RATE = 2e-4
#: Fields the recipe derives: an option never sets them (``three_d`` sets ``spatial_dims``).
DERIVED = (
    "architecture", "in_channels", "out_channels", "input_size", "task", "axes", "mode",
    "spatial_dims", "channelwise",
)
#: Options that are not config fields.
EXTRA_OPTIONS = ("dense", "three_d")
#: Tasks with a 3D network.
VOLUME_TASKS = (Task.DENOISE.value,)
#: A 3D network's patches, 16 planes (fewer in a thinner volume) of 32x32 pixels, 4 per
#: batch: a step of as many voxels as the 2D default's (16 patches of 64x64), which costs
#: about as much time on a CPU (measured). Larger boxes, fewer of them, or thinner ones of
#: 64x64 pixels trained worse in the same time (bench/volumes.py's phantom, 25 s).
VOLUME_PATCH_Z = 16
VOLUME_PATCH_SIZE = 32
VOLUME_BATCH_SIZE = 4

_DENOISE, _SUPERRES, _VAE = Task.DENOISE.value, Task.SUPERRES.value, Task.VAE.value
_RECONSTRUCT = Task.RECONSTRUCT.value
_AAE = Task.AAE.value


def _applies(task: str, mode: str | None) -> dict[str, tuple[bool, str]]:
    """Options that only some tasks or modes use: whether they apply here, and where they do."""
    latent, neighbour = task in LATENT_TASKS, task in NEIGHBOUR_TASKS
    return {
        "depth": (task != _SUPERRES, "the denoise, reconstruct, vae and aae networks, not superres"),
        "blocks": (task == _SUPERRES, "task superres only"),
        "residual": (task == _DENOISE, "task denoise only"),
        "pretrained": (task in (_DENOISE, _SUPERRES), "tasks denoise and superres only"),
        "latent_dim": (latent, "tasks reconstruct, vae and aae only"),
        "padding": (latent, "tasks reconstruct, vae and aae only"),
        "neighbour_weight": (neighbour, "tasks reconstruct and vae only"),
        "neighbours": (neighbour, "tasks reconstruct and vae only"),
        "dense": (task == _VAE, "task vae only"),
        "beta": (task == _VAE, "task vae only"),
        "kl_warmup": (task == _VAE, "task vae only"),
        "reconstruction_loss": (task in GENERATIVE_TASKS, "tasks vae and aae only"),
        "prior": (task == _AAE, "task aae only"),
        "adversarial_rate": (task == _AAE, "task aae only"),
        "hidden_dim": (task == _VAE, "task vae only (the dense network)"),
        "factor": (task == _SUPERRES, "task superres only"),
        "downscale": (
            task == _SUPERRES and mode != Mode.PAIRED.value,
            "task superres with mode from-highres or zero-shot (paired images are given)",
        ),
        "noise": (
            task == _DENOISE and mode == Mode.SYNTHETIC.value,
            "task denoise with mode synthetic only",
        ),
        "mask_fraction": (
            task == _DENOISE and mode == Mode.SELF_SUPERVISED.value,
            "task denoise with mode self-supervised only",
        ),
        "mask_radius": (
            task == _DENOISE and mode == Mode.SELF_SUPERVISED.value,
            "task denoise with mode self-supervised only",
        ),
        "noise_strides": (
            task == _DENOISE and mode == Mode.SELF_SUPERVISED.value,
            "task denoise with mode self-supervised only",
        ),
    }


def task_config(
    task: str = Task.DENOISE.value,
    *,
    shape: Sequence[int],
    axes: str | None = None,
    mode: str | None = None,
    lazy: bool = False,
    spell: Callable[[str], str] = repr,
    **options: Any,
) -> Config:
    """Return the validated config of a training of ``task`` on data of ``shape``.

    Options left out (or None) take the task's defaults:

    - the mode is the task's first (``self-supervised`` for denoise,
      ``from-highres`` for superres); other tasks have none;
    - the network follows the task (U-Net, dense autoencoder, upscaler, conv
      VAE, conv adversarial autoencoder; ``dense=True`` for the fully
      connected VAE); its channels follow the data;
    - the patch is at most 64 pixels and shrinks to fit smaller planes (or
      the interleaved sets that ``noise_strides`` split them into); for
      reconstruct, vae and aae, whose items are frames, it is the frame
      itself when the frame is at most 64 pixels or the neighbour term is on;
    - denoising starts from the shipped prior (``pretrained``, see
      :mod:`.prior`) and fine-tunes it at :data:`PRETRAINED_LEARNING_RATE`,
      unless a network or blind-spot option asks for a network trained from
      scratch, or the synthetic noise is salt-and-pepper;
    - a reconstruct autoencoder on a stack of frames (each frame one item)
      does not augment and, given more frames than neighbours per frame and
      the data in memory (not ``lazy``), trains with the neighbour term (weight :data:`NEIGHBOUR_WEIGHT`), a
      network :data:`FRAME_WIDTH` wide, :data:`FRAME_BATCH_SIZE` frames per
      batch and a learning rate of :data:`FRAME_LEARNING_RATE`;
    - a VAE or AAE never augments, and its binary cross-entropy (the
      default likelihood) scales frames to [0, 1] (percentiles 0 and 100);
    - an AAE's prior is the standard normal unless ``prior="mixture"``;
    - ``three_d=True`` (task denoise, axes with ``Z``) trains a 3D U-Net on
      boxes of :data:`VOLUME_PATCH_Z` planes of :data:`VOLUME_PATCH_SIZE`
      pixels (less in a smaller volume), :data:`VOLUME_BATCH_SIZE` per
      batch; without it a stack is taken plane by plane;
    - the convolutional decoders (reconstruct, vae, aae) pad by edge
      replication: zero padding decodes a bright ring at the border of
      every image (issue 14);
    - without ``epochs`` or ``time_budget`` the training has a budget of
      :data:`DEFAULT_TIME_BUDGET` seconds (for zero-shot super-resolution
      :data:`ZERO_SHOT_EPOCHS` epochs within :data:`ZERO_SHOT_TIME_BUDGET`
      seconds); a time budget without ``epochs`` lifts the epoch cap (it
      stops earlier after ``patience`` epochs without a better validation
      loss);
    - super-resolution starts from the shipped upscaler of its factor
      (``pretrained``, see :mod:`.prior`) and fine-tunes it at
      :data:`SUPERRES_PRETRAINED_LEARNING_RATE`, unless a ``width`` or
      ``blocks`` option asks for a network trained from scratch;
    - super-resolution from given images (``from-highres``, ``paired``)
      trains on :data:`SUPERRES_BATCH_SIZE` patches per batch (4 at ×2, the
      default at ×3 and ×4);
    - zero-shot super-resolution trains on patches of at most half the
      downscaled copy of its image, so that a validation strip the
      training never sees fits beside them; on a downscaled copy under
      :data:`ZERO_SHOT_MIN_SIDE` pixels it does not train but chooses the
      shipped upscaler or bicubic (from scratch it refuses such an image).

    Parameters
    ----------
    task : {"denoise", "reconstruct", "superres", "vae", "aae"}
        What the network learns.
    shape : sequence of int
        Shape of the training input (for super-resolution in modes
        ``paired`` and ``zero-shot`` the low-resolution image, in
        ``from-highres`` the high-resolution one).
    axes : str, optional
        Axes of the input, e.g. ``"YX"``, ``"SYX"``, ``"YXC"``; guessed
        from ``shape`` when left out (:func:`.data.axes.guess_axes`; with
        ``three_d`` a 3-D array is ``"ZYX"``).
    mode : str, optional
        Source of the targets (:data:`.config.TASK_MODES`).
    lazy : bool
        Whether the training reads the data patch by patch (an
        :class:`.data.collection.ImageCollection`): the neighbour term, which
        compares whole frames, is then not turned on by default.
    spell : callable, optional
        How messages write an option's name, e.g. ``"--kl-warmup"`` for the
        command line; ``repr`` by default.
    **options
        Fields of :class:`.ModelConfig`, :class:`.DataConfig` and
        :class:`.TrainingConfig` by name (``latent_dim=2``, ``epochs=5``,
        ``noise="poisson:30"``...), ``dense``, and ``three_d`` (a 3D network).

    Raises
    ------
    ValueError
        For an unknown option, one the task or mode does not use, an
        invalid value, or an image too small for zero-shot
        super-resolution; the message names it and the fix.
    """
    _check_choice(task, [t.value for t in Task], "task")
    modes = TASK_MODES.get(task, ())
    if mode is not None and mode not in modes:
        raise ValueError(
            f"{spell('mode')} applies to task denoise ({', '.join(TASK_MODES[_DENOISE])}) and "
            f"task superres ({', '.join(TASK_MODES[_SUPERRES])}); got {mode!r} with task {task!r}."
        )
    mode = mode or (modes[0] if modes else Mode.SELF_SUPERVISED.value)
    given = {name: _plain(value) for name, value in options.items() if value is not None}
    _check_options(task, mode if modes else None, given, spell)
    if axes is None:
        axes = _guess_axes(shape, three_d=bool(given.get("three_d")))
        _check_guess(shape, axes, spell)
    axes = check_axes(axes, len(shape), shape=shape)
    sections = _sections(given)
    for kind, section in ((ModelConfig, "model"), (DataConfig, "data"), (TrainingConfig, "training")):
        if found := wrong_type(kind, sections[section]):
            name, needed = found
            value = sections[section][name]
            raise ValueError(
                f"{spell(name)} must be {needed}, got {type(value).__name__} {value!r:.40}."
            )
    model, data, training = (
        ModelConfig(**sections["model"]),
        DataConfig(axes=axes, **sections["data"]),
        TrainingConfig(task=task, mode=mode, **sections["training"]),
    )
    channels = Layout(axes, tuple(shape)).channels
    model.in_channels = model.out_channels = channels
    model.architecture = ARCHITECTURES[task]
    if task == _SUPERRES:
        _superres_rules(model, data, training, given)
    if task in GENERATIVE_TASKS:
        _generative_rules(model, data, dense=given.get("dense", False))
    if task == _DENOISE:
        _denoise_rules(model, training, given, spell)
    if model.architecture in CONV_DECODERS and "padding" not in given:
        model.padding = Padding.REPLICATE.value
    if "patch_size" not in given:
        data.patch_size = _default_patch(
            task, mode, shape, axes, model.factor, training, data.noise_strides
        )
    if task == _RECONSTRUCT and _frames_are_items(shape, axes, data.patch_size):
        _frame_rules(model, data, training, Layout(axes, tuple(shape)).count, given, lazy)
    if "neighbours" in given and not training.neighbour_weight > 0:
        raise ValueError(
            f"{spell('neighbours')} is used by the neighbour term only, which is off here; give "
            f"{spell('neighbour_weight')} above 0 too."
        )
    if task in LATENT_TASKS:
        model.input_size = data.patch_size
    if given.get("three_d"):
        _volume_rules(task, model, data, shape, axes, given, spell)
    elif "patch_z" in given:
        raise ValueError(
            f"{spell('patch_z')} applies to 3D networks only; give {spell('three_d')} too."
        )
    zero_shot = task == _SUPERRES and mode == Mode.ZERO_SHOT.value
    if zero_shot:
        _check_zero_shot(shape, axes, model.factor, pretrained=training.pretrained)
    if "epochs" not in given and "time_budget" not in given:
        training.time_budget = ZERO_SHOT_TIME_BUDGET if zero_shot else DEFAULT_TIME_BUDGET
        training.epochs = ZERO_SHOT_EPOCHS if zero_shot else UNBOUNDED_EPOCHS
    elif training.time_budget is not None and "epochs" not in given:
        training.epochs = UNBOUNDED_EPOCHS
    return Config(model=model, data=data, training=training).validate()


def _check_zero_shot(shape: Sequence[int], axes: str, factor: int, *, pretrained: bool) -> None:
    """Raise ``ValueError`` if an image of ``shape`` is too small for zero-shot super-resolution.

    From scratch it must learn its own upscaling, from a copy of at least
    :data:`ZERO_SHOT_MIN_SIDE` pixels; with the shipped upscaler a copy of
    :data:`ZERO_SHOT_MIN_COPY` pixels is enough to choose it or bicubic.
    """
    side = min(shape[axes.index("Y")], shape[axes.index("X")])
    needed = ZERO_SHOT_MIN_COPY if pretrained else ZERO_SHOT_MIN_SIDE
    if side // factor >= needed:
        return
    ways = ["a model trained with mode from-highres on other high-resolution images"]
    ways += ["a smaller factor"] if factor > min(FACTORS) else []
    if pretrained:
        what = "checks the upscaler on"
        advice = f". Use a larger image, or {', or '.join(ways)}."
    else:
        what = "learns from"
        advice = (
            ", or it comes out worse than bicubic interpolation. Keep the pretrained start, or "
            f"use {', or '.join(ways)}."
        )
    raise ValueError(
        f"zero-shot super-resolution x{factor} {what} the image's own copy downscaled "
        f"x{factor}, {side // factor} pixels on its shorter side here; it needs {needed} (an "
        f"image of at least {needed * factor} pixels){advice}"
    )


def _check_options(task: str, mode: str | None, given: dict, spell) -> None:
    """Reject unknown options, derived fields, and options this task or mode ignores."""
    sections = (ModelConfig, DataConfig, TrainingConfig)
    known = {f.name for section in sections for f in dataclasses.fields(section)}
    for name in given:
        if name in DERIVED:
            raise ValueError(
                f"{spell(name)} is set by the recipe from the task, mode and data; leave it out."
            )
        if name not in known and name not in EXTRA_OPTIONS:
            close = closest_name(name, sorted((known - set(DERIVED)) | set(EXTRA_OPTIONS)))
            guess = f"; did you mean {spell(close)}?" if close else "; see the fields of Config."
            raise ValueError(f"unknown option {spell(name)}{guess}")
    for name, (applies, where) in _applies(task, mode).items():
        if name in given and not applies:
            got = f"task {task!r}" + (f", mode {mode!r}" if mode and "mode" in where else "")
            raise ValueError(f"{spell(name)} applies to {where}; got {got}.")
    if task in GENERATIVE_TASKS and given.get("augment"):
        raise ValueError(
            f"task {task!r} never augments: each frame is one sample of what it learns to "
            f"generate (a turned digit is not a digit); leave {spell('augment')} out."
        )


def _plain(value: object) -> object:
    """A NumPy scalar (or a tuple or list of them) as Python's: the config is stored as JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(item) for item in value)
    return value


def _sections(given: dict) -> dict[str, dict]:
    """Split flat options into the fields of each config section."""
    sections = {"model": {}, "data": {}, "training": {}}
    for key, cls in (("model", ModelConfig), ("data", DataConfig), ("training", TrainingConfig)):
        names = {f.name for f in dataclasses.fields(cls)}
        sections[key] = {name: value for name, value in given.items() if name in names}
    if "percentiles" in sections["data"]:
        sections["data"]["percentiles"] = tuple(sections["data"]["percentiles"])
    # the option asks for strides (data); the model records those its training used
    sections["model"].pop("noise_strides", None)
    if isinstance(sections["data"].get("noise_strides"), list):
        sections["data"]["noise_strides"] = tuple(sections["data"]["noise_strides"])
    return sections


def _generative_rules(model: ModelConfig, data: DataConfig, *, dense: bool) -> None:
    """Each frame is one sample, not flipped or turned; BCE needs frames in [0, 1]."""
    if dense:
        model.architecture = Architecture.VAE_DENSE.value
    data.augment = False
    if model.reconstruction_loss == ReconstructionLoss.BCE.value:
        data.percentiles = (0.0, 100.0)  # min-max


def _superres_rules(model: ModelConfig, data: DataConfig, training: TrainingConfig, given: dict) -> None:
    """Factor, batch size, and a start from the shipped upscaler unless a network option is given.

    The prior (:data:`.config.SUPERRES_PRIOR_NETWORK`) is the default
    network applied one channel at a time; it fine-tunes at a lower
    learning rate, so that it adapts without forgetting.
    """
    model.factor = given.get("factor", FACTORS[0])
    if training.mode != Mode.ZERO_SHOT.value and "batch_size" not in given:
        data.batch_size = SUPERRES_BATCH_SIZE.get(model.factor, data.batch_size)
    if "pretrained" not in given:
        training.pretrained = not any(name in given for name in SUPERRES_PRIOR_NETWORK)
    if training.pretrained:
        _prior_rules(model, training, given, SUPERRES_PRIOR_NETWORK, SUPERRES_PRETRAINED_LEARNING_RATE)


def _prior_rules(
    model: ModelConfig, training: TrainingConfig, given: dict, network: dict, rate: float
) -> None:
    """A pretrained start: the prior's ``network`` fields and its fine-tuning ``rate``, unless given."""
    for name, value in network.items():
        if name not in given:
            setattr(model, name, value)
    if "learning_rate" not in given:
        training.learning_rate = rate


def _denoise_rules(model: ModelConfig, training: TrainingConfig, given: dict, spell) -> None:
    """Start from the shipped prior unless the options ask for another network or noise.

    The prior is the pretrained network of :data:`.config.PRIOR_NETWORK`; a
    depth, width, residual or blind-spot option chooses a network trained
    from scratch instead, and so do salt-and-pepper noise, which the prior
    never saw, and a 3D network (the prior is 2D). The pretrained network fine-tunes at a lower learning rate,
    so that it adapts without forgetting.
    """
    scratch = any(name in given for name in (*PRIOR_NETWORK, "mask_fraction", "mask_radius"))
    synthetic_saltpepper = training.mode == Mode.SYNTHETIC.value and has_saltpepper(training.noise)
    if "pretrained" not in given:
        training.pretrained = not (scratch or synthetic_saltpepper or given.get("three_d"))
    if not training.pretrained:
        return
    masking = [name for name in ("mask_fraction", "mask_radius") if name in given]
    if masking:
        raise ValueError(
            f"{spell(masking[0])} applies to blind-spot training from scratch; a pretrained "
            "start fine-tunes on recorrupted or thinned pairs instead. Set "
            f"{spell('pretrained')} to false, or leave it out."
        )
    _prior_rules(model, training, given, PRIOR_NETWORK, PRETRAINED_LEARNING_RATE)


def _guess_axes(shape: Sequence[int], *, three_d: bool) -> str:
    """The axes of data of ``shape``; for a 3D network the first stack axis is Z (``ZYX``)."""
    axes = guess_axes(shape)
    return as_volume_axes(axes) if three_d else axes


def _check_guess(shape: Sequence[int], axes: str, spell) -> None:
    """Raise ``ValueError`` where guessed ``axes`` read a last axis of 2 to 4 values as X.

    A (64, 64, 2) image of two channels is guessed as 64 planes of 64x2
    pixels (:func:`.data.axes.channel_hint`), which no network learns from.
    """
    if channel_hint(tuple(shape), axes):
        raise ValueError(
            f"the {tuple(shape)} data would be read as {axes!r}: {math.prod(shape[:-2])} planes of "
            f"{shape[-2]}x{shape[-1]} pixels. If the last axis holds {shape[-1]} channels, give "
            f"{spell('axes')} {axes[1:] + 'C'!r}; if it really is a stack, give {spell('axes')} "
            f"{axes!r}."
        )


def _volume_rules(
    task: str, model: ModelConfig, data: DataConfig, shape: Sequence[int], axes: str, given: dict,
    spell,
) -> None:
    """A 3D network: task denoise on data with a Z axis; patches as thick as the volume allows."""
    if task not in VOLUME_TASKS:
        raise ValueError(
            f"{spell('three_d')} applies to task denoise only (a 3D U-Net), got task {task!r}; "
            f"leave {spell('three_d')} out to train plane by plane."
        )
    if "Z" not in axes:
        raise ValueError(
            f"{spell('three_d')} needs a Z axis, but the data's axes are {axes!r}; give the "
            "axes (e.g. 'ZYX' or 'TZYX'), or leave it out to train plane by plane."
        )
    model.spatial_dims = 3
    if "patch_z" not in given:
        data.patch_z = min(VOLUME_PATCH_Z, shape[axes.index("Z")])
    if "patch_size" not in given:
        data.patch_size = min(data.patch_size, VOLUME_PATCH_SIZE)
    if "batch_size" not in given:
        data.batch_size = VOLUME_BATCH_SIZE


def _frames_are_items(shape: Sequence[int], axes: str, patch_size: int) -> bool:
    """Whether each frame of the data is one training item: frames the size of the patch."""
    return all(shape[axes.index(axis)] == patch_size for axis in "YX")


def _frame_rules(
    model: ModelConfig, data: DataConfig, training: TrainingConfig, count: int, given: dict,
    lazy: bool,
) -> None:
    """A stack of frames to embed: no flips or turns, and the neighbour term when it can run.

    A turned or flipped frame can be another class (a turned 6 is a 9), and
    the neighbour term groups frames alike in pixels (BENCHMARKS.md, latent
    section); it needs more frames than neighbours per frame, 2 pairs per
    batch, and all frames in memory (not ``lazy``). With the term on, the
    network is :data:`FRAME_WIDTH` wide and trains on
    :data:`FRAME_BATCH_SIZE` frames per batch at :data:`FRAME_LEARNING_RATE`,
    unless given.
    """
    if "augment" not in given:
        data.augment = False
    enough = count > training.neighbours and data.batch_size >= 4 and not lazy
    if "neighbour_weight" not in given and enough:
        training.neighbour_weight = NEIGHBOUR_WEIGHT
    if not training.neighbour_weight > 0:
        return
    if count < 4:  # asked for: the recipe turns it on only given enough frames
        raise ValueError(
            f"the neighbour term needs at least 4 frames (2 pairs of neighbours per batch), got "
            f"{count}; give more frames, or a neighbour weight of 0."
        )
    if "width" not in given:
        model.width = FRAME_WIDTH
    if "batch_size" not in given:
        data.batch_size = min(FRAME_BATCH_SIZE, count)
    if "learning_rate" not in given:
        training.learning_rate = FRAME_LEARNING_RATE


def _default_patch(
    task: str, mode: str, shape: Sequence[int], axes: str, factor: int, training: TrainingConfig,
    strides: tuple[int, int] | None = None,
) -> int:
    """The default patch side for planes of ``shape`` (split at noise ``strides``): see :func:`task_config`."""
    rows, columns = strides or (1, 1)
    side = min(shape[axes.index("Y")] // rows, shape[axes.index("X")] // columns)
    if task == _SUPERRES and mode != Mode.PAIRED.value:
        side //= factor  # the training inputs are downscaled copies
    if task == _SUPERRES and mode == Mode.ZERO_SHOT.value:
        # one image: half of it is left for a validation strip the training never sees,
        # without which the upscaler learns the image by heart (BENCHMARKS.md, real images)
        side = max(1, side // 2)
    if task in LATENT_TASKS and training.neighbour_weight > 0:
        return side  # each frame is one item of the neighbour graph
    return max(1, min(DataConfig.patch_size, side))


def _check_choice(value: str, choices: list[str], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
