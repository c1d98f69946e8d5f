"""Zarr and OME-Zarr images, read and written chunk by chunk, never held whole.

A ``.zarr`` folder holds either one array (read as it is) or an OME-Zarr
multiscale image (OME-NGFF 0.4 or 0.5), of which the full-resolution level is
read, with its axes and physical pixel sizes. Results are written as plain
zarr arrays (``.zarr``) or as single-level OME-Zarr 0.4 images
(``.ome.zarr``), into a temporary store beside the destination that is
renamed to it when complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .images import _umask, decoding, read_image, tiff_memmap
from .tiff import check_one_series, tiff_layout
from .units import spell_unit

#: The extension of zarr stores; ``.ome.zarr`` outputs get OME-Zarr metadata.
ZARR_SUFFIX = ".zarr"
#: OME axis names (lower case) and the axis letters of :mod:`~..data.axes`.
_OME_AXES = {"s": "S", "t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}
_OME_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


@dataclass(frozen=True)
class LazyImage:
    """An image read lazily: a zarr array, or a memory-mapped file.

    Attributes
    ----------
    array : zarr.Array or ndarray
        The pixels, read chunk by chunk when sliced (a compressed TIFF
        strip by strip or tile by tile; a file that can be neither mapped nor
        chunked, e.g. a PNG, is read whole).
    axes : str or None
        Axis letters from OME-Zarr, ImageJ or OME-TIFF metadata (e.g.
        ``"TCZYX"``); None for a plain array, or when an axis has a name
        other than s, t, c, z, y, x.
    scale : tuple of float or None
        Physical size of a pixel along each axis, None when not stored.
    unit : str or None
        The unit of the sizes along Y and X, when stored.
    translation : tuple of float or None
        The position of the first pixel's centre along each axis (OME-Zarr).
    time_unit : str or None
        The unit of the time axis' step (OME-Zarr, ImageJ or OME-TIFF), when stored.
    """

    array: object
    axes: str | None = None
    scale: tuple[float, ...] | None = None
    unit: str | None = None
    translation: tuple[float, ...] | None = None
    time_unit: str | None = None


def _zarr():
    try:
        import zarr
    except ImportError as err:
        raise ImportError(
            "zarr stores need the zarr package; install it with "
            "pip install 'napari-autoencoders[zarr]'."
        ) from err
    return zarr


def is_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a zarr store (its name ends in ``.zarr``)."""
    return Path(path).name.lower().endswith(ZARR_SUFFIX)


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an OME-Zarr store (its name ends in ``.ome.zarr``)."""
    return Path(path).name.lower().endswith(".ome" + ZARR_SUFFIX)


def open_image(path: str | os.PathLike) -> LazyImage:
    """Open the image at ``path`` without reading its pixels where the format allows.

    A ``.zarr`` store is read by :func:`read_zarr`; a TIFF is memory-mapped,
    or read through tifffile's zarr store when compressed or tiled, strip by
    strip or tile by tile; any other file by :func:`~.images.read_image`,
    memory-mapped where possible.

    Raises
    ------
    FileNotFoundError, ValueError
        As those functions.
    """
    if is_zarr(path):
        return read_zarr(path)
    if Path(path).suffix.lower() in (".tif", ".tiff") and Path(path).is_file():
        with decoding(path, Path(path).suffix.lower()):
            return _open_tiff(path)
    return LazyImage(read_image(path, mmap=True))


def _open_tiff(path: str | os.PathLike) -> LazyImage:
    """A TIFF file's first image with ImageJ's or OME's axes and sizes, its header parsed once.

    An uncompressed, contiguous image is memory-mapped; a compressed or
    tiled one is read through tifffile's zarr store, strip by strip or tile
    by tile (read whole when zarr is not installed).
    """
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        check_one_series(tiff, path)
        layout = tiff_layout(tiff)
        array = tiff_memmap(tiff)
        if array is None:
            array = _tiff_zarr(tiff)
    return LazyImage(array, layout.axes, layout.scale, layout.unit, time_unit=layout.time_unit)


def _tiff_zarr(tiff):
    """The full resolution of an open ``tifffile.TiffFile`` as a read-only zarr array."""
    try:
        zarr = _zarr()
    except ImportError:
        return tiff.asarray()
    store = tiff.aszarr(level=0)  # reopens the file when the TiffFile is closed
    array = zarr.open(store, mode="r")
    weakref.finalize(array, store.close)  # the store keeps the file open while the array lives
    return array


def read_zarr(path: str | os.PathLike) -> LazyImage:
    """Open the zarr image at ``path`` for reading, without reading its pixels.

    Parameters
    ----------
    path : str or path-like
        A ``.zarr`` folder holding an array, an OME-Zarr multiscale group
        (its first dataset, the full resolution, is read), or a
        bioformats2raw store of one such image (its group ``0``).

    Returns
    -------
    LazyImage
        The array with the axes and pixel sizes its metadata gives.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a zarr store, or a group without multiscale metadata
        (a bioformats2raw store of one image is read as that image).
    """
    zarr = _zarr()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"zarr store {str(path)!r} does not exist.")
    try:
        node = zarr.open(str(path), mode="r")
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"could not open {str(path)!r} as a zarr store ({err}).") from err
    if isinstance(node, zarr.Array):
        return LazyImage(node)
    attributes = dict(node.attrs)
    multiscales = attributes.get("multiscales") or attributes.get("ome", {}).get("multiscales")
    if not multiscales and "bioformats2raw.layout" in attributes:
        return read_zarr(path / _bioformats_image(node, path))
    if not multiscales:
        names = sorted(name for name, _ in node.arrays())
        raise ValueError(
            f"{str(path)!r} is a zarr group without OME-Zarr multiscale metadata (arrays: "
            f"{names}); give the path of one array, e.g. {str(path / names[0])!r}."
            if names
            else f"{str(path)!r} is an empty zarr group; give a zarr array or an OME-Zarr image."
        )
    image = multiscales[0]
    level = image["datasets"][0]
    axes = [axis["name"] if isinstance(axis, dict) else axis for axis in image.get("axes", [])]
    letters = "".join(_OME_AXES.get(name.lower(), "") for name in axes)
    if len(letters) != len(axes) or not axes:  # an axis we do not know: let the caller say
        letters = None
    scale, translation = _placement(level, image)
    units = {
        axis["name"].lower(): axis["unit"]
        for axis in image.get("axes", [])
        if isinstance(axis, dict) and axis.get("unit") and isinstance(axis.get("name"), str)
    }
    unit = units.get("y") or units.get("x")
    return LazyImage(node[level["path"]], letters, scale, unit, translation, units.get("t"))


def _placement(level: dict, image: dict) -> tuple[tuple | None, tuple | None]:
    """The pixel size and first pixel's position of an OME-Zarr ``level`` of ``image``.

    The image's own coordinate transformations, where it has them, apply
    after the level's: the scales multiply, the level's translation is scaled
    by the image's and the image's added (OME-NGFF 0.4 and 0.5).
    """
    scale, translation = _transforms(level)
    outer_scale, outer_translation = _transforms(image)
    if outer_scale is not None:
        scale = tuple(np.multiply(scale or 1.0, outer_scale).tolist())
        if translation is not None:
            translation = tuple(np.multiply(translation, outer_scale).tolist())
    if outer_translation is not None:
        translation = tuple(np.add(translation or 0.0, outer_translation).tolist())
    return scale, translation


def _transforms(node: dict) -> tuple[tuple | None, tuple | None]:
    """The scale and the translation among the ``coordinateTransformations`` of ``node``."""
    scale = translation = None
    for transform in node.get("coordinateTransformations", []):
        if transform.get("type") == "scale":
            scale = tuple(float(value) for value in transform["scale"])
        elif transform.get("type") == "translation":
            translation = tuple(float(value) for value in transform["translation"])
    return scale, translation


def _bioformats_image(node, path: Path) -> str:
    """The path in ``node``, a bioformats2raw store's group at ``path``, of its one image.

    Its images are the groups its ``OME`` group's ``series`` lists, else the
    groups ``0``, ``1``... in turn.

    Raises
    ------
    ValueError
        If it holds several images (naming their paths) or none.
    """
    series = dict(node["OME"].attrs).get("series") if "OME" in node else None
    if series is None:
        series = []
        while str(len(series)) in node:
            series.append(str(len(series)))
    if len(series) == 1:
        return str(series[0])
    if not series:
        raise ValueError(
            f"{str(path)!r} is a bioformats2raw store without images (no group '0'); "
            "convert the file again, or give a zarr array or an OME-Zarr image."
        )
    raise ValueError(
        f"{str(path)!r} is a bioformats2raw store of {len(series)} images, in "
        f"{', '.join(repr(str(name)) for name in series)}; give the path of one, e.g. "
        f"{str(path / str(series[0]))!r}."
    )


def check_zarr_writable(path: str | os.PathLike) -> None:
    """Raise before a long computation if a zarr store cannot be written at ``path``.

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.zarr``, or it exists and is not a
        zarr store (a folder of other files is never replaced).
    FileNotFoundError
        If its folder does not exist.
    PermissionError
        If its folder does not take new files.
    """
    path = Path(path)
    if not is_zarr(path):
        raise ValueError(f"a zarr store's name ends in .zarr, got {str(path)!r}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of {str(path)!r} does not exist; create it first.")
    markers = (".zarray", ".zgroup", "zarr.json")
    if path.exists() and not any((path / marker).exists() for marker in markers):
        raise ValueError(
            f"{str(path)!r} exists and is not a zarr store; it would be replaced: choose "
            "another output path."
        )
    try:
        with tempfile.TemporaryDirectory(dir=path.parent):
            pass
    except OSError as err:
        raise PermissionError(
            err.errno,
            f"cannot write the zarr store {str(path)!r}: {str(path.parent)!r} does not take "
            f"new files ({err.strerror}); choose a folder you can write to.",
        ) from err


@contextlib.contextmanager
def atomic_zarr(
    path: str | os.PathLike,
    shape: Sequence[int],
    dtype=np.float32,
    *,
    chunks: Sequence[int],
    axes: str | None = None,
    scale: Sequence[float] | None = None,
    unit: str | None = None,
    translation: Sequence[float] | None = None,
    time_unit: str | None = None,
) -> Iterator[object]:
    """Yield a zarr array to fill; it becomes the store ``path`` only if the block succeeds.

    The array lives in a temporary store in ``path``'s folder; when the block
    ends normally, it is renamed to ``path`` (a previous store there is
    replaced); when it raises, the temporary store is removed and a previous
    store is left as it was. Chunks never filled read as zeros.

    Parameters
    ----------
    path : str or path-like
        Destination ending in ``.zarr``; ``.ome.zarr`` writes an OME-Zarr 0.4
        image of one level, with ``axes`` and ``scale`` in its metadata.
    shape : sequence of int
        Shape of the image, axes ``axes``.
    dtype : data-type
        Its dtype.
    chunks : sequence of int
        Chunk shape, one length per axis.
    axes : str, optional
        Axis letters (e.g. ``"ZYX"``); needed for ``.ome.zarr``.
    scale : sequence of float, optional
        Physical pixel size along each axis (OME-Zarr only; default 1).
    unit : str, optional
        The unit of the space axes' sizes (OME-Zarr only).
    translation : sequence of float, optional
        The first pixel's position along each axis (OME-Zarr only).
    time_unit : str, optional
        The unit of the time axis' step (OME-Zarr only).

    Raises
    ------
    ValueError, FileNotFoundError, PermissionError
        As :func:`check_zarr_writable`, or for ``.ome.zarr`` without ``axes``.
    """
    zarr = _zarr()
    path = Path(path)
    check_zarr_writable(path)
    ome = is_ome_zarr(path)
    if ome:
        check_ome_axes(axes, len(shape))
    chunks = tuple(max(1, min(int(c), int(n))) for c, n in zip(chunks, shape))
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        if ome:
            group = zarr.open_group(str(temporary), mode="w", zarr_format=2)
            # OME-NGFF 0.4 stores zarr v2 chunks in nested folders ("/")
            nested = {"name": "v2", "separator": "/"}
            array = group.create_array(
                "0", shape=tuple(shape), chunks=chunks, dtype=dtype, chunk_key_encoding=nested
            )
            scale = scale or (1.0,) * len(shape)
            units = {"space": unit, "time": time_unit}
            group.attrs["multiscales"] = [_multiscale(axes, scale, units, translation)]
        else:
            array = zarr.create_array(
                str(temporary), shape=tuple(shape), chunks=chunks, dtype=dtype, fill_value=0
            )
        yield array
        _replace_folder(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def check_ome_axes(axes: str | None, ndim: int) -> None:
    """Raise ``ValueError`` unless OME-NGFF 0.4 can describe an image of ``axes``.

    It holds 2 to 5 axes in the order time, then channel or one other kind
    (``S``), then space (``Z``, ``Y``, ``X``).
    """
    order = "TSCZYX"
    if axes is None or len(axes) != ndim:
        raise ValueError(f"an OME-Zarr image needs one axis letter per dimension, got {axes!r}.")
    in_order = "".join(a for a in order if a in axes)
    if axes != in_order or not 2 <= ndim <= 5 or {"S", "C"} <= set(axes):
        raise ValueError(
            f"OME-Zarr 0.4 holds up to 5 axes: time, then channel or S, then space (e.g. "
            f"'TCZYX'); {axes!r} does not fit: write a plain .zarr store instead, or give an "
            "input whose axes do."
        )


def _multiscale(
    axes: str, scale: Sequence[float], units: dict, translation: Sequence[float] | None
) -> dict:
    """OME-NGFF 0.4 metadata of a one-level image; ``units`` of the axis types ("space", "time")."""
    transforms = [{"type": "scale", "scale": list(scale)}]
    if translation is not None:
        transforms.append({"type": "translation", "translation": list(translation)})
    return {
        "version": "0.4",
        "axes": [
            {
                "name": letter.lower(),
                **({"type": _OME_TYPES[letter]} if letter in _OME_TYPES else {}),
                **_axis_unit(_OME_TYPES.get(letter), units),
            }
            for letter in axes
        ],
        "datasets": [{"path": "0", "coordinateTransformations": transforms}],
    }


def _axis_unit(kind: str | None, units: dict) -> dict:
    """The ``unit`` entry of an OME-NGFF axis of type ``kind`` ({} without one), in NGFF's names.

    ``units`` maps axis types ("space", "time") to units.
    """
    unit = units.get(kind)
    return {"unit": spell_unit(unit, kind, "ngff")} if unit else {}


def _replace_folder(source: Path, destination: Path) -> None:
    """Rename ``source`` to ``destination``, replacing a previous folder there.

    A folder cannot be renamed over a non-empty one: the old store is first
    moved aside, then removed once the new one is in place.
    """
    os.chmod(source, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the result from others
    if not destination.exists():
        os.replace(source, destination)
        return
    old = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.old."))
    os.replace(destination, old / destination.name)
    os.replace(source, destination)
    shutil.rmtree(old, ignore_errors=True)


#: Chunk side along Y and X of a result computed from an unchunked (NumPy, TIFF) image.
DEFAULT_CHUNK = 1024


def output_chunks(
    input_chunks: Sequence[int] | None, axes: str, shape: Sequence[int], factor: int = 1
) -> tuple[int, ...]:
    """The chunks of a result of ``shape`` and ``axes``, from an input chunked ``input_chunks``.

    Y and X chunks grow by the upscaling ``factor``; a channel axis is one
    chunk (a model may change the channel count); stack axes keep the
    input's. An unchunked input (None) gives one plane of
    :data:`DEFAULT_CHUNK` pixels a side per chunk.
    """
    if input_chunks is None:
        input_chunks = [DEFAULT_CHUNK if a in "YX" else 1 for a in axes]
        factor = 1
    chunks = []
    for letter, chunk, size in zip(axes, input_chunks, shape):
        if letter == "C":
            chunks.append(size)
        elif letter in "YX":
            chunks.append(chunk * factor)
        else:
            chunks.append(chunk)
    return tuple(chunks)


def read_as(image: LazyImage, axes: str) -> LazyImage:
    """``image`` read with ``axes``, which may name its axes otherwise than its metadata.

    Where an axis is named otherwise (``--axes TYX`` for a stored ``ZYX``),
    its stored size and position do not carry over (size 1, position 0):
    a Z spacing is no frame interval. The time unit goes with the T axis.
    """
    if image.axes is None or image.axes == axes:
        return image
    kept = [stored == given for stored, given in zip(image.axes, axes)]

    def carried(values, default):
        return None if values is None else tuple(v if k else default for v, k in zip(values, kept))

    time_unit = image.time_unit if "T" in axes and kept[axes.index("T")] else None
    return replace(
        image, axes=axes, scale=carried(image.scale, 1.0),
        translation=carried(image.translation, 0.0), time_unit=time_unit,
    )  # fmt: skip


def output_scale(
    scale: Sequence[float] | None, axes: str, factor: int = 1
) -> tuple[float, ...] | None:
    """Physical pixel sizes of a result upscaled ``factor`` times in Y and X (None stays None)."""
    if scale is None:
        return None
    return tuple(
        size / factor if a in "YX" else 1.0 if a == "C" else size for a, size in zip(axes, scale)
    )


def output_translation(
    translation: Sequence[float] | None, scale: Sequence[float] | None, axes: str, factor: int = 1
) -> tuple[float, ...] | None:
    """The first pixel's position in a result upscaled ``factor`` times in Y and X.

    Its pixels are ``factor`` times smaller, so the first one's centre lies
    ``(1 - 1 / factor) / 2`` of an input pixel before the input's: the result
    covers the input's area. An input without a translation has its first
    pixel's centre at 0: an upscaled result is shifted from there, and a
    result of the same grid (``factor`` 1) has none either (None).
    """
    if translation is None:
        if factor == 1:
            return None
        translation = (0.0,) * len(axes)
    scale = scale or (1.0,) * len(axes)
    return tuple(
        shift + size * (0.5 / factor - 0.5) if a in "YX" else shift
        for a, shift, size in zip(axes, translation, scale)
    )
