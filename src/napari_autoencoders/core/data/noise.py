"""Synthetic noise for denoising training and for test images.

Noise is described by a short text, one term or several joined with ``+``
and applied left to right, always on the normalised intensity scale where
the image's low and high percentiles are 0 and 1:

``gaussian:SIGMA``
    additive white Gaussian noise of standard deviation ``SIGMA``;
``poisson:PEAK``
    shot noise for an image whose intensity 1 collects ``PEAK`` photons;
``saltpepper:FRACTION``
    that share of pixels set to 0 or 1 at random.

``"poisson:30+gaussian:0.02"`` is the Poisson-Gaussian noise of a camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

KINDS = ("gaussian", "poisson", "saltpepper")


@dataclass(frozen=True)
class NoiseTerm:
    """One noise process: ``kind`` in :data:`KINDS` and its parameter."""

    kind: str
    value: float


def parse_noise(spec: str) -> list[NoiseTerm]:
    """Parse a noise description such as ``"poisson:30+gaussian:0.02"``.

    Raises
    ------
    ValueError
        If a term is not ``kind:value`` with a known kind and a valid value.
    """
    terms = []
    for text in spec.split("+"):
        kind, sep, value = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS or not sep:
            raise ValueError(
                f"noise term {text!r} is not understood; write kind:value with kind in "
                f"{KINDS}, e.g. 'gaussian:0.1', 'poisson:30' or 'saltpepper:0.05'."
            )
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"noise term {text!r} needs a number after the colon.") from None
        if not np.isfinite(number) or number <= 0 or (kind == "saltpepper" and number >= 1):
            raise ValueError(
                f"noise term {text!r}: the value must be finite and positive"
                + (" and below 1." if kind == "saltpepper" else ".")
            )
        terms.append(NoiseTerm(kind, number))
    return terms


def has_saltpepper(spec: str) -> bool:
    """Whether the noise ``spec`` (see :func:`parse_noise`) has a salt-and-pepper term, in any case."""
    return any(term.kind == "saltpepper" for term in parse_noise(spec))


def apply_noise(
    images: torch.Tensor, terms: list[NoiseTerm], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Return a noisy copy of ``images`` (any shape, normalised scale).

    Parameters
    ----------
    images : torch.Tensor
        Clean images, e.g. a batch (B, C, Y, X).
    terms : list of NoiseTerm
        Noise processes from :func:`parse_noise`, applied in order.
    generator : torch.Generator, optional
        Source of randomness, for reproducible noise.
    """
    noisy = images
    for term in terms:
        if term.kind == "gaussian":
            noisy = noisy + term.value * _randn_like(noisy, generator)
        elif term.kind == "poisson":
            rate = noisy.clamp(min=0) * term.value
            noisy = torch.poisson(rate, generator=generator) / term.value
        else:
            hit = torch.rand(noisy.shape, generator=generator, device=noisy.device) < term.value
            salt = torch.rand(noisy.shape, generator=generator, device=noisy.device) < 0.5
            noisy = torch.where(hit, salt.to(noisy.dtype), noisy)
    return noisy


def add_noise(image: np.ndarray, spec: str, *, seed: int | None = None) -> np.ndarray:
    """Return ``image`` (values on a 0 to 1 scale) with noise ``spec`` added.

    Parameters
    ----------
    image : ndarray
        Clean image of any shape, intensities on a 0 to 1 scale.
    spec : str
        Noise description, see :func:`parse_noise`.
    seed : int, optional
        Seed for reproducible noise.

    Returns
    -------
    ndarray of float32, same shape as ``image``.
    """
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    tensor = torch.as_tensor(np.asarray(image, dtype=np.float32))
    return apply_noise(tensor, parse_noise(spec), generator).numpy()


def noise_sigma(clean: np.ndarray, spec: str) -> float:
    """Root-mean-square standard deviation of noise ``spec`` on ``clean``.

    For signal-dependent (Poisson) noise this averages the per-pixel variance
    over the image, which is the single sigma a Gaussian denoiser such as BM3D
    can be given.
    """
    variance = np.zeros_like(np.asarray(clean, dtype=np.float64))
    signal = np.clip(clean, 0, None).astype(np.float64)
    for term in parse_noise(spec):
        if term.kind == "gaussian":
            variance = variance + term.value**2
        elif term.kind == "poisson":
            variance = variance + signal / term.value
        else:
            raise ValueError("salt-and-pepper noise has no Gaussian sigma.")
    return float(np.sqrt(variance.mean()))


def _randn_like(tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(tensor.shape, generator=generator, device=tensor.device, dtype=tensor.dtype)
