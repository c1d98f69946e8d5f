"""Denoising images on a constant canvas: padding at a background, the least or the greatest value.

An image pasted onto a canvas (a stitched mosaic's empty tiles, a
registered frame's border, a crop padded to a size) holds regions with no
noise. The real-image benchmark's test photographs at Gaussian sigma 25
(of 255) and its science images at 30 photons, fixed noise seeds, are
padded by :data:`WIDTH` pixels each side with the noisy image's median,
its least value or its greatest (the last two once passed for clipping);
PSNR is measured on the image, without the canvas, against the clean one.
Self-supervised training runs with the recipe's defaults, on each padded
image alone and on the science images as one lazily read collection.
"""

from __future__ import annotations

import numpy as np
from real_denoise import SCIENCE, _zero_shot, cases, scores, train_denoise

from napari_autoencoders.core.data.collection import ImageCollection
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.prior import HELD_APART_PHOTOS
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import Trainer

#: Pixels of canvas on each side of the image.
WIDTH = 100
#: The canvases: name and the value they take from the noisy image.
CANVASES = {"no canvas": None, "median": np.median, "least value": np.min, "greatest value": np.max}
#: Self-supervised training's budget, in seconds.
BUDGET = 30.0


def padded(noisy: np.ndarray, canvas: str, width: int = WIDTH) -> np.ndarray:
    """``noisy`` (Y, X) on the canvas named ``canvas`` (a key of :data:`CANVASES`), ``width`` pixels a side."""
    fill = CANVASES[canvas]
    if fill is None:
        return noisy
    return np.pad(noisy, width, constant_values=float(fill(noisy)))


def _inner(image: np.ndarray, canvas: str, width: int) -> np.ndarray:
    """The image without its canvas."""
    return image if CANVASES[canvas] is None else image[width:-width, width:-width]


def _inputs(size: int, photos, science) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Each case: group, image name, clean image and noisy image (fixed seeds)."""
    found = []
    for index, case in enumerate(cases(size, sigmas=(25,), peaks=(30,), photos=photos, science=science)):
        group = "photographs, sigma 25" if case["noise"].is_gaussian else "micrographs, 30 photons"
        noisy = add_noise(case["clean"], case["spec"], seed=100 + index).astype(np.float32)
        found.append((group, case["name"], case["clean"], noisy))
    return found


def case_rows(size: int, budget: float, width: int, photos, science) -> list[list[str]]:
    """A row per image, canvas and method: group, image, canvas, method, PSNR, SSIM, steps."""
    rows = []
    for group, name, clean, noisy in _inputs(size, photos, science):
        for canvas in CANVASES:
            image = padded(noisy, canvas, width)
            results = {"ours, prior (zero-shot)": (_zero_shot(image)[0], "0")}
            if canvas in ("no canvas", "greatest value"):
                out, _, steps = train_denoise(image, image, budget)
                results[f"ours, self-supervised ({budget:g} s)"] = (out, steps)
            for method, (out, steps) in results.items():
                psnr, ssim = scores(clean, _inner(out, canvas, width))
                rows.append([group, name, canvas, method, f"{psnr:.2f}", f"{ssim:.3f}", steps])
    return rows


def collection_rows(size: int, budget: float, width: int, science) -> list[list[str]]:
    """The science images as one collection on each canvas, trained together: a row per canvas."""
    inputs = [(clean, noisy) for _, _, clean, noisy in _inputs(size, (), science)]
    rows = []
    for canvas in CANVASES:
        images = [padded(noisy, canvas, width) for _, noisy in inputs]
        config = task_config("denoise", shape=images[0].shape, time_budget=budget)
        trainer = Trainer(config, ImageCollection(images, "YX"))
        for _ in trainer.run():
            pass
        model = trainer.result()
        psnrs = [scores(clean, _inner(model.predict(image, axes="YX"), canvas, width))[0]
                 for (clean, _), image in zip(inputs, images)]
        steps = f"{trainer.history[-1]['step'] if trainer.history else 0:,}"
        rows.append([canvas, f"ours, self-supervised ({budget:g} s), one collection", f"{np.mean(psnrs):.2f}",
                     str(len(images)), steps])
    return rows


def means(rows: list[list[str]]) -> list[list[str]]:
    """The mean PSNR and SSIM of each group, canvas and method, over its images."""
    out = []
    for key in dict.fromkeys((row[0], row[2], row[3]) for row in rows):
        mine = [row for row in rows if (row[0], row[2], row[3]) == key]
        psnr, ssim = (np.mean([float(row[i]) for row in mine]) for i in (4, 5))
        out.append([*key, f"{psnr:.2f}", f"{ssim:.3f}", str(len(mine))])
    return out


def run(quick: bool = False) -> list[dict]:
    """Return the means, the collection rows and the per-case table."""
    if quick:
        size, budget, width, photos, science = 64, 1.0, 16, HELD_APART_PHOTOS[:1], SCIENCE[:1]
    else:
        size, budget, width, photos, science = 512, BUDGET, WIDTH, HELD_APART_PHOTOS, SCIENCE
    rows = case_rows(size, budget, width, photos, science)
    note = (
        f"The real-image benchmark's test photographs ({', '.join(photos)}) at Gaussian sigma 25 and its "
        f"science images ({', '.join(science)}) at 30 photons, central crops of at most {size}x{size}, fixed "
        f"noise seeds, padded by {width} pixels each side with the noisy image's median, least or greatest "
        "value. PSNR and SSIM on the image, the canvas left out. The prior predicts with the mean over the "
        f"8 rotations and flips; self-supervised training (recipe defaults, {budget:g} s) runs without a "
        "canvas and on the greatest value, the canvas once taken for saturation."
    )
    collection_note = (
        f"The science images at 30 photons, each on the same kind of canvas, as one collection read lazily "
        f"(`ImageCollection`), trained together for {budget:g} s; mean PSNR over them, the canvas left out."
    )
    header = ["group", "canvas", "method", "PSNR (dB)", "SSIM", "images"]
    return [
        {"title": "Images on a canvas: mean per group", "note": note, "header": header, "rows": means(rows)},
        {"title": "Images on a canvas: one collection", "note": collection_note,
         "header": ["canvas", "method", "PSNR (dB)", "images", "steps"],
         "rows": collection_rows(size, budget, width, science)},
        {"title": "Images on a canvas: every case",
         "header": ["group", "image", "canvas", "method", "PSNR (dB)", "SSIM", "steps"], "rows": rows},
    ]
