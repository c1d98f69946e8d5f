"""Speed: training and prediction throughput, each against a reference timed in the same run.

* Training: samples per second of our :class:`Trainer` (sampling, masking or
  noise, validation and progress events included) against a bare PyTorch loop
  over the same network, batches and optimiser, its batches already in memory;
  the achieved GFLOP/s of a training step against a float32 matmul; and, in
  full runs, the bare loop under ``torch.compile`` against the eager one
  (compiling takes minutes on a small CPU, so the Trainer does not use it).
* Prediction: megapixels per second of tiled prediction at several sizes (the
  largest a memory-mapped ``.npy`` written tile by tile) against one untiled
  forward pass; and the peak memory of ``napari-autoencoders apply`` on the
  largest image.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import median_times, ratio

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from flops import count_flops
from napari_autoencoders.core.io.model_files import save_model
from napari_autoencoders.core.nn.models import build_model
from napari_autoencoders.core.data.noise import add_noise
from phantoms import fluorescence_phantom
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.training import Trainer

NOISE = "gaussian:0.1"
MODES = ("self-supervised", "synthetic", "paired")


def sizes(quick: bool) -> dict:
    """Problem sizes: the default network and batch, or tiny ones for the smoke test."""
    if quick:
        return dict(image=64, patch=16, batch=4, width=8, steps=3, repeats=1,
                    predict=(64, 128, 256), untiled=128, matmul=256)
    return dict(image=512, patch=DataConfig.patch_size, batch=DataConfig.batch_size,
                width=ModelConfig.width, steps=TrainingConfig.steps_per_epoch, repeats=3,
                predict=(512, 2048, 8192), untiled=2048, matmul=2048)


def drain(generator) -> object:
    """Run a generator to its end; return its return value."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def make_trainer(mode: str, size: dict) -> Trainer:
    """A one-epoch trainer of the default network shape on a noisy phantom."""
    clean = fluorescence_phantom((size["image"],) * 2, seed=0)
    noisy = add_noise(clean, NOISE, seed=1)
    config = Config(
        model=ModelConfig(width=size["width"]),
        data=DataConfig(patch_size=size["patch"], batch_size=size["batch"]),
        training=TrainingConfig(mode=mode, noise=NOISE, epochs=1, steps_per_epoch=size["steps"],
                                device="cpu"),
    )
    trainer = Trainer(config, clean) if mode == "synthetic" else Trainer(
        config, noisy, clean if mode == "paired" else None
    )
    trainer.prepare()  # the bare loop borrows its sampler
    return trainer


def bare_loop(trainer: Trainer, network: torch.nn.Module):
    """A plain PyTorch loop over ``trainer``'s batches, drawn beforehand and kept in memory."""
    steps = trainer.config.training.steps_per_epoch
    batches = [trainer.sampler.sample() for _ in range(steps)]
    training = trainer.config.training
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay
    )

    def run() -> None:
        network.train()
        for x, y in batches:
            loss = torch.nn.functional.mse_loss(network(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()

    return run


def fresh_network(trainer: Trainer) -> torch.nn.Module:
    return build_model(trainer.config.model).to(memory_format=torch.channels_last)


def training_table(size: dict) -> dict:
    """Our training loop against a bare loop, for each denoising mode."""
    rows = []
    for mode in MODES:
        trainer = make_trainer(mode, size)
        ours, bare = median_times(
            lambda: drain(trainer.run()),
            bare_loop(trainer, fresh_network(trainer)),
            repeats=size["repeats"],
        )
        samples = size["steps"] * size["batch"]
        rows.append([mode, f"{samples / ours:.1f}", f"{samples / bare:.1f}", ratio(bare, ours)])
    return {
        "title": "Training throughput: our loop against a bare PyTorch loop",
        "note": f"UNet width {size['width']}, batches of {size['batch']} patches of "
        f"{size['patch']}x{size['patch']}, AdamW, {size['steps']} steps per run (ours "
        f"includes sampling, masking or noise, progress events and one validation), "
        f"median of {size['repeats']} interleaved runs; target ratio >= 0.9.",
        "header": ["mode", "ours (samples/s)", "bare loop (samples/s)", "ratio"],
        "rows": rows,
    }


def compile_table(size: dict) -> dict:
    """The bare loop with ``torch.compile`` against the eager bare loop."""
    trainer = make_trainer("paired", size)
    eager = bare_loop(trainer, fresh_network(trainer))
    compiled = bare_loop(trainer, torch.compile(fresh_network(trainer)))
    eager_s, compiled_s = median_times(eager, compiled, repeats=size["repeats"])
    samples = size["steps"] * size["batch"]
    return {
        "title": "torch.compile on the training step (CPU)",
        "note": "Bare training loop, compiled against eager, compilation excluded (warm-up run).",
        "header": ["loop", "samples/s", "ratio to eager"],
        "rows": [
            ["eager", f"{samples / eager_s:.1f}", "1.00"],
            ["torch.compile", f"{samples / compiled_s:.1f}", ratio(eager_s, compiled_s)],
        ],
    }


def flops_table(size: dict) -> dict:
    """Achieved GFLOP/s of a training step against a float32 matmul."""
    trainer = make_trainer("paired", size)
    network = fresh_network(trainer)
    step = bare_loop(trainer, network)
    shape = (size["batch"], 1, size["patch"], size["patch"])
    step_flops = 3 * count_flops(network, shape) * size["steps"]  # forward + 2x backward
    n = size["matmul"]
    a, b = torch.randn(n, n), torch.randn(n, n)
    step_s, matmul_s = median_times(step, lambda: a @ b, repeats=size["repeats"])
    step_rate, matmul_rate = step_flops / step_s / 1e9, 2 * n**3 / matmul_s / 1e9
    return {
        "title": "Achieved GFLOP/s of a training step",
        "note": "Convolution and linear FLOPs counted with forward hooks; a training step is "
        f"taken as 3x the forward pass; reference: a float32 {n}x{n} matmul. The matmul is "
        "MKL's and the convolutions oneDNN's: on a CPU where MKL does not use all of the "
        "vector units (AVX-512 on AMD), the training step can beat the matmul.",
        "header": ["work", "GFLOP/s", "ratio to matmul"],
        "rows": [
            ["training step (bare loop)", f"{step_rate:.1f}", ratio(step_rate, matmul_rate)],
            [f"matmul {n}x{n} float32", f"{matmul_rate:.1f}", "1.00"],
        ],
    }


def write_large_image(path: Path, side: int, rows: int = 512) -> np.ndarray:
    """Write a (side, side) float32 ``.npy`` band by band; return it memory-mapped read-only."""
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(side, side))
    rng = np.random.default_rng(0)
    for top in range(0, side, rows):
        stored[top : top + rows] = rng.random((min(rows, side - top), side), np.float32)
    stored.flush()
    del stored
    return np.load(path, mmap_mode="r")


def prediction_table(size: dict, folder: Path) -> dict:
    """Tiled prediction at each size against one untiled forward pass."""
    model = make_trainer("paired", size).result()
    network = model.network.to(memory_format=torch.channels_last)
    side = size["untiled"]
    whole = torch.rand(1, 1, side, side).contiguous(memory_format=torch.channels_last)

    def untiled() -> None:
        with torch.inference_mode():
            network(whole)

    rows = []
    for n in size["predict"]:
        largest = n == max(size["predict"])
        if largest:
            image = write_large_image(folder / "input.npy", n)
            out = np.lib.format.open_memmap(folder / "output.npy", mode="w+", dtype=np.float32,
                                            shape=(n, n))
        else:
            image, out = np.random.default_rng(0).random((n, n), np.float32), None
        ours, reference = median_times(
            lambda: predict(model, image, device="cpu", out=out),
            untiled,
            repeats=size["repeats"],
        )
        ours_rate, reference_rate = n * n / ours / 1e6, side * side / reference / 1e6
        kind = "memory-mapped .npy, written tile by tile" if largest else "in memory"
        rows.append([f"{n}x{n}", kind, f"{ours_rate:.2f}", f"{reference_rate:.2f}",
                     ratio(ours_rate, reference_rate)])
    return {
        "title": "Prediction throughput: tiled against untiled",
        "note": f"UNet width {size['width']}, default tiles and overlap; reference: one untiled "
        f"forward pass over {side}x{side}; median of {size['repeats']} interleaved runs; target "
        "ratio >= 0.8.",
        "header": ["image", "storage", "tiled (Mpx/s)", "untiled (Mpx/s)", "ratio"],
        "rows": rows,
        "model": model,
    }


def peak_rss_mb(argv: list[str]) -> tuple[float, int]:
    """Peak resident memory (MB) of a command, and its exit status.

    A fresh Python process runs the command and reports the largest
    resident set among its children, so no earlier process counts.
    """
    probe = (
        "import resource, subprocess, sys; "
        "code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
    )
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                            check=True)
    kilobytes, code = result.stdout.split()[-2:]
    return int(kilobytes) / 1024, int(code)


def apply_memory_table(size: dict, folder: Path, model) -> dict:
    """Peak memory of ``napari-autoencoders apply`` on the largest image."""
    n = max(size["predict"])
    model_path = save_model(model, folder / "model.safetensors")
    rows = []
    for suffix in (".npy", ".tif"):
        output = folder / f"applied{suffix}"
        argv = [sys.executable, "-m", "napari_autoencoders", "apply", "--model", str(model_path),
                "--input", str(folder / "input.npy"), "--output", str(output), "--quiet",
                "--device", "cpu"]
        megabytes, code = peak_rss_mb(argv)
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} failed with status {code}")
        rows.append([f"{n}x{n} float32 .npy", suffix, f"{n * n * 4 / 2**20:.0f}", f"{megabytes:.0f}"])
    return {
        "title": "Peak memory of napari-autoencoders apply",
        "note": "The input is read memory-mapped and the output written tile by tile; peak "
        "resident memory of the whole command (Python, torch and the mapped files included); "
        "target under 2048 MB.",
        "header": ["input", "output", "image size (MB)", "peak resident memory (MB)"],
        "rows": rows,
    }


def run(quick: bool = False) -> list[dict]:
    """Return the speed tables (``quick``: tiny sizes for the smoke test)."""
    size = sizes(quick)
    tables = [training_table(size), flops_table(size)]
    if not quick:  # compiling takes minutes on a small CPU
        tables.append(compile_table(size))
    with tempfile.TemporaryDirectory() as folder:
        prediction = prediction_table(size, Path(folder))
        model = prediction.pop("model")
        tables += [prediction, apply_memory_table(size, Path(folder), model)]
    return tables
