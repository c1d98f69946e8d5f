"""The Train widget's form follows the layer."""

import numpy as np
import pytest

from napari_autoencoders.core.config import DataConfig
from napari_autoencoders.widgets.train import TrainWidget


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


def test_the_patch_shrinks_to_a_small_layer_and_grows_back(viewer, registry):
    big = viewer.add_image(np.zeros((100, 100), np.float32), name="big")
    small = viewer.add_image(np.zeros((30, 28, 28), np.float32), name="digits")
    widget = TrainWidget(viewer, registry=registry)
    default = DataConfig().patch_size
    widget.input_layer.set_layer(small)
    assert widget.patch_size.value() == 28
    widget.input_layer.set_layer(big)
    assert widget.patch_size.value() == default

    widget.patch_size.setValue(48)  # the user's own choice comes back too
    widget.input_layer.set_layer(small)
    assert widget.patch_size.value() == 28
    widget.input_layer.set_layer(big)
    assert widget.patch_size.value() == 48

    widget.input_layer.set_layer(small)
    widget.patch_size.setValue(16)  # chosen on the small layer: kept on the big one
    widget.input_layer.set_layer(big)
    assert widget.patch_size.value() == 16
