"""Synthetic clean images that look like fluorescence micrographs.

A phantom gives a known ground truth: add noise with :mod:`.noise` and the
denoising error can be measured exactly.
"""

from __future__ import annotations

import numpy as np
from skimage import draw, filters

#: Structures per pixel, tuned so that a 512 x 512 image holds about 30
#: nuclei, 16 filaments and 80 vesicles.
_NUCLEI_DENSITY = 30 / 512**2
_FILAMENT_DENSITY = 16 / 512**2
_VESICLE_DENSITY = 80 / 512**2

#: Standard deviation of the Gaussian point spread function (pixels).
_PSF_SIGMA = 1.2

#: Brightest value of the foreground after the point spread function;
#: leaves a little headroom below 1 for the background.
_PEAK = 0.93


def fluorescence_phantom(shape: tuple[int, int] = (512, 512), *, seed: int = 0) -> np.ndarray:
    """Return a clean synthetic fluorescence-microscopy image.

    The image holds a dim, slowly varying background, cell nuclei (ellipses
    of varied size and orientation with a smooth chromatin texture and
    brighter nucleoli), thin curved filaments and small bright vesicles, all
    blurred by a Gaussian point spread function.

    Parameters
    ----------
    shape : tuple of int
        Image size (Y, X); each side at least 8 pixels. Structures keep their
        pixel size and their number scales with the area.
    seed : int
        Seed of the random layout; the same seed gives the same image.

    Returns
    -------
    ndarray of float32, shape (Y, X)
        Intensities in [0, 1]: background about 0.02 to 0.05, brightest
        structures close to 1.

    Raises
    ------
    ValueError
        If ``shape`` is not two integers of at least 8.

    Examples
    --------
    >>> image = fluorescence_phantom((64, 96), seed=3)
    >>> image.shape, image.dtype
    ((64, 96), dtype('float32'))
    """
    shape = _check_shape(shape)
    rng = np.random.default_rng(seed)
    foreground = _nuclei(shape, rng) + _filaments(shape, rng) + _vesicles(shape, rng)
    foreground = filters.gaussian(foreground, sigma=_PSF_SIGMA)
    if foreground.max() > 0:
        foreground *= _PEAK / foreground.max()
    image = _background(shape, rng) + foreground
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or any(int(side) != side or side < 8 for side in shape):
        raise ValueError(
            f"shape must be two integers (Y, X) of at least 8, got {shape!r}; "
            "make stacks by calling fluorescence_phantom once per plane with different seeds."
        )
    return int(shape[0]), int(shape[1])


def _count(shape: tuple[int, int], density: float) -> int:
    return max(1, round(density * shape[0] * shape[1]))


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian random field of zero mean and unit standard deviation."""
    field = filters.gaussian(rng.standard_normal(shape), sigma=sigma)
    return (field - field.mean()) / (field.std() + 1e-12)


def _background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    # Out-of-focus light: a level of 0.035 with a broad modulation of at most
    # +-0.01, made of three plane waves of at most two periods per image.
    ys, xs = np.meshgrid(
        np.linspace(0, 1, shape[0]), np.linspace(0, 1, shape[1]), indexing="ij"
    )
    waves = sum(
        np.cos(2 * np.pi * (fy * ys + fx * xs) + phase)
        for fy, fx, phase in rng.uniform([-2, -2, 0], [2, 2, 2 * np.pi], size=(3, 3))
    )
    return 0.035 + 0.01 * waves / 3


def _nuclei(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    bodies = np.zeros(shape)
    nucleoli = np.zeros(shape)
    max_radius = max(3.0, min(shape) / 4)
    placed: list[tuple[float, float, float]] = []
    for _ in range(_count(shape, _NUCLEI_DENSITY)):
        radii = np.minimum(rng.uniform(10, 26, size=2), max_radius)
        centre = _free_position(shape, rng, radii.max(), placed)
        placed.append((*centre, radii.max()))
        rr, cc = draw.ellipse(
            *centre, *radii, shape=shape, rotation=rng.uniform(-np.pi, np.pi)
        )
        level = rng.uniform(0.25, 0.5)
        bodies[rr, cc] += level
        for _ in range(rng.integers(1, 4)):
            offset = rng.uniform(-0.5, 0.5, size=2) * radii.min()
            rr, cc = draw.disk(
                tuple(np.asarray(centre) + offset), rng.uniform(1.5, 3.5), shape=shape
            )
            nucleoli[rr, cc] += level * rng.uniform(0.6, 1.0)
    # Soft rim (the nuclear envelope is not a sharp step), then chromatin texture.
    chromatin = _smooth_field(shape, rng, sigma=2.5)
    return filters.gaussian(bodies, sigma=1.0) * (1 + 0.2 * chromatin) + nucleoli


def _free_position(
    shape: tuple[int, int],
    rng: np.random.Generator,
    radius: float,
    placed: list[tuple[float, float, float]],
) -> tuple[float, float]:
    """Random centre that keeps nuclei mostly apart; gives up after a few tries."""
    for _ in range(20):
        centre = (rng.uniform(0, shape[0]), rng.uniform(0, shape[1]))
        if all(
            np.hypot(centre[0] - y, centre[1] - x) > 0.9 * (radius + r) for y, x, r in placed
        ):
            break
    return centre


def _filaments(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    image = np.zeros(shape)
    for _ in range(_count(shape, _FILAMENT_DENSITY)):
        # A persistent random walk: the direction drifts slowly, so the
        # filament bends smoothly like an actin bundle or a microtubule.
        length = rng.uniform(0.3, 0.8) * max(shape)
        steps = int(length / 0.5)
        angles = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.02, size=steps))
        ys = rng.uniform(0, shape[0]) + 0.5 * np.cumsum(np.sin(angles))
        xs = rng.uniform(0, shape[1]) + 0.5 * np.cumsum(np.cos(angles))
        # Brightness varies along the filament (bundling, defocus).
        brightness = rng.uniform(1.0, 1.8) * (
            1 + 0.3 * np.sin(np.linspace(0, rng.uniform(2, 8), steps) + rng.uniform(0, 6))
        )
        rows, cols = np.rint(ys).astype(int), np.rint(xs).astype(int)
        inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
        np.maximum.at(image, (rows[inside], cols[inside]), brightness[inside])
    return image


def _vesicles(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    image = np.zeros(shape)
    for _ in range(_count(shape, _VESICLE_DENSITY)):
        centre = (rng.uniform(0, shape[0]), rng.uniform(0, shape[1]))
        rr, cc = draw.disk(centre, rng.uniform(0.8, 2.0), shape=shape)
        image[rr, cc] += rng.uniform(0.6, 1.2)
    return image
