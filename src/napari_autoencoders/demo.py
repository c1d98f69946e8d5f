"""The main job, headless: denoise the bundled noisy fluorescence sample.

Trains a denoiser on the noisy image alone with the defaults of the
``denoise`` task (the shipped prior fine-tuned self-supervised), writes the
denoised image, the model and a screenshot of a napari viewer showing input
and output under ``demo_output/``, and prints the PSNR against the clean
reference before and after. Run it with ``make demo`` or
``python -m napari_autoencoders.demo``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio
from tqdm import tqdm

from .core.io.images import write_image
from .core.io.model_files import save_model
from .core.inference.prediction import predict
from .core.recipes import task_config
from .core.training import Trainer
from .sample_data import noisy_fluorescence


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m napari_autoencoders.demo")
    parser.add_argument("--time-budget", type=float, default=60.0, help="training seconds")
    parser.add_argument("--output", type=Path, default=Path("demo_output"))
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    (noisy, *_), (clean, *_) = noisy_fluorescence()
    config = task_config("denoise", shape=noisy.shape, time_budget=args.time_budget)
    trainer = Trainer(config, noisy)
    with tqdm(total=100, desc="training", unit="%", bar_format="{l_bar}{bar}| {postfix}") as bar:
        for event in trainer.run():
            bar.n = int(100 * event.fraction)
            bar.set_postfix_str(f"step {event.step} loss {event.loss:.4f}", refresh=False)
            bar.refresh()
    model = trainer.result()
    denoised = predict(model, noisy)

    save_model(model, args.output / "denoiser.safetensors")
    write_image(args.output / "denoised.tif", denoised)
    screenshot(noisy, denoised, args.output / "viewer.png")

    data_range = float(clean.max() - clean.min())
    before = peak_signal_noise_ratio(clean, noisy.astype(np.float32), data_range=data_range)
    after = peak_signal_noise_ratio(clean, denoised, data_range=data_range)
    epochs = model.history[-1]["epoch"] if model.history else 0
    print(f"trained {epochs} epochs ({trainer.config.training.time_budget:.0f} s budget)")
    print(f"PSNR noisy    {before:6.2f} dB")
    print(f"PSNR denoised {after:6.2f} dB  (+{after - before:.2f} dB)")
    print(f"outputs in {args.output}/: denoised.tif, denoiser.safetensors, viewer.png")
    return 0


def screenshot(noisy: np.ndarray, denoised: np.ndarray, path: Path) -> None:
    """Save a PNG of a napari viewer showing ``noisy`` and ``denoised`` side by side."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True, title="napari-autoencoders demo")
    try:
        viewer.window.resize(1400, 760)
        limits = [float(np.percentile(denoised, 0.5)), float(np.percentile(denoised, 99.8))]
        viewer.add_image(noisy, name="noisy fluorescence", contrast_limits=limits)
        viewer.add_image(denoised, name="noisy fluorescence denoised", contrast_limits=limits)
        viewer.canvas.grid.enabled = True
        QApplication.processEvents()  # let the window take its size before fitting the view
        viewer.reset_view()
        viewer.screenshot(str(path), canvas_only=False)
    finally:
        viewer.close()


if __name__ == "__main__":
    sys.exit(main())
