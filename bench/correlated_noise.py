"""Denoising real images whose noise correlates along rows, as a camera read out line by line makes it.

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
training with the recipe's defaults.
"""

from __future__ import annotations

import time

import bm3d
import numpy as np
from hot_pixels import means
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


def correlated_noise(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Gaussian noise (Y, X) of standard deviation :data:`SIGMA` correlated along X by :data:`KERNEL`."""
    white = np.random.default_rng(seed).normal(0.0, SIGMA, shape)
    return ndimage.convolve1d(white, KERNEL, axis=1, mode="wrap").astype(np.float32)


def noise_spectrum(shape: tuple[int, int]) -> np.ndarray:
    """The power spectrum of :func:`correlated_noise` as BM3D takes it (its mean: the variance times the pixels)."""
    kernel = np.zeros(shape)
    kernel[0, : KERNEL.size] = KERNEL
    return np.abs(np.fft.fft2(kernel)) ** 2 * SIGMA**2 * kernel.size


def _timed(function, image):
    start = time.perf_counter()
    return function(image), time.perf_counter() - start


def methods(budget: float) -> dict:
    """Each method: a function of the noisy image, returning (result, seconds, steps)."""
    return {
        "BM3D, white-noise sigma": lambda image: (*_timed(lambda x: bm3d.bm3d(x, SIGMA), image), ""),
        "BM3D, true noise spectrum": lambda image: (
            *_timed(lambda x: bm3d.bm3d(x, noise_spectrum(x.shape)), image), ""),
        "ours, prior (zero-shot), whole image": lambda image: (
            *_timed(lambda x: denoise_image(x, strides=(1, 1)), image), "0 (pretrained)"),
        "ours, prior (zero-shot)": _zero_shot,
        f"ours, self-supervised ({budget:g} s)": lambda image: train_denoise(image, image, budget),
    }


def case_rows(size: int, budget: float, names) -> list[list[str]]:
    """A row per image and method: PSNR, SSIM, seconds, steps."""
    rows, seen = [], set()
    for index, case in enumerate(cases(size)):
        if case["name"] not in names or case["name"] in seen:
            continue
        seen.add(case["name"])
        clean = case["clean"]
        noisy = clean + correlated_noise(clean.shape, seed=700 + index)
        results = {"noisy input": (noisy, 0.0, "")}
        for method, run in methods(budget).items():
            results[method] = run(noisy)
        for method, (image, took, steps) in results.items():
            psnr, ssim = scores(clean, image)
            rows.append([case["name"], method, f"{psnr:.2f}", f"{ssim:.3f}", f"{took:.0f}", steps])
    return rows


def run(quick: bool = False) -> list[dict]:
    """Return the means and the per-case table."""
    names = ("cell",) if quick else (*HELD_APART_PHOTOS, *SCIENCE)
    size, budget = (128, 1.0) if quick else (512, BUDGET)
    rows = case_rows(size, budget, names)
    note = (
        f"The real-image benchmark's images ({', '.join(names)}; central crops of at most "
        f"{size}x{size}, on [0, 1]) with Gaussian noise of standard deviation {255 * SIGMA:.0f}/255 "
        "correlated along X (white noise filtered by [0.5, 1, 0.5], rescaled: neighbours in a row "
        "correlate at 0.67, two apart at 0.17, rows do not). BM3D knows the noise: its standard "
        "deviation, or its power spectrum. Ours estimates it; 'whole image' is the prior without "
        "the split into interleaved phases; self-supervised training for "
        f"{budget:g} s with the recipe's defaults."
    )
    return [
        {"title": "Noise correlated along rows: mean per method", "note": note,
         "header": ["method", "PSNR (dB)", "SSIM", "images"], "rows": means(rows, digits=(2, 3))},
        {"title": "Noise correlated along rows: every case",
         "header": ["image", "method", "PSNR (dB)", "SSIM", "seconds", "steps"], "rows": rows},
    ]
