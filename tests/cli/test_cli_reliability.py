"""The command line's part of the reliability matrix (issue 15): nothing lost, one clear line.

Each test is one row or a few rows of the matrix of cases a hostile or
careless user tried (row numbers in the comments): outputs that are inputs,
usage errors over an existing result, signals, a full disk, bad model paths,
wrong extensions, a colour image read as a stack. Tiny data throughout; the
signals are sent to the process itself (in-process runs) or to a real CLI
subprocess (marked slow).

(Not named ``test_reliability.py``: tests/core has a module of that name, and
test modules without packages must have unique names.)
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_autoencoders.cli import apply as apply_command
from napari_autoencoders.cli import main
from napari_autoencoders.core.inference.prediction import iter_predict
from napari_autoencoders.core.io.images import write_image
from napari_autoencoders.core.io.model_files import load_model
from napari_autoencoders.core.training import Trainer

SRC = Path(__file__).resolve().parents[2] / "src"
TINY = ["--patch-size", "16", "--batch-size", "2", "--width", "8", "--device", "cpu", "--quiet"]
# one epoch of two steps: a second or so
FAST = ["--epochs", "1", "--steps-per-epoch", "2", *TINY]
VAE = ["--task", "vae", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2"]
VAE += ["--width", "4", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 48x48 image (.npy and .tif), an RGB image, a 16x16 stack and trained models."""
    folder = tmp_path_factory.mktemp("cli_reliability")
    rng = np.random.default_rng(0)
    image = rng.random((48, 48)).astype(np.float32)
    paths = {name: folder / name for name in ("image.npy", "image.tif", "rgb.tif", "frames.npy")}
    np.save(paths["image.npy"], image)
    tifffile.imwrite(paths["image.tif"], image)
    tifffile.imwrite(
        paths["rgb.tif"], rng.random((48, 48, 3)).astype(np.float32), photometric="rgb"
    )
    np.save(paths["frames.npy"], rng.random((12, 16, 16)).astype(np.float32))
    paths["model"] = folder / "model.safetensors"
    assert run("train", "--input", paths["image.npy"], "--model", paths["model"], *FAST) == 0
    paths["vae"] = folder / "vae.safetensors"
    assert run("train", "--input", paths["frames.npy"], "--model", paths["vae"], *VAE) == 0
    return paths


@pytest.fixture(autouse=True)
def ctrl_c():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, even where pytest runs in the background.

    A shell starts background jobs with SIGINT ignored; the commands leave it
    so, and so would the subprocesses, which inherit an ignored signal.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def run(*argv) -> int:
    """Run the command line in-process; return its exit status."""
    return main([str(arg) for arg in argv])


def one_line(capsys, status: int, *argv) -> str:
    """Run ``argv``; check the exit ``status`` and a single line on stderr; return it."""
    capsys.readouterr()
    assert run(*argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("napari-autoencoders: ")
    return lines[0]


def previous_result(folder: Path, name: str = "previous.tif") -> tuple[Path, bytes]:
    """A result already at ``folder / name``, and its bytes."""
    path = write_image(folder / name, np.full((48, 48), 7, np.uint16))
    return path, path.read_bytes()


def unchanged(folder: Path, path: Path, content: bytes) -> bool:
    """Whether ``path`` holds ``content`` and ``folder`` holds no temporary file beside it."""
    return path.read_bytes() == content and sorted(folder.iterdir()) == [path]


# --- outputs that are inputs (rows 101, 161-163, 224, 225) ---------------------------


@pytest.mark.parametrize("name", ["image.npy", "image.tif", "model"])
def test_apply_refuses_an_output_that_is_an_input(files, capsys, name):
    source = files["image.npy" if name == "model" else name]
    before = files[name].read_bytes()
    line = one_line(
        capsys, 2, "apply", "--model", files["model"], "--input", source, "--output", files[name]
    )
    assert "would destroy the input" in line
    assert files[name].read_bytes() == before


def test_apply_refuses_an_output_that_is_the_input_under_another_name(files, tmp_path, capsys):
    alias = tmp_path / "alias.npy"
    alias.symlink_to(files["image.npy"])
    before = files["image.npy"].read_bytes()
    line = one_line(
        capsys, 2, "apply", "--model", files["model"], "--input", files["image.npy"],
        "--output", alias,
    )  # fmt: skip
    assert "choose another output path" in line
    assert files["image.npy"].read_bytes() == before


@pytest.mark.parametrize("role", ["--input", "--target"])
def test_train_refuses_a_model_path_that_is_an_input(files, tmp_path, capsys, role):
    image = tmp_path / "image.safetensors"  # an image can have any name for a careless user
    image.write_bytes(files["image.npy"].read_bytes())
    inputs = ["--input", image] if role == "--input" else ["--input", files["image.npy"]]
    if role == "--target":
        inputs += ["--mode", "paired", "--target", image]
    line = one_line(capsys, 2, "train", *inputs, "--model", image, *FAST)
    assert "would destroy the input" in line
    assert image.read_bytes() == files["image.npy"].read_bytes()


@pytest.mark.parametrize("name", ["image.npy", "model", "labels"])
def test_encode_refuses_an_output_that_is_an_input(files, tmp_path, capsys, name):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.ones((48, 48), np.int32))
    victim = labels if name == "labels" else files[name]
    before = victim.read_bytes()
    line = one_line(
        capsys, 2, "encode", "--model", files["model"], "--input", files["image.npy"],
        "--labels", labels, "--output", victim,
    )  # fmt: skip
    assert "would destroy the input" in line
    assert victim.read_bytes() == before


def test_sample_refuses_an_output_that_is_the_model(files, capsys):
    before = files["vae"].read_bytes()
    line = one_line(capsys, 2, "sample", "--model", files["vae"], "--output", files["vae"])
    assert "would destroy the input" in line
    assert files["vae"].read_bytes() == before


# --- apply: usage errors leave an existing result as it was (rows 138-152, 131) ------

APPLY_ERRORS = [
    (["--tile", "0"], "tile must be positive"),  # 138
    (["--tile", "-8"], "got -8"),  # 139
    (["--tile", "1"], "overlap"),  # 140
    (["--tile", "64", "--overlap", "64"], "overlap < tile"),  # 145, 149
    (["--tile", "32", "--overlap", "40"], "overlap < tile"),  # 146
    (["--overlap", "-1"], "overlap"),  # 147
    (["--batch-size", "0"], "batch_size"),  # 148, 150
    (["--device", "bogus"], "--device 'bogus'"),  # 151
    (["--device", "cuda:99"], "--device 'cuda:99'"),  # 152
    (["--axes", "YXC"], "'YXC'"),  # the image does not fit the axes
]


@pytest.mark.parametrize(("options", "message"), APPLY_ERRORS)
def test_apply_usage_errors_keep_the_previous_result(files, tmp_path, capsys, options, message):
    output, before = previous_result(tmp_path)
    line = one_line(
        capsys, 2, "apply", "--model", files["model"], "--input", files["image.npy"],
        "--output", output, *options,
    )  # fmt: skip
    assert message in line
    assert unchanged(tmp_path, output, before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["apply", "train", "encode"])
def test_cuda_without_cuda_is_one_line(files, tmp_path, capsys, command):  # rows 96, 152
    paths = ["--input", files["image.npy"], "--model"]
    paths += [files["model"], "--output", tmp_path / "out.csv"] if command == "encode" else []
    paths += [files["model"], "--output", tmp_path / "out.tif"] if command == "apply" else []
    paths += [tmp_path / "m.safetensors"] if command == "train" else []
    line = one_line(capsys, 2, command, *paths, "--device", "cuda")
    assert "use --device cpu" in line
    assert list(tmp_path.iterdir()) == []


def test_a_grey_model_on_an_rgb_file_asks_for_the_axes(files, tmp_path, capsys):  # row 131
    output, before = previous_result(tmp_path)
    line = one_line(
        capsys, 2, "apply", "--model", files["model"], "--input", files["rgb.tif"],
        "--output", output,
    )  # fmt: skip
    assert "give --axes YXC" in line
    assert "48 planes of 48x3 pixels" in line
    assert unchanged(tmp_path, output, before)


def test_a_grey_model_on_an_rgb_file_says_what_the_model_takes(files, tmp_path, capsys):  # 132
    line = one_line(
        capsys, 2, "apply", "--model", files["model"], "--input", files["rgb.tif"],
        "--output", tmp_path / "out.tif", "--axes", "YXC",
    )  # fmt: skip
    assert "1-channel" in line


def test_an_exception_during_apply_keeps_the_previous_result(files, tmp_path, monkeypatch):
    def failing_after_one_tile(*args, **kwargs):
        steps = iter_predict(*args, **kwargs)
        yield next(steps)
        raise RuntimeError("a failure half way")

    monkeypatch.setattr(apply_command, "iter_predict", failing_after_one_tile)
    output, before = previous_result(tmp_path)
    with pytest.raises(RuntimeError, match="half way"):
        run("apply", "--model", files["model"], "--input", files["image.npy"], "--output", output,
            "--tile", "16", "--overlap", "4", "--quiet")  # fmt: skip
    assert unchanged(tmp_path, output, before)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("name", ["previous.tif", "previous.npy", "previous.png"])
def test_a_signal_during_apply_keeps_the_previous_result(
    files, tmp_path, monkeypatch, capsys, signum, status, name
):  # rows 344-346
    def signalled_after_one_tile(*args, **kwargs):
        steps = iter_predict(*args, **kwargs)
        yield next(steps)
        os.kill(os.getpid(), signum)
        return (yield from steps)

    monkeypatch.setattr(apply_command, "iter_predict", signalled_after_one_tile)
    output, before = previous_result(tmp_path, name)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    line = one_line(
        capsys, status, "apply", "--model", files["model"], "--input", files["image.npy"],
        "--output", output, "--tile", "16", "--overlap", "4", "--quiet",
    )  # fmt: skip
    assert "interrupted by" in line
    assert "as they were" in line
    assert unchanged(tmp_path, output, before)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


@pytest.mark.parametrize("name", ["result.npy", "result.tif"])
def test_a_full_disk_during_apply_fails_cleanly(files, tmp_path, small_disk, capsys, name):
    # rows 341, 342: a 1 MiB disk, a 2.3 MiB result
    large = tmp_path / "large.npy"
    np.save(large, np.random.default_rng(0).random((780, 780)).astype(np.float32))
    output, before = previous_result(small_disk, name)
    line = one_line(
        capsys, 2, "apply", "--model", files["model"], "--input", large, "--output", output,
    )  # fmt: skip
    assert "no room on the disk" in line
    assert unchanged(small_disk, output, before)


# --- train: the model path, checked before training (rows 97-99, 103) -----------------


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a training starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("a training started before the model path was checked")

    monkeypatch.setattr(Trainer, "__init__", refuse)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("folder.safetensors", "is a folder; give a file name"),  # 98
        ("missing/m.safetensors", "does not exist; create it first"),  # 97
        ("model.tif", "must end in .safetensors; use e.g."),  # 103
        ("model", "must end in .safetensors"),
    ],
)
def test_a_bad_model_path_is_refused_before_training(
    files, tmp_path, capsys, no_training, model, message
):
    (tmp_path / "folder.safetensors").mkdir()
    line = one_line(capsys, 2, "train", "--input", files["image.npy"], "--model", tmp_path / model)
    assert message in line


def test_a_read_only_model_folder_is_refused_before_training(
    files, read_only_folder, capsys, no_training
):  # row 99
    model = read_only_folder / "m.safetensors"
    line = one_line(capsys, 2, "train", "--input", files["image.npy"], "--model", model)
    assert "choose a folder you can write to" in line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seed", "-1"], "--seed must be an integer from 0"),  # 93
        (["--seed", str(10**23)], "--seed must be an integer from 0"),  # 94
        (["--time-budget", "nan"], "--time-budget must be a positive, finite number"),  # 62
        (["--time-budget", "inf"], "--time-budget must be a positive, finite number"),  # 63
        (["--device", "bogus"], "--device 'bogus'"),  # 95
    ],
)
def test_bad_training_options_are_one_line(files, tmp_path, capsys, no_training, options, message):
    model = tmp_path / "m.safetensors"
    line = one_line(capsys, 2, "train", "--input", files["image.npy"], "--model", model, *options)
    assert message in line


def test_the_time_budget_help_says_it_is_not_reproducible(capsys):  # row 353
    assert run("train", "--help") == 0
    assert "not reproducible with --seed" in " ".join(capsys.readouterr().out.split())


# --- train: only validated models replace a file (rows 64, 80-86, 334-338) ----------


@pytest.fixture
def old_model(files, tmp_path):
    """A model file already at the training's destination, and its bytes."""
    path = tmp_path / "m.safetensors"
    path.write_bytes(files["model"].read_bytes())
    return path, path.read_bytes()


def signalling(signums, *, after_step):
    """A ``Trainer.run`` that sends ``signums`` to this process after step ``after_step``."""
    run_ = Trainer.run

    def run_signalled(trainer):
        if after_step == 0:
            for signum in signums:
                os.kill(os.getpid(), signum)
        for event in run_(trainer):
            yield event
            if event.step == after_step and event.val_loss is None:
                for signum in signums:
                    os.kill(os.getpid(), signum)

    return run_signalled


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_training_and_saves_it_validated(
    files, old_model, monkeypatch, capsys, signum
):  # rows 334, 335, 338
    monkeypatch.setattr(Trainer, "run", signalling([signum], after_step=1))
    path, _ = old_model
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    options = ["--epochs", "5", "--steps-per-epoch", "4", *TINY[:-1]]
    assert run("train", "--input", files["image.npy"], "--model", path, *options) == 0
    history = load_model(path).history
    assert [entry["step"] for entry in history] == [1]  # stopped, then validated
    assert np.isfinite(history[0]["val_loss"])
    out = capsys.readouterr().out
    assert "stopped the training and kept the best validated model so far" in out
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


@pytest.mark.parametrize(
    ("signums", "after_step", "status"),
    [
        ([signal.SIGINT], 0, 130),  # before the first step
        ([signal.SIGTERM], 0, 143),
        ([signal.SIGINT, signal.SIGINT], 1, 130),  # twice: stop at once, nothing validated
        ([signal.SIGTERM, signal.SIGTERM], 1, 143),
    ],
)
def test_a_signal_before_any_validation_keeps_the_old_model(
    files, old_model, monkeypatch, capsys, signums, after_step, status
):  # row 335
    monkeypatch.setattr(Trainer, "run", signalling(signums, after_step=after_step))
    path, before = old_model
    options = ["--epochs", "5", "--steps-per-epoch", "4", *TINY]
    line = one_line(
        capsys, status, "train", "--input", files["image.npy"], "--model", path, *options
    )
    assert "before the first validation: no model saved" in line
    assert f"{str(path)!r} is left as it was" in line
    assert path.read_bytes() == before


def diverging(after_step):
    """A ``Trainer.run`` whose loss becomes NaN after step ``after_step``."""
    run_ = Trainer.run

    def run_diverging(trainer):
        for event in run_(trainer):
            yield event
            if event.step == after_step and event.val_loss is not None:
                raise FloatingPointError(
                    f"the training loss became nan at step {after_step + 1}: the training "
                    "diverged. Lower the learning rate; the best weights so far are kept."
                )

    return run_diverging


def test_a_diverged_training_saves_its_best_validated_model(files, old_model, monkeypatch, capsys):
    monkeypatch.setattr(Trainer, "run", diverging(after_step=2))
    path, _ = old_model
    options = ["--epochs", "5", "--steps-per-epoch", "2", *TINY]
    line = one_line(capsys, 2, "train", "--input", files["image.npy"], "--model", path, *options)
    assert "diverged" in line
    assert "Saved the best validated model (epoch 1" in line
    assert len(load_model(path).history) == 1


def test_a_training_diverged_before_validation_keeps_the_old_model(
    files, old_model, monkeypatch, capsys
):
    path, before = old_model
    options = ["--learning-rate", "1e30", "--epochs", "1", "--steps-per-epoch", "50", *TINY]
    line = one_line(capsys, 2, "train", "--input", files["image.npy"], "--model", path, *options)
    assert "loss became" in line
    assert "none were validated, so none were saved" in line
    assert f"{str(path)!r} is left as it was" in line
    assert path.read_bytes() == before


def test_a_time_budget_spent_before_the_first_step_keeps_the_old_model(
    files, old_model, capsys
):  # row 64
    path, before = old_model
    options = ["--time-budget", "1e-9", *TINY]
    line = one_line(capsys, 2, "train", "--input", files["image.npy"], "--model", path, *options)
    assert "give a longer --time-budget" in line
    assert path.read_bytes() == before


@pytest.mark.parametrize("size", ["-5", "0", "inf", "nan"])
@pytest.mark.parametrize("command", ["train", "encode"])
def test_a_cache_size_that_is_not_a_positive_number_is_one_line(files, tmp_path, capsys, size, command):
    if command == "train":
        argv = ["train", "--input", files["image.npy"], "--model", tmp_path / "m.safetensors", *FAST]
    else:
        argv = ["encode", "--model", files["vae"], "--input", files["frames.npy"],
                "--output", tmp_path / "codes.csv"]  # fmt: skip
    line = one_line(capsys, 2, *argv, "--cache-mb", size)
    assert "the cache size must be a positive number of megabytes" in line
    assert list(tmp_path.iterdir()) == []


# --- encode and sample -------------------------------------------------------------


def test_encode_refuses_a_table_in_a_missing_folder_before_encoding(files, tmp_path, capsys):
    output = tmp_path / "missing" / "codes.csv"
    line = one_line(capsys, 2, "encode", "--model", files["vae"], "--input", files["frames.npy"],
                    "--output", output)  # fmt: skip
    assert f"the folder of {str(output)!r} does not exist; create it first" in line


def test_encode_refuses_a_table_named_as_an_image(files, tmp_path, capsys):  # row 226
    line = one_line(
        capsys, 2, "encode", "--model", files["vae"], "--input", files["frames.npy"],
        "--output", tmp_path / "table.tif",
    )  # fmt: skip
    assert "must end in .csv; use e.g." in line
    assert list(tmp_path.iterdir()) == []


def test_encode_asks_for_the_axes_of_a_two_channel_image(files, tmp_path, capsys):  # row 52
    image = tmp_path / "two_channels.npy"
    np.save(image, np.random.default_rng(0).random((16, 16, 2)).astype(np.float32))
    line = one_line(
        capsys, 2, "encode", "--model", files["vae"], "--input", image,
        "--output", tmp_path / "table.csv",
    )  # fmt: skip
    assert "give --axes YXC" in line
    assert not (tmp_path / "table.csv").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--n", "100000000"], "GiB"),  # 177, 178
        (["--grid", "100000"], "GiB"),  # 185
        (["--temperature", "nan"], "temperature"),  # 180
        (["--grid", "3", "--span", "nan"], "span"),  # 188
    ],
)
def test_sample_refusals_are_one_line(files, tmp_path, capsys, options, message):
    output = tmp_path / "samples.tif"
    line = one_line(capsys, 2, "sample", "--model", files["vae"], "--output", output, *options)
    assert message in line
    assert not output.exists()


# --- signals sent to a real command-line process (rows 334, 338, 344-346) -----------


def start(argv, folder: Path) -> tuple[subprocess.Popen, Path]:
    """Start the command line in a subprocess; return it and the file its stderr goes to."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    err = folder / "stderr.txt"
    process = subprocess.Popen(
        [sys.executable, "-m", "napari_autoencoders", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=err.open("w"),
        text=True,
        env=env,
    )  # SIGINT is handled here (ctrl_c), so not ignored there: it raises KeyboardInterrupt
    return process, err


def wait_for(process: subprocess.Popen, err: Path, text: str, timeout: float = 120) -> None:
    """Wait until ``text`` appears on the process's stderr."""
    deadline = time.monotonic() + timeout
    while text not in err.read_text():
        assert process.poll() is None, err.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {err.read_text()}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_a_training_process_saves_a_validated_model(files, tmp_path, signum):
    model = tmp_path / "m.safetensors"
    model.write_bytes(files["model"].read_bytes())
    argv = ["train", "--input", files["image.npy"], "--model", model, "--time-budget", "300"]
    argv += ["--steps-per-epoch", "100000", *TINY[:-1]]  # no validation before the signal
    process, err = start(argv, tmp_path)
    wait_for(process, err, "step=")  # the progress bar: training has started
    process.send_signal(signum)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, err.read_text()
    assert f"interrupted by {'SIGTERM' if signum == signal.SIGTERM else 'Ctrl-C'}" in out
    assert "Traceback" not in err.read_text()
    history = load_model(model).history
    assert len(history) == 1  # the partial epoch, validated
    assert history[0]["step"] < 100000


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_an_apply_process_keeps_the_previous_result(files, tmp_path, signum, status):
    large = tmp_path / "large.npy"
    np.save(large, np.random.default_rng(0).random((1024, 1024)).astype(np.float32))
    results = tmp_path / "results"
    results.mkdir()
    output, before = previous_result(results, "previous.npy")
    argv = ["apply", "--model", files["model"], "--input", large, "--output", output]
    argv += ["--tile", "16", "--overlap", "4", "--device", "cpu"]
    process, err = start(argv, tmp_path)
    wait_for(process, err, "tile/s")  # the progress bar: tiles are being written
    process.send_signal(signum)
    process.communicate(timeout=120)
    assert process.returncode == status, err.read_text()
    last = err.read_text().strip().splitlines()[-1]
    assert last.startswith("napari-autoencoders: interrupted by"), last
    assert "Traceback" not in err.read_text()
    assert unchanged(results, output, before)
