"""Denoising the channels of one image, each at its own photon level.

A fluorescence image's channels hold one camera's noise at different
brightness: a dim channel of 10 photons beside a bright one of 300. Each
channel is normalised on its own percentiles, so on that scale the dim
channel's shot noise is many times the bright one's, while the network
takes one noise model: training rescales the channels to one
(``calibration._equalize_channel_noise``). The science images of
:mod:`real_denoise` are stacked as the channels of one image, each with
Poisson noise at its photon level and a read noise of one photon, in
photons; each channel is scored on its own clean [0, 1] scale.
"""

from __future__ import annotations

import time

import numpy as np
from real_denoise import _crop, _grey, _unit, bm3d_gat, scores

from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.data.stabilization import NoiseModel
from napari_autoencoders.core.prior import denoise_image
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import Trainer

#: Each image: its channels (science image, photons for its intensity 1).
SETS = (
    (("cell", 10), ("moon", 30), ("hubble_deep_field", 100)),
    (("coins", 100), ("retina", 10), ("immunohistochemistry", 30)),
    (("hubble_deep_field", 30), ("cell", 30), ("moon", 300)),
    # a hundredfold brighter: brought to the channels' median read variance, the dim one's values
    # once dropped below its 1st percentile, where the inverse Anscombe transform clips
    (("hubble_deep_field", 10), ("cell", 1000)),
    (("moon", 10), ("immunohistochemistry", 300), ("cell", 3000)),
)
#: The camera's read noise, in photons.
READ_PHOTONS = 1.0
#: Self-supervised training's budget, in seconds: the recipe's default.
BUDGET = 120.0


def stacked(channels, size: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The clean channels on [0, 1] and the noisy image (Y, X, C) in photons."""
    cleans = [_unit(_crop(_grey(name), size)) for name, _ in channels]
    side = min(min(clean.shape) for clean in cleans)
    cleans = [clean[:side, :side] for clean in cleans]
    noisy = [add_noise(clean, f"poisson:{peak}+gaussian:{READ_PHOTONS / peak}", seed=seed + index) * peak
             for index, (clean, (_, peak)) in enumerate(zip(cleans, channels))]
    return cleans, np.stack(noisy, -1).astype(np.float32)


def together(noisy: np.ndarray, seconds: float) -> tuple[np.ndarray, float, str]:
    """Our recipe on the whole image (Y, X, C): the prior if ``seconds`` is 0, else trained."""
    start = time.perf_counter()
    trainer = Trainer(task_config("denoise", shape=noisy.shape, axes="YXC", time_budget=max(seconds, 1.0)),
                      noisy)
    if seconds > 0:
        for _ in trainer.run():
            pass
    out = trainer.result().predict(noisy, axes="YXC")
    steps = f"{trainer.history[-1]['step'] if trainer.history else 0:,}"
    return out, time.perf_counter() - start, steps


def rows(size: int, budget: float, sets) -> list[list[str]]:
    """One row per image, channel and method."""
    found = []
    for index, channels in enumerate(sets):
        cleans, noisy = stacked(channels, size, seed=500 + 10 * index)
        image = f"image {index + 1}"
        results = {"ours, prior, channels together": together(noisy, 0.0),
                   f"ours, self-supervised ({budget:g} s), channels together": together(noisy, budget)}
        for channel, (clean, (name, peak)) in enumerate(zip(cleans, channels)):
            plane = noisy[..., channel]
            noise = NoiseModel(1.0 / peak, (READ_PHOTONS / peak) ** 2)  # on the [0, 1] scale
            start = time.perf_counter()
            alone = denoise_image(plane)
            alone_took = time.perf_counter() - start
            start = time.perf_counter()
            classical = bm3d_gat(plane / peak, noise)
            methods = {
                "noisy input": (plane / peak, 0.0, ""),
                "BM3D + GAT (true noise)": (classical, time.perf_counter() - start, ""),
                "ours, prior, this channel alone": (alone / peak, alone_took, "0 (pretrained)"),
                **{method: (out[..., channel] / peak, took, steps)
                   for method, (out, took, steps) in results.items()},
            }
            for method, (result, took, steps) in methods.items():
                psnr, ssim = scores(clean, result)
                found.append([image, f"{name}, {peak:g} photons", method, f"{psnr:.2f}", f"{ssim:.3f}",
                              f"{took:.0f}", steps])
    return found


def means(found: list[list[str]]) -> list[list[str]]:
    """Mean PSNR and SSIM of each method over every channel."""
    methods = dict.fromkeys(row[2] for row in found)
    return [[method, f"{np.mean([float(r[3]) for r in found if r[2] == method]):.2f}",
             f"{np.mean([float(r[4]) for r in found if r[2] == method]):.3f}",
             str(sum(r[2] == method for r in found))] for method in methods]


def run(quick: bool = False) -> list[dict]:
    """Return the mean per method and the per-channel table."""
    size, budget, sets = (48, 1.0, SETS[:1]) if quick else (512, BUDGET, SETS)
    found = rows(size, budget, sets)
    note = (
        "The science images of the real-image benchmark stacked as the channels of one image "
        f"(central crops of at most {size}x{size}, cut to a common square), each channel with "
        f"Poisson noise at its photon level for intensity 1 and a read noise of {READ_PHOTONS:g} "
        "photon, in photons, fixed seeds: "
        + "; ".join(f"image {i + 1}: " + ", ".join(f"{n} at {p:g}" for n, p in s) for i, s in enumerate(sets))
        + ". Each channel is scored on its clean [0, 1] scale. BM3D after the generalised Anscombe "
        "transform gets each channel's true noise; ours estimates it: `this channel alone` is the "
        "prior on one channel at a time (the zero-shot path), `channels together` the recipe's "
        "defaults on the whole image, which rescale the channels to one noise model, untrained "
        f"(the prior) and after {budget:g} s of self-supervised training. Every ours predicts with "
        "the mean over the 8 rotations and flips."
    )
    return [
        {"title": "Denoising channels of different brightness: mean per method", "note": note,
         "header": ["method", "PSNR (dB)", "SSIM", "channels"], "rows": means(found)},
        {"title": "Denoising channels of different brightness: every channel",
         "header": ["image", "channel", "method", "PSNR (dB)", "SSIM", "seconds", "steps"], "rows": found},
    ]
