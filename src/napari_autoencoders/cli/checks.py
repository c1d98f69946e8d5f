"""Checks of command-line options made before anything is read, trained or written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.data.axes import channel_hint

#: The extension of model files: safetensors, which hold tensors and JSON, never code.
MODEL_SUFFIX = ".safetensors"
#: The kinds of torch device a command can run on.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(name: str | None) -> None:
    """Raise ``ValueError`` unless ``--device`` is left out, ``auto``, or a device this machine has.

    Parameters
    ----------
    name : str or None
        The ``--device`` option, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    """
    if name is None or name == "auto":
        return
    import torch

    fix = "use --device cpu, or leave --device out to use the fastest device available."
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ValueError(f"--device {name!r} is not a device this program runs on; {fix}")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = (
                "no CUDA GPU is available" if torch.version.cuda else "torch was built without CUDA"
            )
            raise ValueError(f"--device {name!r}: {why} on this machine; {fix}")
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"--device {name!r}: this machine has {count} CUDA device(s), numbered from 0; "
                + fix
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name!r}: Apple's MPS is not available on this machine; {fix}")


def check_suffix(path: str | os.PathLike, suffix: str, what: str) -> None:
    """Raise ``ValueError`` unless the output ``path`` ends in ``suffix``.

    A file's name should say what it holds: a table named ``.tif`` or a
    model named ``.tif`` would later be opened as an image.

    Parameters
    ----------
    path : str or path-like
        The output file.
    suffix : str
        Its required extension, e.g. ``".csv"``.
    what : str
        What the file holds, for the message, e.g. ``"the table"``.
    """
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(
            f"{what} {str(path)!r} must end in {suffix}; use e.g. "
            f"{str(path.with_suffix(suffix))!r}."
        )


def check_model_path(path: str | os.PathLike) -> None:
    """Raise before a training, not after it, if the model file cannot be written at ``path``.

    The name must end in ``.safetensors`` (it is not added: a script would
    then look for the model under the name it gave), must not be a folder,
    and its folder must exist and take a new file.

    Raises
    ------
    ValueError
        For another extension.
    IsADirectoryError, FileNotFoundError, OSError
        For a folder, a missing folder, or a folder that cannot be written.
    """
    path = Path(path)
    check_suffix(path, MODEL_SUFFIX, "the model file")
    if path.is_dir():
        raise IsADirectoryError(
            f"the model file {str(path)!r} is a folder; give a file name, e.g. "
            f"{str(path / ('model' + MODEL_SUFFIX))!r}."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"the folder of model file {str(path)!r} does not exist; create it first."
        )
    try:  # the model is saved to a temporary file in this folder, then renamed
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise OSError(
            err.errno,
            f"cannot write the model file {str(path)!r}: {str(path.parent)!r} does not take "
            f"new files ({err.strerror}); choose a folder you can write to.",
        ) from err


def check_guessed_axes(shape: Sequence[int], axes: str, channels: int) -> None:
    """Raise ``ValueError`` if guessed ``axes`` read a colour image's channels as X.

    A (64, 64, 3) RGB file given to a greyscale model is guessed as a stack
    ``SYX`` of 64 planes of 64x3 pixels: it would be processed, and written,
    as nonsense. Call this only when the axes were not given.

    Parameters
    ----------
    shape : sequence of int
        The image's shape.
    axes : str
        The guessed axes.
    channels : int
        The channels the model takes.
    """
    if not channel_hint(tuple(shape), axes):
        return
    colour = axes[1:] + "C"
    convert = (
        ""
        if channels == shape[-1]
        else f" (this model takes {channels}-channel images: convert the image first)"
    )
    raise ValueError(
        f"the {tuple(shape)} image would be read as {axes!r}: {shape[0]} planes of "
        f"{shape[-2]}x{shape[-1]} pixels. If its last axis holds {shape[-1]} colour channels, "
        f"give --axes {colour}{convert}; if it really is a stack, give --axes {axes}."
    )


def input_axes(
    given: str | None,
    stored: str | None,
    shape: Sequence[int],
    channels: int,
    guess: Callable[[], str],
    say: Callable[[str], None],
) -> tuple[str, bool]:
    """The axes to read an input of ``shape`` with, and whether they were guessed.

    The ``given`` axes; else those the file ``stored``, where they give the
    model its ``channels`` (a stack written by ``tifffile.imwrite(...,
    imagej=True)`` without axes is stored as channels, ``CYX``: ``say`` then
    tells why they are not used); else ``guess()``, checked by
    :func:`check_guessed_axes`.
    """
    if given:
        return given, False
    if stored is not None:
        count = shape[stored.index("C")] if "C" in stored else 1
        if count == channels:
            return stored, False
        say(
            f"the file stores its axes as {stored!r}, {count} channel(s), where the model takes "
            f"{channels}: guessing them instead (give --axes to choose)"
        )
    guessed = guess()
    check_guessed_axes(shape, guessed, channels)
    return guessed, True
