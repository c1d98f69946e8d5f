"""Cluster: a large zarr image predicted here and on local dask workers, and training within a cache.

* Prediction: seconds and megapixels per second of the local tiled path
  (one process, all cores) and of 1 and 2 local worker processes (one thread
  each) on the same zarr image, written to zarr; the largest difference from
  the local result; and the peak resident memory of each worker, measured in
  the worker, on the large image and on one a sixteenth its size.
* Training: the peak resident memory of ``napari-autoencoders train`` on a zarr
  stack four times larger than its cache (``--cache-mb``), against the same
  stack read into memory and a tiny image (the floor of Python and torch).

Full mode uses a 16384² image (1 GiB of float32) and a small network (depth
1, width 4), sized to run in about five minutes on two cores; quick mode a
512² image.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from speed import drain, peak_rss_mb

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.inference.distributed import (
    cluster_client,
    iter_store,
    lazy_prediction,
)
from napari_autoencoders.core.inference.prediction import iter_predict
from napari_autoencoders.core.io.model_files import load_model, save_model
from napari_autoencoders.core.io.zarr_store import atomic_zarr, read_zarr
from napari_autoencoders.core.training import fit


def sizes(quick: bool) -> dict:
    """Problem sizes: the issue's 16384² image, or tiny ones for the smoke test."""
    if quick:
        return dict(image=256, small=None, chunk=128, tile=64, overlap=16, depth=1, width=4,
                    cache_mb=1, planes=16, plane=256, train_chunk=128, patch=32, steps=3)
    return dict(image=16384, small=4096, chunk=4096, tile=256, overlap=16, depth=1, width=4,
                cache_mb=64, planes=64, plane=1024, train_chunk=512, patch=64, steps=20)


def run(quick: bool) -> list[dict]:
    """The prediction and training tables."""
    size = sizes(quick)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model_path = make_model(folder, size)
        tables = [prediction_table(folder, model_path, size), training_table(folder, size)]
    seconds = time.perf_counter() - start
    tables[0]["note"] += f" The whole module ran in {seconds:.0f} s."
    return tables


def make_model(folder: Path, size: dict) -> Path:
    """A small denoiser trained for one step: its speed, not its quality, is measured."""
    config = Config(
        model=ModelConfig(depth=size["depth"], width=size["width"]),
        data=DataConfig(patch_size=32, batch_size=2),
        training=TrainingConfig(epochs=1, steps_per_epoch=1, device="cpu"),
    )
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    return save_model(fit(config, image), folder / "model.safetensors")


def make_image(path: Path, side: int, chunk: int) -> None:
    """A noisy smooth (Y, X) float32 zarr image of ``side`` pixels a side, written chunk by chunk."""
    stored = zarr.create_array(str(path), shape=(side, side), chunks=(chunk, chunk), dtype="f4")
    rng = np.random.default_rng(0)
    for top in range(0, side, chunk):
        for left in range(0, side, chunk):
            y, x = np.ogrid[top : min(top + chunk, side), left : min(left + chunk, side)]
            smooth = np.sin(y / 37.0) * np.cos(x / 53.0)
            noise = rng.standard_normal((len(y), x.shape[1]), dtype=np.float32)
            stored[top : top + chunk, left : left + chunk] = smooth + 0.3 * noise


def prediction_table(folder: Path, model_path: Path, size: dict) -> dict:
    """Local tiled prediction against 1 and 2 local workers, and each worker's peak memory."""
    side, options = size["image"], dict(axes="YX", tile=size["tile"], overlap=size["overlap"])
    image = folder / "image.zarr"
    make_image(image, side, size["chunk"])
    local = folder / "local.zarr"
    seconds = apply_here(model_path, image, local, options)
    megapixels = side * side / 1e6
    rows = [["here, tiled (1 process, all cores)", f"{seconds:.1f}", f"{megapixels / seconds:.2f}",
             "1.00", "-", "-", "0"]]  # fmt: skip
    for workers in (1, 2):
        output = folder / f"workers{workers}.zarr"
        timing, peaks = apply_on_workers(model_path, image, output, workers, options)
        rows.append([
            f"{workers} local worker(s), one thread each", f"{timing['job']:.1f}",
            f"{megapixels / timing['job']:.2f}", f"{seconds / timing['job']:.2f}",
            f"{timing['start']:.1f}", " / ".join(f"{peak:.0f}" for peak in peaks),
            f"{largest_difference(local, output):.1e}",
        ])  # fmt: skip
    if size["small"]:  # a third cluster: not in the smoke test
        small = folder / "small.zarr"
        make_image(small, size["small"], size["chunk"])
        _, peaks = apply_on_workers(model_path, small, folder / "small-out.zarr", 2, options)
        rows.append([f"2 workers on a {size['small']}² image (same chunks)", "-", "-", "-", "-",
                     " / ".join(f"{peak:.0f}" for peak in peaks), "-"])  # fmt: skip
    return {
        "title": f"Prediction of a {side}² zarr image here and on local dask workers",
        "note": f"float32 {side}² image ({side * side * 4 / 2**20:.0f} MB) in chunks of "
        f"{size['chunk']}², written to a zarr store of the same chunks; tiles of {size['tile']} "
        f"pixels, overlap {size['overlap']}; a UNet of depth {size['depth']} and width "
        f"{size['width']} on the CPU. Throughput counts the job alone; the cluster's start "
        "(worker processes, imports of torch and this package) is its own column; each worker "
        "loads the model once, within the job. A worker's chunk reads the tiles "
        "around it, so workers compute some tiles twice. The peak resident memory of each "
        "worker, measured in the worker (torch included), is bounded by a few chunk-sized "
        "buffers (the block, the blend's sums and weights, the up to four input chunks a tile "
        "overlaps: about 8 x chunk² x 4 bytes per channel) plus a batch of tiles and the "
        "network, not by the image: compare the last row.",
        "header": ["where", "seconds", "Mpx/s", "× here", "cluster start (s)",
                   "peak RSS per worker (MB)", "max |difference| from here"],  # fmt: skip
        "rows": rows,
    }


def apply_here(model_path: Path, image: Path, output: Path, options: dict) -> float:
    """Seconds of the local tiled prediction of the store ``image`` into the store ``output``."""
    model, source = load_model(model_path), read_zarr(image).array
    tile = options["tile"]
    drain(iter_predict(model, source[:tile, :tile], device="cpu", **options))  # torch's first call
    start = time.perf_counter()
    with atomic_zarr(output, source.shape, chunks=source.chunks, axes="YX") as out:
        drain(iter_predict(model, source, out=out, device="cpu", **options))
    return time.perf_counter() - start


def apply_on_workers(model_path, image, output, workers: int, options: dict):
    """Seconds to start the cluster and of the job; each worker's peak resident memory (MB)."""
    start = time.perf_counter()
    with cluster_client(workers=workers) as client:
        client.wait_for_workers(workers)
        client.run(_import_torch)  # part of the start, as the local path's imports are not timed
        started = time.perf_counter()
        shape = read_zarr(image).array.shape
        chunks = read_zarr(image).array.chunks
        with atomic_zarr(output, shape, chunks=chunks, axes="YX") as out:
            result = lazy_prediction(model_path, image, shape=shape, chunks=chunks, device="cpu",
                                     **options)  # fmt: skip
            drain(iter_store(result, out, client))
        done = time.perf_counter()
        peaks = sorted(client.run(_peak_rss_mb).values())
    return {"start": started - start, "job": done - started}, peaks


def _import_torch() -> None:
    """Import what a worker's first task imports (run in each worker)."""
    import napari_autoencoders.core.inference.prediction  # noqa: F401


def _peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (run in each worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def largest_difference(first: Path, second: Path) -> float:
    """The largest absolute difference between two zarr images, compared chunk by chunk."""
    a, b = read_zarr(first).array, read_zarr(second).array
    step = a.chunks[0]
    return max(float(np.max(np.abs(a[top : top + step] - b[top : top + step])))
               for top in range(0, a.shape[0], step))  # fmt: skip


def training_table(folder: Path, size: dict) -> dict:
    """Peak memory of ``train`` on a stack four times its cache, lazily and in memory."""
    cache_mb = size["cache_mb"]
    shape = (size["planes"], size["plane"], size["plane"])
    data_mb = np.prod(shape) * 4 / 2**20
    store = folder / "stack.zarr"
    chunks = (1, size["train_chunk"], size["train_chunk"])
    stored = zarr.create_array(str(store), shape=shape, chunks=chunks, dtype="f4")
    rng = np.random.default_rng(1)
    for plane in range(shape[0]):
        stored[plane] = rng.standard_normal(shape[1:], dtype=np.float32) + np.linspace(0, 1, shape[2])
    np.save(folder / "stack.npy", stored[:])
    np.save(folder / "tiny.npy", rng.random((64, 64), dtype=np.float32))
    common = ["--epochs", "1", "--steps-per-epoch", str(size["steps"]),
              "--patch-size", str(size["patch"]), "--batch-size", "8", "--depth",
              str(size["depth"]), "--width", str(size["width"]), "--device", "cpu", "--quiet"]  # fmt: skip
    runs = [
        ("a 64² image in memory (the floor)", ["--input", str(folder / "tiny.npy"), "--axes", "YX"],
         "-", f"{64 * 64 * 4 / 2**20:.2f}"),
        (f"the stack as zarr, through a {cache_mb} MB cache",
         ["--input", str(store), "--axes", "SYX", "--cache-mb", str(cache_mb)], f"{cache_mb}",
         f"{data_mb:.0f}"),
        ("the stack as .npy, in memory", ["--input", str(folder / "stack.npy"), "--axes", "SYX"],
         "-", f"{data_mb:.0f}"),
    ]  # fmt: skip
    rows = []
    for label, inputs, cache, data in runs:
        argv = [sys.executable, "-m", "napari_autoencoders", "train", *common, *inputs,
                "--model", str(folder / "trained.safetensors")]  # fmt: skip
        start = time.perf_counter()
        megabytes, code = peak_rss_mb(argv)
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} failed with status {code}")
        rows.append([label, data, cache, f"{megabytes:.0f}", f"{time.perf_counter() - start:.1f}"])
    return {
        "title": "Training peak memory on a stack four times larger than the cache",
        "note": f"{shape[0]} planes of {shape[1]}² float32 ({data_mb:.0f} MB), {size['steps']} "
        f"steps of 8 patches of {size['patch']}²; zarr chunks of one plane's "
        f"{size['train_chunk']}² block. Peak resident memory of the whole command (Python and "
        "torch included); the lazy training's stays within the floor plus the cache.",
        "header": ["data", "data (MB)", "cache (MB)", "peak RSS (MB)", "seconds"],
        "rows": rows,
    }
