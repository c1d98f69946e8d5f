"""Denoising real images whose noise correlates along rows (as a camera read out line by line makes it) or both axes.

The images of :mod:`real_denoise` (the held-apart photographs and the
science images, the same crops on [0, 1]) with Gaussian noise of standard
deviation :data:`SIGMA` whose neighbours along X correlate: white noise
filtered along X by :data:`KERNEL` (neighbours correlate at 0.67, two pixels
apart at 0.17). BM3D is given the noise's standard deviation (what a user who
takes the noise for white would give) and, apart, its true power spectrum.
Ours: the prior alone on the whole image (what it did before the noise's
correlation was measured, ``strides=(1, 1)``), the prior with the default
(measured strides: the image denoised in interleaved phases, see
:mod:`napari_autoencoders.core.data.correlation`) and self-supervised
training with the recipe's defaults. Then the same with the noise filtered
along Y too, which the measure leaves whole, and the noise strides that a
user given the noise report's suggestion would choose (:data:`BOTH_STRIDES`).
"""

from __future__ import annotations

import time

import bm3d
import numpy as np
from defects import means
from real_denoise import SCIENCE, _zero_shot, cases, scores, train_denoise
from scipy import ndimage

from napari_autoencoders.core.prior import HELD_APART_PHOTOS, denoise_image

if not hasattr(np, "trapz"):  # bm4d (under bm3d) calls numpy.trapz with a noise spectrum; NumPy 2 renamed it
    np.trapz = np.trapezoid

#: The noise's standard deviation, on the [0, 1] scale (25 of 255).
SIGMA = 25 / 255
#: The filter along X that correlates white noise, normalised to keep its variance.
KERNEL = np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5)
#: Self-supervised training's budget, in seconds.
BUDGET = 30.0
#: The noise strides given for noise correlated along both axes: those the noise
#: report suggests for it (:func:`napari_autoencoders.core.data.correlation.suggested_strides`).
BOTH_STRIDES = (3, 3)


def correlated_noise(shape: tuple[int, int], seed: int, axes: tuple[int, ...] = (1,)) -> np.ndarray:
    """Gaussian noise (Y, X) of standard deviation :data:`SIGMA` correlated by :data:`KERNEL` along ``axes``."""
    noise = np.random.default_rng(seed).normal(0.0, SIGMA, shape)
    for axis in axes:
        noise = ndimage.convolve1d(noise, KERNEL, axis=axis, mode="wrap")
    return noise.astype(np.float32)


def noise_spectrum(shape: tuple[int, int], axes: tuple[int, ...] = (1,)) -> np.ndarray:
    """The power spectrum of :func:`correlated_noise` as BM3D takes it (its mean: the variance times the pixels)."""
    kernel = np.zeros(shape)
    kernel[0, 0] = 1.0
    for axis in axes:
        kernel = ndimage.convolve1d(kernel, KERNEL, axis=axis, mode="wrap")
    return np.abs(np.fft.fft2(kernel)) ** 2 * SIGMA**2 * kernel.size


def _timed(function, image):
    start = time.perf_counter()
    return function(image), time.perf_counter() - start


def methods(budget: float, axes: tuple[int, ...] = (1,)) -> dict:
    """Each method: a function of the noisy image, returning (result, seconds, steps).

    Noise correlated along both axes is not split unless asked: its rows
    give the prior and the training with the noise strides a user chooses
    from the noise report (:data:`BOTH_STRIDES`).
    """
    rows = {
        "BM3D, white-noise sigma": lambda image: (*_timed(lambda x: bm3d.bm3d(x, SIGMA), image), ""),
        "BM3D, true noise spectrum": lambda image: (
            *_timed(lambda x: bm3d.bm3d(x, noise_spectrum(x.shape, axes)), image), ""),
        "ours, prior (zero-shot), whole image": lambda image: (
            *_timed(lambda x: denoise_image(x, strides=(1, 1)), image), "0 (pretrained)"),
    }
    if len(axes) == 1:
        rows["ours, prior (zero-shot)"] = _zero_shot
        rows[f"ours, self-supervised ({budget:g} s)"] = lambda image: train_denoise(image, image, budget)
        return rows
    chosen = ",".join(map(str, BOTH_STRIDES))
    rows[f"ours, prior (zero-shot), noise strides {chosen}"] = lambda image: (
        *_timed(lambda x: denoise_image(x, strides=BOTH_STRIDES), image), "0 (pretrained)")
    rows[f"ours, self-supervised ({budget:g} s), noise strides {chosen}"] = lambda image: train_denoise(
        image, image, budget, noise_strides=BOTH_STRIDES)
    return rows


def case_rows(size: int, budget: float, names, axes: tuple[int, ...] = (1,)) -> list[list[str]]:
    """A row per image and method: PSNR, SSIM, seconds, steps."""
    rows, seen = [], set()
    for index, case in enumerate(cases(size)):
        if case["name"] not in names or case["name"] in seen:
            continue
        seen.add(case["name"])
        clean = case["clean"]
        noisy = clean + correlated_noise(clean.shape, seed=700 + index, axes=axes)
        results = {"noisy input": (noisy, 0.0, "")}
        for method, run in methods(budget, axes).items():
            results[method] = run(noisy)
        for method, (image, took, steps) in results.items():
            psnr, ssim = scores(clean, image)
            rows.append([case["name"], method, f"{psnr:.2f}", f"{ssim:.3f}", f"{took:.0f}", steps])
    return rows


def run(quick: bool = False) -> list[dict]:
    """Return the means and the per-case tables, noise correlated along rows, then along both axes."""
    names = ("cell",) if quick else (*HELD_APART_PHOTOS, *SCIENCE)
    size, budget = (128, 1.0) if quick else (512, BUDGET)
    rows, both = case_rows(size, budget, names), case_rows(size, budget, names, axes=(0, 1))
    images = (
        f"The real-image benchmark's images ({', '.join(names)}; central crops of at most "
        f"{size}x{size}, on [0, 1]) with Gaussian noise of standard deviation {255 * SIGMA:.0f}/255 "
    )
    note = images + (
        "correlated along X (white noise filtered by [0.5, 1, 0.5], rescaled: neighbours in a row "
        "correlate at 0.67, two apart at 0.17, rows do not). BM3D knows the noise: its standard "
        "deviation, or its power spectrum. Ours estimates it; 'whole image' is the prior without "
        "the split into interleaved phases; self-supervised training for "
        f"{budget:g} s with the recipe's defaults."
    )
    both_note = images + (
        "correlated along Y and X alike (white noise filtered by [0.5, 1, 0.5] along each, "
        "rescaled: neighbours correlate at 0.67 along both axes), as an interpolated or "
        "camera-processed image's may. The measure cannot tell it from texture, so by default the "
        "image stays whole ('whole image'); the noise report suggests noise strides "
        f"{BOTH_STRIDES[0]},{BOTH_STRIDES[1]} for it (`napari-autoencoders noise`), and the other "
        "rows are what a user who gives them gets (`--noise-strides`, the Train widget's *noise "
        f"strides*): the prior on the interleaved sets, and self-supervised training for {budget:g} s "
        "with the recipe's defaults otherwise."
    )
    header = ["image", "method", "PSNR (dB)", "SSIM", "seconds", "steps"]
    return [
        {"title": "Noise correlated along rows: mean per method", "note": note,
         "header": ["method", "PSNR (dB)", "SSIM", "images"], "rows": means(rows, digits=(2, 3))},
        {"title": "Noise correlated along rows: every case", "header": header, "rows": rows},
        {"title": "Noise correlated along both axes: mean per method", "note": both_note,
         "header": ["method", "PSNR (dB)", "SSIM", "images"], "rows": means(both, digits=(2, 3))},
        {"title": "Noise correlated along both axes: every case", "header": header, "rows": both},
    ]
