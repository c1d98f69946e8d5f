"""Model files: weights in safetensors, everything else as JSON in its header.

One file holds the weights, the config, the normalisation, the training
history and, for a VAE, the density of its training codes. Loading parses JSON and raw tensors only, so a model file can never
execute code (unlike a pickled torch checkpoint).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ... import __version__
from ..config import Config, ModelConfig
from ..nn.models import build_model
from ..data.normalization import Normalizer, is_number
from ..latent.density import LatentDensity
from ..model import TrainedModel
from .images import replacing

#: Written in every file's header; a file without it is not ours.
FORMAT = "napari-autoencoders"
#: Layout of the header; bumped when a key changes meaning.
FORMAT_VERSION = 1
#: The numbers of each epoch of a training history, as the training writes them.
HISTORY_KEYS = ("epoch", "step", "loss", "val_loss", "elapsed")


class ModelFileError(ValueError):
    """A file that is missing, corrupt, or not a napari-autoencoders model."""


def save_model(model: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` (conventionally ``*.safetensors``); return the path.

    The file is written under a temporary name in the same folder and
    renamed over ``path`` only when complete, so a failed or interrupted
    save never leaves a broken model where a good one was.

    Raises
    ------
    ValueError
        If ``path`` names a bioimage.io package (``.zip``, ``rdf.yaml``), which
        :func:`load_model` would open as one.
    OSError
        If the folder does not exist or cannot be written.
    """
    path = Path(path)
    _check_not_package(path)
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.network.state_dict().items()}
    entries = model_entries(model)
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
    header["package_version"] = entries.pop("package_version")
    header.update({key: json.dumps(value) for key, value in entries.items()})
    if path.is_dir():
        raise OSError(f"cannot write model file {str(path)!r}: it is a folder; give a file name.")
    try:
        with replacing(path) as temporary:
            save_file(tensors, str(temporary), metadata=header)
    except (SafetensorError, OSError) as err:  # e.g. a folder that does not exist
        raise OSError(f"cannot write model file {str(path)!r}: {err}") from err
    return path


def _check_not_package(path: Path) -> None:
    """Raise ``ValueError`` if ``path`` is named as a package, which :func:`load_model` reads as one."""
    from .bioimageio import is_package  # it imports this module

    if is_package(path):
        raise ValueError(
            f"cannot write a model file named {path.name!r}: load_model opens that name as a "
            f"bioimage.io package; name it {path.with_suffix('.safetensors').name!r}, or export "
            "a package (export_bioimageio, or the export command)."
        )


def load_model(path: str | os.PathLike, *, run_package_code: bool = False) -> TrainedModel:
    """Read a model written by :func:`save_model`, or open a bioimage.io package.

    A ``.zip`` or ``rdf.yaml`` path is opened by
    :func:`~napari_autoencoders.core.io.bioimageio.load_bioimageio`, which
    runs another tool's package's own Python code only where
    ``run_package_code`` allows it (a package without TorchScript weights).

    Nothing in the file is executed: the header is JSON and the weights raw
    tensors. The tensors' names and shapes are compared with those of the
    network the config describes, built on the ``meta`` device (no memory),
    before the network is built for real, so a small file cannot make this
    allocate a huge network; config sizes are bounded as well
    (:data:`~napari_autoencoders.core.config.MODEL_LIMITS`).

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, from another program, from a newer
        version of this package, its config has fields of the wrong type,
        its weights do not fit its config or are not all finite float
        numbers, or its normalisation is not finite with low < high.
    """
    from .bioimageio import is_package, load_bioimageio  # it imports this module

    if is_package(path):
        return load_bioimageio(path, run_package_code=run_package_code)
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{str(path)!r} is a folder, not a model file.")
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist.")
    header, shapes = _read_layout(path)
    _check_format(path, header)
    try:
        config = Config.from_dict(
            _header_json(header, "config"), written_by=header.get("package_version")
        )
        check_shapes(meta_network(config.model).state_dict(), shapes)
        entries = {key: _header_json(header, key) for key in ("input_norm", "target_norm")}
        entries["history"] = _header_json(header, "history", default="[]")
        if "latent_density" in header:
            entries["latent_density"] = _header_json(header, "latent_density")
        input_norm, target_norm, history, density = model_parts(entries, config)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"model file {str(path)!r} is inconsistent: {err}") from err
    network = build_model(config.model)
    tensors = _read_tensors(path)
    try:
        check_weights(tensors, network.state_dict())
        network.load_state_dict(tensors, strict=True)
    except (ValueError, RuntimeError) as err:
        raise ModelFileError(f"model file {str(path)!r} is unusable: {err}") from err
    return TrainedModel(
        config=config,
        network=network.eval(),
        input_norm=input_norm,
        target_norm=target_norm,
        history=history,
        density=density,
    )


def _read_layout(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The header and the tensors' shapes, without reading any tensor."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(
            f"{str(path)!r} is not a readable model file (corrupt or another format): {err}"
        ) from err
    return header, shapes


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"could not read the weights in {str(path)!r}: {err}") from err


def _check_format(path: Path, header: dict[str, str]) -> None:
    if header.get("format") != FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is a safetensors file but was not written by napari-autoencoders."
        )
    version = header.get("format_version", "0")
    if not re.fullmatch(r"[0-9]{1,6}", version):
        raise ModelFileError(
            f"{str(path)!r} has an unreadable format_version {version!r}; the file is corrupt."
        )
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} was written by a newer napari-autoencoders "
            f"({header.get('package_version')}); update this package to read it."
        )


def _header_json(header: dict[str, str], key: str, *, default: str | None = None):
    """The JSON of header entry ``key`` (``default`` where it is absent, if given).

    Raises
    ------
    ValueError
        If the entry is missing without a default, not JSON, or nested
        too deeply for Python to parse (which raises ``RecursionError``).
    """
    text = header.get(key, default)
    if text is None:
        raise ValueError(f"the header has no {key!r} entry; the file is corrupt.")
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"the header entry {key!r} is not valid JSON ({err}).") from err
    except RecursionError:
        raise ValueError(
            f"the header entry {key!r} is JSON nested too deeply to be read; the file is corrupt."
        ) from None


def model_entries(model: TrainedModel) -> dict:
    """What a model file (or our package) keeps of ``model`` beyond its weights, as plain data.

    The writer's version, the config, both normalisations, the history and,
    for a VAE or AAE trained on frames, the latent density.
    """
    entries = {
        "package_version": __version__,
        "config": model.config.to_dict(),
        "input_norm": model.input_norm.to_dict(),
        "target_norm": model.target_norm.to_dict(),
        "history": model.history,
    }
    if model.density is not None:
        entries["latent_density"] = model.density.to_dict()
    return entries


def model_parts(entries: dict, config: Config):
    """The normalisations, history and latent density (or None) of :func:`model_entries`' ``entries``.

    Each checked against ``config``; ``ValueError`` (or ``KeyError`` for a
    missing normalisation) names the entry that does not fit.
    """
    model = config.model
    density = entries.get("latent_density")
    if density is not None:
        density = LatentDensity.from_dict(density, model.latent_dim)
    return (
        checked_normalizer(entries["input_norm"], "input_norm", model.in_channels),
        checked_normalizer(entries["target_norm"], "target_norm", model.out_channels),
        checked_history(entries.get("history", [])),
        density,
    )


def checked_normalizer(data: object, key: str, channels: int) -> Normalizer:
    """The normalisation ``data`` (:meth:`.Normalizer.to_dict`'s form) of ``channels`` channels.

    Raises
    ------
    ValueError
        If it is malformed, not finite with low < high, or of another
        number of channels; the message names ``key``.
    """
    try:
        norm = Normalizer.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from err
    if len(norm.low) != channels:
        raise ValueError(f"{key} has {len(norm.low)} channel(s) but the network {channels}.")
    return norm


def checked_history(data: object) -> list[dict]:
    """The training history ``data``: a list of epochs, each an object of numbers :data:`HISTORY_KEYS`.

    Raises
    ------
    ValueError
        If it is not a list, or an entry is not an object with those
        numbers (exporting or summarising the model would then fail).
    """
    if not isinstance(data, list):
        raise ValueError(f"the history must be a list of epochs, got {type(data).__name__}.")
    for index, entry in enumerate(data):
        if not (isinstance(entry, dict) and all(is_number(entry.get(key)) for key in HISTORY_KEYS)):
            raise ValueError(
                f"history entry {index} must be an object with numbers {', '.join(HISTORY_KEYS)}, "
                f"got {entry!r:.80}; the file is corrupt or was edited."
            )
    return data


def meta_network(config: ModelConfig) -> torch.nn.Module:
    """The network ``config`` describes on the ``meta`` device: names, shapes and dtypes, no memory.

    Its state dict is what a file's tensors are compared with before the
    network is built for real, whatever size the config asks for.
    """
    with torch.device("meta"):
        return build_model(config)


def check_shapes(expected: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise ``ValueError`` unless ``shapes`` are the names and shapes of the state dict ``expected``."""
    expected = {name: tuple(t.shape) for name, t in expected.items()}
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"its weights do not fit its config: missing tensors {missing[:3]}, unexpected "
            f"tensors {unexpected[:3]}."
        )
    for name, shape in expected.items():
        if shapes[name] != shape:
            raise ValueError(
                f"its weights do not fit its config: tensor {name!r} has shape "
                f"{shapes[name]}, the config's network needs {shape}."
            )


def check_weights(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Raise ``ValueError`` for a tensor of another dtype or with NaN or infinite values."""
    for name, tensor in tensors.items():
        if tensor.dtype != expected[name].dtype:
            raise ValueError(
                f"tensor {name!r} holds {tensor.dtype} values where the network needs "
                f"{expected[name].dtype}; the file was edited or written by another program."
            )
        if tensor.is_floating_point():
            bad = tensor.numel() - int(torch.isfinite(tensor).sum())
            if bad:
                raise ValueError(
                    f"tensor {name!r} has {bad} NaN or infinite value(s): the training that "
                    "wrote it diverged; train again with a lower learning rate."
                )
