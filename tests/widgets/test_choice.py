"""The model choosers of Apply, Generate and Latent scatter follow the session's newest model."""

import numpy as np
import pytest
from qtpy.QtWidgets import QMessageBox

from napari_autoencoders.core.config import (
    Config,
    DataConfig,
    ModelConfig,
    TrainingConfig,
)
from napari_autoencoders.core.io.bioimageio import PackageCodeError
from napari_autoencoders.core.training import fit
from napari_autoencoders.widgets import choice
from napari_autoencoders.widgets.apply import ApplyWidget
from napari_autoencoders.widgets.generate import GenerateWidget
from napari_autoencoders.widgets.latent import LatentWidget

CHOOSERS = [ApplyWidget, GenerateWidget, LatentWidget]


@pytest.fixture(scope="module")
def model():
    config = Config(
        model=ModelConfig(architecture="autoencoder", depth=1, width=4, latent_dim=2, input_size=8),
        data=DataConfig(axes="SYX", patch_size=8, batch_size=2),
        training=TrainingConfig(task="reconstruct", epochs=1, steps_per_epoch=1, device="cpu"),
    )
    return fit(config, np.random.default_rng(0).random((4, 8, 8), dtype=np.float32))


@pytest.mark.parametrize("widget_class", CHOOSERS, ids=lambda cls: cls.__name__)
def test_a_newly_added_model_is_chosen(viewer, registry, model, widget_class):
    registry.add(model, "old")
    widget = widget_class(viewer, registry=registry)
    assert widget.model_choice.currentText() == "old #1"
    widget.model_choice.setCurrentText("old #1")

    registry.add(model, "trained just now")  # what the Train widget does when training ends

    assert widget.model_choice.currentText() == "trained just now #2"
    assert widget.model() is registry["trained just now #2"]
    assert widget.model_choice.count() == 2


@pytest.mark.parametrize("widget_class", CHOOSERS, ids=lambda cls: cls.__name__)
def test_a_widget_opened_later_chooses_the_newest_model(viewer, registry, model,
                                                        widget_class):
    registry.add(model, "first")
    registry.add(model, "second")
    widget = widget_class(viewer, registry=registry)
    assert widget.model_choice.currentText() == "second #2"


def test_a_deleted_widget_does_not_break_the_registry(viewer, registry, model, qtbot):
    widget = ApplyWidget(viewer, registry=registry)
    widget.deleteLater()
    qtbot.wait(10)  # the deletion runs in the event loop
    registry.add(model, "after")  # would raise if the deleted combo box were still connected
    assert registry.names() == ["after #1"]


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_a_package_runs_its_own_code_only_if_the_user_allows_it(
    viewer, registry, model, notifications, monkeypatch, answer
):
    def load(path, *, run_package_code=False):
        if not run_package_code:
            raise PackageCodeError("package 'theirs.zip' builds its network by running Python code")
        return model

    asked = []

    def question(parent, title, text, *args):
        asked.append(text)
        return getattr(QMessageBox.StandardButton, answer)

    monkeypatch.setattr(choice, "load_model", load)
    monkeypatch.setattr(QMessageBox, "question", question)
    widget = ApplyWidget(viewer, registry=registry)
    name = widget.load_model_from("theirs.zip")

    assert len(asked) == 1 and "running Python code" in asked[0]
    if answer == "Yes":
        assert name == "theirs.zip #1" and widget.model() is model
    else:
        assert name is None and len(registry) == 0
        assert "Cannot load the model: package 'theirs.zip'" in notifications["error"][-1]
