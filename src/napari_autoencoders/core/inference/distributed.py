"""Prediction on a dask cluster: each chunk of the result computed by a worker, written to zarr.

The result is a :mod:`dask.array` whose every chunk is one task: the worker
opens the model and image files itself (once per worker process, cached),
computes the tiles of the whole image's plan that touch its chunk
(:func:`~.prediction.predict_block`) and blends them with the weights of the
local tiling, so the result equals :func:`~.prediction.predict`'s to
floating-point tolerance. Each chunk's halo is thus the extent of the tiles
around it (at most one tile), not the network's receptive field: a UNet's
zero padding and pooling grid make a tile's output depend on where the tile
is cut, and only the same cuts reproduce the local result. No pixels pass
through the scheduler: workers read the input and write their chunk of the
output store directly, so the files must be on a file system they share.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Generator, Iterator, Sequence

import numpy as np

from ..io.model_files import load_model
from ..io.zarr_store import open_image
from .prediction import predict_block

#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT = 10


def _dask():
    try:
        import dask
        import dask.array
        import distributed
    except ImportError as err:
        raise ImportError(
            "prediction on a dask cluster needs dask and distributed; install them with "
            "pip install 'napari-autoencoders[zarr]'."
        ) from err
    return dask, distributed


def lazy_prediction(
    model_path: str | os.PathLike,
    image_path: str | os.PathLike,
    *,
    shape: Sequence[int],
    chunks: Sequence[int],
    axes: str,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 1,
    device: str = "cpu",
):
    """The prediction of the image file by the model file, as a dask array of one task per chunk.

    Parameters
    ----------
    model_path : str or path-like
        A model file, loaded once per worker process.
    image_path : str or path-like
        The input: a zarr store or an image file (memory-mapped where possible),
        opened once per worker process.
    shape : sequence of int
        The result's shape (:func:`~.prediction.output_shape`).
    chunks : sequence of int
        Its chunks; a channel axis should be one chunk.
    axes : str
        The axes of the input and of the result.
    tile, overlap, batch_size, device
        As :func:`~.prediction.iter_predict`.

    Returns
    -------
    dask.array.Array
        float32, of ``shape`` and axes ``axes``; nothing is computed yet.
    """
    dask, _ = _dask()
    return dask.array.map_blocks(
        _predict_chunk,
        chunks=dask.array.core.normalize_chunks(tuple(chunks), tuple(shape)),
        dtype=np.float32,
        meta=np.empty((0,) * len(shape), np.float32),
        model_path=os.fspath(model_path),
        image_path=os.fspath(image_path),
        options={
            "axes": axes,
            "tile": tile,
            "overlap": overlap,
            "batch_size": batch_size,
            "device": device,
        },
    )


def _predict_chunk(*, model_path: str, image_path: str, options: dict, block_info=None):
    location = block_info[None]["array-location"]
    model = _cached_model(model_path, os.stat(model_path).st_mtime_ns)
    image = _cached_image(image_path, os.stat(image_path).st_mtime_ns)
    return predict_block(model, image, location, **options)


@functools.lru_cache(maxsize=2)
def _cached_model(path: str, mtime: int):
    """The model file at ``path``, loaded once per worker process (and again if it changes)."""
    return load_model(path)


@functools.lru_cache(maxsize=2)
def _cached_image(path: str, mtime: int):
    """The image at ``path``, opened lazily once per worker process."""
    return open_image(path).array


def iter_store(result, target, client) -> Generator[tuple[int, int], None, None]:
    """Compute ``result``'s chunks on ``client``'s cluster into ``target``, yielding progress.

    Parameters
    ----------
    result : dask.array.Array
        The array to compute, chunked exactly as ``target`` (so that no
        two tasks write one chunk of the store).
    target : zarr.Array
        Its destination, in a store every worker can open.
    client : distributed.Client
        The cluster's client.

    Yields
    ------
    (done, total) : tuple of int
        Chunks written and chunks in all.

    Raises
    ------
    ValueError
        If the chunks of ``result`` and ``target`` differ.
    Exception
        The first error raised on a worker; the other tasks are cancelled.
        A worker that dies is replaced and its tasks run again by dask.
    """
    dask, distributed = _dask()
    expected = dask.array.core.normalize_chunks(target.chunks, target.shape)
    if result.chunks != expected:
        raise ValueError(
            f"the result's chunks {result.chunks} do not match the store's {target.chunks}; "
            "create the store with the result's chunks."
        )
    regions = list(dask.array.core.slices_from_chunks(result.chunks))
    writes = [
        dask.delayed(_write)(block, target, region)
        for block, region in zip(result.to_delayed().ravel(), regions)
    ]
    futures = client.compute(writes)
    try:
        for done, future in enumerate(distributed.as_completed(futures), 1):
            future.result()  # the worker's error, if any
            yield done, len(futures)
    finally:
        client.cancel(futures)


def _write(block: np.ndarray, target, region: tuple[slice, ...]) -> None:
    target[region] = block


@contextlib.contextmanager
def cluster_client(
    *, workers: int | None = None, scheduler: str | None = None, timeout: float = CONNECT_TIMEOUT
) -> Iterator[object]:
    """A ``distributed.Client`` of a new local cluster or of a running scheduler.

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes, one thread each.
    scheduler : str, optional
        Instead, the address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``
        (one started by dask-jobqueue, dask-kubernetes or ``dask scheduler``).
    timeout : float
        Seconds to wait for the scheduler.

    Raises
    ------
    ValueError
        Unless exactly one of ``workers`` (at least 1) and ``scheduler`` is given.
    ConnectionError
        If the scheduler cannot be reached within ``timeout``.
    """
    _, distributed = _dask()
    if (workers is None) == (scheduler is None):
        raise ValueError("give either a number of workers or a scheduler address, not both.")
    if scheduler is None:
        if workers < 1:
            raise ValueError(f"the number of workers must be at least 1, got {workers}.")
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConnectionError(
            f"cannot reach the dask scheduler at {scheduler!r} within {timeout:g} s; check the "
            "address (e.g. tcp://host:8786) and that the scheduler is running."
        ) from err
    with client:
        yield client
