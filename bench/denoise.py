"""Denoising quality on a synthetic phantom and one photograph (secondary to ``real_denoise``).

Our three modes run with the recipe's defaults (what the Train widget and the
CLI do: each starts from the shipped prior) for a fixed time budget on 2 CPU
cores, beside a U-Net trained from scratch with blind-spot masking
(Noise2Void). ``synthetic`` and ``paired`` train on a *different* image of
the same kind (another phantom seed, another photograph); ``self-supervised``
and Noise2Void train on the noisy test image itself, as a microscopist
would. The photograph, camera, is one the prior never saw.
"""

from __future__ import annotations

import time

import bm3d
import numpy as np
from skimage import color, data, img_as_float32
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import denoise_nl_means

from napari_autoencoders.core.data.noise import add_noise, noise_sigma
from napari_autoencoders.core.data.stabilization import noise_model_of
from phantoms import fluorescence_phantom
from real_denoise import synthetic_spec, train_denoise

#: Test cases: name, clean test image, clean training image of the same kind, noise.
FLUORESCENCE_NOISE = "poisson:20+gaussian:0.02"
NATURAL_NOISE = "gaussian:0.1"
#: Our methods: the recipe's mode and its options.
METHODS = {
    "ours, self-supervised": ("self-supervised", {}),
    "ours, synthetic": ("synthetic", {}),
    "ours, paired": ("paired", {}),
    "Noise2Void, from scratch": ("self-supervised", {"pretrained": False}),
}


def cases(size: int) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """Return the benchmark images, cropped to ``size`` x ``size``."""
    camera = img_as_float32(data.camera())[:size, :size]
    other = img_as_float32(color.rgb2gray(data.astronaut()))[:size, :size]
    return [
        ("fluorescence phantom, Poisson-Gaussian", fluorescence_phantom((size, size), seed=0),
         fluorescence_phantom((size, size), seed=1), FLUORESCENCE_NOISE),
        ("camera, Gaussian sigma 0.1", camera, other, NATURAL_NOISE),
    ]


def train_and_denoise(method: str, noisy, train_clean, spec, seconds, seed=0):
    """Train one of :data:`METHODS` for ``seconds``, denoise ``noisy``: result, seconds, steps.

    The synthetic mode gets the test's noise on its training image's
    normalised scale (:func:`real_denoise.synthetic_spec`).
    """
    mode, options = METHODS[method]
    options = dict(options, mode=mode, seed=seed)
    if mode == "self-supervised":
        return train_denoise(noisy, noisy, seconds, **options)
    if mode == "synthetic":
        noise = synthetic_spec(noise_model_of(spec), train_clean)
        return train_denoise(noisy, train_clean, seconds, noise=noise, **options)
    inputs = add_noise(train_clean, spec, seed=seed + 7)
    return train_denoise(noisy, inputs, seconds, targets=train_clean, **options)


def quality_rows(size: int, seconds: float) -> list[list[str]]:
    """PSNR / SSIM of every method on every case, with the seconds and steps taken."""
    rows = []
    for name, clean, train_clean, spec in cases(size):
        noisy = add_noise(clean, spec, seed=1)
        sigma = noise_sigma(clean, spec)
        results = {"noisy input": (noisy, 0.0, "")}
        start = time.perf_counter()
        nlm = denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5)
        results["NL-means (true sigma)"] = (nlm, time.perf_counter() - start, "")
        start = time.perf_counter()
        results["BM3D (true sigma)"] = (
            bm3d.bm3d(noisy, sigma_psd=sigma), time.perf_counter() - start, ""
        )
        for method in METHODS:
            results[method] = train_and_denoise(method, noisy, train_clean, spec, seconds)
        for method, (image, took, steps) in results.items():
            rows.append([name, method, *_scores(clean, image), f"{took:.0f}", steps])
    return rows


def curve_rows(size: int, budgets: list[float]) -> list[list[str]]:
    """PSNR of the self-supervised mode against training seconds."""
    name, clean, _, spec = cases(size)[0]
    noisy = add_noise(clean, spec, seed=1)
    rows = []
    for seconds in budgets:
        out, _, steps = train_and_denoise("ours, self-supervised", noisy, None, spec, seconds)
        rows.append([name, f"{seconds:g}", *_scores(clean, out), steps])
    return rows


def _scores(clean: np.ndarray, image: np.ndarray) -> list[str]:
    psnr = peak_signal_noise_ratio(clean, image, data_range=1.0)
    ssim = structural_similarity(clean, image, data_range=1.0)
    return [f"{psnr:.2f}", f"{ssim:.3f}"]


def run(quick: bool = False) -> list[dict]:
    """Return the denoising tables (``quick``: tiny sizes for the smoke test)."""
    size, seconds = (48, 0.5) if quick else (512, 120.0)
    budgets = [0.5] if quick else [10.0, 30.0, 60.0, 120.0, 300.0]
    note = (
        "Secondary: a synthetic phantom and one photograph; the real-image section above is "
        "the headline. 'ours' runs the recipe's defaults (each mode starts from the shipped "
        "prior), Noise2Void is a U-Net from scratch with blind-spot masking; 'seconds' include "
        "prediction (the mean over 8 rotations and flips), 'steps' is the optimisation steps "
        "done. Synthetic and paired train on another phantom (seed 1) or photograph "
        "(astronaut); synthetic gets the test's noise on that image's normalised scale."
    )
    return [
        {
            "title": f"Denoising quality, {size}x{size} phantom and photograph (secondary), "
                     f"{seconds:g} s of training per mode",
            "note": note,
            "header": ["image, noise", "method", "PSNR (dB)", "SSIM", "seconds", "steps"],
            "rows": quality_rows(size, seconds),
        },
        {
            "title": "Self-supervised PSNR against training time (phantom, recipe defaults)",
            "header": ["image, noise", "training seconds", "PSNR (dB)", "SSIM", "steps"],
            "rows": curve_rows(size, budgets),
        },
    ]
