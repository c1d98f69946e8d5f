"""Latent codes: encode the frames of a stack, the tiles of an image or the objects of a labels image.

Every item becomes a square crop (C, S, S) of the model's input size S, is
normalised as the training data were, and goes through the network's encoder.

The encoder contract: the network has ``encode(x)`` mapping a batch
(B, C, S, S) to latent vectors (B, D). A variational network either has
``encode_mean(x)`` (used first) or returns ``(mean, log_variance)`` from
``encode``; its latent code is then the mean.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch
from skimage.measure import regionprops

from ..data.axes import to_planes
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
    crops : ndarray or TileCrops, shape (N, C, S, S)
        Raw items; anything with ``len`` and slicing that returns such arrays.
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


# -- frames ------------------------------------------------------------------


def iter_encode_frames(
    model: TrainedModel, stack: np.ndarray, *, axes: str = "SYX", **options
) -> Generator[tuple[int, int], None, Encoding]:
    """Encode every frame of ``stack``; see :func:`iter_encode` for ``options``.

    Parameters
    ----------
    stack : ndarray
        Frames with axes ``axes`` (e.g. ``"SYX"``, ``"SYXC"``); each frame must
        have the model's input size.

    Returns
    -------
    Encoding
        Index: the frame number (stack axes flattened in C order).
    """
    check_encoder(model)
    planes, _ = to_planes(stack, axes)
    _check_channels(model, planes)
    size = model.config.model.input_size
    if planes.shape[-2:] != (size, size):
        raise ValueError(
            f"the frames are {planes.shape[-2]}x{planes.shape[-1]} pixels but the model takes "
            f"{size}x{size}; encode tiles or objects instead, or train a model on these frames."
        )
    check_image(planes, "the image")
    latents = yield from iter_encode(model, planes, **options)
    centers = np.full((len(planes), 2), (size - 1) / 2)
    return Encoding(latents, np.arange(len(planes)), centers, FRAMES)


def encode_frames(model: TrainedModel, stack: np.ndarray, **options) -> Encoding:
    """Encode every frame of ``stack`` and return the :class:`Encoding`; see :func:`iter_encode_frames`."""
    return run(iter_encode_frames(model, stack, **options))


# -- tiles -------------------------------------------------------------------


class TileCrops:
    """The tiles of a plane (C, Y, X) at ``origins`` (T, 2), sliced lazily as (B, C, S, S)."""

    def __init__(self, plane: np.ndarray, origins: np.ndarray, size: int):
        self.plane, self.origins, self.size = plane, origins, size

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, items: slice) -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(self.plane, (self.size,) * 2, axis=(1, 2))
        y, x = self.origins[items].T
        return np.moveaxis(windows[:, y, x], 0, 1)  # (C, B, S, S) -> (B, C, S, S)


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
    model: TrainedModel, image: np.ndarray, *, axes: str = "YX", stride: int | None = None, **options
) -> Generator[tuple[int, int], None, Encoding]:
    """Encode the tiles of a grid over one plane; tiles have the model's input size.

    Parameters
    ----------
    image : ndarray
        One plane with axes ``axes`` (``"YX"`` or ``"YXC"``).
    stride : int, optional
        Pixels between neighbouring tiles (default: the tile size, no overlap).

    Returns
    -------
    Encoding
        Index: the tile number, row by row over the grid of
        :func:`tile_grid_shape`.
    """
    check_encoder(model)
    plane = _single_plane(model, image, axes)
    size = model.config.model.input_size
    origins = tile_origins(plane.shape[-2:], size, size if stride is None else stride)
    latents = yield from iter_encode(model, TileCrops(plane, origins, size), **options)
    return Encoding(latents, np.arange(len(origins)), origins + (size - 1) / 2, TILES)


def tile_map_placement(scale, translate, size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and translate (Y, X) of an image of one pixel per tile over the source image.

    Pixel (i, j) of that image lies at the centre of tile (i, j), and is one
    stride wide, given the source image's world ``scale`` and ``translate``.
    """
    scale, translate = np.asarray(scale, float), np.asarray(translate, float)
    return scale * stride, translate + scale * (size - 1) / 2


# -- objects -----------------------------------------------------------------


def object_crops(
    image: np.ndarray, labels: np.ndarray, size: int, *, axes: str = "YX", mask: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a ``size`` square centred on every object of ``labels`` out of ``image``.

    Parts of a crop outside the image, and with ``mask`` the pixels outside
    the object, take the image's minimum. The crops also serve to train a
    ``reconstruct`` autoencoder on the objects (axes ``"SCYX"``).

    Parameters
    ----------
    image : ndarray
        One plane with axes ``axes`` (``"YX"`` or ``"YXC"``).
    labels : ndarray of int, shape (Y, X)
        Object labels, 0 for background.
    size : int
        Side of the crops (pixels).
    mask : bool
        Blank the pixels of other objects and background.

    Returns
    -------
    crops : ndarray, shape (N, C, S, S)
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
    plane = to_planes(image, axes)[0]
    if plane.shape[0] != 1:
        raise ValueError(f"objects are cut from one plane, got {plane.shape[0]}; choose one frame.")
    plane = plane[0]
    check_image(plane, "the image")
    labels = check_labels(labels, plane.shape[-2:])
    regions = regionprops(labels)
    if not regions:
        raise ValueError("the labels image holds no objects (all zero); segment the image first.")
    ids = np.array([region.label for region in regions])
    centers = np.array([region.centroid for region in regions])
    background = plane.min()
    padded = np.pad(plane, ((0, 0), (size, size), (size, size)), constant_values=background)
    padded_labels = np.pad(labels, size) if mask else None
    starts = np.rint(centers).astype(int) - size // 2 + size
    crops = np.empty((len(ids), plane.shape[0], size, size), plane.dtype)
    for item, ((y, x), label) in enumerate(zip(starts, ids)):
        crops[item] = padded[:, y : y + size, x : x + size]
        if mask:
            outside = padded_labels[y : y + size, x : x + size] != label
            crops[item][:, outside] = background
    return crops, ids, centers


def iter_encode_objects(
    model: TrainedModel,
    image: np.ndarray,
    labels: np.ndarray,
    *,
    axes: str = "YX",
    mask: bool = False,
    **options,
) -> Generator[tuple[int, int], None, Encoding]:
    """Encode a crop of the model's input size around each object; see :func:`object_crops`.

    Returns
    -------
    Encoding
        Index: the object's label.
    """
    check_encoder(model)
    crops, ids, centers = object_crops(
        image, labels, model.config.model.input_size, axes=axes, mask=mask
    )
    _check_channels(model, crops)
    latents = yield from iter_encode(model, crops, **options)
    return Encoding(latents, ids, centers, OBJECTS)


# -- the items again ---------------------------------------------------------


def item_crops(
    encoding: Encoding,
    items: np.ndarray,
    image: np.ndarray,
    *,
    axes: str,
    size: int,
    labels: np.ndarray | None = None,
    mask: bool = False,
) -> np.ndarray:
    """The pixels (n, C, S, S) of some encoded ``items`` (indices into the encoding).

    ``image``, ``axes``, ``size``, ``labels`` and ``mask`` are those the
    encoding was made with; frames come back whole.
    """
    items = np.asarray(items, dtype=int)
    if encoding.kind == FRAMES:
        return to_planes(image, axes)[0][items]
    if encoding.kind == TILES:
        plane = to_planes(image, axes)[0][0]
        origins = np.rint(encoding.centers[items] - (size - 1) / 2).astype(int)
        return TileCrops(plane, origins, size)[:]
    lookup = np.zeros(int(labels.max()) + 1, bool)
    lookup[encoding.index[items]] = True
    chosen = np.where(lookup[labels], labels, 0)
    return object_crops(image, chosen, size, axes=axes, mask=mask)[0]


# -- tables ------------------------------------------------------------------


def latent_table(encoding: Encoding, embedding: np.ndarray, clusters: np.ndarray) -> dict:
    """Columns of one row per item: the index, ``z0..z{D-1}``, the 2D ``x``, ``y`` and ``cluster``.

    Returns
    -------
    dict of str to ndarray
        Column name to values (N,), in the order above; ``index`` is the
        frame number, tile number or object label.
    """
    columns = {"index": encoding.index}
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


def _check_channels(model: TrainedModel, planes: np.ndarray) -> None:
    expected = model.config.model.in_channels
    if planes.shape[1] != expected:
        raise ValueError(
            f"the model takes {expected}-channel images but the items have {planes.shape[1]}; "
            "choose another image or give its channel axis 'C' in the axes."
        )


def _single_plane(model: TrainedModel, image: np.ndarray, axes: str) -> np.ndarray:
    planes, _ = to_planes(image, axes)
    if planes.shape[0] != 1:
        raise ValueError(
            f"tiles are cut from one plane but axes {axes!r} give {planes.shape[0]}; choose "
            "one frame, or encode the frames themselves."
        )
    _check_channels(model, planes)
    check_image(planes, "the image")
    return planes[0]


def check_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return ``labels`` as an array after checking it is integer and of ``shape`` (Y, X)."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"the labels must be integers, got dtype {labels.dtype}; give a labels image.")
    if labels.shape != tuple(shape):
        raise ValueError(
            f"the labels {labels.shape} do not match the image's Y and X {tuple(shape)}; "
            "choose the labels image segmented from this image."
        )
    return labels
