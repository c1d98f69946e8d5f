from unittest.mock import patch

import napari
import numpy as np
import pytest

from napari_autoencoders.widgets import apply, choice, latent, threads, train
from napari_autoencoders.widgets.session import ModelRegistry
from napari_autoencoders.widgets.train import TrainWidget


#: The name of the app-model application of :func:`module_viewer`.
MODULE_APP = "napari_autoencoders_tests"


@pytest.fixture(scope="module")
def module_viewer(qapp):
    """One viewer that a module's tests share: making and closing one took about 1.5 s a test.

    As napari's ``make_napari_viewer``, it holds its own app-model
    application, whose commands (this plugin's among them) go with it.
    """
    from app_model import Application
    from napari._app_model._app import NapariApplication, _napari_names
    from napari._qt._qapp_model.qactions import init_qactions
    from napari.plugins import _initialize_plugins

    app = NapariApplication(MODULE_APP)
    app.injection_store.namespace = _napari_names
    try:
        with patch.object(NapariApplication, "get_app_model", return_value=app):
            viewer = napari.Viewer(show=False, show_welcome_screen=False)
            yield viewer
            with patch.object(viewer.window._qt_window, "_save_current_window_settings"):
                viewer.close()
    finally:
        Application.destroy(MODULE_APP)
        _initialize_plugins.cache_clear()
        init_qactions.cache_clear()


@pytest.fixture
def viewer(module_viewer, qtbot):
    """The module's viewer, left as new after the test: no layers, no docked widgets."""
    yield module_viewer
    module_viewer.window.remove_dock_widget("all")
    module_viewer.layers.clear()
    module_viewer.dims.ndisplay = 2
    module_viewer.canvas.grid.enabled = False
    qtbot.wait(1)  # Qt deletes the removed widgets


@pytest.fixture
def small_train_widget(viewer, make_train_widget):
    """A Train widget of tiny sizes: patches of 16, batches of 2, width 8, 2 epochs of 3 steps."""
    return make_train_widget(viewer, patch_size=16, batch_size=2, width=8, epochs=2, steps_per_epoch=3)


@pytest.fixture
def registry(qtbot):
    """A registry of this test's own, so tests do not see each other's models."""
    return ModelRegistry()


@pytest.fixture
def notifications(monkeypatch):
    """Capture the widgets' notifications: {"error": [...], "warning": [...], "info": [...]}."""
    messages = {"error": [], "warning": [], "info": []}
    for module in (train, apply, choice, latent, threads):
        for kind, store in messages.items():
            if hasattr(module, f"show_{kind}"):
                monkeypatch.setattr(module, f"show_{kind}", store.append)
    return messages


@pytest.fixture
def make_noisy():
    """Return a function making float32 smooth blobs plus Gaussian noise, shape (..., Y, X)."""

    def make(shape=(48, 48), seed=0):
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[: shape[-2], : shape[-1]]
        clean = 0.5 + 0.4 * np.sin(x / 4.0) * np.cos(y / 5.0)
        return (clean + 0.15 * rng.standard_normal(shape)).astype(np.float32)

    return make



@pytest.fixture
def make_train_widget(registry):
    """Return a function docking a Train widget in a viewer, Advanced open, sizes set.

    Given ``epochs``, the default time budget is turned off so that they count.
    """

    def make(viewer, **sizes) -> TrainWidget:
        widget = TrainWidget(viewer, registry=registry)
        viewer.window.add_dock_widget(widget)
        widget.advanced.expand(animate=False)
        if "epochs" in sizes:
            widget.time_budget.setValue(0)
        for field, value in sizes.items():
            getattr(widget, field).setValue(value)
        return widget

    return make
