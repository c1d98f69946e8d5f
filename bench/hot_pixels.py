"""Denoising micrographs with hot pixels, as a camera's defective pixels are.

The science images of :mod:`real_denoise` at 30 photons (its cases and
noise seeds), with 0.1 % of the pixels made hot: each set to between
:data:`LEAST` and :data:`MOST` times the noisy image's 99.8th percentile.
Scored against the clean image over the whole image and within 2 pixels of
a hot pixel (the hot pixel included), for the prior alone without hot
pixels, with them kept (``denoise_image(..., hot_pixels=False)``, as before
they were looked for) and with them replaced (the default), and for
self-supervised training with the defaults.
"""

from __future__ import annotations

import numpy as np
from real_denoise import SCIENCE, _zero_shot, cases, train_denoise
from scipy import ndimage

from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.prior import denoise_image

#: Share of the pixels made hot.
SHARE = 0.001
#: Their values, times the noisy image's 99.8th percentile: between these.
LEAST, MOST = 1.5, 4.0
#: Self-supervised training's budget, in seconds.
BUDGET = 30.0


def with_hot_pixels(noisy: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``noisy`` with :data:`SHARE` of its pixels hot, and where they are."""
    rng = np.random.default_rng(seed)
    hot = rng.random(noisy.shape) < SHARE
    bright = np.percentile(noisy, 99.8)
    out = noisy.copy()
    out[hot] = bright * rng.uniform(LEAST, MOST, int(hot.sum()))
    return out, hot


def psnr(clean: np.ndarray, image: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR (data range 1) of ``image`` in [0, 1], over ``where`` or the whole image."""
    error = (np.clip(image, 0, 1) - clean) ** 2
    return float(10 * np.log10(1.0 / np.mean(error if where is None else error[where])))


def methods(budget: float) -> dict:
    """Each method: a function of the image with hot pixels, returning (result, steps)."""
    return {
        "ours, prior (zero-shot), hot pixels kept": lambda image: (denoise_image(image, hot_pixels=False), "0"),
        "ours, prior (zero-shot)": lambda image: (_zero_shot(image)[0], "0"),
        f"ours, self-supervised ({budget:g} s)": lambda image: train_denoise(image, image, budget)[::2],
    }


def case_rows(size: int, budget: float, science) -> list[list[str]]:
    """A row per image and method, the image without hot pixels first."""
    rows = []
    for index, case in enumerate(cases(size)):
        if case["name"] not in science or not case["group"].endswith("peak 30"):
            continue
        clean = case["clean"]
        noisy = add_noise(clean, case["spec"], seed=100 + index)
        image, hot = with_hot_pixels(noisy, seed=index)
        near = ndimage.binary_dilation(hot, iterations=2)
        reference = _zero_shot(noisy)[0]
        rows.append([case["name"], "ours, prior (zero-shot), no hot pixels",
                     f"{psnr(clean, reference):.2f}", f"{psnr(clean, reference, near):.2f}", "0"])
        rows.append([case["name"], "noisy input with hot pixels",
                     f"{psnr(clean, image):.2f}", f"{psnr(clean, image, near):.2f}", ""])
        for method, run in methods(budget).items():
            out, steps = run(image)
            rows.append([case["name"], method, f"{psnr(clean, out):.2f}", f"{psnr(clean, out, near):.2f}",
                         steps])
    return rows


def means(rows: list[list[str]], digits: tuple[int, int] = (2, 2)) -> list[list[str]]:
    """The mean of each method (column 1) over the images of columns 2 and 3, to ``digits`` decimals."""
    out = []
    for method in dict.fromkeys(row[1] for row in rows):
        mine = [row for row in rows if row[1] == method]
        values = (np.mean([float(row[i]) for row in mine]) for i in (2, 3))
        out.append([method, *(f"{value:.{d}f}" for value, d in zip(values, digits)), str(len(mine))])
    return out


def run(quick: bool = False) -> list[dict]:
    """Return the means and the per-case table."""
    size, budget, science = (128, 1.0, SCIENCE[:1]) if quick else (512, BUDGET, SCIENCE)
    rows = case_rows(size, budget, science)
    note = (
        f"The science images of the real-image benchmark ({', '.join(science)}; central crops of at "
        f"most {size}x{size}) at 30 photons for intensity 1, its noise seeds, with {100 * SHARE:g} % "
        f"of the pixels hot: each set to {LEAST:g} to {MOST:g} times the noisy image's 99.8th "
        "percentile. PSNR against the clean image over the whole image, and within 2 pixels of a "
        "hot pixel, itself included ('near'). Recipe defaults, noise estimated from the image; "
        f"self-supervised training for {budget:g} s."
    )
    return [
        {"title": "Hot pixels: mean per method", "note": note,
         "header": ["method", "PSNR (dB)", "PSNR near hot pixels (dB)", "images"], "rows": means(rows)},
        {"title": "Hot pixels: every case",
         "header": ["image", "method", "PSNR (dB)", "PSNR near hot pixels (dB)", "steps"], "rows": rows},
    ]
