"""Robust percentile normalisation, stored with the model and inverted on output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Percentiles are estimated from at most this many values per channel.
_MAX_SAMPLES = 4_000_000


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
    def fit(cls, planes: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.8)) -> Normalizer:
        """Estimate the percentiles of each channel of ``planes`` (N, C, Y, X).

        Raises
        ------
        ValueError
            If a channel is constant, since there is nothing to learn from it.
        """
        low, high = [], []
        for channel in range(planes.shape[1]):
            values = _subsample(planes[:, channel])
            lo, hi = np.percentile(values, percentiles)
            if hi <= lo:
                lo, hi = float(values.min()), float(values.max())
            if hi <= lo:
                raise ValueError(
                    f"channel {channel} of the image is constant ({lo}); an autoencoder "
                    "cannot learn from an image without contrast."
                )
            low.append(float(lo))
            high.append(float(hi))
        return cls(low, high)

    def normalize(self, planes: np.ndarray) -> np.ndarray:
        """Return ``planes`` (N, C, Y, X) as float32 on the normalised scale."""
        low, scale = self._affine(planes.shape[1])
        return ((np.asarray(planes, dtype=np.float32) - low) / scale).astype(np.float32)

    def denormalize(self, planes: np.ndarray) -> np.ndarray:
        """Map normalised ``planes`` (N, C, Y, X) back to the data's units."""
        low, scale = self._affine(planes.shape[1])
        return (np.asarray(planes, dtype=np.float32) * scale + low).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain JSON data for the model file."""
        return {"low": list(self.low), "high": list(self.high)}

    def _affine(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        if channels != len(self.low):
            raise ValueError(
                f"the normalisation was fitted on {len(self.low)} channel(s) but the data "
                f"has {channels}."
            )
        low = np.asarray(self.low, dtype=np.float32)[:, None, None]
        high = np.asarray(self.high, dtype=np.float32)[:, None, None]
        return low, high - low


def _subsample(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values).reshape(-1)
    step = max(1, flat.size // _MAX_SAMPLES)
    return flat[::step].astype(np.float64)
