"""The ``encode`` command: encode frames, tiles or objects, project, cluster, write a CSV table."""

from __future__ import annotations

import argparse
import functools

from ..core.data.axes import guess_axes
from ..core.io.images import check_destination, check_not_input
from ..core.io.model_files import load_model
from ..core.io.zarr_store import open_image
from ..core.latent.clustering import cluster, default_embedding, embed
from ..core.latent.encoding import (
    flat_plane_index,
    iter_encode_frames,
    iter_encode_objects,
    iter_encode_tiles,
    labels_at,
    latent_table,
    plane_at,
    write_csv,
)
from .checks import check_device, check_suffix, input_axes
from .output import printer, run_with_bar


def run_encode(args: argparse.Namespace) -> int:
    """Encode, project, cluster, write the CSV table.

    The output must be a new ``.csv`` path, not one of the inputs; it is
    written to a temporary file renamed when complete.
    """
    check_not_input(args.output, args.input, args.model, *([args.labels] if args.labels else []))
    check_suffix(args.output, ".csv", "the table")
    check_destination(args.output)
    check_device(args.device)
    if args.labels and args.tile_stride is not None:
        raise ValueError("give --labels (objects) or --tile-stride (tiles), not both.")
    if args.mask and not args.labels:
        raise ValueError("--mask blanks the pixels outside each object: give their --labels.")
    if args.plane is not None and not (args.labels or args.tile_stride is not None):
        raise ValueError("--plane picks the plane to cut tiles or objects from: give --labels or "
                         "--tile-stride, or leave it out to encode every frame.")
    model = load_model(args.model)
    source = open_image(args.input)
    # a zarr store, memory-mapped file or compressed TIFF is read batch by batch, never whole
    image = source.array
    channels = model.config.model.in_channels
    say = printer(args.quiet)
    guess = functools.partial(guess_axes, image.shape)
    axes, _ = input_axes(args.axes, source.axes, image.shape, channels, guess, say)
    options = dict(
        axes=axes, batch_size=args.batch_size, device=args.device or "auto", cache_mb=args.cache_mb
    )
    shape = image.shape
    at = {} if args.plane is None else flat_plane_index(shape, axes, args.plane)
    if at:
        image, options["axes"] = plane_at(image, axes, at)
    if args.labels:
        # the plane's labels read whole: the objects' centroids need them all
        labels = labels_at(open_image(args.labels).array, at, shape, axes)
        steps = iter_encode_objects(model, image, labels, mask=args.mask, **options)
    elif args.tile_stride is not None:
        steps = iter_encode_tiles(model, image, stride=args.tile_stride, **options)
    else:
        steps = iter_encode_frames(model, image, **options)
    encoding = run_with_bar(steps, quiet=args.quiet, unit="item")
    method = args.embed or default_embedding(encoding.latents.shape[1])
    embedding = embed(encoding.latents, method, seed=args.seed)
    clusters = cluster(encoding.latents, args.method, args.clusters, seed=args.seed)
    write_csv(args.output, latent_table(encoding, embedding, clusters))
    found = len(set(clusters.tolist()) - {-1})
    say(f"wrote {len(clusters)} {encoding.kind}(s) in {found} cluster(s) to {args.output}")
    return 0
