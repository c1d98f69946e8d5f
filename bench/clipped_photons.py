"""Denoising photon counts clipped at zero: Poisson-Gaussian noise cut at 0 and 1.

The real-image benchmark's six science images (``real_denoise.SCIENCE``,
central crops, on [0, 1] as there) with Poisson noise of 10, 30 and 100
photons at intensity 1 and read noise of 0.01, fixed seeds, then clipped
to [0, 1], as a camera or a microscope whose offset puts zero photons at
0 and whose full well or 8-bit range ends at 1 records them. A dark
region then holds many values at exactly 0: every pixel that caught no
photon and drew negative read noise. Clipped Gaussian noise of a large
deviation explains its squashed variances as well, and fitted so, the
noise of hubble_deep_field at 10 photons was taken for sigma 0.13
everywhere; the share of each intensity's pixels at 0 tells them apart
(``core/data/stabilization.py``, ``_photons_clipped``). BM3D + GAT and
`true noise` are given the true noise model; ours estimates it.
"""

from __future__ import annotations

import numpy as np
from real_denoise import PEAKS, READ_NOISE, SCIENCE, bm3d_gat, cases, scores, train_denoise

from napari_autoencoders.core.prior import denoise_image

#: Self-supervised training's budget, in seconds (run at 10 photons only).
BUDGET = 120.0
#: Photons at intensity 1 where the self-supervised training runs.
TRAINED_PEAK = 10


def clipped_counts(clean: np.ndarray, photons: float, seed: int) -> np.ndarray:
    """``clean`` on [0, 1] as photon counts with read noise, back on [0, 1] and clipped there."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(clean * photons) / photons + READ_NOISE * rng.standard_normal(clean.shape)
    return np.clip(counts, 0.0, 1.0).astype(np.float32)


def _row(case: dict, photons: float, share: float, method: str, image: np.ndarray,
         steps: str = "") -> list[str]:
    """One table row: the case, the method, its PSNR and SSIM against the clean image, the steps."""
    psnr, ssim = scores(case["clean"], image)
    return [case["name"], f"{photons:g}", f"{100 * share:.1f}", method, f"{psnr:.2f}", f"{ssim:.3f}", steps]


def rows(size: int, peaks, science, budget: float) -> list[list[str]]:
    """One row per image, photon count and method."""
    found = []
    for index, case in enumerate(cases(size, sigmas=(), peaks=peaks, science=science)):
        photons = 1.0 / case["noise"].gain
        noisy = clipped_counts(case["clean"], photons, seed=400 + index)
        share = float(np.mean((noisy == 0) | (noisy == 1)))
        results = {
            "noisy input": noisy,
            "BM3D + GAT": bm3d_gat(noisy, case["noise"]),
            "ours, prior (zero-shot)": denoise_image(noisy),
            "ours, prior, true noise": denoise_image(noisy, case["noise"]),
        }
        found += [_row(case, photons, share, method, image) for method, image in results.items()]
        if photons == TRAINED_PEAK:  # training costs its budget: at one level only
            image, _, steps = train_denoise(noisy, noisy[None, None], budget)
            found.append(_row(case, photons, share, f"ours, self-supervised ({budget:g} s)", image, steps))
    return found


def run(quick: bool = False) -> list[dict]:
    """Return the table of clipped photon counts."""
    quick_run = (64, (TRAINED_PEAK,), SCIENCE[:1], 1.0)
    size, peaks, science, budget = quick_run if quick else (256, PEAKS, SCIENCE, BUDGET)
    note = (
        f"Science images: {', '.join(science)}, central crops of at most {size}x{size} on [0, 1]; "
        f"Poisson noise of {', '.join(map(str, peaks))} photons at 1 and read noise of "
        f"{READ_NOISE}, a seed per case, clipped to [0, 1]; `clipped %` is the share of pixels "
        "at 0 or 1. BM3D + GAT and `true noise` get the true noise model; ours estimates it. "
        f"Self-supervised training ({budget:g} s, the recipe's defaults) runs at "
        f"{TRAINED_PEAK} photons only. Every ours predicts with the mean over the 8 rotations "
        "and flips."
    )
    header = ["image", "photons", "clipped %", "method", "PSNR (dB)", "SSIM", "steps"]
    return [{"title": "Denoising photon counts clipped at zero", "note": note, "header": header,
             "rows": rows(size, peaks, science, budget)}]
