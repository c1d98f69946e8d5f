"""The adversarial autoencoder's prior, discriminator and regularisation phases.

An adversarial autoencoder (Makhzani et al. 2015) trains a plain
autoencoder and, on each batch, a discriminator on the latent codes: it
learns to tell draws from a chosen prior ("real") from the encoder's codes
("fake"), and the encoder learns to fool it. The codes then fill the prior,
so the decoder turns draws from the prior into images.

Each batch goes through three phases, each with its own optimiser:

1. reconstruction: encoder and decoder minimise the reconstruction loss
   (the :class:`~napari_autoencoders.core.training.Trainer`'s own step);
2. discrimination: the discriminator learns on prior draws and on codes
   encoded without a graph, so its step cannot reach the encoder;
3. regularisation: the encoder alone learns to make the frozen
   discriminator call its codes real.

Latent codes and prior draws are (B, D); the discriminator returns logits
(B, 1), scored with binary cross-entropy on logits.

References
----------
A. Makhzani, J. Shlens, N. Jaitly, I. Goodfellow, B. Frey, "Adversarial
Autoencoders", arXiv:1511.05644 (2015).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Prior

#: Units of each hidden layer of the discriminator.
DISCRIMINATOR_WIDTH = 64
#: The mixture prior: components, radius of the circle of their means, and their spread.
MIXTURE_COMPONENTS, MIXTURE_RADIUS, MIXTURE_STD = 10, 2.0, 0.25
#: Half the side of the square a mixture prior's manifold spans by default: the circle,
#: and two spreads of its components beyond it.
MIXTURE_SPAN = MIXTURE_RADIUS + 2 * MIXTURE_STD
#: Adam's momentum for the adversarial phases: the usual choice for adversarial training,
#: whose gradients change direction as the discriminator and the encoder take turns.
ADVERSARIAL_BETAS = (0.5, 0.999)


def sample_prior(
    prior: str,
    n: int,
    dim: int,
    *,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Draw ``n`` latent vectors (n, dim) from ``prior``.

    Parameters
    ----------
    prior : {"gaussian", "mixture"}
        ``"gaussian"``: the standard normal N(0, I). ``"mixture"`` (``dim``
        2 only): an equal mixture of 10 Gaussians of spread 0.25 whose means
        lie evenly on a circle of radius 2.
    temperature : float
        Scales each draw's deviation from its component's mean (1: the prior
        itself, 0: the means).
    generator : torch.Generator, optional
        Source of the draws (the global one by default); on the CPU.

    Raises
    ------
    ValueError
        For an unknown prior, or the mixture with ``dim`` other than 2.
    """
    if prior not in [p.value for p in Prior]:
        raise ValueError(f"prior must be one of {[p.value for p in Prior]}, got {prior!r}.")
    eps = torch.randn(n, dim, generator=generator)
    if prior == Prior.GAUSSIAN.value:
        return temperature * eps
    if dim != 2:
        raise ValueError(f"the 'mixture' prior is 2-D; got a latent of {dim} dimensions.")
    component = torch.randint(MIXTURE_COMPONENTS, (n,), generator=generator)
    angle = 2 * math.pi * component / MIXTURE_COMPONENTS
    means = MIXTURE_RADIUS * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return means + temperature * MIXTURE_STD * eps


class Discriminator(nn.Module):
    """A small MLP that scores latent codes (B, D) as draws from the prior: logits (B, 1).

    Besides each code it sees the batch's spread, the mean over latent axes
    of the codes' standard deviation across the batch (the minibatch
    standard deviation of Karras et al. 2018): a batch of codes gathered in
    one region of the prior then looks fake even where each code alone looks
    real. Without it the encoder moved all codes together from one component
    of the mixture prior to the next: after 25 s of training on 4,000 MNIST
    digits, 97 % of 500 held-out codes sat in 2 of the 10 components; with
    it, 5 components held more than 10 % each.

    It ends in a linear layer, not a sigmoid: the losses take logits, which
    keeps them finite however sure the discriminator is. It has no dropout or
    normalisation, so it behaves the same in training and evaluation mode;
    prior draws and codes are scored in separate batches, so each batch's
    spread is of one kind.

    References
    ----------
    T. Karras, T. Aila, S. Laine, J. Lehtinen, "Progressive Growing of GANs
    for Improved Quality, Stability, and Variation", ICLR 2018.
    """

    def __init__(self, latent_dim: int, width: int = DISCRIMINATOR_WIDTH):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(latent_dim + 1, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, 1),
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Map codes (B, D) to logits (B, 1), high for codes that look drawn from the prior."""
        # (B, 1): the batch's spread, the same for every code (0 for a batch of one)
        spread = codes.std(dim=0, correction=0).mean().expand(len(codes), 1)
        return self.layers(torch.cat([codes, spread], dim=1))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of calling prior draws real (1) and codes fake (0), from logits."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the codes being called real: ``-log D(E(x))``, from logits.

    The non-saturating form: it still has a gradient when the discriminator
    easily rejects the codes, early in the training.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class AdversarialRegularizer:
    """Phases 2 and 3 of an adversarial autoencoder's step: discrimination, regularisation.

    Parameters
    ----------
    network : AdversarialAutoencoder
        The autoencoder; its encoder (``encode``, ``encoder_parameters``) is
        regularised.
    prior : {"gaussian", "mixture"}
        The prior the codes are pushed toward (:func:`sample_prior`).
    rate : float
        Learning rate of both phases as a share of the rate passed to
        :meth:`step`.
    seed : int
        Seeds the prior draws.
    device : torch.device
        Where the network is; the discriminator is built there.

    Notes
    -----
    The discriminator and the encoder's regularisation phase each have an
    Adam optimiser of their own, separate from the reconstruction phase's:
    the adversarial gradients (of about one nat per code) and the
    reconstruction's (summed over pixels) then never share Adam's running
    averages, and ``rate`` alone sets how hard the codes are pushed.
    """

    def __init__(
        self, network: nn.Module, *, prior: str, rate: float, seed: int, device: torch.device
    ):
        self.network = network
        self.prior = prior
        self.rate = rate
        self.latent_dim = network.config.latent_dim
        self.device = device
        self.discriminator = Discriminator(self.latent_dim).to(device)
        self.discriminator_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), betas=ADVERSARIAL_BETAS
        )
        self.encoder_optimizer = torch.optim.Adam(
            network.encoder_parameters(), betas=ADVERSARIAL_BETAS
        )
        self.generator = torch.Generator().manual_seed(seed)

    def step(self, x: torch.Tensor, learning_rate: float) -> tuple[float, float]:
        """Run both phases on images ``x`` (B, C, S, S); return their losses.

        ``learning_rate`` is the reconstruction phase's current rate; both
        phases follow it, times ``rate``.
        """
        for optimizer in (self.discriminator_optimizer, self.encoder_optimizer):
            for group in optimizer.param_groups:
                group["lr"] = self.rate * learning_rate
        return self.discriminator_step(x), self.generator_step(x)

    def discriminator_step(self, x: torch.Tensor) -> float:
        """Teach the discriminator prior draws from the codes of ``x``; return its loss.

        The codes are encoded without a graph, so this step cannot change
        the encoder.
        """
        with torch.no_grad():
            codes = self.network.encode(x).float()
        real = sample_prior(self.prior, len(codes), self.latent_dim, generator=self.generator)
        loss = discriminator_loss(
            self.discriminator(real.to(self.device)), self.discriminator(codes)
        )
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.discriminator_optimizer.step()
        return loss.item()

    def generator_step(self, x: torch.Tensor) -> float:
        """Teach the encoder to have its codes of ``x`` called real; return its loss.

        The discriminator is frozen meanwhile, so no gradient reaches it;
        the encoder's gradients are cleared first, so the reconstruction
        phase's gradients, still on its weights, are not applied twice.
        """
        with _frozen(self.discriminator):
            loss = generator_loss(self.discriminator(self.network.encode(x).float()))
            self.encoder_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.encoder_optimizer.step()
        return loss.item()


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Turn off the gradients of ``module``'s weights for the duration."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags):
            parameter.requires_grad_(flag)
