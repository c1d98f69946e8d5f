"""The Train widget's super-resolution task: its rows, modes and trainings."""

import pytest

from napari_autoencoders.core.data.resolution import downscale

TIMEOUT_MS = 60_000


@pytest.fixture
def widget(viewer, make_train_widget):
    return make_train_widget(viewer, patch_size=8, batch_size=2, width=8, epochs=1, steps_per_epoch=2)


def train_and_wait(qtbot, widget):
    widget.train()
    assert not widget.train_button.isEnabled()
    qtbot.waitUntil(widget.train_button.isEnabled, timeout=TIMEOUT_MS)


def test_superres_offers_its_modes_and_options(widget):
    widget.task.setCurrentText("superres")
    modes = [widget.mode.itemText(i) for i in range(widget.mode.count())]
    assert modes == ["from-highres", "paired", "zero-shot"]
    assert not widget.factor.isHidden() and not widget.downscale.isHidden()
    assert widget.target_layer.isHidden() and widget.noise.isHidden() and widget.depth.isHidden()
    widget.mode.setCurrentText("paired")
    assert not widget.target_layer.isHidden() and widget.downscale.isHidden()
    assert widget.form.labelForField(widget.target_layer).text() == "high-res target"
    widget.task.setCurrentText("denoise")
    assert widget.mode.currentText() == "paired" and widget.factor.isHidden()
    assert widget.form.labelForField(widget.target_layer).text() == "clean target"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["from-highres", "zero-shot", "paired"])
def test_superres_modes_train(qtbot, viewer, widget, registry, make_noisy, notifications, mode):
    high = make_noisy((192, 192) if mode == "zero-shot" else (48, 48))  # zero-shot: a 64 px copy
    viewer.add_image(downscale(high, 3), name="low")
    viewer.add_image(high, name="high")
    widget.task.setCurrentText("superres")
    widget.mode.setCurrentText(mode)
    widget.factor.setCurrentText("3")
    widget.downscale.setText("gaussian:1.2")
    widget.input_layer.set_layer(viewer.layers["low" if mode == "paired" else "high"])
    widget.target_layer.set_layer(viewer.layers["high"])

    train_and_wait(qtbot, widget)

    assert notifications["error"] == []
    assert registry.names() == [f"superres ×3 ({mode}) on {widget.input_layer.layer().name} #1"]
    config = widget.model.config
    assert (config.model.architecture, config.model.factor) == ("superres", 3)
    # paired training downscales nothing: the hidden field is not used
    assert config.training.downscale == ("area" if mode == "paired" else "gaussian:1.2")


def test_bad_superres_input_is_reported(viewer, widget, make_noisy, notifications):
    viewer.add_image(make_noisy((20, 20)), name="small")
    widget.task.setCurrentText("superres")
    widget.factor.setCurrentText("4")
    widget.train()
    widget.mode.setCurrentText("paired")
    widget.target_layer.set_layer(viewer.add_image(make_noisy((30, 30)), name="big"))
    widget.input_layer.set_layer(viewer.layers["small"])
    widget.train()
    assert len(notifications["error"]) == 2
    assert "smaller than the 8x8 training patch" in notifications["error"][0]
    assert "not 4 times" in notifications["error"][1]
    assert widget.worker is None
