"""Latent codes: encode the frames of a stack, the tiles of an image or the objects of a labels image.

Every item becomes a square crop (C, S, S) of the model's input size S, is
normalised as the training data were, and goes through the network's encoder.

The encoder contract: the network has ``encode(x)`` mapping a batch
(B, C, S, S) to latent vectors (B, D). A variational network either has
``encode_mean(x)`` (used first) or returns ``(mean, log_variance)`` from
``encode``; its latent code is then the mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch
from skimage.measure import regionprops

from ..data.axes import STACK_AXES
from ..data.collection import DEFAULT_CACHE_MB, ImageCollection
from ..data.patches import check_image
from ..io.images import replacing
from ..progress import run
from ..model import TrainedModel
from ..nn.device import select_device

#: Items per forward pass of the encoder.
BATCH_SIZE = 256

#: What each kind of item is called, as the name of its index.
FRAMES, TILES, OBJECTS = "frame", "tile", "label"


@dataclass
class Encoding:
    """Latent codes of items and where the items came from.

    Parameters
    ----------
    latents : ndarray, shape (N, D)
        One latent vector per item (float32).
    index : ndarray, shape (N,)
        The frame number, tile number or object label of each item.
    centers : ndarray, shape (N, 2)
        Centre (Y, X) of each item in the pixels of its plane.
    kind : {"frame", "tile", "label"}
        What the items are.
    """

    latents: np.ndarray
    index: np.ndarray
    centers: np.ndarray
    kind: str


def check_encoder(model: TrainedModel) -> None:
    """Raise ``ValueError`` if ``model`` has no encoder to a flat latent vector."""
    if not callable(getattr(model.network, "encode", None)):
        raise ValueError(
            f"the {model.config.model.architecture!r} model has no encoder to a latent vector "
            "(it is a restoration network such as a U-Net denoiser); train an autoencoder with "
            "task 'reconstruct' and use that model."
        )


def latent_of(network: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Latent codes (B, D) of a normalised batch (B, C, S, S); the mean for a VAE."""
    if callable(getattr(network, "encode_mean", None)):
        return network.encode_mean(x)
    z = network.encode(x)
    return z[0] if isinstance(z, (tuple, list)) else z


def iter_encode(
    model: TrainedModel,
    crops,
    *,
    batch_size: int = BATCH_SIZE,
    device: str = "auto",
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Encode ``crops`` batch by batch, yielding ``(items done, items in all)``.

    Parameters
    ----------
    model : TrainedModel
        A model with an encoder (see the module's contract).
    crops : ndarray or FrameCrops, TileCrops, ObjectCrops, shape (N, C, S, S)
        Raw items; anything with ``len`` and slicing that returns such
        arrays, so that only a batch is read at a time.
    batch_size : int
        Items per forward pass.
    device : str
        Torch device, ``"auto"`` for the fastest available.

    Returns
    -------
    ndarray of float32, shape (N, D)
        The latent codes (the generator's value; :func:`run` gives it).
    """
    check_encoder(model)
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}; use e.g. 64.")
    torch_device = select_device(device)
    network = model.network_on(torch_device)
    total = len(crops)
    chunks = []
    for start in range(0, total, batch_size):
        batch = model.input_norm.normalize(np.asarray(crops[start : start + batch_size]))
        with torch.inference_mode():
            z = latent_of(network, torch.from_numpy(batch).to(torch_device))
        chunks.append(z.float().cpu().numpy())
        yield min(start + batch_size, total), total
    dim = model.config.model.latent_dim
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


# -- reading the items ------------------------------------------------------


def open_items(image, axes: str, *, cache_mb: float = DEFAULT_CACHE_MB) -> ImageCollection:
    """``image`` as a one-image :class:`.collection.ImageCollection`, its pixels left unread.

    Frames, tiles and objects are read from it batch by batch, so a zarr
    array, a dask array or a memory-mapped file is never read whole: the
    memory an encoding takes is bounded by the batch and the collection's
    cache of ``cache_mb`` megabytes, not by the image.

    Raises
    ------
    ValueError
        If ``axes`` do not fit the image, or it is empty or not numeric.
    """
    if not hasattr(image, "shape"):  # a list, say
        image = np.asarray(image)
    return ImageCollection([image], axes, cache_mb=cache_mb, names=["the image"])


class FrameCrops:
    """The frames (N, C, S, S) of a collection's image, read and checked batch by batch."""

    def __init__(self, collection: ImageCollection):
        self.view = collection.views[0]

    def __len__(self) -> int:
        return len(self.view)

    def __getitem__(self, items: slice) -> np.ndarray:
        start, stop, _ = items.indices(len(self))
        batch = self.view.read_planes(start, stop)
        check_image(batch, f"frames {start} to {stop - 1} of the image")
        return batch

    def take(self, items: np.ndarray) -> np.ndarray:
        """The frames ``items`` (n,), in that order."""
        return np.concatenate([self[item : item + 1] for item in items])


class _Crops:
    """Items read on demand: a slice of them is :meth:`take` of its indices."""

    def __getitem__(self, items: slice) -> np.ndarray:
        return self.take(np.arange(len(self))[items])


class TileCrops(_Crops):
    """The tiles at ``origins`` (T, 2) of a collection's one plane, read through its cache.

    Sliced, it gives float32 tiles (B, C, S, S).
    """

    def __init__(self, collection: ImageCollection, origins: np.ndarray, size: int):
        self.collection, self.origins, self.size = collection, origins, size

    def __len__(self) -> int:
        return len(self.origins)

    def take(self, items: np.ndarray) -> np.ndarray:
        """The tiles ``items`` (n,), in that order."""
        size = self.size
        tiles = [self.collection.read(0, int(y), int(x), size) for y, x in self.origins[items]]
        return np.stack(tiles) if tiles else np.empty((0, self.collection.channels, size, size), np.float32)


class ObjectCrops(_Crops):
    """Squares of side ``size`` centred on the objects of ``labels``, cut from a collection's plane.

    Only the crops asked for are read, through the collection's cache. Parts
    of a crop outside the plane, and with ``mask`` the pixels outside the
    object, take the plane's minimum (found block by block).

    Attributes
    ----------
    ids : ndarray of int, shape (N,)
        The label of each object, in increasing order.
    centers : ndarray, shape (N, 2)
        Centroid (Y, X) of each object.
    extents : ndarray of int, shape (N, 2)
        Height and width of each object's bounding box.
    """

    def __init__(self, collection: ImageCollection, labels: np.ndarray, size: int, *, mask: bool):
        regions = regionprops(labels)
        if not regions:
            raise ValueError("the labels image holds no objects (all zero); segment the image first.")
        self.collection, self.labels, self.size, self.mask = collection, labels, size, mask
        self.ids = np.array([region.label for region in regions])
        self.centers = np.array([region.centroid for region in regions])
        self.extents = np.array([np.subtract(r.bbox[2:], r.bbox[:2]) for r in regions])
        self.starts = np.rint(self.centers).astype(int) - size // 2  # top-left corners
        self.background = collection.minimum(0)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, items: np.ndarray) -> np.ndarray:
        """The crops (n, C, S, S) float32 of objects ``items`` (indices into :attr:`ids`)."""
        size = self.size
        crops = np.full((len(items), self.collection.channels, size, size), self.background, np.float32)
        height, width = self.labels.shape
        for crop, item in zip(crops, items):
            y, x = self.starts[item]
            y0, y1, x0, x1 = max(y, 0), min(y + size, height), max(x, 0), min(x + size, width)
            inside = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
            crop[(slice(None), *inside)] = self.collection.read_region(0, y0, y1, x0, x1)
            if self.mask:
                window = np.zeros((size, size), self.labels.dtype)
                window[inside] = self.labels[y0:y1, x0:x1]
                crop[:, window != self.ids[item]] = self.background
        return crops


# -- frames ------------------------------------------------------------------


def iter_encode_frames(
    model: TrainedModel, stack, *, axes: str = "SYX", cache_mb: float = DEFAULT_CACHE_MB, **options
) -> Generator[tuple[int, int], None, Encoding]:
    """Encode every frame of ``stack``; see :func:`iter_encode` for ``options``.

    Parameters
    ----------
    stack : ndarray or array-like
        Frames with axes ``axes`` (e.g. ``"SYX"``, ``"SYXC"``); each frame must
        have the model's input size. A zarr array, dask array or memory map
        is read batch by batch (:func:`open_items`).

    Returns
    -------
    Encoding
        Index: the frame number (stack axes flattened in C order).
    """
    check_encoder(model)
    frames = FrameCrops(open_items(stack, axes, cache_mb=cache_mb))
    _check_channels(model, frames.view.shape[1], axes)
    size = model.config.model.input_size
    height, width = frames.view.shape[-2:]
    if (height, width) != (size, size):
        raise ValueError(
            f"the frames are {height}x{width} pixels but the model takes "
            f"{size}x{size}; encode tiles or objects instead, or train a model on these frames."
        )
    latents = yield from iter_encode(model, frames, **options)
    centers = np.full((len(frames), 2), (size - 1) / 2)
    return Encoding(latents, np.arange(len(frames)), centers, FRAMES)


def encode_frames(model: TrainedModel, stack: np.ndarray, **options) -> Encoding:
    """Encode every frame of ``stack`` and return the :class:`Encoding`; see :func:`iter_encode_frames`."""
    return run(iter_encode_frames(model, stack, **options))


# -- tiles -------------------------------------------------------------------


def tile_origins(shape: tuple[int, int], size: int, stride: int) -> np.ndarray:
    """Top-left corners (T, 2) of a regular grid of ``size`` tiles, row by row.

    Raises
    ------
    ValueError
        If the stride is not positive or the plane ``shape`` (Y, X) is
        smaller than a tile.
    """
    if stride < 1:
        raise ValueError(f"the tile stride must be a positive number of pixels, got {stride}.")
    if min(shape) < size:
        raise ValueError(
            f"the image is {shape[0]}x{shape[1]} pixels, smaller than one {size}x{size} tile; "
            "use a larger image or a model with a smaller input."
        )
    ys, xs = (np.arange(0, side - size + 1, stride) for side in shape)
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)


def tile_grid_shape(shape: tuple[int, int], size: int, stride: int) -> tuple[int, int]:
    """Rows and columns of the tile grid :func:`tile_origins` makes."""
    return tuple((side - size) // stride + 1 for side in shape)


def iter_encode_tiles(
    model: TrainedModel,
    image,
    *,
    axes: str = "YX",
    stride: int | None = None,
    cache_mb: float = DEFAULT_CACHE_MB,
    **options,
) -> Generator[tuple[int, int], None, Encoding]:
    """Encode the tiles of a grid over one plane; tiles have the model's input size.

    Parameters
    ----------
    image : ndarray or array-like
        One plane with axes ``axes`` (``"YX"`` or ``"YXC"``); a zarr array,
        dask array or memory map is read tile by tile through a cache of
        ``cache_mb`` megabytes (:func:`open_items`).
    stride : int, optional
        Pixels between neighbouring tiles (default: the tile size, no overlap).

    Returns
    -------
    Encoding
        Index: the tile number, row by row over the grid of
        :func:`tile_grid_shape`.
    """
    check_encoder(model)
    collection = _one_plane(image, axes, cache_mb, "tiles")
    _check_channels(model, collection.channels, axes)
    size = model.config.model.input_size
    origins = tile_origins(collection.plane_shape(0)[1:], size, size if stride is None else stride)
    latents = yield from iter_encode(model, TileCrops(collection, origins, size), **options)
    return Encoding(latents, np.arange(len(origins)), origins + (size - 1) / 2, TILES)


def tile_map_placement(scale, translate, size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and translate (Y, X) of an image of one pixel per tile over the source image.

    Pixel (i, j) of that image lies at the centre of tile (i, j), and is one
    stride wide, given the source image's world ``scale`` and ``translate``.
    """
    scale, translate = np.asarray(scale, float), np.asarray(translate, float)
    return scale * stride, translate + scale * (size - 1) / 2


# -- one plane of a stack ----------------------------------------------------


def plane_at(image, axes: str, at: dict[str, int]) -> tuple[object, str]:
    """The plane of ``image`` at index ``at[a]`` of each stack axis ``a``, and its axes.

    Tiles and objects are cut from one plane. A zarr, dask or memory-mapped
    ``image`` is indexed, not read whole, where it allows.

    Parameters
    ----------
    image : ndarray or array-like
        An image with axes ``axes``, e.g. ``"TZYX"`` or ``"ZYXC"``.
    at : dict of str to int
        An index on every axis of ``axes`` but Y, X and C, e.g. ``{"Z": 3}``.

    Raises
    ------
    ValueError
        If ``at`` misses a stack axis or names another, or an index is out of range.
    """
    stack = [axis for axis in axes if axis in STACK_AXES]
    if sorted(at) != sorted(stack):
        raise ValueError(f"a plane of axes {axes!r} needs an index on {stack}, got {sorted(at)}.")
    for axis, index in at.items():
        length = image.shape[axes.index(axis)]
        if not 0 <= index < length:
            raise ValueError(f"{axis}={index} is outside the image's {length} planes along {axis}.")
    plane = image[tuple(at.get(axis, slice(None)) for axis in axes)]
    return plane, "".join(axis for axis in axes if axis not in at)


def flat_plane_index(shape, axes: str, plane: int) -> dict[str, int]:
    """The index on each stack axis of plane number ``plane``, counted in C order over them.

    Raises
    ------
    ValueError
        If the image has no stack axes, or ``plane`` is out of range.
    """
    stack = [axis for axis in axes if axis in STACK_AXES]
    sizes = [shape[axes.index(axis)] for axis in stack]
    if not stack:
        raise ValueError(f"axes {axes!r} are of one plane already; leave the plane out.")
    if not 0 <= plane < int(np.prod(sizes)):
        raise ValueError(f"plane {plane} is outside the {int(np.prod(sizes))} planes of axes {axes!r}.")
    return dict(zip(stack, (int(i) for i in np.unravel_index(plane, sizes))))


def labels_at(labels, at: dict[str, int], shape: tuple[int, ...], axes: str) -> np.ndarray:
    """The objects' labels of the plane at ``at`` of an image of ``shape`` and ``axes``, as an array.

    Labels of one plane (Y, X) serve every plane; labels of every plane
    (the image's stack axes of ``at``, in its order, then Y, X) are indexed
    at ``at`` before they are read, so a lazy stack of labels is read one
    plane (see :func:`plane_at`).

    Raises
    ------
    ValueError
        If labels of several planes do not have the image's stack shape.
    """
    if np.ndim(labels) <= 2 or not at:
        return np.asarray(labels)
    planes, stack_shape = tuple(np.shape(labels)[:-2]), tuple(shape[axes.index(a)] for a in at)
    if planes != stack_shape:
        raise ValueError(
            f"the labels hold planes {planes} where the image's stack is {stack_shape} (axes "
            f"{''.join(at)}); give the labels of one plane (Y, X) or of every plane."
        )
    return np.asarray(labels[tuple(at.values())])


# -- objects -----------------------------------------------------------------


def object_crops(
    image, labels, size: int, *, axes: str = "YX", mask: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a ``size`` square centred on every object of ``labels`` out of ``image``.

    Parts of a crop outside the image, and with ``mask`` the pixels outside
    the object, take the image's minimum. The crops also serve to train a
    ``reconstruct`` autoencoder on the objects (axes ``"SCYX"``).

    Parameters
    ----------
    image : ndarray or array-like
        One plane with axes ``axes`` (``"YX"`` or ``"YXC"``), read block by
        block (:func:`open_items`).
    labels : ndarray of int, shape (Y, X)
        Object labels, 0 for background; read whole.
    size : int
        Side of the crops (pixels).
    mask : bool
        Blank the pixels of other objects and background.

    Returns
    -------
    crops : ndarray of float32, shape (N, C, S, S)
        One crop per object, in the order of the labels.
    ids : ndarray of int, shape (N,)
        The label of each object.
    centers : ndarray, shape (N, 2)
        Centroid (Y, X) of each object.

    Raises
    ------
    ValueError
        If ``labels`` does not match the image's Y and X, holds no object,
        or is not an integer array.
    """
    objects = _objects(image, labels, size, axes=axes, mask=mask)
    return objects[:], objects.ids, objects.centers


def _objects(image, labels, size: int, *, axes: str, mask: bool, cache_mb: float = DEFAULT_CACHE_MB):
    """The :class:`ObjectCrops` of ``labels`` over the one plane of ``image``."""
    collection = _one_plane(image, axes, cache_mb, "objects")
    labels = check_labels(labels, collection.plane_shape(0)[1:])
    return ObjectCrops(collection, labels, size, mask=mask)


def iter_encode_objects(
    model: TrainedModel,
    image,
    labels: np.ndarray,
    *,
    axes: str = "YX",
    mask: bool = False,
    cache_mb: float = DEFAULT_CACHE_MB,
    **options,
) -> Generator[tuple[int, int], None, Encoding]:
    """Encode a crop of the model's input size around each object; see :func:`object_crops`.

    Only the labels are held whole (the objects' centroids need them); the
    crops are cut from ``image`` batch by batch.

    Returns
    -------
    Encoding
        Index: the object's label.
    """
    check_encoder(model)
    objects = _objects(image, labels, model.config.model.input_size, axes=axes, mask=mask,
                       cache_mb=cache_mb)  # fmt: skip
    _check_channels(model, objects.collection.channels, axes)
    _warn_if_larger(objects.extents, objects.size)
    latents = yield from iter_encode(model, objects, **options)
    return Encoding(latents, objects.ids, objects.centers, OBJECTS)


def _warn_if_larger(extents: np.ndarray, size: int) -> None:
    """Warn when objects of ``extents`` (N, 2) (height, width) overflow a crop of side ``size``.

    Their codes then describe the middle of them only, and the outline drawn
    for each is the crop, not the object.
    """
    larger = (extents > size).any(axis=1)
    if larger.any():
        height, width = extents[np.argmax(extents.max(axis=1))]
        warnings.warn(
            f"{larger.sum()} of {len(extents)} objects are larger than the model's "
            f"{size}x{size} crop (the largest {height}x{width} pixels): their codes describe "
            "only their middle; train on objects with a larger input size, or on a downscaled "
            "image.",
            stacklevel=3,
        )


# -- the items again ---------------------------------------------------------


def item_crops(
    encoding: Encoding,
    items: np.ndarray,
    image,
    *,
    axes: str,
    size: int,
    labels: np.ndarray | None = None,
    mask: bool = False,
) -> np.ndarray:
    """The pixels (n, C, S, S) of some encoded ``items`` (indices into the encoding), in that order.

    ``image``, ``axes``, ``size``, ``labels`` and ``mask`` are those the
    encoding was made with; frames come back whole. Only those items are read.
    """
    items = np.asarray(items, dtype=int)
    if encoding.kind == FRAMES:
        return FrameCrops(open_items(image, axes)).take(encoding.index[items])
    if encoding.kind == TILES:
        origins = np.rint(encoding.centers[items] - (size - 1) / 2).astype(int)
        return TileCrops(open_items(image, axes), origins, size)[:]
    objects = _objects(image, labels, size, axes=axes, mask=mask)
    return objects.take(np.searchsorted(objects.ids, encoding.index[items]))


# -- tables ------------------------------------------------------------------


def latent_table(encoding: Encoding, embedding: np.ndarray, clusters: np.ndarray) -> dict:
    """Columns of one row per item: where it is, ``z0..z{D-1}``, the 2D ``x``, ``y`` and ``cluster``.

    Returns
    -------
    dict of str to ndarray
        Column name to values (N,), in the order: ``index`` (the frame
        number, tile number or object label), ``center_y`` and ``center_x``
        (the item's centre in the pixels of its plane: a tile's middle, an
        object's centroid, a frame's middle), the codes, the projection and
        the cluster.
    """
    columns = {"index": encoding.index}
    columns.update(center_y=encoding.centers[:, 0], center_x=encoding.centers[:, 1])
    columns.update({f"z{d}": encoding.latents[:, d] for d in range(encoding.latents.shape[1])})
    columns.update(x=embedding[:, 0], y=embedding[:, 1], cluster=clusters)
    return columns


def write_csv(path, columns: dict) -> None:
    """Write :func:`latent_table` columns as a CSV file with a header row.

    The file is written under a temporary name and renamed when complete
    (:func:`~napari_autoencoders.core.io.images.replacing`), so a failure
    never leaves half a table over a previous one.
    """
    names = list(columns)
    integer = [np.issubdtype(np.asarray(columns[n]).dtype, np.integer) for n in names]
    table = np.column_stack([np.asarray(columns[n], float) for n in names])
    formats = ["%d" if is_int else "%.6g" for is_int in integer]
    with replacing(path) as temporary:
        np.savetxt(temporary, table, fmt=formats, delimiter=",", header=",".join(names), comments="")


# -- checks ------------------------------------------------------------------


def _check_channels(model: TrainedModel, channels: int, axes: str) -> None:
    """Raise ``ValueError`` unless items of ``channels`` channels (read with ``axes``) fit ``model``."""
    expected = model.config.model.in_channels
    if channels == expected:
        return
    if "C" in axes:  # the axes name a channel axis, maybe the wrong one
        advice = (
            f"axis C of the axes {axes!r} has {channels} values; check the axes (a stack of grey "
            "frames is 'SYX')"
        )
    else:
        advice = "choose another image or give its channel axis 'C' in the axes"
    raise ValueError(
        f"the model takes {expected}-channel images but the items have {channels}; {advice}."
    )


def _one_plane(image, axes: str, cache_mb: float, items: str) -> ImageCollection:
    """``image`` opened by :func:`open_items` after checking it is one plane to cut ``items`` from."""
    collection = open_items(image, axes, cache_mb=cache_mb)
    if len(collection) != 1:
        raise ValueError(
            f"{items} are cut from one plane but axes {axes!r} give {len(collection)}; choose "
            "one (--plane N on the command line; in napari, the plane the sliders show), or "
            "encode the frames themselves."
        )
    return collection


def check_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return ``labels`` as an array after checking it is integer, not negative, and of ``shape`` (Y, X)."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"the labels must be integers, got dtype {labels.dtype}; give a labels image.")
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"the labels hold negative ids (the lowest {labels.min()}); give each object a "
            "positive id and the background 0."
        )
    if labels.shape != tuple(shape):
        raise ValueError(
            f"the labels {labels.shape} do not match the image's Y and X {tuple(shape)}; "
            "choose the labels image segmented from this image."
        )
    return labels
