"""The ``apply`` command: predict tile by tile and write the result."""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from ..core.data.axes import as_volume_axes, default_axes
from ..core.inference.distributed import cluster_client, iter_store, lazy_prediction
from ..core.inference.prediction import check_blockwise, check_input, iter_predict, output_shape, shared_defects
from ..core.inference.tiling import check_tiling
from ..core.io.images import atomic_output, check_not_input
from ..core.io.inputs import image_paths, names_many
from ..core.io.model_files import load_model
from ..core.io.zarr_store import (
    atomic_zarr,
    check_zarr_writable,
    is_zarr,
    open_image,
    output_chunks,
    output_scale,
    output_translation,
    read_as,
)
from ..core.io.tiff import writing_options
from .checks import check_device, input_axes
from .output import printer, run_with_bar


def run_apply(args: argparse.Namespace) -> int:
    """Predict tile by tile and write the result, for one image or many.

    Every option is checked before an output is created, and each result is
    written to a temporary file (or store) renamed over its output when
    complete, so a usage error, an exception, Ctrl-C or SIGTERM leaves a
    previous output as it was. Over a folder or a glob, outputs that exist
    are finished ones and are skipped: running the command again resumes.
    """
    check_tiling(args.tile, args.overlap, args.batch_size)
    check_device(args.device)
    on_cluster = args.workers is not None or args.scheduler is not None
    jobs = _jobs(args.input, args.output, zarr_outputs=on_cluster)
    for source, output in jobs:
        check_not_input(output, source, args.model)
        if on_cluster and not is_zarr(output):
            raise ValueError(
                f"--workers and --scheduler write zarr stores (each worker writes its chunks), "
                f"not {str(output)!r}; give an --output ending in .zarr or .ome.zarr."
            )
        if is_zarr(output):
            check_zarr_writable(output)
    say = printer(args.quiet)
    pending = [(source, output) for source, output in jobs if len(jobs) == 1 or not output.exists()]
    if len(pending) < len(jobs):
        say(f"skipping {len(jobs) - len(pending)} image(s) whose output exists (finished before)")
    model = load_model(args.model, run_package_code=args.run_package_code)
    if on_cluster:  # connected before any output is created: an unreachable one costs nothing
        cluster = cluster_client(workers=args.workers, scheduler=args.scheduler)
    else:
        cluster = contextlib.nullcontext()
    with cluster as client:
        for number, (source, output) in enumerate(pending, 1):
            if len(jobs) > 1:
                say(f"[{number}/{len(pending)}] {source} -> {output}")
            _apply_one(args, model, source, output, client)
    return 0


def _apply_one(args: argparse.Namespace, model, source: Path, output: Path, client) -> None:
    """Predict ``source`` into ``output``, here or on ``client``'s cluster when given."""
    say = printer(args.quiet)
    image = open_image(source)  # zarr chunk by chunk, compressed TIFF strip by strip, files mapped
    guess = functools.partial(_apply_axes, model.config.data.axes, image.array.shape)
    channels = model.config.model.in_channels
    axes, guessed = input_axes(args.axes, image.axes, image.array.shape, channels, guess, say)
    if guessed and axes != model.config.data.axes:
        say(
            f"the model was trained on {model.config.data.axes!r} images; reading the "
            f"{image.array.shape} image as {axes!r}"
        )
    axes = check_input(model, image.array, axes)  # upper-cased: the output's metadata uses them
    image = read_as(image, axes)  # a stored axis named otherwise keeps no size
    if client is not None:
        check_blockwise(model)
    shape, factor = output_shape(model, image.array.shape, axes), model.config.model.factor
    scale = output_scale(image.scale, axes, factor)  # the stored pixel sizes, kept
    if is_zarr(output):  # written chunk by chunk into a temporary store
        # a store's chunks carry over; a compressed TIFF's strips are too small to
        input_chunks = image.array.chunks if is_zarr(source) else None
        chunks = output_chunks(input_chunks, axes, shape, factor)
        translation = output_translation(image.translation, image.scale, axes, factor)
        destination = atomic_zarr(
            output, shape, chunks=chunks, axes=axes, scale=scale, unit=image.unit,
            translation=translation, time_unit=image.time_unit,
        )  # fmt: skip
    else:  # written tile by tile into a map of a temporary file (PNG: an array, written at the end)
        tiff = writing_options(axes, scale, image.unit, image.time_unit)
        destination = atomic_output(output, shape, tiff=tiff)
    options = {"axes": axes, "tile": args.tile, "overlap": args.overlap}
    options.update(batch_size=args.batch_size, device=args.device or "auto", ensemble=args.ensemble)
    with destination as out:
        if client is None:
            run_with_bar(iter_predict(model, image.array, out=out, **options), quiet=args.quiet)
        else:  # the workers open the files themselves: absolute paths
            result = lazy_prediction(
                Path(args.model).resolve(),
                source.resolve(),
                shape=shape,
                chunks=out.chunks,
                defects=shared_defects(model, image.array, axes),  # the planes read here once
                run_package_code=args.run_package_code,
                **options,
            )
            run_with_bar(iter_store(result, out, client), quiet=args.quiet, unit="chunk")
    png = Path(output).suffix.lower() == ".png"
    stored = "image, min-max scaled for PNG," if png else "float32 image"
    say(f"wrote {shape} {stored} to {output}")


def _jobs(pattern: str, output: str, *, zarr_outputs: bool = False) -> list[tuple[Path, Path]]:
    """Pairs (input, output) of ``--input`` and ``--output``.

    One image gives one pair. A folder (other than a zarr store) or a glob
    pattern gives its images in name order, each written into the folder
    ``output`` (created if missing) under the input's name; NumPy archives
    become ``.npy`` files and PNG images ``.tif`` files, which keep the
    float values of a prediction, and with ``zarr_outputs`` every output is
    a ``.zarr`` store. Two inputs whose results would take one name (``a.png``
    and ``a.tif``), or names that differ only in letter case or in how an
    accent is composed (one file on macOS and Windows), are refused before
    anything is written.
    """
    if not names_many(pattern):
        return [(Path(pattern), Path(output))]
    images = image_paths(pattern)
    folder = Path(output)
    if folder.suffix and not folder.is_dir():
        raise ValueError(
            f"--input {pattern!r} names {len(images)} images: --output must be a folder, not "
            f"{output!r}."
        )
    if not folder.parent.is_dir():
        raise FileNotFoundError(
            f"the folder above --output {output!r} does not exist; create it first."
        )
    jobs = [(image, folder / _output_name(image, zarr_outputs)) for image in images]
    sources = collections.defaultdict(list)
    for image, result in jobs:
        # as macOS and Windows compare names: letter case, and é composed or not, ignored
        sources[unicodedata.normalize("NFC", result.name).lower()].append((image.name, result.name))
    if clashes := [found for found in sources.values() if len(found) > 1]:
        found = clashes[0]
        results = sorted({result for _, result in found})
        target = " and ".join(map(repr, results))
        if len(results) > 1:
            target += ", one file on macOS and Windows"
        raise ValueError(
            f"the results of {' and '.join(image for image, _ in found)} would all be "
            f"written to {target} in {output!r} ({len(clashes)} such name(s)); apply them in "
            "separate runs, with other --output folders."
        )
    folder.mkdir(exist_ok=True)
    return jobs


def _output_name(image: Path, zarr_output: bool) -> str:
    """The name of ``image``'s result in an output folder."""
    suffix = image.suffix.lower()
    if is_zarr(image) or not (zarr_output or suffix in (".npz", ".png")):
        return image.name
    return image.stem + (".zarr" if zarr_output else {".npz": ".npy", ".png": ".tif"}[suffix])


def _apply_axes(model_axes: str, shape: Sequence[int]) -> str:
    """The model's axes if they fit ``shape``, else a guess with the same channel axis.

    A model trained on single images (``YX``) then applies to stacks plane by plane;
    a 3D model (its axes hold ``Z``) reads a 3-D image as one volume (``ZYX``).
    """
    if len(model_axes) == len(shape):
        return model_axes
    guess = default_axes(len(shape), rgb="C" in model_axes)
    return as_volume_axes(guess) if "Z" in model_axes else guess
