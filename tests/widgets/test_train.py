import threading

import numpy as np
import pytest
from napari.layers import Image
from qtpy.QtCore import Qt

from napari_autoencoders.core.data.collection import ImageCollection
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.training import Trainer
from napari_autoencoders.widgets.train import PREPARING

TIMEOUT_MS = 60_000


@pytest.fixture
def widget(small_train_widget):
    return small_train_widget


def train_and_wait(qtbot, widget):
    qtbot.mouseClick(widget.train_button, Qt.MouseButton.LeftButton)
    assert widget.worker is not None
    # the worker starts at once and may finish before a waitSignal could connect;
    # the Train button is disabled from the click until `finished` is handled
    assert not widget.train_button.isEnabled()
    qtbot.waitUntil(widget.train_button.isEnabled, timeout=TIMEOUT_MS)


def train_until_first_update(qtbot, widget):
    widget.epochs.setValue(10_000)
    widget.train()
    qtbot.waitUntil(lambda: widget.status.text().startswith("step"), timeout=TIMEOUT_MS)


@pytest.mark.slow
def test_training_registers_a_model_and_leaves_the_input_alone(
    qtbot, viewer, widget, registry, make_noisy, notifications
):
    layer = viewer.add_image(make_noisy(), name="noisy")
    before = layer.data.copy()
    assert widget.axes.text() == "YX"

    train_and_wait(qtbot, widget)

    assert registry.names() == ["denoise (self-supervised) on noisy #1"]
    assert registry[registry.names()[0]] is widget.model
    assert [entry["epoch"] for entry in widget.model.history] == [1, 2]
    assert np.array_equal(layer.data, before)
    assert len(viewer.layers) == 1
    assert notifications["error"] == []
    # the weights kept and their loss, as the trainer has them (the neighbour term keeps the last)
    outcome = widget._trainer.outcome()
    assert outcome.startswith("kept epoch ")
    steps_done = widget.model.history[-1]["step"]  # as the status line says it
    assert notifications["info"][-1].startswith(f"Training finished after {steps_done} step(s): {outcome}.")
    steps, _ = widget.plot.curves()["training"]
    val_steps, val_losses = widget.plot.curves()["validation"]
    assert list(steps) == list(range(1, 7))
    assert list(val_steps) == [3, 6] and np.all(np.asarray(val_losses) > 0)
    assert widget.progress.value() == widget.progress.maximum()
    assert widget.train_button.isEnabled() and widget.save_button.isEnabled()
    assert not widget.stop_button.isEnabled()


@pytest.mark.slow
def test_supervised_denoising_modes_train(qtbot, viewer, widget, registry, make_noisy):
    noisy = viewer.add_image(make_noisy(seed=1), name="noisy")
    clean = viewer.add_image(make_noisy(seed=2), name="clean")
    widget.target_layer.set_layer(clean)
    for mode, source in (("synthetic", clean), ("paired", noisy)):
        widget.mode.setCurrentText(mode)
        widget.input_layer.set_layer(source)
        train_and_wait(qtbot, widget)
        assert widget.model.config.training.mode == mode

    assert registry.names() == ["denoise (synthetic) on clean #1", "denoise (paired) on noisy #2"]


@pytest.mark.slow
def test_reconstruction_of_a_stack_trains_an_autoencoder(qtbot, viewer, widget, make_noisy):
    viewer.add_image(make_noisy((6, 20, 20)), name="digits")
    widget.task.setCurrentText("reconstruct")
    widget.latent_dim.setValue(4)

    assert widget.axes.text() == "SYX"
    widget.patch_size.setValue(0)  # auto: the recipe takes the 20x20 frames
    train_and_wait(qtbot, widget)

    model = widget.model.config.model
    assert (model.architecture, model.latent_dim, model.input_size) == ("autoencoder", 4, 20)


@pytest.mark.slow
def test_the_neighbour_term_reaches_the_autoencoder(qtbot, viewer, widget, make_noisy):
    viewer.add_image(make_noisy((24, 16, 16)), name="digits")
    assert widget.neighbour_weight.isHidden()  # denoising has no latent to shape
    widget.task.setCurrentText("reconstruct")
    assert not widget.neighbour_weight.isHidden()
    widget.neighbour_weight.setValue(1.0)
    widget.neighbours.setValue(3)
    widget.batch_size.setValue(4)  # two pairs: one pair alone gives the term no gradient
    assert widget.augment.currentText() == "auto"
    widget.augment.setCurrentText("off")
    train_and_wait(qtbot, widget)

    training = widget.model.config.training
    assert (training.neighbour_weight, training.neighbours) == (1.0, 3)
    assert not widget.model.config.data.augment


@pytest.mark.slow
def test_stop_keeps_the_best_model_so_far(qtbot, viewer, widget, registry, make_noisy):
    viewer.add_image(make_noisy(), name="noisy")
    train_until_first_update(qtbot, widget)
    with qtbot.waitSignal(widget.worker.finished, timeout=TIMEOUT_MS):
        widget.stop()

    assert widget.model is not None
    assert len(registry) == 1
    assert len(widget.model.history) < 10_000
    assert widget.train_button.isEnabled() and not widget.stop_button.isEnabled()
    # the status says how it ended, not the last step's time left
    steps = widget.model.history[-1]["step"]
    assert widget.status.text() == f"Stopped after {steps} step(s): {widget._trainer.outcome()}."
    assert widget.progress.value() == widget.progress.maximum()


def test_stop_before_the_first_step_cancels_without_a_model(
    qtbot, viewer, widget, registry, make_noisy, notifications
):
    viewer.add_image(make_noisy(), name="noisy")
    widget.train()
    assert widget.status.text() == PREPARING  # until the first step
    widget.stop()
    qtbot.waitUntil(widget.train_button.isEnabled, timeout=TIMEOUT_MS)

    assert len(registry) == 0 and widget.model is None
    assert notifications["info"] == ["Training cancelled before its first step; no model was kept."]
    assert widget.status.text() == notifications["info"][0]
    assert notifications["error"] == [] and notifications["warning"] == []


@pytest.mark.slow
def test_quitting_the_worker_keeps_the_model_too(qtbot, viewer, widget, registry, make_noisy):
    # napari's activity dock cancels workers with quit(), which skips `returned`
    viewer.add_image(make_noisy(), name="noisy")
    train_until_first_update(qtbot, widget)
    with qtbot.waitSignal(widget.worker.finished, timeout=TIMEOUT_MS):
        widget.worker.quit()

    assert registry.names() == ["denoise (self-supervised) on noisy #1"]
    assert widget.model is registry[registry.names()[0]]


@pytest.mark.parametrize("validated", [True, False])
def test_a_diverged_training_keeps_its_best_validated_model(
    qtbot, monkeypatch, viewer, widget, registry, make_noisy, notifications, validated
):
    original = Trainer._loss

    def diverging(self, *args, **kwargs):  # after the first validation, or from the start
        value = original(self, *args, **kwargs)
        return value * float("nan") if self.history or not validated else value

    monkeypatch.setattr(Trainer, "_loss", diverging)
    widget.epochs.setValue(5)
    viewer.add_image(make_noisy(), name="noisy")
    train_and_wait(qtbot, widget)

    assert "the training diverged" in notifications["error"][-1]
    if validated:
        assert len(widget.model.history) == 1 and registry.names() == ["denoise (self-supervised) on noisy #1"]
        assert notifications["info"][-1].startswith("Kept the best model before the divergence")
    else:
        assert "none were validated, so no model was kept" in notifications["error"][-1]
        assert widget.model is None and len(registry) == 0


def test_form_follows_task_mode_and_layer(viewer, widget, make_noisy):
    viewer.add_image(make_noisy((3, 12, 10)), name="small")
    assert widget.axes.text() == "SYX"
    widget.patch_size.setValue(0)
    assert widget.config().data.patch_size == 10  # auto: shrunk to fit the planes
    widget.axes.setText("TYX")
    viewer.layers.insert(0, Image(make_noisy(), name="below"))
    assert widget.input_layer.layer().name == "small"
    assert widget.axes.text() == "TYX"  # the user's axes survive other layers' changes
    widget.mode.setCurrentText("paired")
    assert not widget.target_layer.isHidden() and widget.noise.isHidden()
    assert widget.mask_fraction.isHidden()
    widget.mode.setCurrentText("synthetic")
    assert widget.target_layer.isHidden() and not widget.noise.isHidden()
    widget.task.setCurrentText("reconstruct")
    assert widget.mode.isHidden() and widget.noise.isHidden()
    assert not widget.latent_dim.isHidden()


def test_noise_strides_show_for_2d_self_supervised_denoising_and_reach_the_config(viewer, widget, make_noisy):
    viewer.add_image(make_noisy((96, 96)), name="noisy")
    assert not widget.noise_strides.isHidden()
    assert widget.config().data.noise_strides is None  # auto: measured
    widget.noise_strides.setCurrentText("3,3")
    assert widget.config().data.noise_strides == (3, 3)
    widget.data_source.setCurrentText("folder")  # a collection is split as it is sampled
    assert not widget.noise_strides.isHidden()
    widget.data_source.setCurrentText("layer")
    widget.start.setCurrentText("random weights")  # Noise2Void's blind spot splits alike
    assert not widget.noise_strides.isHidden() and widget.config().data.noise_strides == (3, 3)
    widget.three_d.setChecked(True)  # a 3D network: not split
    assert widget.noise_strides.isHidden()
    widget.three_d.setChecked(False)
    widget.start.setCurrentText("pretrained prior")
    widget.mode.setCurrentText("synthetic")
    assert widget.noise_strides.isHidden()


def test_labels_layers_are_not_offered_and_are_refused(monkeypatch, viewer, widget, notifications):
    labels = viewer.add_labels(np.zeros((48, 48), dtype=np.uint8), name="labels")
    assert widget.input_layer.count() == 0

    monkeypatch.setattr(widget.input_layer, "layer", lambda: labels)
    widget.train()

    assert notifications["error"] == [
        "Cannot train: the input layer 'labels' is a Labels layer; choose an image layer."
    ]
    assert widget.worker is None


def test_a_refusal_replaces_the_last_runs_status(
    qtbot, monkeypatch, viewer, widget, make_noisy, notifications
):
    def refusing_run(trainer):  # as the trainer's preparation refuses planes smaller than a patch
        yield from ()
        raise ValueError("planes of 8x8 pixels are too small")

    viewer.add_image(make_noisy(), name="noisy")
    with monkeypatch.context() as patched:
        patched.setattr(Trainer, "run", refusing_run)
        widget.status.setText("Training finished after 9 step(s): kept epoch 1.")
        train_and_wait(qtbot, widget)
    assert notifications["error"] == ["Cannot train: planes of 8x8 pixels are too small"]
    assert widget.status.text() == notifications["error"][-1]
    viewer.layers.clear()
    viewer.add_image(np.full((48, 48), 0.5, np.float32), name="flat")
    widget.status.setText("Training finished after 9 step(s): kept epoch 1.")
    widget.train()  # refused in the main thread: a constant image
    assert widget.worker is None or not widget._busy
    assert widget.status.text() == notifications["error"][-1]
    assert "constant" in widget.status.text()


def nan_image(viewer, widget, make_noisy):
    image = make_noisy()
    image[3, 4] = np.nan
    viewer.add_image(image, name="with nan")


def no_layer(viewer, widget, make_noisy):
    pass


def bad_axes(viewer, widget, make_noisy):
    viewer.add_image(make_noisy(), name="noisy")
    widget.axes.setText("SYX")


def unknown_noise(viewer, widget, make_noisy):
    viewer.add_image(make_noisy())
    widget.mode.setCurrentText("synthetic")
    widget.noise.setText("speckle:1")


def unreadable_noise_strides(viewer, widget, make_noisy):
    viewer.add_image(make_noisy())
    widget.noise_strides.setCurrentText("3")


def paired(widget, noisy, clean):
    widget.mode.setCurrentText("paired")
    widget.input_layer.set_layer(noisy)
    widget.target_layer.set_layer(clean)


def paired_shapes_differ(viewer, widget, make_noisy):
    paired(widget, viewer.add_image(make_noisy()), viewer.add_image(make_noisy((40, 40))))


def paired_rgb_and_grey(viewer, widget, make_noisy):
    rgb = viewer.add_image(np.stack([make_noisy()] * 3, axis=-1), rgb=True)
    paired(widget, viewer.add_image(make_noisy()), rgb)


def paired_with_itself(viewer, widget, make_noisy):
    noisy = viewer.add_image(make_noisy())
    paired(widget, noisy, noisy)


BAD_INPUTS = {
    nan_image: "has 1 NaN or infinite value(s)",
    no_layer: "no input layer",
    bad_axes: "3 axes but the image has 2 dimensions",
    unknown_noise: "noise term 'speckle:1' is not understood",
    unreadable_noise_strides: "noise strides must be 'auto' or two whole numbers Y,X",
    paired_shapes_differ: "paired layers must have the same shape",
    paired_rgb_and_grey: "paired layers must be both RGB or both grey",
    paired_with_itself: "the target layer is the input layer",
}


@pytest.mark.slow
def test_bad_input_is_reported_and_starts_nothing(
    viewer, widget, registry, make_noisy, notifications
):
    # one viewer for all cases: a viewer takes a second to make
    for setup, message in BAD_INPUTS.items():
        viewer.layers.clear()
        widget.mode.setCurrentText("self-supervised")
        notifications["error"].clear()
        setup(viewer, widget, make_noisy)
        widget.train()

        assert len(notifications["error"]) == 1, setup.__name__
        assert message in notifications["error"][0], setup.__name__
        assert widget.worker is None, setup.__name__
        assert widget.train_button.isEnabled(), setup.__name__
    assert len(registry) == 0


@pytest.mark.slow
def test_saved_model_loads_back(qtbot, tmp_path, viewer, widget, make_noisy, notifications):
    assert widget.save_model_to(tmp_path / "none") is None
    assert "no trained model" in notifications["warning"][0]
    viewer.add_image(make_noisy(), name="noisy")
    widget.epochs.setValue(1)
    train_and_wait(qtbot, widget)

    path = widget.save_model_to(tmp_path / "model")

    assert path == tmp_path / "model.safetensors"
    loaded = load_model(path)
    assert loaded.config == widget.model.config
    assert loaded.history == widget.model.history
    assert widget.save_model_to(tmp_path / "missing" / "model.safetensors") is None
    assert "Could not save the model" in notifications["error"][0]
    assert widget.save_model_to(tmp_path / "model.zip") is None  # a package's name: raised
    assert ".safetensors" in notifications["error"][1]


def test_failures_in_the_worker_are_reported(
    qtbot, monkeypatch, viewer, widget, registry, make_noisy, notifications
):
    def failing_run(trainer):
        yield from ()
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(Trainer, "run", failing_run)
    viewer.add_image(make_noisy(), name="noisy")

    train_and_wait(qtbot, widget)

    assert notifications["error"] == ["Training failed: CUDA out of memory"]
    assert len(registry) == 0 and widget.model is None
    assert widget.train_button.isEnabled() and not widget.stop_button.isEnabled()


def test_a_value_error_after_the_first_step_is_a_failure_not_a_refusal(
    qtbot, monkeypatch, viewer, widget, make_noisy, notifications
):
    def failing_run(trainer):
        trainer._step = 1  # one step taken
        yield from ()
        raise ValueError("Expected more than 1 value per channel when training")

    monkeypatch.setattr(Trainer, "run", failing_run)
    viewer.add_image(make_noisy(), name="noisy")
    train_and_wait(qtbot, widget)
    assert notifications["error"] == [
        "Training failed: Expected more than 1 value per channel when training"
    ]


@pytest.mark.slow
def test_vae_task_trains_a_variational_autoencoder(qtbot, viewer, widget, registry, make_noisy):
    viewer.add_image(make_noisy((6, 16, 16)), name="digits")
    widget.task.setCurrentText("vae")
    assert not widget.beta.isHidden() and not widget.latent_dim.isHidden()
    widget.latent_dim.setValue(2)
    widget.beta.setValue(0.5)
    widget.dense.setChecked(True)
    train_and_wait(qtbot, widget)

    config = widget.model.config
    assert (config.model.architecture, config.model.latent_dim) == ("vae-dense", 2)
    assert config.training.beta == 0.5
    assert config.data.percentiles == (0.0, 100.0) and not config.data.augment
    assert registry.names() == ["vae (latent 2) on digits #1"]


def test_vae_options_are_hidden_for_denoising(widget):
    widget.task.setCurrentText("denoise")
    assert widget.beta.isHidden() and widget.dense.isHidden()


def test_aae_task_trains_an_adversarial_autoencoder_that_generates(
    qtbot, viewer, widget, registry, make_noisy
):
    from napari_autoencoders.widgets.generate import SAMPLE, GenerateWidget

    viewer.add_image(make_noisy((6, 16, 16)), name="digits")
    widget.task.setCurrentText("aae")
    for field in (widget.prior, widget.adversarial_rate, widget.latent_dim):
        assert not field.isHidden()
    for field in (widget.beta, widget.dense, widget.neighbour_weight, widget.augment):
        assert field.isHidden()
    widget.latent_dim.setValue(2)
    widget.prior.setCurrentText("mixture")
    widget.adversarial_rate.setValue(0.25)
    train_and_wait(qtbot, widget)

    config = widget.model.config
    assert (config.model.architecture, config.model.prior) == ("aae", "mixture")
    assert config.training.adversarial_rate == 0.25
    assert config.data.percentiles == (0.0, 100.0) and not config.data.augment
    assert registry.names() == ["aae (latent 2) on digits #1"]

    generate = GenerateWidget(viewer, registry=registry)
    generate.model_choice.setCurrentText("aae (latent 2) on digits #1")
    assert generate.model() is widget.model
    generate.action.setCurrentText(SAMPLE)
    generate.count.setValue(3)
    generate.generate()
    qtbot.waitUntil(generate.generate_button.isEnabled, timeout=TIMEOUT_MS)
    assert viewer.layers[-1].data.shape == (3, 16, 16)


def test_aae_options_are_hidden_for_other_tasks(widget):
    for task in ("denoise", "reconstruct", "vae"):
        widget.task.setCurrentText(task)
        assert widget.prior.isHidden() and widget.adversarial_rate.isHidden()


def test_a_first_click_has_a_time_budget_and_the_status_an_estimate(viewer, registry):
    from napari_autoencoders.core.recipes import DEFAULT_TIME_BUDGET, ZERO_SHOT_TIME_BUDGET
    from napari_autoencoders.core.training import TrainingEvent
    from napari_autoencoders.widgets.train import TrainWidget

    viewer.add_image(np.zeros((128, 128), np.float32), name="noisy")
    fresh = TrainWidget(viewer, registry=registry)
    assert fresh.time_budget.text() == "auto"
    assert not fresh.epochs.isEnabled()  # the budget decides
    assert fresh.config().training.time_budget == DEFAULT_TIME_BUDGET
    fresh.task.setCurrentText("superres")
    fresh.mode.setCurrentText("zero-shot")
    assert fresh.config().training.time_budget == ZERO_SHOT_TIME_BUDGET
    fresh.time_budget.setValue(0)
    assert fresh.time_budget.text() == "off" and fresh.epochs.isEnabled()
    assert fresh.config().training.time_budget is None
    fresh._on_events([TrainingEvent(10, 0, 0.5, elapsed=30.0, learning_rate=1e-3, fraction=0.25)])
    assert "about 90 s left" in fresh.status.text()


@pytest.mark.slow
def test_a_result_no_better_than_its_input_is_flagged(
    qtbot, monkeypatch, viewer, widget, make_noisy, notifications
):
    monkeypatch.setattr(Trainer, "warning", lambda self: "the best validation loss is not below")
    viewer.add_image(make_noisy(), name="noisy")
    train_and_wait(qtbot, widget)
    assert any("Check the result" in message for message in notifications["warning"])


@pytest.mark.slow
def test_the_trainers_warnings_are_notifications(qtbot, viewer, widget, notifications):
    from skimage import data

    from napari_autoencoders.core.data.noise import add_noise

    # 8-bit data clipped at 0 and 255: the trainer keeps the prior and says why
    clean = data.camera()[::4, ::4] / 255.0
    viewer.add_image(np.clip(np.round(255 * add_noise(clean, "gaussian:0.2", seed=0)), 0, 255).astype(np.uint8))
    assert widget.start.currentText() == "pretrained prior" and widget.mode.currentText() == "self-supervised"
    train_and_wait(qtbot, widget)
    assert any("pixels are clipped" in message for message in notifications["warning"])


@pytest.mark.slow
def test_3d_training_registers_a_3d_model_and_leaves_the_input_alone(qtbot, viewer, widget, registry):
    volume = np.random.default_rng(0).random((8, 24, 24)).astype(np.float32)
    layer = viewer.add_image(volume.copy(), name="volume")
    widget.three_d.setChecked(True)
    widget.patch_z.setValue(8)

    train_and_wait(qtbot, widget)

    assert widget.model.config.model.spatial_dims == 3 and widget.model.config.data.axes == "ZYX"
    assert registry[registry.names()[0]] is widget.model
    assert np.array_equal(layer.data, volume) and len(viewer.layers) == 1


# -- training from files ---------------------------------------------------------


def test_the_files_controls_show_only_for_files(widget, notifications):
    assert not widget.input_layer.isHidden() and widget.files.native.isHidden()
    assert widget.cache_mb.isHidden() and not widget.noise_button.isHidden()
    widget.data_source.setCurrentText("folder")
    assert widget.input_layer.isHidden() and not widget.files.native.isHidden()
    assert not widget.cache_mb.isHidden() and widget.files.mode.value == "d"
    assert widget.noise_button.isHidden()  # it measures a layer
    widget.measure_noise()
    assert "choose the source 'layer'" in notifications["error"][-1]
    widget.data_source.setCurrentText("files")
    assert widget.files.mode.value == "rm"
    widget.mode.setCurrentText("paired")  # files are read patch by patch, without targets
    assert widget.target_layer.isHidden()
    widget.data_source.setCurrentText("layer")
    assert not widget.target_layer.isHidden()


def test_training_from_two_files_makes_a_model(
    qtbot, tmp_path, viewer, widget, registry, make_noisy, notifications, monkeypatch
):
    threads, sample_values = [], ImageCollection.sample_values

    def sampled_in_a_thread(collection, *args, **kwargs):
        threads.append(threading.get_ident())
        return sample_values(collection, *args, **kwargs)

    monkeypatch.setattr(ImageCollection, "sample_values", sampled_in_a_thread)
    paths = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for seed, path in enumerate(paths):
        np.save(path, make_noisy((40, 40), seed=seed))
    widget.data_source.setCurrentText("files")
    widget.files.value = paths
    widget.cache_mb.setValue(8)
    widget.epochs.setValue(1)
    widget.steps_per_epoch.setValue(2)

    train_and_wait(qtbot, widget)

    assert notifications["error"] == []
    assert registry.names() == ["denoise (self-supervised) on a.npy +1 #1"]
    assert widget.model.config.data.axes == "YX" and len(widget.model.history) == 1
    assert len(viewer.layers) == 0  # nothing was loaded into the viewer
    assert threads and threading.get_ident() not in threads  # the files are read in the worker


def test_a_folder_of_compressed_tiffs_trains_too(qtbot, tmp_path, viewer, widget, registry, make_noisy):
    import tifffile

    for seed in range(2):
        tifffile.imwrite(tmp_path / f"{seed}.tif", make_noisy((40, 40), seed=seed), compression="zlib")
    widget.data_source.setCurrentText("folder")
    widget.files.value = tmp_path
    widget.epochs.setValue(1)
    widget.steps_per_epoch.setValue(2)

    train_and_wait(qtbot, widget)

    assert registry.names() == [f"denoise (self-supervised) on {tmp_path.name} #1"]


@pytest.mark.parametrize("source, message", [("files", "choose image files"), ("folder", "no images in")])
def test_missing_files_are_reported_and_start_nothing(tmp_path, widget, notifications, source, message):
    widget.data_source.setCurrentText(source)
    if source == "folder":
        widget.files.value = tmp_path  # empty
    widget.train()
    assert widget.worker is None or not widget._busy
    assert message in notifications["error"][-1] and notifications["error"][-1].startswith("Cannot train")


def test_measure_noise_reports_the_input_layers_noise(qtbot, viewer, widget, notifications):
    from scipy import ndimage as ndi
    from skimage import data

    widget.measure_noise()  # no layer yet
    assert len(notifications["error"]) == 1 and notifications["error"][0].startswith("Cannot measure the noise:")
    camera = data.camera()[:256, :256].astype(np.float32)
    white = np.random.default_rng(0).normal(0.0, 10.0, camera.shape)
    noisy = camera + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    layer = viewer.add_image(noisy.astype(np.float32), name="rows")
    before = layer.data.copy()
    qtbot.mouseClick(widget.noise_button, Qt.MouseButton.LeftButton)
    assert not widget.noise_button.isEnabled()  # a second click starts no second measurement
    qtbot.waitUntil(widget.noise_button.isEnabled, timeout=TIMEOUT_MS)
    assert widget.noise_button.text() == "Measure noise"
    assert len(notifications["info"]) == 1
    report = notifications["info"][-1]
    assert report.startswith("Noise of 'rows':")
    assert "so the denoiser takes 3 interleaved sets of columns" in report
    assert np.array_equal(layer.data, before) and len(viewer.layers) == 1


def test_measure_noise_on_a_tiny_layer_names_its_size_not_a_training_setting(
    qtbot, viewer, make_train_widget, notifications
):
    widget = make_train_widget(viewer)  # the automatic patch shrinks to the layer, too far
    viewer.add_image(np.random.default_rng(0).random((4, 4), dtype=np.float32), name="tiny")
    widget.measure_noise()
    qtbot.waitUntil(widget.noise_button.isEnabled, timeout=TIMEOUT_MS)
    message = notifications["error"][-1]
    assert "too small to measure their noise" in message and "patch_size" not in message, message
