"""What an ``--input`` names: one image, or the images of a folder or of a glob pattern."""

from __future__ import annotations

import glob
from pathlib import Path

from ..core.io.images import READ_FORMATS
from ..core.io.zarr_store import is_zarr


def names_many(pattern: str) -> bool:
    """Whether ``pattern`` is a folder (other than a zarr store) or a glob, not one image."""
    source = Path(pattern)
    if is_zarr(source) or source.is_file():
        return False
    return source.is_dir() or glob.has_magic(pattern)


def image_paths(pattern: str) -> list[Path]:
    """The images ``pattern`` names, in name order: itself, or a folder's or a glob's images.

    Images are files of :data:`~..core.io.images.READ_FORMATS` and ``.zarr``
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
