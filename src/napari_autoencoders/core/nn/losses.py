"""Losses: the channels' weighted squared error, and the variational autoencoder's
KL to the prior, reconstruction terms and ELBO.

The encoder gives a diagonal Gaussian posterior by its mean ``mu`` and its
*log-variance* ``logvar`` (never log-sigma), both (B, D). Every term is
summed over latent dimensions or pixels and returned per sample (B,), in
nats, so that the mean over a batch is the negative ELBO per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ReconstructionLoss


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``, differentiably.

    Parameters
    ----------
    mu, logvar : Tensor, shape (B, D)
        Mean and log-variance of the posterior.
    generator : torch.Generator, optional
        Source of ``eps`` (the global one by default).
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, shape (B,).

    ``-1/2 * sum(1 + logvar - mu**2 - exp(logvar))`` over the latent dimensions.
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def channel_mse(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of (B, C, ...) tensors; with ``weights`` (C,), the channels' weighted mean.

    Each channel's mean squared error is weighted by its entry of
    ``weights``, and the sum divided by theirs: an error the same in every
    channel gives the plain mean squared error.
    """
    if weights is None:
        return F.mse_loss(prediction, target)
    per_channel = (prediction - target).pow(2).transpose(0, 1).flatten(1).mean(dim=1)
    weights = weights.to(per_channel)
    return (per_channel * weights).sum() / weights.sum()


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Negative log-likelihood of ``target`` under the decoder, per sample (B,).

    Parameters
    ----------
    output : Tensor, shape (B, C, Y, X)
        The decoder's raw output: logits for ``"bce"``, the mean for ``"mse"``.
    target : Tensor, shape (B, C, Y, X)
        The images; in [0, 1] for ``"bce"``.
    kind : {"bce", "mse"}
        ``"bce"``: binary cross-entropy of ``sigmoid(output)``, exact nats for
        a Bernoulli decoder. ``"mse"``: half the summed squared error, the
        nats of a unit-variance Gaussian decoder up to a constant.
    """
    if kind == ReconstructionLoss.BCE.value:
        # a target beyond [0, 1] (a value the normalisation's sample missed) makes the
        # loss fall without bound as the logit grows: it is taken as 0 or 1
        target = target.clamp(0.0, 1.0)
        per_pixel = F.binary_cross_entropy_with_logits(output, target, reduction="none")
    else:
        per_pixel = 0.5 * (output - target).pow(2)
    return per_pixel.flatten(1).sum(dim=1)


def negative_elbo(
    output: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: str,
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the batch means of (reconstruction + beta * KL, reconstruction, KL).

    With ``beta == 1`` the first is the negative ELBO per image, in nats.
    """
    reconstruction = reconstruction_loss(output, target, kind).mean()
    kl = kl_divergence(mu, logvar).mean()
    return reconstruction + beta * kl, reconstruction, kl


def kl_weight(step: int, *, beta: float, warmup: int) -> float:
    """The KL weight at ``step``: rises linearly from 0 to ``beta`` over ``warmup`` steps."""
    if warmup <= 0:
        return beta
    return beta * min(1.0, step / warmup)
