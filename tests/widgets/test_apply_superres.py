"""Upscaled result layers (widgets/resolution.py), through the Apply widget."""

import numpy as np
import pytest
from napari.layers import Image

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.training import fit
from napari_autoencoders.widgets.apply import ApplyWidget
from napari_autoencoders.widgets.resolution import upscaled_layer

TIMEOUT_MS = 60_000


def tiny_upscaler(image, *, factor, axes="YX"):
    config = Config(
        model=ModelConfig(architecture="superres", factor=factor, width=8, blocks=1),
        data=DataConfig(axes=axes, patch_size=8, batch_size=2),
        training=TrainingConfig(task="superres", mode="zero-shot", epochs=1, steps_per_epoch=2),
    )
    return fit(config, image)


def check_overlay(source, result, factor):
    """High-resolution pixel j is centred at source coordinate (j + 0.5) / factor - 0.5."""
    for index in [(0, 0), (1, 0), (0, 2), (2 * factor - 1, 3 * factor + 1)]:
        expected = source.data_to_world((np.asarray(index) + 0.5) / factor - 0.5)
        np.testing.assert_allclose(result.data_to_world(index), expected, atol=1e-9)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_apply_widget_adds_a_super_resolved_layer_over_the_input(
    qtbot, viewer, registry, make_noisy, notifications, factor
):
    image = make_noisy((24, 20))
    name = registry.add(tiny_upscaler(make_noisy((40, 40)), factor=factor), "upscaler")
    cells = viewer.add_image(image, name="cells", scale=(2, 3), translate=(5, -7), metadata={"a": 1})
    widget = ApplyWidget(viewer, registry=registry)
    widget.model_choice.setCurrentText(name)

    widget.apply()
    qtbot.waitUntil(widget.apply_button.isEnabled, timeout=TIMEOUT_MS)

    assert notifications["error"] == []
    result = viewer.layers[f"cells super-resolved ×{factor}"]
    assert result.data.shape == (24 * factor, 20 * factor)
    np.testing.assert_allclose(result.scale, (2 / factor, 3 / factor))
    # pixel (0, 0)'s centre: translate + scale * (0.5 / factor - 0.5)
    np.testing.assert_allclose(result.translate, (5, -7) + np.array([2, 3]) * (0.5 / factor - 0.5))
    check_overlay(cells, result, factor)
    assert result.metadata == {"a": 1}
    np.testing.assert_array_equal(cells.data, image)
    np.testing.assert_array_equal(cells.scale, (2, 3))


def test_stacks_keep_their_other_axes(make_noisy):
    source = Image(make_noisy((3, 10, 12)), scale=(4, 2, 3), translate=(1, 5, 7), rotate=30)
    result = upscaled_layer(source, np.zeros((3, 20, 24), np.float32), factor=2, axes="TYX")
    np.testing.assert_allclose(result.scale, (4, 1, 1.5))
    assert result.translate[0] == 1
    for j, i in [(0, 0), (3, 5)]:
        expected = source.data_to_world((1, (j + 0.5) / 2 - 0.5, (i + 0.5) / 2 - 0.5))
        np.testing.assert_allclose(result.data_to_world((1, j, i)), expected, atol=1e-9)


def test_rgb_layers_have_no_colour_dimension(make_noisy):
    rgb = np.stack([make_noisy((8, 6), seed=s) for s in range(3)], axis=-1)
    source = Image(rgb, rgb=True, scale=(2, 2))
    result = upscaled_layer(source, np.zeros((24, 18, 3), np.float32), factor=3, axes="YXC")
    assert result.rgb
    np.testing.assert_allclose(result.scale, (2 / 3, 2 / 3))
    check_overlay(source, result, 3)


@pytest.mark.parametrize("ticked", [True, False])
def test_the_orientation_average_box_chooses_the_ensemble(
    qtbot, viewer, registry, make_noisy, notifications, ticked
):
    import torch

    image = make_noisy((24, 20))
    model = tiny_upscaler(make_noisy((40, 40)), factor=2)
    torch.nn.init.normal_(model.network.tail.weight, std=0.1)  # not equivariant
    name = registry.add(model, "upscaler")
    viewer.add_image(image, name="cells")
    widget = ApplyWidget(viewer, registry=registry)
    widget.model_choice.setCurrentText(name)
    assert widget.ensemble.isChecked()  # by default
    widget.ensemble.setChecked(ticked)

    widget.apply()
    qtbot.waitUntil(widget.apply_button.isEnabled, timeout=TIMEOUT_MS)

    assert notifications["error"] == []
    expected = model.predict(image, ensemble=ticked, tile=widget.tile.value())
    np.testing.assert_allclose(viewer.layers["cells super-resolved ×2"].data, expected, atol=1e-4)
