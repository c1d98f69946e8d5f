"""A dask-backed (lazy) input layer is read in the Train widget's workers, never in napari's thread."""

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication
from test_train import TIMEOUT_MS

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


@pytest.fixture(autouse=True)
def synchronous_dask():
    """Compute blocks in the thread that asks for them, so that the thread tells who read."""
    with dask.config.set(scheduler="synchronous"):
        yield


def recording(image: np.ndarray, blocks: SimpleNamespace):
    """``image`` as a dask array of four chunks whose blocks note, in ``blocks.threads``, the thread
    that computes them; each takes ``blocks.delay`` seconds, then raises ``blocks.error`` if set.
    """

    def block(values):
        blocks.threads.append(threading.get_ident())
        time.sleep(blocks.delay)
        if blocks.error is not None:
            raise blocks.error
        return values

    half = tuple(side // 2 for side in image.shape)
    return da.from_array(image, chunks=half).map_blocks(block, dtype=image.dtype)


def lazy_layer(viewer, small_train_widget, image, delay=0.0, error=None) -> list[int]:
    """Add ``image`` as a recording dask layer, choose it, and return the list of its threads.

    The list starts empty, and the delay and error start, once the layer is shown: napari
    reads what it displays itself.
    """
    blocks = SimpleNamespace(threads=[], delay=0.0, error=None)
    layer = viewer.add_image(recording(image, blocks), name="lazy")
    small_train_widget.input_layer.set_layer(layer)
    QApplication.processEvents()  # napari's own reads of what it shows
    blocks.threads.clear()
    blocks.delay, blocks.error = delay, error
    return blocks.threads


def test_a_lazy_layer_is_read_and_trained_on_in_the_worker(
    qtbot, viewer, small_train_widget, registry, make_noisy, notifications
):
    threads = lazy_layer(viewer, small_train_widget, make_noisy())

    qtbot.mouseClick(small_train_widget.train_button, Qt.MouseButton.LeftButton)
    assert threading.get_ident() not in threads  # nothing read in napari's thread
    assert not small_train_widget.train_button.isEnabled()
    qtbot.waitUntil(small_train_widget.train_button.isEnabled, timeout=TIMEOUT_MS)

    assert threads and threading.get_ident() not in threads
    assert notifications["error"] == []
    assert registry.names() == ["denoise (self-supervised) on lazy #1"]
    assert [entry["epoch"] for entry in small_train_widget.model.history] == [1, 2]
    assert small_train_widget.save_button.isEnabled() and not small_train_widget.stop_button.isEnabled()


def test_a_lazy_layer_with_nan_is_refused_from_the_worker(qtbot, viewer, small_train_widget, registry, make_noisy, notifications):
    image = make_noisy()
    image[3, 4] = np.nan
    threads = lazy_layer(viewer, small_train_widget, image)

    small_train_widget.train()
    qtbot.waitUntil(small_train_widget.train_button.isEnabled, timeout=TIMEOUT_MS)

    assert threading.get_ident() not in threads
    assert len(notifications["error"]) == 1
    assert notifications["error"][0].startswith("Cannot train: ")
    assert "has 1 NaN or infinite value(s)" in notifications["error"][0]
    assert len(registry) == 0 and small_train_widget.model is None
    assert not small_train_widget._busy and not small_train_widget.stop_button.isEnabled()


@pytest.mark.parametrize("error", [RuntimeError("connection lost"), OSError("no such chunk")])
def test_a_failure_while_reading_is_reported_and_frees_the_widget(
    qtbot, viewer, small_train_widget, registry, make_noisy, notifications, error
):
    lazy_layer(viewer, small_train_widget, make_noisy(), error=error)

    small_train_widget.train()
    qtbot.waitUntil(small_train_widget.train_button.isEnabled, timeout=TIMEOUT_MS)

    assert notifications["error"] == [f"Cannot train: {error}"]
    assert len(registry) == 0 and not small_train_widget._busy


def test_stop_while_reading_cancels_without_a_model(qtbot, viewer, small_train_widget, registry, make_noisy, notifications):
    lazy_layer(viewer, small_train_widget, make_noisy(), delay=0.3)

    small_train_widget.train()
    small_train_widget.stop()
    qtbot.waitUntil(small_train_widget.train_button.isEnabled, timeout=TIMEOUT_MS)

    assert len(registry) == 0 and small_train_widget.model is None
    assert notifications["error"] == [] and notifications["warning"] == []
    assert notifications["info"] == ["Training cancelled before its first step; no model was kept."]
    assert small_train_widget.status.text() == notifications["info"][0]


def test_the_noise_of_a_lazy_layer_is_measured_in_the_worker(qtbot, viewer, small_train_widget, make_noisy, notifications):
    image = make_noisy((64, 64))
    viewer.add_image(image, name="lazy")
    small_train_widget.measure_noise()
    qtbot.waitUntil(small_train_widget.noise_button.isEnabled, timeout=TIMEOUT_MS)
    in_memory = notifications["info"].pop()
    viewer.layers.clear()
    threads = lazy_layer(viewer, small_train_widget, image)

    small_train_widget.measure_noise()
    assert threading.get_ident() not in threads
    qtbot.waitUntil(small_train_widget.noise_button.isEnabled, timeout=TIMEOUT_MS)

    assert threads and threading.get_ident() not in threads
    assert notifications["error"] == []
    assert notifications["info"] == [in_memory]


def test_a_multiscale_layer_is_still_refused_at_once(viewer, small_train_widget, make_noisy, notifications):
    full = make_noisy((64, 64))
    layer = viewer.add_image([full, full[::2, ::2]], name="pyramid", multiscale=True)
    small_train_widget.input_layer.set_layer(layer)

    small_train_widget.train()
    small_train_widget.measure_noise()

    assert notifications["error"] == [
        f"Cannot {action}: the input layer 'pyramid' is multiscale; open its full-resolution "
        "level as a plain image layer."
        for action in ("train", "measure the noise")
    ]
    assert small_train_widget.worker is None and small_train_widget.noise_button.isEnabled()


def test_a_lazy_clean_target_is_read_in_the_worker(qtbot, viewer, small_train_widget, registry, make_noisy, notifications):
    noisy = viewer.add_image(make_noisy(seed=1), name="noisy")
    blocks = SimpleNamespace(threads=[], delay=0.0, error=None)
    clean = viewer.add_image(recording(make_noisy(seed=2), blocks), name="clean")
    small_train_widget.mode.setCurrentText("paired")
    small_train_widget.input_layer.set_layer(noisy)
    small_train_widget.target_layer.set_layer(clean)
    QApplication.processEvents()
    blocks.threads.clear()

    small_train_widget.train()
    assert threading.get_ident() not in blocks.threads
    qtbot.waitUntil(small_train_widget.train_button.isEnabled, timeout=TIMEOUT_MS)

    assert blocks.threads and threading.get_ident() not in blocks.threads
    assert notifications["error"] == []
    assert registry.names() == ["denoise (paired) on noisy #1"]
