"""The ``apply`` command: predict tile by tile and write the result."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..core.data.axes import default_axes
from ..core.inference.prediction import check_input, iter_predict, output_shape
from ..core.inference.tiling import check_tiling
from ..core.io.images import atomic_output, check_not_input
from ..core.io.zarr_store import (
    atomic_zarr,
    check_zarr_writable,
    is_zarr,
    output_chunks,
    open_image,
    output_scale,
)
from ..core.io.model_files import load_model
from .checks import check_device, check_guessed_axes
from .output import printer, run_with_bar


def run_apply(args: argparse.Namespace) -> int:
    """Predict tile by tile and write the result.

    Every option is checked before the output is created, and the result is
    written to a temporary file renamed over ``--output`` when complete, so
    a usage error, an exception, Ctrl-C or SIGTERM leaves a previous file at
    ``--output`` as it was.
    """
    check_not_input(args.output, args.input, args.model)
    check_tiling(args.tile, args.overlap, args.batch_size)
    check_device(args.device)
    if is_zarr(args.output):
        check_zarr_writable(args.output)
    model = load_model(args.model)
    source = open_image(args.input)  # zarr chunk by chunk, files memory-mapped
    image, stored_axes, scale = source.array, source.axes, source.scale
    axes = args.axes or stored_axes or _apply_axes(model.config.data.axes, image.shape)
    say = printer(args.quiet)
    if args.axes is None and stored_axes is None:
        check_guessed_axes(image.shape, axes, model.config.model.in_channels)
        if axes != model.config.data.axes:
            say(
                f"the model was trained on {model.config.data.axes!r} images; reading the "
                f"{image.shape} image as {axes!r}"
            )
    check_input(model, image, axes)
    shape, factor = output_shape(model, image.shape, axes), model.config.model.factor
    if is_zarr(args.output):  # written tile by tile into a temporary store
        chunks = output_chunks(getattr(image, "chunks", None), axes, shape, factor)
        scale = output_scale(scale, axes, factor)
        output = atomic_zarr(args.output, shape, chunks=chunks, axes=axes, scale=scale)
    else:  # written tile by tile into a map of a temporary file (PNG: an array, written at the end)
        output = atomic_output(args.output, shape)
    with output as out:
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
    say(f"wrote {result.shape} {result.dtype} image to {args.output}")
    return 0


def _apply_axes(model_axes: str, shape: Sequence[int]) -> str:
    """The model's axes if they fit ``shape``, else a guess with the same channel axis.

    A model trained on single images (``YX``) then applies to stacks plane by plane.
    """
    if len(model_axes) == len(shape):
        return model_axes
    return default_axes(len(shape), rgb="C" in model_axes)
