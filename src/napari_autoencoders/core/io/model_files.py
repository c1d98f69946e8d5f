"""Model files: weights in safetensors, everything else as JSON in its header.

One file holds the weights, the config, the normalisation and the training
history. Loading parses JSON and raw tensors only, so a model file can never
execute code (unlike a pickled torch checkpoint).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ... import __version__
from ..config import Config
from ..nn.models import build_model
from ..data.normalization import Normalizer
from ..model import TrainedModel

#: Written in every file's header; a file without it is not ours.
FORMAT = "napari-autoencoders"
#: Layout of the header; bumped when a key changes meaning.
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A file that is missing, corrupt, or not a napari-autoencoders model."""


def save_model(model: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` (conventionally ``*.safetensors``); return the path."""
    path = Path(path)
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.network.state_dict().items()}
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "package_version": __version__,
        "config": json.dumps(model.config.to_dict()),
        "input_norm": json.dumps(model.input_norm.to_dict()),
        "target_norm": json.dumps(model.target_norm.to_dict()),
        "history": json.dumps(model.history),
    }
    try:
        save_file(tensors, str(path), metadata=header)
    except SafetensorError as err:  # e.g. a folder that does not exist
        raise OSError(f"cannot write model file {str(path)!r}: {err}") from err
    return path


def load_model(path: str | os.PathLike) -> TrainedModel:
    """Read a model written by :func:`save_model`, or open a bioimage.io package.

    A ``.zip`` or ``rdf.yaml`` path is opened by
    :func:`~napari_autoencoders.core.io.bioimageio.load_bioimageio`.

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, from another program, from a newer
        version of this package, or its weights do not fit its config.
    """
    from .bioimageio import is_package, load_bioimageio  # it imports this module

    if is_package(path):
        return load_bioimageio(path)
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(
            f"{str(path)!r} is not a readable model file (corrupt or another format): {err}"
        ) from err
    if header.get("format") != FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is a safetensors file but was not written by napari-autoencoders."
        )
    version = header.get("format_version", "0")
    if not version.isdigit():
        raise ModelFileError(
            f"{str(path)!r} has an unreadable format_version {version!r}; the file is corrupt."
        )
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} was written by a newer napari-autoencoders "
            f"({header.get('package_version')}); update this package to read it."
        )
    try:
        config = Config.from_dict(json.loads(header["config"]))
        network = build_model(config.model)
        network.load_state_dict(tensors, strict=True)
        model = TrainedModel(
            config=config,
            network=network.eval(),
            input_norm=Normalizer(**json.loads(header["input_norm"])),
            target_norm=Normalizer(**json.loads(header["target_norm"])),
            history=json.loads(header.get("history", "[]")),
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"model file {str(path)!r} is inconsistent: {err}") from err
    return model
