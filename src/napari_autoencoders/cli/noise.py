"""The ``noise`` command: what the denoiser measures in a noisy image, before any training."""

from __future__ import annotations

import argparse

import numpy as np

from ..core.data.axes import guess_axes
from ..core.data.patches import check_image
from ..core.io.zarr_store import open_image
from ..core.noise_report import noise_report
from .checks import check_guessed_axes


def run_noise(args: argparse.Namespace) -> int:
    """Read the image (a file or a zarr store, as the other commands), measure its noise, print the report."""
    source = open_image(args.input)
    image = np.asarray(source.array)
    check_image(image, "the input image")
    axes = args.axes or source.axes
    if axes is None:
        axes = guess_axes(image.shape)
        check_guessed_axes(image.shape, axes, channels=image.shape[-1])
    print(f"noise of {args.input} {tuple(image.shape)} read as {axes!r}:")
    for line in noise_report(image, axes).lines():
        print(f"  {line}")
    return 0
