"""The ``export`` command: write a trained model as a BioImage Model Zoo package."""

from __future__ import annotations

import argparse

from ..core.io.bioimageio import export_bioimageio
from ..core.io.images import check_not_input, read_image
from ..core.io.model_files import load_model
from .output import printer


def run_export(args: argparse.Namespace) -> int:
    """Read the model (and the sample image), write the package."""
    check_not_input(args.output, args.model, *([args.input] if args.input else []))
    model = load_model(args.model)
    sample = read_image(args.input) if args.input else None
    path = export_bioimageio(
        model,
        args.output,
        authors=args.authors.split(";"),
        name=args.name,
        description=args.description,
        license=args.license,
        sample=sample,
        sample_axes=args.axes,
    )
    printer(args.quiet)(f"wrote bioimage.io package {path}")
    return 0
