"""Command line: train a model on image files, apply it to others.

::

    napari-autoencoders train --task denoise --mode self-supervised \\
        --input noisy.tif --time-budget 300 --model denoiser.safetensors
    napari-autoencoders apply --model denoiser.safetensors \\
        --input noisy.tif --output denoised.tif
    napari-autoencoders train --task vae --input digits.npz --model vae.safetensors
    napari-autoencoders sample --model vae.safetensors --n 16 --output samples.tif
    napari-autoencoders encode --model digits.safetensors \\
        --input digits.tif --output latents.csv --clusters 10
    napari-autoencoders export --model denoiser.safetensors --format bioimageio \\
        --output denoiser.zip --authors "Ada Lovelace;Alan Turing"
    napari-autoencoders noise --input noisy.tif

:mod:`.parser` turns the arguments into options; each command checks them,
reads its files, calls the core and writes the result. Bad input becomes a
one-line error with exit status 2. Ctrl-C and SIGTERM stop a command alike
(:mod:`.signals`): one line says so and the exit status is 128 plus the
signal's number (130, 143), except for a training that saved its model (0).
No input is ever written, and outputs are renamed into place only when
complete, so a failed or stopped command leaves previous files as they were.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Sequence

from .parser import PROG, build_parser
from .signals import signal_name, signal_of, terminate_as_interrupt

#: Exit status for bad input, as argparse uses for usage errors.
EXIT_USAGE = 2
#: The module of each subcommand and its function, imported only when run: the commands'
#: imports (PyTorch, scikit-learn, dask) take seconds, which ``--help`` need not wait for.
COMMANDS = {
    "train": ("train", "run_train"),
    "apply": ("apply", "run_apply"),
    "sample": ("sample", "run_sample"),
    "encode": ("encode", "run_encode"),
    "export": ("export", "run_export"),
    "noise": ("noise", "run_noise"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    with warnings.catch_warnings(), terminate_as_interrupt():
        warnings.showwarning = _show_warning
        try:
            return _command(args.command)(args)
        except (ValueError, OSError) as err:  # ModelFileError and FileNotFoundError included
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM as signals.Interrupted
            signum = signal_of(interrupt)
            kept = str(interrupt) or (
                "nothing was written; files at the output paths are as they were"
            )
            print(f"{PROG}: interrupted by {signal_name(signum)}: {kept}", file=sys.stderr)
            return 128 + signum


def _command(name: str):
    """The function that runs the subcommand ``name``, imported from its module."""
    module, function = COMMANDS[name]
    return getattr(importlib.import_module(f".{module}", __package__), function)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)
