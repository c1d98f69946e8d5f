"""Training inputs from files: what a path names (one image, a folder's, a glob's), opened lazily.

The command line's ``train --input`` and the Train widget's "files" choice
both go through :func:`image_paths` and :func:`open_collection`.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.axes import check_axes, guess_axes
from ..data.collection import DEFAULT_CACHE_MB, ImageCollection, check_cache_size
from .images import READ_FORMATS
from .zarr_store import is_zarr, open_image


def names_many(pattern: str) -> bool:
    """Whether ``pattern`` is a folder (other than a zarr store) or a glob, not one image.

    A glob of stores (``"dir/*.zarr"``) names many; an image or store that
    exists is one, even with glob characters in its name (``"a[1].zarr"``).
    """
    source = Path(pattern)
    if source.is_file() or (is_zarr(source) and source.is_dir()):
        return False
    return glob.has_magic(pattern) or source.is_dir()


def image_paths(pattern: str) -> list[Path]:
    """The images ``pattern`` names, in name order: itself, or a folder's or a glob's images.

    Images are files of :data:`~.images.READ_FORMATS` and ``.zarr``
    stores; other files are passed over.

    Raises
    ------
    FileNotFoundError
        If a folder or glob holds no images.
    """
    if not names_many(pattern):
        return [Path(pattern)]
    source = Path(pattern)
    names = sorted(source.iterdir()) if source.is_dir() else sorted(map(Path, glob.glob(pattern)))
    images = [p for p in names if is_zarr(p) or (p.is_file() and p.suffix.lower() in READ_FORMATS)]
    if not images:
        raise FileNotFoundError(
            f"no images in {pattern!r}; give a folder or a quoted glob of "
            f"{', '.join(READ_FORMATS)} files or .zarr stores."
        )
    return images


def open_collection(
    paths: Sequence[str | os.PathLike], *, axes: str | None = None, cache_mb: float | None = None
) -> tuple[ImageCollection, str | None]:
    """Open the images at ``paths`` lazily as one :class:`~..data.collection.ImageCollection`.

    Zarr stores, memory-mapped ``.npy`` and TIFF files and compressed TIFFs
    (through zarr) are read block by block; other files (PNG, ``.npz``) are
    held whole, with a warning when they exceed the cache.

    Parameters
    ----------
    paths : sequence of path-like
        Image files or ``.zarr`` stores, e.g. from :func:`image_paths`.
    axes : str, optional
        Their axes; by default the first store's OME-Zarr axes, else a guess
        from the first image's shape.
    cache_mb : float, optional
        Megabytes of decoded blocks kept in memory (default
        :data:`~..data.collection.DEFAULT_CACHE_MB`).

    Returns
    -------
    collection : ImageCollection
        The images, with the axes given, stored or guessed.
    axes : str or None
        The axes given or stored; None when they were guessed.

    Raises
    ------
    ValueError
        If the stores' OME-Zarr axes differ (and no ``axes`` are given), or
        the axes do not fit the first image; as :class:`ImageCollection`.
    """
    images = [open_image(path) for path in paths]
    first = images[0]
    stored = {str(path): image.axes for path, image in zip(paths, images) if image.axes}
    if axes is None and len(set(stored.values())) > 1:
        raise ValueError(
            f"the stores' OME-Zarr axes differ ({stored}); train on images of the same axes, "
            "or give the axes to read them all alike."
        )
    axes = axes or first.axes
    try:
        letters = check_axes(axes or guess_axes(first.array.shape), first.array.ndim)
    except ValueError as err:
        raise ValueError(f"{paths[0]}: {err}") from err
    cache_mb = DEFAULT_CACHE_MB if cache_mb is None else cache_mb
    check_cache_size(cache_mb)
    _warn_held(paths, [image.array for image in images], cache_mb)
    collection = ImageCollection(
        [image.array for image in images], letters, cache_mb=cache_mb, names=map(str, paths)
    )
    return collection, axes


def _warn_held(paths: Sequence, arrays: Sequence, cache_mb: float) -> None:
    """Warn when the arrays held in memory whole (not mapped from their files) exceed the cache."""
    whole = [(path, array) for path, array in zip(paths, arrays)
             if isinstance(array, np.ndarray) and not isinstance(array, np.memmap)]  # fmt: skip
    held_mb = sum(array.nbytes for _, array in whole) / 2**20
    if held_mb > cache_mb:
        warnings.warn(
            f"{len(whole)} input(s) cannot be memory-mapped (PNG, .npz, or a compressed TIFF "
            f"without the zarr package; e.g. "
            f"{str(whole[0][0])!r}) and are held in memory whole ({held_mb:.3g} MB, more "
            f"than the {cache_mb:g} MB cache); convert them to zarr or TIFF to keep "
            "memory within the cache.",
            stacklevel=2,
        )
