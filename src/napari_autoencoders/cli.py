"""Command line: train a model on image files, apply it to others.

::

    napari-autoencoders train --task denoise --mode self-supervised \\
        --input noisy.tif --time-budget 300 --model denoiser.safetensors
    napari-autoencoders apply --model denoiser.safetensors \\
        --input noisy.tif --output denoised.tif
    napari-autoencoders train --task vae --input digits.npz --model vae.safetensors
    napari-autoencoders sample --model vae.safetensors --n 16 --output samples.tif
    napari-autoencoders encode --model digits.safetensors \\
        --input digits.tif --output latents.csv --clusters 10

Arguments become a :class:`~.core.config.Config` (:func:`config_from_args`),
then the core trains or predicts; this module only parses, reports progress
and turns bad input into a one-line error with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from . import __version__
from .core.data.axes import default_axes
from .core.config import (
    TASK_MODES,
    Architecture,
    Config,
    DataConfig,
    Mode,
    ModelConfig,
    ReconstructionLoss,
    Task,
    TrainingConfig,
)
from .core.latent.clustering import Clustering, Embedding, cluster, default_embedding, embed
from .core.latent.generation import manifold, sample
from .core.io.images import (
    READ_FORMATS,
    WRITE_FORMATS,
    check_writable,
    create_image,
    read_image,
    write_image,
)
from .core.io.model_files import load_model, save_model
from .core.data.noise import parse_noise
from .core.latent.encoding import (
    iter_encode_frames,
    iter_encode_objects,
    iter_encode_tiles,
    latent_table,
    write_csv,
)
from .core.inference.prediction import check_input, iter_predict, output_shape
from .core.data.resolution import FACTORS, parse_downscale
from .core.training import Trainer

PROG = "napari-autoencoders"
#: Exit status for bad input, as argparse uses for usage errors.
EXIT_USAGE = 2
#: Epoch cap when a time budget decides when to stop.
UNBOUNDED_EPOCHS = 10**6
#: Resolution of the training progress bar (it follows the event's fraction).
BAR_STEPS = 1000
#: Latent length of a VAE when --latent-dim is not given: a plane to explore.
VAE_LATENT_DIM = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.handler(args)
        except (ValueError, OSError) as err:  # ModelFileError and FileNotFoundError included
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``train`` and ``apply`` subcommands."""
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
    return parser


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a model on an image file",
        description="Train a denoiser, a reconstruction autoencoder or an upscaler. Ctrl-C stops the "
        "training and still saves the best model so far.",
    )
    train.set_defaults(handler=run_train)
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
    task.add_argument("--input", required=True, metavar="FILE", help="training image")
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
    task.add_argument("--model", required=True, metavar="OUT", help="model file to write")

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
        "--latent-dim",
        type=int,
        metavar="N",
        help=f"latent vector length, reconstruct and vae only (default {ModelConfig.latent_dim}, "
        f"{VAE_LATENT_DIM} for vae)",
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
        help="'bce' (default): sigmoid output, frames min-max scaled to [0, 1]; 'mse': "
        "Gaussian output, percentile-normalised frames",
    )

    latent = train.add_argument_group("latent space (--task reconstruct or vae)")
    latent.add_argument(
        "--neighbour-weight",
        type=float,
        metavar="W",
        help="weight of the neighbour term, which keeps frames that are near neighbours in "
        "pixel space near in the latent space (default 0: off; try 1 for a 2D latent to plot)",
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
        help=f"train for at most N epochs (default {TrainingConfig.epochs})",
    )
    stop.add_argument(
        "--time-budget", type=float, metavar="SECONDS", help="train for this long instead"
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
        help=f"side of the training patches (default {DataConfig.patch_size}, or the frame "
        "size of smaller frames for reconstruct)",
    )
    training.add_argument(
        "--batch-size", type=int, metavar="N", help=f"default {DataConfig.batch_size}"
    )
    training.add_argument(
        "--no-augment",
        action="store_true",
        help="no random flips and 90 degree turns of the patches (e.g. for digits: a turned 6 "
        "is a 9); vae never augments",
    )
    training.add_argument(
        "--learning-rate",
        type=float,
        metavar="RATE",
        help=f"initial learning rate (default {TrainingConfig.learning_rate})",
    )
    training.add_argument("--seed", type=int, help=f"default {TrainingConfig.seed}")
    _add_common(train)


def _add_apply(commands) -> None:
    apply = commands.add_parser("apply", help="apply a trained model to an image file")
    apply.set_defaults(handler=run_apply)
    apply.add_argument("--model", required=True, metavar="FILE", help="trained model file")
    apply.add_argument("--input", required=True, metavar="FILE", help="image to process")
    apply.add_argument(
        "--output", required=True, metavar="FILE", help="result; its extension picks the format"
    )
    apply.add_argument("--axes", help="axes of the input (default: the model's axes)")
    apply.add_argument("--tile", type=int, default=512, metavar="N", help="tile side (pixels)")
    apply.add_argument(
        "--overlap", type=int, default=32, metavar="N", help="overlap of neighbouring tiles"
    )
    apply.add_argument("--batch-size", type=int, default=1, metavar="N", help="tiles per batch")
    _add_common(apply)


def _add_sample(commands) -> None:
    generate = commands.add_parser(
        "sample",
        help="generate images with a variational autoencoder",
        description="Decode random draws from the prior into a stack of images, or with "
        "--grid the latent manifold into one mosaic image.",
    )
    generate.set_defaults(handler=run_sample)
    generate.add_argument("--model", required=True, metavar="FILE", help="trained model file")
    generate.add_argument(
        "--output", required=True, metavar="FILE", help="result; its extension picks the format"
    )
    generate.add_argument("--n", type=int, default=16, metavar="N", help="images to sample")
    generate.add_argument(
        "--temperature", type=float, default=1.0, help="scale of the prior draws (default 1)"
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
        "quantiles)",
    )
    generate.add_argument("--quiet", action="store_true", help="print nothing but errors")
def _add_encode(commands) -> None:
    encode = commands.add_parser(
        "encode",
        help="encode frames, tiles or objects to latent codes, project and cluster them",
        description="Encode every frame of a stack (default), every tile of a grid over one "
        "image (--tile-stride) or every object of a labels image (--labels) with a trained "
        "autoencoder, and write one CSV row per item: index, z0..z{D-1}, x, y, cluster.",
    )
    encode.set_defaults(handler=run_encode)
    encode.add_argument("--model", required=True, metavar="FILE", help="trained autoencoder")
    encode.add_argument("--input", required=True, metavar="FILE", help="image or stack")
    encode.add_argument("--labels", metavar="FILE", help="labels image: encode its objects")
    encode.add_argument("--mask", action="store_true", help="blank pixels outside each object")
    encode.add_argument(
        "--tile-stride", type=int, metavar="N", help="encode tiles of a grid N pixels apart"
    )
    encode.add_argument("--axes", help="axes of the input (default: guessed)")
    encode.add_argument("--output", required=True, metavar="CSV", help="table to write")
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
    _add_common(encode)


def _add_common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", help="torch device, e.g. cpu or cuda (default: auto)")
    command.add_argument("--quiet", action="store_true", help="print nothing but errors")


def config_from_args(args: argparse.Namespace, shape: Sequence[int]) -> Config:
    """Build the training config from parsed ``train`` arguments.

    Options left out keep the :class:`Config` defaults, except that the axes
    are guessed from the image's ``shape`` and a reconstruction model's patch
    size shrinks to the frame size for small frames (e.g. 28 for MNIST).

    Raises
    ------
    ValueError
        If options contradict each other or a value is invalid.
    """
    _check_task_options(args)
    axes = args.axes or _guess_axes(shape)
    data = _given(DataConfig(axes=axes), patch_size=args.patch_size, batch_size=args.batch_size)
    data.augment = not args.no_augment
    training = _given(
        TrainingConfig(task=args.task),
        mode=args.mode,
        noise=args.noise,
        epochs=args.epochs,
        time_budget=args.time_budget,
        steps_per_epoch=args.steps_per_epoch,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device=args.device,
        downscale=args.downscale,
        beta=args.beta,
        kl_warmup=args.kl_warmup,
        neighbour_weight=args.neighbour_weight,
        neighbours=args.neighbours,
    )
    if args.time_budget is not None:
        training.epochs = UNBOUNDED_EPOCHS
    model = _given(ModelConfig(), depth=args.depth, width=args.width, latent_dim=args.latent_dim)
    if args.task == Task.RECONSTRUCT.value:
        if args.patch_size is None:
            data.patch_size = min(data.patch_size, _frame_size(shape, axes))
        model.architecture = Architecture.AUTOENCODER.value
        model.input_size = data.patch_size
    if args.task == Task.SUPERRES.value:
        training.mode = args.mode or TASK_MODES[args.task][0]
        model.architecture = Architecture.SUPERRES.value
        model.factor = args.factor or FACTORS[0]
    if args.task == Task.VAE.value:
        _vae_options(args, shape, data, model)
    return Config(model=model, data=data, training=training).validate()


def _vae_options(args: argparse.Namespace, shape: Sequence[int], data, model) -> None:
    """Each frame is one sample: the patch is the frame, not flipped or turned."""
    if args.patch_size is None:
        data.patch_size = min(data.patch_size, _frame_size(shape, data.axes))
    data.augment = False
    model.architecture = (Architecture.VAE_DENSE if args.dense else Architecture.VAE).value
    model.input_size = data.patch_size
    model.latent_dim = args.latent_dim or VAE_LATENT_DIM
    model.reconstruction_loss = args.reconstruction_loss or ReconstructionLoss.BCE.value
    if model.reconstruction_loss == ReconstructionLoss.BCE.value:
        data.percentiles = (0.0, 100.0)  # min-max: binary cross-entropy needs [0, 1]


def _check_task_options(args: argparse.Namespace) -> None:
    """Reject options that the chosen task and mode would silently ignore."""
    denoise = args.task == Task.DENOISE.value
    superres = args.task == Task.SUPERRES.value
    modes = TASK_MODES.get(args.task, ())
    mode = args.mode or (modes[0] if modes else None)
    if args.mode is not None and args.mode not in modes:
        raise ValueError(
            "--mode applies to --task denoise (synthetic, paired, self-supervised) and "
            f"--task superres (from-highres, paired, zero-shot); got {args.mode!r} with "
            f"--task {args.task}."
        )
    latent_options = {
        "--latent-dim": args.latent_dim,
        "--neighbour-weight": args.neighbour_weight,
        "--neighbours": args.neighbours,
    }
    given = [name for name, value in latent_options.items() if value is not None]
    if given and args.task not in (Task.RECONSTRUCT.value, Task.VAE.value):
        raise ValueError(f"{', '.join(given)} applies to --task reconstruct and vae only.")
    if args.neighbours is not None and not args.neighbour_weight:
        raise ValueError(
            "--neighbours is used by the neighbour term only; give --neighbour-weight above 0 too."
        )
    if mode == Mode.PAIRED.value and args.target is None:
        kind = "clean" if denoise else "high-resolution"
        raise ValueError(f"--mode paired needs --target FILE, the {kind} image matching --input.")
    if args.target is not None and mode != Mode.PAIRED.value:
        raise ValueError("--target is used with --mode paired only.")
    if not superres and (args.factor is not None or args.downscale is not None):
        raise ValueError("--factor and --downscale apply to --task superres only.")
    if superres and args.depth is not None:
        raise ValueError("--depth applies to the denoise and reconstruct networks, not superres.")
    if args.downscale is not None:
        if mode == Mode.PAIRED.value:
            raise ValueError("--downscale is not used with --mode paired: the pairs are given.")
        parse_downscale(args.downscale)
    vae_only = {
        "--dense": args.dense,
        "--beta": args.beta is not None,
        "--kl-warmup": args.kl_warmup is not None,
        "--reconstruction-loss": args.reconstruction_loss is not None,
    }
    given = [name for name, used in vae_only.items() if used]
    if given and args.task != Task.VAE.value:
        raise ValueError(f"{', '.join(given)} applies to --task vae only.")
    if args.noise is not None:
        if not (denoise and mode == Mode.SYNTHETIC.value):
            raise ValueError("--noise is used with --task denoise --mode synthetic only.")
        parse_noise(args.noise)


def _given(section, **values):
    """Set the fields of a config section that were given on the command line."""
    for name, value in values.items():
        if value is not None:
            setattr(section, name, value)
    return section


def _guess_axes(shape: Sequence[int]) -> str:
    rgb = len(shape) == 3 and shape[-1] in (3, 4)
    return default_axes(len(shape), rgb=rgb)


def _frame_size(shape: Sequence[int], axes: str) -> int:
    axes = axes.upper()
    if len(axes) != len(shape) or "Y" not in axes or "X" not in axes:
        return DataConfig.patch_size  # Config.validate or the trainer names the problem
    return min(shape[axes.index("Y")], shape[axes.index("X")])


def run_train(args: argparse.Namespace) -> int:
    """The ``train`` command: read the images, train, save the best model."""
    _check_model_path(args.model)
    inputs = read_image(args.input)
    targets = read_image(args.target) if args.target else None
    config = config_from_args(args, inputs.shape)
    say = _printer(args.quiet)
    if args.axes is None:
        say(f"axes not given: reading the {inputs.shape} image as {config.data.axes!r}")
    trainer = Trainer(config, inputs, targets)
    start = time.perf_counter()
    interrupted = _train(trainer, quiet=args.quiet)
    model = trainer.result()
    path = save_model(model, args.model)
    if interrupted:
        say("interrupted: stopped the training and kept the best model so far")
    say(_summary(model.history, time.perf_counter() - start, path))
    return 0


def _check_model_path(path: str) -> None:
    """Fail before training, not after it, if the model file cannot be written."""
    if not Path(path).parent.is_dir():
        raise FileNotFoundError(
            f"the folder of model file {path!r} does not exist; create it first."
        )


def _train(trainer: Trainer, *, quiet: bool) -> bool:
    """Drive the training with a progress bar; return whether Ctrl-C stopped it."""
    bar = tqdm(total=BAR_STEPS, disable=quiet, bar_format="{l_bar}{bar}| {elapsed}{postfix}")
    events = trainer.run()
    val_loss = None
    try:
        for event in events:
            val_loss = event.val_loss if event.val_loss is not None else val_loss
            bar.update(max(0, round(event.fraction * BAR_STEPS) - bar.n))
            postfix = {"step": event.step, "loss": f"{event.loss:.4g}"}
            if val_loss is not None:
                postfix["val"] = f"{val_loss:.4g}"
            bar.set_postfix(postfix, refresh=False)
    except KeyboardInterrupt:
        trainer.stop()
        # finishes the epoch under way (validating it) if the interrupt left it suspended
        for _ in events:
            pass
        return True
    finally:
        bar.close()
    return False


def _summary(history: list[dict], seconds: float, path: Path) -> str:
    if not history:
        return f"stopped before the first validation after {seconds:.1f} s; model saved to {path}"
    best = min(history, key=lambda entry: entry["val_loss"])
    return (
        f"trained {len(history)} epoch(s), {history[-1]['step']} steps in {seconds:.1f} s; "
        f"best validation loss {best['val_loss']:.4g} (epoch {best['epoch']}); "
        f"model saved to {path}"
    )


def run_apply(args: argparse.Namespace) -> int:
    """The ``apply`` command: predict tile by tile and write the result."""
    model = load_model(args.model)
    image = read_image(args.input, mmap=True)
    check_writable(args.output, image.shape)
    axes = args.axes or _apply_axes(model.config.data.axes, image.shape)
    say = _printer(args.quiet)
    if args.axes is None and axes != model.config.data.axes:
        say(
            f"the model was trained on {model.config.data.axes!r} images; reading the "
            f"{image.shape} image as {axes!r}"
        )
    check_input(model, image, axes)  # before create_image leaves a file behind
    out = create_image(args.output, output_shape(model, image.shape, axes))
    steps = iter_predict(
        model,
        image,
        axes=axes,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        device=args.device or "auto",
        out=out,
    )
    result = _predict(steps, quiet=args.quiet)
    if out is None:
        path = write_image(args.output, result)
    else:  # written tile by tile, so a large image never sits in memory whole
        out.flush()
        path = Path(args.output)
    say(f"wrote {result.shape} {result.dtype} image to {path}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """The ``sample`` command: random images from the prior, or the latent manifold."""
    model = load_model(args.model)
    if args.grid is None:
        if args.span is not None:
            raise ValueError("--span applies to the manifold only; give --grid G too.")
        result = sample(model, args.n, temperature=args.temperature, seed=args.seed)
    else:
        result = manifold(model, grid=args.grid, span=args.span)
    check_writable(args.output, result.shape)
    path = write_image(args.output, result)
    _printer(args.quiet)(f"wrote {result.shape} {result.dtype} image to {path}")
    return 0


def _apply_axes(model_axes: str, shape: Sequence[int]) -> str:
    """The model's axes if they fit ``shape``, else a guess with the same channel axis.

    A model trained on single images (``YX``) then applies to stacks plane by plane.
    """
    if len(model_axes) == len(shape):
        return model_axes
    return default_axes(len(shape), rgb="C" in model_axes)


def _predict(steps, *, quiet: bool):
    """Drive :func:`~.core.prediction.iter_predict` with a tile progress bar."""
    try:
        done, total = next(steps)  # checks the image before a bar appears
    except StopIteration as end:
        return end.value
    with tqdm(total=total, initial=done, unit="tile", disable=quiet) as bar:
        while True:
            try:
                done, _ = next(steps)
            except StopIteration as end:
                return end.value
            bar.update(done - bar.n)


def run_encode(args: argparse.Namespace) -> int:
    """The ``encode`` command: encode, project, cluster, write the CSV table."""
    model = load_model(args.model)
    image = read_image(args.input)
    if args.labels and args.tile_stride is not None:
        raise ValueError("give --labels (objects) or --tile-stride (tiles), not both.")
    axes = args.axes or _guess_axes(image.shape)
    options = dict(axes=axes, batch_size=args.batch_size, device=args.device or "auto")
    if args.labels:
        steps = iter_encode_objects(model, image, read_image(args.labels), mask=args.mask, **options)
    elif args.tile_stride is not None:
        steps = iter_encode_tiles(model, image, stride=args.tile_stride, **options)
    else:
        steps = iter_encode_frames(model, image, **options)
    encoding = _predict(steps, quiet=args.quiet)
    method = args.embed or default_embedding(encoding.latents.shape[1])
    embedding = embed(encoding.latents, method, seed=args.seed)
    clusters = cluster(encoding.latents, args.method, args.clusters, seed=args.seed)
    write_csv(args.output, latent_table(encoding, embedding, clusters))
    found = len(set(clusters.tolist()) - {-1})
    say = _printer(args.quiet)
    say(f"wrote {len(clusters)} {encoding.kind}(s) in {found} cluster(s) to {args.output}")
    return 0


def _printer(quiet: bool):
    return (lambda message: None) if quiet else print


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
