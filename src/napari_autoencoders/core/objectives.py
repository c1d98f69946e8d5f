"""Objectives: what a training minimises, from the patches its sampler draws.

Each task and mode makes its batches and scores its network its own way:
plain targets (paired denoising, super-resolution, reconstruction), noise
added on the fly (synthetic), blind-spot masks (Noise2Void), pairs made
from the noisy data for the prior's fine-tuning (recorrupted where the
noise is Gaussian, thinned where it has shot noise: :mod:`.fine_tuning`),
and the VAE's and the adversarial autoencoder's likelihoods.
:func:`objective_for` chooses one from the config, so the
:class:`.training.Trainer` runs one loop whatever the task; it adds the
neighbour term (:mod:`.data.neighbours`) to the latent codes an objective
returns.

>>> objective = objective_for(config, network, device, calibration)   # doctest: +SKIP
>>> x, y, mask = objective.batch(x, y, generator)                     # doctest: +SKIP
>>> loss, codes = objective.loss(x, y, mask, step)                    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .calibration import Calibration
from .config import Config, Mode, Task
from .data.masking import blind_spot, blind_spot_volume, masked_mse
from .data.noise import apply_noise, parse_noise
from .data.stabilization import thin
from .fine_tuning import RECORRUPTION, THINNING, on_pairs, thinned
from .nn.device import autocast, channels_last
from .nn.losses import channel_mse, kl_weight, negative_elbo, reconstruction_loss

#: A batch: the network's input, its target, and the pixels the loss counts (or None: all).
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class Objective:
    """Plain targets: the mean squared error of the network's prediction.

    Reconstruction, and the base of the others. ``weights`` (C,) weight
    each channel's error (:attr:`.calibration.Calibration.channel_weights`);
    ``latent`` asks :meth:`loss` for the codes the neighbour term compares.
    """

    def __init__(
        self,
        config: Config,
        network: nn.Module,
        device: torch.device,
        weights: torch.Tensor | None = None,
    ):
        self.config, self.network, self.device, self.weights = config, network, device, weights
        self.latent = config.training.neighbour_weight > 0

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        """The batch of sampled patches ``x`` and targets ``y`` (B, C, ...), on the device."""
        return to_device(x, self.device), to_device(y, self.device), None

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, step: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The loss of a batch at training step ``step``, and its latent codes (B, D) or None.

        The codes are computed only where the neighbour term needs them.
        """
        with autocast(self.device):
            if self.latent:
                latent = self.network.encode(x)
                prediction = self.network.decode(latent)
            else:
                latent, prediction = None, self.network(x)
        prediction = prediction.float()
        if mask is not None:
            return masked_mse(prediction, y, mask), latent
        return channel_mse(prediction, y, self.weights), latent

    def input_loss(self, validation: list[Batch]) -> float | None:
        """The loss of the input taken as the output on ``validation``; None where it is no output."""
        return None

    def _mean_loss(self, outputs: list[torch.Tensor], validation: list[Batch]) -> float:
        """The mean over ``validation``'s batches of the loss of ``outputs`` against their targets."""
        losses = [
            masked_mse(output, y, mask) if mask is not None else channel_mse(output, y, self.weights)
            for output, (_, y, mask) in zip(outputs, validation)
        ]
        return float(np.mean([loss.item() for loss in losses]))


class Denoising(Objective):
    """Paired denoising: clean targets; the noisy input is the result to beat."""

    def input_loss(self, validation: list[Batch]) -> float:
        """The loss of the noisy (or masked, or thinned) input itself."""
        return self._mean_loss([x for x, _, _ in validation], validation)


class Synthetic(Denoising):
    """Clean images with noise of ``noise`` (a noise description) added to each batch as drawn."""

    def __init__(self, config: Config, network: nn.Module, device: torch.device, weights=None):
        super().__init__(config, network, device, weights)
        self.noise = parse_noise(config.training.noise)

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        """Noise drawn with ``generator`` on the clean targets ``y`` is the input."""
        return super().batch(apply_noise(y, self.noise, generator), y, generator)


class BlindSpot(Denoising):
    """Noise2Void: masked pixels take a neighbour's value, and only they count in the loss."""

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        """Pixels masked with ``generator`` (2D or 3D neighbourhoods), their mask on the device."""
        masker = blind_spot_volume if x.ndim == 5 else blind_spot
        training = self.config.training
        x, mask = masker(x, fraction=training.mask_fraction, radius=training.mask_radius, generator=generator)
        return to_device(x, self.device), to_device(y, self.device), mask.to(self.device)


class Recorrupted(Objective):
    """The prior fine-tuned on recorrupted pairs of Gaussian noise (:data:`.fine_tuning.RECORRUPTION`).

    The recorruption noise, drawn with each batch, takes the mask's place.
    """

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        noise = torch.randn(x.shape, generator=generator).to(self.device)
        return to_device(x, self.device), to_device(y, self.device), noise

    def loss(self, x, y, mask, step):
        return self.network.recorrupted_loss(x, mask, RECORRUPTION, self.weights), None

    def input_loss(self, validation: list[Batch]) -> float:
        """Returning the recorrupted input z + a n for the target z - n / a: (a + 1/a) ** 2."""
        return (RECORRUPTION + 1 / RECORRUPTION) ** 2


class Thinned(Denoising):
    """The prior fine-tuned on thinned pairs: each pixel's photons split (:data:`.fine_tuning.THINNING`).

    ``photons`` is the signed noise model (one per channel once rescaled)
    that counts them (:attr:`.calibration.Calibration.photons`).
    """

    def __init__(self, config: Config, network: nn.Module, device: torch.device, calibration: Calibration):
        super().__init__(config, network, device, calibration.channel_weights)
        self.photons = calibration.photons

    def batch(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        x, y = thin(x, self.photons, THINNING, generator)
        return to_device(x, self.device), to_device(y, self.device), None

    def loss(self, x, y, mask, step):
        return self.network.thinned_loss(x, y, THINNING, self.weights), None


class SuperResolution(Objective):
    """Low-resolution inputs and their high-resolution targets; bicubic upscaling is the result to beat."""

    def input_loss(self, validation: list[Batch]) -> float:
        """The loss of the inputs upscaled by bicubic interpolation, where the upscaler starts."""
        upscale = dict(scale_factor=self.config.model.factor, mode="bicubic", align_corners=False)
        return self._mean_loss([nn.functional.interpolate(x, **upscale) for x, _, _ in validation], validation)


class Variational(Objective):
    """The VAE's negative ELBO: reconstruction + weight * KL, its latent means the codes.

    In training the KL weight warms up over ``kl_warmup`` steps; validation
    uses the full ``beta`` and the same latent draws every time, so that its
    losses compare.
    """

    def loss(self, x, y, mask, step):
        training = self.config.training
        generator, beta = None, training.beta
        if self.network.training:
            beta = kl_weight(step, beta=training.beta, warmup=training.kl_warmup)
        else:
            generator = torch.Generator(device=x.device).manual_seed(training.seed)
        output, mu, logvar = self.network.variational(x, generator)
        kind = self.config.model.reconstruction_loss
        return negative_elbo(output, mu, logvar, y, kind=kind, beta=beta)[0], mu


class Adversarial(Objective):
    """The adversarial autoencoder's reconstruction phase: the decoder's negative log-likelihood per image (nats).

    The VAE's reconstruction term without a KL term: the discriminator
    (:class:`.nn.adversarial.AdversarialRegularizer`) takes its place.
    """

    def loss(self, x, y, mask, step):
        codes = self.network.encode(x)
        output = self.network.decode_logits(codes)
        return reconstruction_loss(output, y, self.config.model.reconstruction_loss).mean(), codes


def objective_for(
    config: Config, network: nn.Module, device: torch.device, calibration: Calibration
) -> Objective:
    """The objective of a training of ``config``, for ``network`` on ``device``.

    ``calibration`` is what was measured of the input (:mod:`.calibration`):
    its channel weights and, for thinned pairs, its photons.
    """
    training = config.training
    task, mode = training.task, training.mode
    common = (config, network, device, calibration.channel_weights)
    if task == Task.VAE.value:
        return Variational(*common)
    if task == Task.AAE.value:
        return Adversarial(*common)
    if task == Task.SUPERRES.value:
        return SuperResolution(*common)
    if task != Task.DENOISE.value:
        return Objective(*common)
    if on_pairs(config):  # the prior's fine-tuning
        return Thinned(config, network, device, calibration) if thinned(config) else Recorrupted(*common)
    if mode == Mode.SYNTHETIC.value:
        return Synthetic(*common)
    if mode == Mode.SELF_SUPERVISED.value:
        return BlindSpot(*common)
    return Denoising(*common)


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a (B, C, Y, X) or (B, C, Z, Y, X) batch to ``device`` in channels-last layout."""
    return batch.to(device, memory_format=channels_last(batch.ndim - 2))
