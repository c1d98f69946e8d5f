"""Tests for the command line, run in-process on tiny files."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_autoencoders.cli import build_parser, main
from napari_autoencoders.cli.train import config_from_args
from napari_autoencoders.core.io import images
from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.recipes import UNBOUNDED_EPOCHS
from napari_autoencoders.core.training import Trainer

# one epoch of two steps on 16x16 patches of a narrow network: a second or so
FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "16", "--batch-size", "2"]
FAST += ["--width", "8", "--device", "cpu"]
SRC = Path(__file__).resolve().parents[2] / "src"


def blobs(shape, seed=0):
    """A smooth clean image in [0, 1] with a few bright discs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[-2], : shape[-1]]
    image = np.zeros(shape[-2:], np.float32)
    for y, x in rng.uniform(0, shape[-2], (6, 2)):
        image += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 20.0)
    return np.broadcast_to(np.clip(image, 0, 1), shape).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Clean and noisy 48x48 images, a small stack and a trained YX model."""
    folder = tmp_path_factory.mktemp("cli")
    clean = blobs((48, 48))
    noisy = clean + np.random.default_rng(1).normal(0, 0.1, clean.shape).astype(np.float32)
    paths = {name: folder / f"{name}.npy" for name in ("clean", "noisy", "stack")}
    np.save(paths["clean"], clean)
    np.save(paths["noisy"], noisy)
    np.save(paths["stack"], np.stack([noisy, clean, noisy]))
    paths["model"] = folder / "model.safetensors"
    assert train("--input", paths["noisy"], "--model", paths["model"], "--quiet", *FAST) == 0
    return paths


def train(*options):
    """Run the ``train`` command in-process; return its exit status."""
    return main(["train", *map(str, options)])


def apply(*options):
    """Run the ``apply`` command in-process; return its exit status."""
    return main(["apply", *map(str, options)])




def test_train_self_supervised_writes_a_model(files, tmp_path, capsys):
    model_path = tmp_path / "denoiser.safetensors"
    options = ["--task", "denoise", "--mode", "self-supervised", "--seed", "3"]
    assert train(*options, "--input", files["noisy"], "--model", model_path, *FAST) == 0
    model = load_model(model_path)
    assert model.config.data.axes == "YX"
    assert model.config.training.mode == "self-supervised"
    assert model.config.training.seed == 3
    assert len(model.history) == 1
    out = capsys.readouterr().out
    assert "1 epoch(s)" in out
    assert f"kept epoch 1 (validation loss {model.history[0]['val_loss']:.4g})" in out
    assert str(model_path) in out


def test_apply_writes_the_same_shape(files, tmp_path, capsys):
    output = tmp_path / "denoised.tif"
    options = ["--output", output, "--tile", "32", "--overlap", "8", "--device", "cpu"]
    assert apply("--model", files["model"], "--input", files["noisy"], *options) == 0
    result = read_image(output)
    assert result.shape == (48, 48)
    assert result.dtype == np.float32
    assert np.isfinite(result).all()
    assert str(output) in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_apply_writes_npy_and_tiff_tile_by_tile(files, tmp_path, monkeypatch, suffix):
    def whole_array_write(*args):
        raise AssertionError("the output should be written tile by tile, not whole")

    monkeypatch.setattr(images, "_write", whole_array_write)
    output = tmp_path / f"denoised{suffix}"
    options = ["--output", output, "--tile", "32", "--overlap", "8", "--device", "cpu"]
    assert apply("--model", files["model"], "--input", files["stack"], *options) == 0
    expected = predict(load_model(files["model"]), np.load(files["stack"]), axes="SYX", tile=32, overlap=8)
    np.testing.assert_allclose(read_image(output), expected, atol=1e-6)


def test_apply_leaves_no_file_for_bad_input(files, tmp_path, capsys, run_error):
    output = tmp_path / "denoised.npy"
    run_error(["apply", "--model", str(files["model"]), "--input", str(files["stack"]),
                       "--axes", "YXC", "--output", str(output)])
    assert not output.exists()


def test_apply_a_single_image_model_to_a_stack(files, tmp_path):
    output = tmp_path / "denoised.npy"
    assert apply("--model", files["model"], "--input", files["stack"], "--output", output) == 0
    result = read_image(output)
    assert result.shape == (3, 48, 48)
    # the same plane gives the same result wherever it is in the stack
    np.testing.assert_allclose(result[0], result[2], atol=1e-5)


def test_apply_to_png_scales_with_a_warning(files, tmp_path, capsys):
    output = tmp_path / "denoised.png"
    assert apply("--model", files["model"], "--input", files["noisy"], "--output", output) == 0
    assert read_image(output).dtype == np.uint16
    said = capsys.readouterr()
    assert "napari-autoencoders: warning: PNG" in said.err
    assert f"image, min-max scaled for PNG, to {output}" in said.out


def test_train_synthetic_with_noise(files, tmp_path):
    model_path = tmp_path / "synthetic.safetensors"
    options = ["--mode", "synthetic", "--noise", "poisson:30+gaussian:0.02", "--quiet", *FAST]
    assert train("--input", files["clean"], "--model", model_path, *options) == 0
    assert load_model(model_path).config.training.noise == "poisson:30+gaussian:0.02"


def test_train_paired_with_target(files, tmp_path):
    model_path = tmp_path / "paired.safetensors"
    options = ["--mode", "paired", "--target", files["clean"], "--quiet", *FAST]
    assert train("--input", files["noisy"], "--model", model_path, *options) == 0
    assert load_model(model_path).config.training.mode == "paired"


def train_reconstruction(tmp_path, count, *options):
    """Train a 2D-latent autoencoder on ``count`` 16x16 frames; return the stack's path, frames, model path."""
    frames = np.stack([blobs((16, 16), seed) for seed in range(count)])
    stack, model_path = tmp_path / "frames.npy", tmp_path / "ae.safetensors"
    np.save(stack, frames)
    # no --patch-size: the 16x16 frames set it
    options = ["--task", "reconstruct", "--latent-dim", "2", "--epochs", "1", "--quiet", *options]
    options += ["--steps-per-epoch", "2", "--width", "8", "--device", "cpu"]
    assert train("--input", stack, "--model", model_path, *options) == 0
    return stack, frames, model_path


def test_reconstruct_a_stack_of_small_frames(tmp_path):
    stack, frames, model_path = train_reconstruction(tmp_path, 12, "--batch-size", "2")
    config = load_model(model_path).config
    assert (config.model.architecture, config.model.latent_dim) == ("autoencoder", 2)
    assert config.data.axes == "SYX"
    assert config.model.input_size == config.data.patch_size == 16
    output = tmp_path / "out.tif"
    assert apply("--model", model_path, "--input", stack, "--output", output, "--quiet") == 0
    assert read_image(output).shape == frames.shape


def test_neighbour_options_reach_the_config():
    args = parse_train("--task", "reconstruct", "--neighbour-weight", "0.5", "--neighbours", "7")
    config = config_from_args(args, (100, 28, 28))
    assert (config.training.neighbour_weight, config.training.neighbours) == (0.5, 7)
    assert not config.data.augment  # frames to embed: a turned 6 is a 9


def test_no_augment_turns_the_flips_and_turns_off():
    config = config_from_args(parse_train("--task", "reconstruct", "--no-augment"), (512, 512))
    assert not config.data.augment


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--neighbour-weight", "1"], "--neighbour-weight applies to tasks reconstruct and vae only"),
        (
            ["--task", "reconstruct", "--neighbour-weight", "0", "--neighbours", "5"],
            "give --neighbour-weight above 0 too",
        ),
    ],
)
def test_neighbour_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        config_from_args(parse_train(*options), (100, 28, 28))


def test_reconstruct_with_the_neighbour_term_from_the_command_line(tmp_path):
    options = ["--batch-size", "4", "--neighbour-weight", "1", "--neighbours", "3"]
    model_path = train_reconstruction(tmp_path, 24, *options)[2]
    assert load_model(model_path).config.training.neighbour_weight == 1.0


def parse_train(*options):
    return build_parser().parse_args(["train", "--input", "x.npy", "--model", "m", *options])


def test_config_from_args_keeps_defaults_and_sets_given_options():
    args = parse_train(
        *["--mode", "synthetic", "--noise", "poisson:30", "--patch-size", "32"],
        *["--batch-size", "4", "--depth", "3", "--width", "16", "--learning-rate", "0.01"],
        *["--steps-per-epoch", "7", "--epochs", "5", "--seed", "9"],
    )
    config = config_from_args(args, (100, 120))
    assert config.data.axes == "YX"
    assert (config.data.patch_size, config.data.batch_size) == (32, 4)
    assert (config.model.architecture, config.model.depth, config.model.width) == ("unet", 3, 16)
    training = config.training
    assert (training.task, training.mode, training.noise) == ("denoise", "synthetic", "poisson:30")
    assert (training.learning_rate, training.steps_per_epoch, training.epochs) == (0.01, 7, 5)
    assert (training.seed, training.time_budget, training.device) == (9, None, "auto")
    assert config.data.validation_fraction == 0.1  # not an option: the default stays


def test_config_for_mnist_frames_uses_the_frame_size():
    config = config_from_args(parse_train("--task", "reconstruct"), (5000, 28, 28))
    assert config.data.axes == "SYX"
    assert config.data.patch_size == config.model.input_size == 28
    assert config.model.architecture == "autoencoder"


def test_config_for_large_frames_keeps_the_default_patch():
    config = config_from_args(parse_train("--task", "reconstruct"), (10, 200, 300))
    assert config.data.patch_size == config.model.input_size == 64


def test_time_budget_lifts_the_epoch_cap():
    training = config_from_args(parse_train("--time-budget", "30"), (64, 64)).training
    assert training.time_budget == 30
    assert training.epochs == UNBOUNDED_EPOCHS


@pytest.mark.parametrize(
    ("shape", "axes"), [((64, 64), "YX"), ((64, 64, 3), "YXC"), ((2, 64, 64), "SYX")]
)
def test_axes_are_guessed_from_the_shape(shape, axes):
    assert config_from_args(parse_train(), shape).data.axes == axes


def test_epochs_and_time_budget_exclude_each_other(capsys):
    assert train("--input", "x.npy", "--model", "m", "--epochs", "2", "--time-budget", "5") == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_noise_strides_reach_the_config_or_are_left_to_the_measure():
    assert config_from_args(parse_train("--noise-strides", "3,3"), (200, 200)).data.noise_strides == (3, 3)
    assert config_from_args(parse_train("--noise-strides", "auto"), (200, 200)).data.noise_strides is None
    assert config_from_args(parse_train(), (200, 200)).data.noise_strides is None


def test_usage_errors_exit_with_2(capsys):
    assert train("--input", "x.npy") == 2
    assert "--model" in capsys.readouterr().err
    assert main([]) == 2


def nan_file(tmp_path):
    image = blobs((48, 48))
    image[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", image)
    return tmp_path / "nan.npy"


def corrupt_model(tmp_path):
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    return tmp_path / "corrupt.safetensors"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--input", "{tmp}/missing.npy", "--model", "{tmp}/m.safetensors"], "missing.npy"),
        (["train", "--input", "{nan}", "--model", "{tmp}/m.safetensors", *FAST], "NaN"),
        (["train", "--mode", "paired", "--input", "{noisy}", "--model", "{tmp}/m.safetensors"], "--target"),
        (
            ["train", "--mode", "synthetic", "--noise", "gauss:0.1", "--input", "{clean}"]
            + ["--model", "{tmp}/m.safetensors"],
            "gauss:0.1",
        ),
        (
            ["train", "--noise", "gaussian:0.1", "--input", "{clean}", "--model", "{tmp}/m.safetensors"],
            "task denoise with mode synthetic",
        ),
        (["train", "--target", "{clean}", "--input", "{noisy}", "--model", "{tmp}/m.safetensors"], "paired"),
        (
            ["train", "--latent-dim", "4", "--input", "{noisy}", "--model", "{tmp}/m.safetensors"],
            "reconstruct",
        ),
        (["train", "--axes", "SYX", "--input", "{noisy}", "--model", "{tmp}/m.safetensors"], "'SYX'"),
        (["train", "--input", "{noisy}", "--model", "{tmp}/no/folder/m.safetensors"], "does not exist"),
        (["train", "--input", "{noisy}", "--model", "{tmp}/m.safetensors", "--patch-size", "64"], "patch"),
        (
            ["train", "--input", "{noisy}", "--model", "{tmp}/m.safetensors", "--noise-strides", "2"],
            "noise strides must be 'auto' or two whole numbers Y,X",
        ),
        (
            ["train", "--input", "{noisy}", "--model", "{tmp}/m.safetensors", "--noise-strides", "1,3"]
            + ["--patch-size", "32"],
            "--noise-strides (1, 3) split the 48x48 planes into sets of 48x16 pixels, smaller than "
            "the 32-pixel training patches; give smaller strides or a smaller --patch-size",
        ),
        (
            ["train", "--input", "{noisy}", "--model", "{tmp}/m.safetensors", "--noise-strides", "1,6"],
            "--noise-strides must be two whole numbers (Y, X) from 1 to 5, got (1, 6)",
        ),
        (
            ["train", "--mode", "synthetic", "--input", "{clean}", "--model", "{tmp}/m.safetensors"]
            + ["--noise-strides", "2,2"],
            "--noise-strides applies to task denoise with mode self-supervised only",
        ),
        (
            ["apply", "--model", "{corrupt}", "--input", "{noisy}", "--output", "{tmp}/o.tif"],
            "corrupt.safetensors",
        ),
        (
            ["apply", "--model", "{model}", "--input", "{noisy}", "--output", "{tmp}/o.tif"]
            + ["--axes", "SYX"],
            "'SYX'",
        ),
        (
            ["apply", "--model", "{model}", "--input", "{noisy}", "--output", "{tmp}/o.jpg"],
            "supported formats",
        ),
        (["apply", "--model", "{model}", "--input", "{stack}", "--output", "{tmp}/o.png"], "PNG"),
    ],
)
def test_bad_input_gives_one_error_line_and_status_2(
    files, tmp_path, capsys, argv, message, run_error
):
    names = {name: str(path) for name, path in files.items()}
    names.update(tmp=str(tmp_path), nan=str(nan_file(tmp_path)))
    names.update(corrupt=str(corrupt_model(tmp_path)))
    line = run_error([arg.format(**names) for arg in argv])
    assert message in line
    assert not (tmp_path / "m.safetensors").exists()
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.slow
def test_time_budget_stops_by_itself(files, tmp_path):
    model_path = tmp_path / "budget.safetensors"
    start = time.perf_counter()
    options = ["--time-budget", "1", "--patch-size", "16", "--batch-size", "2", "--width", "8"]
    options += ["--device", "cpu", "--quiet"]
    assert train("--input", files["noisy"], "--model", model_path, *options) == 0
    assert time.perf_counter() - start < 20
    history = load_model(model_path).history
    assert history
    assert history[-1]["elapsed"] < 10


def test_ctrl_c_saves_the_best_model_so_far(files, tmp_path, monkeypatch, capsys):
    run = Trainer.run

    def interrupted_after_first_epoch(trainer):
        for event in run(trainer):
            yield event
            if event.val_loss is not None:
                raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupted_after_first_epoch)
    model_path = tmp_path / "interrupted.safetensors"
    options = [*FAST[2:], "--epochs", "50"]  # FAST with more epochs
    assert train("--input", files["noisy"], "--model", model_path, *options) == 0
    assert len(load_model(model_path).history) == 1
    out = capsys.readouterr().out
    assert "interrupted" in out
    assert str(model_path) in out


@pytest.mark.slow
def test_module_entry_point_prints_help():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "napari_autoencoders", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0
    assert "train" in result.stdout
    assert "apply" in result.stdout


def test_a_result_no_better_than_its_input_is_a_warning(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Trainer, "warning", lambda self: "the best validation loss is not below")
    model = tmp_path / "flagged.safetensors"
    assert train("--input", files["noisy"], "--model", model, *FAST) == 0
    assert "napari-autoencoders: warning: the best validation loss" in capsys.readouterr().err
