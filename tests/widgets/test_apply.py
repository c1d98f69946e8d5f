import functools
import threading

import numpy as np
import pytest

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.io.model_files import save_model
from napari_autoencoders.core.training import fit
from napari_autoencoders.widgets import apply as apply_module
from napari_autoencoders.widgets.apply import ApplyWidget

TIMEOUT_MS = 60_000


def tiny_fit(image, *, axes="YX", task="denoise", architecture="unet"):
    config = Config(
        model=ModelConfig(architecture=architecture, depth=2, width=8, latent_dim=4, input_size=16),
        data=DataConfig(axes=axes, patch_size=16, batch_size=2),
        training=TrainingConfig(task=task, epochs=1, steps_per_epoch=2),
    )
    return fit(config, image)


@pytest.fixture(scope="module")
def denoiser():
    rng = np.random.default_rng(0)
    return tiny_fit(rng.random((32, 32), dtype=np.float32))


@pytest.fixture
def widget(viewer, registry, denoiser):
    registry.add(denoiser, "tiny denoiser")
    widget = ApplyWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    return widget


def wait_until_idle(qtbot, widget):
    # the worker starts at once and may finish before a waitSignal could connect;
    # the Apply button is disabled from the click until `finished` is handled
    assert not widget.apply_button.isEnabled()
    qtbot.waitUntil(widget.apply_button.isEnabled, timeout=TIMEOUT_MS)


def apply_and_wait(qtbot, widget):
    widget.apply()
    assert widget.worker is not None
    wait_until_idle(qtbot, widget)


def test_result_is_a_new_layer_placed_like_the_input(
    qtbot, viewer, widget, make_noisy, notifications
):
    image = make_noisy((40, 36))
    cells = viewer.add_image(image.copy(), name="cells", scale=(2, 3), translate=(5, 7), metadata={"a": 1})
    viewer.add_image(make_noisy(), name="on top")
    widget.image_layer.set_layer(cells)
    assert widget.axes.text() == "YX"

    apply_and_wait(qtbot, widget)

    assert notifications["error"] == []
    assert [layer.name for layer in viewer.layers] == ["cells", "cells denoised", "on top"]
    result = viewer.layers["cells denoised"]
    assert result.data.shape == image.shape and result.data.dtype == np.float32
    assert np.all(np.isfinite(result.data))
    np.testing.assert_array_equal(result.scale, (2, 3))
    np.testing.assert_array_equal(result.translate, (5, 7))
    assert result.metadata == {"a": 1} and result.metadata is not cells.metadata
    low, high = result.contrast_limits
    assert result.data.min() <= low < high <= result.data.max()
    np.testing.assert_array_equal(cells.data, image)
    assert not result.rgb


def test_metadata_that_cannot_be_copied_is_shared_not_fatal(qtbot, viewer, widget, make_noisy, notifications):
    lock = threading.Lock()  # what a reader plugin may keep there
    viewer.add_image(make_noisy((40, 36)), name="cells", metadata={"reader": lock, "a": [1]})
    apply_and_wait(qtbot, widget)

    assert notifications["error"] == []
    result = viewer.layers["cells denoised"]
    assert result.metadata["reader"] is lock and result.metadata == {"reader": lock, "a": [1]}


def test_the_overlap_stays_within_half_a_tile(widget):
    assert widget.overlap.maximum() == widget.tile.value() // 2  # from the start
    widget.tile.setValue(32)
    assert widget.overlap.value() == widget.overlap.maximum() == 16
    widget.tile.setValue(17)
    assert widget.overlap.value() == widget.overlap.maximum() == 8


def test_a_stack_is_processed_plane_by_plane(qtbot, viewer, widget, make_noisy):
    stack = make_noisy((3, 24, 20))
    viewer.add_image(stack, name="stack")
    assert widget.axes.text() == "SYX"  # the model's "YX" does not fit a 3-D layer

    apply_and_wait(qtbot, widget)

    result = viewer.layers["stack denoised"].data
    assert result.shape == stack.shape
    assert not np.allclose(result[0], result[1])


def test_rgb_layers_give_rgb_results(qtbot, viewer, widget, registry, make_noisy):
    rgb = np.stack([make_noisy(seed=seed) for seed in range(3)], axis=-1)
    name = registry.add(tiny_fit(rgb, axes="YXC"), "tiny colour denoiser")
    viewer.add_image(rgb, name="colour", rgb=True)
    widget.model_choice.setCurrentText(name)
    assert widget.axes.text() == "YXC"

    apply_and_wait(qtbot, widget)

    result = viewer.layers["colour denoised"]
    assert result.rgb and result.data.shape == rgb.shape


def test_reconstruction_models_name_their_result(qtbot, viewer, widget, registry, make_noisy):
    stack = make_noisy((4, 16, 16))
    autoencoder = tiny_fit(stack, axes="SYX", task="reconstruct", architecture="autoencoder")
    name = registry.add(autoencoder, "tiny autoencoder")
    viewer.add_image(stack, name="digits")
    widget.model_choice.setCurrentText(name)
    assert widget.model() is autoencoder
    assert widget.axes.text() == "SYX"  # the model's own axes

    apply_and_wait(qtbot, widget)

    assert viewer.layers["digits reconstructed"].data.shape == stack.shape


def test_models_load_from_files(tmp_path, widget, registry, denoiser, notifications):
    path = save_model(denoiser, tmp_path / "mine.safetensors")

    name = widget.load_model_from(path)

    assert name == "mine.safetensors #2"
    assert widget.model_choice.currentText() == name
    assert widget.model().config == denoiser.config
    assert notifications["error"] == []


@pytest.mark.parametrize("content", [b"not a model", b""])
def test_corrupt_model_files_are_reported(tmp_path, widget, registry, notifications, content):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)

    assert widget.load_model_from(path) is None

    assert len(notifications["error"]) == 1
    assert "not a readable model file" in notifications["error"][0]
    assert len(registry) == 1 and widget.model_choice.count() == 1


def test_cancel_adds_no_layer(qtbot, viewer, widget, make_noisy, notifications):
    viewer.add_image(make_noisy((4, 128, 128)), name="big")
    widget.tile.setValue(32)
    widget.overlap.setValue(8)

    widget.apply()
    widget.cancel()
    wait_until_idle(qtbot, widget)

    assert [layer.name for layer in viewer.layers] == ["big"]
    assert notifications["info"] == ["Prediction cancelled; no layer was added."]
    assert widget.apply_button.isEnabled()


def test_cancel_stops_a_tile_between_its_orientations(
    qtbot, viewer, widget, make_noisy, notifications, monkeypatch
):
    from napari_autoencoders.core.model import TrainedModel

    viewer.add_image(make_noisy((64, 64)), name="one tile")  # 8 orientations, by default
    calls = []
    network_on = TrainedModel.network_on

    def counted_network(model, device):
        network = network_on(model, device)
        forward = network.forward

        def counted(x):
            calls.append(threading.get_ident())
            if len(calls) == 1:
                widget.cancel()  # pressed while the first orientation runs
            return forward(x)

        network.forward = counted
        return network

    monkeypatch.setattr(TrainedModel, "network_on", counted_network)
    widget.apply()
    wait_until_idle(qtbot, widget)

    assert len(calls) == 1  # not the other 7
    assert [layer.name for layer in viewer.layers] == ["one tile"]
    assert notifications["info"] == ["Prediction cancelled; no layer was added."]
    assert notifications["error"] == []


def test_bad_choices_are_reported_and_start_nothing(viewer, widget, make_noisy, notifications):
    widget.apply()  # no layer yet
    rgb = viewer.add_image(np.stack([make_noisy()] * 3, axis=-1), name="colour", rgb=True)
    assert widget.axes.text() == "YXC"
    widget.apply()  # a grey model on an RGB layer
    widget.image_layer.set_layer(viewer.add_image(make_noisy(), name="grey"))
    widget.axes.setText("YXZ")
    widget.apply()
    with_nan = make_noisy()
    with_nan[0, 0] = np.inf
    widget.image_layer.set_layer(viewer.add_image(with_nan, name="with inf"))
    widget.apply()
    widget.image_layer.set_layer(viewer.add_image(np.zeros((2, 2, 2, 8, 8), np.float32), name="5d"))
    assert widget.axes.text() == ""  # no guess to fill in
    widget.apply()

    expected = [
        "no input layer",
        "the model takes 1-channel images but this image has 3 channel(s) with axes 'YXC'",
        "axes 'YXZ' names 3 axes but the image has 2 dimensions",
        "the input image has 1 NaN or infinite value(s)",
        "cannot guess the axes of a 5-dimensional image; give them, e.g. 'TZCYX'",
    ]
    assert len(notifications["error"]) == len(expected)
    for part, message in zip(expected, notifications["error"]):
        assert message.startswith("Cannot apply the model: ") and part in message
    assert widget.worker is None
    assert rgb.data.shape == (48, 48, 3)


def test_new_session_models_appear_in_the_choice(widget, registry, denoiser):
    name = registry.add(denoiser, "another")
    assert widget.model_choice.findText(name) >= 0
    assert widget.model_choice.count() == 2


def test_failures_in_the_worker_are_reported(
    qtbot, monkeypatch, viewer, widget, make_noisy, notifications
):
    # torch fails with RuntimeError, which superqt's workers would swallow silently
    def failing_predict(*args, **kwargs):
        yield 0, 1
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(apply_module, "iter_predict", failing_predict)
    viewer.add_image(make_noisy(), name="cells")

    apply_and_wait(qtbot, widget)

    assert notifications["error"] == ["Prediction failed: CUDA out of memory"]
    assert [layer.name for layer in viewer.layers] == ["cells"]
    assert widget.apply_button.isEnabled()


def test_dask_layers_reach_the_core_unloaded(qtbot, viewer, widget, make_noisy, monkeypatch):
    import dask.array as da

    image = make_noisy((48, 40))
    lazy = da.from_array(image, chunks=(16, 16))
    viewer.add_image(lazy, name="lazy")
    given, iter_predict = [], apply_module.iter_predict

    def spy(model, data, **options):
        given.append(data)
        return (yield from iter_predict(model, data, **options))

    monkeypatch.setattr(apply_module, "iter_predict", spy)
    apply_and_wait(qtbot, widget)

    assert given and given[0] is lazy  # read tile by tile, never np.asarray'd whole
    result = viewer.layers["lazy denoised"].data
    assert isinstance(result, np.ndarray) and result.shape == image.shape


def test_multiscale_layers_are_applied_at_full_resolution(qtbot, viewer, widget, make_noisy):
    full = make_noisy((48, 40))
    viewer.add_image([full, full[::2, ::2]], name="pyramid", multiscale=True)

    apply_and_wait(qtbot, widget)

    assert viewer.layers["pyramid denoised"].data.shape == full.shape


def test_a_3d_model_reads_a_stack_as_one_volume(qtbot, viewer, widget, registry):
    rng = np.random.default_rng(0)
    config = Config(
        model=ModelConfig(depth=1, width=4, spatial_dims=3),
        data=DataConfig(axes="TZYX", patch_size=16, patch_z=4, batch_size=2),
        training=TrainingConfig(epochs=1, steps_per_epoch=2, mask_radius=1),
    )
    name = registry.add(fit(config, rng.random((2, 4, 16, 16), dtype=np.float32)), "volume denoiser")
    stack = viewer.add_image(rng.random((6, 20, 20), dtype=np.float32), name="stack")
    widget.image_layer.set_layer(stack)
    widget.model_choice.setCurrentText(name)
    assert widget.axes.text() == "ZYX"  # not the guess SYX, which a 3D model refuses

    apply_and_wait(qtbot, widget)

    assert viewer.layers[-1].data.shape == (6, 20, 20) and viewer.layers[-1] is not stack


@pytest.fixture(scope="module")
def scheduler():
    """The address of a cluster of one worker thread in this process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_a_scheduler_address_predicts_on_its_cluster_as_here(
    qtbot, viewer, widget, make_noisy, notifications, scheduler
):
    viewer.add_image(make_noisy((2, 48, 40)), name="cells")
    widget.tile.setValue(32)
    widget.overlap.setValue(8)
    apply_and_wait(qtbot, widget)
    here = viewer.layers.pop("cells denoised").data

    widget.scheduler.setText(f"  {scheduler} ")
    apply_and_wait(qtbot, widget)

    assert notifications["error"] == []
    np.testing.assert_allclose(viewer.layers["cells denoised"].data, here, rtol=1e-5, atol=1e-5)
    assert widget.progress.value() == widget.progress.maximum()


def test_an_unreachable_scheduler_is_an_error_notification(
    qtbot, monkeypatch, viewer, widget, make_noisy, notifications
):
    quick = functools.partial(apply_module.iter_predict_at, timeout=1)
    monkeypatch.setattr(apply_module, "iter_predict_at", quick)
    viewer.add_image(make_noisy(), name="cells")
    widget.scheduler.setText("tcp://127.0.0.1:9")

    apply_and_wait(qtbot, widget)

    assert len(notifications["error"]) == 1
    assert notifications["error"][0].startswith(
        "Prediction failed: cannot reach the dask scheduler at 'tcp://127.0.0.1:9'"
    )
    assert [layer.name for layer in viewer.layers] == ["cells"]


def test_cancel_on_a_cluster_adds_no_layer(
    qtbot, viewer, widget, make_noisy, notifications, scheduler
):
    viewer.add_image(make_noisy((4, 128, 128)), name="big")
    widget.tile.setValue(32)
    widget.overlap.setValue(8)
    widget.scheduler.setText(scheduler)

    widget.apply()
    widget.cancel()
    wait_until_idle(qtbot, widget)

    assert [layer.name for layer in viewer.layers] == ["big"]
    assert notifications["info"] == ["Prediction cancelled; no layer was added."]
    assert widget._steps.gi_frame is None  # closed: its tasks cancelled, the client gone


def test_an_empty_axes_field_takes_the_prefills_axes():
    from types import SimpleNamespace

    from napari.layers import Image

    from napari_autoencoders.widgets.apply import _axes_for

    model = SimpleNamespace(config=SimpleNamespace(data=SimpleNamespace(axes="TZYX")))
    assert _axes_for(Image(np.zeros((5, 8, 8))), model) == "ZYX"  # a 3D model reads a volume
    assert _axes_for(Image(np.zeros((2, 5, 8, 8))), model) == "TZYX"
    assert _axes_for(Image(np.zeros((2, 2, 2, 8, 8))), None) == ""
