"""Pretrain the Gaussian denoising prior shipped with the package.

Usage: ``python tools/pretrain_prior.py [--seconds 4500] --output PATH`` (``make prior``).

The prior is a residual U-Net trained on photographs that are *not* in the
benchmark's held-apart test set, with white Gaussian noise of one fixed
standard deviation (:data:`napari_autoencoders.core.prior.PRIOR_SIGMA`) and
random contrast: an image with noise sigma is scaled so its noise has the
prior's sigma, so one network covers every noise level.
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
from skimage import color, data, img_as_float32, io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_autoencoders.core.prior import (  # noqa: E402
    PRIOR_SIGMA,
    TRAINING_PHOTOS,
    prior_network,
    save_prior,
)

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


def batch(images, rng, size: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flipped/rotated patches with random contrast: (noisy, clean), each (B, 1, S, S)."""
    patches = []
    for _ in range(count):
        image = images[rng.integers(len(images))]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4500)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = training_images()
    # channels-last convolutions run about 3x faster on CPU
    network = prior_network().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    start, step, running = time.perf_counter(), 0, 0.0
    while (elapsed := time.perf_counter() - start) < args.seconds:
        fraction = elapsed / args.seconds
        for group in optimizer.param_groups:  # cosine decay to 1 % of the initial rate
            group["lr"] = 1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction)))
        noisy, clean = batch(images, rng, args.patch, args.batch)
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
