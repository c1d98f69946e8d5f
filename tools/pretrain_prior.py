"""Pretrain the Gaussian denoising prior shipped with the package.

Usage: ``python tools/pretrain_prior.py [--seconds 4500] [--init PATH --lr RATE] [--shapes F]
--output PATH`` (``make prior`` runs both stages of the shipped prior).

The prior is a residual U-Net trained on photographs that are *not* in the
benchmark's held-apart test set, with white Gaussian noise of one fixed
standard deviation (:data:`napari_autoencoders.core.prior.PRIOR_SIGMA`) and
random contrast: an image with noise sigma is scaled so its noise has the
prior's sigma, so one network covers every noise level.

With ``--shapes F`` a fraction F of the patches are dead-leaves images
(:func:`dead_leaves`): overlapping discs of flat grey with hard or slightly
blurred edges and a power-law size distribution. Photographs have few
perfectly flat regions and sharp steps; silhouettes, masks and fluorescence
images (flat background, bright objects) are full of them, and a prior
trained on photographs alone blurs their edges. ``--init`` continues from
saved weights (the second stage of the shipped prior). The shipped prior:
7,710 steps on photographs (4,500 s, one thread), then 5,570 steps with
``--shapes 0.3 --lr 3e-4`` (2,400 s, two threads).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib import cbook
from safetensors import safe_open
from scipy import ndimage as ndi
from skimage import color, data, draw, img_as_float32, io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_autoencoders.core.prior import (  # noqa: E402
    PRIOR_SIGMA,
    TRAINING_PHOTOS,
    load_prior,
    prior_network,
    save_prior,
)

SHAPE_IMAGES = 200  # dead-leaves images drawn once, 256 x 256 each
CONTRAST = (0.25, 6.0)  # log-uniform contrast range: noise sigma 1.7/255 .. 100/255 on [0, 1]


def training_images() -> list[np.ndarray]:
    """Grey float32 images in [0, 1]: the training photographs and Grace Hopper."""
    images = []
    for name in TRAINING_PHOTOS:
        image = img_as_float32(getattr(data, name)())
        if image.ndim == 3:
            images.append(img_as_float32(color.rgb2gray(image[..., :3])))
            images += [image[..., c] for c in range(3)]  # colour channels as more grey images
        else:
            images.append(image)
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = img_as_float32(io.imread(handle))
    images.append(img_as_float32(color.rgb2gray(hopper)))
    return images


def dead_leaves(rng: np.random.Generator, side: int = 256, radii=(3.0, 80.0)) -> np.ndarray:
    """A dead-leaves image (side, side) in [0, 1]: discs of random grey painted over each other.

    Radii follow a 1/r^3 density between ``radii`` (scale invariance); half
    the images are blurred by a Gaussian of sigma up to 1.5 px, half keep
    hard pixel edges.
    """
    image = np.full((side, side), rng.random(), dtype=np.float32)
    low, high = radii
    for _ in range(int(rng.integers(20, 400))):
        # inverse transform sampling of p(r) ~ r^-3 on [low, high]
        u = rng.random()
        radius = (low**-2 - u * (low**-2 - high**-2)) ** -0.5
        rows, cols = draw.disk(tuple(rng.uniform(0, side, 2)), radius, shape=image.shape)
        image[rows, cols] = rng.random()
    if rng.random() < 0.5:
        image = ndi.gaussian_filter(image, rng.uniform(0.3, 1.5))
    return image


def batch(images, rng, size: int, count: int, shapes=(), fraction: float = 0.0):
    """Random flipped/rotated patches with random contrast: (noisy, clean), each (B, 1, S, S).

    A ``fraction`` of the patches come from the ``shapes`` images, the rest from ``images``.
    """
    patches = []
    for _ in range(count):
        pool = shapes if shapes and rng.random() < fraction else images
        image = pool[rng.integers(len(pool))]
        y = rng.integers(image.shape[0] - size + 1)
        x = rng.integers(image.shape[1] - size + 1)
        patch = np.rot90(image[y : y + size, x : x + size], rng.integers(4))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        contrast = math.exp(rng.uniform(math.log(CONTRAST[0]), math.log(CONTRAST[1])))
        patches.append((patch - patch.mean()) * contrast)
    clean = torch.from_numpy(np.stack(patches)[:, None].astype(np.float32))
    clean = clean.contiguous(memory_format=torch.channels_last)
    noisy = clean + PRIOR_SIGMA * torch.randn(clean.shape)
    return noisy, clean


def _steps_done(path: Path) -> int:
    """The optimisation steps recorded in a saved prior's header."""
    with safe_open(str(path), framework="pt") as handle:
        return int(handle.metadata()["steps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4500)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--init", type=Path, help="continue from these weights")
    parser.add_argument("--lr", type=float, default=1e-3, help="initial learning rate")
    parser.add_argument("--shapes", type=float, default=0.0, help="fraction of dead-leaves images")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = training_images()
    shapes = [dead_leaves(rng) for _ in range(SHAPE_IMAGES)] if args.shapes > 0 else []
    network = load_prior(args.init).train() if args.init else prior_network()
    # channels-last convolutions run about 3x faster on CPU
    network = network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(network.parameters(), lr=args.lr)
    start, running = time.perf_counter(), 0.0
    step = _steps_done(args.init) if args.init else 0
    while (elapsed := time.perf_counter() - start) < args.seconds:
        fraction = elapsed / args.seconds
        for group in optimizer.param_groups:  # cosine decay to 1 % of the initial rate
            group["lr"] = args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction)))
        noisy, clean = batch(images, rng, args.patch, args.batch, shapes, args.shapes)
        loss = torch.nn.functional.mse_loss(network(noisy), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        running = 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0:
            psnr = 10 * math.log10(1 / max(running, 1e-12))
            print(f"step {step} {elapsed:.0f}s loss {running:.2e} ({psnr:.2f} dB)", flush=True)
            save_prior(network, args.output, steps=step)
    save_prior(network, args.output, steps=step)
    print(f"done: {step} steps in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
