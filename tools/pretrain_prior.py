"""Pretrain the Gaussian denoising prior shipped with the package.

Usage: ``python tools/pretrain_prior.py [--seconds 4500] [--init PATH --lr RATE] [--shapes F]
[--poisson F] [--fluorescence] --output PATH`` (``make prior`` runs the four stages of the
shipped prior).

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
saved weights (the later stages of the shipped prior). With
``--fluorescence`` half of those synthetic images are fluorescence-like
instead (:func:`fluorescence`: nuclei, spots and filaments on a dim
background) and the photographs gain :func:`more_images`.

With ``--poisson F`` a fraction F of the batches have Poisson-Gaussian noise
instead (:func:`poisson_batch`), passed through the generalised Anscombe
transform as the U-Net does on such data: the transform's noise is not quite
Gaussian of variance 1 where counts are low, and the unbiased inverse needs
the network to predict a value (:func:`stable_target`) other than the
transform of the clean counts. The shipped prior: 7,710 steps on
photographs (4,500 s, one thread), then 5,570 steps with ``--shapes 0.3 --lr
3e-4`` (2,400 s, two threads), then 5,000 steps with ``--shapes 0.3
--poisson 0.5 --lr 2e-4`` (2,100 s, two threads), then 11,289 steps with ``--shapes 0.4
--fluorescence --poisson 0.5 --lr 2e-4`` (3,600 s, two threads).
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
from skimage import color, data, draw, exposure, img_as_float32, io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_autoencoders.core.data.stabilization import gat, inverse_gat  # noqa: E402
from napari_autoencoders.core.prior import (  # noqa: E402
    PRIOR_SIGMA,
    TRAINING_PHOTOS,
    load_prior,
    prior_network,
    save_prior,
)

SHAPE_IMAGES = 200  # dead-leaves images drawn once, 256 x 256 each
CONTRAST = (0.25, 6.0)  # log-uniform contrast range: noise sigma 1.7/255 .. 100/255 on [0, 1]
PEAKS = (2.0, 300.0)  # log-uniform photon counts of a Poisson-Gaussian patch's brightest pixel
GAMMA = (0.7, 3.0)  # log-uniform gamma of the clean patch: above 1, dark backgrounds
READ_NOISE = 0.05  # the largest read noise standard deviation, as a fraction of the peak


def training_images() -> list[np.ndarray]:
    """Grey float32 images in [0, 1]: the training photographs and Grace Hopper."""
    images = [grey for name in TRAINING_PHOTOS for grey in grey_and_channels(getattr(data, name)())]
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = img_as_float32(io.imread(handle))
    images.append(img_as_float32(color.rgb2gray(hopper)))
    return images


def grey_and_channels(image: np.ndarray) -> list[np.ndarray]:
    """Grey float32 images in [0, 1] from a picture: itself if grey, else its grey and 3 channels.

    A colour photograph's channels serve as more grey images of the same scene.
    """
    image = img_as_float32(image)
    if image.ndim == 2:
        return [image]
    return [img_as_float32(color.rgb2gray(image[..., :3]))] + [image[..., c] for c in range(3)]


def more_images() -> list[np.ndarray]:
    """More grey float32 images in [0, 1] for the fourth stage, none of them a test image.

    scikit-image's stereo motorcycle pair (grey and each colour channel),
    matplotlib's MRI slice (``s1045.ima.gz``), its terrain elevation map and
    the Shepp-Logan phantom: indoor scenes, a medical image, a smooth
    field and flat regions that the first photographs lack.
    """
    images = [grey for photo in data.stereo_motorcycle()[:2] for grey in grey_and_channels(photo)]
    with cbook.get_sample_data("s1045.ima.gz") as handle:  # 256 x 256, big-endian uint16
        mri = np.frombuffer(handle.read(), ">u2").reshape(256, 256).astype(np.float32)
    with cbook.get_sample_data("jacksboro_fault_dem.npz") as handle:
        terrain = handle["elevation"].astype(np.float32)
    unit = [exposure.rescale_intensity(image, out_range=(0.0, 1.0)) for image in (mri, terrain)]
    return images + unit + [img_as_float32(data.shepp_logan_phantom())]


def fluorescence(rng: np.random.Generator, side: int = 256) -> np.ndarray:
    """A fluorescence-like image (side, side) in [0, 1]: nuclei, spots and filaments on a dim background.

    Each kind of object (:func:`_nuclei`, :func:`_spots`, :func:`_filaments`)
    is present with probability 2/3. Microscopy and astronomy images are made
    of such objects on flat or slowly varying backgrounds, which photographs
    rarely show.
    """
    image = np.zeros((side, side), np.float32)
    for objects in (_nuclei, _spots, _filaments):
        if rng.random() < 2 / 3:
            image += objects(rng, side)
    background = ndi.gaussian_filter(rng.standard_normal(image.shape), 40.0)
    image += rng.uniform(0.0, 0.1) + rng.uniform(0.0, 0.1) * background.astype(np.float32) / (
        np.abs(background).max() + 1e-6)
    return np.clip(image / max(float(image.max()), 1e-6), 0.0, 1.0).astype(np.float32)


def _nuclei(rng: np.random.Generator, side: int) -> np.ndarray:
    """Up to 39 ellipses (side, side) with textured insides and soft edges."""
    image = np.zeros((side, side), np.float32)
    for _ in range(int(rng.integers(1, 40))):
        axes = rng.uniform(3.0, 25.0, 2)
        rows, cols = draw.ellipse(*rng.uniform(0, side, 2), *axes, shape=image.shape,
                                  rotation=rng.uniform(0, np.pi))
        image[rows, cols] = np.maximum(image[rows, cols], rng.uniform(0.2, 1.0))
    texture = ndi.gaussian_filter(rng.standard_normal(image.shape), rng.uniform(1.0, 3.0))
    image *= 1.0 + rng.uniform(0.0, 3.0) * texture.astype(np.float32)
    return ndi.gaussian_filter(image, rng.uniform(0.5, 2.0))


def _spots(rng: np.random.Generator, side: int) -> np.ndarray:
    """Point sources (side, side) of capped Pareto brightness, blurred by a Gaussian PSF."""
    spots = np.zeros((side, side), np.float32)
    count = int(rng.integers(1, 300))
    rows, cols = rng.integers(0, side, (2, count))
    spots[rows, cols] = np.minimum(0.05 * (1.0 + rng.pareto(1.5, count)), 3.0)
    return ndi.gaussian_filter(spots, rng.uniform(0.7, 2.5)) * 20.0


def _filaments(rng: np.random.Generator, side: int) -> np.ndarray:
    """Smooth random walks (side, side) of steps of 5 pixels, each ending where it leaves the image."""
    lines = np.zeros((side, side), np.float32)
    for _ in range(int(rng.integers(1, 30))):
        position, heading = rng.uniform(0, side, 2), rng.uniform(0, 2 * np.pi)
        brightness = rng.uniform(0.2, 1.0)
        for _ in range(int(rng.integers(10, 60))):
            heading += rng.normal(0.0, 0.3)
            step = position + 5.0 * np.array([np.sin(heading), np.cos(heading)])
            if not (0 <= step.min() and step.max() <= side - 1):
                break
            rows, cols = draw.line(*position.astype(int), *step.astype(int))
            lines[rows, cols] = brightness
            position = step
    return ndi.gaussian_filter(lines, rng.uniform(0.7, 2.0)) * 2.0


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


def random_patch(images, rng, size: int, shapes=(), fraction: float = 0.0) -> np.ndarray:
    """A random (size, size) patch, randomly rotated and flipped.

    It comes from one of the ``shapes`` images with probability
    ``fraction``, else from one of ``images``.
    """
    pool = shapes if shapes and rng.random() < fraction else images
    image = pool[rng.integers(len(pool))]
    y = rng.integers(image.shape[0] - size + 1)
    x = rng.integers(image.shape[1] - size + 1)
    patch = np.rot90(image[y : y + size, x : x + size], rng.integers(4))
    return patch[:, ::-1] if rng.random() < 0.5 else patch


def batch(images, rng, size: int, count: int, shapes=(), fraction: float = 0.0):
    """Random flipped/rotated patches with random contrast: (noisy, clean), each (B, 1, S, S).

    A ``fraction`` of the patches come from the ``shapes`` images, the rest from ``images``.
    """
    patches = []
    for _ in range(count):
        patch = random_patch(images, rng, size, shapes, fraction)
        contrast = math.exp(rng.uniform(math.log(CONTRAST[0]), math.log(CONTRAST[1])))
        patches.append((patch - patch.mean()) * contrast)
    clean = torch.from_numpy(np.stack(patches)[:, None].astype(np.float32))
    clean = clean.contiguous(memory_format=torch.channels_last)
    noisy = clean + PRIOR_SIGMA * torch.randn(clean.shape)
    return noisy, clean


def stable_target(counts: torch.Tensor, read_variance: torch.Tensor) -> torch.Tensor:
    """The stabilised value that :func:`inverse_gat` maps to ``counts`` (gain 1).

    Denoising in the Anscombe domain then inverting with the unbiased inverse
    is right only if the network predicts this value, not the transform of
    the clean counts. The inverse increases from its zero crossing on, so a
    table inverts it; ``read_variance`` broadcasts against ``counts``.
    """
    wanted = counts + read_variance  # exact(target) - read variance = counts
    # a fixed step, so a value's target does not depend on the largest one beside it;
    # the table reaches past the largest wanted value (exact(d) is about d**2 / 4)
    grid = torch.arange(0.8, 2.0 * (wanted.max().item() + 10.0) ** 0.5 + 4.0, 1e-3)
    exact = inverse_gat(grid, 1.0, 0.0)  # 0 up to its zero crossing, increasing after it
    start = int((exact > 0).nonzero()[0]) - 1
    grid, exact = grid[start:], exact[start:]
    wanted = wanted.clamp(min=exact[0].item())
    index = torch.searchsorted(exact, wanted.contiguous()).clamp(1, len(grid) - 1)
    low, high = exact[index - 1], exact[index]
    weight = (wanted - low) / (high - low)
    return grid[index - 1] + weight * (grid[index] - grid[index - 1])


def poisson_batch(images, rng, size: int, count: int, shapes=(), fraction: float = 0.0):
    """Patches with Poisson-Gaussian noise, stabilised and scaled as the U-Net does.

    Each clean patch in [0, 1] is raised to a random gamma (dark backgrounds,
    as in fluorescence), scaled to a random peak count and corrupted by
    Poisson noise plus Gaussian read noise; the generalised Anscombe transform
    with the true parameters makes the noise about Gaussian of variance 1,
    and, as :meth:`UNet.denoise_stable` does, each patch is centred and scaled
    by ``PRIOR_SIGMA``. Returns (noisy, target), each (B, 1, S, S).
    """
    clean, noisy, reads = [], [], []
    for _ in range(count):
        patch = random_patch(images, rng, size, shapes, fraction)
        gamma = math.exp(rng.uniform(*np.log(GAMMA)))
        peak = math.exp(rng.uniform(*np.log(PEAKS)))
        read = rng.uniform(0.0, READ_NOISE) * peak
        counts = np.clip(patch, 0.0, 1.0) ** gamma * peak
        clean.append(counts)
        noisy.append(rng.poisson(counts) + rng.normal(0.0, read, counts.shape))
        reads.append(read**2)
    # one transform and one inverse table for the whole batch: (B, 1, S, S)
    read_variance = torch.tensor(reads, dtype=torch.float32)[:, None, None, None]
    z = gat(torch.from_numpy(np.stack(noisy)[:, None].astype(np.float32)), 1.0, read_variance)
    counts = torch.from_numpy(np.stack(clean)[:, None].astype(np.float32))
    target = stable_target(counts, read_variance)
    mean = z.mean(dim=(-2, -1), keepdim=True)
    noisy = ((z - mean) * PRIOR_SIGMA).contiguous(memory_format=torch.channels_last)
    return noisy, ((target - mean) * PRIOR_SIGMA).contiguous(memory_format=torch.channels_last)


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
    parser.add_argument(
        "--fluorescence", action="store_true",
        help="half the --shapes fraction are fluorescence-like images; more photographs",
    )
    parser.add_argument(
        "--poisson", type=float, default=0.0, help="fraction of Poisson-Gaussian batches"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = training_images()
    shapes = [dead_leaves(rng) for _ in range(SHAPE_IMAGES)] if args.shapes > 0 else []
    if args.fluorescence:
        images += more_images()
        shapes += [fluorescence(rng) for _ in range(SHAPE_IMAGES)]
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
        # no draw without --poisson, so the Gaussian stages keep their random sequence
        poisson = args.poisson > 0 and rng.random() < args.poisson
        sampler = poisson_batch if poisson else batch
        noisy, clean = sampler(images, rng, args.patch, args.batch, shapes, args.shapes)
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
