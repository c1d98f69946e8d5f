"""Tests for prediction on a dask cluster."""

import os
import signal
import socket

import numpy as np
import pytest
import zarr
from test_prediction import _stack_with_a_shared_defect, image_of, untrained_model

from napari_autoencoders.core.inference.distributed import (
    cluster_client,
    iter_predict_at,
    iter_predict_on,
    iter_store,
    lazy_prediction,
)
from napari_autoencoders.core.inference.prediction import predict, shared_defects
from napari_autoencoders.core.io.model_files import save_model


@pytest.fixture
def files(tmp_path):
    """A model file and a (2, 256, 256) zarr stack chunked (1, 64, 64)."""
    model = untrained_model(axes="SYX")
    save_model(model, tmp_path / "model.safetensors")
    image = image_of((2, 256, 256))
    stored = zarr.create_array(
        str(tmp_path / "in.zarr"), shape=image.shape, chunks=(1, 64, 64), dtype="f4"
    )
    stored[:] = image
    return model, image, tmp_path


def stored_prediction(folder, shape, *, chunks, tile):
    """An output store of ``chunks`` and the lazy prediction of the ``files`` stack into it."""
    target = zarr.create_array(str(folder / "out.zarr"), shape=shape, chunks=chunks, dtype="f4")
    result = lazy_prediction(
        folder / "model.safetensors",
        folder / "in.zarr",
        shape=shape,
        chunks=target.chunks,
        axes="SYX",
        tile=tile,
        overlap=16,
        ensemble=False,  # one orientation: the cluster's work, not the network's, is tested
    )
    return target, result


def test_lazy_prediction_equals_local_prediction(files):
    model, image, folder = files
    options = {"axes": "SYX", "tile": 96, "overlap": 16}
    result = lazy_prediction(
        folder / "model.safetensors",
        folder / "in.zarr",
        shape=image.shape,
        chunks=(1, 64, 64),
        **options,
    )
    assert result.chunks == ((1, 1), (64,) * 4, (64,) * 4)
    expected = predict(model, image, tile=96, overlap=16, device="cpu")
    np.testing.assert_allclose(
        result.compute(scheduler="synchronous"), expected, rtol=1e-5, atol=1e-5
    )


def test_a_file_s_chunks_replace_the_defects_its_planes_share_as_here(tmp_path):
    model = untrained_model(axes="SYX", residual=True, noise_gain=0.002, noise_variance=1e-5)
    save_model(model, tmp_path / "model.safetensors")
    stack = _stack_with_a_shared_defect(0.002)
    np.save(tmp_path / "in.npy", stack)
    defects = shared_defects(model, np.load(tmp_path / "in.npy", mmap_mode="r"), "SYX")
    assert len(defects) == 2
    options = {"axes": "SYX", "tile": 32, "overlap": 8}
    result = lazy_prediction(
        tmp_path / "model.safetensors", tmp_path / "in.npy", shape=stack.shape, chunks=(4, 16, 16),
        defects=defects, **options,
    )
    expected = predict(model, stack, device="cpu", **options)
    np.testing.assert_allclose(result.compute(scheduler="synchronous"), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def two_workers():
    """A client of a local cluster of two worker processes, which this module's tests share.

    Starting one (two processes that import torch and this package) took 10 to 15 s.
    """
    with cluster_client(workers=2) as client:
        yield client


def test_chunks_that_do_not_match_the_store_are_refused(files):
    _, image, folder = files
    target = zarr.create_array(
        str(folder / "out.zarr"), shape=image.shape, chunks=(1, 64, 64), dtype="f4"
    )
    result = lazy_prediction(
        folder / "model.safetensors",
        folder / "in.zarr",
        shape=image.shape,
        chunks=(1, 128, 128),
        axes="SYX",
    )
    with pytest.raises(ValueError, match="do not match"):
        next(iter_store(result, target, client=None))


def test_an_unreachable_scheduler_is_one_clear_error():
    with (
        pytest.raises(
            ConnectionError, match="cannot reach the dask scheduler at 'tcp://127.0.0.1:9'"
        ),
        cluster_client(scheduler="tcp://127.0.0.1:9", timeout=1),
    ):
        pass



def test_a_client_that_fails_to_start_is_collected_at_once():
    import gc

    import distributed

    def clients():  # open ones too: this module's cluster may be running
        return sum(isinstance(thing, distributed.Client) for thing in gc.get_objects())

    before = clients()
    # left to the garbage collector, it was closed at a random later moment: once inside
    # another cluster's start, which then hung
    with pytest.raises(ConnectionError):
        with cluster_client(scheduler="tcp://127.0.0.1:9", timeout=1):
            pass
    assert clients() <= before


def test_a_server_that_accepts_but_never_answers_is_one_clear_error():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # e.g. the dashboard's port
        port = silent.getsockname()[1]
        with (
            pytest.raises(ConnectionError, match="accepts connections but did not answer within 1 s"),
            cluster_client(scheduler=f"tcp://127.0.0.1:{port}", timeout=1),
        ):
            pass


@pytest.mark.parametrize("address", ["not an address", "tcp://" + "a" * 64 + ":8786"])
def test_a_malformed_address_is_not_called_unreachable(address):
    import dask

    with (
        pytest.raises(ConnectionError, match=f"'{address}' is not a dask scheduler's address"),
        cluster_client(scheduler=address, timeout=1),
    ):
        pass
    assert dask.config.get("scheduler", None) is None  # dask arrays still compute here


def test_workers_or_scheduler_not_both():
    with (
        pytest.raises(ValueError, match="not both"),
        cluster_client(workers=2, scheduler="tcp://127.0.0.1:9"),
    ):
        pass


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_replaced_and_its_chunks_computed_again(files, two_workers):
    model, image, folder = files
    target, result = stored_prediction(folder, image.shape, chunks=(1, 64, 64), tile=64)
    steps = iter_store(result, target, two_workers)
    next(steps)
    victim = next(iter(two_workers.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)  # its nanny starts a new worker
    assert list(steps)[-1] == (32, 32)
    expected = predict(model, image, tile=64, overlap=16, device="cpu", ensemble=False)
    np.testing.assert_allclose(target[:], expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def scheduler():
    """The address of a cluster of one worker thread in this process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("kind", ["numpy", "zarr", "dask"])
def test_a_model_in_memory_predicts_on_a_cluster_as_here(files, scheduler, run_to_end, kind):
    model, image, folder = files
    source = {
        "numpy": lambda: image,
        "zarr": lambda: zarr.open_array(str(folder / "in.zarr"), mode="r"),
        "dask": lambda: __import__("dask.array").array.from_zarr(str(folder / "in.zarr")),
    }[kind]()
    steps = iter_predict_at(scheduler, model, source, axes="SYX", tile=96, overlap=16, device="cpu")
    progress, result = run_to_end(steps)
    chunks = 2 if kind == "numpy" else 32  # planes of 1024 pixels a side, or the store's
    assert progress[-1] == (chunks, chunks) and result.dtype == np.float32
    expected = predict(model, image, tile=96, overlap=16, device="cpu")
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_closing_the_prediction_cancels_the_rest(files, scheduler):
    model, image, _ = files
    steps = iter_predict_at(scheduler, model, image, axes="SYX", tile=64, overlap=16, device="cpu")
    next(steps)
    steps.close()  # what the widget does on Cancel: no error, the client disconnects
    assert steps.gi_frame is None


def test_an_unreachable_scheduler_fails_when_the_prediction_starts():
    model = untrained_model(axes="YX")
    steps = iter_predict_at("tcp://127.0.0.1:9", model, image_of((32, 32)), axes="YX", timeout=1)
    with pytest.raises(ConnectionError, match="cannot reach the dask scheduler"):
        next(steps)


def test_an_image_that_does_not_fit_the_model_is_refused_before_any_task(scheduler):
    model = untrained_model(axes="YX")
    with cluster_client(scheduler=scheduler) as client:
        with pytest.raises(ValueError, match="channel"):
            next(iter_predict_on(client, model, image_of((32, 32, 3)), axes="YXC"))


@pytest.mark.slow
def test_a_worker_killed_while_predicting_a_model_in_memory_is_replaced(
    files, run_to_end, two_workers
):
    model, image, folder = files
    source = zarr.open_array(str(folder / "in.zarr"), mode="r")  # 32 chunks
    steps = iter_predict_on(
        two_workers, model, source, axes="SYX", tile=64, overlap=16, device="cpu", ensemble=False
    )
    next(steps)
    victim = next(iter(two_workers.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)  # its nanny starts a new worker
    progress, result = run_to_end(steps)
    assert progress[-1] == (32, 32)
    expected = predict(model, image, tile=64, overlap=16, device="cpu", ensemble=False)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
