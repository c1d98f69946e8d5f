"""Denoising clipped noise: 8-bit images whose noisy values were cut at 0 and 255.

Grey photographs the denoising prior never saw (camera, chelsea, gravel,
horse) and two 8-bit science images (moon, coins), central crops of at
most 512x512 in [0, 1], with white Gaussian noise of sigma 15, 25 and 50
(of 255), fixed seeds, then clipped to [0, 1] and rounded to 8 bits, as an
8-bit camera or image file holds them. Clipping squashes the noise near 0
and 1: the noise estimate finds less noise and a spurious shot-noise term,
and every denoiser, which averages noisy values, returns their clipped
mean, brightened near 0 and darkened near 1. Ours fits the noise as
clipped Gaussian noise and maps its result back through the clipped mean
(``core/data/clipping.py``); "clipping ignored" is the prior without that.
A second table does the same to the RGB images of ``bench/colour.py``
against CBM3D, at sigma 25 and 50, with our self-supervised training.
"""

from __future__ import annotations

import time

import bm3d
import numpy as np
from colour import self_supervised
from real_denoise import _crop, _grey, scores, train_denoise
from skimage import data, img_as_float32

from napari_autoencoders.core.data.clipping import declip
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.prior import HELD_APART_PHOTOS, denoise_image

IMAGES = (*HELD_APART_PHOTOS, "moon", "coins")
#: RGB images the prior never saw (those of ``bench/colour.py``).
COLOUR_IMAGES = ("chelsea", "immunohistochemistry", "retina")
SIGMAS = (15, 25, 50)
#: Self-supervised training's budget, in seconds (run at sigma 25 only).
BUDGET = 120.0


def clipped_noisy(clean: np.ndarray, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The noisy image as floats, and clipped and rounded to 8 bits (uint8)."""
    noisy = add_noise(clean, f"gaussian:{sigma:.6f}", seed=seed)
    return noisy, np.clip(np.round(255 * noisy), 0, 255).astype(np.uint8)


def _row(name: str, sigma_255: int, share: str, method: str, clean: np.ndarray, image: np.ndarray,
         took: float, steps: str = "", channel_axis: int | None = None) -> list[str]:
    """One table row: the case, the method, its PSNR and SSIM against ``clean``, seconds and steps."""
    psnr, ssim = scores(clean, image, channel_axis=channel_axis)
    return [name, str(sigma_255), share, method, f"{psnr:.2f}", f"{ssim:.3f}", f"{took:.0f}", steps]


def _timed_rows(case: tuple, methods: dict, clean: np.ndarray, channel_axis: int | None = None) -> list[list[str]]:
    """A row for each of ``methods`` (name: function returning the result), timed; each costs its whole pipeline."""
    found = []
    for method, run_method in methods.items():
        start = time.perf_counter()
        image = run_method()
        found.append(_row(*case, method, clean, image, time.perf_counter() - start, channel_axis=channel_axis))
    return found


def _clipped_percent(eight_bit: np.ndarray) -> str:
    return f"{100 * np.mean((eight_bit == 0) | (eight_bit == 255)):.1f}"


def _cases(images, load, size: int, sigmas, first_seed: int):
    """Each image (``load(name)``, cropped) at each sigma (of 255), clipped to 8 bits.

    Yields the row's case (name, sigma of 255, share clipped), sigma, the
    clean image, the noisy one before clipping, the 8-bit one, and that on [0, 1].
    """
    for index, name in enumerate(images):
        clean = _crop(load(name), size)
        for sigma_255 in sigmas:
            sigma = sigma_255 / 255
            unclipped, eight_bit = clipped_noisy(clean, sigma, seed=first_seed + index)
            case = (name, sigma_255, _clipped_percent(eight_bit))
            yield case, sigma, clean, unclipped, eight_bit, eight_bit / np.float32(255)


def _classical(name: str, denoise, noisy: np.ndarray, sigma: float) -> dict:
    """The noisy input, ``denoise(noisy, sigma)`` (BM3D or CBM3D, true sigma), and that declipped."""
    return {
        "noisy input": lambda: noisy,
        name: lambda: denoise(noisy, sigma),
        f"{name}, declipped": lambda: declip(denoise(noisy, sigma), sigma, 0.0, 1.0),
    }


def rows(size: int, budget: float, images, sigmas) -> list[list[str]]:
    """One row per grey image, noise level and method."""
    found = []
    for case, sigma, clean, unclipped, eight_bit, noisy in _cases(images, _grey, size, sigmas, 200):
        methods = {
            **_classical("BM3D", bm3d.bm3d, noisy, sigma),
            "ours, prior, clipping ignored": lambda: denoise_image(eight_bit, clipping=False) / 255,
            "ours, prior (zero-shot)": lambda: denoise_image(eight_bit) / 255,
            "ours, prior, the same noise unclipped": lambda: denoise_image(unclipped),
        }
        found += _timed_rows(case, methods, clean)
        if case[1] == 25:  # training costs its budget: at one level only
            image, took, steps = train_denoise(eight_bit, eight_bit[None, None], budget)
            found.append(_row(*case, f"ours, self-supervised ({budget:g} s)", clean, image / 255, took, steps))
    return found


def colour_rows(size: int, budget: float, images, sigmas) -> list[list[str]]:
    """One row per RGB image, noise level and method: CBM3D and our self-supervised training."""
    found = []
    rgb = lambda name: img_as_float32(getattr(data, name)())  # noqa: E731
    for case, sigma, clean, _, eight_bit, noisy in _cases(images, rgb, size, sigmas, 300):
        found += _timed_rows(case, _classical("CBM3D", bm3d.bm3d_rgb, noisy, sigma), clean, channel_axis=-1)
        image, took, steps, colours = self_supervised(eight_bit, budget)
        method = f"ours, self-supervised ({budget:g} s), {'opponent colours' if colours else 'channel by channel'}"
        found.append(_row(*case, method, clean, image / 255, took, steps, channel_axis=-1))
    return found


def run(quick: bool = False) -> list[dict]:
    """Return the clipped-noise table."""
    quick_run = (64, 1.0, IMAGES[:1], (25,), COLOUR_IMAGES[:1], (25,))
    full_run = (512, BUDGET, IMAGES, SIGMAS, COLOUR_IMAGES, (25, 50))
    size, budget, images, sigmas, colour_images, colour_sigmas = quick_run if quick else full_run
    note = (
        f"Grey 8-bit images the denoising prior never saw: {', '.join(images)} (central crops of "
        f"at most {size}x{size}); white Gaussian noise of sigma {', '.join(map(str, sigmas))} "
        "(of 255), seed per image, clipped to [0, 255] and rounded to 8 bits; `clipped %` is the "
        "share of pixels at 0 or 255. BM3D gets the true sigma, and `BM3D, declipped` maps its "
        "result back through the clipped mean with it (Foi 2009); ours estimates the noise. "
        "`clipping ignored` is our prior as it was before clipping was modelled; `the same noise "
        "unclipped` is our prior on the same noise before clipping and rounding, the ceiling. "
        f"Self-supervised training ({budget:g} s, the recipe's defaults) runs at sigma 25 only; "
        "where 1 % of the pixels or more are clipped it keeps the prior (no step), and it declips. "
        "Every ours predicts with the mean over the 8 rotations and flips."
    )
    colour_note = (
        f"RGB images the prior never saw: {', '.join(colour_images)} (central crops of at most "
        f"{size}x{size}), the same noise in each channel (seed per image), clipped and rounded to "
        "8 bits. CBM3D gets the true sigma (declipped with it in the second row); ours, "
        f"self-supervised for {budget:g} s with the recipe's defaults, estimates it, and says "
        "whether it chose opponent colours."
    )
    header = ["image", "sigma (of 255)", "clipped %", "method", "PSNR (dB)", "SSIM", "seconds", "steps"]
    return [{"title": "Denoising clipped noise", "note": note, "header": header,
             "rows": rows(size, budget, images, sigmas)},
            {"title": "Denoising clipped colour images", "note": colour_note, "header": header,
             "rows": colour_rows(size, budget, colour_images, colour_sigmas)}]
