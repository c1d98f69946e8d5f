"""Tests for the "Generate images" widget on tiny trained models."""

import time

import numpy as np
import pytest

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.io.model_files import save_model
from napari_autoencoders.core.latent import generation
from napari_autoencoders.core.training import fit
from napari_autoencoders.widgets import choice, generate
from napari_autoencoders.widgets.generate import GenerateWidget

TIMEOUT_MS = 60_000
TINY = {"epochs": 1, "steps_per_epoch": 2, "device": "cpu"}


def disks(count=8, size=16):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    centres = rng.uniform(5, 11, (count, 2, 1, 1))
    return ((y - centres[:, 0]) ** 2 + (x - centres[:, 1]) ** 2 < 16).astype(np.float32)


def train(architecture, task, latent_dim=2):
    config = Config(
        model=ModelConfig(architecture=architecture, width=4, input_size=16, latent_dim=latent_dim),
        data=DataConfig(axes="SYX", patch_size=16, batch_size=2, percentiles=(0.0, 100.0)),
        training=TrainingConfig(task=task, **TINY),
    )
    return fit(config, disks())


@pytest.fixture(scope="module")
def models():
    return {
        "vae": train("vae", "vae"),
        "plain": train("autoencoder", "reconstruct"),
        "aae": train("aae", "aae"),
    }


@pytest.fixture
def errors(monkeypatch):
    messages = []
    monkeypatch.setattr(generate, "show_error", messages.append)
    monkeypatch.setattr(choice, "show_error", messages.append)
    return messages


@pytest.fixture
def widget(viewer, registry, models):
    registry.add(models["vae"], "vae")
    registry.add(models["plain"], "plain")
    widget = GenerateWidget(viewer, registry=registry)
    viewer.window.add_dock_widget(widget)
    return widget


def run(qtbot, widget, action, model="vae #1"):
    widget.model_choice.setCurrentText(model)
    widget.action.setCurrentText(action)
    widget.generate()
    if widget.worker is not None:
        qtbot.waitUntil(widget.generate_button.isEnabled, timeout=TIMEOUT_MS)


def test_sample_adds_a_stack(qtbot, viewer, widget, errors):
    widget.count.setValue(5)
    run(qtbot, widget, generate.SAMPLE)
    assert errors == []
    assert viewer.layers[-1].name == "vae #1 samples"
    assert viewer.layers[-1].data.shape == (5, 16, 16)


def test_manifold_adds_a_mosaic(qtbot, viewer, widget, errors):
    widget.grid.setValue(3)
    run(qtbot, widget, generate.MANIFOLD)
    assert errors == []
    assert viewer.layers[-1].name == "vae #1 manifold"
    assert viewer.layers[-1].data.shape == (48, 48)


def test_plain_autoencoder_manifold_uses_the_layer(qtbot, viewer, widget, errors):
    viewer.add_image(disks(), name="digits")
    widget.grid.setValue(2)
    run(qtbot, widget, generate.MANIFOLD, model="plain #2")
    assert errors == []
    assert viewer.layers[-1].data.shape == (32, 32)


def test_interpolation_lies_where_the_layer_lies(qtbot, viewer, widget, errors):
    metadata = {"labels": np.arange(8), "names": [f"d{i}" for i in range(8)], "unit": "um"}
    layer = viewer.add_image(disks(), name="digits", scale=(1, 2, 2), metadata=metadata)
    before = layer.data.copy()
    widget.steps.setValue(4)
    widget.frame_b.setValue(3)
    run(qtbot, widget, generate.INTERPOLATE)
    assert errors == []
    result = viewer.layers["digits interpolation"]
    assert result.data.shape == (4, 16, 16)
    assert tuple(result.scale) == (1, 2, 2)
    assert np.array_equal(layer.data, before)
    # the source's entries of one value per frame do not describe the new frames
    assert result.metadata == {"unit": "um"} and len(layer.metadata["labels"]) == 8


def test_reconstruct_with_noise(qtbot, viewer, widget, errors):
    viewer.add_image(disks(), name="digits", metadata={"labels": np.arange(8)})
    run(qtbot, widget, generate.NOISE)
    assert errors == []
    result = viewer.layers["digits reconstructed + noise"]
    assert result.data.shape == (8, 16, 16)
    np.testing.assert_array_equal(result.metadata["labels"], np.arange(8))  # frame for frame


def test_a_single_images_results_lie_where_it_lies(qtbot, viewer, widget, errors):
    placed = dict(scale=(2, 3), translate=(10, 20), metadata={"unit": "um"})
    layer = viewer.add_image(disks()[0], name="one", **placed)
    run(qtbot, widget, generate.NOISE)
    widget.steps.setValue(4)
    widget.frame_b.setValue(0)  # the only frame: a stack of its reconstruction
    run(qtbot, widget, generate.INTERPOLATE)

    assert errors == []
    noisy, between = viewer.layers["one reconstructed + noise"], viewer.layers["one interpolation"]
    assert noisy.data.shape == (16, 16) and between.data.shape == (4, 16, 16)
    np.testing.assert_array_equal(noisy.scale, (2, 3))
    np.testing.assert_array_equal(noisy.translate, (10, 20))
    np.testing.assert_array_equal(between.scale, (1, 2, 3))
    np.testing.assert_array_equal(between.translate, (0, 10, 20))
    assert noisy.metadata == between.metadata == {"unit": "um"}
    assert viewer.layers.index(noisy) == viewer.layers.index(layer) + 2  # the newest first


def test_a_plain_autoencoder_cannot_sample(qtbot, viewer, widget, errors):
    run(qtbot, widget, generate.SAMPLE, model="plain #2")
    assert "not generative" in errors[-1]
    assert len(viewer.layers) == 0


def test_frames_of_another_size_are_reported(qtbot, viewer, widget, errors):
    viewer.add_image(np.zeros((3, 20, 20), np.float32), name="big")
    run(qtbot, widget, generate.NOISE)
    assert "frames of shape (16, 16)" in errors[-1]


def test_a_frame_beyond_the_stack_is_reported(qtbot, viewer, widget, errors):
    viewer.add_image(disks(count=2), name="two")
    widget.frame_b.setValue(5)
    run(qtbot, widget, generate.INTERPOLATE)
    assert "has 2 frame(s)" in errors[-1]


def test_a_model_file_loads(qtbot, viewer, widget, models, tmp_path, errors):
    path = save_model(models["vae"], tmp_path / "vae.safetensors")
    assert widget.load_model_from(path) == "vae.safetensors #3"
    widget.load_model_from(tmp_path / "missing.safetensors")
    assert "does not exist" in errors[-1]


@pytest.fixture
def infos(monkeypatch):
    messages = []
    monkeypatch.setattr(generate, "show_info", messages.append)
    return messages


def test_a_new_stack_is_shown_from_its_first_frame(qtbot, viewer, widget, errors):
    viewer.add_image(np.zeros((200, 16, 16), np.float32), name="many digits")
    viewer.dims.set_point(0, 150)  # as on frame 2499 of the MNIST sample: past 5 new frames
    widget.count.setValue(5)
    run(qtbot, widget, generate.SAMPLE)
    assert errors == []
    assert viewer.dims.current_step[0] == 0
    assert viewer.layers.selection.active is viewer.layers["vae #1 samples"]


def test_an_interpolation_is_shown_from_its_first_frame_where_the_layer_lies(
    qtbot, viewer, widget, errors
):
    layer = viewer.add_image(
        np.tile(disks(), (10, 1, 1)), name="digits", scale=(2, 1, 1), translate=(30, 0, 0)
    )
    viewer.dims.set_point(0, 100)
    widget.layer.set_layer(layer)
    widget.steps.setValue(4)
    run(qtbot, widget, generate.INTERPOLATE)
    assert errors == []
    assert viewer.dims.point[0] == pytest.approx(30)  # frame 0 of both layers, in world units


def test_progress_runs_to_the_number_of_decoded_images(qtbot, viewer, widget, errors):
    widget.grid.setValue(12)
    assert not widget.cancel_button.isEnabled()
    run(qtbot, widget, generate.MANIFOLD)
    assert errors == []
    assert (widget.progress.value(), widget.progress.maximum()) == (144, 144)
    assert not widget.cancel_button.isEnabled() and widget.settings.isEnabled()


def test_cancel_stops_decoding_and_adds_nothing(qtbot, viewer, widget, errors, infos, monkeypatch):
    batches = []
    iter_decode = generation.iter_decode

    def slow_iter_decode(model, codes):  # 16 batches of 100 on a slow CPU
        steps = iter_decode(model, codes, batch_size=100)
        while True:
            try:
                progress = next(steps)
            except StopIteration as stop:
                return stop.value
            batches.append(progress)
            time.sleep(0.05)
            yield progress

    monkeypatch.setattr(generation, "iter_decode", slow_iter_decode)
    widget.grid.setValue(40)  # 1,600 codes
    widget.model_choice.setCurrentText("vae #1")
    widget.action.setCurrentText(generate.MANIFOLD)
    widget.generate()
    assert widget.cancel_button.isEnabled() and not widget.settings.isEnabled()
    qtbot.waitUntil(lambda: widget.progress.value() > 0, timeout=TIMEOUT_MS)
    assert widget.progress.maximum() == 1600
    widget.cancel_button.click()
    qtbot.waitUntil(widget.generate_button.isEnabled, timeout=TIMEOUT_MS)
    assert len(viewer.layers) == 0
    assert batches[-1][0] < 1600  # stopped before the last batch
    assert "cancelled" in infos[-1] and errors == []


@pytest.mark.parametrize(
    ("action", "shape"),
    [(generate.SAMPLE, (5, 16, 16)), (generate.MANIFOLD, (48, 48)), (generate.INTERPOLATE, (8, 16, 16))],
)
def test_an_adversarial_autoencoder_generates(
    qtbot, viewer, widget, registry, models, errors, action, shape
):
    name = registry.add(models["aae"], "aae")
    viewer.add_image(disks(), name="disks")
    widget.count.setValue(5)
    widget.grid.setValue(3)
    run(qtbot, widget, action, model=name)
    assert widget.model() is models["aae"]
    assert errors == []
    assert viewer.layers[-1].data.shape == shape


def test_an_adversarial_autoencoder_has_no_latent_noise(
    qtbot, viewer, widget, registry, models, errors
):
    name = registry.add(models["aae"], "aae")
    viewer.add_image(disks(), name="disks")
    run(qtbot, widget, generate.NOISE, model=name)
    assert widget.model() is models["aae"]
    assert len(errors) == 1 and "deterministic, so it has no posterior spread" in errors[0]
    assert widget.worker is None


def test_colour_frames_for_a_grey_model_are_reported_before_the_worker(qtbot, viewer, widget, errors):
    viewer.add_image(np.zeros((16, 16, 3), np.float32), name="colour", rgb=True)
    run(qtbot, widget, generate.NOISE)
    assert errors == [
        "Cannot generate: the model takes 1-channel frames but these have 3 channel(s) (a stack "
        "of shape (1, 16, 16, 3)); choose grey frames, or a model trained on frames like these."
    ]
    assert widget.worker is None and len(viewer.layers) == 1


def test_a_failure_stops_the_busy_bar(qtbot, viewer, widget, errors):
    viewer.add_image(np.full((4, 16, 16), np.nan, np.float32), name="not a number")
    run(qtbot, widget, generate.NOISE)
    assert errors and errors[0].startswith("Generation failed:")
    assert (widget.progress.minimum(), widget.progress.maximum()) == (0, 1)  # busy (0, 0) before


def test_an_interpolation_reads_only_its_two_frames(qtbot, viewer, widget, errors):
    da = pytest.importorskip("dask.array")
    read = set()

    def record(block, block_info=None):
        if block_info:
            read.add(block_info[0]["chunk-location"][0])
        return block

    frames = np.repeat(disks(), 50, axis=0)  # 400 frames, chunks of 10
    lazy = da.from_array(frames, chunks=(10, 16, 16)).map_blocks(record, dtype=np.float32)
    viewer.add_image(lazy, name="lazy", contrast_limits=(0, 1))
    read.clear()
    widget.frame_b.setValue(25)
    run(qtbot, widget, generate.INTERPOLATE)
    assert errors == [] and read == {0, 2}  # all 40 chunks before


def test_channels_that_are_not_colours_are_an_axis_before_y_and_x(qtbot, viewer, registry, errors):
    config = Config(
        model=ModelConfig(architecture="vae", width=4, input_size=16, latent_dim=2),
        data=DataConfig(axes="SCYX", patch_size=16, batch_size=2, percentiles=(0.0, 100.0)),
        training=TrainingConfig(task="vae", **TINY),
    )
    pairs = np.stack([disks(), 1 - disks()], axis=1)  # (8, 2, 16, 16), as napari holds SCYX
    registry.add(fit(config, pairs), "two")
    widget = GenerateWidget(viewer, registry=registry)
    widget.count.setValue(4)
    run(qtbot, widget, generate.SAMPLE, model="two #1")
    assert viewer.layers[-1].data.shape == (4, 2, 16, 16)  # (4, 16, 16, 2): planes of 16x2 shown
    widget.grid.setValue(3)
    run(qtbot, widget, generate.MANIFOLD, model="two #1")
    assert viewer.layers[-1].data.shape == (2, 48, 48)
    widget.layer.set_layer(viewer.add_image(pairs, name="pairs"))
    run(qtbot, widget, generate.NOISE, model="two #1")  # refused as frames of the wrong shape
    assert errors == [] and viewer.layers["pairs reconstructed + noise"].data.shape == pairs.shape


def test_an_rgb_layer_is_refused_for_a_model_whose_channels_are_not_colours(
    qtbot, viewer, registry, errors
):
    config = Config(
        model=ModelConfig(architecture="vae", width=4, input_size=16, latent_dim=2),
        data=DataConfig(axes="SCYX", patch_size=16, batch_size=2, percentiles=(0.0, 100.0)),
        training=TrainingConfig(task="vae", **TINY),
    )
    three = np.stack([disks(), 1 - disks(), disks()], axis=1)  # (8, 3, 16, 16)
    registry.add(fit(config, three), "three")
    widget = GenerateWidget(viewer, registry=registry)
    widget.layer.set_layer(viewer.add_image(np.moveaxis(three, 1, -1), name="colour", rgb=True))
    run(qtbot, widget, generate.NOISE, model="three #1")
    assert errors == [
        "Cannot generate: this model's 3 channels are not colours (it was trained on axes "
        "'SCYX'): choose a layer with its channels as an axis before Y and X, not the RGB layer "
        "'colour'."
    ]
    assert widget.worker is None

