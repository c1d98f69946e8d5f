"""Denoising colour images: ours against BM3D channel by channel and CBM3D.

The RGB images of scikit-image that the denoising prior never saw: the
photograph chelsea and the slides immunohistochemistry and retina (central
crops of at most 512x512, as they are in [0, 1]), with white Gaussian
noise of sigma 25 and 50 (of 255) in every channel, fixed seeds. BM3D and
CBM3D (its colour version, which denoises in an opponent colour space)
get the true sigma; ours estimates it. Three channels of Gaussian noise
that share their structure are denoised as opponent colours
(``model.opponent_colours``); `channel by channel` is the prior without it.
"""

from __future__ import annotations

import dataclasses
import time

import bm3d
import numpy as np
import torch
from real_denoise import _crop, scores
from skimage import data, img_as_float32

from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.inference.prediction import symmetry_mean
from napari_autoencoders.core.prior import PRIOR_CONFIG, pretrained_network
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import Trainer

IMAGES = ("chelsea", "immunohistochemistry", "retina")
SIGMAS = (25, 50)
#: Self-supervised training's budget, in seconds: the recipe's default.
BUDGET = 120.0


def prior_colours(noisy: np.ndarray, sigma: float, opponent: bool) -> np.ndarray:
    """The prior alone on (Y, X, 3) with the true ``sigma``, the mean over the 8 orientations."""
    planes = np.moveaxis(noisy, -1, 0)[None]
    norm = Normalizer.fit(planes)
    sigmas = sigma / (np.asarray(norm.high) - np.asarray(norm.low))  # each channel's on its scale
    common = float(np.median(sigmas))
    norm = norm.rescaled(sigmas / common)  # one noise level in every channel, as the trainer makes it
    config = dataclasses.replace(PRIOR_CONFIG, in_channels=3, out_channels=3,
                                 noise_variance=common**2, opponent_colours=opponent)
    network = pretrained_network(config).eval()
    with torch.inference_mode():
        out = symmetry_mean(network, torch.from_numpy(norm.normalize(planes))).numpy()
    return np.moveaxis(norm.denormalize(out)[0], 0, -1)


def self_supervised(noisy: np.ndarray, seconds: float) -> tuple[np.ndarray, float, str, bool]:
    """Train with the recipe's defaults on (Y, X, 3); the result, seconds, steps, and colours chosen."""
    start = time.perf_counter()
    trainer = Trainer(task_config("denoise", shape=noisy.shape, axes="YXC", time_budget=seconds), noisy)
    for _ in trainer.run():
        pass
    out = trainer.result().predict(noisy, axes="YXC")
    steps = f"{trainer.history[-1]['step'] if trainer.history else 0:,}"
    return out, time.perf_counter() - start, steps, trainer.config.model.opponent_colours


def rows(size: int, budget: float, images, sigmas) -> list[list[str]]:
    """One row per image, noise level and method."""
    found = []
    for index, name in enumerate(images):
        clean = _crop(img_as_float32(getattr(data, name)()), size)
        for sigma_255 in sigmas:
            sigma = sigma_255 / 255
            noisy = (clean + np.random.default_rng(index).normal(0, sigma, clean.shape)).astype(np.float32)

            def row(method: str, image: np.ndarray, took: float, steps: str = "") -> list[str]:
                psnr, ssim = scores(clean, image, channel_axis=-1)
                return [name, str(sigma_255), method, f"{psnr:.2f}", f"{ssim:.3f}", f"{took:.0f}", steps]

            methods = {
                "noisy input": lambda: noisy,
                "BM3D, channel by channel": lambda: np.stack(
                    [bm3d.bm3d(noisy[..., c], sigma) for c in range(3)], -1),
                "CBM3D": lambda: bm3d.bm3d_rgb(noisy, sigma),
                "ours, prior, channel by channel": lambda: prior_colours(noisy, sigma, False),
                "ours, prior, opponent colours": lambda: prior_colours(noisy, sigma, True),
            }
            for method, run_method in methods.items():
                start = time.perf_counter()
                image = run_method()
                found.append(row(method, image, time.perf_counter() - start))
            if sigma_255 == sigmas[0]:  # training costs its budget: at the first level only
                image, took, steps, colours = self_supervised(noisy, budget)
                chosen = "opponent colours" if colours else "channel by channel"
                found.append(row(f"ours, self-supervised ({budget:g} s), {chosen}", image, took, steps))
    return found


def run(quick: bool = False) -> list[dict]:
    """Return the colour table."""
    quick_run = (48, 1.0, IMAGES[:1], SIGMAS[:1])
    size, budget, images, sigmas = quick_run if quick else (512, BUDGET, IMAGES, SIGMAS)
    note = (
        f"RGB images the denoising prior never saw: {', '.join(images)} (central crops of at "
        f"most {size}x{size}); white Gaussian noise of sigma {', '.join(map(str, sigmas))} (of 255) "
        "in each channel, seed per image. BM3D and CBM3D get the true sigma, and the prior rows "
        "too (on the trainer's normalised scale, the channels rescaled to one noise level); ours, "
        f"self-supervised, estimates it and trains {budget:g} s (the recipe's defaults) at sigma "
        f"{sigmas[0]} only; it says whether it chose opponent colours. Every ours predicts with "
        "the mean over the 8 rotations and flips."
    )
    return [{"title": "Denoising colour images", "note": note,
             "header": ["image", "sigma (of 255)", "method", "PSNR (dB)", "SSIM", "seconds", "steps"],
             "rows": rows(size, budget, images, sigmas)}]
