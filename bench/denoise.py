"""Denoising quality: our three modes against the noisy input, NL-means and BM3D.

Each mode trains for a fixed time budget on 2 CPU cores. ``synthetic`` and
``paired`` train on a *different* image of the same kind (another phantom
seed, another natural photograph); ``self-supervised`` trains on the noisy
test image itself, as a microscopist would.
"""

from __future__ import annotations

import time

import bm3d
import numpy as np
from skimage import color, data, img_as_float32
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import denoise_nl_means

from napari_autoencoders.core.config import Config, DataConfig, TrainingConfig
from napari_autoencoders.core.data.noise import add_noise, noise_sigma
from phantoms import fluorescence_phantom
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.training import fit

#: Test cases: name, clean test image, clean training image of the same kind, noise.
FLUORESCENCE_NOISE = "poisson:20+gaussian:0.02"
NATURAL_NOISE = "gaussian:0.1"


def cases(size: int) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """Return the benchmark images, cropped to ``size`` x ``size``."""
    camera = img_as_float32(data.camera())[:size, :size]
    other = img_as_float32(color.rgb2gray(data.astronaut()))[:size, :size]
    return [
        ("fluorescence phantom, Poisson-Gaussian", fluorescence_phantom((size, size), seed=0),
         fluorescence_phantom((size, size), seed=1), FLUORESCENCE_NOISE),
        ("camera, Gaussian sigma 0.1", camera, other, NATURAL_NOISE),
    ]


def train_and_denoise(mode: str, noisy, train_clean, spec, seconds, seed=0) -> np.ndarray:
    """Train one of our modes for ``seconds`` and denoise ``noisy``."""
    training = TrainingConfig(mode=mode, noise=spec, time_budget=seconds, epochs=10**6, seed=seed)
    config = Config(data=DataConfig(patch_size=min(64, *noisy.shape)), training=training)
    if mode == "self-supervised":
        model = fit(config, noisy)
    elif mode == "synthetic":
        model = fit(config, train_clean)
    else:
        model = fit(config, add_noise(train_clean, spec, seed=seed + 7), train_clean)
    return predict(model, noisy)


def quality_rows(size: int, seconds: float) -> list[list[str]]:
    """PSNR / SSIM of every method on every case."""
    rows = []
    for name, clean, train_clean, spec in cases(size):
        noisy = add_noise(clean, spec, seed=1)
        sigma = noise_sigma(clean, spec)
        results = {"noisy input": (noisy, 0.0)}
        start = time.perf_counter()
        nlm = denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5)
        results["NL-means (true sigma)"] = (nlm, time.perf_counter() - start)
        start = time.perf_counter()
        results["BM3D (true sigma)"] = (bm3d.bm3d(noisy, sigma_psd=sigma), time.perf_counter() - start)
        for mode in ("self-supervised", "synthetic", "paired"):
            start = time.perf_counter()
            out = train_and_denoise(mode, noisy, train_clean, spec, seconds)
            results[f"ours, {mode}"] = (out, time.perf_counter() - start)
        for method, (image, took) in results.items():
            rows.append([name, method, *_scores(clean, image), f"{took:.0f}"])
    return rows


def curve_rows(size: int, budgets: list[float]) -> list[list[str]]:
    """PSNR of the self-supervised mode against training seconds."""
    name, clean, _, spec = cases(size)[0]
    noisy = add_noise(clean, spec, seed=1)
    rows = []
    for seconds in budgets:
        out = train_and_denoise("self-supervised", noisy, None, spec, seconds)
        rows.append([name, f"{seconds:g}", *_scores(clean, out)])
    return rows


def _scores(clean: np.ndarray, image: np.ndarray) -> list[str]:
    psnr = peak_signal_noise_ratio(clean, image, data_range=1.0)
    ssim = structural_similarity(clean, image, data_range=1.0)
    return [f"{psnr:.2f}", f"{ssim:.3f}"]


def run(quick: bool = False) -> list[dict]:
    """Return the denoising tables (``quick``: tiny sizes for the smoke test)."""
    size, seconds = (48, 0.5) if quick else (512, 120.0)
    budgets = [0.5] if quick else [10.0, 30.0, 60.0, 120.0, 300.0]
    return [
        {
            "title": f"Denoising quality, {size}x{size}, {seconds:g} s of training per mode",
            "header": ["image, noise", "method", "PSNR (dB)", "SSIM", "seconds"],
            "rows": quality_rows(size, seconds),
        },
        {
            "title": "Self-supervised PSNR against training time",
            "header": ["image, noise", "training seconds", "PSNR (dB)", "SSIM"],
            "rows": curve_rows(size, budgets),
        },
    ]
