"""Tests for the widgets' translation of layers to arrays and back."""

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Image

from napari_autoencoders.widgets import layers
from napari_autoencoders.widgets.layers import LayerComboBox, contrast_limits


def test_contrast_limits_of_a_large_colour_result_span_every_colour(monkeypatch):
    monkeypatch.setattr(layers, "_MAX_SAMPLES", 999)
    rng = np.random.default_rng(0)
    colours = rng.random((60, 50, 3), dtype=np.float32) * np.array([1, 100, 50], np.float32)
    low, high = contrast_limits(colours)  # a stride of 9 read only the first colour
    expected_low, expected_high = np.percentile(colours, layers.CONTRAST_PERCENTILES)
    assert abs(high - expected_high) < 2 and abs(low - expected_low) < 0.5 and high > 90


def test_a_layer_replaced_in_place_is_listed_instead(qtbot):
    viewer = ViewerModel()
    viewer.add_image(np.zeros((8, 8), np.float32), name="old")
    combo = LayerComboBox(viewer)
    qtbot.addWidget(combo)
    viewer.layers[0] = Image(np.ones((8, 8), np.float32), name="new")
    assert [combo.itemText(i) for i in range(combo.count())] == ["new"]
    assert combo.layer() is viewer.layers[0]


def test_axes_left_empty_are_guessed_or_asked_for():
    assert layers.layer_axes(Image(np.zeros((3, 8, 8))), " ") == "SYX"
    with pytest.raises(ValueError, match="cannot guess the axes of a 5-dimensional image"):
        layers.layer_axes(Image(np.zeros((2, 2, 2, 8, 8))), "")


def test_metadata_of_one_entry_per_frame_is_dropped_for_other_frames():
    metadata = {
        "labels": np.arange(5), "ragged": [[1], [1, 2], [], [3], [4, 5, 6]], "names": tuple("abcde"),
        "scalar": np.array(5.0), "text": "abcde", "other": [1, 2],
    }
    kept = layers.drop_per_frame(metadata, 5, 8)
    assert sorted(kept) == ["other", "scalar", "text"]
    assert layers.drop_per_frame(metadata, 5, 5) == metadata
    assert layers.drop_per_frame(metadata, 5, 5) is not metadata
