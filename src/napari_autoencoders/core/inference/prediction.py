"""Apply a trained model to images of any size, tile by tile."""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator, Iterator, Sequence

import numpy as np
import torch

from ..data.axes import (
    Layout, PlaneView, check_axes, chunk_shape, from_planes, plane_view, to_planes,
)
from ..data.canvas import canvas_mask, reflect_into
from ..data.chunks import ChunkCache, tile_capacity
from ..data.clipping import channel_levels
from ..data.correlation import phase_function
from ..data.defects import fill_defects, fill_fixed, fixed_defects, frames_mean
from ..config import LATENT_ARCHITECTURES, Architecture, Task
from ..data.patches import check_image
from ..data.stabilization import NoiseModel, declip_noise
from ..progress import checkpoint, run
from .tiling import check_tiling, fit_tile, iter_tiled, iter_tiled_volume, tiled_region
from ..model import TrainedModel
from ..nn.device import channels_last, select_device

#: Largest box (Z, Y, X) a 3D network predicts at once: a 32x128x128 box of a 32-wide U-Net
#: holds activations of about 64 MB per layer, where a 2D tile of 512x512 holds 32 MB.
VOLUME_TILE = (32, 128, 128)
#: Largest input, in values, that a denoising model averages over the 8 orientations by
#: default (a 2048x2048 plane): 8 times the computation is seconds there, minutes on a stack.
ENSEMBLE_VALUES = 2**22


def iter_predict(
    model: TrainedModel,
    image: np.ndarray,
    *,
    axes: str | None = None,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 1,
    device: str = "auto",
    out: np.ndarray | None = None,
    ensemble: bool | None = None,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Apply ``model`` to ``image``, yielding ``(tiles done, tiles in all)``.

    Each plane is normalised as the training data was, cut into overlapping
    tiles that are blended smoothly, and mapped back to the units of the
    training targets. A super-resolution model's tiles are stitched on the
    grid ``factor`` times finer.

    Parameters
    ----------
    model : TrainedModel
        The trained network and its normalisation.
    image : ndarray or array-like
        Image with axes ``axes`` (default: the axes the model was trained on);
        it is read tile by tile, so a memory-mapped array stays on disk, and
        a zarr or dask array is never loaded whole (its values are checked
        tile by tile, as they are read). A zarr array's chunks are decoded
        into a cache of the chunks under one row of tiles
        (:func:`~..data.chunks.tile_capacity`), each about once: planes
        that share chunks (a stack chunked along its last stack axis) are
        tiled side by side (:func:`_planes_side_by_side`).
    tile, overlap : int
        Largest tile side and overlap between neighbouring tiles, in pixels;
        tiles shrink to share the image evenly (:func:`~.tiling.fit_tile`). A
        dense autoencoder or a VAE always uses tiles of its input size.
    batch_size : int
        Tiles per forward pass. A 512-pixel tile already keeps a CPU busy;
        more tiles per pass only raise the memory used.
    device : str
        Torch device, ``"auto"`` for the fastest available.
    out : ndarray or array-like, optional
        Destination with the shape and axes of the result, e.g. a memory-mapped
        file from ``numpy.lib.format.open_memmap`` or a zarr array: rows are
        written into it as the tiles finish, so the result never has to fit
        in memory.
    ensemble : bool, optional
        Average the predictions of the 8 rotations and flips of each tile
        (:func:`symmetry_mean`), for 8 times the computation. By default
        as :func:`default_ensemble` decides: for super-resolution models,
        and for 2D denoising models on images of up to :data:`ENSEMBLE_VALUES`.
        A 3D model predicts each box in one orientation.

    Returns
    -------
    ndarray of float32
        The prediction, same shape and axes as ``image`` except Y and X
        multiplied by the model's ``factor`` (``out`` if given; returned as
        the generator's value; :func:`predict` gives it directly).

    Raises
    ------
    ValueError
        If ``tile``, ``overlap`` or ``batch_size`` are unusable
        (:func:`~.tiling.check_tiling`), the image's axes or channels do not
        fit the model, or it holds NaN or infinite values; all checked
        before anything is computed or written to ``out``, except the values
        of a lazy input (zarr, dask), checked as its tiles are read: ``out``
        may then be written up to the tile that holds one, which the message
        names (its plane and its position Y, X).

    Notes
    -----
    The network runs in float32 on every device: the bfloat16 autocast that
    speeds up training on a GPU would round the results to about 8 bits.

    A model that replaces a camera's defective pixels (one started from the
    prior) also replaces, in every plane, those that the planes share
    (:func:`shared_defects`; a lazy input is read once more for them).

    A denoising model predicts each tile with the content mirrored into its
    canvas, and the canvas is kept as it was (:func:`_canvas_kept`).

    A 3D model (``spatial_dims`` 3) takes the image as volumes (``Z`` a
    spatial axis, see :func:`~.axes.to_volumes`), cut into overlapping boxes
    of at most :data:`VOLUME_TILE` (``tile`` caps their Y and X) blended in
    Z, Y and X; each volume is read whole and ``out`` written once it is done.
    """
    check_tiling(tile, overlap, batch_size)
    axes = check_input(model, image, axes)
    if model.config.model.spatial_dims == 3:
        options = {"tile": tile, "overlap": overlap, "batch_size": batch_size, "device": device}
        return (yield from _iter_predict_volumes(model, image, axes, out=out, **options))
    lazy = not isinstance(image, np.ndarray)
    layout = Layout(axes, tuple(image.shape))
    tile, overlap = _model_tiles(model, _plane_yx(image, axes), tile, overlap)
    factor = model.config.model.factor
    chunks = None if isinstance(out, np.ndarray) else chunk_shape(out)
    in_chunks = chunk_shape(image) if lazy and has_regular_chunks(image) else None  # cached
    width = image.shape[axes.index("X")]
    plane = (model.config.model.out_channels, width * factor)  # an output row: (C, X)
    depth = _planes_side_by_side(in_chunks, chunks, axes, plane=plane, tile=tile, factor=factor)
    if lazy:  # a chunked input's chunks are decoded once per row of tiles, not once per tile
        image = _cached(image, axes, tile=int(np.max(tile)), width=width, planes=depth)
    planes = plane_view(image, axes)  # a memmap stays on disk, a lazy input is read by regions
    ensemble = default_ensemble(model, image.shape) if ensemble is None else ensemble
    forward = _forward(model, select_device(device), ensemble=ensemble)
    height, width = planes.shape[-2:]
    shape = (planes.shape[0], model.config.model.out_channels, height * factor, width * factor)
    out_planes = np.empty(shape, np.float32) if out is None else _out_planes(out, layout, shape)
    count = planes.shape[0]
    fixed = _defect_map(_shared_in(model, planes), planes.shape[1:])  # a lazy input: read once more
    stack_shape = tuple(image.shape[axes.index(a)] for a in layout.stack_axes)

    def tiling(index: int, rows: _ChunkRows | None):
        target = out_planes[index] if rows is None else rows.plane(index)
        plane = planes[index] if fixed is None else _Refilled(planes[index], fixed)
        if lazy:  # its values as its tiles are read
            plane = _Checked(plane, layout.stack_axes, np.unravel_index(index, stack_shape))
        options = {"tile": tile, "overlap": overlap, "scale": factor, "batch_size": batch_size}
        return iter_tiled(forward, plane, out=target, **options)

    chunk_rows = None if chunks is None else chunks[axes.index("Y")]
    finished = 0
    for group in _plane_groups(stack_shape, depth):
        rows = None if chunks is None else _ChunkRows(out_planes, group, chunk_rows)
        for done, total in _in_step([tiling(index, rows) for index in group]):
            yield finished * total + done, count * total
        finished += len(group)
    return from_planes(out_planes, layout) if out is None else out


#: Memory that the tilings of planes predicted side by side may take (their bands).
SIDE_BY_SIDE_BYTES = 256 * 2**20


def _planes_side_by_side(in_chunks, out_chunks, axes: str, *, plane, tile, factor: int) -> int:
    """How many planes to tile side by side: those that a chunk of the input or output spans.

    A stack chunked along its last stack axis (e.g. 16 planes of Z per
    chunk) holds parts of several planes in each chunk; tiled one after the
    other, each plane would decode the input's chunk again, and write the
    output's again. Side by side, row by row, they read it once from the
    cache and write it once (:class:`_ChunkRows`). Their bands and the up to
    two rows of output chunks they gather stay within
    :data:`SIDE_BY_SIDE_BYTES`; where that cuts them, to a divisor of the
    chunks' depth, so that runs of planes never straddle a chunk.

    Parameters
    ----------
    in_chunks, out_chunks : tuple of int or None
        The chunks of the input (None unless it is read through a cache) and
        of the output (None unless it is chunked); axes ``axes``.
    plane : (int, int)
        The channels and the width of an output row.
    tile, factor
        The tile side and the upscaling factor.
    """
    deepest = max(_chunk_depth(in_chunks, axes), _chunk_depth(out_chunks, axes))
    channels, width = plane
    band = 4 * (channels + 1) * int(np.max(tile)) * factor * width  # sums and weights
    rows = 2 * 4 * channels * (out_chunks[axes.index("Y")] if out_chunks else 0) * width
    most = max(1, SIDE_BY_SIDE_BYTES // (band + rows))
    return max(depth for depth in range(1, min(deepest, most) + 1) if deepest % depth == 0)


def _chunk_depth(chunks, axes: str) -> int:
    """Planes that one chunk of ``chunks`` (axes ``axes``) spans along the last stack axis."""
    stack = Layout(axes, (1,) * len(axes)).stack_axes
    return chunks[axes.index(stack[-1])] if chunks and stack else 1


def _plane_groups(stack_shape: tuple[int, ...], depth: int) -> Iterator[range]:
    """Indices of the planes of a stack ``stack_shape``, in runs of ``depth`` along its last axis.

    The runs start at multiples of ``depth`` (a chunk's first plane) and
    never cross into the next position of the other stack axes.
    """
    last = stack_shape[-1] if stack_shape else 1
    for outer in range(0, int(np.prod(stack_shape, dtype=int)), last):
        for start in range(0, last, depth):
            yield range(outer + start, outer + min(start + depth, last))


def _in_step(tilings: list) -> Iterator[tuple[int, int]]:
    """Advance tilings of planes of one shape a batch each in turn: (tiles done in all, tiles a plane).

    Planes of one shape are cut into the same tiles, so the tilings read the
    same rows of the input at the same time.
    """
    done = [0] * len(tilings)
    running = list(range(len(tilings)))
    while running:
        for index in list(running):
            try:
                done[index], total = next(tilings[index])
            except StopIteration:
                running.remove(index)
                continue
            yield sum(done), total


def _iter_predict_volumes(model, image, axes, *, tile, overlap, batch_size, device, out):
    """:func:`iter_predict` of a 3D model: volumes (C, Z, Y, X) one by one, box by box.

    Each volume is read, predicted and written to ``out`` before the next is
    read; a lazy input's volume is checked for NaN or infinite values as it is read.
    """
    shape = output_shape(model, tuple(image.shape), axes)
    if out is not None and tuple(np.shape(out)) != shape:
        raise ValueError(
            f"out must have the result's shape {shape} (axes {axes!r}), got "
            f"{np.shape(out)}; allocate it with that shape."
        )
    out = np.empty(shape, np.float32) if out is None else out
    layout = Layout(axes, tuple(image.shape), "ZYX")
    multiple = 2**model.config.model.depth
    caps = (VOLUME_TILE[0], min(tile, VOLUME_TILE[1]), min(tile, VOLUME_TILE[2]))
    overlaps = tuple(min(overlap, cap // 4) for cap in caps)
    boxes = tuple(
        fit_tile(image.shape[axes.index(a)], cap, lap, multiple)
        for a, cap, lap in zip("ZYX", caps, overlaps)
    )
    forward = _forward(model, select_device(device))
    count, channels = layout.count, model.config.model.out_channels
    for index, (key, where) in enumerate(_volume_keys(layout)):
        kept = "".join(a for a, k in zip(axes, key) if not isinstance(k, int))  # C?, Z, Y, X
        volume = _read_volume(image, key, kept)
        if not isinstance(image, np.ndarray):  # a lazy input's values, as each volume is read
            check_image(volume, f"the input image's volume{where}")
        result = np.empty((channels, *volume.shape[1:]), np.float32)
        steps = iter_tiled_volume(
            forward, volume, tile=boxes, overlap=overlaps, batch_size=batch_size, out=result
        )
        for done, total in steps:
            yield index * total + done, count * total
        if "C" not in kept:
            result = result[0]
        out[key] = np.transpose(result, ["CZYX".index(a) - ("C" not in kept) for a in kept])
    return out


def _volume_keys(layout: Layout):
    """The key of each volume of ``layout`` (spatial ZYX) in its array, in :func:`~.axes.to_volumes`' order.

    Yields ``(key, where)``: ints on the stack axes, whole slices on the
    others; ``where`` names the stack position for a message (``" T=1"``).
    """
    stack = layout.stack_axes
    sizes = [layout.shape[layout.axes.index(a)] for a in stack]
    for position in itertools.product(*map(range, sizes)):
        at = dict(zip(stack, position))
        key = tuple(at.get(a, slice(None)) for a in layout.axes)
        yield key, "".join(f" {a}={i}" for a, i in at.items())


def _read_volume(image, key: tuple, kept: str) -> np.ndarray:
    """The volume (C, Z, Y, X) of ``image`` at ``key`` of :func:`_volume_keys`, which leaves axes ``kept``."""
    values = np.asarray(image[key])
    if "C" not in kept:
        values, kept = values[np.newaxis], "C" + kept
    return np.transpose(values, [kept.index(a) for a in "CZYX"])


def check_blockwise(model: TrainedModel) -> None:
    """Raise ``ValueError`` if ``model`` cannot predict a block apart (:func:`predict_block`).

    A 3D model's boxes reach across planes, which the blocks of a cluster's
    prediction do not share; it predicts each volume whole instead.
    """
    if model.config.model.spatial_dims == 3:
        raise ValueError(
            "a 3D model predicts whole volumes, not blocks on a cluster's workers; apply it "
            "without --workers or --scheduler (or use a 2D model)."
        )


def _model_tiles(model: TrainedModel, shape_yx, tile: int, overlap: int):
    """The tile and overlap ``model`` uses on (Y, X) planes ``shape_yx``, asked for ``tile``.

    Shared by :func:`iter_predict` and :func:`predict_block`, whose tiles must be the same.
    """
    if model.config.model.architecture in LATENT_ARCHITECTURES:  # fixed input size
        tile = model.config.model.input_size
        return tile, min(overlap, tile // 2)
    # even tiles, whole multiples of the UNet's downsampling: the least compute
    multiple = 2**model.config.model.depth
    return tuple(fit_tile(size, tile, overlap, multiple) for size in shape_yx), overlap


def predict_block(
    model: TrainedModel,
    image,
    location: Sequence[tuple[int, int]],
    *,
    axes: str,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 1,
    device: str = "auto",
    ensemble: bool | None = None,
    defects: np.ndarray | None = None,
) -> np.ndarray:
    """One block of :func:`predict`'s result, computed from the tiles that touch it alone.

    The tiles, their blending and their order are those of the whole
    image's prediction (:func:`~.tiling.tiled_region`), so blocks computed
    apart, e.g. by the workers of a dask cluster, fit together into the
    result of :func:`predict` (to floating-point tolerance: only the batches
    of tiles differ).

    Parameters
    ----------
    model : TrainedModel
        The trained network and its normalisation.
    image : array-like
        The whole input, axes ``axes``, read tile by tile (numpy, memmap, zarr, dask).
    location : sequence of (int, int)
        ``(start, stop)`` of the block along each axis of the result (axes
        ``axes``; Y and X on the grid ``factor`` times finer).
    axes : str
        The axes of ``image`` and of the result.
    tile, overlap, batch_size, device, ensemble
        As :func:`iter_predict`; the default ensemble is decided on the whole
        image, so that all blocks agree.
    defects : ndarray of int, shape (K, 3), optional
        :func:`shared_defects` of the whole image, found once by the caller
        (a block does not read every plane): replaced in each plane as
        :func:`iter_predict` replaces them. Without them a block of a stack
        whose planes share defective pixels differs from :func:`predict`'s.

    Returns
    -------
    ndarray of float32
        The block, axes ``axes``, of shape ``stop - start`` along each axis.

    Raises
    ------
    ValueError
        As :func:`iter_predict`; only the tiles this block reads are checked
        for NaN or infinite values.
    """
    check_tiling(tile, overlap, batch_size)
    check_blockwise(model)
    axes = check_input(model, image, axes, scan=False)  # not the whole image for each block
    tile, overlap = _model_tiles(model, _plane_yx(image, axes), tile, overlap)
    factor = model.config.model.factor
    start, stop = location[axes.index("X")]
    span = math.ceil((stop - start) / factor) + 2 * int(np.max(tile))  # the block's tiles' columns
    rows = _block_rows(image, axes, location, tile=int(np.max(tile)), factor=factor, width=span)
    planes = PlaneView(_cached(image, axes, tile=rows, width=span), axes)
    ensemble = default_ensemble(model, image.shape) if ensemble is None else ensemble
    forward = _forward(model, select_device(device), ensemble=ensemble)
    block = np.empty(tuple(stop - start for start, stop in location), np.float32)
    spans = dict(zip(axes, location))
    out = PlaneView(block, axes)
    stack_axes = out.layout.stack_axes
    stack_shape = tuple(image.shape[axes.index(a)] for a in stack_axes)
    channels = slice(*spans["C"]) if "C" in axes else slice(None)
    fixed = None if defects is None else _defect_map(defects, planes.shape[1:])
    for local, position in enumerate(itertools.product(*(range(*spans[a]) for a in stack_axes))):
        index = int(np.ravel_multi_index(position, stack_shape)) if stack_axes else 0
        plane = planes[index] if fixed is None else _Refilled(planes[index], fixed)
        out[local][:, :, :] = tiled_region(
            forward,
            _Checked(plane, stack_axes, position),
            (spans["Y"], spans["X"]),
            tile=tile,
            overlap=overlap,
            scale=model.config.model.factor,
            batch_size=batch_size,
        )[channels]
    return block


def _block_rows(image, axes: str, location, *, tile: int, factor: int, width: int) -> int:
    """The rows of input a block's cache holds: a row of tiles, or all its tiles' rows.

    Where a chunk spans several of the block's planes, the next plane reads
    the same chunks: the cache then holds those under all the block's
    tiles, if they fit in :data:`SIDE_BY_SIDE_BYTES`.
    """
    depth = _chunk_depth(chunk_shape(image), axes)
    stack = Layout(axes, tuple(image.shape)).stack_axes
    start, stop = location[axes.index(stack[-1])] if stack else (0, 1)
    if depth == 1 or stop - start == 1:
        return tile
    top, bottom = location[axes.index("Y")]
    rows = math.ceil((bottom - top) / factor) + 2 * tile
    channels = image.shape[axes.index("C")] if "C" in axes else 1
    held = (rows + tile) * (width + tile) * depth * channels * np.dtype(image.dtype).itemsize
    return rows if held <= SIDE_BY_SIDE_BYTES else tile


def _plane_yx(image, axes: str) -> tuple[int, int]:
    """(Y, X) size of the planes of ``image`` of ``axes``."""
    return tuple(image.shape[axes.index(a)] for a in "YX")


def _cached(image, axes: str, *, tile: int, width: int, planes: int = 1):
    """``image`` read through a :class:`.chunks.ChunkCache` of one row of tiles, if chunked.

    A NumPy array needs no decoding and is returned as it is, and so is a
    dask array of irregular chunks; a regular dask array is cached too, as
    each tile computed its chunks anew (144 computes of 4 chunks, for a
    128x128 image in chunks of 64 and tiles of 16). The row is that of
    ``planes`` planes tiled side by side (:func:`_planes_side_by_side`): the
    chunks of as many layers along the last stack axis as they cover.
    """
    chunks = chunk_shape(image)
    if chunks is None or isinstance(image, np.ndarray) or not has_regular_chunks(image):
        return image
    depth = _chunk_depth(chunks, axes)
    layers = -(-planes // depth) + (planes % depth != 0 and depth % planes != 0)
    capacity = tile_capacity(image.shape, chunks, axes, tile=tile, width=width) * layers
    return ChunkCache(image, chunks, capacity)


def has_regular_chunks(image) -> bool:
    """Whether every chunk of ``image`` but the last along each axis has the chunk shape (zarr: always)."""
    blocks = getattr(image, "dask", None) is not None and image.chunks
    if not blocks:
        return True
    return all(all(size == sizes[0] for size in sizes[:-1]) for sizes in blocks)


class _ChunkRows:
    """Planes (C, Y, X) of a chunked output (zarr), written one whole row of chunks at a time.

    :func:`~.tiling.iter_tiled` writes each band of finished rows, in order,
    across the full width; a zarr store would read, update and compress again
    every chunk a band touches, once per band (17 times for chunks of 4096
    rows and tiles of 256), and a chunk spanning several planes once per
    plane. Rows are gathered here until a row of chunks is complete in every
    plane of the run: memory grows by about a chunk's height across the
    width per plane, never by the image's height.

    Parameters
    ----------
    view : PlaneView
        The output's planes.
    run : range
        Indices of the planes tiled side by side, along the last stack axis.
    rows : int
        The output's chunk height.
    """

    def __init__(self, view, run: range, rows: int):
        self.view, self.run, self.rows = view, run, rows
        self._pending: dict[int, list] = {}  # row of chunks: [(n, C, rows, X) buffer, rows filled]

    def plane(self, index: int) -> _RunPlane:
        """The writable plane ``index`` (one of the run's)."""
        return _RunPlane(self, index - self.run.start)

    def write(self, position: int, start: int, stop: int, values: np.ndarray) -> None:
        """Rows ``start:stop`` (``values``, (C, rows, X)) of the run's plane at ``position``."""
        height = self.view.shape[2]
        y = start
        while y < stop:
            row = y // self.rows
            top, bottom = row * self.rows, min((row + 1) * self.rows, height)
            end = min(stop, bottom)
            shape = (len(self.run), values.shape[0], bottom - top, values.shape[2])
            entry = self._pending.setdefault(row, [np.empty(shape, np.float32), 0])
            entry[0][position, :, y - top : end - top] = values[:, y - start : end - start]
            entry[1] += end - y
            if entry[1] == len(self.run) * (bottom - top):  # the row of chunks is complete
                self.view.write_run(self.run.start, entry[0], slice(top, bottom))
                del self._pending[row]
            y = end


class _RunPlane:
    """One plane of a :class:`_ChunkRows`, as :func:`~.tiling.iter_tiled` writes it."""

    def __init__(self, rows: _ChunkRows, position: int):
        self._rows, self._position = rows, position
        self.shape = rows.view.shape[1:]

    def __setitem__(self, key: tuple[slice, slice, slice], values: np.ndarray) -> None:
        self._rows.write(self._position, key[1].start, key[1].stop, values)  # all channels, columns


def _out_planes(out: np.ndarray, layout: Layout, shape: tuple[int, ...]) -> np.ndarray:
    """View a caller's ``out`` as planes (N, C, Y, X) of ``shape``, without copying."""
    planes = plane_view(out, layout.axes) if len(np.shape(out)) == len(layout.axes) else None
    return _check_planes(planes, layout, shape, out)


def _check_planes(planes, layout: Layout, shape: tuple[int, ...], out):
    """Raise ``ValueError`` unless ``planes`` of ``out`` have ``shape`` and share its memory.

    A :class:`PlaneView` writes into ``out`` itself; ``np.may_share_memory``
    is never given one (it would convert it, element by element).
    """
    if planes is None or tuple(planes.shape) != shape:
        expected = _result_shape(shape, layout)
        raise ValueError(
            f"out must have the result's shape {expected} (axes {layout.axes!r}), got "
            f"{np.shape(out)}; allocate it with that shape."
        )
    if isinstance(planes, np.ndarray) and not np.may_share_memory(planes, out):
        raise ValueError(
            "out cannot be viewed as planes without a copy; give a C-contiguous array."
        )
    return planes


def output_shape(model: TrainedModel, shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    """Shape of the prediction of an image of ``shape`` and ``axes`` by ``model``.

    Use it to allocate the ``out`` array of :func:`iter_predict`.
    """
    planes, layout = to_planes(np.broadcast_to(np.empty((), bool), shape), check_axes(axes, len(shape)))
    factor = model.config.model.factor
    plane_shape = (planes.shape[0], model.config.model.out_channels)
    plane_shape += tuple(size * factor for size in planes.shape[2:])
    return _result_shape(plane_shape, layout)


def _result_shape(plane_shape: tuple[int, ...], layout: Layout) -> tuple[int, ...]:
    return from_planes(np.broadcast_to(np.empty((), bool), plane_shape), layout).shape


def check_input(
    model: TrainedModel, image: np.ndarray, axes: str | None = None, *, scan: bool = True
) -> str:
    """Check that ``image`` can go through ``model``; return its axes.

    Parameters
    ----------
    model : TrainedModel
        The model to apply.
    image : ndarray or array-like
        The image, with axes ``axes`` (default: the model's training axes).
    scan : bool
        Check every value of a NumPy array now. A lazy array's values (zarr,
        dask), and all values when False, are left to be checked tile by
        tile as they are read.

    Raises
    ------
    ValueError
        If the axes do not fit the image, its channels differ from the
        model's, it holds NaN or infinite values, it is smaller than a
        dense autoencoder's input, or the model is 3D and the axes have no ``Z``.
    """
    axes = check_axes(axes or model.config.data.axes, np.ndim(image), shape=np.shape(image))
    if model.config.model.spatial_dims == 3 and "Z" not in axes:
        raise ValueError(
            f"this is a 3D model, which takes volumes, but the image's axes {axes!r} have no Z; "
            "give the axes with Z (e.g. 'ZYX' for a stack of planes), or use a 2D model."
        )
    layout = Layout(axes, tuple(image.shape))
    expected = model.config.model.in_channels
    if layout.channels != expected:
        kind = "grey" if expected == 1 else f"{expected}-channel"
        raise ValueError(
            f"the model takes {expected}-channel images but this image has "
            f"{layout.channels} channel(s) with axes {axes!r}; choose a {kind} image or "
            "other axes."
        )
    if scan and isinstance(image, np.ndarray):
        check_image(image, "the input image")
    else:  # its dtype and emptiness now, its values as tiles are read (_Checked)
        stand_in = np.zeros(tuple(min(size, 1) for size in image.shape), image.dtype)
        check_image(stand_in, "the input image")
    size = model.config.model.input_size
    is_dense = model.config.model.architecture in LATENT_ARCHITECTURES
    height, width = (image.shape[axes.index(a)] for a in "YX")
    if is_dense and min(height, width) < size:
        raise ValueError(
            f"this autoencoder takes {size}x{size} tiles but the image planes are "
            f"{height}x{width}; use a larger image."
        )
    return axes


def predict(model: TrainedModel, image: np.ndarray, **options) -> np.ndarray:
    """Apply ``model`` to ``image`` and return the result; see :func:`iter_predict`."""
    return run(iter_predict(model, image, **options))


def default_ensemble(model: TrainedModel, shape: Sequence[int]) -> bool:
    """Whether :func:`iter_predict` averages the 8 orientations of an input of ``shape`` by default.

    Yes for a super-resolution model: on held-apart real images it added
    0.02 to 2.3 dB per image, 0.13 to 0.72 dB to group means
    (``bench/superres_real.py``). Yes for a denoising model on an input of
    up to :data:`ENSEMBLE_VALUES` values: on the 30 cases of
    ``bench/real_denoise.py`` it raised the prior's PSNR on every one, by
    0.05 to 1.24 dB, and its group means by 0.17 to 0.36 dB on photographs,
    0.09 to 0.17 dB on microscopy; fine-tuned models gained 0.06 to 0.11 dB.
    It costs about 10 s instead of 1 to 2 s on a 512x512 image on 2 CPU
    cores. No for the dense autoencoders, whose codes depend on the
    orientation, nor for another tool's network at factor 1, which may be a
    segmentation's (its ``foreign`` attribute), nor for a 3D model, whose
    boxes are always predicted in one orientation.
    """
    network = model.config.model
    if network.architecture == Architecture.SUPERRES.value:
        return True
    return (
        model.config.training.task == Task.DENOISE.value
        and network.architecture not in LATENT_ARCHITECTURES
        and network.spatial_dims != 3
        and not getattr(model.network, "foreign", False)
        and math.prod(shape) <= ENSEMBLE_VALUES
    )


def symmetry_mean(network: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The mean of ``network`` over the 8 rotations and flips of ``x`` (B, C, Y, X), each undone.

    The self-ensemble of EDSR: each orientation's errors differ, so their
    mean is more accurate than any one of them. Inside
    :func:`..progress.stoppable` it stops between orientations once asked: a
    512x512 tile's 8 take some 4 s on 2 cores.
    """
    total = None
    for turns in range(4):
        for flip in (False, True):
            checkpoint()
            view = torch.rot90(x, turns, dims=(-2, -1))
            view = view.flip(-1) if flip else view
            y = network(view.contiguous(memory_format=torch.channels_last))
            y = torch.rot90(y.flip(-1) if flip else y, -turns, dims=(-2, -1))
            total = y if total is None else total + y
    return total / 8


def _forward(model: TrainedModel, device: torch.device, *, ensemble: bool = False):
    """Return a function from raw tiles (B, C, Y, X), or boxes (B, C, Z, Y, X), to predictions.

    Predictions are in the units of the training targets; with ``ensemble``
    the mean over the 8 rotations and flips of each tile (:func:`symmetry_mean`).
    A model of noise correlated along rows or columns (``noise_strides``)
    denoises each tile's interleaved phases apart (:mod:`..data.correlation`).
    A model trained on clipped noisy data (``clip_low``, ``clip_high``) maps
    its predictions, clipped means, back to clean values (:func:`_declipper`).
    """
    network = model.network_on(device)
    declipped, filled = _declipper(model), _defect_filler(model)

    def network_output(batch: np.ndarray) -> np.ndarray:
        memory_format = channels_last(model.config.model.spatial_dims)
        x = torch.from_numpy(batch).to(device, memory_format=memory_format)
        with torch.inference_mode():  # float32: bf16 autocast would quantise the output
            return (symmetry_mean(network, x) if ensemble else network(x)).float().cpu().numpy()

    phased = phase_function(network_output, model.config.model.noise_strides)

    def predicted(batch: np.ndarray) -> np.ndarray:
        y = phased(filled(model.input_norm.normalize(batch)))
        return model.target_norm.denormalize(declipped(y))

    return _canvas_kept(model, predicted)


def _canvas_kept(model: TrainedModel, predicted):
    """``predicted``, a function of raw tiles (B, C, [Z,] Y, X), made to mirror and keep a canvas.

    For a denoising model, a canvas in a tile (:func:`..data.canvas.canvas_mask`,
    of each Y, X plane) is given the content mirrored into it
    (:func:`..data.canvas.reflect_into`): the network meets no step to a
    region without noise, which it does worse beside. Its pixels then come
    out as they went in, in the targets' units. Tile by tile, so that an
    image read tile by tile (memory-mapped, chunked, a cluster's block) is
    treated as one in memory: on the canvas benchmark's twenty padded images
    a memory-mapped input came out 0.14 dB lower on average (horse 1.0 dB)
    when only a whole plane in memory was searched. A region at a clip
    level of a model that undoes clipping is its data, also in a tile that
    lies wholly within it and shows no noisy pixel to tell it by. Other
    models are returned as they are, another tool's network at factor 1
    too (its ``foreign`` attribute): it may segment, or map its channels to
    others.
    """
    config = model.config
    if config.training.task != Task.DENOISE.value or config.model.factor != 1:
        return predicted
    if getattr(model.network, "foreign", False):
        return predicted
    same = model.input_norm == model.target_norm
    low, high = config.model.clip_low, config.model.clip_high

    def kept(batch: np.ndarray) -> np.ndarray:
        canvas = canvas_mask(batch)
        if low is not None:
            canvas &= batch > low
        if high is not None:
            canvas &= batch < high
        if not canvas.any():
            return predicted(batch)
        values = batch if same else model.target_norm.denormalize(model.input_norm.normalize(batch))
        return np.where(canvas, values, predicted(reflect_into(batch, canvas)))

    return kept


def _defect_filler(model: TrainedModel):
    """A function that replaces the hot and dead pixels of a denoising ``model``'s normalised tiles (B, C, ...).

    A model with a noise model (one started from the prior) replaces them as
    its training did (:mod:`..data.defects`); others leave tiles as they are.
    """
    config = model.config.model
    if config.noise_gain <= 0 and config.noise_variance <= 0:
        return lambda x: x
    noise = NoiseModel(config.noise_gain, config.noise_variance)
    return lambda x: fill_defects(x, noise)[0]


def shared_defects(model: TrainedModel, image, axes: str) -> np.ndarray:
    """The (channel, Y, X) indices (K, 3) of the defective pixels that every plane of ``image`` shares.

    Judged by the planes' mean on the model's scale with its noise
    (:func:`..data.defects.fixed_defects`), as its training judged the
    frames it learned from; none for a single plane, and for a model that
    replaces no defect (:func:`_defect_filler`: only a 2D model started from
    the prior has a noise model). A memory-mapped or lazy input (a zarr or
    dask array) is read once, plane by plane, so that the same pixels are
    replaced whichever way the image is stored.
    """
    axes = check_axes(axes, image.ndim)
    planes = plane_view(image, axes)
    return _shared_in(model, planes)


def _shared_in(model: TrainedModel, planes) -> np.ndarray:
    """:func:`shared_defects` of the planes (N, C, Y, X) of an array (or a :class:`PlaneView`)."""
    config = model.config.model
    if len(planes) < 2 or (config.noise_gain <= 0 and config.noise_variance <= 0):
        return np.zeros((0, 3), np.int64)
    unit = model.input_norm.normalize(_planes_mean(planes)[None])[0]
    hot, dead = fixed_defects(unit, len(planes), NoiseModel(config.noise_gain, config.noise_variance))
    return np.argwhere(hot | dead)


def _planes_mean(planes) -> np.ndarray:
    """:func:`..data.defects.frames_mean` of planes (N, C, Y, X), a :class:`PlaneView`'s one plane at a time."""
    if isinstance(planes, np.ndarray):
        return frames_mean(planes)
    total = np.zeros(planes.shape[1:], np.float64)
    for index in range(len(planes)):
        total += planes.read_planes(index, index + 1)[0]
    return (total / len(planes)).astype(np.float32)


def _defect_map(defects: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray | None:
    """The (C, Y, X) mask of ``shape`` of :func:`shared_defects`' indices; None where there are none."""
    if len(defects) == 0:
        return None
    fixed = np.zeros(shape, dtype=bool)
    fixed[tuple(np.asarray(defects).T)] = True
    return fixed


class _Checked:
    """A (C, Y, X) plane of a lazy input whose regions are refused if they hold NaN or infinite values.

    Checked as they are read, tile by tile; the message names the tile's
    first row and column and the plane's ``position`` along ``stack_axes``.
    """

    ndim = 3

    def __init__(self, plane, stack_axes: str, position: Sequence[int]):
        self.plane, self.shape = plane, tuple(plane.shape)
        where = ", ".join(f"{a}={int(i)}" for a, i in zip(stack_axes, position))
        self._where = f" of plane {where}" if where else ""

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        values = np.asarray(self.plane[key])
        _, rows, columns = key
        check_image(values, f"the input image's tile at Y={rows.start}, X={columns.start}{self._where}")
        return values


class _Refilled:
    """A (C, Y, X) plane read by slices with the pixels of ``fixed`` (C, Y, X) replaced.

    As :func:`..data.defects.fill_fixed` replaces them in the whole plane:
    each region is read with a margin of one pixel for their neighbours.
    """

    ndim = 3

    def __init__(self, plane, fixed: np.ndarray):
        self.plane, self.fixed, self.shape = plane, fixed, tuple(plane.shape)

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        channels, rows, columns = key
        y0, y1 = max(rows.start - 1, 0), min(rows.stop + 1, self.shape[1])
        x0, x1 = max(columns.start - 1, 0), min(columns.stop + 1, self.shape[2])
        region = np.asarray(self.plane[channels, y0:y1, x0:x1], np.float32)
        filled = fill_fixed(region[None], self.fixed[channels, y0:y1, x0:x1])[0]
        return filled[:, rows.start - y0 : rows.stop - y0, columns.start - x0 : columns.stop - x0]


def _declipper(model: TrainedModel):
    """A function that declips normalised predictions (B, C, ...) of ``model`` channel by channel.

    The identity for a model without clip levels.
    """
    config = model.config.model
    if config.clip_low is None and config.clip_high is None:
        return lambda y: y
    noise = NoiseModel(config.noise_gain, config.noise_variance)
    levels = channel_levels(config.clip_low, config.clip_high, model.target_norm)

    def declipped(y: np.ndarray) -> np.ndarray:
        return np.stack([declip_noise(y[:, c], noise, levels[c]) for c in range(y.shape[1])], axis=1)

    return declipped
