"""Robust percentile normalisation, stored with the model and inverted on output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Percentiles are estimated from at most this many values per channel.
_MAX_SAMPLES = 4_000_000
#: Least range ``high - low`` of a stored normalisation: float32's least normal number.
_LEAST_RANGE = float(np.finfo(np.float32).tiny)


@dataclass
class Normalizer:
    """Per-channel affine map sending the ``low`` percentile to 0, ``high`` to 1.

    Parameters
    ----------
    low, high : list of float
        One value per channel, in the data's own units.
    """

    low: list[float]
    high: list[float]

    @classmethod
    def fit(
        cls,
        planes: np.ndarray,
        percentiles: tuple[float, float] = (1.0, 99.8),
        *,
        leave_out: np.ndarray | None = None,
    ) -> Normalizer:
        """Estimate the percentiles of each channel of ``planes`` (N, C, Y, X).

        ``leave_out``, a boolean mask shaped like ``planes``, marks values
        that are not data (a canvas: :func:`.canvas.canvas_mask`); a channel
        left out whole keeps all of its values.

        Raises
        ------
        ValueError
            If ``planes`` is empty, or a channel is constant, since there is
            nothing to learn from it.
        """
        if np.size(planes) == 0:
            raise ValueError(
                f"cannot fit a normalisation to empty planes of shape {np.shape(planes)}; "
                "give an image with at least one pixel."
            )
        low, high = [], []
        for channel in range(planes.shape[1]):
            values = planes[:, channel]
            if leave_out is not None and not leave_out[:, channel].all():
                values = values[~leave_out[:, channel]]
            lo, hi = np.percentile(_subsample(values), percentiles)
            # the 0th and 100th percentiles exactly: a subsample can miss the extremes
            lo = float(np.min(values)) if percentiles[0] <= 0 else lo
            hi = float(np.max(values)) if percentiles[1] >= 100 else hi
            if hi <= lo:
                lo, hi = float(values.min()), float(values.max())
            if hi <= lo:
                raise ValueError(
                    f"channel {channel} of the image is constant ({lo}); an autoencoder "
                    "cannot learn from an image without contrast. Remove that channel (an "
                    "opaque alpha channel, or a blank one) and give the others."
                )
            low.append(float(lo))
            high.append(float(hi))
        return cls(low, high)

    @classmethod
    def matching(cls, planes: np.ndarray, reference: np.ndarray) -> Normalizer | None:
        """The map that puts ``planes`` on the scale of ``reference``, normalised planes of their shape.

        Per channel, the least-squares line ``reference = (planes - low) /
        (high - low)``. A clean image and a noisy one of the same field
        differ by zero-mean noise and, between acquisitions, by a gain and
        an offset, which the line takes out; their percentiles disagree
        (noise widens them), so percentile maps would leave a network an
        intensity change to learn. None when a channel's line does not rise.
        """
        low, high = [], []
        for channel in range(planes.shape[1]):
            x, y = _subsample(planes[:, channel]), _subsample(reference[:, channel])
            slope, intercept = np.polyfit(x, y, 1)
            if not (np.isfinite(slope) and np.isfinite(intercept) and slope > 0):
                return None
            low.append(float(-intercept / slope))
            high.append(low[-1] + float(1.0 / slope))
        return cls(low, high)

    def normalize(self, planes: np.ndarray) -> np.ndarray:
        """Return ``planes`` (N, C, Y, X) or volumes (N, C, Z, Y, X) normalised, as float32.

        Computed in float64 for float64 (and 32- or 64-bit integer) data,
        whose differences float32 would round away.
        """
        planes = np.asarray(planes)
        work = np.result_type(planes.dtype, np.float32)
        low, scale = self._affine(planes.shape[1], planes.ndim, work)
        return ((np.asarray(planes, dtype=work) - low) / scale).astype(np.float32)

    def denormalize(self, planes: np.ndarray) -> np.ndarray:
        """Map normalised ``planes`` (N, C, Y, X) or volumes (N, C, Z, Y, X) to the data's units."""
        low, scale = self._affine(planes.shape[1], np.ndim(planes))
        return (np.asarray(planes, dtype=np.float32) * scale + low).astype(np.float32)

    def rescaled(self, factors, shifts=None) -> Normalizer:
        """Each channel's range multiplied by its entry of ``factors`` (C,), its low moved by ``shifts``.

        ``shifts`` (C,), in units of the new range, default 0: a channel's
        normalised values drop by its shift.
        """
        shifts = [0.0] * len(self.low) if shifts is None else shifts
        low, high = [], []
        for lo, hi, factor, shift in zip(self.low, self.high, factors, shifts, strict=True):
            scale = (hi - lo) * float(factor)
            low.append(lo + float(shift) * scale)
            high.append(low[-1] + scale)
        return Normalizer(low, high)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain JSON data for the model file."""
        return {"low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, data: Any) -> Normalizer:
        """Rebuild a normaliser from :meth:`to_dict` output, checking every number.

        Raises
        ------
        ValueError
            Unless ``data`` holds lists ``low`` and ``high`` of one finite
            number per channel with ``low < high`` in each, also in float32,
            in which they are used (:func:`_usable_range`): a NaN, infinite
            or empty range would turn every output pixel into NaN or infinity.
        """
        if not isinstance(data, dict) or set(data) != {"low", "high"}:
            raise ValueError(
                f"a normalisation must be an object with 'low' and 'high', got {data!r:.80}."
            )
        low, high = data["low"], data["high"]
        numbers = low + high if isinstance(low, list) and isinstance(high, list) else None
        if not numbers or len(low) != len(high) or not all(is_number(n) for n in numbers):
            raise ValueError(
                "a normalisation needs one number per channel in 'low' and 'high', got "
                f"{data!r:.80}."
            )
        for channel, (lo, hi) in enumerate(zip(low, high)):
            if not _usable_range(lo, hi):
                raise ValueError(
                    f"channel {channel} has the normalisation range low={lo}, high={hi}; it "
                    "must be finite with low < high, also in float32 (the networks' "
                    f"precision), where high - low must be finite and at least {_LEAST_RANGE:.2g}."
                )
        return cls([float(n) for n in low], [float(n) for n in high])

    def _affine(
        self, channels: int, ndim: int = 4, dtype=np.float32
    ) -> tuple[np.ndarray, np.ndarray]:
        """Low and range per channel, shaped to broadcast over (N, C, ...) of ``ndim`` axes.

        The range is taken in float64, then given as ``dtype``: a narrow
        range at a high level is not rounded to 0.
        """
        if channels != len(self.low):
            raise ValueError(
                f"the normalisation was fitted on {len(self.low)} channel(s) but the data "
                f"has {channels}."
            )
        shape = (channels,) + (1,) * (ndim - 2)  # (C, 1, 1) for planes, (C, 1, 1, 1) for volumes
        low = np.asarray(self.low, dtype=np.float64).reshape(shape)
        high = np.asarray(self.high, dtype=np.float64).reshape(shape)
        return low.astype(dtype), (high - low).astype(dtype)


def _usable_range(low: float, high: float) -> bool:
    """Whether ``low``, ``high`` and ``high - low`` are finite in float32, the range normal.

    :meth:`Normalizer.normalize` computes in float32: a range finite in
    float64 may overflow there (``-1e308`` to ``1e308``) or vanish (``0`` to
    ``1e-320``), and a subnormal one makes every pixel infinite.
    """
    with np.errstate(over="ignore"):
        try:
            lo, hi = np.float32(low), np.float32(high)
        except OverflowError:  # an integer beyond float64
            return False
        scale = hi - lo
    return bool(np.isfinite([lo, hi, scale]).all() and scale >= _LEAST_RANGE)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a plain int or float (a bool is not), as JSON gives numbers."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _subsample(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values).reshape(-1)
    step = max(1, flat.size // _MAX_SAMPLES)
    return flat[::step].astype(np.float64)
