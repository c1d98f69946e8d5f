"""What the denoiser measures in a noisy image before it trains: the noise model, clipping,
hot and dead pixels and the noise's correlation along rows and columns, for a user to check."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .calibration import SMALLEST_MEASURED, splits_narrower
from .config import DataConfig
from .data.axes import to_planes
from .data.canvas import canvas_mask
from .data.clipping import channel_levels, clip_levels
from .data.correlation import LAGS, ONSET, choose_strides, suggested_strides
from .data.defects import Defects, fill_frame_defects
from .data.normalization import Normalizer
from .data.patches import check_image
from .data.stabilization import NoiseModel, channel_balance, estimate_channel_noise, estimate_planes_noise
from .prior import PRIOR_CONFIG, REMOVED, checked_noise, checked_planes_noise


@dataclass(frozen=True)
class NoiseReport:
    """The noise of an image as self-supervised training from the prior measures it.

    Attributes
    ----------
    noise : NoiseModel
        Variance ``gain * v + read_variance`` of a value ``v`` on the scale
        that maps the image's 1st and 99.8th percentiles (``low``, ``high``)
        to 0 and 1.
    low, high : float
        Those percentiles, in the image's units (of its first channel).
    channels : tuple of (NoiseModel, float, float)
        With more than one channel, each channel's own model, ``low`` and
        ``high`` (as the three fields above, in that channel's units);
        empty for one channel.
    clip_levels : (float or None, float or None)
        Where the values were clipped, in the image's units; None where not.
    defects : Defects
        How many pixels are taken for a camera's hot and dead pixels
        (:mod:`.data.defects`), summed over the planes: a fixed pixel of a
        stack counts once per plane, as the trainer replaces it.
    planes : int
        The planes (frames) measured.
    correlation : ndarray of float, shape (2, LAGS), or None
        The noise's correlation along Y and X at 1 to ``LAGS`` pixels
        (:mod:`.data.correlation`); None for planes too small to measure.
    strides : (int, int)
        The interleaved sets the image is denoised in; (1, 1): whole.
    check : (float, float) or None
        The prior's check of the noise (:func:`.prior.checked_noise`), as the
        trainer makes it, channels rescaled to one model: the factor the
        denoiser scales it by (1: it stands) and the share of its variance
        the prior removes; None where not checked (clipped noise,
        interleaved sets, no noise measured).
    """

    noise: NoiseModel
    low: float
    high: float
    clip_levels: tuple[float | None, float | None]
    defects: Defects
    correlation: np.ndarray | None
    strides: tuple[int, int]
    check: tuple[float, float] | None = None
    channels: tuple[tuple[NoiseModel, float, float], ...] = ()
    planes: int = 1

    @property
    def photons(self) -> float:
        """Photons between the 1st and the 99.8th percentile (infinite without shot noise)."""
        return 1.0 / self.noise.gain if self.noise.gain > 0 else math.inf

    @property
    def read_sigma(self) -> float:
        """The noise's standard deviation at the 1st percentile (``low``), in the image's units.

        The model's signal-independent term: the camera's read noise where
        ``low`` is at zero photons, more where the background holds photons.
        """
        return _sigma_at_low(self.noise, self.low, self.high)

    def lines(self) -> list[str]:
        """The report as lines of text, values in the image's units."""
        if self.channels:
            lines = ["noise model of each channel, on its own scale:"]
            for index, (noise, low, high) in enumerate(self.channels):
                lines += [f"  channel {index}:", *_model_lines(noise, low, high, "    ")]
        else:
            lines = _model_lines(self.noise, self.low, self.high, "  ")
            lines.insert(0, "noise model, on the image's scale:")
        sides = (("below at", self.clip_levels[0]), ("above at", self.clip_levels[1]))
        clipped = [f"{name} {level:.4g}" for name, level in sides if level is not None]
        lines.append(f"clipped: {' and '.join(clipped)}" if clipped else "clipped: no")
        over = f" (summed over the {self.planes} planes)" if self.planes > 1 else ""
        lines.append(f"hot pixels: {self.defects.hot}; dead pixels: {self.defects.dead}{over}")
        return lines + self._check_lines() + self._correlation_lines()

    def _check_lines(self) -> list[str]:
        """What the prior removes of the variance the model predicts, and what the denoiser makes of it."""
        if self.check is None:
            return ["prior's check of the model: not made (clipped noise, interleaved sets, or no noise)"]
        factor, share = self.check
        line = f"prior's check of the model: it removes {share:.0%} of the variance the model predicts"
        if factor == 1.0:
            return [f"{line}, so the denoiser takes the model as it is"]
        return [
            f"{line} (about {REMOVED:.0%} where the model is right),",
            f"  so the denoiser takes the noise as {factor:.2f} of it: part of what was measured is not "
            "noise (the texture of a nearly clean image, or correlated noise)",
        ]

    def _correlation_lines(self) -> list[str]:
        """The noise's correlation along Y and X, and what the denoiser makes of it."""
        if self.correlation is None:
            return [f"correlation of the noise: not measured (planes of {2 * LAGS} pixels or fewer a side)"]
        lines = [f"correlation of the noise at 1 to {LAGS} pixels:"]
        for name, values in zip("YX", self.correlation):
            lines.append(f"  along {name}: {'  '.join(f'{value:5.2f}' for value in values)}")
        rows, columns = self.strides
        if (rows, columns) == (1, 1):
            return lines + ["so the denoiser takes the image whole"] + self._strides_hint()
        stride, kind = (rows, "rows") if rows > 1 else (columns, "columns")
        return lines + [
            f"so the denoiser takes {stride} interleaved sets of {kind}, {stride} pixels apart",
            "  (noise strides 1,1 keep the image whole)",
        ]

    def _strides_hint(self) -> list[str]:
        """Where neighbours correlate and the image stays whole: the strides that would split it."""
        if self.correlation[:, 0].max() <= ONSET:
            return []
        rows, columns = suggested_strides(self.correlation)
        return [
            f"  neighbours correlate above {ONSET:g}: texture does that, and so does noise "
            "correlated along both axes (interpolated, binned or camera-processed images);",
            f"  if it is noise, noise strides {rows},{columns} split it into sets where it does not",
        ]


def _model_lines(noise: NoiseModel, low: float, high: float, indent: str) -> list[str]:
    """``noise`` (on the scale mapping ``low``, ``high`` to 0, 1) in the image's units, as lines."""
    lines = [f"{indent}values {low:.4g} to {high:.4g}: the 1st to 99.8th percentile"]
    if noise.gain > 0:
        photons = 1.0 / noise.gain
        lines.append(
            f"{indent}shot noise: {photons:.3g} photons from the 1st to the 99.8th percentile "
            f"({(high - low) / photons:.3g} units per photon)"
        )
    sigma = _sigma_at_low(noise, low, high)
    lines.append(f"{indent}noise at the 1st percentile: standard deviation {sigma:.4g}")
    return lines


def _sigma_at_low(noise: NoiseModel, low: float, high: float) -> float:
    """The standard deviation of ``noise`` at value ``low``, in the units where ``high`` - ``low`` is 1."""
    return math.sqrt(max(noise.read_variance, 0.0)) * (high - low)


def noise_report(image: np.ndarray, axes: str) -> NoiseReport:
    """Measure the noise of ``image`` (axes ``axes``) as the trainer does, channels together.

    The interleaved sets are those the trainer takes with its default
    patch: measured strides that would leave sets narrower than the patch
    keep the image whole (:func:`.calibration.split_strides`).

    Raises
    ------
    ValueError
        If the image holds no real numbers or NaN (:func:`.data.patches.check_image`),
        the axes do not fit it, a channel is constant, or the planes are
        smaller than :data:`.calibration.SMALLEST_MEASURED` pixels a side.
    """
    check_image(image, "the image")
    planes, _ = to_planes(np.asarray(image), axes)
    height, width = planes.shape[-2:]
    if min(height, width) < SMALLEST_MEASURED:
        raise ValueError(
            f"planes of {height}x{width} pixels are too small to measure their noise (at least "
            f"{SMALLEST_MEASURED} pixels a side); give a larger image."
        )
    canvas = canvas_mask(planes)  # holds no noise: not data for the map or the clip levels
    norm = Normalizer.fit(planes, leave_out=canvas)
    unit = norm.normalize(planes)
    correlation, strides = choose_strides(unit)  # the noise fitted is the sets', white there
    if splits_narrower((height, width), strides, min(DataConfig.patch_size, height, width)):
        strides = (1, 1)  # as the trainer keeps them whole
    levels = clip_levels(planes[~canvas])
    clipped = None if levels == (None, None) else channel_levels(*levels, norm)
    binned = {}  # each plane's noise bins at these strides, computed once for the fits below
    noise = estimate_planes_noise(unit, levels=clipped, strides=strides, binned=binned)[0]
    balanced, model = _balanced(planes, norm, unit, noise, binned if strides == (1, 1) else {})
    filled, defects = fill_frame_defects(balanced, model)
    check = None
    if clipped is None and strides == (1, 1) and (noise.gain > 0 or noise.read_variance > 0):
        check = _trainer_check(filled, model)
    return NoiseReport(
        noise=noise,
        low=float(norm.low[0]),
        high=float(norm.high[0]),
        clip_levels=levels,
        defects=defects,
        correlation=correlation,
        strides=strides,
        check=check,
        channels=_channel_models(unit, norm, clipped, strides, binned),
        planes=len(planes),
    )


def _channel_models(
    unit: np.ndarray, norm: Normalizer, levels, strides: tuple[int, int], binned: dict
) -> tuple[tuple[NoiseModel, float, float], ...]:
    """Each channel's noise model of normalised planes ``unit`` (N, C, Y, X), with its percentiles.

    Empty for one channel. ``levels`` are the channels' clip levels on that
    scale, or None; ``binned`` the planes' bins at ``strides`` found so far.
    """
    if unit.shape[1] < 2:
        return ()
    models = estimate_channel_noise(unit, levels=levels, strides=strides, binned=binned)[0]
    return tuple(
        (model, float(low), float(high)) for model, low, high in zip(models, norm.low, norm.high)
    )


def _balanced(
    planes: np.ndarray, norm: Normalizer, unit: np.ndarray, noise: NoiseModel, binned: dict
) -> tuple[np.ndarray, NoiseModel]:
    """``unit`` and ``noise`` with the channels rescaled to one noise model, as the trainer rescales them.

    ``planes`` (N, C, Y, X) are the image's, ``unit`` them normalised by
    ``norm`` (:func:`.data.stabilization.channel_balance`; ``binned``: their
    noise bins found so far, whole planes). Its hot and dead
    pixels are judged on that scale too: with the channels' median model
    instead, ``bench/channels.py``'s moon at 10, immunohistochemistry at 300
    and cell at 3000 photons as one image read 121 hot and 96 dead pixels,
    where the trainer replaces none.
    """
    if unit.shape[1] > 1:
        most = max(1, 8 // unit.shape[1])
        balance = channel_balance(estimate_channel_noise(unit, most=most, binned=binned)[0])
        if balance is not None:
            factors, shifts, noise = balance
            return norm.rescaled(factors, shifts).normalize(planes), noise
    return unit, noise


def _trainer_check(filled: np.ndarray, noise: NoiseModel) -> tuple[float, float]:
    """The prior's check of ``noise`` as the trainer makes it (:func:`.prior.checked_noise`).

    ``filled`` (N, C, Y, X) are the image's planes as :func:`_balanced`
    makes them, their defective pixels replaced: checked with the channels'
    median model instead, three micrographs of 30, 30 and 300 photons as
    the channels of one image (``bench/channels.py``) read 0.52, where the
    trainer reads 0.89.
    """
    channels = filled.shape[1]
    network = dataclasses.replace(PRIOR_CONFIG, in_channels=channels, out_channels=channels)
    if len(filled) > 1:  # each of up to 8 planes with its own model
        return checked_planes_noise(filled, network)
    return checked_noise(filled[0], noise, network)
