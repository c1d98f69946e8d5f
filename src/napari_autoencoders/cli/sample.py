"""The ``sample`` command: random images from a VAE's or an AAE's prior, or its latent manifold."""

from __future__ import annotations

import argparse

from ..core.io.images import check_not_input, check_writable, write_image
from ..core.io.model_files import load_model
from ..core.latent.generation import manifold, sample
from .output import printer


def run_sample(args: argparse.Namespace) -> int:
    """Decode draws from the latent density or prior, or with ``--grid`` the manifold; write it."""
    check_not_input(args.output, args.model)
    model = load_model(args.model)
    if args.grid is None:
        if args.span is not None:
            raise ValueError("--span applies to the manifold only; give --grid G too.")
        options = dict(temperature=args.temperature, seed=args.seed, source=args.source)
        result = sample(model, args.n, **options)
    else:
        result = manifold(model, grid=args.grid, span=args.span)
    check_writable(args.output, result.shape)
    path = write_image(args.output, result)
    printer(args.quiet)(f"wrote {result.shape} {result.dtype} image to {path}")
    return 0
