"""The Train widget's form follows the layer, and the widget opens without importing for a second."""

import threading

import numpy as np
import pytest

from napari_autoencoders.core.config import DataConfig
from napari_autoencoders.widgets import train
from napari_autoencoders.widgets.train import TrainWidget

TIMEOUT_MS = 60_000


def test_the_automatic_patch_shrinks_to_a_small_layer_and_grows_back(viewer, registry):
    big = viewer.add_image(np.zeros((100, 100), np.float32), name="big")
    small = viewer.add_image(np.zeros((30, 28, 28), np.float32), name="digits")
    widget = TrainWidget(viewer, registry=registry)
    assert widget.patch_size.value() == 0 and widget.patch_size.text() == "auto"
    widget.input_layer.set_layer(small)
    assert widget.config().data.patch_size == 28
    widget.input_layer.set_layer(big)
    assert widget.config().data.patch_size == DataConfig().patch_size

    widget.patch_size.setValue(16)  # the user's own choice holds for every layer
    widget.input_layer.set_layer(small)
    assert widget.config().data.patch_size == 16
    widget.input_layer.set_layer(big)
    assert widget.config().data.patch_size == 16


@pytest.fixture
def slow_warm_up(monkeypatch):
    """Make the optimiser-support import block until released; record its thread."""
    release, threads = threading.Event(), []

    def slow_import():
        threads.append(threading.current_thread())
        release.wait(TIMEOUT_MS / 1000)

    monkeypatch.setattr(train, "import_optimizer_support", slow_import)
    train.warm_optimizer_support.cache_clear()
    yield release, threads
    release.set()
    train.warm_optimizer_support.cache_clear()


def test_the_widget_opens_while_the_optimiser_support_imports_in_the_background(
    qtbot, viewer, make_train_widget, registry, make_noisy, slow_warm_up
):
    release, threads = slow_warm_up
    viewer.add_image(make_noisy(), name="noisy")
    widget = make_train_widget(viewer, patch_size=16, batch_size=2, width=8, epochs=1,
                               steps_per_epoch=2)  # opens although the import has not ended
    qtbot.waitUntil(lambda: len(threads) == 1, timeout=TIMEOUT_MS)
    assert threads[0] is not threading.main_thread() and threads[0].daemon
    assert TrainWidget(viewer, registry=registry)  # a second widget starts no second import
    assert len(threads) == 1

    widget.train()  # before the warm-up ends: the training waits for it
    qtbot.wait(200)
    assert widget.model is None and not widget.train_button.isEnabled()
    release.set()
    qtbot.waitUntil(widget.train_button.isEnabled, timeout=TIMEOUT_MS)
    assert registry.names() == ["denoise (self-supervised) on noisy #1"]


def test_worded_boxes_read_and_take_their_words(qtbot):
    from qtpy.QtGui import QValidator

    from napari_autoencoders.widgets.forms import worded_spin

    box = worded_spin(-1, -1, 100, words={-1: "auto", 0: "off"})
    qtbot.addWidget(box)
    assert box.text() == "auto"
    assert (box.valueFromText("off"), box.valueFromText("25")) == (0, 25)
    assert box.validate("of", 2)[0] == QValidator.State.Intermediate
    box.setValue(30)
    assert box.text() == "30"


def test_denoising_starts_from_the_prior_unless_asked_for_random_weights(viewer, registry):
    viewer.add_image(np.zeros((96, 96), np.float32), name="noisy")
    widget = TrainWidget(viewer, registry=registry)
    scratch_fields = (widget.depth, widget.width, widget.learning_rate, widget.mask_fraction)
    assert widget.start.currentText() == "pretrained prior"
    assert all(field.isHidden() for field in scratch_fields)  # the prior's network and rate
    config = widget.config()
    assert config.training.pretrained and config.model.depth == 3

    widget.start.setCurrentText("random weights")
    assert not any(field.isHidden() for field in scratch_fields)
    assert not widget.config().training.pretrained

    widget.task.setCurrentText("vae")
    assert widget.start.isHidden()


def test_super_resolution_starts_from_the_shipped_upscaler(viewer, registry):
    viewer.add_image(np.zeros((96, 96), np.float32), name="highres")
    widget = TrainWidget(viewer, registry=registry)
    widget.task.setCurrentText("superres")
    assert not widget.start.isHidden() and widget.start.currentText() == "pretrained prior"
    assert widget.width.isHidden() and widget.learning_rate.isHidden()
    config = widget.config()
    assert config.training.pretrained and config.model.channelwise

    widget.start.setCurrentText("random weights")
    assert not widget.width.isHidden()
    assert not widget.config().training.pretrained


def test_the_3d_box_shows_for_denoise_and_reads_a_stack_as_a_volume(viewer, registry):
    viewer.add_image(np.zeros((20, 64, 64), np.float32), name="stack")
    widget = TrainWidget(viewer, registry=registry)
    assert widget.axes.text() == "SYX" and widget.config().model.spatial_dims == 2
    assert widget.patch_z.isHidden()

    widget.three_d.setChecked(True)

    assert widget.axes.text() == "ZYX" and not widget.patch_z.isHidden()
    config = widget.config()
    assert config.model.spatial_dims == 3
    assert (config.data.patch_z, config.data.patch_size, config.data.batch_size) == (16, 32, 4)
    widget.task.setCurrentText("superres")
    assert widget.three_d.isHidden() and widget.config().model.spatial_dims == 2


def test_a_hidden_3d_box_leaves_a_stack_a_stack(viewer, registry):
    widget = TrainWidget(viewer, registry=registry)
    widget.three_d.setChecked(True)
    widget.task.setCurrentText("reconstruct")  # the box hides, still ticked
    viewer.add_image(np.zeros((20, 64, 64), np.float32), name="stack")
    assert widget.axes.text() == "SYX"


def test_files_read_as_volumes_when_3d_is_ticked(viewer, registry, tmp_path):
    np.save(tmp_path / "stack.npy", np.random.default_rng(0).random((8, 40, 40), dtype=np.float32))
    widget = TrainWidget(viewer, registry=registry)
    widget.data_source.setCurrentText("files")
    widget.files.value = [tmp_path / "stack.npy"]
    widget.three_d.setChecked(True)
    config, collection, _ = widget._prepare()
    assert config.data.axes == collection.axes == "ZYX" and config.model.spatial_dims == 3


def test_files_of_frames_to_embed_train_without_the_neighbour_term(viewer, registry, tmp_path):
    np.save(tmp_path / "frames.npy", np.random.default_rng(0).random((50, 28, 28), dtype=np.float32))
    widget = TrainWidget(viewer, registry=registry)
    widget.task.setCurrentText("reconstruct")
    widget.data_source.setCurrentText("files")
    widget.files.value = [tmp_path / "frames.npy"]
    widget.axes.setText("SYX")
    config, collection, _ = widget._prepare()  # the collection's check would refuse the term
    assert config.training.neighbour_weight == 0 and config.data.patch_size == 28


def test_the_neighbours_per_frame_reach_a_term_the_recipe_turns_on(viewer, registry):
    viewer.add_image(np.random.default_rng(0).random((50, 28, 28), dtype=np.float32), name="frames")
    widget = TrainWidget(viewer, registry=registry)
    widget.task.setCurrentText("reconstruct")
    widget.neighbours.setValue(3)  # the weight on auto: the recipe turns the term on
    training = widget.config().training
    assert training.neighbour_weight > 0 and training.neighbours == 3


def test_the_3d_box_on_a_single_image_says_what_is_missing(viewer, registry):
    viewer.add_image(np.zeros((64, 64), np.float32), name="image")
    widget = TrainWidget(viewer, registry=registry)
    widget.three_d.setChecked(True)

    with pytest.raises(ValueError, match="'three_d' needs a Z axis.*'YX'"):
        widget.config()
