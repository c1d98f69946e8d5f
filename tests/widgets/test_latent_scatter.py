import threading

import numpy as np
import pytest

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.latent.encoding import FRAMES, TILES
from napari_autoencoders.core.training import Trainer, fit
from napari_autoencoders.widgets import latent as latent_module
from napari_autoencoders.widgets import threads
from napari_autoencoders.widgets.latent import LatentWidget
from napari_autoencoders.widgets.scatter import cluster_colors, cluster_legend

TIMEOUT_MS = 60_000
SIZE = 16


def tiny(task="reconstruct", architecture="autoencoder", axes="SYX"):
    config = Config(
        model=ModelConfig(architecture=architecture, depth=1, width=8, latent_dim=3, input_size=SIZE),
        data=DataConfig(axes=axes, patch_size=SIZE, batch_size=2),
        training=TrainingConfig(task=task, epochs=1, steps_per_epoch=2, device="cpu"),
    )
    rng = np.random.default_rng(0)
    shape = {"SYX": (4, SIZE, SIZE), "SCYX": (4, 2, SIZE, SIZE)}.get(axes, (32, 32))
    return fit(config, rng.random(shape, dtype=np.float32))


@pytest.fixture(scope="module")
def encoder():
    return tiny()


@pytest.fixture
def messages(monkeypatch):
    found = {"error": [], "warning": [], "info": []}
    for kind, store in found.items():
        monkeypatch.setattr(latent_module, f"show_{kind}", store.append)
    monkeypatch.setattr(threads, "show_warning", found["warning"].append)  # the workers' warnings
    return found


@pytest.fixture
def widget(viewer, registry, encoder):
    registry.add(encoder, "tiny encoder")
    widget = LatentWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    return widget


def run_and_wait(qtbot, widget, action):
    action()
    assert not widget.encode_button.isEnabled()
    qtbot.waitUntil(widget.encode_button.isEnabled, timeout=TIMEOUT_MS)


def cells(centres):
    """A 60x60 image and its labels: objects 1, 2... of 6x6 pixels at ``centres`` (Y, X)."""
    image = np.random.default_rng(2).random((60, 60), dtype=np.float32)
    labels = np.zeros((60, 60), np.int32)
    for label, (y, x) in enumerate(centres, start=1):
        labels[y - 3 : y + 3, x - 3 : x + 3] = label
    return image, labels


def stack(count=12, seed=1):
    return np.random.default_rng(seed).random((count, SIZE, SIZE), dtype=np.float32)


def test_frames_make_a_coloured_scatter_beside_the_stack(qtbot, widget, messages):
    viewer = widget.viewer
    viewer.add_image(stack(), name="digits", scale=(1, 2, 2), translate=(0, 10, 5))
    widget.clusters.setValue(3)
    run_and_wait(qtbot, widget, widget.encode)

    assert messages["error"] == []
    points = viewer.layers["digits latent"]
    features = points.features
    assert list(features.columns) == ["z0", "z1", "z2", "x", "y", "frame", "cluster"]
    assert len(points.data) == 12 and features["cluster"].dtype == "category"
    np.testing.assert_array_equal(features["frame"], np.arange(12))
    np.testing.assert_allclose(points.face_color, cluster_colors(features["cluster"].to_numpy(int)))
    assert set(features["cluster"]) == {0, 1, 2}
    assert "cluster 2" in widget.legend.text()
    # beside the image: the boxes of the scatter and the image do not overlap
    image_box = viewer.layers["digits"].extent.world[:, -2:]
    points_box = points.extent.world
    assert points_box[0, 1] > image_box[1, 1]
    np.testing.assert_allclose(points_box[:, 0], image_box[:, 0], atol=points.size.max())


def test_a_constant_stack_makes_one_cluster_with_a_warning(qtbot, widget, messages):
    widget.viewer.add_image(np.full((6, SIZE, SIZE), 0.5, np.float32), name="blank")
    run_and_wait(qtbot, widget, widget.encode)
    assert messages["error"] == []
    assert any("all 6 items have the same latent code" in m for m in messages["warning"])
    assert set(widget.viewer.layers["blank latent"].features["cluster"]) == {0}


def test_a_hundred_clusters_have_a_hundred_colours():
    colours = cluster_colors(np.arange(-1, 100))
    assert len(np.unique(colours, axis=0)) == 101
    np.testing.assert_array_equal(colours[1:19], cluster_colors(np.arange(18)))
    assert cluster_legend(np.array([0])).split("color:")[1][:7] != (
        cluster_legend(np.array([18])).split("color:")[1][:7]
    )


def test_frames_link_both_ways(qtbot, widget):
    viewer = widget.viewer
    viewer.add_image(stack(), name="digits")
    run_and_wait(qtbot, widget, widget.encode)
    points = viewer.layers["digits latent"]

    points.selected_data = {7}
    assert viewer.dims.current_step[0] == 7
    viewer.dims.set_current_step(0, 3)
    assert set(points.selected_data) == {3}


def test_selection_becomes_a_cluster_and_a_stack(qtbot, widget, messages):
    viewer = widget.viewer
    data = stack()
    viewer.add_image(data, name="digits")
    widget.clusters.setValue(2)
    run_and_wait(qtbot, widget, widget.encode)
    points = viewer.layers["digits latent"]
    widget.selection_to_cluster()
    assert messages["error"] and "no point is selected" in messages["error"][-1]

    points.selected_data = {1, 4}
    widget.selection_to_cluster()
    clusters = points.features["cluster"].to_numpy(int)
    assert clusters[1] == clusters[4] == 2 and np.sum(clusters == 2) == 2
    np.testing.assert_allclose(points.face_color[1], cluster_colors([2])[0])
    widget.selection_to_stack()
    np.testing.assert_array_equal(viewer.layers["digits selection (2)"].data, data[[1, 4]])


def test_a_stack_of_the_selection_comes_from_the_shown_scatters_layer(qtbot, widget, messages):
    viewer = widget.viewer
    first = viewer.add_image(stack(), name="first")
    run_and_wait(qtbot, widget, widget.encode)
    shown = widget.scatter
    widget.image_layer.set_layer(viewer.add_image(np.full((3000, SIZE, SIZE), 7.0, np.float32), name="second"))
    widget.encode()
    widget.cancel()  # the second encoding never shows
    qtbot.waitUntil(widget.encode_button.isEnabled, timeout=TIMEOUT_MS)

    assert widget.scatter is shown
    shown.points.selected_data = {1, 4}
    widget.selection_to_stack()
    np.testing.assert_array_equal(viewer.layers["first selection (2)"].data, first.data[[1, 4]])


def test_a_stack_of_a_selection_of_channels_keeps_them_as_an_axis(qtbot, viewer, registry):
    config = Config(
        model=ModelConfig(architecture="autoencoder", depth=1, width=8, latent_dim=3, input_size=SIZE),
        data=DataConfig(axes="SCYX", patch_size=SIZE, batch_size=2),
        training=TrainingConfig(task="reconstruct", epochs=1, steps_per_epoch=2, device="cpu"),
    )
    data = np.random.default_rng(0).random((12, 2, SIZE, SIZE), dtype=np.float32)
    registry.add(fit(config, data), "two channels")
    widget = LatentWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(data, name="pairs", scale=(2, 1, 0.5, 0.25), translate=(10, 3, 2, 1))
    widget.axes.setText("SCYX")
    run_and_wait(qtbot, widget, widget.encode)

    widget.scatter.points.selected_data = {1, 4}
    widget.selection_to_stack()
    selection = viewer.layers["pairs selection (2)"]
    np.testing.assert_array_equal(selection.data, data[[1, 4]])
    # the frames' pixel size and place; the new stack's and channels' axes from 0
    np.testing.assert_array_equal(selection.scale, (1, 1, 0.5, 0.25))
    np.testing.assert_array_equal(selection.translate, (0, 0, 2, 1))


@pytest.mark.slow
def test_objects_get_a_cluster_labels_layer_and_outlines(qtbot, widget):
    viewer = widget.viewer
    image, labels = cells([(5, 5), (10, 40), (30, 30), (50, 10), (50, 50)])
    viewer.add_image(image, name="cells")
    viewer.add_labels(labels, name="cells labels")
    widget.image_layer.set_layer(viewer.layers["cells"])
    widget.mode.setCurrentText("objects")
    widget.clusters.setValue(2)
    run_and_wait(qtbot, widget, widget.encode)

    points = viewer.layers["cells latent"]
    np.testing.assert_array_equal(points.features["label"], [1, 2, 3, 4, 5])
    clusters_layer = viewer.layers["cells clusters"]
    colors = cluster_colors(points.features["cluster"].to_numpy(int))
    np.testing.assert_allclose(clusters_layer.colormap.map(np.array([3]))[0], colors[2], atol=1e-6)
    points.selected_data = {2}
    outlines = viewer.layers["cells selection"]
    assert len(outlines.data) == 1
    np.testing.assert_allclose(outlines.data[0].mean(axis=0), (29.5, 29.5))
    clusters_layer.selected_label = 4
    assert set(points.selected_data) == {3}


def test_tiles_get_a_map_of_cluster_ids_over_the_image(qtbot, widget):
    viewer = widget.viewer
    image = np.random.default_rng(3).random((48, 64), dtype=np.float32)
    viewer.add_image(image, name="big", scale=(2, 2))
    widget.mode.setCurrentText("tiles")
    widget.stride.setValue(16)
    run_and_wait(qtbot, widget, widget.encode)

    assert len(viewer.layers["big latent"].data) == 12
    tiles = viewer.layers["big clusters"]
    assert tiles.data.shape == (3, 4)
    np.testing.assert_allclose(tiles.scale, (32, 32))


def test_the_items_colouring_is_readied_in_the_worker(qtbot, widget, monkeypatch):
    readied = []

    def ready(encoding, labels):  # napari compiles its label colouring the first time
        readied.append((threading.get_ident(), encoding.kind, labels))
        warm(encoding, labels)

    warm = latent_module.warm_items_colouring
    monkeypatch.setattr(latent_module, "warm_items_colouring", ready)
    widget.viewer.add_image(np.random.default_rng(3).random((48, 64), dtype=np.float32), name="big")
    widget.mode.setCurrentText("tiles")
    widget.stride.setValue(16)
    run_and_wait(qtbot, widget, widget.encode)

    assert [(kind, labels) for _, kind, labels in readied] == [(TILES, None)]
    assert readied[0][0] != threading.get_ident()
    assert "big clusters" in widget.viewer.layers


def test_frames_have_no_items_colouring_to_ready():
    from napari_autoencoders.widgets.scatter import warm_items_colouring

    class Frames:
        kind = FRAMES

    assert warm_items_colouring(Frames(), None) is None


def test_a_dask_layer_is_encoded_without_being_read_whole(qtbot, widget, encoder, monkeypatch):
    da = pytest.importorskip("dask.array")
    data = stack(12)
    lazy = da.from_array(data, chunks=(3, SIZE, SIZE))
    widget.viewer.add_image(lazy, name="digits")
    encoded = []
    real = latent_module.iter_encode_frames
    monkeypatch.setattr(
        latent_module, "iter_encode_frames", lambda model, image, **o: encoded.append(image) or real(model, image, **o)
    )
    run_and_wait(qtbot, widget, widget.encode)

    assert encoded == [lazy]  # handed on lazily, read batch by batch by the core
    assert len(widget.viewer.layers["digits latent"].data) == 12
    widget.viewer.layers["digits latent"].selected_data = {2, 5}
    widget.selection_to_stack()
    np.testing.assert_array_equal(widget.viewer.layers["digits selection (2)"].data, data[[2, 5]])


@pytest.mark.parametrize(
    "setup, message",
    [
        ("unet", "no encoder"),
        ("no labels", "no labels layer"),
        ("small labels", "do not match"),
    ],
)
def test_bad_input_is_reported(qtbot, widget, registry, messages, setup, message):
    viewer = widget.viewer
    viewer.add_image(np.random.default_rng(0).random((40, 40), dtype=np.float32), name="img")
    if setup == "unet":
        registry.add(tiny(task="denoise", architecture="unet", axes="YX"), "unet")
        widget.model_choice.setCurrentText(registry.names()[-1])
    else:
        widget.mode.setCurrentText("objects")
    if setup == "small labels":
        viewer.add_labels(np.ones((20, 20), np.int32))
    widget.encode()
    assert widget.encode_button.isEnabled()
    assert message in messages["error"][-1]


def train_on_two_objects(qtbot, widget, *, epochs):
    """Train on 16-pixel crops of the two objects of a 40x40 image, for ``epochs`` epochs."""
    labels = np.zeros((40, 40), np.int32)
    labels[5:10, 5:10], labels[20:30, 20:30] = 1, 2
    widget.viewer.add_image(np.random.default_rng(2).random((40, 40), dtype=np.float32), name="cells")
    widget.viewer.add_labels(labels)
    widget.crop_size.setValue(16)
    widget.epochs.setValue(epochs)
    run_and_wait(qtbot, widget, widget.train_on_objects)


@pytest.mark.slow
def test_training_on_objects_adds_a_model(qtbot, widget, registry, messages):
    before = len(registry)
    train_on_two_objects(qtbot, widget, epochs=1)
    assert messages["error"] == []
    assert len(registry) == before + 1
    assert widget.model().config.model.input_size == 16


@pytest.mark.slow
def test_a_diverged_training_on_objects_keeps_its_best_validated_model(
    qtbot, widget, registry, messages, monkeypatch
):
    original = Trainer._loss

    def diverging(self, *args, **kwargs):  # after the first validation
        value = original(self, *args, **kwargs)
        return value * float("nan") if self.history else value

    monkeypatch.setattr(Trainer, "_loss", diverging)
    before = len(registry)
    train_on_two_objects(qtbot, widget, epochs=3)

    assert "the training diverged" in messages["error"][-1]
    assert len(registry) == before + 1 and len(widget.model().history) == 1


@pytest.mark.slow
def test_a_training_on_objects_cancelled_after_an_epoch_keeps_its_best_model(
    qtbot, widget, registry, messages, monkeypatch
):
    original = Trainer._record

    def cancel_after_the_first_epoch(self, *args, **kwargs):
        stale = original(self, *args, **kwargs)
        widget.cancel()  # the worker ends at its next yield, as after a click on Cancel
        return stale

    monkeypatch.setattr(Trainer, "_record", cancel_after_the_first_epoch)
    before = len(registry)
    train_on_two_objects(qtbot, widget, epochs=5)

    assert messages["error"] == [] and "Cancelled after 1 epoch(s); kept" in messages["info"][-1]
    assert len(registry) == before + 1 and len(widget.model().history) == 1


def test_100k_points_make_one_layer_coloured_by_cluster(viewer):
    # how long this blocks napari is measured in bench/responsiveness.py, not here
    from napari_autoencoders.core.latent.encoding import Encoding
    from napari_autoencoders.widgets.scatter import LatentScatter, cluster_colors

    source = viewer.add_image(np.zeros((100_000, 4, 4), np.uint8), name="many")
    rng = np.random.default_rng(0)
    count = 100_000
    encoding = Encoding(rng.random((count, 4), dtype=np.float32), np.arange(count), np.zeros((count, 2)), "frame")
    clusters = rng.integers(0, 10, count)
    scatter = LatentScatter(viewer, source, encoding, rng.random((count, 2)), clusters,
                            size=4, stack_axes=(0,))
    assert len(scatter.points.data) == count
    assert [layer.name for layer in viewer.layers].count(scatter.points.name) == 1
    np.testing.assert_allclose(scatter.points.face_color, cluster_colors(clusters))


def test_points_shrink_with_their_number_within_bounds():
    from napari_autoencoders.widgets.scatter import point_size

    sizes = [point_size(100.0, count) for count in (10, 1_000, 10_000, 100_000, 10**7)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] == 2.0 and sizes[-1] == 0.25  # 1/50 and 1/400 of the side
    assert point_size(100.0, 10_000) == 0.5


@pytest.mark.slow
def test_training_on_objects_can_keep_their_neighbours(qtbot, widget, registry, messages):
    from napari_autoencoders.widgets.latent import NEIGHBOUR_OBJECTS

    viewer = widget.viewer
    image = np.random.default_rng(3).random((120, 120), dtype=np.float32)
    labels = np.zeros((120, 120), np.int32)
    for index in range(NEIGHBOUR_OBJECTS):  # a 5 x 4 grid of squares
        row, col = divmod(index, 5)
        labels[5 + 24 * row : 15 + 24 * row, 5 + 24 * col : 15 + 24 * col] = index + 1
    viewer.add_image(image, name="cells")
    viewer.add_labels(labels)
    widget.crop_size.setValue(16)
    widget.epochs.setValue(1)
    run_and_wait(qtbot, widget, widget.train_on_objects)
    assert messages["error"] == []
    assert widget.model().config.training.neighbour_weight > 0


@pytest.mark.slow
def test_too_few_objects_train_without_the_neighbour_term(qtbot, widget, registry, messages):
    viewer = widget.viewer
    labels = np.zeros((40, 40), np.int32)
    labels[5:10, 5:10], labels[20:30, 20:30] = 1, 2
    viewer.add_image(np.random.default_rng(2).random((40, 40), dtype=np.float32), name="cells")
    viewer.add_labels(labels)
    widget.crop_size.setValue(16)
    widget.epochs.setValue(1)
    assert widget.neighbour_term.isChecked()  # the recipe's choice by default
    run_and_wait(qtbot, widget, widget.train_on_objects)
    assert messages["error"] == []
    assert widget.model().config.training.neighbour_weight == 0


def test_unticking_keep_neighbours_turns_the_term_off(widget):
    crops = np.zeros((40, 1, 16, 16), np.float32)
    widget.crop_size.setValue(16)
    assert widget._object_config(crops).training.neighbour_weight > 0
    widget.neighbour_term.setChecked(False)
    assert widget._object_config(crops).training.neighbour_weight == 0


def objects_image(viewer):
    image = np.random.default_rng(2).random((60, 60), dtype=np.float32)
    labels = np.zeros((60, 60), np.int32)
    for label, (y, x) in enumerate([(5, 5), (10, 40), (30, 30), (50, 10), (50, 50)], start=1):
        labels[y - 3 : y + 3, x - 3 : x + 3] = label
    viewer.add_image(image, name="cells")
    viewer.add_labels(labels, name="cells labels")


def test_encoding_again_replaces_the_layers_of_that_source(qtbot, widget, messages):
    viewer = widget.viewer
    objects_image(viewer)
    viewer.add_image(stack(), name="digits")
    widget.image_layer.set_layer(viewer.layers["digits"])
    run_and_wait(qtbot, widget, widget.encode)  # frames of the digits
    widget.image_layer.set_layer(viewer.layers["cells"])
    widget.mode.setCurrentText("objects")
    run_and_wait(qtbot, widget, widget.encode)
    names = [layer.name for layer in viewer.layers]

    widget.clusters.setValue(2)
    run_and_wait(qtbot, widget, widget.encode)  # the cells again

    assert messages["error"] == []
    assert sorted(layer.name for layer in viewer.layers) == sorted(names)
    assert set(viewer.layers["cells latent"].features["cluster"]) == {0, 1}
    assert viewer.layers["digits latent"] in viewer.layers  # another source's scatter stays
    viewer.layers["cells latent"].selected_data = {0}
    assert len(viewer.layers["cells selection"].data) == 1


def test_the_points_are_active_after_encoding(qtbot, widget):
    viewer = widget.viewer
    objects_image(viewer)
    widget.image_layer.set_layer(viewer.layers["cells"])
    widget.mode.setCurrentText("objects")
    run_and_wait(qtbot, widget, widget.encode)  # adds points, then clusters and outlines
    points = viewer.layers["cells latent"]
    assert viewer.layers.selection.active is points
    assert points.mode == "select"


def test_selected_points_stand_out_on_every_cluster_colour(qtbot, widget):
    from napari_autoencoders.widgets.scatter import SELECTED_GROWTH

    viewer = widget.viewer
    viewer.add_image(stack(), name="digits")
    widget.clusters.setValue(3)
    run_and_wait(qtbot, widget, widget.encode)
    points, highlight = viewer.layers["digits latent"], viewer.layers["digits latent selection"]
    assert len(highlight.data) == 0
    assert viewer.layers.index(highlight) > viewer.layers.index(points)  # drawn on top

    points.selected_data = {1, 4}
    # the selected points again, in their cluster colours, larger and ringed in white
    np.testing.assert_allclose(highlight.data, points.data[[1, 4]])
    np.testing.assert_allclose(highlight.face_color, points.face_color[[1, 4]])
    np.testing.assert_allclose(highlight.size, SELECTED_GROWTH * points.size[[1, 4]])
    np.testing.assert_allclose(highlight.border_color, [[1, 1, 1, 1]] * 2)
    assert np.all(highlight.border_width > 0)

    widget.selection_to_cluster()  # the ring follows the new colour
    np.testing.assert_allclose(highlight.face_color, cluster_colors([3, 3]))
    points.selected_data = set()
    assert len(highlight.data) == 0


@pytest.mark.parametrize(
    "mode, shown",
    [
        ("frames", set()),
        ("tiles", {"stride"}),
        ("objects", {"labels_layer", "mask", "train_row", "neighbour_term", "train_button"}),
    ],
)
def test_only_the_controls_of_the_mode_are_shown(widget, mode, shown):
    widget.mode.setCurrentText(mode)
    optional = {"stride", "labels_layer", "mask", "train_row", "neighbour_term", "train_button"}
    visible = {name for name in optional if not getattr(widget, name).isHidden()}
    assert visible == shown
    for name in optional - {"train_button", "neighbour_term"}:  # those two have no label
        label = widget.form.labelForField(getattr(widget, name))
        assert label.isHidden() == (name not in shown)


# -- links as the user changes the layers -----------------------------------


def encode(qtbot, widget, layer=None):
    if layer is not None:
        widget.image_layer.set_layer(layer)
    run_and_wait(qtbot, widget, widget.encode)


def two_channel_widget(viewer, registry):
    registry.add(tiny(axes="SCYX"), "two channels")
    widget = LatentWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    return widget


def test_frames_of_a_channel_first_stack_link_to_its_z_slider(qtbot, viewer, registry, messages):
    widget = two_channel_widget(viewer, registry)
    viewer = widget.viewer
    viewer.add_image(np.random.default_rng(0).random((2, 6, SIZE, SIZE), dtype=np.float32), name="cz")
    widget.axes.setText("CZYX")
    encode(qtbot, widget)
    points = viewer.layers["cz latent"]
    viewer.dims.set_current_step(1, 4)
    assert set(points.selected_data) == {4}  # frame 0 before
    points.selected_data = {5}  # the C slider moved, then an IndexError
    assert viewer.dims.current_step[:2] == (0, 5) and messages["error"] == []


def test_tiles_of_a_channel_first_image_map_onto_its_plane(qtbot, viewer, registry, messages):
    widget = two_channel_widget(viewer, registry)
    viewer = widget.viewer
    viewer.add_image(np.random.default_rng(0).random((2, 64, 48), dtype=np.float32), name="cyx")
    widget.axes.setText("CYX")
    widget.mode.setCurrentText("tiles")
    encode(qtbot, widget)  # the grid was cut from (C, Y): a reshape error in the Qt loop
    assert messages["error"] == []
    assert viewer.layers["cyx clusters"].data.shape == (4, 3)


def test_tiles_and_objects_of_a_stack_come_from_the_plane_the_sliders_show(
    qtbot, viewer, widget, encoder, messages
):
    from napari_autoencoders.core.latent.encoding import iter_encode_objects, iter_encode_tiles, run

    image, labels = cells([(10, 10), (30, 40), (50, 20)])
    stack = np.stack([image * scale for scale in (1.0, 0.2, 3.0)])  # (Z, Y, X)
    layer = viewer.add_image(stack, name="zyx", scale=(4, 1, 1), translate=(2, 0, 0))
    viewer.dims.set_point(0, 2 + 4 * 2)  # world z of plane 2
    widget.image_layer.set_layer(layer)
    widget.axes.setText("ZYX")
    widget.mode.setCurrentText("tiles")
    widget.stride.setValue(16)
    encode(qtbot, widget)
    assert messages["error"] == [] and "plane at Z=2" in messages["info"][-1]
    expected = run(iter_encode_tiles(encoder, stack[2], stride=16, device="cpu")).latents
    np.testing.assert_allclose(viewer.layers["zyx latent"].features[["z0", "z1", "z2"]], expected,
                               rtol=1e-5)
    viewer.dims.set_point(0, 2 + 4 * 1)
    viewer.add_labels(np.stack([labels, labels[::-1], labels]), name="labels of every plane")
    widget.mode.setCurrentText("objects")
    widget.labels_layer.set_layer(viewer.layers["labels of every plane"])
    encode(qtbot, widget)
    assert messages["error"] == [] and "plane at Z=1" in messages["info"][-1]
    expected = run(iter_encode_objects(encoder, stack[1], labels[::-1], device="cpu")).latents
    np.testing.assert_allclose(viewer.layers["zyx latent"].features[["z0", "z1", "z2"]], expected,
                               rtol=1e-5)


def test_a_plane_is_not_guessed_off_the_layer_or_in_the_3d_view(viewer, widget, messages):
    layer = viewer.add_image(np.random.default_rng(0).random((3, 40, 40), dtype=np.float32))
    viewer.add_image(np.zeros((8, 40, 40), np.float32), name="deeper")  # the sliders reach 7
    widget.image_layer.set_layer(layer)
    widget.mode.setCurrentText("tiles")
    viewer.dims.set_point(0, 6)
    widget.encode()
    assert "the sliders lie outside the layer's planes (S=6, of (3,))" in messages["error"][-1]
    viewer.dims.set_point(0, 1)
    viewer.dims.ndisplay = 3
    widget.encode()
    assert "switch to the 2D view" in messages["error"][-1]
    assert widget.worker is None or not widget._busy


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
    image, labels = cells([(10, 10), (10, 45), (30, 30), (50, 10), (50, 50)])
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
