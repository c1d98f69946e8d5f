"""Tests for the configuration tree: validation and the JSON round trip."""

import json
import re

import pytest

from napari_autoencoders.core.config import (
    CONFIG_VERSION,
    PRIOR_NETWORK,
    Architecture,
    Config,
    DataConfig,
    Mode,
    ModelConfig,
    Task,
    TrainingConfig,
)


def autoencoder_config(**model) -> Config:
    """A valid reconstruction config for 28x28 frames."""
    return Config(
        model=ModelConfig(architecture="autoencoder", input_size=28, latent_dim=2, **model),
        data=DataConfig(axes="SYX", patch_size=28),
        training=TrainingConfig(task="reconstruct"),
    )


def test_defaults_validate():
    config = Config()
    assert config.validate() is config
    assert config.version == CONFIG_VERSION


def test_enums_are_the_stored_strings():
    assert Task("reconstruct") is Task.RECONSTRUCT
    assert Mode("self-supervised") is Mode.SELF_SUPERVISED
    assert Architecture.AUTOENCODER == "autoencoder"
    assert Config().model.architecture == Architecture.UNET.value


@pytest.mark.parametrize("make", [Config, autoencoder_config], ids=["default", "autoencoder"])
def test_dict_round_trip_through_json(make):
    config = make()
    config.training.time_budget = 12.5
    config.data.percentiles = (0.5, 99.5)
    config.model.noise_strides = (1, 3)
    if make is Config:  # a user's strides: the denoiser's self-supervised fine-tuning of the prior
        config = Config(model=ModelConfig(**PRIOR_NETWORK, noise_strides=(1, 3)))
        config.training.pretrained = True
        config.data.noise_strides = (2, 2)
    data = json.loads(json.dumps(config.to_dict()))
    restored = Config.from_dict(data)
    assert restored == config
    assert isinstance(restored.data.percentiles, tuple)
    assert isinstance(restored.model.noise_strides, tuple)
    assert restored.data.noise_strides in (None, (2, 2))


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("model", "architecture", "vae"),
        ("model", "in_channels", 0),
        ("model", "out_channels", -1),
        ("model", "width", 0),
        ("model", "latent_dim", 0),
        ("model", "depth", 0),
        ("model", "depth", 7),
        ("model", "padding", "circular"),
        ("model", "noise_strides", (0, 1)),
        ("model", "noise_strides", (1, 6)),
        ("data", "patch_size", 0),
        ("data", "batch_size", 0),
        ("data", "validation_fraction", -0.1),
        ("data", "validation_fraction", 0.5),
        ("data", "percentiles", (99.0, 1.0)),
        ("data", "percentiles", (1.0, 101.0)),
        ("data", "percentiles", (-1.0, 99.0)),
        ("data", "noise_strides", (1, 0)),
        ("data", "noise_strides", (1, 2, 3)),
        ("data", "noise_strides", (1.5, 2)),
        ("data", "noise_strides", "1,3"),
        ("training", "task", "segment"),
        ("training", "mode", "noise2void"),
        ("training", "epochs", 0),
        ("training", "steps_per_epoch", 0),
        ("training", "patience", 0),
        ("training", "time_budget", 0),
        ("training", "learning_rate", 0.0),
        ("training", "mask_fraction", 0.0),
        ("training", "mask_fraction", 0.3),
        ("training", "mask_radius", 0),
        ("training", "neighbours", 0),
    ],
)
def test_bad_value_names_its_field(section, name, value):
    config = Config()
    setattr(getattr(config, section), name, value)
    with pytest.raises(ValueError, match=re.escape(f"{section}.{name}")):
        config.validate()


def test_noise_strides_are_asked_of_2d_self_supervised_denoising_only():
    config = Config(model=ModelConfig(**PRIOR_NETWORK))
    config.data.noise_strides = (1, 3)
    assert config.validate() is config  # Noise2Void from random weights
    config.training.pretrained = True
    assert config.validate() is config  # the prior's fine-tuning
    config.training.mode = "synthetic"
    with pytest.raises(ValueError, match="data.noise_strides splits the noisy image"):
        config.validate()
    volumes = Config(model=ModelConfig(spatial_dims=3), data=DataConfig(axes="ZYX", noise_strides=(1, 3)))
    with pytest.raises(ValueError, match="a 2D network"):
        volumes.validate()


def test_bad_value_in_a_dict_is_rejected():
    data = Config().to_dict()
    data["data"]["batch_size"] = -4
    with pytest.raises(ValueError, match="data.batch_size"):
        Config.from_dict(data)


def test_residual_needs_matching_channels():
    config = Config(model=ModelConfig(residual=True, in_channels=1, out_channels=3))
    with pytest.raises(ValueError, match="model.residual"):
        config.validate()


def test_autoencoder_input_must_hold_the_downsamplings():
    config = autoencoder_config(depth=3)
    config.model.input_size = config.data.patch_size = 4
    with pytest.raises(ValueError, match="model.input_size"):
        config.validate()


def test_autoencoder_input_size_must_equal_patch_size():
    config = autoencoder_config()
    config.data.patch_size = 32
    with pytest.raises(ValueError, match=r"model.input_size \(28\).*data.patch_size \(32\)"):
        config.validate()


def test_blind_spot_radius_must_fit_in_the_patch():
    config = Config(data=DataConfig(patch_size=4), training=TrainingConfig(mask_radius=2))
    with pytest.raises(ValueError, match=r"data.patch_size \(4\).*training.mask_radius \(2\)"):
        config.validate()
    config.training.mode = "paired"  # no masking: any radius will do
    config.validate()
    prior = Config(  # the prior fine-tunes on whole pairs, unmasked
        model=ModelConfig(**PRIOR_NETWORK), data=DataConfig(patch_size=4),
        training=TrainingConfig(mask_radius=2, pretrained=True),
    )
    prior.validate()


def test_reconstruct_with_unet_is_rejected():
    config = Config(training=TrainingConfig(task="reconstruct"))
    with pytest.raises(ValueError, match="reconstruct.*autoencoder"):
        config.validate()


@pytest.mark.parametrize("version", [CONFIG_VERSION + 1, 0, None])
def test_other_version_is_rejected(version):
    data = Config().to_dict()
    data["version"] = version
    with pytest.raises(ValueError, match="version"):
        Config.from_dict(data)


def test_missing_version_is_rejected():
    data = Config().to_dict()
    del data["version"]
    with pytest.raises(ValueError, match="version"):
        Config.from_dict(data)


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data.pop("training"),
        lambda data: data.update(model=[]),
    ],
    ids=["missing section", "section not an object"],
)
def test_malformed_dict_is_rejected(change):
    data = Config().to_dict()
    change(data)
    with pytest.raises(ValueError, match="malformed"):
        Config.from_dict(data)


def vae_config(**training) -> Config:
    return Config(
        model=ModelConfig(architecture="vae", input_size=28, latent_dim=2),
        data=DataConfig(axes="SYX", patch_size=28, percentiles=(0.0, 100.0)),
        training=TrainingConfig(task="vae", **training),
    )


def test_vae_config_round_trips():
    config = vae_config(beta=0.5, kl_warmup=100).validate()
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    "architecture, task", [("vae", "reconstruct"), ("autoencoder", "vae"), ("unet", "vae")]
)
def test_vae_task_and_architecture_go_together(architecture, task):
    config = vae_config()
    config.model.architecture, config.training.task = architecture, task
    with pytest.raises(ValueError, match="task 'vae' needs architecture 'vae' or 'vae-dense'"):
        config.validate()


def test_bce_needs_min_max_normalisation():
    config = vae_config()
    config.data.percentiles = (1.0, 99.8)
    with pytest.raises(ValueError, match=r"set data.percentiles to \(0, 100\)"):
        config.validate()
    config.model.reconstruction_loss = "mse"
    config.validate()


@pytest.mark.parametrize("field, value", [("beta", -1.0), ("kl_warmup", -5)])
def test_negative_beta_or_warmup_is_rejected(field, value):
    with pytest.raises(ValueError, match="must not be negative"):
        vae_config(**{field: value}).validate()


def test_unknown_reconstruction_loss_is_rejected():
    config = vae_config()
    config.model.reconstruction_loss = "l1"
    with pytest.raises(ValueError, match="model.reconstruction_loss must be one of"):
        config.validate()


def test_neighbour_term_applies_to_latent_tasks_only():
    config = Config()
    config.training.neighbour_weight = 0.1
    with pytest.raises(ValueError, match="'reconstruct' and 'vae', not 'denoise'"):
        config.validate()
    vae_config(neighbour_weight=0.1).validate()


@pytest.mark.parametrize(
    "weight, message", [(-1.0, r"must be 0 \(off\) or positive"), (float("nan"), "must be a finite number")]
)
def test_neighbour_weight_must_be_zero_or_positive(weight, message):
    config = vae_config(neighbour_weight=weight)
    with pytest.raises(ValueError, match=f"training.neighbour_weight {message}"):
        config.validate()


def test_neighbour_term_needs_two_pairs_per_batch():
    config = vae_config(neighbour_weight=1.0)
    config.data.batch_size = 3
    with pytest.raises(ValueError, match="batch_size of at least 4"):
        config.validate()


def test_model_files_from_before_the_neighbour_term_still_load():
    data = vae_config().to_dict()
    del data["training"]["neighbour_weight"], data["training"]["neighbours"]
    training = Config.from_dict(data).training
    assert (training.neighbour_weight, training.neighbours) == (0.0, 15)



def aae_config(prior="gaussian", latent_dim=2, **training) -> Config:
    return Config(
        model=ModelConfig(architecture="aae", input_size=28, latent_dim=latent_dim, prior=prior),
        data=DataConfig(axes="SYX", patch_size=28, percentiles=(0.0, 100.0)),
        training=TrainingConfig(task="aae", **training),
    )


def test_aae_config_round_trips():
    config = aae_config(prior="mixture", adversarial_rate=0.2).validate()
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    "architecture, task", [("aae", "reconstruct"), ("autoencoder", "aae"), ("vae", "aae")]
)
def test_aae_task_and_architecture_go_together(architecture, task):
    config = aae_config()
    config.model.architecture, config.training.task = architecture, task
    with pytest.raises(ValueError, match="does not fit model.architecture"):
        config.validate()


def test_aae_bce_needs_min_max_normalisation():
    config = aae_config()
    config.data.percentiles = (1.0, 99.8)
    with pytest.raises(ValueError, match=r"set data.percentiles to \(0, 100\)"):
        config.validate()
    config.model.reconstruction_loss = "mse"
    config.validate()


def test_the_mixture_prior_needs_a_2d_latent_and_an_aae():
    with pytest.raises(ValueError, match="needs model.latent_dim 2, got 16"):
        aae_config(prior="mixture", latent_dim=16).validate()
    config = vae_config()
    config.model.prior = "mixture"
    with pytest.raises(ValueError, match="applies to task 'aae' only"):
        config.validate()
    config.model.prior = "laplace"
    with pytest.raises(ValueError, match="model.prior must be one of"):
        config.validate()


@pytest.mark.parametrize(
    ("rate", "message"), [(0.0, "be positive"), (-1.0, "be positive"), (float("nan"), "finite")]
)
def test_adversarial_rate_must_be_positive(rate, message):
    with pytest.raises(ValueError, match=f"training.adversarial_rate must {message}|be a {message}"):
        aae_config(adversarial_rate=rate).validate()


def test_the_neighbour_term_does_not_apply_to_an_aae():
    with pytest.raises(ValueError, match="'reconstruct' and 'vae', not 'aae'"):
        aae_config(neighbour_weight=1.0).validate()


def test_model_files_from_before_the_aae_still_load():
    data = vae_config().to_dict()
    del data["model"]["prior"], data["training"]["adversarial_rate"]
    config = Config.from_dict(data)
    assert (config.model.prior, config.training.adversarial_rate) == ("gaussian", 0.5)


def test_old_config_without_3d_fields_loads_as_2d():
    data = Config().to_dict()
    del data["model"]["spatial_dims"], data["data"]["patch_z"]

    config = Config.from_dict(data)

    assert config.model.spatial_dims == 2 and config.data.patch_z == DataConfig.patch_z


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        ({"spatial_dims": 4}, {"axes": "ZYX"}, "spatial_dims must be 2"),
        ({"spatial_dims": 3}, {"axes": "SYX"}, "needs data with a Z axis"),
        ({"spatial_dims": 3}, {"axes": "ZYX", "patch_z": 4}, "patch_z \\(4\\) must exceed"),
        ({"spatial_dims": 3, "architecture": "autoencoder"}, {"axes": "ZYX"}, "only the 'unet'"),
    ],
)
def test_bad_3d_configs_are_refused(model, data, message):
    with pytest.raises(ValueError, match=message):
        Config(model=ModelConfig(**model), data=DataConfig(**data)).validate()


@pytest.mark.parametrize(
    "model",
    [
        dict(in_channels=1, out_channels=1, noise_variance=0.01),  # not 3 channels
        dict(in_channels=3, out_channels=3, noise_variance=0.01, noise_gain=0.1),  # shot noise
        dict(in_channels=3, out_channels=3),  # no noise model
    ],
)
def test_opponent_colours_need_3_channels_of_gaussian_noise(model):
    with pytest.raises(ValueError, match="model.opponent_colours"):
        ModelConfig(**model, residual=True, opponent_colours=True).validate()


@pytest.mark.parametrize(
    "model, message",
    [
        (dict(noise_variance=0.01, clip_low=1.0, clip_high=0.0), "must be below"),
        (dict(noise_variance=0.01, clip_low=float("nan")), "finite"),
        (dict(clip_high=255.0), "with a noise model"),
    ],
)
def test_clip_levels_need_ordered_finite_values_and_a_noise_model(model, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**model, residual=True).validate()


def test_clip_levels_go_with_poisson_gaussian_noise_too():
    ModelConfig(residual=True, noise_gain=0.1, clip_low=0.0, clip_high=255.0).validate()


def test_clip_levels_load_from_a_config_file_and_may_be_null():
    config = Config(model=ModelConfig(residual=True, noise_variance=0.01, clip_low=0.0, clip_high=None))
    data = config.to_dict()
    assert Config.from_dict(data).model.clip_low == 0.0
    data["model"]["clip_high"] = "255"
    with pytest.raises(ValueError, match="clip_high must be a number or null"):
        Config.from_dict(data)


def test_a_stored_seed_of_an_earlier_version_loads_but_does_not_train():
    from napari_autoencoders.core.config import MAX_SEED, MAX_STORED_SEED

    data = Config().to_dict()
    data["training"]["seed"] = MAX_STORED_SEED  # earlier versions trained with seeds up to it
    config = Config.from_dict(data)
    assert config.training.seed == MAX_STORED_SEED
    with pytest.raises(ValueError, match=f"training.seed must be an integer from 0 to {MAX_SEED}"):
        config.validate()
    data["training"]["seed"] = MAX_STORED_SEED + 1
    with pytest.raises(ValueError, match=f"from 0 to {MAX_STORED_SEED}, got {MAX_STORED_SEED + 1}"):
        Config.from_dict(data)


@pytest.mark.parametrize(
    "written_by, message",
    [
        ("9.0", r"written by a newer version \(9.0\); update napari-autoencoders to read it"),
        (None, "written by a newer version; update napari-autoencoders"),
        ("0.0.1", "says that version 0.0.1, not a newer one, wrote it: it was edited or is corrupt"),
    ],
    ids=["newer", "unknown version", "older"],
)
def test_unknown_fields_are_named_with_the_version_that_wrote_them(written_by, message):
    from napari_autoencoders import __version__

    data = Config().to_dict()
    data["model"].update(colour="red", attention=True)
    data["training"]["ema"] = 0.99
    with pytest.raises(ValueError, match=message) as error:
        Config.from_dict(data, written_by=written_by)
    text = str(error.value)
    assert f"model.attention, model.colour are unknown to napari-autoencoders {__version__}" in text
    assert "malformed" not in text and "unexpected keyword" not in text
