"""Tests for the command line's variational autoencoder: ``train --task vae`` and ``sample``."""

import numpy as np
import pytest

from napari_autoencoders.cli import build_parser, main
from napari_autoencoders.cli.train import config_from_args
from napari_autoencoders.core.config import ModelConfig
from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.model_files import load_model

# a narrow VAE, one epoch of two steps on 16x16 frames
FAST_VAE = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--width", "4"]
FAST_VAE += ["--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, disks):
    """A stack of frames, a trained VAE and a trained plain autoencoder."""
    folder = tmp_path_factory.mktemp("cli_vae")
    paths = {"frames": folder / "frames.npy", "vae": folder / "vae.safetensors"}
    np.save(paths["frames"], disks())
    assert train("--input", paths["frames"], "--model", paths["vae"], *FAST_VAE) == 0
    paths["plain"] = folder / "plain.safetensors"
    options = ["--task", "reconstruct", "--input", paths["frames"], "--model", paths["plain"]]
    assert main(["train", *map(str, options), *FAST_VAE]) == 0
    return paths


def train(*options):
    return main(["train", "--task", "vae", *map(str, options)])


def sample(*options):
    return main(["sample", *map(str, options)])


def test_train_vae_stores_a_conv_vae_with_the_recipe_latent(files):
    config = load_model(files["vae"]).config
    assert (config.training.task, config.model.architecture) == ("vae", "vae")
    assert (config.model.latent_dim, config.model.input_size) == (ModelConfig.latent_dim, 16)
    assert config.data.percentiles == (0.0, 100.0) and not config.data.augment


def test_vae_options_reach_the_config():
    argv = ["train", "--task", "vae", "--input", "x.npy", "--model", "m", "--dense"]
    argv += ["--latent-dim", "16", "--beta", "0.5", "--kl-warmup", "100"]
    argv += ["--reconstruction-loss", "mse"]
    config = config_from_args(build_parser().parse_args(argv), (100, 28, 28))
    assert (config.model.architecture, config.model.latent_dim) == ("vae-dense", 16)
    assert (config.training.beta, config.training.kl_warmup) == (0.5, 100)
    assert config.model.reconstruction_loss == "mse"
    assert config.data.percentiles == (1.0, 99.8)  # mse keeps the robust normalisation


def test_sample_writes_a_stack(files, tmp_path, capsys):
    output = tmp_path / "samples.tif"
    assert sample("--model", files["vae"], "--n", "5", "--seed", "2", "--output", output) == 0
    assert read_image(output).shape == (5, 16, 16)
    assert "wrote (5, 16, 16)" in capsys.readouterr().out


def test_sample_grid_writes_the_manifold_mosaic(files, tmp_path):
    output = tmp_path / "manifold.npy"
    options = ["--model", files["vae"], "--grid", "3", "--span", "2", "--output", output]
    assert sample(*options, "--quiet") == 0
    assert read_image(output).shape == (48, 48)




def test_a_plain_autoencoders_manifold_spans_the_codes_of_frames(files, tmp_path, run_error):
    output = tmp_path / "manifold.npy"
    options = ["--model", files["plain"], "--grid", "3", "--output", output]
    assert "give frames to encode" in run_error(["sample", *options])
    assert sample(*options, "--frames", files["frames"], "--quiet") == 0
    assert read_image(output).shape == (48, 48)
    argv = ["sample", "--model", files["vae"], "--frames", files["frames"], "--output", output]
    assert "--frames applies to the manifold only" in run_error(argv)


def test_a_plain_autoencoder_cannot_sample(files, tmp_path, capsys, run_error):
    argv = ["sample", "--model", files["plain"], "--output", tmp_path / "o.tif"]
    assert "not generative" in run_error(argv)


def test_vae_options_need_the_vae_task(files, tmp_path, capsys, run_error):
    argv = ["train", "--input", files["frames"], "--model", tmp_path / "m.safetensors", "--beta", "2"]
    assert "--beta applies to task vae only" in run_error(argv)


def test_span_needs_a_grid(files, tmp_path, capsys, run_error):
    argv = ["sample", "--model", files["vae"], "--span", "2", "--output", tmp_path / "o.tif"]
    assert "--grid" in run_error(argv)


def test_sample_draws_from_the_density_or_the_prior(files, tmp_path):
    outputs = {}
    for source in ("auto", "density", "prior"):
        outputs[source] = tmp_path / f"{source}.npy"
        options = ["--n", "4", "--source", source, "--output", outputs[source], "--quiet"]
        assert sample("--model", files["vae"], *options) == 0
    auto, density, prior = (read_image(outputs[s]) for s in ("auto", "density", "prior"))
    np.testing.assert_array_equal(auto, density)
    assert not np.allclose(density, prior)
