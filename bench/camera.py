"""Denoising the same photons as a camera's counts: its gain and offset must not matter.

Microscopes hand over raw counts: each photon worth some ADU above a dark
offset (near 100 ADU on many sCMOS cameras), as unsigned integers. The
science images of :mod:`real_denoise` at its photon levels (its cases and
noise seeds) are denoised twice: on that benchmark's scale, where zero
photons lie at 0, and as the counts ``round(GAIN * photons + OFFSET)`` in
uint16, then mapped back and scored the same way.
"""

from __future__ import annotations

import numpy as np
from real_denoise import PEAKS, SCIENCE, _zero_shot, cases, scores, train_denoise

from napari_autoencoders.core.data.noise import add_noise

#: ADU per photon, and the counts of zero photons.
GAIN, OFFSET = 2.0, 100.0
#: Self-supervised training's budget, in seconds: the scale is on trial, not the time.
BUDGET = 30.0


def camera_counts(noisy: np.ndarray, photons: float) -> np.ndarray:
    """``noisy`` (1 is ``photons`` photons) as a camera's uint16 counts."""
    return np.clip(np.round(GAIN * photons * noisy + OFFSET), 0, 65535).astype(np.uint16)


def from_counts(counts: np.ndarray, photons: float) -> np.ndarray:
    """Counts back on the benchmark's scale (the inverse of :func:`camera_counts`)."""
    return (np.asarray(counts, dtype=np.float32) - OFFSET) / (GAIN * photons)


def methods(budget: float) -> dict:
    """Our methods, each a function of a noisy image returning (result, seconds, steps)."""
    return {
        "ours, prior (zero-shot)": _zero_shot,
        f"ours, self-supervised ({budget:g} s)": lambda noisy: train_denoise(noisy, noisy, budget),
    }


def case_rows(size: int, budget: float, peaks, science) -> tuple[list[list[str]], list[list[str]]]:
    """Per-case rows (both scales) and the per-method means over the cases.

    The cases of :mod:`real_denoise` at ``peaks`` photons on the ``science``
    images, with the noise seeds they have there.
    """
    rows, gains = [], {}
    for index, case in enumerate(cases(size)):
        photons = 0.0 if case["noise"].is_gaussian else round(1.0 / case["noise"].gain)
        if photons not in peaks or case["name"] not in science:
            continue
        noisy = add_noise(case["clean"], case["spec"], seed=100 + index)
        for method, run in methods(budget).items():
            if "self-supervised" in method and photons != 30:
                continue  # training costs its budget: at 30 photons only
            plain, _, _ = run(noisy)
            counted, _, steps = run(camera_counts(noisy, photons))
            psnr = scores(case["clean"], plain)[0]
            psnr_counts = scores(case["clean"], from_counts(counted, photons))[0]
            gains.setdefault((f"{photons:g}", method), []).append((psnr, psnr_counts))
            rows.append([f"{photons:g}", case["name"], method, f"{psnr:.2f}",
                         f"{psnr_counts:.2f}", f"{psnr_counts - psnr:+.2f}", str(steps)])
    means = [[peak, method, f"{np.mean([p for p, _ in v]):.2f}",
              f"{np.mean([c for _, c in v]):.2f}", str(len(v))]
             for (peak, method), v in gains.items()]
    return rows, means


def run(quick: bool = False) -> list[dict]:
    """Return the means and the per-case table."""
    size, budget, peaks, science = (128, 1.0, (30,), SCIENCE[:1]) if quick else (512, BUDGET, PEAKS, SCIENCE)
    rows, means = case_rows(size, budget, peaks, science)
    note = (
        f"The science images of the real-image benchmark ({', '.join(science)}; central crops of at most "
        f"{size}x{size}), its Poisson-Gaussian noise and seeds, at {', '.join(map(str, peaks))} "
        f"photons for intensity 1; 'counts': the same noisy image as a camera's uint16 counts, "
        f"{GAIN:g} ADU per photon above an offset of {OFFSET:g} ADU, denoised as they are and "
        "mapped back before scoring. Recipe defaults, noise estimated from the image; "
        f"self-supervised training for {budget:g} s, at 30 photons only ('steps' is on the counts)."
    )
    return [
        {"title": "Camera counts: mean per photon level", "note": note,
         "header": ["photons", "method", "PSNR, benchmark scale (dB)", "PSNR, counts (dB)",
                    "images"], "rows": means},
        {"title": "Camera counts: every case",
         "header": ["photons", "image", "method", "PSNR, benchmark scale (dB)",
                    "PSNR, counts (dB)", "difference (dB)", "steps"], "rows": rows},
    ]
