"""Pretrained networks shipped with the package: the denoising and super-resolution priors.

One residual U-Net, trained once (``tools/pretrain_prior.py``) on
photographs, then on photographs and dead-leaves images (flat discs with
hard edges), with white Gaussian noise of standard deviation
:data:`PRIOR_SIGMA` and random contrast, then with Poisson-Gaussian noise
after the generalised Anscombe transform on half of its batches, then
with fluorescence-like images (nuclei, spots, filaments) and more pictures.
Denoising is equivariant to scaling, so an image whose noise has standard
deviation ``sigma`` is scaled by ``PRIOR_SIGMA / sigma``, denoised, and
scaled back: one network covers every noise level, as a noise-level map
does in FFDNet. Poisson-Gaussian data first go through the generalised
Anscombe transform (:mod:`.data.stabilization`), which makes their noise
Gaussian of unit variance. The U-Net does both when its config holds a noise model
(:meth:`.nn.models.UNet.denoise_stable`); training with
``training.pretrained`` fine-tunes it on the user's data.

The super-resolution priors, one per factor, are the recipe's default
upscaler (:class:`.nn.models.SuperResolutionNet`) trained once
(``tools/pretrain_superres.py``) by ``from-highres`` training on
:data:`SUPERRES_TRAINING_IMAGES`, far longer than a user's budget; training
with ``training.pretrained`` fine-tunes one, one channel at a time.

The weights are safetensors files with the network's config in their
header: loading never runs code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import PRIOR_NETWORK, Architecture, ModelConfig
from .data.canvas import canvas_mask, reflect_into
from .data.clipping import channel_levels, clip_levels
from .data.correlation import both_axes_warning, choose_strides, correlates_along_both, phase_function
from .data.defects import fill_defects
from .data.normalization import Normalizer
from .data.stabilization import NoiseModel, declip_noise, estimate_planes_noise, spread_picks
from .inference.prediction import symmetry_mean
from .inference.tiling import apply_tiled
from .nn.models import build_model
from .progress import checkpoint

#: Noise standard deviation the prior was trained for, on its own scale.
PRIOR_SIGMA = 0.1
#: scikit-image photographs the prior trains on; the others stay held apart for tests.
TRAINING_PHOTOS = ("astronaut", "coffee", "rocket", "grass", "brick", "clock", "page", "text")
#: scikit-image photographs never seen in training: the benchmark's test photographs.
HELD_APART_PHOTOS = ("camera", "chelsea", "gravel", "horse")
#: Images the super-resolution priors train on (``tools/pretrain_superres.py``; ``name:C`` is
#: channel C): the training images of ``bench/superres_real.py``, the clock and Grace Hopper.
#: Its test images (camera, coffee, chelsea, gravel, cell, coins, moon, microaneurysms) stay
#: held apart.
SUPERRES_TRAINING_IMAGES = (
    "astronaut", "rocket", "brick", "grass", "horse", "clock", "grace_hopper",
    "immunohistochemistry:0", "immunohistochemistry:1", "immunohistochemistry:2", "retina:1",
    "hubble_deep_field",
)  # fmt: skip
#: The network: a residual U-Net of three levels.
PRIOR_CONFIG = ModelConfig(**PRIOR_NETWORK)
_WEIGHTS = "gaussian-prior.safetensors"
#: The super-resolution priors' weights, by factor.
_SUPERRES_WEIGHTS = "superres-x{factor}.safetensors"


def weights_file(config: ModelConfig) -> Path:
    """The shipped weights for a network of ``config``: the upscaler of its factor, else the denoiser."""
    superres = config.architecture == Architecture.SUPERRES.value
    name = _SUPERRES_WEIGHTS.format(factor=config.factor) if superres else _WEIGHTS
    return Path(str(resources.files("napari_autoencoders.core") / "weights" / name))


def prior_network() -> torch.nn.Module:
    """A new, untrained network of the prior's architecture."""
    return build_model(PRIOR_CONFIG)


def save_prior(network: torch.nn.Module, path: str | os.PathLike, *, steps: int) -> Path:
    """Write ``network``'s weights and config (``network.config``) to ``path`` (safetensors).

    The weights are stored as float16, which halves the file; they are
    loaded back as float32.
    """
    path = Path(path)
    metadata = {"config": json.dumps(vars(network.config)), "steps": str(steps)}
    state = {key: value.detach().half().contiguous() for key, value in network.state_dict().items()}
    save_file(state, str(path), metadata=metadata)
    return path


def load_prior(path: str | os.PathLike | None = None) -> torch.nn.Module:
    """A pretrained prior in eval mode, from ``path`` or the package's denoiser.

    Raises
    ------
    FileNotFoundError
        If the weights file is missing.
    """
    if path is None:
        path = weights_file(PRIOR_CONFIG)
    with safe_open(str(path), framework="pt") as handle:
        config = ModelConfig(**json.loads(handle.metadata()["config"]))
        state = {key: handle.get_tensor(key).float() for key in handle.keys()}
    network = build_model(config)
    network.load_state_dict(state)
    return network.eval()


def pretrained_network(config: ModelConfig, path: str | os.PathLike | None = None) -> torch.nn.Module:
    """The network of ``config`` holding a prior's weights.

    ``config`` is the denoising prior's U-Net with a noise model, or a
    channelwise upscaler; the weights are ``path``'s, by default the shipped
    ones of that network (:func:`weights_file`).

    Raises
    ------
    ValueError
        If ``config`` is not the prior's network.
    """
    network = build_model(config)
    prior = load_prior(path if path is not None else weights_file(config))
    try:
        network.load_state_dict(prior.state_dict())
    except RuntimeError as err:
        raise ValueError(f"the network {config} cannot hold the prior's weights: {err}") from err
    return network


#: The least share of the noise variance its model predicts that the prior removes where the
#: model is right: 0.67 to 1.03 on the real-image benchmark's 30 noisy inputs (gravel at
#: sigma 15 of 255 the least, the median 0.93). Below it the model holds variance that is
#: not noise, as the fine texture of a nearly clean image (gravel with noise of 1 of 255,
#: measured at 4, gives 0.27; camera 0.28, coins 0.26) or correlated noise (0.15 to 0.25):
#: :func:`checked_noise` scales it down.
LEAST_REMOVED = 0.6
#: The share the prior removes, about, where the noise model is right (:data:`LEAST_REMOVED`).
REMOVED = 0.9
#: The least factor :func:`checked_noise` scales a noise model by (the least share seen: 0.14).
LEAST_FACTOR = 0.1
#: Side of the central crop that :func:`removed_share` denoises.
CHECK_SIDE = 256


def removed_share(plane: np.ndarray, network: torch.nn.Module) -> float:
    """The share of the noise variance that ``network``'s noise model predicts which it removes.

    Parameters
    ----------
    plane : ndarray, shape (C, Y, X)
        Normalised noisy data; its central :data:`CHECK_SIDE` x :data:`CHECK_SIDE`
        pixels at most are denoised once.
    network : torch.nn.Module
        The prior with a noise model in its config (:func:`pretrained_network`).

    Returns
    -------
    float
        The squared difference between the data and the network's output,
        summed, over the variance the model predicts at the output, summed;
        both without the flat regions, which hold no noise
        (:func:`.data.canvas.flat_pixels`).
    """
    top, left = (max(0, (side - CHECK_SIDE) // 2) for side in plane.shape[-2:])
    crop = np.ascontiguousarray(plane[:, top : top + CHECK_SIDE, left : left + CHECK_SIDE], dtype=np.float32)
    with torch.inference_mode():
        out = network.eval()(torch.from_numpy(crop[None]))[0].numpy()
    config = network.config
    noisy = ~canvas_mask(crop)
    predicted = np.maximum(config.noise_gain * out + config.noise_variance, 0.0)[noisy].sum()
    return float(((crop - out)[noisy] ** 2).sum() / predicted) if predicted > 0 else 1.0


def checked_noise(
    plane: np.ndarray,
    noise: NoiseModel,
    config: ModelConfig = PRIOR_CONFIG,
    path: str | os.PathLike | None = None,
) -> tuple[float, float]:
    """The factor to scale ``noise`` by, from the share of it the prior removes from ``plane``.

    Where the prior with ``noise`` removes less than :data:`LEAST_REMOVED` of
    the variance ``noise`` predicts (:func:`removed_share`), part of that
    variance is not noise, and the model is to be scaled down to what the
    prior took away: its gain and read variance alike, by the share over
    :data:`REMOVED` (:data:`LEAST_FACTOR` at least), once: the test is
    one-sided, since with the right model of a nearly clean, textured image
    the prior removes little too (gravel with noise of 1 of 255: 0.18 of
    it), where it cannot tell the noise from the texture. On 8-bit crops of
    the real-image benchmark's images with noise of 1 of 255, the prior
    (eight orientations) went from 41.83 to 46.79 dB on gravel (the input
    48.14), 44.58 to 47.87 on camera (48.15), 41.07 to 45.76 on coins
    (47.83), 40.06 to 44.28 on hubble_deep_field (47.86); cell and horse,
    smooth, are not scaled. With white noise of 3, 5 and 10 of 255 on 15
    images (256x256 crops, one orientation) 17 of the 45 cases were
    scaled: grass +1.1 to +4.1 dB, camera +0.6 and +1.3, gravel -0.1 to
    +1.4, coins +0.1 and +0.8, coffee +0.8; immunohistochemistry -0.2
    and -0.3, chelsea 0 and -0.2, microaneurysms +0.2 and -0.1.

    Parameters
    ----------
    plane : ndarray, shape (C, Y, X)
        Normalised noisy data.
    noise : NoiseModel
        Its noise, on that scale.
    config : ModelConfig
        The prior's network (its noise model is replaced by ``noise``).
    path : path-like, optional
        Weights of another prior.

    Returns
    -------
    factor : float
        What to scale the noise model by: 1 where the check passes.
    share : float
        :func:`removed_share`.
    """
    config = dataclasses.replace(config, noise_gain=noise.gain, noise_variance=noise.read_variance)
    share = removed_share(plane, pretrained_network(config, path))
    return _factor(share), share


def checked_planes_noise(
    planes: np.ndarray,
    config: ModelConfig = PRIOR_CONFIG,
    path: str | os.PathLike | None = None,
    most: int = 8,
) -> tuple[float, float]:
    """:func:`checked_noise` for many planes: the median of each one's check.

    Planes need not share their noise (a collection's images, a stack of
    acquisitions), and checking one against the model of all misreads it:
    six micrographs at 100 photons, whose median model the prior removes
    0.47 of from hubble_deep_field's corner (0.79 of its own); a stack of
    camera with noise of 0.1, 0.03 and 0.2 read 0.16 on its middle plane,
    and its noise was taken as 0.18 of the measure. So each of up to
    ``most`` planes, evenly spread, is checked with its own model
    (:func:`.data.stabilization.estimate_planes_noise`), its hot and dead
    pixels replaced first, and the median share decides the factor for
    the model of all.

    Parameters
    ----------
    planes : ndarray, shape (N, C, Y, X)
        Normalised noisy planes.
    config : ModelConfig
        The prior's network.
    path : path-like, optional
        Weights of another prior.
    most : int
        The most planes checked.

    Returns
    -------
    factor, share : float
        As :func:`checked_noise`'s; 1 and 1 where no plane has measurable noise.
    """
    shares = []
    for plane in np.asarray(planes, dtype=np.float32)[spread_picks(len(planes), most)]:
        checkpoint()  # a second or two per plane
        own = estimate_planes_noise(plane[None])[0]
        if own.gain > 0 or own.read_variance > 0:
            shares.append(checked_noise(fill_defects(plane, own)[0], own, config, path)[1])
    share = float(np.median(shares)) if shares else 1.0
    return _factor(share), share


def _factor(share: float) -> float:
    """What :func:`checked_noise` scales a noise model by where the prior removes ``share`` of it."""
    return 1.0 if share >= LEAST_REMOVED else max(share / REMOVED, LEAST_FACTOR)


def texture_warning(factor: float, share: float) -> str:
    """The warning that :func:`checked_noise` scaled the noise model by ``factor``."""
    return (
        f"the prior removes only {share:.0%} of the noise variance measured, where about "
        f"{REMOVED:.0%} goes when the measure is right: part of what was measured is not noise, "
        f"so the noise is taken as {factor:.2f} of it. The fine texture of a nearly clean image "
        "does that (denoise images that are noisy), and so does noise correlated between "
        "neighbours (the noise report, Measure noise or the noise command, shows its "
        "correlation and the noise strides that split it)."
    )


def denoise_image(
    image: np.ndarray,
    noise: NoiseModel | None = None,
    *,
    path: str | os.PathLike | None = None,
    tile: int = 256,
    ensemble: bool = True,
    clipping: bool = True,
    defects: bool = True,
    strides: tuple[int, int] | None = None,
) -> np.ndarray:
    """Denoise one noisy image (Y, X) with the prior alone, no training: the zero-shot path.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        Noisy image, any intensity scale and offset.
    noise : NoiseModel, optional
        Its noise on that scale, zero photons at 0; by default estimated
        (:func:`.stabilization.estimate_planes_noise`; that of the interleaved
        phases where it correlates along an axis, see ``strides``) from the
        image mapped as the trainer maps it, its 1st and 99.8th percentiles to 0 and 1
        (a canvas left out: :mod:`.data.canvas`),
        and scaled down, with a warning, where the prior removes far less of it
        than it predicts (:func:`checked_noise`). An
        image clipped at its ends (:func:`.clipping.clip_levels`) has its
        noise fitted as clipped, and the result is declipped
        (:func:`.stabilization.declip_noise`) after denoising.
    path : path-like, optional
        Weights of another prior (:func:`save_prior`); the shipped one by default.
    tile : int
        Tile side; tiles overlap and blend.
    ensemble : bool
        Average the 8 rotations and flips of each tile
        (:func:`.inference.prediction.symmetry_mean`), for 8 times the
        computation: 0.05 to 1.24 dB better on each of the 30 real images
        and noise levels of ``bench/real_denoise.py``.
    clipping : bool
        Look for clip levels (see ``noise``); False takes the noise as
        never clipped, as before they were modelled.
    defects : bool
        Replace hot and dead pixels (:mod:`.data.defects`) by the median of
        their neighbours before denoising; False keeps them, and the prior
        takes each for a bright spot or a dark dot.
    strides : (int, int), optional
        Denoise the interleaved phases of these strides (Y, X) apart
        (:mod:`.data.correlation`), for noise correlated along rows or
        columns; by default measured on the image (:func:`.data.correlation.choose_strides`),
        (1, 1) for white noise, and for neighbours that correlate along both axes,
        with a warning (:func:`.data.correlation.both_axes_warning`).

    Returns
    -------
    ndarray of float32, shape (Y, X)
        A canvas (:func:`.data.canvas.canvas_mask`) as it was; the prior sees
        the content mirrored into it (:func:`.data.canvas.reflect_into`).
    """
    image = np.asarray(image, dtype=np.float32)
    if np.ptp(image) == 0:
        return image.copy()  # a constant image: nothing to denoise
    # The trainer's map to [0, 1]: the estimate's line is clamped to the origin, which
    # must lie near zero photons; a camera's offset (100 ADU, say) puts it far below
    # them, and on the raw counts the estimate cost 3.9 dB (cell at 30 photons).
    canvas = canvas_mask(image)  # holds no noise: not data for the map or the clip levels
    norm = Normalizer.fit(image[None, None], leave_out=canvas[None, None])
    unit = norm.normalize(image[None, None])[0]  # (1, Y, X)
    levels = channel_levels(*clip_levels(image[~canvas]), norm)[0] if clipping else (None, None)
    # the phases' noise is white: the whole image's looks weaker
    correlation, chosen = choose_strides(unit[None], strides)
    if strides is None and correlates_along_both(correlation):
        warnings.warn(both_axes_warning(correlation), stacklevel=2)
    strides = chosen
    measured = noise is None
    if measured:
        noise = estimate_planes_noise(unit[None], levels=[levels], strides=strides)[0]
    else:
        # read noise takes dark pixels below zero photons, and a 1st percentile there gives
        # the rescaled line a read variance below 0: clamped, as the estimate's is
        noise = noise.rescaled(norm.low[0], norm.high[0] - norm.low[0])
        noise = NoiseModel(noise.gain, max(noise.read_variance, 0.0))
    if noise.gain <= 0 and noise.read_variance <= 0:
        return image.copy()  # no measurable noise
    if defects:
        unit = fill_defects(unit, noise)[0]
    if measured and levels == (None, None) and strides == (1, 1):
        noise = _checked(unit, noise, path)
    config = dataclasses.replace(
        PRIOR_CONFIG, noise_gain=noise.gain, noise_variance=noise.read_variance
    )
    network = pretrained_network(config, path).eval()

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch)
            return (symmetry_mean(network, x) if ensemble else network(x)).numpy()

    forward = phase_function(forward, strides)

    side = min(tile, *image.shape)
    out = apply_tiled(forward, reflect_into(unit, canvas[None]), tile=side, overlap=min(32, side // 4))
    if levels != (None, None):  # the prior averaged clipped values: their mean
        out = declip_noise(out, noise, levels)
    out = norm.denormalize(out[None])[0, 0]
    out[canvas] = image[canvas]  # it holds no noise
    return out


def _checked(unit: np.ndarray, noise: NoiseModel, path: str | os.PathLike | None) -> NoiseModel:
    """``noise`` of planes ``unit`` (1, Y, X), scaled, with a warning, where :func:`checked_noise` says."""
    factor, share = checked_noise(unit, noise, path=path)
    if factor == 1.0:
        return noise
    warnings.warn(texture_warning(factor, share), stacklevel=3)
    return noise.scaled(factor)
