"""Other tools' bioimage.io packages as models our tiled prediction can run.

A package opens as a :class:`~napari_autoencoders.core.model.TrainedModel`
whose network is a :class:`PackageNetwork` (the package's network behind
our (B, C, Y, X) layout, padding inputs to a size the package allows) and
whose normalisation is the package's fixed pre- and postprocessing. It works
for one 2D input image and one output image (axes batch, channel, y, x in
any order), with ``torchscript`` weights or, where allowed to run the
package's own Python code, ``pytorch_state_dict`` weights, and fixed affine
processing (``scale_linear``, ``fixed_zero_mean_unit_variance``).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import Architecture, Config, DataConfig, ModelConfig, Task, TrainingConfig
from ..data.normalization import Normalizer
from ..model import TrainedModel
from .bioimageio import BioimageioError, PackageCodeError

#: Weight formats that can be opened, in order of preference: TorchScript runs no Python of
#: the package, a state dict's architecture file is the package's own code.
READABLE_WEIGHTS = ("torchscript", "pytorch_state_dict")


def load_foreign(
    bio: SimpleNamespace, descr, path: Path, *, run_package_code: bool = False
) -> TrainedModel:
    """Open another tool's package, already read into ``descr`` (a spec-0.5 ModelDescr).

    ``bio`` holds the bioimageio functions in use (see
    :func:`.bioimageio.load_bioimageio`, the public entry point, which
    describes ``run_package_code``).

    Raises
    ------
    BioimageioError
        Naming what the package has that cannot be predicted with our tiling.
    PackageCodeError
        If only the package's own code can build its network, not allowed to run.
    """
    where = f"package {str(path)!r} ({descr.name})"
    if len(descr.inputs) != 1 or len(descr.outputs) != 1:
        raise BioimageioError(
            f"{where} has {len(descr.inputs)} input(s) and {len(descr.outputs)} output(s); "
            "only models of one input image and one output image are supported."
        )
    tensor_in, tensor_out = descr.inputs[0], descr.outputs[0]
    in_axes = _axis_roles(tensor_in, where, "input")
    out_axes = _axis_roles(tensor_out, where, "output")
    sizes = {axis.id: axis.size for axis in tensor_in.axes}
    in_channels = _channels(tensor_in)
    out_channels = _channels(tensor_out)
    fixed = [sizes[a] for a in ("y", "x") if isinstance(sizes[a], int)]
    factor = _output_factor(bio.v, tensor_in, tensor_out, where)
    if fixed:
        if len(fixed) != 2 or fixed[0] != fixed[1] or factor != 1:
            raise BioimageioError(
                f"{where} takes a fixed input of {sizes['y']} x {sizes['x']}; only square fixed "
                "sizes with outputs of the same size are supported."
            )
        model_config = ModelConfig(
            architecture=Architecture.AUTOENCODER.value,
            in_channels=in_channels,
            out_channels=out_channels,
            input_size=fixed[0],
        )
        task = Task.RECONSTRUCT.value
        minimum, step = fixed[0], 1
    else:
        minimum, step = _parameterized(sizes, where)
        model_config = ModelConfig(
            architecture=Architecture.SUPERRES.value if factor > 1 else Architecture.UNET.value,
            in_channels=in_channels,
            out_channels=out_channels,
            depth=max(0, int(math.log2(step))) if step & (step - 1) == 0 else 0,
            factor=factor,
        )
        task = Task.SUPERRES.value if factor > 1 else Task.DENOISE.value
    # every check before the network: a package refused for its processing asks nothing
    in_gain, in_offset = _affine_chain(tensor_in.preprocessing, in_channels, where, "preprocessing")
    out_gain, out_offset = _affine_chain(
        tensor_out.postprocessing, out_channels, where, "postprocessing"
    )
    network = PackageNetwork(
        _foreign_network(bio, descr, where, run_package_code),
        input_axes=in_axes,
        output_axes=out_axes,
        minimum=minimum,
        step=step,
        factor=factor,
    )
    axes = "YXC" if in_channels > 1 else "YX"
    config = Config(
        model=model_config,
        data=DataConfig(axes=axes, patch_size=minimum),
        training=TrainingConfig(task=task),
    )
    low = -in_offset / in_gain
    return TrainedModel(
        config=config,
        network=network.eval(),
        input_norm=Normalizer(low.tolist(), (low + 1 / in_gain).tolist()),
        target_norm=Normalizer(out_offset.tolist(), (out_offset + out_gain).tolist()),
    )


def _axis_roles(tensor, where: str, kind: str) -> str:
    """The tensor's axes as letters ``B``, ``C``, ``Y``, ``X``; raise for any other axis."""
    letters = ""
    for axis in tensor.axes:
        if axis.type == "batch":
            letters += "B"
        elif axis.type == "channel":
            letters += "C"
        elif axis.type == "space" and axis.id in ("y", "x"):
            letters += axis.id.upper()
        elif axis.type == "space":
            raise BioimageioError(
                f"{where} has a 3D {kind} (space axis {axis.id!r}); only 2D models (axes y "
                "and x) are supported for now."
            )
        else:
            raise BioimageioError(
                f"{where} has a {axis.type} axis {axis.id!r} in its {kind}; only image-to-image "
                "models with axes batch, channel, y and x are supported."
            )
    if "Y" not in letters or "X" not in letters:
        raise BioimageioError(
            f"{where}'s {kind} lacks space axis y or x; only image-to-image models are supported."
        )
    return letters


def _channels(tensor) -> int:
    return next((axis.size for axis in tensor.axes if axis.type == "channel"), 1)


def _output_factor(v, tensor_in, tensor_out, where: str) -> int:
    """Output pixels per input pixel along Y and X (the same on both)."""
    in_axes = {axis.id: axis for axis in tensor_in.axes}
    factors = set()
    for axis in tensor_out.axes:
        if axis.type != "space":
            continue
        if isinstance(axis.size, int) and isinstance(in_axes[axis.id].size, int):
            ratio = axis.size / in_axes[axis.id].size
        elif isinstance(axis.size, v.SizeReference) and axis.size.axis_id == axis.id:
            if axis.size.offset:
                raise BioimageioError(
                    f"{where}'s output axis {axis.id!r} has a size offset of {axis.size.offset} "
                    "pixels from the input's (as networks of valid convolutions have); only "
                    "outputs of the input's size, or a whole multiple of it, are supported."
                )
            ratio = in_axes[axis.id].scale / axis.scale
        else:
            raise BioimageioError(
                f"{where}'s output axis {axis.id!r} does not follow the input's size; only "
                "image-to-image models are supported."
            )
        factors.add(ratio)
    if len(factors) != 1 or next(iter(factors)) not in (1, 2, 3, 4):
        raise BioimageioError(
            f"{where} scales Y and X by {sorted(factors)}; only equal whole factors 1 to 4 are "
            "supported."
        )
    return int(next(iter(factors)))


def _parameterized(sizes: dict, where: str) -> tuple[int, int]:
    """The common minimum and step of the input's Y and X."""
    rules = {(size.min, size.step) for size in (sizes["y"], sizes["x"]) if hasattr(size, "step")}
    if len(rules) != 1:
        raise BioimageioError(
            f"{where} has input sizes {sizes['y']} and {sizes['x']}; only Y and X of the same "
            "min + n x step rule are supported."
        )
    return next(iter(rules))


def _foreign_network(bio, descr, where: str, run_package_code: bool) -> nn.Module:
    """The package's network, from its torchscript or pytorch_state_dict weights, on the CPU."""
    weights = descr.weights
    present = [name for name, entry in weights if entry is not None]
    unreadable = None  # why torchscript weights could not be read, if they could not
    if weights.torchscript is not None:
        data = bio.download(weights.torchscript).read()
        try:
            return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
        except RuntimeError as err:
            if weights.pytorch_state_dict is None:
                raise BioimageioError(f"{where}'s torchscript weights cannot be read: {err}") from err
            unreadable = str(err).strip().splitlines()[0]
    if weights.pytorch_state_dict is not None:
        if not run_package_code:
            architecture = weights.pytorch_state_dict.architecture
            code = getattr(architecture, "source", None) or architecture.import_from
            script = (
                f"its torchscript weights cannot be read ({unreadable})"
                if unreadable
                else "it has no torchscript weights"
            )
            raise PackageCodeError(
                f"{where} builds its network by running Python code it names ({code}, "
                f"{architecture.callable}), and {script}; a model file runs no code unless "
                "allowed: allow it (the apply command's --run-package-code, or Yes when napari "
                "asks) only for a package from a source you trust."
            )
        try:
            return bio.load_torch_model(weights.pytorch_state_dict, devices=["cpu"]).eval()
        except Exception as err:  # the package's own code may raise anything
            raise BioimageioError(
                f"{where}'s pytorch_state_dict network cannot be built: {err}"
            ) from err
    raise BioimageioError(
        f"{where} has weights in {', '.join(present)}; napari-autoencoders can open "
        f"{' or '.join(READABLE_WEIGHTS)} weights only."
    )


def _step_affine(step) -> tuple[object, object]:
    """Gain and offset (scalars or per channel) of a fixed affine processing step."""
    kwargs = step.kwargs
    if step.id == "scale_linear":
        return kwargs.gain, kwargs.offset
    std = np.asarray(kwargs.std, np.float64) + 1e-6  # as bioimageio.core, eps added to std
    gain = 1.0 / std
    return gain, -np.asarray(kwargs.mean, np.float64) * gain


def _affine_chain(steps, channels: int, where: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Gain and offset per channel of a chain of fixed affine steps."""
    gain, offset = np.ones(channels), np.zeros(channels)
    for step in steps:
        if step.id == "ensure_dtype":
            continue
        if step.id not in ("scale_linear", "fixed_zero_mean_unit_variance"):
            raise BioimageioError(
                f"{where}'s {kind} step {step.id!r} is not supported: tiled prediction applies "
                "only fixed affine steps (scale_linear, fixed_zero_mean_unit_variance), since "
                "steps computed from each image would differ from tile to tile."
            )
        axis = getattr(step.kwargs, "axis", None)
        if axis is not None and axis != "channel":
            raise BioimageioError(
                f"{where}'s {kind} step {step.id!r} varies along axis {axis!r}; only "
                "per-channel values are supported."
            )
        step_gain, step_offset = (
            np.broadcast_to(np.asarray(value, np.float64), channels) for value in _step_affine(step)
        )
        gain, offset = step_gain * gain, step_gain * offset + step_offset
    return gain, offset


class PackageNetwork(nn.Module):
    """Another tool's network, seen as one of ours: (B, C, Y, X) in and out.

    The input is padded (reflected) up to a size the package allows, the
    axes are put in the package's order, and the output is cropped back to
    the input's size times ``factor``.

    Parameters
    ----------
    network : torch.nn.Module
        The package's network (after its preprocessing, before its
        postprocessing).
    input_axes, output_axes : str
        The package's axis orders as letters of ``"BCYX"``; ``B`` and ``C``
        may be missing.
    minimum, step : int
        Valid input sides are ``minimum + n * step``.
    factor : int
        Output pixels per input pixel along Y and X.
    """

    #: Another tool's network: its outputs may be directional (a segmentation's flows or
    #: affinities), which averaging over rotations would mix up
    #: (:func:`~..inference.prediction.default_ensemble`).
    foreign = True

    def __init__(
        self,
        network: nn.Module,
        *,
        input_axes: str,
        output_axes: str,
        minimum: int,
        step: int,
        factor: int,
    ):
        super().__init__()
        self.network = network
        self.input_axes, self.output_axes = input_axes, output_axes
        self.minimum, self.step, self.factor = minimum, step, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C, Y, X) to (B, C_out, Y * factor, X * factor)."""
        height, width = x.shape[-2:]
        pad_y, pad_x = (self._valid(size) - size for size in (height, width))
        if pad_y or pad_x:
            mode = "reflect" if pad_y < height and pad_x < width else "replicate"
            x = F.pad(x, (0, pad_x, 0, pad_y), mode=mode)
        outputs = (
            [self._run(sample) for sample in x] if "B" not in self.input_axes else [self._run(x)]
        )
        y = torch.cat(outputs) if "B" in self.input_axes else torch.stack(outputs)
        return y[..., : height * self.factor, : width * self.factor]

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Run (B, C, Y, X) or (C, Y, X) through the network, in its axis orders."""
        ours = "BCYX" if x.ndim == 4 else "CYX"
        if "C" not in self.input_axes:
            x, ours = x.squeeze(ours.index("C")), ours.replace("C", "")
        y = self.network(x.permute(*(ours.index(a) for a in self.input_axes)).contiguous())
        theirs = self.output_axes if "B" in self.input_axes else self.output_axes.replace("B", "")
        if "C" not in theirs:
            y, theirs = y.unsqueeze(0), "C" + theirs
        target = "BCYX" if "B" in theirs else "CYX"
        return y.permute(*(theirs.index(a) for a in target))

    def _valid(self, size: int) -> int:
        """The smallest valid side not below ``size``."""
        return self.minimum + max(0, math.ceil((size - self.minimum) / self.step)) * self.step
