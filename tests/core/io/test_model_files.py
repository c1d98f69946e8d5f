"""Tests for model files: the round trip and every way a file can be unusable."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from napari_autoencoders.core.io.model_files import ModelFileError, load_model, save_model
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.training import fit


@pytest.fixture(scope="module")
def clean(blobs):
    """Two channels (Y, X, C) in different units."""
    return np.stack([blobs((32, 32), seed=0), 50 * blobs((32, 32), seed=1)], axis=-1)


@pytest.fixture(scope="module")
def model(tiny_config, clean):
    """A paired model, so that input and target normalisations differ."""
    noisy = add_noise(clean / 50, "gaussian:0.1", seed=0) * 50
    config = tiny_config(data={"axes": "YXC"}, training={"mode": "paired"})
    return fit(config, noisy, clean)


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return save_model(model, tmp_path_factory.mktemp("models") / "model.safetensors")


def read_file(path):
    """Return the header and the tensors of a safetensors file."""
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}


def rewrite(saved, path, **header_changes):
    """Copy ``saved`` to ``path`` with some header entries replaced."""
    header, tensors = read_file(saved)
    save_file(tensors, str(path), metadata={**header, **header_changes})
    return path


def test_round_trip_keeps_everything(model, saved, clean):
    loaded = load_model(saved)
    assert loaded.config == model.config
    assert loaded.history == model.history and len(loaded.history) == 2
    assert loaded.input_norm == model.input_norm
    assert loaded.target_norm == model.target_norm
    assert not loaded.network.training
    np.testing.assert_array_equal(
        predict(loaded, clean, device="cpu"), predict(model, clean, device="cpu")
    )


def test_save_returns_the_path_and_accepts_strings(model, tmp_path):
    path = save_model(model, str(tmp_path / "model.safetensors"))
    assert path == tmp_path / "model.safetensors" and path.is_file()
    assert load_model(str(path)).config == model.config


def test_header_is_plain_json(saved):
    header, _ = read_file(saved)
    assert header["format"] == "napari-autoencoders"
    assert json.loads(header["config"])["data"]["axes"] == "YXC"


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nothing.safetensors")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(path)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file(saved, tmp_path, keep):
    data = saved.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        load_model(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(ModelFileError, match="not written by napari-autoencoders"):
        load_model(path)


def test_newer_format_version(saved, tmp_path):
    path = rewrite(
        saved, tmp_path / "newer.safetensors", format_version="2", package_version="9.0"
    )
    with pytest.raises(ModelFileError, match="newer napari-autoencoders .*9.0"):
        load_model(path)


def test_unreadable_format_version(saved, tmp_path):
    path = rewrite(saved, tmp_path / "garbled.safetensors", format_version="one")
    with pytest.raises(ModelFileError, match="unreadable format_version"):
        load_model(path)


def test_newer_config_version(saved, tmp_path):
    header, _ = read_file(saved)
    config = json.loads(header["config"])
    config["version"] += 1
    path = rewrite(saved, tmp_path / "config.safetensors", config=json.dumps(config))
    with pytest.raises(ModelFileError, match="version"):
        load_model(path)


def test_weights_not_matching_the_config(saved, tmp_path):
    header, _ = read_file(saved)
    config = json.loads(header["config"])
    config["model"]["width"] *= 2
    path = rewrite(saved, tmp_path / "wider.safetensors", config=json.dumps(config))
    with pytest.raises(ModelFileError, match="inconsistent"):
        load_model(path)


@pytest.mark.parametrize(
    "header_changes",
    [{"config": "{not json"}, {"input_norm": json.dumps({"low": [0.0]})}],
    ids=["bad json", "incomplete normalisation"],
)
def test_broken_header_entries(saved, tmp_path, header_changes):
    path = rewrite(saved, tmp_path / "broken.safetensors", **header_changes)
    with pytest.raises(ModelFileError, match="inconsistent"):
        load_model(path)


def test_missing_tensor(saved, tmp_path):
    header, tensors = read_file(saved)
    tensors.pop(next(iter(tensors)))
    path = tmp_path / "missing.safetensors"
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(ModelFileError, match="inconsistent"):
        load_model(path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_vae_round_trip(tiny_vae_config, frames, tmp_path):
    from napari_autoencoders.core.latent.generation import sample

    model = fit(tiny_vae_config(model={"architecture": "vae-dense", "hidden_dim": 8}), frames)
    loaded = load_model(save_model(model, tmp_path / "vae.safetensors"))
    assert loaded.config == model.config
    np.testing.assert_array_equal(sample(loaded, 3, seed=2), sample(model, 3, seed=2))


def test_an_adversarial_autoencoder_round_trips_without_its_discriminator(tiny_config, tmp_path):
    from napari_autoencoders.core.latent.generation import sample

    frames = (np.random.default_rng(0).random((8, 16, 16)) > 0.5).astype(np.float32)
    config = tiny_config(
        model={"architecture": "aae", "input_size": 16, "latent_dim": 2, "prior": "mixture"},
        data={"axes": "SYX", "augment": False, "percentiles": (0.0, 100.0)},
        training={"task": "aae"},
    )
    model = fit(config, frames)
    path = save_model(model, tmp_path / "aae.safetensors")
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.config.model.prior == "mixture"
    _, tensors = read_file(path)
    assert tensors.keys() == model.network.state_dict().keys()  # encoder and decoder only
    np.testing.assert_array_equal(sample(loaded, 3, seed=1), sample(model, 3, seed=1))


def test_a_3d_model_round_trips(tiny_config, blobs, tmp_path):
    volume = blobs((8, 24, 24))
    config = tiny_config(model={"spatial_dims": 3}, data={"axes": "ZYX", "patch_z": 8}, training={"epochs": 1})
    model = fit(config, volume)

    loaded = load_model(save_model(model, tmp_path / "volume.safetensors"))

    assert loaded.config == model.config and loaded.config.model.spatial_dims == 3
    np.testing.assert_array_equal(predict(loaded, volume, device="cpu"), predict(model, volume, device="cpu"))


def test_a_model_file_trained_with_a_large_seed_by_an_earlier_version_loads(saved, tmp_path):
    header, _ = read_file(saved)
    config = json.loads(header["config"])
    config["training"]["seed"] = 2**63 - 2  # what versions before the 32-bit limit accepted
    path = rewrite(saved, tmp_path / "seeded.safetensors", config=json.dumps(config))
    assert load_model(path).config.training.seed == 2**63 - 2


def test_a_file_from_a_newer_version_with_new_config_fields_says_to_update(saved, tmp_path):
    header, _ = read_file(saved)
    config = json.loads(header["config"])
    config["model"]["foo"] = 1
    path = rewrite(
        saved, tmp_path / "newer.safetensors", config=json.dumps(config), package_version="99.0"
    )
    with pytest.raises(
        ModelFileError,
        match=r"model.foo are unknown to .* written by a newer version \(99.0\); update napari",
    ):
        load_model(path)


@pytest.mark.parametrize("key", ["config", "history", "input_norm"])
def test_deeply_nested_header_json_is_a_model_file_error(saved, tmp_path, key):
    path = rewrite(saved, tmp_path / "nested.safetensors", **{key: "[" * 100_000 + "]" * 100_000})
    with pytest.raises(ModelFileError, match=f"'{key}' is JSON nested too deeply"):
        load_model(path)


@pytest.mark.parametrize(
    "history, entry",
    [
        ([1, 2], "history entry 0"),
        ([{"epoch": 1}], "history entry 0"),
        (
            [{"epoch": 1, "step": 3, "loss": 0.1, "val_loss": 0.2, "elapsed": 1.0},
             {"epoch": 2, "step": 6, "loss": 0.1, "val_loss": None, "elapsed": 2.0}],
            "history entry 1",
        ),
        ([{"epoch": True, "step": 3, "loss": 0.1, "val_loss": 0.2, "elapsed": 1.0}], "history entry 0"),
    ],
    ids=["numbers", "epoch alone", "no validation loss", "boolean epoch"],
)
def test_a_malformed_history_entry_is_refused(saved, tmp_path, history, entry):
    path = rewrite(saved, tmp_path / "history.safetensors", history=json.dumps(history))
    with pytest.raises(ModelFileError, match=f"{entry} must be an object with numbers epoch, step"):
        load_model(path)


@pytest.mark.parametrize(
    "name, suggested",
    [("model.zip", "model.safetensors"), ("rdf.yaml", "rdf.safetensors"), ("m.bioimageio.yaml", "m.bioimageio.safetensors")],
)
def test_a_model_file_is_not_saved_under_a_package_name(model, tmp_path, name, suggested):
    with pytest.raises(ValueError, match=f"named '{name}': load_model opens .* name it '{suggested}', or export"):
        save_model(model, tmp_path / name)
    assert not (tmp_path / name).exists()
