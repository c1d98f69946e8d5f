"""Reading and writing image files: TIFF, NumPy and PNG.

The format follows the file extension:

``.tif``, ``.tiff``
    any shape and dtype, through tifffile (read and write);
``.npy``
    any shape and dtype, through NumPy (read and write);
``.npz``
    read only: the array named ``images``, or the only array in the archive;
``.png``
    2D greyscale (Y, X) or colour (Y, X, 3|4) images of 8 or 16 bits.

Arrays keep their dtype and axis order; nothing here interprets axes.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .tiff import check_one_series

#: Extensions :func:`read_image` understands.
READ_FORMATS = (".tif", ".tiff", ".npy", ".npz", ".png")
#: Extensions :func:`write_image` understands.
WRITE_FORMATS = (".tif", ".tiff", ".npy", ".png")


def read_image(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Read the image stored at ``path``.

    Parameters
    ----------
    path : str or path-like
        A file whose extension is one of :data:`READ_FORMATS`.
    mmap : bool
        Map the file into memory instead of reading it, so that a large
        image stays on disk until its pixels are used. Applies to ``.npy``
        files and to uncompressed TIFF files; other files are read whole.

    Returns
    -------
    ndarray
        The stored array with its own shape and dtype (a ``numpy.memmap``
        when mapped).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If the extension is not supported, the file cannot be decoded, or
        it declares more data than it holds or than fits in memory.
    """
    path = Path(path)
    suffix = _suffix(path, READ_FORMATS, "read")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a file; give an image file.")
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist.")
    with decoding(path, suffix):
        return _READERS[suffix](path, mmap)


@contextlib.contextmanager
def decoding(path: str | os.PathLike, suffix: str) -> Iterator[None]:
    """Turn a decoder's errors while reading ``path`` into one-line ``ValueError``.

    Parameters
    ----------
    path : str or path-like
        The file being read, named in the message.
    suffix : str
        The format it is read as, e.g. ``".tif"``.
    """
    try:
        yield
    except MemoryError as err:
        raise ValueError(
            f"{str(path)!r} is too large to read into memory ({err}); read it memory-mapped "
            "or crop it."
        ) from err
    except Exception as err:  # a damaged file fails deep in a decoder, with any error
        # the decoders' messages can span lines; keep the first for a one-line error
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if not isinstance(err, (OSError, ValueError, EOFError)):  # KeyError: 'SizeZ' ...
            reason = f"{type(err).__name__}: {reason}" if reason else type(err).__name__
        raise ValueError(f"could not read {str(path)!r} as {suffix} ({reason}).") from err


def write_image(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` to ``path`` in the format its extension names; return the path.

    TIFF and NumPy files store the array exactly (TIFF viewers show an
    array whose last axis has 3 or 4 elements as colour). PNG stores 2D greyscale
    images (Y, X) and colour images (Y, X, 3) or (Y, X, 4):

    * uint8, and greyscale uint16, are written exactly;
    * other integers are written exactly when their values fit in 8 bits
      (16 bits for greyscale);
    * anything else, floating point data in particular, is min-max scaled
      to the full 16-bit range (8 bits for colour) with a warning, since the
      original intensities are lost; write a TIFF to keep them.

    The file is written under a temporary name in the same folder and
    renamed over ``path`` when complete (:func:`replacing`): a failed or
    interrupted write leaves any previous file at ``path`` as it was.

    Parameters
    ----------
    path : str or path-like
        Destination with an extension from :data:`WRITE_FORMATS`; its folder
        must exist. An existing file is replaced.
    array : ndarray
        The image.

    Raises
    ------
    ValueError
        If the extension is not supported, the array holds Python objects,
        or a PNG is asked for an array of another shape or with NaN or
        infinite values.
    FileNotFoundError
        If the destination folder does not exist.
    OSError
        If the disk is full or the folder cannot be written.
    """
    path = Path(path)
    array = np.asarray(array)
    suffix = check_writable(path, array.shape)
    if array.dtype.hasobject:
        raise ValueError(
            f"cannot write {str(path)!r}: the array holds Python objects, not numbers; "
            "convert it to a numeric dtype first."
        )
    with replacing(path) as temporary:
        _write(temporary, array, suffix)
    return path


def _write(path: Path, array: np.ndarray, suffix: str) -> None:
    """Write ``array`` to ``path`` in the format of ``suffix``, in place."""
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, array, photometric=_photometric(array.shape))
    elif suffix == ".npy":
        np.save(path, array, allow_pickle=False)
    else:
        import imageio.v3 as iio

        iio.imwrite(path, _png_ready(array), plugin="pillow", extension=".png")


def create_image(
    path: str | os.PathLike, shape: tuple[int, ...], dtype=np.float32, *, tiff: dict | None = None
):
    """Create the file for an image and return it mapped into memory for writing.

    Lets a large result be written piece by piece without ever being held
    in memory whole; ``write_image`` would store the same file. The file's
    disk space is reserved at once (:func:`preallocate`), so a full disk
    fails here with an ``OSError`` rather than later, mid-write, with a
    SIGBUS. The file is created at ``path`` itself; :func:`atomic_output`
    creates it under a temporary name and renames it when complete.

    Parameters
    ----------
    path : str or path-like
        Destination with an extension from :data:`WRITE_FORMATS`.
    shape : tuple of int
        Shape of the image, any axes.
    dtype : data-type
        Its dtype.
    tiff : dict, optional
        More ``tifffile`` options for a TIFF: its pixel sizes and axes
        (:func:`.tiff.writing_options`).

    Returns
    -------
    numpy.memmap or None
        The zero-filled file's pixels, for ``.npy`` and TIFF files; None for
        PNG, which cannot be written piece by piece (use :func:`write_image`).
        Call ``flush()`` on the map when done.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`check_writable`.
    OSError
        If the disk has no room for the whole file (which is then removed).
    """
    suffix = check_writable(path, shape)
    if suffix == ".npy":
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape))
    elif suffix in (".tif", ".tiff"):
        import tifffile

        photometric = _photometric(shape)
        array = tifffile.memmap(
            path, shape=tuple(shape), dtype=dtype, photometric=photometric, **(tiff or {})
        )
    else:
        return None
    try:
        preallocate(path)
    except OSError:
        del array
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return array


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, shape: tuple[int, ...], dtype=np.float32, *, tiff: dict | None = None
) -> Iterator[np.ndarray]:
    """Yield an array to fill; it becomes the file ``path`` only if the block succeeds.

    For ``.npy`` and TIFF files the array is a memory map of a temporary
    file in ``path``'s folder, with its disk space reserved up front
    (:func:`create_image`); for PNG an array in memory, written at the end.
    When the block ends normally the file is completed and renamed over
    ``path``; when it raises (an error, Ctrl-C) the temporary file is
    removed and a previous file at ``path`` is left as it was.

    >>> with atomic_output("result.tif", (512, 512)) as out:   # doctest: +SKIP
    ...     predict(model, image, out=out)

    Parameters
    ----------
    path : str or path-like
        Destination with an extension from :data:`WRITE_FORMATS`.
    shape : tuple of int
        Shape of the image, any axes.
    dtype : data-type
        Its dtype.
    tiff : dict, optional
        As :func:`create_image`.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`check_writable`, before any file is created.
    OSError
        If the disk has no room for the file.
    """
    suffix = check_writable(path, shape)
    with replacing(path) as temporary:
        if suffix == ".png":
            array = np.zeros(shape, dtype)
            yield array
            _write(temporary, array, suffix)
        else:
            array = create_image(temporary, shape, dtype, tiff=tiff)
            yield array
            array.flush()


def preallocate(path: str | os.PathLike) -> None:
    """Reserve the disk blocks of the whole file at ``path`` (a sparse file gets real blocks).

    A memory-mapped file created sparse gets its blocks only when written,
    and a full disk then kills the process with SIGBUS; reserving them first
    turns that into an ``OSError`` here. Does nothing where the system or
    the file system cannot reserve space.

    Raises
    ------
    OSError
        If the disk has no room for the file; the message gives its size.
    """
    if not hasattr(os, "posix_fallocate"):
        return
    size = os.path.getsize(path)
    handle = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(handle, 0, max(size, 1))
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            return  # this file system cannot reserve space: write as before
        raise OSError(
            err.errno,
            f"no room on the disk for {str(path)!r}, which needs {size / 1024**2:.1f} MiB "
            f"({err.strerror}); free some space or write elsewhere.",
        ) from err
    finally:
        os.close(handle)


def check_not_input(output: str | os.PathLike, *inputs: str | os.PathLike) -> None:
    """Raise ``ValueError`` if ``output`` is the same file as one of ``inputs``.

    Writing a result over its own input would destroy the input, often
    before it is read (a memory-mapped input reads as zeros once its file
    is truncated). Links and different spellings of one path are caught;
    inputs that do not exist are ignored.

    Parameters
    ----------
    output : str or path-like
        Where a result is to be written.
    *inputs : str or path-like
        The files it is computed from: images, models.
    """
    output = Path(output)
    for source in inputs:
        source = Path(source)
        same = output.resolve() == source.resolve()
        if not same and output.exists() and source.exists():
            same = os.path.samefile(output, source)
        if same:
            raise ValueError(
                f"the output {str(output)!r} is the input {str(source)!r}; writing it would "
                "destroy the input: choose another output path."
            )


def _photometric(shape: tuple[int, ...]) -> str:
    """TIFF colour interpretation: without it a stack of 3 or 4 planes would be one colour image."""
    return "rgb" if len(shape) >= 3 and shape[-1] in (3, 4) else "minisblack"


def check_destination(path: str | os.PathLike) -> None:
    """Raise unless a file can be created at ``path``: a name in a folder that exists.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a folder.
    FileNotFoundError
        If the destination folder does not exist.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder; give a file name.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of {str(path)!r} does not exist; create it first.")


def check_writable(path: str | os.PathLike, shape: tuple[int, ...]) -> str:
    """Check that an array of ``shape`` can be written to ``path``; return its extension.

    Lets a caller fail before a long computation rather than after it.

    Raises
    ------
    ValueError
        If the extension is not in :data:`WRITE_FORMATS`, or PNG is asked for
        a shape other than (Y, X), (Y, X, 3) or (Y, X, 4), or an empty one.
    FileNotFoundError
        If the destination folder does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    """
    path = Path(path)
    suffix = _suffix(path, WRITE_FORMATS, "write")
    check_destination(path)
    if suffix == ".png" and not (len(shape) == 2 or (len(shape) == 3 and shape[-1] in (3, 4))):
        raise ValueError(
            f"PNG holds a (Y, X) greyscale or (Y, X, 3|4) colour image, not shape {tuple(shape)}; "
            "write a .tif or .npy file instead."
        )
    if suffix == ".png" and 0 in tuple(shape):
        raise ValueError(
            f"a PNG cannot hold an empty image of shape {tuple(shape)}; write a .tif or .npy "
            "file instead."
        )
    return suffix


def _suffix(path: Path, formats: tuple[str, ...], verb: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in formats:
        raise ValueError(
            f"cannot {verb} {str(path)!r}: unknown extension {suffix or '(none)'!r}; "
            f"supported formats are {', '.join(formats)}."
        )
    return suffix


def _read_tiff(path: Path, mmap: bool) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tiff:  # the header is parsed once
        check_one_series(tiff, path)
        mapped = tiff_memmap(tiff) if mmap else None
        return tiff.asarray() if mapped is None else mapped  # a compressed or tiled one is read


def tiff_memmap(tiff) -> np.memmap | None:
    """The full-resolution pixels of an open ``tifffile.TiffFile``, memory-mapped.

    Returns
    -------
    numpy.memmap or None
        Read-only, with the first series' shape and dtype; None when its
        pixels are not stored contiguously and uncompressed.

    Raises
    ------
    ValueError
        If the file ends before the pixels its header declares.
    """
    series = tiff.series[0].levels[0]
    if series.dataoffset is None or series.dtype is None:
        return None
    dtype = np.dtype(tiff.byteorder + series.dtype.char)
    end = series.dataoffset + dtype.itemsize * math.prod(series.shape)
    if end > tiff.filehandle.size:
        raise ValueError(
            f"the file ends at byte {tiff.filehandle.size:,} where its header declares pixels "
            f"up to byte {end:,}; it may have been cut short"
        )
    return np.memmap(tiff.filehandle.path, dtype, "r", series.dataoffset, series.shape, "C")


def _read_npy(path: Path, mmap: bool) -> np.ndarray:
    _check_npy_size(path)
    # allow_pickle=False: a .npy file must never run code when loaded
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def _check_npy_size(path: Path) -> None:
    """Raise ``ValueError`` if a .npy header declares more data than the file holds.

    A 200-byte file can declare an array of 37 GiB; numpy would try to
    allocate it before finding the data missing.
    """
    formats = np.lib.format
    readers = {(1, 0): formats.read_array_header_1_0, (2, 0): formats.read_array_header_2_0}
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version not in readers:
            return  # np.load reads (or refuses) the rarer versions itself
        shape, _, dtype = readers[version](handle)
        header_end = handle.tell()
    if dtype.hasobject:
        return  # refused by np.load(allow_pickle=False) with its own message
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = path.stat().st_size - header_end
    if declared > held:
        raise ValueError(
            f"its header declares an array of shape {shape} and {dtype} "
            f"({declared / 1024**3:.3g} GiB) but the file holds only {held} bytes of data: "
            "it is truncated or corrupt"
        )


def _read_npz(path: Path, mmap: bool) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.keys())
        if "images" in names:
            return archive["images"]
        if len(names) == 1:
            return archive[names[0]]
    raise ValueError(f"the archive holds arrays {names}; name the image array 'images'")


def _read_png(path: Path, mmap: bool) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(path, plugin="pillow"))


_READERS = {
    ".tif": _read_tiff,
    ".tiff": _read_tiff,
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".png": _read_png,
}


def _png_ready(array: np.ndarray) -> np.ndarray:
    """Return ``array`` as uint8 or uint16 for PNG, scaling only when needed."""
    grey = array.ndim == 2
    if np.iscomplexobj(array):
        raise ValueError(
            "PNG cannot store complex values; write their magnitude (numpy.abs) or a .tif file."
        )
    if array.dtype == np.uint8 or (grey and array.dtype == np.uint16):
        return array
    if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        for dtype in (np.uint8, np.uint16) if grey else (np.uint8,):
            if 0 <= low and high <= np.iinfo(dtype).max:
                return array.astype(dtype)
    if not np.all(np.isfinite(array)):
        raise ValueError(
            "cannot write NaN or infinite values to PNG; write a .tif or .npy file instead."
        )
    dtype = np.uint16 if grey else np.uint8
    warnings.warn(
        f"PNG cannot store {array.dtype} values: the image was min-max scaled to "
        f"{np.dtype(dtype).name}; write a .tif file to keep its intensities.",
        UserWarning,
        stacklevel=3,
    )
    values = array.astype(np.float64)
    low, high = values.min(), values.max()
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.round(scaled * np.iinfo(dtype).max).astype(dtype)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed over it when the block succeeds.

    On an exception the temporary file is removed and ``path`` is untouched,
    so an interrupted or failed write never destroys a previous result. The
    temporary name starts with a dot and ends with ``path``'s extension
    (writers choose the format by it).

    Raises
    ------
    OSError
        If the folder does not exist or cannot be written.
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    os.close(handle)
    try:
        yield Path(name)
        os.chmod(name, 0o666 & ~_umask())  # mkstemp's 0600 would hide the result from others
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


@functools.cache
def _umask() -> int:
    """The process's file creation mask (read once: reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
