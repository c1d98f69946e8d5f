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

A front end that holds the model and the image itself (the Apply widget)
uses :func:`iter_predict_at` instead: the model and the image (or, for a
lazy image, its reference) are sent once to every worker, and the chunks
come back to the caller.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import socket
from collections.abc import Generator, Iterator, Sequence

import numpy as np

from ..data.axes import chunk_shape
from ..io.model_files import load_model
from ..io.zarr_store import open_image, output_chunks
from ..model import TrainedModel
from .prediction import check_input, has_regular_chunks, output_shape, predict_block, shared_defects

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
    ensemble: bool | None = None,
    defects: np.ndarray | None = None,
    run_package_code: bool = False,
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
    tile, overlap, batch_size, device, ensemble
        As :func:`~.prediction.iter_predict`.
    defects : ndarray of int, shape (K, 3), optional
        :func:`~.prediction.shared_defects` of the image, found once here.
    run_package_code : bool
        As :func:`~..io.model_files.load_model`, in each worker.

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
        run_package_code=run_package_code,
        options={
            "axes": axes,
            "tile": tile,
            "overlap": overlap,
            "batch_size": batch_size,
            "device": device,
            "ensemble": ensemble,
            "defects": defects,
        },
    )


def _predict_chunk(
    *, model_path: str, image_path: str, run_package_code: bool, options: dict, block_info=None
):
    location = block_info[None]["array-location"]
    model = _cached_model(model_path, os.stat(model_path).st_mtime_ns, run_package_code)
    image = _cached_image(image_path, os.stat(image_path).st_mtime_ns)
    return predict_block(model, image, location, **options)


@functools.lru_cache(maxsize=2)
def _cached_model(path: str, mtime: int, run_package_code: bool):
    """The model file at ``path``, loaded once per worker process (and again if it changes)."""
    return load_model(path, run_package_code=run_package_code)


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


def iter_predict_at(
    scheduler: str,
    model: TrainedModel,
    image,
    *,
    axes: str,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 1,
    device: str = "auto",
    ensemble: bool | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Predict ``image`` with ``model`` on the dask cluster at ``scheduler``, chunk by chunk.

    The scheduler is reached when the generator starts (in the caller's
    worker thread); closing the generator cancels the chunks not yet done
    and disconnects.

    Parameters
    ----------
    scheduler : str
        The scheduler's address, e.g. ``"tcp://10.0.0.5:8786"``.
    model, image, axes, tile, overlap, batch_size, device, ensemble
        As :func:`iter_predict_on`.
    timeout : float
        Seconds to wait for the scheduler.

    Yields
    ------
    (done, total) : tuple of int
        Chunks computed and chunks in all.

    Returns
    -------
    ndarray of float32
        The prediction, equal to :func:`~.prediction.predict`'s to
        floating-point tolerance.

    Raises
    ------
    ConnectionError
        If the scheduler cannot be reached within ``timeout``.
    """
    with cluster_client(scheduler=scheduler, timeout=timeout) as client:
        return (
            yield from iter_predict_on(
                client,
                model,
                image,
                axes=axes,
                tile=tile,
                overlap=overlap,
                batch_size=batch_size,
                device=device,
                ensemble=ensemble,
            )
        )


def iter_predict_on(
    client,
    model: TrainedModel,
    image,
    *,
    axes: str,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 1,
    device: str = "auto",
    ensemble: bool | None = None,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Predict ``image`` with ``model`` on ``client``'s cluster into an array here.

    The model is sent once to every worker, and so is the image: a NumPy
    array whole, a zarr or dask array as a reference that each worker reads
    region by region (so its store must be on a file system the workers
    share). Each chunk of the result (the input's chunks, or planes of
    :data:`~..io.zarr_store.DEFAULT_CHUNK` pixels a side) is one task of
    :func:`~.prediction.predict_block`; a worker that dies is replaced and its
    tasks run again, so the result is never assembled from half a job.

    Parameters
    ----------
    client : distributed.Client
        The cluster's client.
    model : TrainedModel
        The trained network and its normalisation.
    image : array-like
        The input, axes ``axes`` (numpy, zarr, dask).
    axes : str
        The axes of ``image`` and of the result.
    tile, overlap, batch_size, device, ensemble
        As :func:`~.prediction.iter_predict`; ``device`` is chosen on each worker.

    Yields
    ------
    (done, total) : tuple of int
        Chunks computed and chunks in all.

    Returns
    -------
    ndarray of float32
        The prediction, shape :func:`~.prediction.output_shape`, axes ``axes``.

    Raises
    ------
    ValueError
        If the image does not fit the model (:func:`~.prediction.check_input`).
    Exception
        The first error raised on a worker; the other tasks are cancelled.
    """
    dask, distributed = _dask()
    axes = check_input(model, image, axes, scan=False)
    shape = output_shape(model, tuple(image.shape), axes)
    chunks = output_chunks(chunk_shape(image), axes, shape, model.config.model.factor)
    regions = list(dask.array.core.slices_from_chunks(dask.array.core.normalize_chunks(chunks, shape)))
    remote_model = client.scatter(model, broadcast=True)
    source = image if isinstance(image, np.ndarray) else _ReadHere(image)
    remote_image = client.scatter(source, broadcast=True)
    options = dict(axes=axes, tile=tile, overlap=overlap, batch_size=batch_size, device=device)
    options.update(ensemble=ensemble, defects=shared_defects(model, image, axes))  # read here once
    futures = {
        client.submit(
            predict_block,
            remote_model,
            remote_image,
            [(part.start, part.stop) for part in region],
            pure=False,
            **options,
        ): region
        for region in regions
    }
    result = np.empty(shape, np.float32)
    try:
        for done, future in enumerate(distributed.as_completed(futures), 1):
            result[futures[future]] = future.result()  # the worker's error, if any
            yield done, len(futures)
    finally:
        client.cancel(list(futures))
    return result


class _ReadHere:
    """A lazy array read in the worker's own process.

    A dask array given to a task would be computed whole on the cluster
    first; wrapped, only the regions a task slices are read, by the worker
    itself (synchronously, so a worker never waits on its own cluster).
    """

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype, self.ndim = tuple(array.shape), array.dtype, len(array.shape)
        # its chunks (zarr, a regular dask array), so that predict_block decodes each once
        self.chunks = chunk_shape(array) if has_regular_chunks(array) else None

    def __getitem__(self, key) -> np.ndarray:
        part = self.array[key]
        if hasattr(part, "compute"):
            part = part.compute(scheduler="synchronous")
        return np.asarray(part)


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
    dask, distributed = _dask()
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
    kept = {"scheduler": dask.config.get("scheduler", None)}
    _check_it_answers(scheduler, timeout)
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (ValueError, OSError, TimeoutError) as err:
        # a client that fails to start leaves itself as dask's scheduler: every dask array
        # (napari's dask layers too) would then fail with "no Client active"
        dask.config.set(kept)
        if isinstance(err, ValueError):
            failure = (
                f"{scheduler!r} is not a dask scheduler's address ({err}); write it as e.g. "
                "tcp://host:8786."
            )
        else:
            failure = (
                f"cannot reach the dask scheduler at {scheduler!r} within {timeout:g} s; check "
                "the address (e.g. tcp://host:8786) and that the scheduler is running."
            )
    else:
        failure = None
    if failure is not None:
        # the failed client lies in a reference cycle, which the garbage collector would
        # break at any later moment, closing the client there: once inside the start of
        # another cluster, whose lock that close then waited for, and a test run hung
        # (faulthandler's dump). Collected here, once the error no longer holds it.
        gc.collect()
        raise ConnectionError(failure)
    with client:
        yield client


def _check_it_answers(scheduler: str, timeout: float) -> None:
    """Raise ``ConnectionError`` if the TCP server at ``scheduler`` accepts but never speaks.

    A dask scheduler sends its handshake as soon as a connection opens;
    ``distributed.Client`` waits for it without end, so a server that
    accepts and stays silent (the dashboard's port 8787, another service)
    would hang the caller, whose Cancel is only seen between chunks. Other
    protocols (tls, ucx...) and unreachable or malformed addresses are left
    to ``distributed.Client``, which reports them.
    """
    scheme, _, rest = scheduler.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("", "tcp") or not host or not port.isdigit():
        return
    try:
        probe = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except (OSError, ValueError):  # refused, unreachable, or a host name idna refuses
        return
    with probe:
        try:
            if probe.recv(1):
                return
            answer = "closed the connection at once"
        except TimeoutError:
            answer = f"did not answer within {timeout:g} s"
        except OSError:
            return
    raise ConnectionError(
        f"{scheduler!r} accepts connections but {answer}, where a dask scheduler answers at "
        "once: is it another service, such as the dashboard (port 8787)? A scheduler listens "
        "on port 8786 unless told otherwise."
    )
