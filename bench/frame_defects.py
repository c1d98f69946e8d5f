"""Denoising the frames of a stack that share a camera's defective pixels: dim hot ones and dead ones.

A camera's defective pixels sit at the same place in every frame. Each
science image of :mod:`real_denoise` (its central crop) gives :data:`FRAMES`
frames of :data:`SIDE` pixels a side, each cut at its own offset of up to
:data:`DRIFT` pixels (a drifting stage), with Poisson-Gaussian noise at 30
photons for intensity 1 (fixed seeds). :data:`SHARE` of the pixels are
defective in every frame: half of them hot by :data:`LEAST` to :data:`MOST`
noise deviations at the stack's median (too dim for one frame's threshold
of 8), half dead (no photon, 0). Self-supervised training with the recipe's
defaults trains on the stack (axes ``SYX``) and predicts it; its frames are
also judged apart, as before their mean was (:func:`frames_apart`).
"""

from __future__ import annotations

import contextlib

import numpy as np
from defects import means, psnr
from real_denoise import SCIENCE, cases
from scipy import ndimage

from napari_autoencoders.core import calibration
from napari_autoencoders.core.data.defects import fill_defects
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.inference import prediction
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import Trainer

#: Frames per stack, their side and the largest offset between them, in pixels.
FRAMES, SIDE, DRIFT = 8, 256, 64
#: Share of the pixels defective, half hot and half dead.
SHARE = 0.001
#: A hot pixel's excess, in noise standard deviations at the stack's median: between these.
LEAST, MOST = 3.0, 10.0
#: Self-supervised training's budget, in seconds.
BUDGET = 30.0


def stack(clean: np.ndarray, spec: str, seed: int, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """:data:`FRAMES` clean and noisy frames (N, Y, X) of ``clean``, each at its own offset."""
    rng = np.random.default_rng(seed)
    drift = min(DRIFT, min(clean.shape) - side)
    offsets = rng.integers(0, drift + 1, (FRAMES, 2))
    frames = np.stack([clean[y:y + side, x:x + side] for y, x in offsets])
    noisy = np.stack([add_noise(frame, spec, seed=seed * 100 + f) for f, frame in enumerate(frames)])
    return frames, noisy.astype(np.float32)


def with_defects(noisy: np.ndarray, noise, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A copy of ``noisy`` (N, Y, X) with the same pixels of each frame hot or dead, and where (Y, X)."""
    rng = np.random.default_rng(seed)
    shape = noisy.shape[1:]
    spoilt = rng.random(shape) < SHARE
    hot = spoilt & (rng.random(shape) < 0.5)
    excess = rng.uniform(LEAST, MOST, shape) * noise.sigma(float(np.median(noisy)))
    out = np.where(hot, noisy + excess, np.where(spoilt, np.float32(0), noisy))
    return out.astype(np.float32), hot, spoilt & ~hot


@contextlib.contextmanager
def frames_apart():
    """Training and prediction judge each frame's defective pixels on its own, as before the frames' mean."""
    saved = calibration.fill_frame_defects, prediction._shared_in
    calibration.fill_frame_defects = fill_defects
    prediction._shared_in = lambda model, planes: np.zeros((0, 3), np.int64)
    try:
        yield
    finally:
        calibration.fill_frame_defects, prediction._shared_in = saved


def _trained(image: np.ndarray, budget: float) -> tuple[np.ndarray, str, str]:
    """Self-supervised training on the stack ``image`` (N, Y, X), its prediction, steps and pixels replaced."""
    config = task_config("denoise", shape=image.shape, time_budget=budget, axes="SYX")
    trainer = Trainer(config, image)
    for _ in trainer.run():
        pass
    steps = f"{trainer.history[-1]['step'] if trainer.history else 0:,}"
    out = trainer.result().predict(image, axes="SYX")
    return out, steps, f"{trainer.calibration.defects.hot} hot, {trainer.calibration.defects.dead} dead"


def case_rows(size: int, budget: float, science, side: int = SIDE) -> list[list[str]]:
    """A row per image and method: image, method, PSNR, PSNR near the defects, pixels replaced, steps."""
    rows = []
    for index, case in enumerate(cases(size, sigmas=(), peaks=(30,), science=science)):
        clean, noisy = stack(case["clean"], case["spec"], seed=index + 1, side=side)
        image, hot, dead = with_defects(noisy, case["noise"], seed=index + 1)
        near = np.broadcast_to(ndimage.binary_dilation(hot | dead, iterations=2), image.shape)
        made = f"{FRAMES * int(hot.sum())} hot, {FRAMES * int(dead.sum())} dead"

        def row(method, out, taken="", steps=""):
            return [case["name"], method, f"{psnr(clean, out):.2f}", f"{psnr(clean, out, near):.2f}", taken, steps]

        reference, steps, _ = _trained(noisy, budget)
        rows.append(row(f"ours, self-supervised ({budget:g} s), no defective pixels", reference, steps=steps))
        rows.append(row("noisy input with defective pixels", image, f"made: {made}"))
        with frames_apart():
            out, steps, taken = _trained(image, budget)
        rows.append(row(f"ours, self-supervised ({budget:g} s), frames judged apart", out, taken, steps))
        out, steps, taken = _trained(image, budget)
        rows.append(row(f"ours, self-supervised ({budget:g} s)", out, taken, steps))
    return rows


def run(quick: bool = False) -> list[dict]:
    """Return the mean per method and the per-image table."""
    size, budget, science, side = (128, 1.0, SCIENCE[:1], 64) if quick else (512, BUDGET, SCIENCE, SIDE)
    rows = case_rows(size, budget, science, side)
    note = (
        f"The science images of the real-image benchmark ({', '.join(science)}; central crops of at most "
        f"{size}x{size}), each as a stack of {FRAMES} frames of {side}x{side} cut at offsets of up to "
        f"{DRIFT} pixels (a drifting stage), Poisson-Gaussian noise at 30 photons for intensity 1 with "
        f"read noise, fixed seeds. The same {100 * SHARE:g} % of the pixels are defective in every frame: "
        f"half hot by {LEAST:g} to {MOST:g} noise deviations at the stack's median, half dead (0). "
        f"Self-supervised training with the recipe's defaults on the stack (axes SYX) for {budget:g} s, "
        "predicting it; 'frames judged apart' finds defective pixels in each frame alone, as before "
        "the frames' mean was also searched. PSNR against the clean frames over the whole stack and "
        "within 2 pixels of a defective pixel ('near'); 'replaced' counts a pixel once per frame."
    )
    header = ["method", "PSNR (dB)", "PSNR near them (dB)", "images"]
    every = ["image", "method", "PSNR (dB)", "PSNR near them (dB)", "replaced", "steps"]
    return [
        {"title": "Defective pixels shared by a stack's frames: mean per method", "note": note,
         "header": header, "rows": means(rows)},
        {"title": "Defective pixels shared by a stack's frames: every case", "header": every, "rows": rows},
    ]
