"""The core's part of the reliability matrix (issue 15): bad values, hostile files, faults.

Each test is one row or a few rows of the matrix of cases a hostile or
careless user tried; all use tiny data and at most a few training steps.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from napari_autoencoders.core.config import MAX_SEED, MODEL_LIMITS, Config, DataConfig, ModelConfig
from napari_autoencoders.core.data.axes import default_axes
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.inference.prediction import iter_predict
from napari_autoencoders.core.inference.tiling import fit_tile
from napari_autoencoders.core.io import images, model_files
from napari_autoencoders.core.io.images import (
    atomic_output,
    check_not_input,
    create_image,
    read_image,
    write_image,
)
from napari_autoencoders.core.io.model_files import ModelFileError, load_model, save_model
from napari_autoencoders.core.latent import generation
from napari_autoencoders.core.latent.encoding import write_csv
from napari_autoencoders.core.latent.generation import manifold, sample
from napari_autoencoders.core.model import TrainedModel
from napari_autoencoders.core.progress import run
from napari_autoencoders.core.nn.models import build_model
from napari_autoencoders.core.training import Trainer

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


# --- configs: non-finite numbers, seeds, sizes, JSON types ---------------------------


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "section, name",
    [
        ("training", "learning_rate"),
        ("training", "weight_decay"),
        ("training", "beta"),
        ("training", "neighbour_weight"),
        ("training", "mask_fraction"),
        ("data", "validation_fraction"),
    ],
)
def test_non_finite_float_fields_are_refused(section, name, value):
    config = Config()
    setattr(getattr(config, section), name, value)
    with pytest.raises(ValueError, match=re.escape(f"{section}.{name} must be")):
        config.validate()


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_non_finite_percentiles_are_refused(value):
    config = Config()
    config.data.percentiles = (1.0, value)
    with pytest.raises(ValueError, match="data.percentiles must"):
        config.validate()


@pytest.mark.parametrize("budget", [float("nan"), float("inf")])
def test_time_budget_must_be_finite(budget):
    config = Config()
    config.training.time_budget = budget
    with pytest.raises(ValueError, match="time_budget must be a positive, finite number.*unset"):
        config.validate()


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 10**23])
def test_seed_out_of_range_is_refused(seed):
    config = Config()
    config.training.seed = seed
    with pytest.raises(
        ValueError, match=f"training.seed must be an integer from 0 to {MAX_SEED}, got {seed}"
    ):
        config.validate()


@pytest.mark.parametrize("name", sorted(MODEL_LIMITS))
def test_model_sizes_have_upper_bounds(name):
    config = Config()
    setattr(config.model, name, MODEL_LIMITS[name] + 1)
    with pytest.raises(ValueError, match=f"model.{name} must be at most {MODEL_LIMITS[name]}"):
        config.model.validate()


@pytest.mark.parametrize(
    "section, name, value, expected",
    [
        ("model", "residual", "yes", "true or false"),
        ("model", "width", "8", "a whole number"),
        ("model", "width", 8.0, "a whole number"),
        ("model", "width", 8.5, "a whole number"),
        ("model", "depth", True, "a whole number"),
        ("model", "in_channels", 1.0, "a whole number"),
        ("model", "architecture", 1, "a string"),
        ("data", "axes", 123, "a string"),
        ("data", "percentiles", "ab", "a list of 2 numbers"),
        ("data", "percentiles", [1, 2, 3], "a list of 2 numbers"),
        ("data", "augment", 1, "true or false"),
        ("training", "learning_rate", "fast", "a number"),
        ("training", "learning_rate", False, "a number"),
        ("training", "time_budget", "10", "a number or null"),
    ],
)
def test_config_fields_of_the_wrong_json_type_are_refused(section, name, value, expected):
    data = Config().to_dict()
    data[section][name] = value
    with pytest.raises(
        ValueError, match=re.escape(f"config field {section}.{name} must be {expected}")
    ):
        Config.from_dict(data)


def test_json_integers_are_accepted_for_floats():
    data = Config().to_dict()
    data["training"]["learning_rate"] = 1
    data["training"]["time_budget"] = 30
    assert Config.from_dict(data).training.learning_rate == 1


@pytest.mark.parametrize("data", [None, [], 1, "config"])
def test_a_config_that_is_not_an_object_is_refused(data):
    with pytest.raises(ValueError, match="config is malformed: expected a JSON object"):
        Config.from_dict(data)


def test_a_section_that_is_not_an_object_is_refused():
    data = Config().to_dict()
    data["model"] = [1, 2]
    with pytest.raises(ValueError, match="section 'model' must be a JSON object"):
        Config.from_dict(data)


# --- model files: hostile, broken or diverged ----------------------------------------


def _untrained(config: Config) -> TrainedModel:
    """A model of ``config`` with random weights and identity normalisation (grey images)."""
    config.validate()
    return TrainedModel(
        config=config,
        network=build_model(config.model).eval(),
        input_norm=Normalizer([0.0], [1.0]),
        target_norm=Normalizer([0.0], [1.0]),
    )


def _tiny_unet_config() -> Config:
    """A tiny grey U-Net of depth 1."""
    return Config(model=ModelConfig(depth=1, width=4), data=DataConfig(patch_size=16))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """An untrained tiny grey U-Net saved to a file: a valid model to break."""
    model = _untrained(_tiny_unet_config())
    return save_model(model, tmp_path_factory.mktemp("models") / "model.safetensors")


def _contents(path):
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}


def _rewrite(source, path, *, sections=None, tensors=None, **header_changes):
    """Copy ``source`` to ``path`` with changed config ``sections``, tensors or header entries."""
    header, weights = _contents(source)
    if sections is not None:
        changed = json.loads(header["config"])
        for section, values in sections.items():
            changed[section].update(values)
        header_changes["config"] = json.dumps(changed)
    if tensors is not None:
        weights = tensors(weights)
    save_file(weights, str(path), metadata={**header, **header_changes})
    return path


class _Payload:
    """Creates a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_payload_is_never_run(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "payload.safetensors"
    torch.save({"weights": _Payload(marker)}, path)
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "config, message",
    [
        ({"model": {"residual": "yes"}}, "model.residual must be true or false"),
        ({"model": {"width": "8"}}, "model.width must be a whole number"),
        ({"model": {"width": 4.0}}, "model.width must be a whole number"),
        ({"model": {"blocks": 10**6}}, "model.blocks must be at most"),
        ({"model": {"width": 10**20}}, "model.width must be at most"),
        ({"model": {"latent_dim": 10**9}}, "model.latent_dim must be at most"),
        ({"model": {"width": 1024}}, "tensor 'down.0.0.weight' has shape (4, 1, 3, 3)"),
        ({"model": {"in_channels": 256, "out_channels": 256}}, "the config's network needs"),
        ({"model": {"depth": 6}}, "missing tensors"),
        ({"training": {"learning_rate": "fast"}}, "training.learning_rate must be a number"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_header_that_does_not_fit_the_weights_is_refused_before_building(
    model_file, tmp_path, monkeypatch, config, message
):
    path = _rewrite(model_file, tmp_path / "edited.safetensors", sections=config)
    devices = []

    def build(config):
        network = build_model(config)
        devices.append(next(network.parameters()).device.type)
        return network

    monkeypatch.setattr(model_files, "build_model", build)
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_model(path)
    assert set(devices) <= {"meta"}  # no network was allocated


@pytest.mark.parametrize("config", ["null", "[]", "1", '"config"'])
def test_a_config_that_is_not_an_object_is_refused_in_a_file(model_file, tmp_path, config):
    path = _rewrite(model_file, tmp_path / "config.safetensors", config=config)
    with pytest.raises(ModelFileError, match="expected a JSON object"):
        load_model(path)


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_non_finite_weights_are_refused(model_file, tmp_path, value):
    def poison(weights):
        name = min(weights)
        weights[name] = weights[name].clone()
        weights[name].view(-1)[0] = value
        return weights

    path = _rewrite(model_file, tmp_path / "poisoned.safetensors", tensors=poison)
    with pytest.raises(ModelFileError, match="1 NaN or infinite value.*lower learning rate"):
        load_model(path)


def test_integer_weights_are_refused(model_file, tmp_path):
    def to_int(weights):
        return {name: t.round().to(torch.int64) for name, t in weights.items()}

    path = _rewrite(model_file, tmp_path / "integers.safetensors", tensors=to_int)
    with pytest.raises(
        ModelFileError, match="holds torch.int64 values where the network needs torch.float32"
    ):
        load_model(path)


@pytest.mark.parametrize(
    "norm, message",
    [
        ({"low": [0.5], "high": [0.5]}, "low=0.5, high=0.5; it must be finite with low < high"),
        ({"low": [float("nan")], "high": [1.0]}, "low=nan"),
        ({"low": [0.0], "high": [float("inf")]}, "high=inf"),
        ({"low": [2.0], "high": [1.0]}, "low=2.0, high=1.0"),
        ({"low": ["a"], "high": [1.0]}, "one number per channel"),
        ({"low": [0.0, 0.0], "high": [1.0, 1.0]}, "2 channel(s) but the network 1"),
        ({"low": [0.0]}, "an object with 'low' and 'high'"),
    ],
    ids=["equal", "nan", "inf", "reversed", "strings", "channels", "incomplete"],
)
@pytest.mark.parametrize("key", ["input_norm", "target_norm"])
def test_a_broken_normalisation_is_refused(model_file, tmp_path, key, norm, message):
    path = _rewrite(model_file, tmp_path / "norm.safetensors", **{key: json.dumps(norm)})
    with pytest.raises(ModelFileError, match=re.escape(f"{key}") + ".*" + re.escape(message)):
        load_model(path)


def test_an_unreadable_format_version_names_the_file(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "version.safetensors", format_version="²")
    with pytest.raises(ModelFileError, match="version.safetensors.*unreadable format_version"):
        load_model(path)


def test_a_missing_header_entry_is_named(model_file, tmp_path):
    header, weights = _contents(model_file)
    del header["input_norm"]
    path = tmp_path / "no_norm.safetensors"
    save_file(weights, str(path), metadata=header)
    with pytest.raises(ModelFileError, match="no 'input_norm' entry"):
        load_model(path)


def test_a_folder_is_not_a_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder, not a model file"):
        load_model(tmp_path)


def test_a_failed_save_keeps_the_previous_model(model_file, tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    path.write_bytes(model_file.read_bytes())

    def fail(tensors, filename, metadata):
        Path(filename).write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(model_files, "save_file", fail)
    with pytest.raises(OSError, match="cannot write model file.*disk full"):
        save_model(load_model(model_file), path)
    assert path.read_bytes() == model_file.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_saving_to_a_folder_is_refused(model_file, tmp_path):
    with pytest.raises(OSError, match="it is a folder"):
        save_model(load_model(model_file), tmp_path)


# --- training that diverges ----------------------------------------------------------


def test_a_diverging_training_stops_and_keeps_finite_weights(tiny_config, blobs):
    trainer = Trainer(
        tiny_config(training={"learning_rate": 1e30, "mode": "paired"}), blobs(), blobs()
    )
    with pytest.raises(
        FloatingPointError, match=r"loss became \w+ at step \d+.*Lower the learning rate \(it was"
    ):
        for _ in trainer.run():
            pass
    weights = trainer.result().network.state_dict().values()
    assert all(torch.isfinite(t).all() for t in weights)


def test_a_non_finite_loss_is_never_applied(tiny_config, blobs, monkeypatch):
    trainer = Trainer(tiny_config(), blobs())
    trainer.prepare()
    before = {name: t.clone() for name, t in trainer.network.state_dict().items()}
    monkeypatch.setattr(
        trainer, "_loss", lambda *args: torch.tensor(float("nan"), requires_grad=True)
    )
    with pytest.raises(FloatingPointError, match="training loss became nan at step 1"):
        next(trainer.run())
    after = trainer.network.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


# --- generation: bounded memory, finite parameters -----------------------------------


@pytest.fixture(scope="module")
def tiny_vae(tiny_vae_config):
    """An untrained tiny VAE on 16x16 frames (generation needs no training to be bounded)."""
    return _untrained(tiny_vae_config())


@pytest.mark.parametrize(
    "generate, what",
    [
        (lambda model: sample(model, 10**9), "1000000000 samples"),
        (lambda model: sample(model, 3_000_000), "3000000 samples"),
        (lambda model: manifold(model, grid=100_000), "a manifold of 100000x100000 tiles"),
        (lambda model: manifold(model, grid=2000), "a manifold of 2000x2000 tiles"),
    ],
    ids=["sample 1e9", "sample 3e6", "grid 1e5", "grid 2000"],
)
def test_a_huge_generation_is_refused_with_the_memory_it_needs(tiny_vae, generate, what):
    with pytest.raises(
        ValueError,
        match=re.escape(what) + r" of 16x16 pixels would need [\d.]+ GiB.*at most \d+ images",
    ):
        generate(tiny_vae)


def test_many_samples_are_decoded_in_batches(tiny_vae, monkeypatch):
    batches = []
    network = tiny_vae.network_on("cpu")
    decode_batch = network.decode
    network.decode = lambda z: batches.append(len(z)) or decode_batch(z)
    monkeypatch.setattr(TrainedModel, "network_on", lambda self, device: network)
    codes = generation.sample_codes(tiny_vae, 10, seed=1)
    images = run(generation.iter_decode(tiny_vae, codes, batch_size=4))
    assert images.shape == (10, 16, 16) and batches == [4, 4, 2]
    monkeypatch.undo()
    np.testing.assert_allclose(images, sample(tiny_vae, 10, seed=1), atol=1e-6)


@pytest.mark.parametrize("temperature", NON_FINITE + [-1.0], ids=["nan", "inf", "-inf", "negative"])
def test_a_non_finite_or_negative_temperature_is_refused(tiny_vae, temperature):
    with pytest.raises(ValueError, match="finite temperature >= 0"):
        sample(tiny_vae, 2, temperature=temperature)


@pytest.mark.parametrize(
    "span", NON_FINITE + [-2.0, 0.0], ids=["nan", "inf", "-inf", "negative", "zero"]
)
def test_a_span_that_is_not_positive_and_finite_is_refused(tiny_vae, span):
    with pytest.raises(ValueError, match="span must be a positive, finite number"):
        manifold(tiny_vae, grid=3, span=span)


# --- prediction: tiling options checked first, float32 results -----------------------


@pytest.fixture(scope="module")
def tiny_unet():
    """An untrained tiny grey U-Net of depth 1."""
    return _untrained(_tiny_unet_config())


@pytest.mark.parametrize("tile, overlap", [(64, 64), (64, 65), (1, 32), (0, 0)])
def test_fit_tile_refuses_an_overlap_not_below_the_tile(tile, overlap):
    with pytest.raises(ValueError, match="overlap must satisfy|tile must be positive"):
        fit_tile(200, tile, overlap)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tile": 64, "overlap": 64}, "overlap must satisfy 0 <= overlap < tile"),
        ({"tile": 32, "overlap": 40}, "overlap must satisfy 0 <= overlap < tile"),
        ({"tile": 0}, "tile must be positive"),
        ({"overlap": -1}, "overlap must satisfy"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"batch_size": 1.5}, "batch_size must be an integer >= 1, got 1.5"),
    ],
)
def test_bad_tiling_options_are_refused_before_the_output_is_touched(tiny_unet, options, message):
    out = np.full((40, 40), 7.0, np.float32)
    steps = iter_predict(tiny_unet, np.ones((40, 40), np.float32), out=out, device="cpu", **options)
    with pytest.raises(ValueError, match=re.escape(message)):
        next(steps)
    assert (out == 7).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_predictions_match_cpu_predictions_in_float32(tiny_unet):
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    np.testing.assert_allclose(
        tiny_unet.predict(image, device="cuda"), tiny_unet.predict(image, device="cpu"), atol=1e-4
    )


# --- degenerate inputs: clear messages with advice that can be followed --------------


@pytest.mark.parametrize(
    "shape, axes", [((0, 64, 64), "SYX"), ((0, 64), "YX"), ((0, 0), "YX"), ((64, 0), "YX")]
)
def test_empty_images_are_refused_for_training_and_prediction(tiny_config, tiny_unet, shape, axes):
    image = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=re.escape(f"the image is empty: its shape {shape}")):
        Trainer(tiny_config(data={"axes": axes}), image)
    with pytest.raises(ValueError, match=re.escape(f"image is empty (shape {shape})")):
        tiny_unet.predict(image, axes=axes, device="cpu")


def test_an_empty_normalisation_fit_is_refused():
    with pytest.raises(ValueError, match=r"empty planes of shape \(0, 1, 8, 8\)"):
        Normalizer.fit(np.zeros((0, 1, 8, 8), np.float32))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.float32(3.0), r"0-D array \(a single number\)"),
        (np.zeros(64), r"1-D array \(a line of values\)"),
    ],
    ids=["0-D", "1-D"],
)
def test_arrays_of_fewer_than_two_dimensions_are_not_images(tiny_config, tiny_unet, image, message):
    expected = message + " is not an image; give an array with at least the two dimensions Y and X"
    with pytest.raises(ValueError, match=expected):
        Trainer(tiny_config(), image)
    with pytest.raises(ValueError, match=expected):
        tiny_unet.predict(image, device="cpu")
    with pytest.raises(ValueError, match=expected):
        default_axes(np.ndim(image))


def test_a_grey_image_is_not_guessed_as_colour():
    with pytest.raises(
        ValueError, match="a colour image has at least 3 dimensions.*this one has 2"
    ):
        default_axes(2, rgb=True)


def test_a_two_channel_image_read_as_a_stack_gets_the_yxc_hint(tiny_config, blobs):
    image = np.stack([blobs((32, 32), seed=0), blobs((32, 32), seed=1)], axis=-1)  # (32, 32, 2)
    with pytest.raises(
        ValueError,
        match="32x2 pixels.*If the last axis \\(2 values\\) holds channels, give axes 'YXC'",
    ):
        Trainer(tiny_config(data={"axes": "SYX"}), image)


def test_a_python_list_is_read_as_an_array(tiny_config, blobs):
    trainer = Trainer(tiny_config(), blobs((32, 32)).tolist())
    assert trainer.input_norm.low[0] >= 0


def test_float64_values_beyond_float32_are_refused(tiny_config, tiny_unet, blobs):
    image = blobs((32, 32)).astype(np.float64) * 1e300
    with pytest.raises(ValueError, match=r"values up to 1e\+300, beyond float32's range.*rescale"):
        Trainer(tiny_config(), image)
    with pytest.raises(ValueError, match="beyond float32's range"):
        tiny_unet.predict(image, device="cpu")


def test_a_npy_header_declaring_more_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)}
        )
    for mmap in (False, True):
        with pytest.raises(
            ValueError,
            match=r"declares an array of shape \(100000, 100000\).*37.3 GiB.*truncated or corrupt",
        ):
            read_image(path, mmap=mmap)


def test_a_folder_is_not_an_image_file(tmp_path):
    folder = tmp_path / "data.tif"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        read_image(folder)


# --- safe writes: temporary files renamed when complete, never over an input ---------


@pytest.fixture
def previous(tmp_path):
    """Factory of a previous result at ``tmp_path / name``: write_image(name, 7s)."""

    def make(name):
        return write_image(tmp_path / name, np.full((8, 8), 7, np.uint8))

    return make


@pytest.mark.parametrize("name", ["out.tif", "out.npy", "out.png"])
def test_a_write_failing_midway_keeps_the_previous_file(previous, monkeypatch, name):
    path = previous(name)
    before = path.read_bytes()

    def fail_midway(target, array, suffix):
        Path(target).write_bytes(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(images, "_write", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, np.zeros((8, 8), np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary file left


@pytest.mark.parametrize("name", ["out.tif", "out.npy", "out.png"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_atomic_output_keeps_the_previous_file(previous, name, error):
    path = previous(name)
    before = path.read_bytes()
    with pytest.raises(error), atomic_output(path, (16, 16), np.uint8) as out:
        out[:8] = 3
        raise error()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [name]


@pytest.mark.parametrize("name", ["out.tif", "out.npy", "out.png"])
def test_a_completed_atomic_output_replaces_the_file(previous, name):
    path = previous(name)
    with atomic_output(path, (16, 16), np.uint8) as out:
        out[:] = np.arange(16, dtype=np.uint8)
    np.testing.assert_array_equal(read_image(path), np.tile(np.arange(16, dtype=np.uint8), (16, 1)))
    assert [p.name for p in path.parent.iterdir()] == [name]


def test_atomic_output_checks_the_path_before_creating_anything(tmp_path):
    with pytest.raises(ValueError, match="PNG holds"):
        with atomic_output(tmp_path / "out.png", (2, 8, 8)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    path = write_image(tmp_path / "out.npy", np.zeros((4, 4)))
    assert path.stat().st_mode & 0o777 == 0o666 & ~images._umask()


@pytest.mark.parametrize("name", ["out.npy", "out.tif"])
def test_created_images_have_their_disk_space_reserved(tmp_path, name):
    out = create_image(tmp_path / name, (256, 256))
    size = (tmp_path / name).stat()
    del out
    assert size.st_blocks * 512 >= size.st_size >= 256 * 256 * 4


def test_object_arrays_are_not_written_as_pickles(tmp_path):
    with pytest.raises(ValueError, match="holds Python objects"):
        write_image(tmp_path / "objects.npy", np.array([[object()]]))
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_an_input_is_refused(tmp_path, previous):
    image = previous("image.tif")
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"model")
    link = tmp_path / "link.tif"
    link.symlink_to(image)
    for output, source in [
        (image, image),
        (tmp_path / "." / "image.tif", image),
        (link, image),
        (model, model),
    ]:
        with pytest.raises(
            ValueError,
            match=f"the output '{re.escape(str(output))}' is the input '{re.escape(str(source))}'.*choose another output",
        ):
            check_not_input(output, tmp_path / "other.tif", source)
    check_not_input(tmp_path / "result.tif", image, model, tmp_path / "missing.tif")


@pytest.mark.parametrize("name", ["out.npy", "out.tif"])
def test_a_full_disk_fails_up_front_and_keeps_the_previous_result(small_disk, name):
    path = write_image(small_disk / name, np.full((8, 8), 7, np.uint8))
    before = path.read_bytes()
    with pytest.raises(OSError, match=r"no room on the disk for .*needs 4.0 MiB"):
        with atomic_output(path, (1024, 1024), np.float32) as out:
            out[:] = 1  # never reached: a sparse map would die here with SIGBUS
    assert path.read_bytes() == before
    assert [p.name for p in small_disk.iterdir()] == [name]


def test_a_full_disk_during_write_image_keeps_the_previous_result(small_disk):
    path = write_image(small_disk / "out.npy", np.full((8, 8), 7, np.uint8))
    before = path.read_bytes()
    with pytest.raises(OSError):
        write_image(path, np.ones((1024, 1024), np.float32))
    assert path.read_bytes() == before
    assert [p.name for p in small_disk.iterdir()] == ["out.npy"]


# --- more unclear cases of the matrix ------------------------------------------------


@pytest.mark.parametrize("axes", ["QQ", "YY", "SX", 123])
def test_unusable_axes_in_a_config_are_refused(axes):
    data = Config().to_dict()
    data["data"]["axes"] = axes
    with pytest.raises(ValueError, match="data.axes"):
        Config.from_dict(data)


@pytest.mark.parametrize("version", ["1", None, 1.0, True])
def test_a_config_version_that_is_not_a_whole_number_is_refused(version):
    data = Config().to_dict()
    data["version"] = version
    with pytest.raises(ValueError, match="config version must be a whole number.*corrupt"):
        Config.from_dict(data)


def test_a_target_of_other_axes_is_named(tiny_config, blobs):
    rgb = np.stack([blobs((32, 32), seed=s) for s in range(3)], axis=-1)
    config = tiny_config(data={"axes": "YXC"}, training={"mode": "paired"})
    with pytest.raises(ValueError, match="the target image does not fit: axes 'YXC' names 3 axes"):
        Trainer(config, rgb, blobs((32, 32)))


@pytest.mark.parametrize("batch_size", [0, -1, 1.5])
def test_encoding_refuses_a_batch_size_below_one(tiny_vae, frames, batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        tiny_vae.encode(frames, batch_size=batch_size)


def test_a_failed_csv_write_keeps_the_previous_table(tmp_path, monkeypatch):
    path = tmp_path / "latents.csv"
    path.write_text("z0\n1\n")
    monkeypatch.setattr(np, "savetxt", lambda target, *args, **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_csv(path, {"z0": np.zeros(3)})
    assert path.read_text() == "z0\n1\n" and [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "array, message",
    [(np.zeros((0, 0)), "cannot hold an empty image"), (np.ones((4, 4), complex), "complex")],
    ids=["empty", "complex"],
)
def test_png_refuses_empty_and_complex_images(tmp_path, array, message):
    with pytest.raises(ValueError, match=message):
        write_image(tmp_path / "out.png", array)
    assert list(tmp_path.iterdir()) == []


def test_a_history_that_is_not_a_list_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "history.safetensors", history='{"epoch": 1}')
    with pytest.raises(ModelFileError, match="history must be a list of epochs, got dict"):
        load_model(path)


@pytest.mark.parametrize("architecture", ["vae", "vae-dense"])
def test_a_vae_is_applied_tile_by_tile_to_a_larger_image(tiny_vae_config, architecture):
    vae = _untrained(tiny_vae_config(model={"architecture": architecture, "hidden_dim": 8}))
    image = np.random.default_rng(0).random((2, 40, 40), dtype=np.float32)
    result = vae.predict(image, device="cpu")
    assert result.shape == image.shape and np.isfinite(result).all()
    with pytest.raises(ValueError, match="takes 16x16 tiles but the image planes are 8x40"):
        vae.predict(image[:, :8], device="cpu")


def test_writing_an_image_over_a_folder_is_refused(tmp_path):
    folder = tmp_path / "out.tif"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder; give a file name"):
        write_image(folder, np.zeros((4, 4)))
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"] and folder.is_dir()


def test_empty_axes_in_a_config_are_named():
    config = Config(data=DataConfig(axes=""))
    with pytest.raises(
        ValueError, match="data.axes is unusable: axes '' must contain both 'Y' and 'X'"
    ):
        config.validate()
