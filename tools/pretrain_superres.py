"""Pretrain the super-resolution priors shipped with the package, one per factor.

Usage: ``python tools/pretrain_superres.py --factor 2 [--seconds 2700] --output PATH``
(``make superres-priors``).

Each prior is the recipe's own super-resolution network trained by the
recipe's own ``from-highres`` training (area-averaged low-resolution copies,
percentile normalisation), only much longer, on 256x256 tiles of the
images of :data:`napari_autoencoders.core.prior.SUPERRES_TRAINING_IMAGES`,
none of which is a test image of ``bench/superres_real.py``.

The shipped x2 prior ran the default 2,700 s (17,099 steps, 3 trainings
sharing 2 cores); x3 and x4 ran with ``--patience 20`` and stopped at 4,150
and 3,350 steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from matplotlib import cbook
from skimage import color, data, img_as_float32, io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import napari_autoencoders as nae  # noqa: E402
from napari_autoencoders.core.prior import SUPERRES_TRAINING_IMAGES, save_prior  # noqa: E402

TILE = 256
#: Tiles kept of one image, evenly spread, so that the large retina does not dominate.
MAX_TILES = 9


def load(name: str) -> np.ndarray:
    """Image ``name`` as grey (Y, X) float32: scikit-image's, ``name:C`` its channel C."""
    if name == "grace_hopper":
        with cbook.get_sample_data("grace_hopper.jpg") as handle:
            return img_as_float32(color.rgb2gray(io.imread(handle)))
    base, _, channel = name.partition(":")
    image = getattr(data, base)()
    if channel:
        image = image[..., int(channel)]
    elif image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    return img_as_float32(image.astype(np.float32) if image.dtype == bool else image)


def tiles(image: np.ndarray, size: int = TILE) -> list[np.ndarray]:
    """Whole ``size`` x ``size`` tiles of ``image``, at most :data:`MAX_TILES`, evenly spread."""
    height, width = image.shape
    every = [
        image[y : y + size, x : x + size]
        for y in range(0, height - size + 1, size)
        for x in range(0, width - size + 1, size)
    ]
    return every[:: -(-len(every) // MAX_TILES)] if every else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=2700)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--patience", type=int, default=10**6,
        help="stop after this many epochs without a better validation loss (default: never)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stack = np.stack(
        [tile for name in SUPERRES_TRAINING_IMAGES for tile in tiles(load(name))]
    )
    print(f"{len(stack)} tiles of {TILE}x{TILE}", flush=True)
    model = nae.train(
        stack, task="superres", mode="from-highres", axes="SYX", factor=args.factor,
        time_budget=args.seconds, patience=args.patience, pretrained=False,
    )  # fmt: skip
    steps = model.history[-1]["step"]
    save_prior(model.network, args.output, steps=steps)
    best = min(entry["val_loss"] for entry in model.history)
    print(f"done: {steps} steps, best validation loss {best:.3e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
