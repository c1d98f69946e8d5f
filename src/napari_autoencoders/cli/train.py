"""The ``train`` command: read the images, train, save the best validated model."""

from __future__ import annotations

import argparse
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.config import Config
from ..core.data.correlation import parse_strides
from ..core.io.images import check_not_input, read_image
from ..core.io.inputs import image_paths, names_many, open_collection
from ..core.io.model_files import save_model
from ..core.io.zarr_store import is_zarr, open_image
from ..core.recipes import task_config
from ..core.training import Trainer
from .checks import check_device, check_model_path
from .output import printer, train_with_bar
from .signals import Interrupted, signal_name

#: The ``train`` options that become recipe options, by their name in ``args``.
RECIPE_OPTIONS = (
    "factor", "downscale", "noise", "depth", "width", "blocks", "latent_dim", "beta", "kl_warmup",
    "reconstruction_loss", "neighbour_weight", "neighbours", "epochs", "time_budget",
    "steps_per_epoch", "patch_size", "batch_size", "learning_rate", "patience",
    "mask_fraction", "seed", "device", "prior", "adversarial_rate", "pretrained", "patch_z",
)  # fmt: skip
#: Options whose flag is not their name with dashes.
FLAGS = {"three_d": "--3d"}


def run_train(args: argparse.Namespace) -> int:
    """Read the images, train, save the best validated model.

    The model path (:func:`~.checks.check_model_path`) and the device are
    checked before anything is read or trained. Only validated weights are
    ever saved, so an existing file at ``--model`` is replaced only by a
    model that was validated:

    * Ctrl-C or SIGTERM stops the training after the step under way and
      validates the epoch so far (a second one stops at once); the best
      validated model is saved and the status is 0;
    * a loss that becomes NaN or infinite is an error (status 2), after the
      best model validated before it is saved;
    * without any validation (stopped during the setup, or a time budget
      spent before the first step) nothing is saved and an existing file is
      left as it was: status 2, or 130/143 for Ctrl-C/SIGTERM.
    """
    paths = [path for pattern in args.input for path in image_paths(pattern)]
    check_not_input(args.model, *paths, *([args.target] if args.target else []))
    check_model_path(args.model)
    check_device(args.device)
    say = printer(args.quiet)
    if _reads_lazily(args, paths):
        inputs, shape, axes = _collection(args, paths)
        config = config_from_args(args, shape, axes=axes, lazy=True)
        say(
            f"reading {len(inputs)} plane(s) of {len(paths)} image(s), "
            f"{inputs.nbytes / 2**20:.0f} MB as float32, through a cache of "
            f"{inputs.cache_bytes / 2**20:g} MB"
        )
    else:  # in memory, with the axes the file stores (ImageJ, OME) unless given
        source = open_image(paths[0])
        inputs = np.array(source.array)  # read whole, writable
        shape, axes = inputs.shape, args.axes or source.axes
        config = config_from_args(args, shape, axes=axes)
    targets = read_image(args.target) if args.target else None
    if axes is None:
        say(f"axes not given: reading the {tuple(shape)} image as {config.data.axes!r}")
    elif args.axes is None:
        say(f"reading the {tuple(shape)} image as {axes!r}, the axes its file stores (--axes to choose)")
    try:
        trainer = Trainer(config, inputs, targets)
    except ValueError as err:  # name the options given as their flags
        given = [name for name, value in vars(args).items() if value is not None]
        raise ValueError(_spell_fields(str(err), given)) from err
    start = time.perf_counter()
    try:
        signum = train_with_bar(trainer, quiet=args.quiet)
    except FloatingPointError as err:
        raise ValueError(f"{err} {_save_after_divergence(trainer, args.model)}") from err
    seconds = time.perf_counter() - start
    if not trainer.history:
        nothing = f"no model saved{_left_as_it_was(args.model)}"
        if signum is not None:
            raise Interrupted(signum, f"stopped before the first validation: {nothing}.")
        raise ValueError(
            f"the time budget of {trainer.config.training.time_budget:g} s ran out before the "
            f"first training step: {nothing}; give a longer --time-budget."
        )
    path = save_model(trainer.result(), args.model)
    if signum is not None:
        say(
            f"interrupted by {signal_name(signum)}: stopped the training and kept the best "
            "validated model so far"
        )
    say(_summary(trainer, seconds, path))
    if warning := trainer.warning():
        warnings.warn(warning, stacklevel=1)
    return 0


def _reads_lazily(args: argparse.Namespace, paths: Sequence[Path]) -> bool:
    """Whether the inputs are read patch by patch: many, a folder, a glob, a store or --cache-mb."""
    many = len(paths) > 1 or any(names_many(pattern) for pattern in args.input)
    return many or is_zarr(paths[0]) or args.cache_mb is not None


def _collection(args: argparse.Namespace, paths: Sequence[Path]):
    """The lazy inputs, the shape the recipe plans for, and the axes given or stored."""
    collection, axes = open_collection(paths, axes=args.axes, cache_mb=args.cache_mb)
    return collection, collection.shape, axes


def config_from_args(
    args: argparse.Namespace, shape: Sequence[int], *, axes: str | None = None, lazy: bool = False
) -> Config:
    """Build the training config from parsed ``train`` arguments and the input's ``shape``.

    Options given on the command line go to the core recipe
    (:func:`~napari_autoencoders.core.recipes.task_config`), which decides
    everything left out. ``axes`` (default ``--axes``) are those of the
    input, if known; ``lazy`` says it is read patch by patch.

    Raises
    ------
    ValueError
        If options contradict each other or a value is invalid.
    """
    options = {name: getattr(args, name) for name in RECIPE_OPTIONS}
    if args.dense:
        options["dense"] = True
    if args.three_d:
        options["three_d"] = True
    if args.no_augment:
        options["augment"] = False
    if args.noise_strides is not None:
        options["noise_strides"] = parse_strides(args.noise_strides)
    _check_target(args)
    try:
        return task_config(
            args.task, shape=shape, axes=axes or args.axes, mode=args.mode, lazy=lazy,
            spell=_flag, **options,
        )
    except ValueError as err:
        given = [name for name, value in options.items() if value is not None]
        raise ValueError(_spell_fields(str(err), given)) from err


def _check_target(args: argparse.Namespace) -> None:
    """--target goes with --mode paired, and paired needs it."""
    paired = args.mode == "paired"
    if paired and args.target is None:
        kind = "clean" if args.task == "denoise" else "high-resolution"
        raise ValueError(f"--mode paired needs --target FILE, the {kind} image matching --input.")
    if args.target is not None and not paired:
        raise ValueError("--target is used with --mode paired only.")


def _spell_fields(message: str, given: Sequence[str]) -> str:
    """Name the config fields of ``given`` options as options: ``training.seed`` -> ``--seed``."""

    def spell(match: re.Match) -> str:
        return _flag(match[1]) if match[1] in given else match[0]

    return re.sub(r"\b(?:model|data|training)\.(\w+)", spell, message)


def _flag(name: str) -> str:
    """The command-line spelling of a recipe option: ``kl_warmup`` -> ``--kl-warmup``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def _save_after_divergence(trainer: Trainer, path: str) -> str:
    """Save the best validated model of a training that diverged, if any; say what was done."""
    if not trainer.history:
        return f"But none were validated, so none were saved{_left_as_it_was(path)}."
    saved = save_model(trainer.result(), path)
    return (
        f"Saved the best validated model ({trainer.kept()}, validation loss "
        f"{trainer.best_loss:.4g}) to {saved}."
    )


def _left_as_it_was(path: str) -> str:
    """``"; 'm.safetensors' is left as it was"`` if a file is at ``path``, else nothing."""
    return f"; {path!r} is left as it was" if Path(path).exists() else ""


def _summary(trainer: Trainer, seconds: float, path: Path) -> str:
    history = trainer.history
    return (
        f"trained {len(history)} epoch(s), {history[-1]['step']} steps in {seconds:.1f} s; "
        f"{trainer.outcome()}; model saved to {path}"
    )
