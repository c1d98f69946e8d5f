"""The ``sample`` command: random images from a VAE's or an AAE's prior, or its latent manifold."""

from __future__ import annotations

import argparse

import numpy as np

from ..core.io.images import check_not_input, check_writable, write_image
from ..core.io.model_files import load_model
from ..core.io.zarr_store import open_image
from ..core.latent.generation import check_frames, manifold, sample
from .output import printer


def run_sample(args: argparse.Namespace) -> int:
    """Decode draws from the latent density or prior, or with ``--grid`` the manifold; write it."""
    check_not_input(args.output, args.model, *([args.frames] if args.frames else []))
    model = load_model(args.model)
    if args.grid is None:
        for given, option in ((args.span, "--span"), (args.frames, "--frames")):
            if given is not None:
                raise ValueError(f"{option} applies to the manifold only; give --grid G too.")
        options = dict(temperature=args.temperature, seed=args.seed, source=args.source)
        result = sample(model, args.n, **options)
    else:
        frames = None if args.frames is None else _frames(args.frames, model)
        result = manifold(model, grid=args.grid, span=args.span, frames=frames)
    check_writable(args.output, result.shape)
    path = write_image(args.output, result)
    printer(args.quiet)(f"wrote {result.shape} {result.dtype} image to {path}")
    return 0


def _frames(path: str, model) -> np.ndarray:
    """The frames (N, S, S[, C]) stored at ``path``, checked against ``model``; one frame as a stack of one."""
    frames = np.asarray(open_image(path).array)
    colour_frame = frames.ndim == 3 and frames.shape[-1] == model.config.model.in_channels > 1
    if frames.ndim == 2 or colour_frame:
        frames = frames[None]
    check_frames(model, frames.shape)
    return frames
