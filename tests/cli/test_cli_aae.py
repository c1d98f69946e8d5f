"""Tests for the command line's adversarial autoencoder: ``train --task aae`` and ``sample``."""

import numpy as np
import pytest

from napari_autoencoders.cli import build_parser, main
from napari_autoencoders.cli.train import config_from_args
from napari_autoencoders.core.config import ModelConfig, TrainingConfig
from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.model_files import load_model

# a narrow AAE, one epoch of two steps on 16x16 frames
FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--width", "4"]
FAST += ["--device", "cpu", "--quiet"]


def train(*options):
    return main(["train", "--task", "aae", *map(str, options), *FAST])


def sample(*options):
    return main(["sample", *map(str, options)])


@pytest.fixture(scope="module")
def files(tmp_path_factory, disks):
    """A stack of frames, an AAE with the Gaussian prior and one with the mixture prior."""
    folder = tmp_path_factory.mktemp("cli_aae")
    paths = {name: folder / f"{name}.safetensors" for name in ("gaussian", "mixture")}
    paths["frames"] = folder / "frames.npy"
    np.save(paths["frames"], disks())
    assert train("--input", paths["frames"], "--model", paths["gaussian"]) == 0
    mixture = ["--prior", "mixture", "--latent-dim", "2", "--adversarial-rate", "0.2"]
    assert train("--input", paths["frames"], "--model", paths["mixture"], *mixture) == 0
    return paths


def test_train_aae_stores_the_recipe_config(files):
    config = load_model(files["gaussian"]).config
    assert (config.training.task, config.model.architecture) == ("aae", "aae")
    assert (config.model.latent_dim, config.model.input_size) == (ModelConfig.latent_dim, 16)
    assert config.model.prior == "gaussian"
    assert config.training.adversarial_rate == TrainingConfig.adversarial_rate
    assert config.data.percentiles == (0.0, 100.0) and not config.data.augment


def test_aae_options_reach_the_config(files):
    config = load_model(files["mixture"]).config
    assert (config.model.prior, config.model.latent_dim) == ("mixture", 2)
    assert config.training.adversarial_rate == 0.2


@pytest.mark.parametrize("prior", ["gaussian", "mixture"])
def test_sample_writes_a_stack_and_a_manifold(files, tmp_path, prior):
    stack, mosaic = tmp_path / "samples.tif", tmp_path / "manifold.npy"
    assert sample("--model", files[prior], "--n", "5", "--output", stack, "--quiet") == 0
    assert read_image(stack).shape == (5, 16, 16)
    assert sample("--model", files[prior], "--grid", "3", "--output", mosaic, "--quiet") == 0
    assert read_image(mosaic).shape == (48, 48)




def test_aae_options_need_the_aae_task(files, tmp_path, capsys, run_error):
    model = tmp_path / "m.safetensors"
    argv = ["train", "--task", "vae", "--input", files["frames"], "--model", model]
    assert "--prior applies to task aae only" in run_error([*argv, "--prior", "mixture"])
    rate = [*argv, "--adversarial-rate", "1"]
    assert "--adversarial-rate applies to task aae only" in run_error(rate)


def test_the_mixture_prior_needs_a_2d_latent():
    argv = ["train", "--task", "aae", "--input", "x.npy", "--model", "m.safetensors"]
    argv += ["--prior", "mixture"]
    with pytest.raises(ValueError, match="needs model.latent_dim 2, got 16"):
        config_from_args(build_parser().parse_args(argv), (100, 28, 28))
