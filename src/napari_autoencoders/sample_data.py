"""Sample data for napari's *File > Open Sample* menu.

The files live in the repository's ``sample_data/`` folder, which the package
reaches through the ``_sample_data`` symlink; building a wheel copies the
folder's files into the package, so installed copies find them at the same
place. ``sample_data/make_sample_data.py`` regenerates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

DATA_DIR = Path(__file__).resolve().parent / "_sample_data"

LayerData = tuple[np.ndarray, dict[str, Any], str]


def noisy_fluorescence() -> list[LayerData]:
    """Return a noisy synthetic fluorescence image and its clean reference.

    Both are (Y, X) = (512, 512) images in camera counts: the noisy one as
    uint16 with Poisson-Gaussian noise, the clean one as float32 in the same
    units, hidden at first.

    Returns
    -------
    list of (data, metadata, layer type)
        Two napari image layers, ``"noisy fluorescence"`` then
        ``"clean fluorescence"``.
    """
    noisy = tifffile.imread(_path("fluorescence_noisy.tif"))
    clean = tifffile.imread(_path("fluorescence_clean.tif"))
    return [
        (noisy, {"name": "noisy fluorescence"}, "image"),
        (clean, {"name": "clean fluorescence", "visible": False}, "image"),
    ]


def mnist_digits() -> list[LayerData]:
    """Return 5,000 MNIST digits as one image stack.

    Returns
    -------
    list of (data, metadata, layer type)
        One napari image layer ``"MNIST digits"``: uint8 data of shape
        (S, Y, X) = (5000, 28, 28), with the digit of each plane (uint8,
        0 to 9) in ``metadata["labels"]``.
    """
    with np.load(_path("mnist_5000.npz")) as archive:
        images, labels = archive["images"], archive["labels"]
    return [(images, {"name": "MNIST digits", "metadata": {"labels": labels}}, "image")]


def _path(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"sample file {path} is missing; regenerate it with "
            "`python sample_data/make_sample_data.py` or reinstall napari-autoencoders."
        )
    return path
