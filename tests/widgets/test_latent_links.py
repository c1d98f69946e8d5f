"""The links of a latent scatter to its source as the user changes the layers: channel axes
first, deleted points, several scatters, edited labels, replaced or removed sources."""

import threading

import numpy as np
import pytest

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.training import fit
from napari_autoencoders.widgets import latent as latent_module
from napari_autoencoders.widgets.latent import LatentWidget

TIMEOUT_MS = 60_000
SIZE = 16


def tiny(axes="SYX", channels=1):
    config = Config(
        model=ModelConfig(architecture="autoencoder", depth=1, width=4, latent_dim=3, input_size=SIZE),
        data=DataConfig(axes=axes, patch_size=SIZE, batch_size=2, percentiles=(0.0, 100.0)),
        training=TrainingConfig(task="reconstruct", epochs=1, steps_per_epoch=2, device="cpu"),
    )
    shape = (8, SIZE, SIZE) if channels == 1 else (8, channels, SIZE, SIZE)
    return fit(config, np.random.default_rng(0).random(shape, dtype=np.float32))


@pytest.fixture(scope="module")
def grey():
    return tiny()


@pytest.fixture
def messages(monkeypatch):
    found = {"error": [], "warning": [], "info": []}
    for kind, store in found.items():
        monkeypatch.setattr(latent_module, f"show_{kind}", store.append)
    return found


def make_widget(make_napari_viewer, registry, model):
    viewer = make_napari_viewer()
    registry.add(model, "tiny")
    widget = LatentWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    return widget


@pytest.fixture
def widget(make_napari_viewer, registry, grey):
    return make_widget(make_napari_viewer, registry, grey)


def encode(qtbot, widget, layer=None):
    if layer is not None:
        widget.image_layer.set_layer(layer)
    widget.encode()
    qtbot.waitUntil(widget.encode_button.isEnabled, timeout=TIMEOUT_MS)


def stack(count=12, seed=1):
    return np.random.default_rng(seed).random((count, SIZE, SIZE), dtype=np.float32)


def test_frames_of_a_channel_first_stack_link_to_its_z_slider(qtbot, make_napari_viewer, registry, messages):
    widget = make_widget(make_napari_viewer, registry, tiny("SCYX", channels=2))
    viewer = widget.viewer
    viewer.add_image(np.random.default_rng(0).random((2, 6, SIZE, SIZE), dtype=np.float32), name="cz")
    widget.axes.setText("CZYX")
    encode(qtbot, widget)
    points = viewer.layers["cz latent"]
    viewer.dims.set_current_step(1, 4)
    assert set(points.selected_data) == {4}  # frame 0 before
    points.selected_data = {5}  # the C slider moved, then an IndexError
    assert viewer.dims.current_step[:2] == (0, 5) and messages["error"] == []


def test_tiles_of_a_channel_first_image_map_onto_its_plane(qtbot, make_napari_viewer, registry, messages):
    widget = make_widget(make_napari_viewer, registry, tiny("SCYX", channels=2))
    viewer = widget.viewer
    viewer.add_image(np.random.default_rng(0).random((2, 64, 48), dtype=np.float32), name="cyx")
    widget.axes.setText("CYX")
    widget.mode.setCurrentText("tiles")
    encode(qtbot, widget)  # the grid was cut from (C, Y): a reshape error in the Qt loop
    assert messages["error"] == []
    assert viewer.layers["cyx clusters"].data.shape == (4, 3)


def test_deleted_points_keep_their_frames(qtbot, widget):
    viewer = widget.viewer
    data = stack()
    viewer.add_image(data, name="d")
    encode(qtbot, widget)
    points = viewer.layers["d latent"]
    points.selected_data = {0}
    points.remove_selected()
    points.selected_data = {0}  # the point of frame 1 now
    assert viewer.dims.current_step[0] == 1
    points.selected_data = {3}
    widget.selection_to_stack()
    np.testing.assert_array_equal(viewer.layers[-1].data, data[[4]])
    viewer.dims.set_current_step(0, 7)
    assert set(points.selected_data) == {6}


def test_the_buttons_act_on_the_active_scatter(qtbot, widget, messages):
    viewer = widget.viewer
    first = viewer.add_image(stack(seed=1), name="A")
    encode(qtbot, widget, first)
    encode(qtbot, widget, viewer.add_image(stack(seed=2), name="B"))
    a, b = viewer.layers["A latent"], viewer.layers["B latent"]
    viewer.layers.selection.active = a
    a.selected_data = {1, 4}
    before = b.features["cluster"].tolist()
    widget.selection_to_cluster()
    assert b.features["cluster"].tolist() == before
    assert len(set(a.features["cluster"][[1, 4]])) == 1
    widget.selection_to_stack()
    np.testing.assert_array_equal(viewer.layers["A selection (2)"].data, first.data[[1, 4]])
    viewer.layers.remove(b)  # the last scatter gone: the one left still works
    widget.selection_to_stack()
    assert messages["error"] == [] and viewer.layers[-1].name.startswith("A selection (2)")


def test_a_cancel_after_the_encoding_stops_before_the_clustering(qtbot, widget, messages, monkeypatch):
    viewer = widget.viewer
    viewer.add_image(stack(), name="d")
    projecting, clustered = threading.Event(), []
    real_embed = latent_module.embed

    def slow_embed(*args, **kwargs):
        projecting.set()
        threading.Event().wait(1.0)  # long enough to press Cancel
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(latent_module, "embed", slow_embed)
    monkeypatch.setattr(latent_module, "cluster", lambda *args, **kwargs: clustered.append(1))
    widget.encode()
    qtbot.waitUntil(projecting.is_set, timeout=TIMEOUT_MS)
    widget.cancel()
    qtbot.waitUntil(widget.encode_button.isEnabled, timeout=TIMEOUT_MS)
    assert clustered == [] and "d latent" not in viewer.layers
    assert messages["info"] == ["Cancelled; nothing was added."]


def test_labels_edited_after_encoding_keep_the_encoded_objects(qtbot, widget):
    viewer = widget.viewer
    image = np.random.default_rng(2).random((60, 60), dtype=np.float32)
    labels = np.zeros((60, 60), np.int32)
    for label, (y, x) in enumerate([(10, 10), (10, 45), (30, 30), (50, 10), (50, 50)], start=1):
        labels[y - 3 : y + 3, x - 3 : x + 3] = label
    widget.image_layer.set_layer(viewer.add_image(image, name="cells"))
    painted = viewer.add_labels(labels, name="cells labels")
    widget.labels_layer.set_layer(painted)
    widget.mode.setCurrentText("objects")
    encode(qtbot, widget)
    points = viewer.layers["cells latent"]
    points.selected_data = {1}  # object 2
    widget.selection_to_stack()
    encoded = viewer.layers[-1].data
    painted.fill((10, 45), 0)  # object 2 erased in place
    widget.selection_to_stack()  # object 3's crop before
    np.testing.assert_array_equal(viewer.layers[-1].data, encoded)


def test_a_replaced_or_removed_source_is_no_longer_linked(qtbot, widget, messages):
    viewer = widget.viewer
    source = viewer.add_image(stack(), name="d")
    encode(qtbot, widget)
    points = viewer.layers["d latent"]
    source.data = stack(5, seed=3)
    step = viewer.dims.current_step[0]
    points.selected_data = {8}  # an IndexError in napari's selection event before
    assert viewer.dims.current_step[0] == step
    viewer.layers.remove(source)
    viewer.add_image(np.zeros((30, 40, 40), np.float32), name="other")
    viewer.dims.set_current_step(0, 20)
    points.selected_data = {5}  # moved the other layer's slider to 5 before
    assert viewer.dims.current_step[0] == 20


def test_the_items_layers_are_placed_as_the_source_with_its_metadata(qtbot, widget):
    viewer = widget.viewer
    image = np.random.default_rng(3).random((48, 64), dtype=np.float32)
    source = viewer.add_image(image, name="big", rotate=90, metadata={"pixel_size_um": 0.2})
    widget.mode.setCurrentText("tiles")
    encode(qtbot, widget)
    tiles, boxes = viewer.layers["big clusters"], viewer.layers["big selection"]
    assert tiles.metadata == {"pixel_size_um": 0.2}
    np.testing.assert_allclose(tiles.rotate, source.rotate)
    np.testing.assert_allclose(boxes.rotate, source.rotate)
    # the first tile's centre, 7.5 pixels in along each axis, lands where the source has it
    np.testing.assert_allclose(tiles.data_to_world((0, 0)), source.data_to_world((7.5, 7.5)))
    np.testing.assert_allclose(tiles.data_to_world((1, 2)), source.data_to_world((23.5, 39.5)))
