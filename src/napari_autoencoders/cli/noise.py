"""The ``noise`` command: what the denoiser measures in a noisy image, before any training."""

from __future__ import annotations

import argparse

from ..core.data.axes import guess_axes
from ..core.noise_report import noise_report
from ..core.io.images import read_image


def run_noise(args: argparse.Namespace) -> int:
    """Read the image, measure its noise, print the report."""
    image = read_image(args.input)
    axes = args.axes or guess_axes(image.shape)
    print(f"noise of {args.input} {tuple(image.shape)} read as {axes!r}:")
    for line in noise_report(image, axes).lines():
        print(f"  {line}")
    return 0
