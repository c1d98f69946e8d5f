"""Axis strings: turn any supported array into a stack of 2D planes or 3D volumes and back.

Axes are named by letters: ``Y`` and ``X`` (required), ``C`` for channels,
and ``S`` (samples), ``T`` (time) or ``Z`` (depth) for stack axes, which are
processed as independent 2D planes (:func:`to_planes`); a 3D network takes
``Z`` as a spatial axis instead and the others as a stack of volumes
(:func:`to_volumes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STACK_AXES = "STZ"
ALL_AXES = STACK_AXES + "CYX"


@dataclass(frozen=True)
class Layout:
    """How an array of axes ``axes`` and shape ``shape`` maps to (N, C, Y, X).

    With ``spatial`` ``"ZYX"`` it maps to volumes (N, C, Z, Y, X) instead.
    """

    axes: str
    shape: tuple[int, ...]
    spatial: str = "YX"

    @property
    def stack_axes(self) -> str:
        """Stack letters in the order they appear (the spatial ``Z`` of volumes excluded)."""
        return "".join(a for a in self.axes if a in STACK_AXES and a not in self.spatial)

    @property
    def channels(self) -> int:
        """Number of channels (1 without a ``C`` axis)."""
        return self.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def count(self) -> int:
        """Number of planes: the product of the stack axes' lengths (1 without any)."""
        return math.prod(self.shape[self.axes.index(a)] for a in self.stack_axes)

    @property
    def canonical(self) -> str:
        """The axes reordered as stacks, then ``C``, then the spatial axes."""
        return self.stack_axes + ("C" if "C" in self.axes else "") + self.spatial


def check_axes(axes: str, ndim: int, *, shape: Sequence[int] | None = None) -> str:
    """Return ``axes`` upper-cased after checking it fits an array of ``ndim``.

    The array's ``shape``, when given, makes the example in the message
    fit it: ``'YXC'`` for a (64, 64, 3) image, where ``ndim`` alone gives
    ``'SYX'``.

    Raises
    ------
    ValueError
        If a letter is unknown or repeated, ``Y`` or ``X`` is missing, the
        array has fewer than 2 dimensions, or the length differs from ``ndim``.
    """
    axes = axes.upper()
    unknown = set(axes) - set(ALL_AXES)
    if unknown:
        raise ValueError(
            f"axes {axes!r} has unknown letters {sorted(unknown)}; use letters from "
            f"{ALL_AXES!r}, e.g. 'YX', 'SYX' or 'YXC'."
        )
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes {axes!r} repeats a letter.")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} must contain both 'Y' and 'X'.")
    _check_dimensions(ndim)
    if len(axes) != ndim:
        hint = ""
        if ndim in (2, 3, 4):  # the dimensions default_axes guesses (it raises otherwise)
            hint = f", e.g. {default_axes(ndim) if shape is None else guess_axes(shape)!r}"
        raise ValueError(
            f"axes {axes!r} names {len(axes)} axes but the image has {ndim} dimensions; "
            f"give one letter per dimension{hint}."
        )
    return axes


def default_axes(ndim: int, *, rgb: bool = False) -> str:
    """Guess the axes of an array: ``YX``, ``SYX``, ``YXC`` (rgb) and so on.

    Raises
    ------
    ValueError
        For fewer than 2 dimensions (not an image), fewer than 3 with
        ``rgb``, or more than 4 (5 with ``rgb``): give the axes then.
    """
    _check_dimensions(ndim)
    if rgb:
        if ndim < 3:
            raise ValueError(
                f"a colour image has at least 3 dimensions (Y, X and C), but this one has "
                f"{ndim}; give a colour image, or use a model trained on grey images."
            )
        return default_axes(ndim - 1) + "C"
    guesses = {2: "YX", 3: "SYX", 4: "TZYX"}
    if ndim not in guesses:
        raise ValueError(
            f"cannot guess the axes of a {ndim}-dimensional image; give them, e.g. 'TZCYX'."
        )
    return guesses[ndim]


def guess_axes(shape: Sequence[int]) -> str:
    """Guess the axes of an array of ``shape``; a last axis of 3 or 4 in 3-D is RGB(A) colour."""
    rgb = len(shape) == 3 and shape[-1] in (3, 4)
    return default_axes(len(shape), rgb=rgb)


def as_volume_axes(axes: str) -> str:
    """``axes`` with the sample axis ``S`` read as depth ``Z``, unless they already have ``Z``.

    How a guess such as ``"SYX"`` becomes the axes of a volume for a 3D network.
    """
    return axes if "Z" in axes else axes.replace("S", "Z")


def _check_dimensions(ndim: int) -> None:
    """Raise ``ValueError`` for an array of fewer than 2 dimensions, which is no image."""
    if ndim < 2:
        what = "a single number" if ndim == 0 else "a line of values"
        raise ValueError(
            f"a {ndim}-D array ({what}) is not an image; give an array with at least the "
            "two dimensions Y and X."
        )


def channel_hint(shape: tuple[int, ...], axes: str) -> str:
    """A sentence suggesting ``C`` when the last axis, read as X, looks like channels.

    A (64, 64, 2) image read as ``"SYX"`` has planes of 64x2 pixels; this
    returns the advice to read it as ``"YXC"``, or ``""`` when nothing
    suggests it.
    """
    looks_like_channels = len(shape) == len(axes) >= 3 and 2 <= shape[-1] <= 4
    read_as_stack = "C" not in axes and axes[0] in STACK_AXES and axes.endswith("X")
    if not (looks_like_channels and read_as_stack):
        return ""
    suggestion = axes[1:] + "C"  # one stack axis fewer, the last axis as channels
    return (
        f" If the last axis ({shape[-1]} values) holds channels, give axes "
        f"{suggestion!r}."
    )


def to_planes(image: np.ndarray, axes: str) -> tuple[np.ndarray, Layout]:
    """View ``image`` as planes (N, C, Y, X) without copying when possible.

    Parameters
    ----------
    image : ndarray
        Array whose axes are named by ``axes``.
    axes : str
        E.g. ``"YX"``, ``"SYX"``, ``"TZYX"``, ``"YXC"``, ``"SCYX"``.

    Returns
    -------
    planes : ndarray, shape (N, C, Y, X)
        All stack axes flattened into N; dtype unchanged.
    layout : Layout
        What :func:`from_planes` needs to restore the original axes.

    Raises
    ------
    ValueError
        If ``axes`` does not fit the image (:func:`check_axes`) or the image
        has no pixels (an axis of length 0).
    """
    return _to_blocks(image, axes, "YX")


def to_volumes(image: np.ndarray, axes: str) -> tuple[np.ndarray, Layout]:
    """View ``image`` as volumes (N, C, Z, Y, X), for a 3D network.

    As :func:`to_planes`, with ``Z`` a spatial axis: ``"ZYX"`` gives one
    volume, ``"TZYX"`` one per time point, ``"CZYX"`` one of several
    channels. :func:`from_planes` restores the original axes.

    Raises
    ------
    ValueError
        As :func:`to_planes`, and if ``axes`` has no ``Z``.
    """
    if "Z" not in str(axes).upper():
        raise ValueError(
            f"a 3D network needs a Z axis, but the axes are {axes!r}; give axes with Z "
            "(e.g. 'ZYX' or 'TZYX'), or use a 2D model, which takes the planes one by one."
        )
    return _to_blocks(image, axes, "ZYX")


def _to_blocks(image: np.ndarray, axes: str, spatial: str) -> tuple[np.ndarray, Layout]:
    """View ``image`` as (N, C, *spatial), stacks flattened into N."""
    if not hasattr(image, "ndim"):  # a list, say
        image = np.asarray(image)
    axes = check_axes(axes, image.ndim)
    if 0 in image.shape:
        raise ValueError(
            f"the image is empty: its shape {tuple(image.shape)} (axes {axes!r}) has no "
            "pixels; give an image with at least one pixel along every axis."
        )
    layout = Layout(axes, tuple(image.shape), spatial)
    order = [axes.index(a) for a in layout.canonical]
    moved = np.transpose(image, order)
    if "C" not in axes:
        moved = np.expand_dims(moved, -len(spatial) - 1)
    return moved.reshape((-1,) + moved.shape[-len(spatial) - 1 :]), layout


def plane_view(image, axes: str):
    """Planes (N, C, Y, X) of ``image``, never a copy of it.

    A lazy array (zarr, dask) gives a :class:`PlaneView`; a NumPy array
    :func:`to_planes`' view where its stacks flatten without a copy, else a
    :class:`PlaneView`, read and written region by region: the stacks of
    ``"TCZYX"`` with several channels, reordered ``TZ``, do not, and a
    copy would load a memory-mapped file whole (or leave a caller's
    output unwritten).
    """
    axes = check_axes(axes, len(image.shape))
    if not isinstance(image, np.ndarray):
        return PlaneView(image, axes)
    layout = Layout(axes, tuple(image.shape))
    strides = [(image.shape[axes.index(a)], image.strides[axes.index(a)]) for a in layout.stack_axes]
    strides = [(size, stride) for size, stride in strides if size != 1]
    flat = all(outer == size * inner for (_, outer), (size, inner) in zip(strides, strides[1:]))
    if flat or 0 in image.shape:  # to_planes refuses an empty image
        return to_planes(image, axes)[0]
    return PlaneView(image, axes)


def from_planes(planes: np.ndarray, layout: Layout) -> np.ndarray:
    """Inverse of :func:`to_planes` and :func:`to_volumes`; Y and X may have changed size.

    Parameters
    ----------
    planes : ndarray, shape (N, C, Y', X') or (N, C, Z, Y', X')
        Processed planes (or volumes, for a layout of :func:`to_volumes`),
        in the order they were produced.
    layout : Layout
        The layout of the original array.
    """
    stack_shape = tuple(layout.shape[layout.axes.index(a)] for a in layout.stack_axes)
    channels = planes.shape[1]
    array = planes.reshape(stack_shape + planes.shape[1:])
    canonical = layout.canonical
    if "C" not in layout.axes:
        if channels != 1:
            raise ValueError(f"expected 1 channel for axes {layout.axes!r}, got {channels}.")
        array = np.squeeze(array, -len(layout.spatial) - 1)
        canonical = canonical.replace("C", "")
    order = [canonical.index(a) for a in layout.axes]
    return np.transpose(array, order)


def chunk_shape(array) -> tuple[int, ...] | None:
    """A zarr array's chunk shape, a dask array's largest chunk; None for an unchunked array."""
    chunks = getattr(array, "chunksize", None) or getattr(array, "chunks", None)  # dask, zarr
    if chunks is not None and all(isinstance(size, int) for size in chunks):
        return tuple(chunks)
    return None


class PlaneView:
    """Planes (N, C, Y, X) of a lazy array (zarr, dask), read and written one region at a time.

    :func:`to_planes` transposes and reshapes, which would load a zarr array
    whole; this view translates ``view[n][:, y0:y1, x0:x1]`` into the slice
    of the array's own axes instead, so only that region is read (or
    written).

    Parameters
    ----------
    array : array-like
        Any array with ``shape`` and basic slicing, axes ``axes``.
    axes : str
        Its axis letters, checked by :func:`check_axes`.
    """

    def __init__(self, array, axes: str):
        self.array = array
        self.layout = Layout(check_axes(axes, len(array.shape)), tuple(array.shape))
        stack = tuple(self.layout.shape[axes.upper().index(a)] for a in self.layout.stack_axes)
        self._stack_shape = stack
        height, width = (self.layout.shape[self.layout.axes.index(a)] for a in "YX")
        self.shape = (int(np.prod(stack, dtype=int)), self.layout.channels, height, width)
        self.dtype = getattr(array, "dtype", None)
        self.ndim = 4

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> _Plane:
        return _Plane(self, int(index))

    def read_planes(self, start: int, stop: int) -> np.ndarray:
        """Planes ``start`` to ``stop`` (excluded) as an array (n, C, Y, X), dtype kept.

        Neighbouring planes along the last stack axis are read as one slice
        of the array, so a zarr chunk holding several planes is decoded once
        per call rather than once per plane.
        """
        run = self._stack_shape[-1] if self._stack_shape else 1
        parts = []
        while start < stop:
            count = min(stop - start, run - start % run)
            parts.append(self._read_run(start, count))
            start += count
        return np.concatenate(parts) if parts else np.empty((0, *self.shape[1:]), self.dtype)

    def _read_run(self, index: int, count: int) -> np.ndarray:
        """``count`` planes from ``index`` on, all along the last stack axis, as (count, C, Y, X)."""
        key, kept = self._run_key(index, count, (slice(None),) * 3)
        values = np.asarray(self.array[key])
        if "N" not in kept:
            values, kept = values[np.newaxis], "N" + kept
        if "C" not in kept:
            values, kept = values[..., np.newaxis], kept + "C"
        return np.transpose(values, [kept.index(a) for a in "NCYX"])

    def write_run(self, index: int, values: np.ndarray, rows: slice) -> None:
        """Write ``values`` (n, C, rows, X) to rows ``rows`` of ``n`` planes from ``index`` on.

        The planes follow each other along the last stack axis (as in
        :meth:`read_planes`), so a zarr chunk spanning them is written once.
        """
        key, kept = self._run_key(index, len(values), (slice(None), rows, slice(None)))
        letters = "NCYX"
        if "N" not in kept:
            values, letters = values[0], "CYX"
        if "C" not in kept:
            values, letters = np.take(values, 0, axis=letters.index("C")), letters.replace("C", "")
        self.array[key] = np.transpose(values, [letters.index(a) for a in kept])

    def _run_key(self, index: int, count: int, region: tuple) -> tuple[tuple, str]:
        """The array's key for ``region`` of ``count`` planes from ``index`` on; the axes it leaves.

        The last stack axis, sliced over the run, is named ``N``.
        """
        key, kept = self._key(index, region)
        last = self.layout.stack_axes[-1:]  # "" without stack axes
        if last:
            at = self.layout.axes.index(last)
            key = key[:at] + (slice(key[at], key[at] + count),) + key[at + 1 :]
        kept = "".join("N" if a == last else a for a in self.layout.axes if a in kept or a == last)
        return key, kept

    def _key(self, index: int, region: tuple) -> tuple[tuple, str]:
        """The array's key for plane ``index``, ``region`` (C, Y, X); the axes it leaves."""
        stack = dict(zip(self.layout.stack_axes, np.unravel_index(index, self._stack_shape)))
        parts = dict(zip("CYX", region))
        key = tuple(int(stack[a]) if a in stack else parts[a] for a in self.layout.axes)
        return key, "".join(a for a in self.layout.axes if a not in stack)


class _Plane:
    """One plane (C, Y, X) of a :class:`PlaneView`."""

    ndim = 3

    def __init__(self, view: PlaneView, index: int):
        self._view, self._index = view, index
        self.shape = view.shape[1:]

    def __getitem__(self, region: tuple) -> np.ndarray:
        key, kept = self._view._key(self._index, region)
        values = np.asarray(self._view.array[key])
        if "C" not in kept:
            values, kept = values[np.newaxis], "C" + kept
        return np.transpose(values, [kept.index(a) for a in "CYX"])

    def __setitem__(self, region: tuple, values: np.ndarray) -> None:
        key, kept = self._view._key(self._index, region)
        if "C" not in kept:
            values = values[0]
        else:
            values = np.transpose(values, ["CYX".index(a) for a in kept])
        self._view.array[key] = values
