"""The ``apply`` command: predict tile by tile and write the result."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ..core.data.axes import default_axes
from ..core.inference.prediction import check_input, iter_predict, output_shape
from ..core.io.images import check_writable, create_image, read_image, write_image
from ..core.io.model_files import load_model
from .output import printer, run_with_bar


def run_apply(args: argparse.Namespace) -> int:
    """Predict tile by tile and write the result."""
    model = load_model(args.model)
    image = read_image(args.input, mmap=True)
    check_writable(args.output, image.shape)
    axes = args.axes or _apply_axes(model.config.data.axes, image.shape)
    say = printer(args.quiet)
    if args.axes is None and axes != model.config.data.axes:
        say(
            f"the model was trained on {model.config.data.axes!r} images; reading the "
            f"{image.shape} image as {axes!r}"
        )
    check_input(model, image, axes)  # before create_image leaves a file behind
    out = create_image(args.output, output_shape(model, image.shape, axes))
    steps = iter_predict(
        model,
        image,
        axes=axes,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        device=args.device or "auto",
        out=out,
    )
    result = run_with_bar(steps, quiet=args.quiet)
    if out is None:
        path = write_image(args.output, result)
    else:  # written tile by tile, so a large image never sits in memory whole
        out.flush()
        path = Path(args.output)
    say(f"wrote {result.shape} {result.dtype} image to {path}")
    return 0


def _apply_axes(model_axes: str, shape: Sequence[int]) -> str:
    """The model's axes if they fit ``shape``, else a guess with the same channel axis.

    A model trained on single images (``YX``) then applies to stacks plane by plane.
    """
    if len(model_axes) == len(shape):
        return model_axes
    return default_axes(len(shape), rgb="C" in model_axes)
