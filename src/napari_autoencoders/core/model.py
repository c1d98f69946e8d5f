"""A trained model: network, config and normalisation, and what it can do to arrays.

>>> model = load_model("denoiser.safetensors")     # doctest: +SKIP
>>> denoised = model.predict(noisy)                # doctest: +SKIP

Inference never changes a model: it runs a copy of the network on the device
it needs (:meth:`TrainedModel.network_on`), so one model serves the CPU and a
GPU, several widgets and threads, one after the other.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import Config, closest_name
from .data.normalization import Normalizer
from .latent.density import LatentDensity
from .nn.device import channels_last, select_device


@dataclass
class TrainedModel:
    """A trained network with everything needed to apply it.

    Parameters
    ----------
    config : Config
        The config it was trained with (channels filled in from the data).
    network : torch.nn.Module
        The network, on the CPU, in evaluation mode. Inference reads it and
        never moves or changes it.
    input_norm, target_norm : Normalizer
        Normalisation of the inputs, and the one inverted on the outputs.
    history : list of dict
        One entry per epoch: ``epoch``, ``step``, ``loss``, ``val_loss``,
        ``elapsed`` (seconds), ``learning_rate``.
    density : LatentDensity, optional
        A VAE's density of its training frames' codes, which :meth:`sample`
        draws from (None: the prior N(0, I)).
    """

    config: Config
    network: nn.Module
    input_norm: Normalizer
    target_norm: Normalizer
    history: list[dict] = field(default_factory=list)
    density: LatentDensity | None = None

    def network_on(self, device: str | torch.device = "auto") -> nn.Module:
        """Return a copy of the network on ``device``, channels-last, in evaluation mode.

        Channels-last convolutions run about 3 times faster on a CPU. The
        model's own network stays where it is, so a model used on a GPU by
        one caller still works on the CPU for the next.

        Parameters
        ----------
        device : str or torch.device
            ``"auto"`` (CUDA, then MPS, then CPU) or a torch device.
        """
        device = select_device(device) if isinstance(device, str) else device
        network = copy.deepcopy(self.network)
        memory_format = channels_last(self.config.model.spatial_dims)
        return network.to(device, memory_format=memory_format).eval()

    def predict(self, image: np.ndarray, **options) -> np.ndarray:
        """Denoise, reconstruct or upscale ``image``, tile by tile.

        Parameters
        ----------
        image : ndarray
            Image with the model's training axes (e.g. ``"YX"``), or with the
            axes given as ``axes=``; stacks (``"SYX"``, ``"ZYX"``...) are
            processed plane by plane.
        **options
            ``axes``, ``tile``, ``overlap``, ``batch_size``, ``device``, ``out``
            of :func:`~napari_autoencoders.core.inference.prediction.iter_predict`.

        Returns
        -------
        ndarray of float32
            Same axes as ``image``; Y and X multiplied by the model's factor.
        """
        from .inference.prediction import iter_predict, predict

        _check_options(options, "predict", iter_predict)
        return predict(self, image, **options)

    def encode(self, frames: np.ndarray, *, axes: str = "SYX", **options) -> np.ndarray:
        """Latent codes of the frames of a stack (a variational model's means).

        Parameters
        ----------
        frames : ndarray or array-like
            Frames of the model's input size with axes ``axes``, e.g.
            (N, S, S) for ``"SYX"`` or (N, S, S, C) for ``"SYXC"``; a zarr
            array, dask array or memory map is read batch by batch.
        **options
            ``batch_size`` and ``device`` of
            :func:`~napari_autoencoders.core.latent.encoding.iter_encode`.

        Returns
        -------
        ndarray of float32, shape (N, D)
        """
        from .latent.encoding import encode_frames, iter_encode, iter_encode_frames

        _check_options(options, "encode", iter_encode_frames, iter_encode)
        return encode_frames(self, frames, axes=axes, **options).latents

    def sample(
        self, n: int, *, temperature: float = 1.0, seed: int = 0, source: str = "auto"
    ) -> np.ndarray:
        """Decode ``n`` draws from a generative model's latent density or prior (VAE or AAE).

        ``source`` is ``"auto"`` (the density of the training codes when the
        model has one, else the prior), ``"density"`` or ``"prior"``; see
        :func:`~napari_autoencoders.core.latent.generation.sample_codes`.

        Returns
        -------
        ndarray, shape (n, S, S[, C])
            In the units of the training data; the same ``seed`` gives the
            same images.
        """
        from .latent.generation import sample

        return sample(self, n, temperature=temperature, seed=seed, source=source)

    def manifold(self, **options) -> np.ndarray:
        """Decode a grid over a latent plane into one mosaic image.

        ``options`` are those of
        :func:`~napari_autoencoders.core.latent.generation.manifold_points`:
        ``grid``, ``span``, ``axes``, ``frames``.

        Returns
        -------
        ndarray, shape (grid * S, grid * S[, C])
        """
        from .latent.generation import manifold, manifold_points

        _check_options(options, "manifold", manifold_points)
        return manifold(self, **options)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a ``.safetensors`` file; return its path."""
        from .io.model_files import save_model

        return save_model(self, path)


def _check_options(options: Mapping[str, object], method: str, *functions: Callable) -> None:
    """Raise ``ValueError`` for an option that none of ``functions`` takes as a keyword.

    The message names the closest known option (a misspelling such as
    ``tiles`` for ``tile``) and lists them all, where Python's own
    ``TypeError`` named a function inside the package.
    """
    known = sorted(
        name
        for function in functions
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )
    for name in options:
        if name not in known:
            close = closest_name(name, known)
            guess = f"did you mean {close!r}? " if close else ""
            raise ValueError(
                f"{method} has no option {name!r}; {guess}its options are {', '.join(known)}."
            )
