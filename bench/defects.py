"""Denoising micrographs with a camera's defective pixels: hot ones and dead ones.

The science images of :mod:`real_denoise` (its cases and noise seeds) with
0.1 % of the pixels defective. Hot, at 30 photons: each set to between
:data:`LEAST` and :data:`MOST` times the noisy image's 99.8th percentile.
Dead, at :data:`DEAD_PEAKS` photons: each reads no photon (0). Scored against
the clean image over the whole image and within 2 pixels of a defective
pixel (itself included), for the prior alone without defective pixels, with
them kept (``denoise_image(..., defects=False)``, as before they were looked
for) and with them replaced (the default), and for self-supervised training
with the defaults; with the count of pixels the noise report
(:func:`~napari_autoencoders.core.noise_report.noise_report`, the
trainer's fit) takes for defective.
"""

from __future__ import annotations

import numpy as np
from real_denoise import SCIENCE, _zero_shot, cases, train_denoise
from scipy import ndimage

from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.noise_report import noise_report
from napari_autoencoders.core.prior import denoise_image

#: Share of the pixels made defective.
SHARE = 0.001
#: Hot pixels' values, times the noisy image's 99.8th percentile: between these.
LEAST, MOST = 1.5, 4.0
#: Photons for intensity 1 in the dead-pixel cases: a dead pixel is told from
#: noise only where its neighbours collect some 50 photons or more.
DEAD_PEAKS = (100, 300)
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


def with_dead_pixels(noisy: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``noisy`` with :data:`SHARE` of its pixels dead (0, no photon), and where they are."""
    dead = np.random.default_rng(seed).random(noisy.shape) < SHARE
    return np.where(dead, np.float32(0), noisy).astype(noisy.dtype), dead


def psnr(clean: np.ndarray, image: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR (data range 1) of ``image`` in [0, 1], over ``where`` or the whole image."""
    error = (np.clip(image, 0, 1) - clean) ** 2
    return float(10 * np.log10(1.0 / np.mean(error if where is None else error[where])))


def methods(budget: float, kind: str) -> dict:
    """Each method: a function of the image with defective pixels, returning (result, steps)."""
    return {
        f"ours, prior (zero-shot), {kind} pixels kept": lambda image: (
            denoise_image(image, defects=False), "0"),
        "ours, prior (zero-shot)": lambda image: (_zero_shot(image)[0], "0"),
        f"ours, self-supervised ({budget:g} s)": lambda image: train_denoise(image, image, budget)[::2],
    }


def case_rows(size: int, budget: float, science, kind: str, peak: int) -> list[list[str]]:
    """A row per image and method at ``peak`` photons, the image without defective pixels first.

    ``kind`` is 'hot' or 'dead'; each row: image, method, PSNR, PSNR near
    the defective pixels, pixels taken for that kind (of those made so), steps.
    """
    spoil = with_hot_pixels if kind == "hot" else with_dead_pixels
    rows = []
    for index, case in enumerate(cases(size)):
        if case["name"] not in science or not case["group"].endswith("peak 30"):
            continue
        clean = case["clean"]
        noisy = add_noise(clean, case["spec"].replace("poisson:30", f"poisson:{peak}"), seed=100 + index)
        image, spoilt = spoil(noisy, seed=index)
        near = ndimage.binary_dilation(spoilt, iterations=2)
        found = getattr(noise_report(image, axes="YX").defects, kind)
        reference = _zero_shot(noisy)[0]
        name = case["name"] if kind == "hot" else f"{case['name']}, {peak} photons"
        rows.append([name, f"ours, prior (zero-shot), no {kind} pixels",
                     f"{psnr(clean, reference):.2f}", f"{psnr(clean, reference, near):.2f}", "", "0"])
        rows.append([name, f"noisy input with {kind} pixels", f"{psnr(clean, image):.2f}",
                     f"{psnr(clean, image, near):.2f}", f"{found} of {int(spoilt.sum())}", ""])
        for method, run in methods(budget, kind).items():
            out, steps = run(image)
            rows.append([name, method, f"{psnr(clean, out):.2f}", f"{psnr(clean, out, near):.2f}", "", steps])
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
    """Return the means and the per-case tables: hot pixels, then dead pixels at each peak."""
    size, budget, science = (128, 1.0, SCIENCE[:1]) if quick else (512, BUDGET, SCIENCE)
    images = (f"The science images of the real-image benchmark ({', '.join(science)}; central crops "
              f"of at most {size}x{size})")
    common = (
        "PSNR against the clean image over the whole image, and within 2 pixels of a defective pixel, "
        "itself included ('near'). Recipe defaults, noise estimated from the image; self-supervised "
        f"training for {budget:g} s. 'taken' is how many pixels the noise fit (the `noise` command's) "
        "takes for that kind, of those made so."
    )
    hot = case_rows(size, budget, science, "hot", 30)
    dead = [row for peak in DEAD_PEAKS for row in case_rows(size, budget, science, "dead", peak)]
    hot_note = (
        f"{images} at 30 photons for intensity 1, its noise seeds, with {100 * SHARE:g} % of the pixels "
        f"hot: each set to {LEAST:g} to {MOST:g} times the noisy image's 99.8th percentile. {common}"
    )
    dead_note = (
        f"{images} at {' and '.join(map(str, DEAD_PEAKS))} photons for intensity 1, the same noise seeds, "
        f"with {100 * SHARE:g} % of the pixels dead: each reads 0, no photon. {common}"
    )
    header = ["method", "PSNR (dB)", "PSNR near them (dB)", "images"]
    every = ["image", "method", "PSNR (dB)", "PSNR near them (dB)", "taken", "steps"]
    dead_means = [[str(peak), *row] for peak in DEAD_PEAKS
                  for row in means([r for r in dead if r[0].endswith(f", {peak} photons")])]
    return [
        {"title": "Hot pixels: mean per method", "note": hot_note, "header": header, "rows": means(hot)},
        {"title": "Hot pixels: every case", "header": every, "rows": hot},
        {"title": "Dead pixels: mean per method", "note": dead_note, "header": ["photons", *header],
         "rows": dead_means},
        {"title": "Dead pixels: every case", "header": every, "rows": dead},
    ]
