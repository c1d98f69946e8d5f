"""Calibration: what a denoising training measures of its noisy input before it trains.

Self-supervised training takes the pixels' noises for independent: where
the noise correlates along rows or columns, :func:`split_strides` chooses
the interleaved sets of pixels to train on apart. The denoising prior
(:mod:`.prior`) is also told the noise it removes: before it trains on
noisy images (self-supervised, or paired with clean targets) or on clean
ones with added noise (synthetic), :func:`calibrate` measures that noise,
or reads it from the noise description, and readies the noisy planes for the training: channels
rescaled to one noise model, defective pixels replaced, the model checked
against what the prior removes. What they find fills a :class:`Calibration`,
whose :meth:`~Calibration.messages` are the training's warnings about its input.

>>> found = Calibration()
>>> split_strides(found, x, config)                                   # doctest: +SKIP
>>> data, noisy, norms = calibrate(found, x, planes, config, norms)   # doctest: +SKIP
>>> found.photons, found.defects, found.messages(config)              # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import Config, Mode, ModelConfig, Task
from .data.canvas import canvas_mask
from .data.clipping import channel_levels, clip_levels, clipped_share
from .data.collection import ImageCollection
from .data.correlation import (
    LAGS,
    both_axes_warning,
    choose_strides,
    correlates_along_both,
)
from .data.defects import Defects, fill_dark_outliers, fill_frame_defects
from .data.normalization import Normalizer
from .data.stabilization import (
    NoiseModel,
    channel_balance,
    estimate_channel_noise,
    estimate_planes_noise,
    noise_model_of,
    noisy_flat,
    signal_correlation,
    spread_picks,
)
from .fine_tuning import on_pairs
from .prior import checked_noise, checked_planes_noise, texture_warning
from .progress import checkpoint

#: The shortest side, in pixels, of planes whose noise the estimate measures: on 8x8
#: planes of clearly noisy frames it found none, from 12x12 it does.
SMALLEST_MEASURED = 12

#: Three channels of Gaussian noise whose signals all correlate at least this much
#: are colours (:func:`_are_colours`); photographs' reach 0.68, unrelated images' 0.07.
COLOUR_CORRELATION = 0.5

#: The warning where Noise2Void from random weights keeps an image of noise
#: correlated along rows or columns whole. Split at 1,3, 60 s of it on the
#: real-image benchmark's images with such noise (``bench/correlated_noise.py``'s)
#: gained 1.5 to 7.6 dB on cell, moon, hubble_deep_field, retina and chelsea,
#: and lost 0.7 to 2.5 on camera, gravel, horse, coins and immunohistochemistry
#: (horse under its noisy input): 25.83 dB on average, 24.88 whole.
_UNSPLIT_NOISE2VOID = (
    "the noise correlates along rows or columns, which a blind spot takes for signal; "
    "Noise2Void from random weights keeps the image whole unless asked: noise strides "
    "{rows},{columns} split it into interleaved sets where the noise no longer correlates (on "
    "smooth micrographs that helped most; on textured photographs it cost), and the pretrained "
    "prior splits it by itself."
)


@dataclass(eq=False)  # holds arrays
class Calibration:
    """What :func:`split_strides` and :func:`calibrate` found of a training's noisy input.

    Before them (and for the trainings that run neither) every field holds
    its default: no noise model, no rescaled channels, nothing replaced,
    nothing split.

    Attributes
    ----------
    photons : NoiseModel or list of NoiseModel or None
        The noise model, with a signed read variance, that thinning splits
        photons by; one per channel once channels with shot noise are
        rescaled (:func:`_equalize_channel_noise`).
    channel_weights : Tensor (C,) or None
        Weights of the channels' errors in the fine-tuning losses, once
        channels are rescaled: each channel's error on its own scale.
    fewest_photons : float
        The fewest photons a channel holds at its brightest, as the noise fit
        counts them.
    clipped_share : float
        Share of the input's pixels at a clip level (self-supervised only).
    defects : Defects
        How many hot and dead pixels of the noisy input were replaced
        (:mod:`.data.defects`).
    patch_noise : NoiseModel or None
        The model a collection's patches have their defective pixels
        replaced with, as sampled.
    noise_check : (float, float) or None
        The factor the noise model was scaled by and the share of it the
        prior removed, where :func:`.prior.checked_noise` scaled it (for a
        warning); else None.
    noise_correlation : ndarray (2, LAGS) or None
        The noise's correlation along Y and X where the training runs on
        interleaved phases, measured or asked for (:mod:`.data.correlation`).
    unused_strides : (int, int) or None
        Strides measured but not used (Noise2Void from random weights splits
        where asked only).
    both_axes : ndarray (2, LAGS) or None
        The correlation measured where neighbours correlate along both axes
        (:func:`.data.correlation.correlates_along_both`), for a warning.
    """

    photons: NoiseModel | list[NoiseModel] | None = None
    channel_weights: torch.Tensor | None = None
    fewest_photons: float = math.inf
    clipped_share: float = 0.0
    defects: Defects = field(default_factory=lambda: Defects(0, 0))
    patch_noise: NoiseModel | None = None
    noise_check: tuple[float, float] | None = None
    noise_correlation: np.ndarray | None = None
    unused_strides: tuple[int, int] | None = None
    both_axes: np.ndarray | None = None

    def messages(self, config: Config) -> list[str]:
        """The warnings about the input that a training of ``config`` gives, in order.

        Defective pixels replaced, strides measured but not used, a noise
        model scaled by the prior's check, noise correlated along both axes
        and kept whole, and an image split into interleaved sets (measured,
        or asked for by ``data.noise_strides``).
        """
        messages = []
        if any(self.defects):
            messages.append(
                f"{self.defects} (single pixels far brighter or darker than all their "
                "neighbours, as a camera's defective pixels are) were replaced by the median of "
                "their neighbours, in training and in the result."
            )
        if self.unused_strides is not None:
            rows, columns = self.unused_strides
            messages.append(_UNSPLIT_NOISE2VOID.format(rows=rows, columns=columns))
        if self.noise_check is not None:
            messages.append(texture_warning(*self.noise_check))
        if self.both_axes is not None:
            messages.append(both_axes_warning(self.both_axes))
        requested = config.data.noise_strides not in (None, (1, 1))
        if self.noise_correlation is not None or requested:
            strides = config.model.noise_strides
            messages.append(_correlation_message(self.noise_correlation, strides, requested))
        return messages


def splits_narrower(sides: tuple[int, int], strides: tuple[int, int], patch_size: int) -> bool:
    """Whether ``strides`` split planes of ``sides`` (Y, X) into sets narrower than ``patch_size``."""
    return min(side // stride for side, stride in zip(sides, strides)) < patch_size


def split_strides(
    found: Calibration, x: np.ndarray, config: Config, sides: tuple[int, int] | None = None
) -> None:
    """Set ``config.model.noise_strides``: those of the phases of normalised planes ``x`` (N, C, Y, X) to train on.

    ``data.noise_strides`` where given, else measured
    (:func:`.data.correlation.choose_strides`); prediction splits images
    alike. Measured strides that would split planes of ``sides`` (Y, X;
    a collection's smallest, of which ``x`` is a sample; by default
    ``x``'s own) into sets narrower than a training patch are not used:
    the noise stays correlated there. Noise2Void from random weights
    splits only where asked (:data:`_UNSPLIT_NOISE2VOID`): the measured
    strides go to ``found.unused_strides``, for a warning. Neighbours that
    correlate along both axes stay whole, with a warning (``found.both_axes``).
    """
    requested = config.data.noise_strides
    correlation, strides = choose_strides(x, requested)
    if requested is None and correlates_along_both(correlation):
        found.both_axes = correlation
    sides = x.shape[-2:] if sides is None else sides
    narrow = splits_narrower(sides, strides, config.data.patch_size)
    if strides == (1, 1) or (requested is None and narrow):
        return
    if requested is None and not config.training.pretrained:
        found.unused_strides = strides
        return
    found.noise_correlation = correlation
    config.model = dataclasses.replace(config.model, noise_strides=strides)


def calibrate(
    found: Calibration,
    x: np.ndarray | ImageCollection,
    planes: np.ndarray | ImageCollection,
    config: Config,
    norms: tuple[Normalizer, Normalizer],
    *,
    canvas: np.ndarray | None = None,
    sample: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray | ImageCollection, np.ndarray | None, tuple[Normalizer, Normalizer]]:
    """Put the noise model of normalised planes ``x`` (N, C, Y, X) in ``config.model``, and in ``found``.

    Given by the noise description in synthetic mode, else estimated from
    the noisy inputs (for a collection, from ``sample``: a window of up to 8
    of its planes, normalised and raw); :attr:`Calibration.photons`, the
    model that thinning splits the counts with, is the estimate with a signed
    read variance. Where ``model.noise_strides`` splits the planes, the
    noise is that of their phases, measured on the whole planes. Three
    channels of Gaussian noise that share their structure are colours
    (:func:`_are_colours`). Self-supervised training on the raw ``planes``
    of an array clipped at its ends (:func:`.data.clipping.clip_levels`;
    ``canvas`` marks the pixels that are no data) fits the noise as clipped
    and keeps the clip levels, so that prediction undoes the clipping's
    bias. The channels of the noisy inputs (of a
    collection, as its windows show them) are rescaled to one noise model
    (:func:`_equalize_channel_noise`), and ``x`` with them; the hot and dead
    pixels of an array's noisy planes are replaced (:mod:`.data.defects`),
    and for thinned pairs its dark outliers too
    (:func:`.data.defects.fill_dark_outliers`, training data only); then the
    prior checks the model where the planes are whole and unclipped
    (:func:`_check_noise`).

    Parameters
    ----------
    found : Calibration
        Filled in place: the photons, the channel weights, the defective
        pixels, the check's scaling.
    x, planes : ndarray (N, C, Y, X) or ImageCollection
        The training's inputs, normalised by ``norms[0]`` and raw.
    config : Config
        A pretrained denoising training's; its ``model`` is replaced by one
        that holds the noise model, the colours and the clip levels.
    norms : (Normalizer, Normalizer)
        The inputs' and the targets' normalisations.

    Returns
    -------
    data : ndarray or ImageCollection
        ``x`` as rescaled and with its defective pixels replaced (a
        collection as it was: its patches are readied as sampled).
    noisy : ndarray or None
        The normalised noisy planes the noise was measured on, as readied
        (rescaled, defective pixels replaced; a collection's sample as
        read); None in synthetic mode.
    norms : (Normalizer, Normalizer)
        ``norms``, rescaled where the channels were.
    """
    training = config.training
    mode = training.mode if training.task == Task.DENOISE.value else None
    levels, data, binned = (None, None), x, {}  # binned: each plane's noise bins, computed once
    if isinstance(x, ImageCollection):
        x, planes = sample
    elif mode == Mode.SELF_SUPERVISED.value:
        data_values = planes[~canvas]
        levels = clip_levels(data_values)
        found.clipped_share = clipped_share(data_values, levels)
    if mode == Mode.SYNTHETIC.value:
        noise = found.photons = noise_model_of(training.noise)
    else:
        _check_measurable(np.shape(x)[-2:])
        clipped = None if levels == (None, None) else channel_levels(*levels, norms[0])
        noise, found.photons = estimate_planes_noise(
            x, levels=clipped, binned=binned, strides=config.model.noise_strides
        )
    if noise.gain <= 0 and noise.read_variance <= 0:
        raise ValueError(
            "no noise could be measured in the input, so there is nothing for the "
            "pretrained prior to remove; check the image, or train from random weights "
            "(--no-pretrained; in the Train widget, start from random weights)."
        )
    found_clipped = levels != (None, None)  # whatever the noise: the prior's check skips it
    found.fewest_photons = 1.0 / noise.gain if noise.gain > 0 else math.inf
    noisy = None
    if mode != Mode.SYNTHETIC.value:
        # a collection's patches are normalised as sampled, by the rescaled normalisation
        x, noise, norms = _equalize_channel_noise(found, x, planes, levels, noise, binned, config, norms)
        if isinstance(data, ImageCollection):
            found.patch_noise = noise  # its defective pixels are replaced as sampled
        else:
            data = x = _ready_planes(found, x, noise, on_pairs(config), training.seed, canvas)
        noisy = x
        checkpoint()
        # after the defective pixels, found with the model as measured; not on clipped data
        # (squashed variance) or interleaved phases
        if config.model.noise_strides == (1, 1) and not found_clipped:
            noise = _check_noise(found, x, noise, config.model, isinstance(data, ImageCollection))
    # synthetic mode's inputs are clean: none of their variance is noise
    inputs_noise = NoiseModel(0.0, 0.0) if mode == Mode.SYNTHETIC.value else noise
    colours = config.model.in_channels == 3 and noise.is_gaussian and _are_colours(x, inputs_noise)
    config.model = dataclasses.replace(
        config.model, noise_gain=noise.gain, noise_variance=noise.read_variance,
        opponent_colours=colours, clip_low=levels[0], clip_high=levels[1],
    )
    return data, noisy, norms


def _check_measurable(sides: tuple[int, int]) -> None:
    """Refuse planes of ``sides`` (Y, X) too small for the noise's bins, which the prior needs."""
    height, width = sides
    if min(height, width) < SMALLEST_MEASURED:
        raise ValueError(
            f"planes of {height}x{width} pixels are too small to measure their noise, which "
            f"the pretrained prior needs (at least {SMALLEST_MEASURED} pixels a side); train "
            "from random weights (--no-pretrained; in the Train widget, start from random "
            "weights), or give larger images."
        )


def noise_sample(collection: ImageCollection) -> np.ndarray:
    """Windows (:func:`noise_window`) of up to 8 of ``collection``'s planes, evenly spread, raw (N, C, S, S).

    S is the smallest plane's shorter side, at most 256 pixels.
    """
    picks = spread_picks(len(collection))
    side = min(256, *(min(collection.plane_shape(plane)[1:]) for plane in picks))
    return np.stack([noise_window(collection, plane, side) for plane in picks])


def noise_window(collection: ImageCollection, plane: int, side: int) -> np.ndarray:
    """A window (C, side, side) of a collection's plane where its noise is measured.

    Its corner, read in one block, unless that holds a canvas
    (:func:`.data.canvas.canvas_mask`) and the centre less: on three
    micrographs padded by 100 pixels of white, the corner was 63 per cent
    canvas, and 30 s of training gave 32.08 dB where unpadded 32.74 (the
    centre, 32.71). The centre is not the rule: on six nearly clean 8-bit
    crops it gave the noise check other texture to read, 47.04 dB against
    the corner's 47.91 (input 47.93).
    """
    corner = collection.read(plane, 0, 0, side)
    covered = canvas_mask(corner).sum()
    if covered == 0:
        return corner
    top, left = ((extent - side) // 2 for extent in collection.plane_shape(plane)[1:])
    centre = collection.read(plane, top, left, side)
    return centre if canvas_mask(centre).sum() < covered else corner


def _ready_planes(
    found: Calibration, x: np.ndarray, noise: NoiseModel, pairs: bool, seed: int, canvas: np.ndarray | None
) -> np.ndarray:
    """An array's normalised noisy frames ``x`` (N, C, ...) with their defective pixels replaced.

    For fine-tuning on pairs (``pairs``) the dark outliers are filled
    too (thinned pairs: the noise has shot noise), and flat regions (the
    ``canvas``, else found) get noise of the model's variance
    (:func:`.data.stabilization.noisy_flat`): training data only.
    """
    x, found.defects = fill_frame_defects(x, noise)
    if pairs and noise.gain > 0:  # thinned pairs, before the config has the gain
        x = fill_dark_outliers(x, noise)
    if pairs:
        x = noisy_flat(x, noise, np.random.default_rng(seed + 3), canvas)
    return x


def _check_noise(
    found: Calibration, x: np.ndarray, noise: NoiseModel, model: ModelConfig, collection: bool = False
) -> NoiseModel:
    """``noise`` of normalised planes ``x`` (N, C, Y, X), scaled where the prior finds less of it.

    The prior (of ``model``) denoises a crop of an array's one plane with
    ``noise`` (:func:`.prior.checked_noise`), or of up to 8 of many planes (a
    stack, a ``collection``'s sample, whose defective pixels are not yet
    replaced), each with its own model (:func:`.prior.checked_planes_noise`);
    where it removes far less variance than the model predicts, the model
    and ``found.photons`` are scaled down alike (``found.noise_check``, for a
    warning). :func:`calibrate` says where it runs.
    """
    if collection or len(x) > 1:
        factor, share = checked_planes_noise(x, model)
    else:
        factor, share = checked_noise(np.asarray(x[0]), noise, model)
    if factor == 1.0:
        return noise
    found.noise_check = (factor, share)
    found.fewest_photons /= factor
    photons = found.photons
    found.photons = (
        [m.scaled(factor) for m in photons] if isinstance(photons, list) else photons.scaled(factor)
    )
    return noise.scaled(factor)


def _equalize_channel_noise(
    found: Calibration,
    x: np.ndarray,
    planes: np.ndarray,
    levels: tuple[float | None, float | None],
    noise: NoiseModel,
    binned: dict,
    config: Config,
    norms: tuple[Normalizer, Normalizer],
) -> tuple[np.ndarray, NoiseModel, tuple[Normalizer, Normalizer]]:
    """Rescale the channels of ``planes`` (N, C, Y, X), normalised ``x``, to one noise model.

    Each channel is normalised on its own percentiles, so one camera's
    noise differs between channels on that scale (a dim fluorescence
    channel's shot noise is larger there than a bright one's), while the
    network takes one noise model for all: their median ``noise`` left
    the dim channel noisy and smoothed the bright one (cell at 10,
    moon at 30, hubble_deep_field at 100 photons as the channels of one
    image: 21.68, 32.81, 32.11 dB where each alone gives 36.17, 32.81,
    34.04), as it did the same Gaussian noise of a photograph's channels
    (the rocket in RGB at sigma 25 of 255: 32.26 dB, 33.98 once rescaled).
    Each channel's range is scaled (:meth:`.Normalizer.rescaled`) so
    that its gain, or without shot noise its standard deviation, is the
    median channel's. With shot noise each channel's low also moves down, so
    that its read variance is the channels' least
    (:func:`.data.stabilization.channel_balance`): every channel's
    Anscombe transform is then the one of its own fit, exactly. With the
    gains alone, a channel whose 1st percentile lay far above zero
    photons (moon at 300 photons) lent the others its large read
    variance (cell at 30 photons beside it: 36.81 dB, 38.50 alone).
    ``found.photons`` holds each channel's signed fit so moved (with their
    median, 120 s of training on ``bench/channels.py``'s images reached
    32.62 dB over the nine channels; with each its own, 32.73).
    ``found.channel_weights`` then weight each channel's error by its
    factor squared, so that it counts on the channel's own scale:
    rescaled, a bright channel's values grow (tenfold for moon at 300
    photons beside cell at 30) and its error ruled the loss, and 120 s
    of fine-tuning took cell from the prior's 38.49 dB to 37.68.
    Returns the normalised planes, the noise model and ``norms`` rescaled,
    or them as they were where some channels have shot noise and others not, or a
    channel's noise is not measurable. ``binned`` holds the bins of the
    planes already measured (:func:`.data.stabilization.estimate_planes_noise`).
    """
    if planes.shape[1] == 1:
        return x, noise, norms
    input_norm, target_norm = norms
    clipped = None if levels == (None, None) else channel_levels(*levels, input_norm)
    models, signed = estimate_channel_noise(x, most=max(1, 8 // planes.shape[1]), levels=clipped,
                                            binned=binned, strides=config.model.noise_strides)
    balance = channel_balance(models)
    if balance is None:
        return x, noise, norms
    factors, shifts, noise = balance
    if noise.gain > 0:
        found.fewest_photons = 1.0 / max(model.gain for model in models)  # each on its own scale
        # thinning counts each channel's photons from its own zero: one camera, many offsets
        found.photons = [fit.rescaled(f * s, f) for fit, f, s in zip(signed, factors, shifts)]
    # a channel's values shrank by its factor: its error counts on its own scale again
    found.channel_weights = torch.as_tensor(factors**2 / np.mean(factors**2), dtype=torch.float32)
    # paired training's targets are matched to the inputs' scale: they follow it
    paired = target_norm is not input_norm
    input_norm = input_norm.rescaled(factors, shifts)
    target_norm = target_norm.rescaled(factors, shifts) if paired else input_norm
    return input_norm.normalize(planes), noise, (input_norm, target_norm)


def _are_colours(planes: np.ndarray, noise: NoiseModel) -> bool:
    """Whether the 3 channels of ``planes`` (N, 3, Y, X), of noise ``noise``, share their structure.

    Judged on up to 8 of the planes. Channels that do, as colours do, are
    denoised as opponent colours (``model.opponent_colours``): with the
    prior alone, +0.2 to +2.3 dB on chelsea, immunohistochemistry, retina
    and coffee in RGB at sigma 25 and 50 (of 255), but -1.1 dB on three
    unrelated micrographs stacked as channels, which this keeps apart.
    """
    correlation = signal_correlation(planes[spread_picks(len(planes))], noise)
    return bool(correlation[np.triu_indices(3, 1)].min() >= COLOUR_CORRELATION)


def _correlation_message(correlation: np.ndarray | None, strides: tuple[int, int], requested: bool) -> str:
    """The warning that the image is split (correlation (2, LAGS) along Y, X, None if unmeasured)."""
    if requested:
        measured = "not measured" if correlation is None else "; ".join(
            f"along {name} {', '.join(f'{value:.2f}' for value in values)}"
            for name, values in zip("YX", correlation)
        )
        rows, columns = strides
        return (
            f"the image is split into {rows * columns} interleaved sets, {rows} rows and "
            f"{columns} columns apart within a set, as the noise strides {rows},{columns} ask "
            f"(the noise's correlation at 1 to {LAGS} pixels: {measured}), and each is denoised "
            "apart, in training and in the result."
        )
    axis = 0 if strides[0] > 1 else 1
    names, sets = ("Y", "X"), ("rows", "columns")
    along, other = (", ".join(f"{value:.2f}" for value in correlation[a]) for a in (axis, 1 - axis))
    return (
        f"the noise correlates along {names[axis]} ({along} at 1 to {LAGS} pixels; along "
        f"{names[1 - axis]} {other}), as a camera read out line by line makes it: the image is "
        f"split into {strides[axis]} interleaved sets of {sets[axis]}, {strides[axis]} pixels "
        "apart within a set, where the noise no longer correlates, and each is denoised apart, "
        "in training and in the result."
    )
