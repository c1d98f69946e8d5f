"""Denoising real images: ours against NL-means and BM3D, on images that install offline.

Two groups of real images from scikit-image, never generated:

- **photographs** (grey) with white Gaussian noise of sigma 15, 25 and 50
  (of 255). Only photographs the denoising prior never saw in training
  (:data:`napari_autoencoders.core.prior.HELD_APART_PHOTOS`) are tested.
- **microscopy and science images** (cell, coins, moon, the Hubble deep
  field, a channel of the immunohistochemistry slide and of the retina
  photograph) with Poisson-Gaussian noise: peak 10, 30 or 100 photons for
  intensity 1 plus read noise of 0.01.

Clean images are scaled to [0, 1] (1st and 99.8th percentiles); noise has
fixed seeds. Baselines get the *true* noise parameters, ours estimates them
from the noisy image. Our trained modes run for a time budget on 2 CPU
cores; each figure comes with the optimisation steps done.
"""

from __future__ import annotations

import time
from collections import defaultdict

import bm3d
import numpy as np
from skimage import color, data, img_as_float32
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import denoise_nl_means

from napari_autoencoders.core.data.noise import add_noise, noise_sigma
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.data.stabilization import NoiseModel, stabilize, unstabilize
from napari_autoencoders.core.prior import HELD_APART_PHOTOS, TRAINING_PHOTOS, denoise_image
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import Trainer

READ_NOISE = 0.01
#: Training budgets of our modes, in seconds (the baseline Noise2Void runs the middle one).
BUDGETS = (30.0, 120.0, 300.0)
PHOTO_SIGMAS = (15, 25, 50)
PEAKS = (10, 30, 100)
SCIENCE = ("cell", "coins", "moon", "hubble_deep_field", "immunohistochemistry", "retina")


def _grey(name: str) -> np.ndarray:
    """A scikit-image picture as grey float in [0, 1] (one channel of the slides)."""
    image = img_as_float32(getattr(data, name)())
    if name == "immunohistochemistry":
        return image[..., 2]  # the blue (haematoxylin-rich) channel
    if name == "retina":
        return image[..., 1]  # the green channel, where vessels have most contrast
    return img_as_float32(color.rgb2gray(image)) if image.ndim == 3 else image


def _crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` crop (or less on a smaller side)."""
    y0 = max(0, (image.shape[0] - size) // 2)
    x0 = max(0, (image.shape[1] - size) // 2)
    return image[y0 : y0 + size, x0 : x0 + size]


def _unit(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1.0, 99.8))
    return np.clip((image - low) / (high - low), 0.0, 1.0).astype(np.float32)


def cases(
    size: int, sigmas=PHOTO_SIGMAS, peaks=PEAKS, photos=HELD_APART_PHOTOS, science=SCIENCE
) -> list[dict]:
    """Every benchmark case: group, name, clean image, noise spec and true noise model."""
    found = []
    for name in photos:
        clean = _crop(_grey(name), size)
        for sigma in sigmas:
            spec = f"gaussian:{sigma / 255:.6f}"
            found.append(dict(group=f"photographs, Gaussian sigma {sigma}", name=name, clean=clean,
                              spec=spec, noise=NoiseModel(0.0, (sigma / 255) ** 2)))
    for name in science:
        clean = _unit(_crop(_grey(name), size))
        for peak in peaks:
            spec = f"poisson:{peak}+gaussian:{READ_NOISE}"
            found.append(dict(group=f"microscopy, Poisson-Gaussian peak {peak}", name=name,
                              clean=clean, spec=spec, noise=NoiseModel(1.0 / peak, READ_NOISE**2)))
    return found


def bm3d_gat(noisy: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """BM3D after the generalised Anscombe transform, unbiased inverse."""
    return unstabilize(bm3d.bm3d(stabilize(noisy, noise), sigma_psd=1.0), noise)


def baselines(case: dict, noisy: np.ndarray) -> dict[str, tuple[np.ndarray, float, str]]:
    """The classical methods on one case, with the true noise parameters."""
    sigma = noise_sigma(case["clean"], case["spec"])
    results = {"noisy input": (noisy, 0.0, "")}
    start = time.perf_counter()
    nlm = denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5)
    results["NL-means"] = (nlm, time.perf_counter() - start, "")
    start = time.perf_counter()
    results["BM3D"] = (bm3d.bm3d(noisy, sigma_psd=sigma), time.perf_counter() - start, "")
    if not case["noise"].is_gaussian:
        start = time.perf_counter()
        results["BM3D + GAT"] = (bm3d_gat(noisy, case["noise"]), time.perf_counter() - start, "")
    return results


def scores(clean: np.ndarray, image: np.ndarray, channel_axis: int | None = None) -> tuple[float, float]:
    """PSNR and SSIM against the clean image, on the [0, 1] scale (SSIM per channel along ``channel_axis``)."""
    image = np.clip(image, 0.0, 1.0)
    return (peak_signal_noise_ratio(clean, image, data_range=1.0),
            structural_similarity(clean, image, data_range=1.0, channel_axis=channel_axis))


def case_rows(size: int, methods_of, **selection):
    """Per-case rows and the per-group means of every method (``methods_of(case)``).

    ``selection`` narrows the cases (the keywords of :func:`cases`).
    """
    return scored_rows(cases(size, **selection), methods_of)


def scored_rows(cases_: list[dict], methods_of):
    """Per-case rows and per-group means of the baselines and ``methods_of(case)`` on ``cases_``.

    Each case is a dict as :func:`cases` makes them; the i-th is noised with
    the seed ``100 + i``.
    """
    rows, by_group = [], defaultdict(lambda: defaultdict(list))
    for index, case in enumerate(cases_):
        noisy = add_noise(case["clean"], case["spec"], seed=100 + index)
        results = baselines(case, noisy)
        for method, run in methods_of(case).items():
            results[method] = run(noisy)
        for method, (image, took, steps) in results.items():
            psnr, ssim = scores(case["clean"], image)
            by_group[case["group"]][method].append((psnr, ssim))
            rows.append([case["group"], case["name"], method, f"{psnr:.2f}", f"{ssim:.3f}",
                         f"{took:.0f}", steps])
    means = [
        [group, method, f"{np.mean([p for p, _ in values]):.2f}",
         f"{np.mean([s for _, s in values]):.3f}", str(len(values))]
        for group, methods_ in by_group.items() for method, values in methods_.items()
    ]
    return rows, means


def _zero_shot(noisy: np.ndarray, ensemble: bool = True):
    """The prior alone, noise estimated from the image: no training."""
    start = time.perf_counter()
    out = denoise_image(noisy, ensemble=ensemble)
    return out, time.perf_counter() - start, "0 (pretrained)"


def train_denoise(noisy: np.ndarray, inputs: np.ndarray, seconds: float, cache=None, *,
                  targets: np.ndarray | None = None, **options):
    """Train with the recipe's defaults (and ``options``) on ``inputs``, then denoise ``noisy``.

    Returns the result, the seconds of training and prediction, and the
    steps done. ``targets`` are the clean images of paired training. With
    a ``cache`` dict, a model trained on the same inputs and options is
    reused (the synthetic mode trains once per noise level).
    """
    key = (id(inputs), seconds, tuple(sorted(options.items())))
    if cache is not None and key in cache:
        model, steps, training_seconds = cache[key]
    else:
        start = time.perf_counter()
        config = task_config("denoise", shape=inputs.shape, time_budget=seconds, **options)
        trainer = Trainer(config, inputs, targets)
        for _ in trainer.run():
            pass
        model = trainer.result()
        steps = f"{trainer.history[-1]['step'] if trainer.history else 0:,}"
        training_seconds = time.perf_counter() - start
        if cache is not None:
            cache[key] = (model, steps, training_seconds)
    start = time.perf_counter()
    out = model.predict(noisy, axes="YX")
    return out, training_seconds + time.perf_counter() - start, steps


def training_photos(size: int) -> np.ndarray:
    """The clean photographs the synthetic mode trains on: the prior's own (never tested)."""
    crops = [_crop(_grey(name), size) for name in TRAINING_PHOTOS if name not in ("page", "text")]
    side = min(min(crop.shape) for crop in crops)
    return np.stack([crop[:side, :side] for crop in crops])


def methods_for(case: dict, budgets, trained: set[str], photos: np.ndarray, cache: dict):
    """Our methods on one case: the prior always; the trainings, at each budget, on ``trained`` cases.

    Self-supervised training runs on the other cases too, for the first
    budget: the defaults a user gets at every noise level (at 10 photons it
    once lost to the prior, unseen while only peak 30 trained). The baseline
    Noise2Void from scratch trains for the middle budget only.
    """
    methods = {
        "ours, prior (zero-shot)": _zero_shot,
        "ours, prior (zero-shot), one orientation": lambda noisy: _zero_shot(noisy, False),
    }
    if case["group"] not in trained:
        first = budgets[0]
        methods[f"ours, self-supervised ({first:g} s)"] = lambda noisy: train_denoise(noisy, noisy, first)
        return methods
    for seconds in budgets:
        methods.update(_trainings(case, seconds, photos, cache))
    middle = budgets[len(budgets) // 2]
    if not case["noise"].is_gaussian:
        methods[f"Noise2Void, from scratch ({middle:g} s)"] = lambda noisy: train_denoise(
            noisy, noisy, middle, pretrained=False
        )
    return methods


def _trainings(case: dict, seconds: float, photos: np.ndarray, cache: dict) -> dict:
    """Our trained modes on one case for ``seconds``: self-supervised, and synthetic on Gaussian noise."""
    methods = {
        f"ours, self-supervised ({seconds:g} s)": lambda noisy: train_denoise(noisy, noisy, seconds)
    }
    if case["noise"].is_gaussian:
        spec = synthetic_spec(case["noise"], photos)
        methods[f"ours, synthetic ({seconds:g} s)"] = lambda noisy: train_denoise(
            noisy, photos, seconds, cache, mode="synthetic", noise=spec, axes="SYX"
        )
    return methods


def synthetic_spec(noise: NoiseModel, images: np.ndarray) -> str:
    """The ``noise`` of the [0, 1] scale as a synthetic-mode spec for training on ``images``.

    Noise specs are on the scale where the training data's percentiles are 0
    and 1 (:mod:`napari_autoencoders.core.data.noise`), and the test image
    is normalised like the training data. With ``x = low + spread * y`` the
    variance ``gain * x + read_variance`` is ``(gain / spread) * y +
    (gain * low + read_variance) / spread**2`` on that scale: Poisson noise
    of peak ``spread / gain`` plus Gaussian noise (``low`` taken as at least 0:
    no shot noise below zero photons).
    """
    norm = Normalizer.fit(np.reshape(images, (-1, 1, *np.shape(images)[-2:])))
    low, spread = norm.low[0], norm.high[0] - norm.low[0]
    sigma = np.sqrt(noise.gain * max(low, 0.0) + noise.read_variance) / spread
    if noise.is_gaussian:
        return f"gaussian:{sigma:.6f}"
    return f"poisson:{spread / noise.gain:.6f}+gaussian:{sigma:.6f}"


def run(quick: bool = False) -> list[dict]:
    """Return the per-group means and the per-case table."""
    size, budgets = (48, (1.0,)) if quick else (512, BUDGETS)
    selection = dict(photos=HELD_APART_PHOTOS, science=SCIENCE)
    if quick:  # one image of each group, at the noise levels that train
        selection = dict(
            photos=HELD_APART_PHOTOS[:1], science=SCIENCE[:1], sigmas=(25,), peaks=(30,)
        )
    # trainings cost their budget each: on the middle noise level of each group
    trained = {"photographs, Gaussian sigma 25", "microscopy, Poisson-Gaussian peak 30"}
    photos, cache = training_photos(size), {}
    rows, means = case_rows(
        size, lambda case: methods_for(case, budgets, trained, photos, cache), **selection
    )
    header = ["group", "image", "method", "PSNR (dB)", "SSIM", "seconds", "steps"]
    note = (
        f"Test photographs: {', '.join(selection['photos'])} (the prior trained on "
        f"{', '.join(TRAINING_PHOTOS)} and Grace Hopper); science images: "
        f"{', '.join(selection['science'])}. "
        f"Central crops of at most {size}x{size}. Baselines know the true noise; ours estimates "
        "it. Trainings (recipe defaults, a time budget of "
        f"{', '.join(f'{b:g}' for b in budgets)} s on this machine) run on the sigma 25 and "
        f"peak 30 cases, and self-supervised training for {budgets[0]:g} s on the others; 'steps' "
        "is the optimisation steps they did (a training stops "
        "earlier without progress; self-supervised training fine-tunes the prior on recorrupted "
        "pairs on Gaussian noise, on thinned pairs on Poisson-Gaussian noise, pulled back "
        "towards the prior's weights after each step). Synthetic trains "
        "on the prior's training photographs "
        "with the test's noise level (its sigma on their normalised scale); Noise2Void from "
        "scratch trains for the middle budget. Every model predicts with the mean over the 8 "
        "rotations and flips of the image, the default for denoising up to 2048x2048 values "
        "(`one orientation`: the prior without that self-ensemble)."
    )
    return [
        {"title": "Denoising real images: mean per group", "note": note,
         "header": ["group", "method", "PSNR (dB)", "SSIM", "images"], "rows": means},
        {"title": "Denoising real images: every case", "header": header, "rows": rows},
    ]
