"""Tests for the Export… button of the Train widget and bioimage.io packages in Apply model."""

import io
import zipfile

import numpy as np
import pytest
from qtpy.QtWidgets import QDialog

pytest.importorskip("bioimageio.core")

from napari_autoencoders.core.config import (
    Config,
    DataConfig,
    ModelConfig,
    TrainingConfig,
)
from napari_autoencoders.core.io.bioimageio import export_bioimageio
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.training import fit
from napari_autoencoders.widgets import export as export_module
from napari_autoencoders.widgets.apply import ApplyWidget
from napari_autoencoders.widgets.export import ExportDialog

TIMEOUT_MS = 60_000


def read_member(package, name):
    """The bytes of file ``name`` in ``package``."""
    with zipfile.ZipFile(package) as archive:
        return archive.read(name)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    from bioimageio.spec import settings

    monkeypatch.setattr(settings, "cache_path", tmp_path / "bioimageio-cache")


@pytest.fixture
def export_notifications(notifications, monkeypatch):
    """The widgets' notifications, with the export dialog's own."""
    for kind in ("error", "info"):
        monkeypatch.setattr(export_module, f"show_{kind}", notifications[kind].append)
    return notifications


@pytest.fixture(scope="module")
def denoiser():
    rng = np.random.default_rng(0)
    config = Config(
        model=ModelConfig(depth=2, width=8),
        data=DataConfig(patch_size=16, batch_size=2),
        training=TrainingConfig(epochs=1, steps_per_epoch=2, device="cpu"),
    )
    return fit(config, rng.random((40, 40), dtype=np.float32))


@pytest.fixture
def trained(viewer, make_train_widget, denoiser, make_noisy):
    """A Train widget whose last model is the tiny denoiser, trained on its input layer."""
    viewer.add_image(make_noisy((40, 40)), name="noisy")
    widget = make_train_widget(viewer)
    widget.model, widget._label = denoiser, "denoise (self-supervised) on noisy"
    widget._set_running(False)
    return widget


def test_export_button_writes_a_package_of_the_input_layer(
    trained, tmp_path, monkeypatch, export_notifications
):
    assert trained.export_button.isEnabled()
    path = tmp_path / "denoiser.zip"

    def fill_and_accept(dialog):
        assert dialog.name.text() == "denoise (self-supervised) on noisy"
        dialog.authors.setText("Ada Lovelace; Alan Turing")
        dialog.license.setCurrentText("MIT")
        dialog.path.setText(str(path))
        return QDialog.Accepted

    monkeypatch.setattr(ExportDialog, "exec", fill_and_accept)
    trained.export_button.click()

    assert export_notifications["error"] == []
    assert export_notifications["info"][-1] == f"bioimage.io package written to {path}"
    rdf = read_member(path, "rdf.yaml").decode()
    assert "Ada Lovelace" in rdf and "Alan Turing" in rdf and "license: MIT" in rdf
    test_input = np.load(io.BytesIO(read_member(path, "test_input.npy")))
    np.testing.assert_array_equal(test_input[0, 0], trained.input_layer.layer().data)  # 36 + 4
    assert load_model(path).config == trained.model.config


def test_a_multiscale_input_layer_s_full_resolution_centre_is_the_packages_sample(
    trained, tmp_path, export_notifications
):
    level = np.random.default_rng(1).random((80, 80)).astype(np.float32)
    layer = trained.viewer.add_image([level, level[::2, ::2]], name="pyramid", multiscale=True)
    trained.input_layer.set_layer(layer)
    path = trained.export_model_to(tmp_path / "denoiser.zip", authors="Ada Lovelace", license="MIT")

    assert export_notifications["error"] == [] and path == tmp_path / "denoiser.zip"
    test_input = np.load(io.BytesIO(read_member(path, "test_input.npy")))[0, 0]
    top, left = ((80 - side) // 2 for side in test_input.shape)
    cut = level[top : top + test_input.shape[0], left : left + test_input.shape[1]]
    np.testing.assert_array_equal(test_input, cut)


@pytest.mark.parametrize("chosen", ["other channels", "NaN"])
def test_an_input_layer_unlike_the_training_data_is_not_the_packages_sample(
    trained, tmp_path, export_notifications, chosen
):
    if chosen == "NaN":  # the export refused it
        spoilt = np.random.default_rng(0).random((80, 80)).astype(np.float32)
        spoilt[5, 5] = np.nan
        layer = trained.viewer.add_image(spoilt, name="spoilt")
    else:  # a colour model, and a grey stack of as many dimensions as its YXC
        config = Config(
            model=ModelConfig(depth=2, width=8, in_channels=3, out_channels=3),
            data=DataConfig(axes="YXC", patch_size=16, batch_size=2),
            training=TrainingConfig(epochs=1, steps_per_epoch=2, device="cpu"),
        )
        trained.model = fit(config, np.random.default_rng(0).random((40, 40, 3), dtype=np.float32))
        layer = trained.viewer.add_image(np.zeros((3, 80, 80), np.float32), name="grey stack")
    trained.input_layer.set_layer(layer)
    path = trained.export_model_to(tmp_path / "denoiser.zip", authors="Ada Lovelace", license="MIT")

    assert export_notifications["error"] == [] and path == tmp_path / "denoiser.zip"
    test_input = np.load(io.BytesIO(read_member(path, "test_input.npy")))
    assert test_input.shape[-2:] != (80, 80)  # the package's own sample


def test_cancelled_dialog_writes_nothing(trained, tmp_path, monkeypatch, export_notifications):
    monkeypatch.setattr(ExportDialog, "exec", lambda dialog: QDialog.Rejected)
    monkeypatch.chdir(tmp_path)
    trained.export_button.click()
    assert list(tmp_path.iterdir()) == [] and export_notifications["info"] == []


def test_bad_export_choices_are_reported(
    trained, viewer, make_train_widget, tmp_path, export_notifications
):
    assert trained.export_model_to(tmp_path / "m.zip", authors=[" "]) is None
    assert "at least one author" in export_notifications["error"][-1]
    assert trained.export_model_to(tmp_path / "m.safetensors", authors=["Ada"]) is None
    assert "name the output 'm.zip'" in export_notifications["error"][-1]
    untrained = make_train_widget(viewer)
    assert not untrained.export_button.isEnabled()
    assert untrained.export_model_to(tmp_path / "m.zip", authors=["Ada"]) is None
    assert "no trained model to export" in export_notifications["warning"][-1]
    assert not (tmp_path / "m.zip").exists()


def test_apply_widget_opens_and_applies_a_package(
    qtbot, viewer, registry, denoiser, tmp_path, make_noisy, notifications
):
    package = export_bioimageio(denoiser, tmp_path / "denoiser.zip", authors=["Ada"])
    widget = ApplyWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    noisy = make_noisy((40, 40))
    viewer.add_image(noisy, name="noisy")

    name = widget.load_model_from(package)

    assert name == "denoiser.zip #1" and widget.model_choice.currentText() == name
    widget.apply()
    qtbot.waitUntil(widget.apply_button.isEnabled, timeout=TIMEOUT_MS)
    # the widget predicts on the fastest device: so does the reference
    expected = denoiser.predict(noisy)
    np.testing.assert_allclose(viewer.layers["noisy denoised"].data, expected, rtol=1e-5, atol=1e-5)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a package")
    assert widget.load_model_from(broken) is None
    assert "not a valid bioimage.io model package" in notifications["error"][-1]
