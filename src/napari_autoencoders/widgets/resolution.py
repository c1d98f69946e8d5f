"""Place an upscaled result layer exactly over the layer it was computed from."""

from __future__ import annotations

import numpy as np
from napari.layers import Image
from napari.utils.transforms import CompositeAffine

from .layers import result_layer


def upscaled_layer(source: Image, data: np.ndarray, *, factor: int, axes: str) -> Image:
    """Make the layer ``"<source> super-resolved ×F"`` for ``data`` upscaled from ``source``.

    Pixel ``j`` of the result is centred where the source has coordinate
    ``(j + 0.5) / factor - 0.5`` along Y and X (each source pixel splits into
    ``factor x factor`` pixels), so the two overlay exactly in world
    coordinates: the scale is divided by ``factor`` along Y and X and the
    translate moves by ``scale * (0.5 / factor - 0.5)`` there (turned by the
    layer's rotation and shear). Other axes, the affine and a copy of the
    metadata are kept, as by :func:`.layers.result_layer`.

    Parameters
    ----------
    source : napari.layers.Image
        The layer ``data`` was computed from; it is not changed.
    data : ndarray
        The result, with axes ``axes``, ``factor`` times larger in Y and X.
    factor : int
        Upscaling factor.
    axes : str
        Axes of ``source.data`` and ``data``, e.g. ``"YX"``, ``"TYX"``, ``"YXC"``.
    """
    layer = result_layer(source, data, f"{source.name} super-resolved ×{factor}")
    # an RGB layer has no dimension for its colour axis
    dims = axes.replace("C", "") if source.rgb else axes
    fine = np.ones(len(dims))
    offset = np.zeros(len(dims))
    for letter in "YX":
        fine[dims.index(letter)] = factor
        offset[dims.index(letter)] = 0.5 / factor - 0.5
    placement = CompositeAffine(
        scale=source.scale, translate=source.translate, rotate=source.rotate, shear=source.shear
    )
    layer.scale = np.asarray(source.scale) / fine
    layer.translate = placement(offset)
    return layer
