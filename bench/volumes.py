"""3D against 2D-per-plane denoising of volumes, at equal training time.

Two clean volumes that install offline: scikit-image's ``binary_blobs`` in
3D, and a phantom of nuclei (ellipsoids) and filaments (3D curves); both are
blurred by a point spread function longer in Z than in Y and X, as a
widefield microscope's, so every structure spans several planes. Poisson-
Gaussian noise is added, and each network trains self-supervised on the
noisy volume itself, for the same number of seconds: the 2D U-Net plane by
plane (from scratch, as the 3D one; and the default, the pretrained prior),
the 3D U-Net on boxes of planes (with the recipe's defaults,
what ``--3d`` changes on the command line).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from skimage import data, draw, filters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import fit

#: The noise of a camera at a low photon count.
NOISE = "poisson:20+gaussian:0.02"
#: Standard deviation of the Gaussian point spread function (Z, Y, X), in voxels.
PSF_SIGMA = (2.0, 1.0, 1.0)


def blobs_volume(shape: tuple[int, int, int], *, seed: int = 0) -> np.ndarray:
    """Blurred 3D binary blobs, float32 in [0.05, 0.95], of ``shape`` (Z, Y, X).

    The blobs are about an eighth of the largest side across, so many planes.
    """
    length = max(shape)
    blobs = data.binary_blobs(length, blob_size_fraction=0.12, n_dim=3, volume_fraction=0.3, rng=seed)
    crop = blobs[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    return _rescale(filters.gaussian(crop, sigma=PSF_SIGMA, mode="reflect"))


def nuclei_volume(shape: tuple[int, int, int], *, seed: int = 0) -> np.ndarray:
    """Nuclei and filaments, blurred, float32 in [0.05, 0.95], of ``shape`` (Z, Y, X).

    Nuclei are ellipsoids of 5 to 9 voxels' radius with a smooth texture;
    filaments are smooth random curves that wander through the planes.
    """
    rng = np.random.default_rng(seed)
    volume = np.zeros(shape, np.float32)
    texture = filters.gaussian(rng.random(shape), sigma=2) * 2
    count = max(2, int(np.prod(shape) / 16**3 / 4))
    for _ in range(count):
        centre = [rng.uniform(0, size) for size in shape]
        radii = rng.uniform(5, 9, 3)
        inside = draw.ellipsoid(*radii)  # a box around the ellipsoid
        region = tuple(
            slice(max(0, int(c - r) - 1), min(size, int(c - r) - 1 + extent))
            for c, r, size, extent in zip(centre, radii, shape, inside.shape)
        )
        corner = [int(c - r) - 1 for c, r in zip(centre, radii)]
        part = inside[tuple(slice(s.start - k, s.stop - k) for s, k in zip(region, corner))]
        volume[region] = np.maximum(volume[region], part * (0.5 + texture[region]))
    for _ in range(max(2, count // 2)):
        points = _curve(shape, rng)
        for start, stop in itertools.pairwise(points):
            voxels = draw.line_nd(start, stop, endpoint=True)
            volume[voxels] = np.maximum(volume[voxels], 0.8)
    return _rescale(filters.gaussian(volume, sigma=PSF_SIGMA, mode="reflect"))


def _curve(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Integer points (K, 3) of a smooth random walk inside ``shape``."""
    steps = rng.normal(size=(40, 3)).cumsum(axis=0) * 0.6 + rng.normal(size=3) * 2
    points = rng.uniform(0, 1, 3) * np.array(shape) + steps.cumsum(axis=0) * 0.3
    return np.clip(np.round(points), 0, np.array(shape) - 1).astype(int)


def _rescale(volume: np.ndarray) -> np.ndarray:
    """Map ``volume`` to [0.05, 0.95]: a dim background, and headroom below 1 for the noise."""
    low, high = volume.min(), volume.max()
    return (0.05 + 0.9 * (volume - low) / (high - low)).astype(np.float32)


#: The two 2D rows: the same U-Net as the 3D one, from scratch; and the default, the prior.
SCRATCH_2D = "2D U-Net from scratch, plane by plane"
PRIOR_2D = "2D prior fine-tuned, plane by plane (default)"


def denoise(noisy: np.ndarray, *, seconds: float, **options) -> tuple[np.ndarray, float]:
    """Train self-supervised on ``noisy`` (Z, Y, X) for ``seconds``; the result and the seconds taken."""
    config = task_config("denoise", shape=noisy.shape, axes="ZYX", time_budget=seconds, **options)
    start = time.perf_counter()
    result = predict(fit(config, noisy), noisy)
    return result, time.perf_counter() - start


def _scores(clean: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    psnr = peak_signal_noise_ratio(clean, image, data_range=1.0)
    ssim = structural_similarity(clean, image, data_range=1.0)
    return psnr, ssim


def rows(shape: tuple[int, int, int], seconds: float) -> tuple[list[list[str]], list[list[str]]]:
    """Scores of each method on each volume, and the 3D network's gain in PSNR."""
    scores, gains = [], []
    for name, make in (("3D blobs", blobs_volume), ("nuclei and filaments", nuclei_volume)):
        clean = make(shape, seed=0)
        noisy = add_noise(clean, NOISE, seed=1)
        results = {"noisy input": (noisy, 0.0)}
        results[SCRATCH_2D] = denoise(noisy, seconds=seconds, pretrained=False)
        results[PRIOR_2D] = denoise(noisy, seconds=seconds)
        results["3D U-Net"] = denoise(noisy, seconds=seconds, three_d=True)
        psnr = {}
        for method, (image, took) in results.items():
            psnr[method], ssim = _scores(clean, image)
            scores.append([name, method, f"{psnr[method]:.2f}", f"{ssim:.3f}", f"{took:.0f}"])
        gains.append([name, f"{psnr['3D U-Net'] - psnr[SCRATCH_2D]:+.2f}",
                      f"{psnr['3D U-Net'] - psnr[PRIOR_2D]:+.2f}"])  # fmt: skip
    return scores, gains


def run(quick: bool = False) -> list[dict]:
    """Return the 3D table and the gain table (``quick``: tiny sizes for the smoke test)."""
    shape, seconds = ((8, 32, 32), 1.0) if quick else ((32, 128, 128), 60.0)
    scores, gains = rows(shape, seconds)
    size = "x".join(map(str, shape))
    return [
        {
            "title": f"3D against 2D-per-plane denoising, {size} (ZYX), {seconds:g} s of training each",
            "note": (
                f"Noise {NOISE}; point spread function sigma {PSF_SIGMA} voxels (Z, Y, X). "
                "Self-supervised training on the noisy volume; seconds include prediction."
            ),
            "header": ["volume", "method", "PSNR (dB)", "SSIM", "seconds"],
            "rows": scores,
        },
        {
            "title": "3D gain over 2D-per-plane at equal training time",
            "header": ["volume", "over the 2D U-Net from scratch (dB)", "over the 2D prior (dB)"],
            "rows": gains,
        },
    ]
