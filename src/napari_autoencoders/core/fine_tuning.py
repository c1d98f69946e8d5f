"""Fine-tuning: the pretrained denoising prior trained further on the image it will denoise.

Self-supervised training from the prior learns from pairs made from the
noisy data: recorrupted pairs where the noise is Gaussian, thinned pairs
(its photons split binomially) where it is Poisson-Gaussian
(:mod:`.data.stabilization`). Pairs drawn from the one image that is then
denoised can teach the network that image's own noise, so every step is
pulled back towards the prior's weights (:func:`pull_to_prior`); where
nothing can check a step the prior is kept without one
(:func:`kept_prior_reason`); and at few photons, where the noise fit
misjudges, the result is held against the prior on the input's
neighbouring pixels (:class:`PriorCheck`). The :class:`.training.Trainer`
applies these rules.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import Config, Mode, ModelConfig, Task
from .data.subimages import compare_denoisers, diagonal_pairs
from .nn.device import channels_last

#: Recorrupted pairs (pretrained self-supervised fine-tuning): the second noise's
#: share alpha. The network sees noise sqrt(1 + alpha**2) times the data's; 0.5
#: keeps that near the data's (1.12) while the target's extra noise (1 / alpha) stays moderate.
RECORRUPTION = 0.5
#: Thinned pairs (the same fine-tuning on Poisson-Gaussian data): the share of the
#: photons in the network's input. Its noise variance is 1 / share times the data's;
#: the rest, the target, keeps 1 - share of them.
THINNING = 0.7
#: The same fine-tuning: after each step every weight moves this many learning rates'
#: worth of its distance back towards the prior's (L2-SP). Pairs drawn from the one
#: image that is then denoised let the network learn, with time, that image's own
#: noise where it trained, which the held-out validation strip cannot see: on the
#: benchmark's cell at peak 30 (``bench/real_denoise.py``) the gain over the prior
#: in the training region fell from +0.36 dB (30 s) to -0.49 dB (300 s) while the
#: strip's stayed near +0.5; with this pull the 120 s gain kept +0.36 (300 s: +0.19).
#: A weaker pull gives that back (30: +0.19 at 120 s) for little: the synthetic
#: phantom of ``bench/denoise.py``, which gains from drifting further, reaches
#: 37.65 dB at 120 s with 30, 37.60 with 100, 37.67 with none.
PRIOR_PULL = 100.0
#: Self-supervised fine-tuning keeps the prior when this share of the pixels
#: or more lie at a clip level (:func:`kept_prior_reason`).
KEEP_PRIOR_CLIPPED = 0.01
#: Fine-tuning on thinned pairs gives the prior back where the prior denoises the
#: input's 2x2 sub-images into their diagonal neighbours better by this many standard
#: errors (:class:`PriorCheck`). On ``bench/real_denoise.py``'s
#: micrographs at 10 photons after 30 s, those that lost 0.8 to 4.3 dB to the prior
#: stood at -13.7 to -22.2, those that gained at +10.7 to +11.9 (hubble_deep_field,
#: -0.18 dB: +6.3).
KEEP_PRIOR_Z = 4.0
#: That check runs where a channel holds fewer photons than this at its brightest (1
#: over the fitted gain on its percentile scale): there the noise fit misjudges bins of
#: few whole counts, and the noise rules the comparison. Where it does not, the
#: sub-images' one-pixel offset favours smoother results: cell at 100 photons, 0.61 dB
#: better fine-tuned, stood at -8.1; at 30 photons (fitted 28.9 or more) cell, +0.44 dB,
#: at -1.6. The benchmark's micrographs at 10 photons fit 12.5 to 17.8.
CHECK_PHOTONS = 25.0
#: The side of the crop of the input whose sub-images that check denoises.
CHECK_SIDE = 512


def on_pairs(config: Config) -> bool:
    """Whether a training of ``config`` fine-tunes the prior on pairs made from its noisy data.

    Pretrained self-supervised denoising does.
    """
    training = config.training
    denoises = training.task == Task.DENOISE.value
    return training.pretrained and denoises and training.mode == Mode.SELF_SUPERVISED.value


def thinned(config: Config) -> bool:
    """Whether those pairs are thinned: Poisson-Gaussian data (the gain calibration put in ``config``).

    Recorrupted pairs have independent noises only where the stabilised
    noise is Gaussian; at microscopy's photon counts it is not, and
    fine-tuning on them lowered the PSNR of every microscopy image of
    the benchmark (``bench/real_denoise.py``), even with recorruption
    noise matched to the transform's exact variance at each pixel and
    the true noise parameters. Photons split by binomial thinning
    (:func:`.data.stabilization.thin`) make independent pairs at any
    count.
    """
    # the noise fit keeps only shot noise that shows (stabilization._LEAST_SHOT_SHARE)
    return on_pairs(config) and config.model.noise_gain > 0


def kept_prior_reason(
    *, unvalidated: bool, clipped_share: float, model: ModelConfig, patch_size: int
) -> str | None:
    """Why fine-tuning keeps the prior as it is, without a training step; None where it trains.

    So it does where no validation region could be held out: without
    held-out data nothing tells whether a step helps, and on a
    102x102 image (scikit-image's microaneurysms, which no benchmark
    trains on) 30 s of fine-tuning validated on its own training data
    fell 1.28, 0.25 and 0.49 dB under the prior at 10, 30 and 100
    photons, where on 100x100 crops of cell, coins, moon and retina at 30
    photons it moved 0.00 to +0.04 dB.

    And where much of the noise was clipped. Recorrupted pairs need
    Gaussian noise; clipped noise is squashed near the clip levels, the
    pair's noises there anticorrelate, and fine-tuning on them, even
    with the recorruption scaled to the squashed variance at each
    pixel, left photographs clipped at sigma
    50 (of 255) 0.2 to 1 dB below the prior and declipping after 30 s
    (camera, chelsea, moon; 2 to 16 % of their pixels clipped), the
    black-and-white horse (51 %) 8 dB below. Where less than
    :data:`KEEP_PRIOR_CLIPPED` of the pixels are clipped (chelsea, gravel
    and moon at sigma 25, 0.2 to 0.6 %), it fine-tunes as on unclipped noise,
    and so it does on Poisson-Gaussian noise, which thinning splits into
    counts that clipping at zero photons hardly touches (the six
    micrographs of ``bench/clipped_photons.py`` at 10 photons, 3.6 to 31 %
    of their pixels clipped: 120 s of default training validated 142 to
    158 steps on each, and kept the prior).

    Parameters
    ----------
    unvalidated : bool
        Whether no validation region could be held out of the input.
    clipped_share : float
        The share of the input's pixels at a clip level.
    model : ModelConfig
        The prior's, with the clip levels its calibration kept.
    patch_size : int
        The training patches' side.
    """
    if unvalidated:
        return (
            f"the image is too small to hold out a validation region of one patch ({patch_size} "
            f"pixels a side, with {patch_size} more to train on), without which fine-tuning "
            "cannot be checked, so the pretrained prior is kept without training steps."
        )
    clipped = model.clip_low is not None or model.clip_high is not None
    if clipped and model.noise_gain == 0 and clipped_share >= KEEP_PRIOR_CLIPPED:
        return (
            f"{100 * clipped_share:.1f} % of the input's pixels are clipped (at "
            f"{model.clip_low} and {model.clip_high}); training on clipped noise makes the "
            "result worse, so the pretrained prior is kept without training steps, and its "
            "output is corrected for the clipping."
        )
    return None


@torch.no_grad()
def pull_to_prior(network: nn.Module, anchor: list[torch.Tensor], lr: float) -> None:
    """Move every weight of ``network`` ``lr * PRIOR_PULL`` (at most all) of its distance back to ``anchor``'s (L2-SP)."""
    for weight, prior in zip(network.parameters(), anchor):
        # in place: no temporary per weight; at most all the way back (lr 0.01 and above)
        weight.lerp_(prior, min(1.0, lr * PRIOR_PULL))


@dataclass(eq=False)  # holds tensors
class PriorCheck:
    """The prior's denoising of the noisy input's neighbouring pixels, to hold fine-tuning against.

    The thinned pairs' noises are independent only where the noise model
    is right, and the thinned validation carries the model's error: at
    about 10 photons the fit misjudges bins of few whole counts, and 30 s
    of fine-tuning on ``bench/real_denoise.py``'s micrographs came out at
    28.43 dB against the prior's 29.49 (cell 32.50 against 36.45), each
    rated better than the prior by its validation. Sub-images of
    neighbouring pixels have independent noises without a model
    (:mod:`.data.subimages`): the best weights are kept unless the prior
    denoises them into their diagonal neighbours better by
    :data:`KEEP_PRIOR_Z` standard errors. The trainer runs it on thinned
    pairs of 2D inputs of fewer than :data:`CHECK_PHOTONS` photons only.

    Attributes
    ----------
    inputs, targets : Tensor (4, C, S, S)
        Sub-images of a crop of the input and their diagonal neighbours
        (:func:`.data.subimages.diagonal_pairs`).
    outputs : Tensor (4, C, S, S)
        The prior's outputs for ``inputs``.
    state : dict
        The prior's weights.
    loss : float
        The prior's validation loss.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    outputs: torch.Tensor
    state: dict
    loss: float

    @classmethod
    @torch.no_grad()
    def of(
        cls, network: nn.Module, planes: np.ndarray, state: dict, loss: float, device: torch.device
    ) -> PriorCheck:
        """The check of the prior ``network`` (weights ``state``, validation loss ``loss``) on planes (N, C, Y, X).

        On the middle plane, its central :data:`CHECK_SIDE` x :data:`CHECK_SIDE`
        pixels at most.
        """
        plane = np.asarray(planes[len(planes) // 2], dtype=np.float32)  # (C, Y, X)
        top, left = (max(0, (side - CHECK_SIDE) // 2) for side in plane.shape[-2:])
        crop = np.ascontiguousarray(plane[:, top : top + CHECK_SIDE, left : left + CHECK_SIDE])
        pairs = diagonal_pairs(torch.from_numpy(crop)[None])
        inputs, targets = (part.to(device, memory_format=channels_last(2)) for part in pairs)
        network.eval()
        return cls(inputs, targets, network(inputs), state, loss)

    @torch.no_grad()
    def verdict(self, network: nn.Module, state: dict, weights: torch.Tensor | None = None) -> str | None:
        """A warning where the prior beats ``network`` with weights ``state``, else None.

        The prior wins where it denoises the sub-images into their diagonal
        neighbours better by :data:`KEEP_PRIOR_Z` standard errors (channels'
        errors weighted by ``weights``); then the warning says by how much.
        """
        network = copy.deepcopy(network)
        network.load_state_dict(state)
        score = compare_denoisers(network.eval()(self.inputs), self.outputs, self.targets, weights)
        if not score < -KEEP_PRIOR_Z:  # NaN too: no verdict against the fine-tuned weights
            return None
        return (
            "fine-tuning made the result worse than the pretrained prior's on the input's "
            f"neighbouring pixels ({-score:.1f} standard errors), which its validation on "
            "thinned pairs cannot see where the noise fit is off (at about 10 photons or "
            "fewer); the prior is kept."
        )
