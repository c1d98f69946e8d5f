"""The ``train`` command: read the images, train, save the best model."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from ..core.config import Config
from ..core.io.images import read_image
from ..core.io.model_files import save_model
from ..core.recipes import task_config
from ..core.training import Trainer
from .output import printer, train_with_bar

#: The ``train`` options that become recipe options, by their name in ``args``.
RECIPE_OPTIONS = (
    "factor", "downscale", "noise", "depth", "width", "latent_dim", "beta", "kl_warmup",
    "reconstruction_loss", "neighbour_weight", "neighbours", "epochs", "time_budget",
    "steps_per_epoch", "patch_size", "batch_size", "learning_rate", "patience",
    "mask_fraction", "seed", "device", "prior", "adversarial_rate",
)  # fmt: skip


def run_train(args: argparse.Namespace) -> int:
    """Read the images, train, save the best model."""
    _check_model_path(args.model)
    inputs = read_image(args.input)
    targets = read_image(args.target) if args.target else None
    config = config_from_args(args, inputs.shape)
    say = printer(args.quiet)
    if args.axes is None:
        say(f"axes not given: reading the {inputs.shape} image as {config.data.axes!r}")
    trainer = Trainer(config, inputs, targets)
    start = time.perf_counter()
    interrupted = train_with_bar(trainer, quiet=args.quiet)
    model = trainer.result()
    path = save_model(model, args.model)
    if interrupted:
        say("interrupted: stopped the training and kept the best model so far")
    say(_summary(model.history, time.perf_counter() - start, path))
    return 0


def config_from_args(args: argparse.Namespace, shape: Sequence[int]) -> Config:
    """Build the training config from parsed ``train`` arguments and the input's ``shape``.

    Options given on the command line go to the core recipe
    (:func:`~napari_autoencoders.core.recipes.task_config`), which decides
    everything left out.

    Raises
    ------
    ValueError
        If options contradict each other or a value is invalid.
    """
    options = {name: getattr(args, name) for name in RECIPE_OPTIONS}
    if args.dense:
        options["dense"] = True
    if args.no_augment:
        options["augment"] = False
    _check_target(args)
    return task_config(args.task, shape=shape, axes=args.axes, mode=args.mode, spell=_flag, **options)


def _check_target(args: argparse.Namespace) -> None:
    """--target goes with --mode paired, and paired needs it."""
    paired = args.mode == "paired"
    if paired and args.target is None:
        kind = "clean" if args.task == "denoise" else "high-resolution"
        raise ValueError(f"--mode paired needs --target FILE, the {kind} image matching --input.")
    if args.target is not None and not paired:
        raise ValueError("--target is used with --mode paired only.")


def _flag(name: str) -> str:
    """The command-line spelling of a recipe option: ``kl_warmup`` -> ``--kl-warmup``."""
    return "--" + name.replace("_", "-")


def _check_model_path(path: str) -> None:
    """Fail before training, not after it, if the model file cannot be written."""
    if not Path(path).parent.is_dir():
        raise FileNotFoundError(
            f"the folder of model file {path!r} does not exist; create it first."
        )


def _summary(history: list[dict], seconds: float, path: Path) -> str:
    if not history:
        return f"stopped before the first validation after {seconds:.1f} s; model saved to {path}"
    best = min(history, key=lambda entry: entry["val_loss"])
    return (
        f"trained {len(history)} epoch(s), {history[-1]['step']} steps in {seconds:.1f} s; "
        f"best validation loss {best['val_loss']:.4g} (epoch {best['epoch']}); "
        f"model saved to {path}"
    )
