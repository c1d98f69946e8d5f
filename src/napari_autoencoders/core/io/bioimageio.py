"""BioImage Model Zoo packages: export a trained model, open a package for prediction.

A package (a ``.zip`` following the bioimage.io model spec 0.5) holds the
network in two weight formats, ``pytorch_state_dict`` (with a self-contained
architecture file, generated from :mod:`..nn.models`, that needs torch alone)
and ``torchscript``; a test input and the output the model gives it; a cover
(input | output); a README saying how the model was trained; and the
normalisation as fixed ``scale_linear`` pre- and postprocessing. Its
``config.napari_autoencoders`` entry keeps our own config, so that this
package opens again as the very model that was exported.

>>> export_bioimageio(model, "denoiser.zip", authors=["Ada Lovelace"])  # doctest: +SKIP
>>> model = load_bioimageio("denoiser.zip")                             # doctest: +SKIP

A 3D U-Net (``spatial_dims`` 3) exports with axes batch, channel, z, y, x.

Packages from other tools open as an adapter
(:class:`~.foreign_packages.PackageNetwork`) when
they map one 2D image to another (axes batch, channel, y, x in any order),
with ``pytorch_state_dict`` or ``torchscript`` weights and fixed affine
processing; anything else gets a :class:`BioimageioError` naming it.

The ``bioimageio.spec`` and ``bioimageio.core`` packages are imported only
here and only when needed: they are the optional extra ``bioimageio``.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import io
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ... import __version__
from ..config import (
    LATENT_ARCHITECTURES,
    TASK_MODES,
    Architecture,
    Config,
    ModelConfig,
    ReconstructionLoss,
    Task,
    TrainingConfig,
)
from ..data.axes import check_axes, to_planes, to_volumes
from ..data.normalization import Normalizer
from ..data.patches import check_image
from ..model import TrainedModel
from ..data import stabilization
from ..nn import losses, models
from .images import check_destination, replacing
from .model_files import (
    ModelFileError,
    check_shapes,
    check_weights,
    meta_network,
    model_entries,
    model_parts,
)

#: How to install what this module needs.
INSTALL_HINT = "pip install 'napari-autoencoders[bioimageio]'"
#: Key of our own settings in a package's ``config``.
CONFIG_KEY = "napari_autoencoders"
#: Halo of a U-Net's output (pixels cropped on each side when tiling), as the
#: overlap of 32 pixels between the tiles of our own prediction.
UNET_HALO = 16
#: Halo of a 3D U-Net's output along Z: its boxes overlap by 8 planes
#: (:data:`~..inference.prediction.VOLUME_TILE`), so 4 are cropped on each side.
UNET_HALO_Z = 4
#: Planes of the synthetic test volume of a 3D U-Net without a sample.
TEST_DEPTH = 16
#: Side of the synthetic test image of a U-Net or an upscaler without a sample.
TEST_SIDE = {Architecture.UNET.value: 64, Architecture.SUPERRES.value: 32}
#: Largest side of the test image cut from a sample.
MAX_TEST_SIDE = 256
#: What torch.load raises for a file that is not a torch state dict (fuzzed: random bytes,
#: truncated or edited files, pickles that weights_only refuses).
_NOT_A_STATE_DICT = (
    pickle.UnpicklingError,
    EOFError,
    RuntimeError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    OverflowError,
)
#: Bytes of torch's file beyond its tensors' data, at most: a fixed part and a part per tensor
#: (its pickle, zip headers and record alignment take about 300 bytes a tensor).
CONTAINER_BYTES = (64 * 1024, 1024)

# What the architecture file holds: the networks and all they use, in order.
_ARCHITECTURE_PARTS = (
    ReconstructionLoss,
    losses.reparameterize,
    stabilization.gat,
    stabilization.inverse_gat,
    models.layer_kinds,
    models.conv_block,
    models.pad_to_multiple,
    models.check_input_size,
    models.opponent_matrix,
    models.UNet,
    models.ConvAutoencoder,
    models.LikelihoodDecoder,
    models.Variational,
    models.ConvVAE,
    models.AdversarialAutoencoder,
    models.DenseVAE,
    models.ResidualBlock,
    models.SuperResolutionNet,
    models.Phased,
    models.phased,
)
#: The callable of the architecture file.
ARCHITECTURE_CALLABLE = "build_network"
#: Publications describing each architecture, cited in the package.
_CITATIONS = {
    Architecture.UNET.value: ("Ronneberger et al. 2015, U-Net", "10.1007/978-3-319-24574-4_28"),
    Architecture.AUTOENCODER.value: (
        "Hinton and Salakhutdinov 2006, Reducing the dimensionality of data with neural networks",
        "10.1126/science.1127647",
    ),
    Architecture.VAE.value: (
        "Kingma and Welling 2013, Auto-encoding variational Bayes",
        "10.48550/arXiv.1312.6114",
    ),
    Architecture.SUPERRES.value: (
        "Lim et al. 2017, Enhanced deep residual networks for single image super-resolution",
        "10.1109/CVPRW.2017.151",
    ),
}
_CITATIONS[Architecture.VAE_DENSE.value] = _CITATIONS[Architecture.VAE.value]
_CITATIONS[Architecture.AAE.value] = (
    "Makhzani et al. 2015, Adversarial autoencoders",
    "10.48550/arXiv.1511.05644",
)
_NOISE2VOID = ("Krull et al. 2019, Noise2Void", "10.1109/CVPR.2019.00223")


class BioimageioError(ModelFileError):
    """A package that cannot be opened, or a model that cannot be exported."""


class PackageCodeError(BioimageioError):
    """A package whose network is Python code of its own, which was not allowed to run."""


class MissingExtraError(ImportError, ModelFileError):
    """The optional ``bioimageio`` packages are not installed.

    A ModelFileError too, so that callers reporting unreadable models report this as well.
    """


def is_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a package: ``.zip``, ``rdf.yaml`` or ``bioimageio.yaml``."""
    name = Path(path).name.lower()
    return name.endswith((".zip", "rdf.yaml", "bioimageio.yaml"))


# -- export -----------------------------------------------------------------


def export_bioimageio(
    model: TrainedModel,
    path: str | os.PathLike,
    *,
    authors: Sequence[str],
    name: str | None = None,
    description: str | None = None,
    license: str = "CC-BY-4.0",
    sample: np.ndarray | None = None,
    sample_axes: str | None = None,
) -> Path:
    """Write ``model`` as a bioimage.io model package (spec 0.5) to ``path``.

    Parameters
    ----------
    model : TrainedModel
        A model trained by this package (not one opened from another
        tool's package).
    path : path-like
        The ``.zip`` file to write.
    authors : sequence of str
        Names of the people who trained the model; at least one.
    name, description : str, optional
        Shown in the model zoo; by default made from the task.
    license : str
        SPDX licence identifier, e.g. ``"CC-BY-4.0"`` or ``"MIT"``.
    sample : ndarray, optional
        An image in the units of the training data, with axes
        ``sample_axes`` (default: the model's training axes). Its first
        plane (for a 3D model its first volume), cropped to at most 256
        pixels (the model's input size for
        dense autoencoders) or mirrored out to the least size the network
        takes, becomes the test input and the cover; without it a smooth
        synthetic image in the training data's range is used.

    Returns
    -------
    Path
        The package written.

    Raises
    ------
    ValueError
        If ``path`` is not a ``.zip``, no author is given, the licence is not
        an SPDX identifier, the model cannot be exported, or the sample does
        not fit the model or is not an image of finite real numbers
        (:func:`~..data.patches.check_image`).
    IsADirectoryError, FileNotFoundError
        If ``path`` is a folder or its folder does not exist
        (:func:`.images.check_destination`), before any work.
    MissingExtraError
        If the ``bioimageio`` extra is not installed.
    """
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(
            f"a bioimage.io package is a .zip file, got {str(path)!r}; name the output "
            f"{path.with_suffix('.zip').name!r}."
        )
    check_destination(path)
    authors = [author.strip() for author in authors if author.strip()]
    if not authors:
        raise ValueError(
            "a bioimage.io package needs at least one author; give the names of the people "
            "who trained the model, e.g. authors=['Ada Lovelace']."
        )
    _check_exportable(model)
    bio = _import_bioimageio()
    try:
        bio.v.LicenseId(license)
    except ValueError:
        raise ValueError(
            f"license {license!r} is not an SPDX licence identifier; use one such as "
            "'CC-BY-4.0', 'MIT' or 'BSD-3-Clause' (see https://spdx.org/licenses)."
        ) from None
    config = model.config
    test_input = _test_input(model, sample, sample_axes)
    test_output = _run_network(model, test_input)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        files = _write_files(model, folder, test_input, test_output)
        task_name = _TASK_NAMES[config.training.task]
        descr = _describe(
            bio.v,
            model,
            files,
            name=name or f"napari-autoencoders {task_name}",
            description=description or _default_description(model),
            authors=authors,
            license=license,
        )
        with replacing(path) as temporary:  # a failed write leaves a previous package whole
            bio.save_bioimageio_package(descr, output_path=temporary)
    return path


def _check_exportable(model: TrainedModel) -> None:
    from .foreign_packages import PackageNetwork  # it imports this module

    if isinstance(model.network, PackageNetwork):  # a user's choice, not a programming error
        raise ValueError(  # noqa: TRY004
            "this model was opened from another tool's bioimage.io package; share that "
            "package itself instead of exporting it again."
        )


def architecture_source() -> str:
    """Python source of a module that rebuilds any of our networks with torch alone.

    Its ``build_network(architecture=..., **fields)`` takes the fields of a
    :class:`~napari_autoencoders.core.config.ModelConfig` and returns the
    untrained network. It is made of the very source of :mod:`..nn.models`,
    so the package and this library can never disagree.
    """
    header = (
        '"""Networks of napari-autoencoders, rebuilt from their settings with torch alone.\n\n'
        f"Generated by napari-autoencoders {__version__} from its networks module.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "from enum import Enum\n"
        "from types import SimpleNamespace\n\n"
        "import torch\n"
        "import torch.nn.functional as F\n"
        "from torch import nn\n"
    )
    parts = [inspect.getsource(part) for part in _ARCHITECTURE_PARTS]
    table = "".join(f"    {key!r}: {cls.__name__},\n" for key, cls in models.NETWORKS.items())
    footer = (
        f"NETWORKS = {{\n{table}}}\n\n\n"
        f"def {ARCHITECTURE_CALLABLE}(architecture: str, **fields) -> nn.Module:\n"
        '    """Return the untrained network ``architecture`` with settings ``fields``.\n\n'
        "    A network of noise correlated along rows or columns (``noise_strides``)\n"
        '    comes wrapped: it denoises the interleaved phases of its input.\n    """\n'
        "    network = NETWORKS[architecture](SimpleNamespace(architecture=architecture, **fields))\n"
        '    return phased(network, fields.get("noise_strides", (1, 1)))\n'
    )
    return "\n\n".join([header, *parts, footer])


def _test_input(model: TrainedModel, sample: np.ndarray | None, axes: str | None) -> np.ndarray:
    """The test input (1, C, Y, X), or (1, C, Z, Y, X) in 3D, float32, in the data's units."""
    mconfig = model.config.model
    rules = _axis_rules(mconfig)
    if sample is None:
        return _synthetic_input(model, rules)
    axes = check_axes(axes or model.config.data.axes, np.ndim(sample), shape=np.shape(sample))
    sample = read_test_sample(model, sample, axes)
    check_image(sample, "the sample")  # NaN or complex test tensors would be shipped
    blocks, layout = (to_volumes if mconfig.spatial_dims == 3 else to_planes)(sample, axes)
    if layout.channels != mconfig.in_channels:
        raise ValueError(
            f"the sample has {layout.channels} channel(s) but the model takes "
            f"{mconfig.in_channels}; give a sample like the training data."
        )
    block = np.asarray(blocks[0], dtype=np.float32)
    # a block smaller than the network's least input is mirrored out to it
    pads = [(0, 0)] + [(0, max(0, need - side)) for side, (need, _) in zip(block.shape[1:], rules)]
    block = np.pad(block, pads, mode="symmetric")
    # the largest valid sides up to MAX_TEST_SIDE; a dense model's input size
    sides = [
        need + (min(size, MAX_TEST_SIDE) - need) // step * step if step else need
        for size, (need, step) in zip(block.shape[1:], rules)
    ]
    starts = [(size - side) // 2 for size, side in zip(block.shape[1:], sides)]
    crop = tuple(slice(start, start + side) for start, side in zip(starts, sides))
    return np.ascontiguousarray(block[(None, slice(None), *crop)])


def read_test_sample(model: TrainedModel, sample, axes: str | None = None) -> np.ndarray:
    """Read the part of ``sample`` that a package's test input is cut from.

    Parameters
    ----------
    model : TrainedModel
        The model to export.
    sample : ndarray or array-like
        An image like the training data, with axes ``axes`` (default: the
        model's training axes); a lazy (dask, zarr) array is read only in
        the part returned.
    axes : str, optional
        The sample's axes.

    Returns
    -------
    ndarray
        The sample's first plane (volume, for a 3D model), stack axes kept
        at length 1, cut about its centre to at most ``MAX_TEST_SIDE`` (or the
        model's least input size) along each spatial axis; all channels.
    """
    if not hasattr(sample, "shape"):  # a nested list, say
        sample = np.asarray(sample)
    axes = check_axes(axes or model.config.data.axes, np.ndim(sample), shape=np.shape(sample))
    spatial = "ZYX"[-model.config.model.spatial_dims:]
    least = {axis: need for axis, (need, _) in zip(spatial, _axis_rules(model.config.model))}
    index = []
    for axis, size in zip(axes, np.shape(sample)):
        if axis == "C":
            index.append(slice(None))
        elif axis in least:
            side = max(min(size, MAX_TEST_SIDE), least[axis])
            start = max(0, (size - side) // 2)
            index.append(slice(start, start + side))
        else:
            index.append(slice(0, 1))
    return np.asarray(sample[tuple(index)])


def _synthetic_input(model: TrainedModel, rules: list[tuple[int, int]]) -> np.ndarray:
    """Smooth blobs (1, C, *spatial) in the training data's range, of the least test size."""
    mconfig = model.config.model
    if _is_fixed(mconfig):
        sides = [need for need, _ in rules]
    else:
        wanted = [TEST_SIDE[mconfig.architecture]] * 2
        if mconfig.spatial_dims == 3:
            wanted = [TEST_DEPTH, *wanted]
        sides = [max(side, need) for side, (need, _) in zip(wanted, rules)]
    rng = np.random.default_rng(0)
    field = rng.random((mconfig.in_channels, *(side + 8 for side in sides)))
    kernel = np.ones(5) / 5  # a box blur on every axis: smooth blobs, no extra dependency
    for axis in range(1, field.ndim):
        field = np.apply_along_axis(np.convolve, axis, field, kernel, mode="valid")
    field = (field - field.min()) / (field.max() - field.min())
    shape = (-1,) + (1,) * len(sides)
    low = np.asarray(model.input_norm.low).reshape(shape)
    high = np.asarray(model.input_norm.high).reshape(shape)
    crop = tuple(slice(side) for side in sides)
    return (low + (high - low) * field[(slice(None), *crop)])[None].astype(np.float32)


def _axis_rules(mconfig: ModelConfig) -> list[tuple[int, int]]:
    """Least size and step of each spatial axis of the input ((Z,) Y, X); step 0: fixed.

    A network of the phases of ``noise_strides`` takes Y and X the strides
    times its phases' sizes.
    """
    if _is_fixed(mconfig):
        return [(mconfig.input_size, 0)] * 2
    least, step = _size_rule(mconfig)
    rules = [(least * stride, step * stride) for stride in mconfig.noise_strides]
    if mconfig.spatial_dims == 3:
        step = 2**mconfig.depth
        rules.insert(0, (step * (2 * UNET_HALO_Z // step + 1), step))
    return rules


def _is_fixed(mconfig: ModelConfig) -> bool:
    """Whether the network takes one input size only (a dense bottleneck)."""
    return mconfig.architecture in LATENT_ARCHITECTURES


def _size_rule(mconfig: ModelConfig) -> tuple[int, int]:
    """Minimum and step of the input's Y and X of a network that takes many sizes."""
    if mconfig.architecture == Architecture.UNET.value:
        # sizes that need no padding inside the network (so the TorchScript trace holds),
        # with room for the halo on both sides
        step = 2**mconfig.depth
        return step * (2 * UNET_HALO // step + 1), step
    return 2 * _superres_reach(mconfig) + 1, 1


def _superres_reach(mconfig: ModelConfig) -> int:
    """Input pixels an upscaler's output depends on beyond each side of its own pixel.

    Head and tail convolutions and two per residual block (1 pixel each),
    and the bicubic interpolation (2 pixels).
    """
    return 2 + 2 * mconfig.blocks + 2


def _run_network(model: TrainedModel, batch: np.ndarray) -> np.ndarray:
    """The model's output (B, C, Y, X) in the target's units, as bioimage.io computes it."""
    x = torch.from_numpy(model.input_norm.normalize(batch))
    with torch.inference_mode():
        y = _packaged_network(model)(x).float().numpy()
    return model.target_norm.denormalize(y)


def _packaged_network(model: TrainedModel) -> torch.nn.Module:
    """The network as the package holds it, on the CPU in evaluation mode.

    Applied to the phases of ``noise_strides`` (:class:`~..nn.models.Phased`).
    """
    return models.phased(model.network, model.config.model.noise_strides)


def _write_files(
    model: TrainedModel, folder: Path, test_input: np.ndarray, test_output: np.ndarray
) -> dict[str, Path]:
    """Write the weights, architecture, test tensors, cover and README; return their paths."""
    files = {
        "weights": folder / "weights.pt",
        "torchscript": folder / "weights_torchscript.pt",
        "architecture": folder / "napari_autoencoders_networks.py",
        "test_input": folder / "test_input.npy",
        "test_output": folder / "test_output.npy",
        "cover": folder / "cover.png",
        "readme": folder / "README.md",
    }
    network = _packaged_network(model)
    state = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    torch.save(state, files["weights"])
    with warnings.catch_warnings():
        # the trace holds for every size the package allows: those need no padding inside the
        # U-Net, whose shape tests are what the tracer warns about; torch.jit is deprecated
        # but TorchScript is what Fiji/deepImageJ read
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(network, torch.from_numpy(model.input_norm.normalize(test_input)))
    traced.save(str(files["torchscript"]))
    files["architecture"].write_text(architecture_source())
    np.save(files["test_input"], test_input)
    np.save(files["test_output"], test_output.astype(np.float32))
    _write_cover(model, files["cover"], test_input, test_output)
    files["readme"].write_text(_readme(model, test_input.shape))
    return files


def _write_cover(
    model: TrainedModel, path: Path, test_input: np.ndarray, test_output: np.ndarray
) -> None:
    """A PNG of the first channel of the input and the output side by side."""
    import imageio.v3 as iio

    factor = model.config.model.factor
    middle = (test_input.shape[2] // 2,) if test_input.ndim == 5 else ()  # a volume's middle plane
    shown = [
        np.repeat(
            np.repeat(model.input_norm.normalize(test_input)[(0, 0, *middle)], factor, 0), factor, 1
        ),
        model.target_norm.normalize(test_output)[(0, 0, *middle)],
    ]
    image = np.concatenate([np.clip(part, 0, 1) for part in shown], axis=1)
    iio.imwrite(path, (image * 255).round().astype(np.uint8))


_TASK_NAMES = {
    Task.DENOISE.value: "denoiser",
    Task.RECONSTRUCT.value: "autoencoder",
    Task.SUPERRES.value: "super-resolution",
    Task.VAE.value: "variational autoencoder",
    Task.AAE.value: "adversarial autoencoder",
}


def _has_mode(training: TrainingConfig) -> bool:
    return training.task in TASK_MODES


def _default_description(model: TrainedModel) -> str:
    training = model.config.training
    if model.config.model.spatial_dims == 3:
        return (
            f"Denoises 3D volumes with a 3D U-Net ({training.mode} training); trained with "
            f"napari-autoencoders {__version__}."
        )
    what = {
        Task.DENOISE.value: f"Denoises 2D images ({training.mode} training)",
        Task.RECONSTRUCT.value: "Reconstructs 2D images through a latent bottleneck",
        Task.SUPERRES.value: (
            f"Upscales 2D images {model.config.model.factor}x ({training.mode} training)"
        ),
        Task.VAE.value: "Reconstructs 2D images through a variational latent",
        Task.AAE.value: "Reconstructs 2D images through a latent shaped by an adversary",
    }[training.task]
    return f"{what}; trained with napari-autoencoders {__version__}."


def _readme(model: TrainedModel, test_shape: tuple[int, ...]) -> str:
    config = model.config
    mconfig, training, data = config.model, config.training, config.data
    history = model.history
    lines = [
        f"# napari-autoencoders {_TASK_NAMES[training.task]}",
        "",
        _default_description(model),
        "",
        "## Network",
        "",
        (
            f"- architecture `{mconfig.architecture}`, {mconfig.in_channels} channel(s) in, "
            f"{mconfig.out_channels} out; depth {mconfig.depth}, width {mconfig.width}"
        ),
    ]
    if _is_fixed(mconfig):
        lines.append(
            f"- fixed input size {mconfig.input_size}x{mconfig.input_size}, latent of "
            f"{mconfig.latent_dim} dimensions"
        )
    else:
        minimum, step = _size_rule(mconfig)
        lines.append(f"- input Y and X of {minimum} + n x {step} pixels")
    if mconfig.spatial_dims == 3:
        minimum, step = _axis_rules(mconfig)[0]
        lines.append(f"- input Z of {minimum} + n x {step} planes")
    if mconfig.factor > 1:
        lines.append(f"- output {mconfig.factor} times larger in Y and X")
    volumes = mconfig.spatial_dims == 3
    patch = f"{data.patch_z}x" * volumes + f"{data.patch_size}x{data.patch_size}"
    lines += [
        "- volumes (z, y, x) are processed whole, stacks of them along the batch axis"
        if volumes
        else "- stacks are processed plane by plane (the batch axis)",
        "",
        "## Training",
        "",
        f"- task `{training.task}`" + (f", mode `{training.mode}`" if _has_mode(training) else ""),
        (
            f"- data axes `{data.axes}`, patches {patch}, batches of "
            f"{data.batch_size}, percentiles {tuple(data.percentiles)} mapped to 0 and 1"
        ),
        f"- AdamW, learning rate {training.learning_rate}, seed {training.seed}",
    ]
    if training.mode == "synthetic" and training.task == Task.DENOISE.value:
        lines.append(f"- noise added during training: `{training.noise}`")
    if history:
        losses_ = [entry["val_loss"] for entry in history if entry.get("val_loss") is not None]
        best = f", best validation loss {min(losses_):.4g}" if losses_ else ""
        lines.append(
            f"- {len(history)} epoch(s), {history[-1]['step']} steps in "
            f"{history[-1]['elapsed']:.0f} s{best}"
        )
    lines += [
        "",
        "## Inputs and outputs",
        "",
        "- preprocessing: `scale_linear` per channel, the training data's percentiles to 0 and 1",
        "- postprocessing: `scale_linear` per channel, back to the units of the training targets",
        f"- test input of shape {test_shape} (batch, channel, {'z, ' * volumes}y, x)",
    ]
    if mconfig.clip_low is not None or mconfig.clip_high is not None:
        lines.append(
            f"- not in this package: the data were clipped at {mconfig.clip_low} and "
            f"{mconfig.clip_high}; napari-autoencoders maps the output near those levels, the "
            "mean of clipped noisy values, back to clean values (its `declip_noise`), a bioimage.io "
            "runner does not"
        )
    if mconfig.noise_gain > 0 or mconfig.noise_variance > 0:
        lines.append(
            "- not in this package: napari-autoencoders replaces hot and dead pixels (single "
            "pixels far brighter or darker than all their neighbours) by the median of their "
            "neighbours before denoising, a bioimage.io runner does not"
        )
    if tuple(mconfig.noise_strides) != (1, 1):
        rows, columns = mconfig.noise_strides
        lines.append(
            "- the training data's noise correlated along rows or columns: the network denoises "
            f"the interleaved sets of pixels {rows} rows and {columns} columns apart (its "
            "`noise_strides`), in both weight formats, as napari-autoencoders does; the input's "
            "y and x are multiples of those"
        )
    lines += [
        "",
        "## Validation",
        "",
        (
            "The test output is this model's output for the test input; the bioimage.io model "
            "test reproduces it with both weight formats, at several input sizes."
        ),
        "",
        "## Use",
        "",
        "In napari, *Apply model* > *Load from file…*; on the command line:",
        "",
        "    napari-autoencoders apply --model package.zip --input image.tif --output out.tif",
        "",
        (
            "The weights come as `pytorch_state_dict` (architecture in "
            "`napari_autoencoders_networks.py`, torch alone) and `torchscript`."
        ),
        "",
    ]
    return "\n".join(lines)


def _describe(v, model: TrainedModel, files: dict[str, Path], **meta):
    """The spec-0.5 model description (``v``: the module of spec 0.5) of the exported files."""
    mconfig = model.config.model
    channel_names = [f"channel{index}" for index in range(mconfig.in_channels)]
    out_names = [f"channel{index}" for index in range(mconfig.out_channels)]
    input_id, output_id = v.TensorId("input"), v.TensorId("output")
    if _is_fixed(mconfig):
        size = mconfig.input_size
        in_space = [v.SpaceInputAxis(id=v.AxisId(a), size=size) for a in "yx"]
        out_space = [v.SpaceOutputAxis(id=v.AxisId(a), size=size) for a in "yx"]
    else:
        factor = mconfig.factor
        halo = UNET_HALO if factor == 1 else _superres_reach(mconfig) * factor
        names, halos = "yx", [halo * stride for stride in mconfig.noise_strides]
        if mconfig.spatial_dims == 3:
            names, halos = "zyx", [UNET_HALO_Z, *halos]
        rules = _axis_rules(mconfig)
        in_space = [
            v.SpaceInputAxis(id=v.AxisId(a), size=v.ParameterizedSize(min=minimum, step=step))
            for a, (minimum, step) in zip(names, rules)
        ]
        out_space = [
            v.SpaceOutputAxisWithHalo(
                id=v.AxisId(a),
                halo=axis_halo,
                scale=1 / factor,
                size=v.SizeReference(tensor_id=input_id, axis_id=v.AxisId(a)),
            )
            for a, axis_halo in zip(names, halos)
        ]
    inputs = v.InputTensorDescr(
        id=input_id,
        description="image planes in the units of the training data",
        axes=[v.BatchAxis(), v.ChannelAxis(channel_names=channel_names), *in_space],
        test_tensor=v.FileDescr(source=files["test_input"]),
        preprocessing=_scale_linear(v, *_normalize_affine(model.input_norm)),
    )
    norm = model.target_norm
    scale = (np.asarray(norm.high) - np.asarray(norm.low)).tolist()
    outputs = v.OutputTensorDescr(
        id=output_id,
        description=_TASK_NAMES[model.config.training.task] + " output",
        axes=[v.BatchAxis(), v.ChannelAxis(channel_names=out_names), *out_space],
        test_tensor=v.FileDescr(source=files["test_output"]),
        postprocessing=_scale_linear(v, scale, list(norm.low)),
    )
    torch_version = v.Version(torch.__version__.split("+")[0])
    weights = v.WeightsDescr(
        pytorch_state_dict=v.PytorchStateDictWeightsDescr(
            source=files["weights"],
            architecture=v.ArchitectureFromFileDescr(
                source=files["architecture"],
                callable=v.Identifier(ARCHITECTURE_CALLABLE),
                kwargs=dataclasses.asdict(mconfig),
            ),
            pytorch_version=torch_version,
        ),
        torchscript=v.TorchscriptWeightsDescr(
            source=files["torchscript"],
            parent="pytorch_state_dict",
            pytorch_version=torch_version,
            comment="traced from the pytorch_state_dict network",
        ),
    )
    cites = [_CITATIONS[mconfig.architecture]]
    training = model.config.training
    if (training.task, training.mode) == (Task.DENOISE.value, "self-supervised"):
        cites.append(_NOISE2VOID)
    return v.ModelDescr(
        name=meta["name"],
        description=meta["description"],
        authors=[v.Author(name=author) for author in meta["authors"]],
        cite=[v.CiteEntry(text=text, doi=v.Doi(doi)) for text, doi in cites],
        license=meta["license"],
        documentation=v.FileDescr(source=files["readme"]),
        covers=[v.FileDescr(source=files["cover"])],
        tags=["napari-autoencoders", f"{mconfig.spatial_dims}d", "pytorch", training.task],
        inputs=[inputs],
        outputs=[outputs],
        weights=weights,
        timestamp=datetime.datetime.now(datetime.timezone.utc),
        config={CONFIG_KEY: model_entries(model)},
    )


def _normalize_affine(norm: Normalizer) -> tuple[list[float], list[float]]:
    """Gain and offset per channel of ``norm.normalize``."""
    low, high = np.asarray(norm.low, np.float64), np.asarray(norm.high, np.float64)
    gain = 1.0 / (high - low)
    return gain.tolist(), (-low * gain).tolist()


def _scale_linear(v, gain: list[float], offset: list[float]) -> list:
    """A ``scale_linear`` step per channel, or none for the identity (which the spec forbids)."""
    if all(g == 1.0 for g in gain) and all(o == 0.0 for o in offset):
        return []
    kwargs = v.ScaleLinearAlongAxisKwargs(axis=v.AxisId("channel"), gain=gain, offset=offset)
    return [v.ScaleLinearDescr(kwargs=kwargs)]


# -- import -----------------------------------------------------------------


def load_bioimageio(path: str | os.PathLike, *, run_package_code: bool = False) -> TrainedModel:
    """Open a bioimage.io model package for prediction with our tiling.

    A package exported by :func:`export_bioimageio` opens as the model that
    was exported (config, normalisation, history and latent density included). Another
    tool's package opens as an adapter: a :class:`TrainedModel` whose
    network is a :class:`~.foreign_packages.PackageNetwork` and whose normalisation comes from
    the package's fixed pre- and postprocessing.

    Parameters
    ----------
    path : path-like
        A package ``.zip``, or the ``rdf.yaml``/``bioimageio.yaml`` of an
        unpacked one.
    run_package_code : bool
        Allow another tool's package without TorchScript weights to run its
        architecture file (Python code in the package) to build its network.
        Ours are built from their config and never run code; TorchScript
        weights, preferred where present, run no Python.

    Raises
    ------
    BioimageioError
        If the package is missing or invalid, or uses what cannot be
        predicted with our tiling: weights other than pytorch_state_dict or
        torchscript, 3D or non-image axes, several inputs or outputs,
        processing that depends on each image's statistics.
    PackageCodeError
        If the package's network is Python code of its own and
        ``run_package_code`` is False.
    MissingExtraError
        If the ``bioimageio`` extra is not installed.
    """
    bio = _import_bioimageio()
    path = Path(path)
    if not path.exists():
        raise BioimageioError(f"bioimage.io package {str(path)!r} does not exist.")
    try:
        descr = bio.load_model_description(path, format_version="latest", perform_io_checks=False)
    except (ValueError, OSError) as err:
        raise BioimageioError(
            f"{str(path)!r} is not a valid bioimage.io model package: {err}"
        ) from err
    except (bio.YAMLError, RecursionError) as err:
        raise BioimageioError(
            f"{str(path)!r} is not a valid bioimage.io model package: its rdf.yaml is not "
            f"readable YAML ({_yaml_problem(err)})."
        ) from err
    ours = (descr.config.model_extra or {}).get(CONFIG_KEY)
    if ours is not None and descr.weights.pytorch_state_dict is not None:
        return _load_ours(bio, descr, ours, path)
    from .foreign_packages import load_foreign  # it imports this module

    return load_foreign(bio, descr, path, run_package_code=run_package_code)


def _yaml_problem(err: Exception) -> str:
    """The first line of a YAML error: its problem and where, or why it could not be read."""
    if isinstance(err, RecursionError):
        return "nested too deeply"
    problem, mark = getattr(err, "problem", None), getattr(err, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}"
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _load_ours(bio, descr, ours: dict, path: Path) -> TrainedModel:
    """Our own package as the model that was exported.

    The weights are compared with the network the config describes, built
    on the ``meta`` device, before anything of its size is read or built:
    weights.pt may hold no more bytes than those tensors (with torch's
    container), and its tensors must be theirs.
    """
    try:
        config = Config.from_dict(ours["config"], written_by=ours.get("package_version"))
        strides = config.model.noise_strides
        # the package's network of phases holds ours; our prediction splits the images itself
        expected = models.phased(meta_network(config.model), strides).state_dict()
        state = _state_dict(_read_weights(bio, descr.weights.pytorch_state_dict, expected))
        check_shapes(expected, {name: tuple(t.shape) for name, t in state.items()})
        check_weights(state, expected)  # dtypes, finite values
        network = models.build_model(config.model)
        models.phased(network, strides).load_state_dict(state, strict=True)
        input_norm, target_norm, history, density = model_parts(ours, config)
        return TrainedModel(config=config, network=network.eval(), input_norm=input_norm,
                            target_norm=target_norm, history=history, density=density)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise BioimageioError(f"package {str(path)!r} is inconsistent: {err}") from err


def _read_weights(bio, entry, expected: dict[str, torch.Tensor]) -> bytes:
    """The bytes of weights.pt (``entry``), at most those of the tensors ``expected`` needs.

    The limit is their bytes and :data:`CONTAINER_BYTES`. The file's
    unpacked size is compared with it before reading (a small, compressed
    member of the package may unpack to gigabytes), what is read stops
    there, and so do the records of torch's own zip inside it.

    Raises
    ------
    ValueError
        If weights.pt or its records hold more than the limit.
    """
    fixed, per_tensor = CONTAINER_BYTES
    limit = fixed + sum(t.numel() * t.element_size() + per_tensor for t in expected.values())
    size = _unpacked_size(entry.source)
    if size is None or size <= limit:
        data = _read_at_most(bio.download(entry), limit + 1)
        size = max(len(data), _records_size(data))
    if size > limit:
        raise ValueError(
            f"weights.pt holds {size} bytes, more than the {limit} that the tensors of its "
            "config's network take in a torch file; the package is corrupt or was edited."
        )
    return data


def _read_at_most(reader, count: int, chunk: int = 2**20) -> bytes:
    """The first ``count`` bytes of ``reader``, read in chunks (``read(count)`` allocates ``count``)."""
    parts, left = [], count
    while left > 0 and (part := reader.read(min(chunk, left))):
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _unpacked_size(source) -> int | None:
    """Bytes of ``source``, a member of a package's zip or a local file; None where unknown (a URL)."""
    source = source.absolute() if hasattr(source, "absolute") else source
    root = getattr(source, "root", None)
    if isinstance(root, zipfile.ZipFile):
        return root.getinfo(source.at).file_size
    return source.stat().st_size if isinstance(source, Path) else None


def _records_size(data: bytes) -> int:
    """Bytes of the records of torch's zip ``data`` unpacked (which torch inflates); 0 if not a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        return 0


def _state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of ``data``, the package's weights.pt, read without running code.

    Raises
    ------
    ValueError
        If ``data`` is not a torch file of named tensors: corrupt, empty, or
        a pickle of other objects, which ``weights_only`` refuses. Torch's
        message, which advises ``weights_only=False`` (running the file's
        code), is not passed on.
    """
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except _NOT_A_STATE_DICT:
        state = None
    if not (isinstance(state, dict) and all(isinstance(t, torch.Tensor) for t in state.values())):
        raise ValueError(
            "weights.pt is not a torch state dict (it is corrupt, empty or holds other Python "
            "objects); export the model again."
        )
    return state


def _import_bioimageio() -> SimpleNamespace:
    """What this module uses of bioimageio.spec and bioimageio.core; ``v`` is the spec 0.5."""
    try:
        from bioimageio.core.backends.pytorch_backend import load_torch_model
        from bioimageio.spec import load_model_description, save_bioimageio_package
        from bioimageio.spec.model import v0_5
        from bioimageio.spec.utils import download
        from ruyaml import YAMLError  # bioimageio.spec's YAML parser
    except ImportError as err:
        raise MissingExtraError(
            f"bioimage.io packages need the bioimageio.spec and bioimageio.core packages: "
            f"{INSTALL_HINT}"
        ) from err
    return SimpleNamespace(
        v=v0_5,
        load_torch_model=load_torch_model,
        load_model_description=load_model_description,
        save_bioimageio_package=save_bioimageio_package,
        download=download,
        YAMLError=YAMLError,
    )
