"""Super-resolution quality and speed: our upscaler against bilinear and bicubic interpolation.

Ground truth are clean fluorescence phantoms and grey photographs;
low-resolution images are their area-average downscalings. ``from-highres``
trains on *other* images of the same kind than the test image; ``zero-shot``
trains on the low-resolution test image alone, as a user with one image would. Every model is
the recipe's (:func:`task_config` with the task, mode and factor alone): it starts from the
shipped upscaler of its factor, trains for the default budget, and predicts with the
self-ensemble. The baselines are
``torch.nn.functional.interpolate`` bilinear and bicubic (Keys, a = -0.75),
with the same pixel geometry (:func:`upscale_interpolated`).

Run alone for a tuning experiment with a fixed number of steps (independent of
the machine's load), with recipe options as ``name=value``:
``python bench/superres.py --steps 300 width=64``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import color, data, img_as_float32
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from phantoms import fluorescence_phantom
from superres_real import recipe_options, steps_of
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.data.resolution import downscale, upscale_interpolated
from napari_autoencoders.core.config import TrainingConfig
from napari_autoencoders.core.recipes import (
    DEFAULT_TIME_BUDGET,
    ZERO_SHOT_EPOCHS,
    ZERO_SHOT_TIME_BUDGET,
    task_config,
)
from napari_autoencoders.core.training import fit

#: Phantom seeds: the test image, and the training images of ``from-highres``.
TEST_SEED = 0
TRAIN_SEEDS = (1, 2, 3, 4)


def train_upscaler(mode: str, factor: int, inputs: np.ndarray, **options):
    """Train a ``factor`` upscaler on ``inputs`` with the recipe's defaults and ``options``."""
    axes = "SYX" if inputs.ndim == 3 else "YX"
    config = task_config(
        "superres", shape=inputs.shape, axes=axes, mode=mode, factor=factor, **options
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


def case_rows(truth: np.ndarray, train_highres: np.ndarray, cases, **options) -> list[list[str]]:
    """PSNR / SSIM of interpolation and of our model for each (mode, factor) case.

    ``truth`` (Y, X) is the test image, ``train_highres`` (S, Y', X') what
    ``from-highres`` trains on; both in [0, 1]. ``options`` go to the recipe.
    """
    rows = []
    for mode, factor in cases:
        low = downscale(truth, factor)
        results = {
            "bilinear": (upscale_interpolated(low, factor, order=1), 0.0),
            "bicubic": (upscale_interpolated(low, factor, order=3), 0.0),
        }
        start = time.perf_counter()
        model = train_upscaler(mode, factor, low if mode == "zero-shot" else train_highres, **options)
        results["ours"] = (predict(model, low, axes="YX"), time.perf_counter() - start)
        steps = {"ours": f"{steps_of(model):,}"}
        bicubic = _psnr(truth, results["bicubic"][0])
        for method, (image, took) in results.items():
            psnr = _psnr(truth, image)
            ssim = structural_similarity(truth, image, data_range=1.0)
            rows.append(
                [f"{mode} x{factor}", method, f"{psnr:.2f}", f"{psnr - bicubic:+.2f}",
                 f"{ssim:.3f}", steps.get(method, ""), f"{took:.0f}"]
            )
    return rows


def speed_rows(size: int, factors=(2, 4)) -> list[list[str]]:
    """Seconds and input megapixels per second of ``predict`` on a ``size`` x ``size`` image."""
    image = fluorescence_phantom((size, size), seed=TEST_SEED)
    rows = []
    for factor in factors:
        model = train_upscaler("zero-shot", factor, image, epochs=1, steps_per_epoch=1)
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
    """Return the super-resolution tables (``quick``: tiny sizes and budgets for the smoke test)."""
    size, speed_size = (64, 128) if quick else (512, 2048)
    options = dict(epochs=1, steps_per_epoch=2) if quick else {}  # else the recipe's budgets
    header = ["mode", "method", "PSNR (dB)", "vs bicubic (dB)", "SSIM", "steps", "seconds"]
    budgets = (
        f"Recipe defaults: from-highres trains up to {DEFAULT_TIME_BUDGET:g} s (it stops earlier "
        f"after {TrainingConfig.patience} epochs without progress), zero-shot {ZERO_SHOT_EPOCHS} "
        f"epochs within {ZERO_SHOT_TIME_BUDGET:g} s; both start from the shipped "
        "upscaler, and predict with the mean over 8 rotations and flips."
    )
    return [
        {
            "title": f"Super-resolution quality, {size}x{size} phantom (secondary: synthetic)",
            "note": "Held-out test phantom (seed 0), downscaled by area averaging. "
            "`from-highres` trains on phantoms of seeds 1-4; `zero-shot` on the low-resolution "
            "test image alone. Interpolation: torch `interpolate` (bicubic: Keys a=-0.75), "
            f"half-pixel geometry. Outputs clipped to [0, 1]; seconds include training. {budgets}",
            "header": header,
            "rows": case_rows(*phantoms(size), CASES, **options),
        },
        {
            "title": f"Super-resolution quality, {size}x{size} photograph (secondary)",
            "note": "scikit-image's camera (test) downscaled by area averaging; `from-highres` "
            "trains on four other grey photographs (astronaut, coffee, chelsea, moon; "
            "crops of at most 300x300); `zero-shot` on the low-resolution camera alone. "
            "The shipped upscalers never trained on camera. " + budgets,
            "header": header,
            "rows": case_rows(*photographs(size), NATURAL_CASES, **options),
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
    parser.add_argument("--cases", default="from-highres:2,from-highres:4,zero-shot:2")
    parser.add_argument("options", nargs="*", help="recipe options, name=value")
    args = parser.parse_args()
    options = recipe_options(args.options)
    options.update(epochs=max(1, args.steps // 50), steps_per_epoch=50)
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]
    for case in cases:
        for row in case_rows(*phantoms(args.size), [case], **options):
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
