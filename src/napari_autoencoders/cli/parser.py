"""The command line's parser: one subcommand per job, options grouped as in the Train widget.

Defaults shown in the help are those of the core recipe
(:func:`~napari_autoencoders.core.recipes.task_config`); an option left out
is not passed on, so the recipe decides it.
"""

from __future__ import annotations

import argparse

from .. import __version__
from ..core.config import (
    DataConfig,
    Mode,
    ModelConfig,
    Prior,
    ReconstructionLoss,
    Task,
    TrainingConfig,
)
from ..core.data.collection import DEFAULT_CACHE_MB
from ..core.data.resolution import FACTORS
from ..core.io.images import READ_FORMATS, WRITE_FORMATS
from ..core.latent.clustering import Clustering, Embedding
from ..core.latent.generation import SOURCES
from ..core.recipes import (
    DEFAULT_TIME_BUDGET,
    NEIGHBOUR_WEIGHT,
    VOLUME_BATCH_SIZE,
    VOLUME_PATCH_SIZE,
    VOLUME_PATCH_Z,
)

PROG = "napari-autoencoders"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``train``, ``apply``, ``sample``, ``encode``, ``export`` and ``noise``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train and apply convolutional autoencoders for denoising, reconstruction and "
        "super-resolution.",
        epilog=f"Images are read from {', '.join(READ_FORMATS)} files and written as "
        f"{', '.join(WRITE_FORMATS)}.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands)
    _add_apply(commands)
    _add_sample(commands)
    _add_encode(commands)
    _add_export(commands)
    _add_noise(commands)
    return parser


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a model on an image file",
        description="Train a denoiser, a reconstruction autoencoder, an upscaler, or a variational "
        "or adversarial autoencoder. Ctrl-C (or SIGTERM) stops the training: the epoch so far is "
        "validated and the best validated model saved; a second Ctrl-C stops at once. Only "
        "validated models are saved, so an existing --model file is never replaced by an "
        "unvalidated one.",
    )
    task = train.add_argument_group("task and data")
    task.add_argument("--task", choices=[t.value for t in Task], default=Task.DENOISE.value)
    task.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        help="denoising: 'synthetic' adds --noise to a clean --input, 'paired' learns "
        "--input -> --target, 'self-supervised' (default) needs the noisy --input alone; "
        "superres: 'from-highres' (default) downscales a high-resolution --input, 'paired' "
        "learns a low-resolution --input -> high-resolution --target, 'zero-shot' needs the "
        "low-resolution --input alone",
    )
    task.add_argument(
        "--input",
        required=True,
        nargs="+",
        metavar="FILE",
        help="training image; or several, a folder, a quoted glob or a .zarr store, read "
        "patch by patch through a cache (--cache-mb) so that the data may exceed memory",
    )
    task.add_argument(
        "--cache-mb",
        type=float,
        metavar="MB",
        help="memory for the decoded blocks of lazily read inputs (default "
        f"{DEFAULT_CACHE_MB} MB); giving it reads even one file lazily",
    )
    task.add_argument(
        "--target",
        metavar="FILE",
        help="clean image (denoise) or high-resolution image (superres) for --mode paired",
    )
    task.add_argument(
        "--factor",
        type=int,
        choices=FACTORS,
        help="superres only: upscaling factor in Y and X (default 2)",
    )
    task.add_argument(
        "--downscale",
        metavar="METHOD",
        help="superres only: how training inputs are shrunk in --mode from-highres and "
        "zero-shot, 'area' (default) or 'gaussian:SIGMA', e.g. gaussian:1.0",
    )
    task.add_argument(
        "--noise",
        metavar="SPEC",
        help="noise added in --mode synthetic, e.g. gaussian:0.1, poisson:30, saltpepper:0.05 "
        "or poisson:30+gaussian:0.02 (default gaussian:0.1)",
    )
    task.add_argument("--axes", help="axes of the input, e.g. YX, SYX, YXC (default: guessed)")
    task.add_argument(
        "--3d",
        dest="three_d",
        action="store_true",
        help="denoise only: train a 3D U-Net on the volumes of the Z axis (--axes with Z, e.g. "
        "ZYX or TZYX) instead of a 2D one plane by plane",
    )
    task.add_argument(
        "--model", required=True, metavar="OUT", help="model file to write, named *.safetensors"
    )

    task.add_argument(
        "--pretrained",
        action=argparse.BooleanOptionalAction,
        help="denoise and superres: start from the prior shipped with the package (the "
        "denoiser, or the upscaler of --factor) and fine-tune it (default: yes, unless "
        "--depth, --width, --blocks or --mask-fraction asks for a network trained from "
        "scratch, or the synthetic noise is salt-and-pepper)",
    )

    network = train.add_argument_group("network")
    network.add_argument(
        "--depth", type=int, metavar="N", help=f"2x downsamplings (default {ModelConfig.depth})"
    )
    network.add_argument(
        "--width",
        type=int,
        metavar="N",
        help=f"feature maps of the first level (default {ModelConfig.width})",
    )
    network.add_argument(
        "--blocks",
        type=int,
        metavar="N",
        help=f"residual blocks of the superres network, superres only (default {ModelConfig.blocks})",
    )
    network.add_argument(
        "--latent-dim",
        type=int,
        metavar="N",
        help=f"latent vector length, reconstruct, vae and aae only (default {ModelConfig.latent_dim}; "
        "2 to plot or draw the latent plane itself)",
    )
    vae = train.add_argument_group("variational autoencoder (--task vae)")
    vae.add_argument(
        "--dense",
        action="store_true",
        help="the fully connected VAE (pixels-512-latent) instead of the convolutional one",
    )
    vae.add_argument(
        "--beta",
        type=float,
        metavar="B",
        help=f"weight of the KL term (default {TrainingConfig.beta})",
    )
    vae.add_argument(
        "--kl-warmup",
        type=int,
        metavar="STEPS",
        help="raise the KL weight linearly from 0 to --beta over STEPS steps (default 0)",
    )
    vae.add_argument(
        "--reconstruction-loss",
        choices=[loss.value for loss in ReconstructionLoss],
        help="vae and aae: 'bce' (default): sigmoid output, frames min-max scaled to [0, 1]; "
        "'mse': Gaussian output, percentile-normalised frames",
    )
    aae = train.add_argument_group("adversarial autoencoder (--task aae)")
    aae.add_argument(
        "--prior",
        choices=[prior.value for prior in Prior],
        help="the distribution a discriminator pushes the codes toward, and samples come from: "
        "'gaussian' (default), the standard normal; 'mixture', 10 Gaussians on a circle "
        "(--latent-dim 2 only)",
    )
    aae.add_argument(
        "--adversarial-rate",
        type=float,
        metavar="R",
        help="learning rate of the discriminator and of the encoder's regularisation, as a "
        f"share of --learning-rate (default {TrainingConfig.adversarial_rate})",
    )

    latent = train.add_argument_group("latent space (--task reconstruct or vae)")
    latent.add_argument(
        "--neighbour-weight",
        type=float,
        metavar="W",
        help="weight of the neighbour term, which keeps frames that are near neighbours in "
        f"pixel space near in the latent space (default {NEIGHBOUR_WEIGHT:g} for a stack of "
        "frames read into memory with more frames than --neighbours, else 0; 0 turns it off)",
    )
    latent.add_argument(
        "--neighbours",
        type=int,
        metavar="K",
        help=f"nearest neighbours per frame for the neighbour term (default {TrainingConfig.neighbours})",
    )

    training = train.add_argument_group("training")
    stop = training.add_mutually_exclusive_group()
    stop.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="train for at most N epochs of --steps-per-epoch steps, reproducibly with --seed "
        "(default: a time budget instead)",
    )
    stop.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help=f"train for this long instead (default {DEFAULT_TIME_BUDGET:g} s when --epochs is not "
        "given); it counts the training steps, and reading and preparing the input take a few "
        "seconds more (about 5 s on 2 cores, half of it importing PyTorch's optimiser support); "
        "not reproducible with --seed, since the number of steps depends on the machine's speed "
        "(give --epochs for that)",
    )
    training.add_argument(
        "--steps-per-epoch",
        type=int,
        metavar="N",
        help=f"steps between validations (default {TrainingConfig.steps_per_epoch})",
    )
    training.add_argument(
        "--patch-size",
        type=int,
        metavar="N",
        help=f"side of the training patches (default {DataConfig.patch_size}, {VOLUME_PATCH_SIZE} "
        "with --3d, less for smaller planes; the frame size of smaller frames for reconstruct "
        "and vae)",
    )
    training.add_argument(
        "--patch-z",
        type=int,
        metavar="N",
        help=f"--3d only: planes of the training patches (default {VOLUME_PATCH_Z}, fewer for a "
        "thinner volume)",
    )
    training.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help=f"default {DataConfig.batch_size} ({VOLUME_BATCH_SIZE} with --3d)",
    )
    training.add_argument(
        "--no-augment",
        action="store_true",
        help="no random flips and 90 degree turns of the patches (e.g. for digits: a turned 6 "
        "is a 9); vae and aae never augment",
    )
    training.add_argument(
        "--learning-rate",
        type=float,
        metavar="RATE",
        help=f"initial learning rate (default {TrainingConfig.learning_rate})",
    )
    training.add_argument(
        "--patience",
        type=int,
        metavar="EPOCHS",
        help=f"stop after EPOCHS epochs without a better validation loss (default "
        f"{TrainingConfig.patience}; never with the neighbour term, which keeps its last weights)",
    )
    training.add_argument(
        "--mask-fraction",
        type=float,
        metavar="F",
        help="denoise --mode self-supervised only: share of pixels masked per patch (default "
        f"{TrainingConfig.mask_fraction})",
    )
    training.add_argument(
        "--noise-strides",
        metavar="Y,X",
        help="denoise --mode self-supervised, 2D, only: split the noisy image into "
        "interleaved sets Y rows and X columns apart, for noise correlated along rows, columns "
        "or both (see the noise command's correlation table), e.g. 1,3 or 3,3; 1,1 keeps it "
        "whole (default auto: measured, one axis only; --no-pretrained keeps it whole unless "
        "given)",
    )
    training.add_argument("--seed", type=int, help=f"default {TrainingConfig.seed}")
    _add_common(train)


def _add_apply(commands) -> None:
    apply = commands.add_parser(
        "apply",
        help="apply a trained model to an image file, a zarr store, or a folder of them",
        description="Predict tile by tile, here or on a dask cluster (--workers, --scheduler). "
        "Over a folder or a glob, outputs that exist are skipped, so an interrupted run resumes "
        "where it stopped.",
    )
    apply.add_argument("--model", required=True, metavar="FILE", help="trained model file")
    apply.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="image to process: a file, or a .zarr store (an array or an OME-Zarr image, "
        "read chunk by chunk); or a folder or a quoted glob ('raw/*.tif') of them",
    )
    apply.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="result; its extension picks the format: .zarr or .ome.zarr stores are written "
        "chunk by chunk, with the input's chunks (.ome.zarr, .tif: also its axes and pixel "
        "sizes; a plain .zarr holds only the array). A folder for many inputs: "
        "each result takes its input's name (.npz and .png inputs give .npy and .tif; with "
        "--workers or --scheduler, .zarr)",
    )
    cluster = apply.add_mutually_exclusive_group()
    cluster.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="predict on a local dask cluster of N worker processes; --output must be .zarr",
    )
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="predict on the running dask scheduler at ADDRESS (e.g. tcp://10.0.0.5:8786, "
        "from dask-jobqueue or Kubernetes); model, input and output on a shared file system; "
        "--output must be .zarr",
    )
    apply.add_argument("--axes", help="axes of the input (default: the model's axes)")
    apply.add_argument("--tile", type=int, default=512, metavar="N", help="tile side (pixels)")
    apply.add_argument(
        "--ensemble",
        action=argparse.BooleanOptionalAction,
        help="average the predictions of the 8 rotations and flips of each tile, for 8 times "
        "the computation (default: for super-resolution models, and for denoising models on "
        "inputs of up to 2048x2048 values)",
    )
    apply.add_argument(
        "--overlap", type=int, default=32, metavar="N", help="overlap of neighbouring tiles"
    )
    apply.add_argument("--batch-size", type=int, default=1, metavar="N", help="tiles per batch")
    apply.add_argument(
        "--run-package-code",
        action="store_true",
        help="let another tool's bioimage.io package without torchscript weights run its own "
        "Python code (its architecture file) to build its network; only for a package from a "
        "source you trust (model files run no code otherwise)",
    )
    _add_common(apply)


def _add_sample(commands) -> None:
    generate = commands.add_parser(
        "sample",
        help="generate images with a variational or adversarial autoencoder",
        description="Decode random draws from the prior into a stack of images, or with "
        "--grid the latent manifold into one mosaic image.",
    )
    generate.add_argument("--model", required=True, metavar="FILE", help="trained model file")
    generate.add_argument(
        "--output", required=True, metavar="FILE", help="result; its extension picks the format"
    )
    generate.add_argument("--n", type=int, default=16, metavar="N", help="images to sample")
    generate.add_argument(
        "--temperature", type=float, default=1.0, help="scale of the draws' spread (default 1)"
    )
    generate.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="where the codes come from: 'density' (fitted to the training codes), 'prior', or "
        "'auto' (default: the density when the model has one)",
    )
    generate.add_argument("--seed", type=int, default=0, help="default 0")
    generate.add_argument(
        "--grid",
        type=int,
        metavar="G",
        help="write the G x G mosaic of the latent plane (axes 0 and 1) instead of samples",
    )
    generate.add_argument(
        "--span",
        type=float,
        metavar="R",
        help="with --grid: latent coordinates from -R to R (default: the prior's 5-95 %% "
        "quantiles; 2.5 for an aae's mixture prior; a plain autoencoder's: the codes of --frames)",
    )
    generate.add_argument(
        "--frames",
        metavar="FILE",
        help="with --grid: a stack of frames (N, S, S[, C]) the model takes; a plain "
        "autoencoder's manifold spans their codes",
    )
    generate.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_encode(commands) -> None:
    encode = commands.add_parser(
        "encode",
        help="encode frames, tiles or objects to latent codes, project and cluster them",
        description="Encode every frame of a stack (default), every tile of a grid over one "
        "image (--tile-stride) or every object of a labels image (--labels) with a trained "
        "autoencoder, and write one CSV row per item: index, center_y, center_x, z0..z{D-1}, x, y, "
        "cluster.",
    )
    encode.add_argument("--model", required=True, metavar="FILE", help="trained autoencoder")
    encode.add_argument(
        "--input", required=True, metavar="FILE", help="image or stack: a file or a .zarr store"
    )
    encode.add_argument("--labels", metavar="FILE", help="labels image: encode its objects")
    encode.add_argument("--mask", action="store_true", help="blank pixels outside each object")
    encode.add_argument(
        "--tile-stride", type=int, metavar="N", help="encode tiles of a grid N pixels apart"
    )
    encode.add_argument(
        "--plane",
        type=int,
        metavar="N",
        help="tiles or objects of a stack: the plane to cut them from (its stack axes counted "
        "in C order from 0); --labels may then hold every plane's",
    )
    encode.add_argument("--axes", help="axes of the input (default: guessed)")
    encode.add_argument("--output", required=True, metavar="CSV", help="table to write (.csv)")
    encode.add_argument(
        "--clusters",
        type=int,
        metavar="K",
        help="number of clusters (default: the best silhouette over 2-10 for kmeans, the "
        "lowest BIC for gmm; hdbscan: minimum cluster size)",
    )
    encode.add_argument(
        "--method", choices=[c.value for c in Clustering], default=Clustering.KMEANS.value
    )
    encode.add_argument(
        "--embed",
        choices=[e.value for e in Embedding],
        help="2D projection (default: identity for a 2D latent, else pca)",
    )
    encode.add_argument("--seed", type=int, default=0, help="seeds projection and clustering")
    encode.add_argument("--batch-size", type=int, default=256, metavar="N", help="items per batch")
    encode.add_argument(
        "--cache-mb",
        type=float,
        default=DEFAULT_CACHE_MB,
        metavar="MB",
        help=f"memory for the decoded blocks of a lazily read input (default {DEFAULT_CACHE_MB} MB)",
    )
    _add_common(encode)


def _add_export(commands) -> None:
    export = commands.add_parser(
        "export",
        help="write a trained model as a BioImage Model Zoo package",
        description="Write a bioimage.io model package (spec 0.5, a .zip) that Fiji/deepImageJ, "
        "ilastik, QuPath and bioimageio.core open: pytorch_state_dict and TorchScript weights, "
        "test tensors, a cover and a README. Needs the bioimageio extra: pip install "
        "'napari-autoencoders[bioimageio]'.",
    )
    export.add_argument("--model", required=True, metavar="FILE", help="trained model file")
    export.add_argument(
        "--format", choices=["bioimageio"], default="bioimageio", help="default bioimageio"
    )
    export.add_argument("--output", required=True, metavar="ZIP", help="package to write (.zip)")
    export.add_argument(
        "--authors",
        required=True,
        metavar="NAMES",
        help='who trained the model, e.g. "Ada Lovelace;Alan Turing"',
    )
    export.add_argument("--name", help="name in the model zoo (default: from the task)")
    export.add_argument("--description", help="one sentence (default: from the task and mode)")
    export.add_argument(
        "--license",
        default="CC-BY-4.0",
        metavar="SPDX",
        help="licence identifier (default CC-BY-4.0)",
    )
    export.add_argument(
        "--input",
        metavar="FILE",
        help="an image like the training data: its first plane becomes the test image and cover "
        "(default: a synthetic image)",
    )
    export.add_argument("--axes", help="axes of --input (default: the model's axes)")
    export.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_noise(commands) -> None:
    noise = commands.add_parser(
        "noise",
        help="measure the noise of an image as the denoiser does, before training",
        description="Print the noise model fitted to the image (shot noise in photons, the "
        "standard deviation of the rest), its clip levels, its hot and dead pixels and the "
        "correlation of its noise along Y and X, and so whether the denoiser splits it into "
        "interleaved sets of rows or columns.",
    )
    noise.add_argument("--input", required=True, metavar="FILE", help="noisy image")
    noise.add_argument("--axes", help="axes of the input, e.g. YX, SYX, YXC (default: guessed)")


def _add_common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", help="torch device, e.g. cpu or cuda (default: auto)")
    command.add_argument("--quiet", action="store_true", help="print nothing but errors")
