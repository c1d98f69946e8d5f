"""Super-resolution quality and speed: our upscaler against bilinear and bicubic interpolation.

Ground truth are clean fluorescence phantoms and grey photographs;
low-resolution images are their area-average downscalings. ``from-highres``
trains on *other* images of the same kind than the test image; ``zero-shot``
trains on the low-resolution test image alone, as a user with one image would. The baselines are
``torch.nn.functional.interpolate`` bilinear and bicubic (Keys, a = -0.75),
with the same pixel geometry (:func:`upscale_interpolated`).

Run alone for a tuning experiment with a fixed number of steps (independent of
the machine's load): ``python bench/superres.py --steps 300``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import color, data, img_as_float32
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from phantoms import fluorescence_phantom
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.data.resolution import downscale, upscale_interpolated
from napari_autoencoders.core.training import fit

#: Phantom seeds: the test image, and the training images of ``from-highres``.
TEST_SEED = 0
TRAIN_SEEDS = (1, 2, 3, 4)


def train_upscaler(
    mode: str,
    factor: int,
    inputs: np.ndarray,
    *,
    seconds: float | None = None,
    steps: int | None = None,
    patch_size: int = 48,
    width: int = 32,
    blocks: int = 4,
    seed: int = 0,
):
    """Train a ``factor`` upscaler on ``inputs`` for ``seconds`` or ``steps``."""
    axes = "SYX" if inputs.ndim == 3 else "YX"
    training = TrainingConfig(task="superres", mode=mode, seed=seed, patience=10**6)
    if seconds is not None:
        training.time_budget, training.epochs = seconds, 10**6
    else:
        training.epochs = max(1, steps // training.steps_per_epoch)
    config = Config(
        model=ModelConfig(architecture="superres", factor=factor, width=width, blocks=blocks),
        data=DataConfig(axes=axes, patch_size=patch_size),
        training=training,
    )
    return fit(config, inputs)


def phantoms(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The test phantom (size, size) and the training phantoms (S, size, size)."""
    truth = fluorescence_phantom((size, size), seed=TEST_SEED)
    return truth, np.stack([fluorescence_phantom((size, size), seed=s) for s in TRAIN_SEEDS])


def photographs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's camera (size, size) to test; four other grey photographs to train on.

    Unlike the phantom, blurred by its point spread function, photographs hold
    detail up to the pixel scale, which downscaling destroys for good.
    """
    test = img_as_float32(data.camera())[:size, :size]
    side = min(size, 300)  # the smallest training photograph is 300 px high
    others = [data.astronaut(), data.coffee(), data.chelsea(), data.moon()]
    grey = [img_as_float32(color.rgb2gray(o) if o.ndim == 3 else o) for o in others]
    return test, np.stack([g[:side, :side] for g in grey])


def case_rows(truth: np.ndarray, train_highres: np.ndarray, cases, **budget) -> list[list[str]]:
    """PSNR / SSIM of interpolation and of our model for each (mode, factor) case.

    ``truth`` (Y, X) is the test image, ``train_highres`` (S, Y', X') what
    ``from-highres`` trains on; both in [0, 1].
    """
    rows = []
    for mode, factor in cases:
        low = downscale(truth, factor)
        results = {
            "bilinear": (upscale_interpolated(low, factor, order=1), 0.0),
            "bicubic": (upscale_interpolated(low, factor, order=3), 0.0),
        }
        start = time.perf_counter()
        model = train_upscaler(mode, factor, low if mode == "zero-shot" else train_highres, **budget)
        results["ours"] = (predict(model, low, axes="YX"), time.perf_counter() - start)
        bicubic = _psnr(truth, results["bicubic"][0])
        for method, (image, took) in results.items():
            psnr = _psnr(truth, image)
            ssim = structural_similarity(truth, image, data_range=1.0)
            rows.append(
                [f"{mode} x{factor}", method, f"{psnr:.2f}", f"{psnr - bicubic:+.2f}",
                 f"{ssim:.3f}", f"{took:.0f}"]
            )
    return rows


def speed_rows(size: int, factors=(2, 4)) -> list[list[str]]:
    """Seconds and input megapixels per second of ``predict`` on a ``size`` x ``size`` image."""
    image = fluorescence_phantom((size, size), seed=TEST_SEED)
    rows = []
    for factor in factors:
        model = train_upscaler("zero-shot", factor, image, steps=1, patch_size=16)
        predict(model, image[:64, :64])  # warm-up
        start = time.perf_counter()
        out = predict(model, image)
        took = time.perf_counter() - start
        rows.append(
            [f"x{factor}", f"{size}x{size} -> {out.shape[0]}x{out.shape[1]}", f"{took:.1f}",
             f"{size * size / 1e6 / took:.2f}"]
        )
    return rows


def _psnr(truth: np.ndarray, image: np.ndarray) -> float:
    return peak_signal_noise_ratio(truth, np.clip(image, 0, 1), data_range=1.0)


CASES = (("from-highres", 2), ("from-highres", 4), ("zero-shot", 2))
NATURAL_CASES = (("from-highres", 2), ("zero-shot", 2))


def run(quick: bool = False) -> list[dict]:
    """Return the super-resolution tables (``quick``: tiny sizes for the smoke test)."""
    size, seconds, speed_size = (64, 0.5, 128) if quick else (512, 120.0, 2048)
    header = ["mode", "method", "PSNR (dB)", "vs bicubic (dB)", "SSIM", "seconds"]
    return [
        {
            "title": f"Super-resolution quality, {size}x{size} phantom, {seconds:g} s of training",
            "note": "Held-out test phantom (seed 0), downscaled by area averaging. "
            "`from-highres` trains on phantoms of seeds 1-4; `zero-shot` on the low-resolution "
            "test image alone. Interpolation: torch `interpolate` (bicubic: Keys a=-0.75), "
            "half-pixel geometry. Outputs clipped to [0, 1]; seconds include training.",
            "header": header,
            "rows": case_rows(*phantoms(size), CASES, seconds=seconds,
                              patch_size=min(48, size // 4)),
        },
        {
            "title": f"Super-resolution quality, {size}x{size} photograph, {seconds:g} s of "
            "training",
            "note": "scikit-image's camera (test) downscaled by area averaging; `from-highres` "
            "trains on four other grey photographs (astronaut, coffee, chelsea, moon; "
            "crops of at most 300x300); `zero-shot` on the low-resolution camera alone.",
            "header": header,
            "rows": case_rows(*photographs(size), NATURAL_CASES, seconds=seconds,
                              patch_size=min(48, size // 4)),
        },
        {
            "title": "Super-resolution apply speed",
            "note": "`predict` with the default network (width 32, 4 blocks), 256 px tiles.",
            "header": ["factor", "image", "seconds", "input megapixels / s"],
            "rows": speed_rows(speed_size),
        },
    ]


def main() -> None:
    """Tuning experiment: a fixed number of training steps, then the quality table."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--cases", default="from-highres:2,from-highres:4,zero-shot:2")
    args = parser.parse_args()
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]
    for case in cases:
        rows = case_rows(
            *phantoms(args.size), [case], steps=args.steps, width=args.width, blocks=args.blocks,
            patch_size=args.patch_size,
        )
        for row in rows:
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
