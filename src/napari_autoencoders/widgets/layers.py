"""Between napari layers and the core's arrays: layer choice, checks, axes, result layers."""

from __future__ import annotations

import copy

import napari
import numpy as np
from napari.layers import Image, Layer
from qtpy.QtCore import QSignalBlocker
from qtpy.QtWidgets import QComboBox, QLineEdit, QWidget

from ..core.data.axes import check_axes, default_axes

#: Layer properties that place data in the world; copied to result layers
#: when this napari version has them (``units`` and ``axis_labels`` are recent).
PLACEMENT = ("scale", "translate", "rotate", "shear", "affine", "units", "axis_labels")

#: Contrast limits of a result layer: these percentiles of its values.
CONTRAST_PERCENTILES = (0.1, 99.9)

#: Contrast limits are estimated from at most this many values.
_MAX_SAMPLES = 1_000_000


class LayerComboBox(QComboBox):
    """A combo box listing the viewer's image layers, kept up to date.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers are listed.
    parent : QWidget, optional
        Parent widget.
    layer_type : type
        The kind of layer listed (default image layers).
    """

    def __init__(
        self, viewer: napari.Viewer, parent: QWidget | None = None, *, layer_type: type = Image
    ):
        super().__init__(parent)
        self._type = layer_type
        self._layers = viewer.layers
        events = self._layers.events
        # a layer put in another's place (viewer.layers[i] = layer) emits changed alone
        for emitter in (events.inserted, events.removed, events.moved, events.changed):
            emitter.connect(self.refresh)
        self.refresh()

    def layer(self) -> Layer | None:
        """The chosen layer, or None when there is none."""
        return self.currentData()

    def set_layer(self, layer: Layer) -> None:
        """Choose ``layer`` if it is listed."""
        index = self._index_of(layer)
        if index >= 0:
            self.setCurrentIndex(index)

    def refresh(self) -> None:
        """List the layers again, keeping the current choice if it is still there."""
        current = self.layer()
        with QSignalBlocker(self):
            self.clear()
            for layer in self._layers:
                if isinstance(layer, self._type):
                    layer.events.name.connect(self.refresh)  # a second connect is ignored
                    self.addItem(layer.name, layer)
            index = self._index_of(current)
            if index >= 0:
                self.setCurrentIndex(index)
        # only a new choice is news: the same layer at another index is not
        if self.layer() is not current:
            self.currentIndexChanged.emit(self.currentIndex())

    def _index_of(self, layer: Layer | None) -> int:
        # by identity: QComboBox.findData cannot compare arbitrary Python objects
        items = (self.itemData(index) for index in range(self.count()))
        return next((index for index, item in enumerate(items) if item is layer), -1)


def axes_edit() -> QLineEdit:
    """Return a text field for axes, with a tooltip naming the letters."""
    edit = QLineEdit()
    edit.setToolTip(
        'One letter per dimension: Y, X, C (channels), S/T/Z (stacks), e.g. "SYX" or "YXC".'
    )
    return edit


def image_data(
    layer: Layer | None, role: str = "input", *, lazy: bool = False, multiscale: bool | None = None
):
    """Return the pixels of an image layer, as napari stores them.

    Parameters
    ----------
    layer : napari.layers.Layer or None
        The chosen layer.
    role : str
        How the layer is used (``"input"``, ``"target"``), for messages.
    lazy : bool
        Return a layer backed by dask or zarr as that array, to be read tile
        by tile, instead of loading it whole into a NumPy array; a multiscale
        layer then gives its full-resolution level.
    multiscale : bool, optional
        Whether a multiscale layer is taken, as its full-resolution level; by
        default when ``lazy``. A widget that reads the layer whole, lazily in
        a worker, refuses one.

    Returns
    -------
    ndarray or array-like
        The layer's array, axes as napari holds them.

    Raises
    ------
    ValueError
        If there is no layer, it is not an image layer (labels, points, ...),
        or it is multiscale and ``multiscale`` is False.
    """
    if layer is None:
        raise ValueError(f"no {role} layer: add an image layer to the viewer and choose it.")
    if not isinstance(layer, Image):
        raise ValueError(
            f"the {role} layer {layer.name!r} is a {type(layer).__name__} layer; choose an "
            "image layer."
        )
    if layer.multiscale and not (lazy if multiscale is None else multiscale):
        raise ValueError(
            f"the {role} layer {layer.name!r} is multiscale; open its full-resolution level as "
            "a plain image layer."
        )
    data = layer.data[0] if layer.multiscale else layer.data
    if lazy and not isinstance(data, np.ndarray) and hasattr(data, "__getitem__"):
        return data
    return np.asarray(data)


def guess_axes(layer: Image) -> str:
    """Guess a layer's axes: ``"YX"``, ``"SYX"``, ``"TZYX"``; RGB layers end in ``"C"``.

    Returns an empty string for arrays of too many dimensions, for the user to fill in.
    """
    try:
        return default_axes(np.ndim(layer.data), rgb=layer.rgb)
    except ValueError:
        return ""


def layer_axes(layer: Image, given: str) -> str:
    """The axes ``given`` (an axes field's text), checked against ``layer``, else its guessed ones.

    Raises
    ------
    ValueError
        If the given axes do not fit the layer's dimensions, or none can be guessed.
    """
    if not given.strip():  # guessed, or "cannot guess the axes ...; give them"
        return default_axes(np.ndim(layer.data), rgb=layer.rgb)
    return check_axes(given.strip(), np.ndim(layer.data))


def result_layer(source: Image, data: np.ndarray, name: str) -> Image:
    """Make a new image layer for ``data`` computed from ``source``.

    The new layer lies where ``source`` lies (scale, translate, rotation, ...),
    has its ``rgb`` flag, colormap and a copy of its metadata, and contrast
    limits fitted to ``data``.

    Parameters
    ----------
    source : napari.layers.Image
        The layer ``data`` was computed from; it is not changed.
    data : ndarray
        Result of the same shape and axes as ``source.data``.
    name : str
        Name of the new layer.
    """
    placement = {key: getattr(source, key) for key in PLACEMENT if hasattr(source, key)}
    if not source.rgb:
        placement["colormap"] = source.colormap
    return Image(
        data,
        name=name,
        rgb=source.rgb,
        metadata=copied_metadata(source),
        contrast_limits=contrast_limits(data),
        **placement,
    )


def copied_metadata(source: Layer) -> dict:
    """A copy of ``source``'s metadata for a new layer, deep where its values allow.

    A reader may keep a lock or an open file there, which cannot be copied:
    those values are then shared, and the new layer still gets its own dict.
    """
    try:
        return copy.deepcopy(dict(source.metadata))
    except (TypeError, copy.Error):  # e.g. "cannot pickle '_thread.lock' object"
        return dict(source.metadata)


def drop_per_frame(metadata: dict, frames: int, count: int) -> dict:
    """``metadata`` without its values of one entry per frame of ``frames``, for ``count`` new frames.

    Generated frames are not the source's: a list of its 5,000 digits'
    labels does not describe 8 interpolated frames. Values are dropped that
    are sequences or arrays of ``frames`` entries, where ``count`` differs.
    """
    if frames < 2 or frames == count:
        return dict(metadata)  # a dict of its own: napari empties a layer's before filling it
    return {key: value for key, value in metadata.items() if not _per_frame(value, frames)}


def _per_frame(value: object, frames: int) -> bool:
    """Whether ``value`` is a list, tuple or array (not 0-d) of ``frames`` entries; ragged ones too."""
    sized = isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0)
    return sized and len(value) == frames


def contrast_limits(data: np.ndarray) -> tuple[float, float]:
    """Return robust display limits of ``data``: its 0.1 and 99.9 percentiles."""
    values = np.ravel(data)
    if values.size > _MAX_SAMPLES:  # at random: a stride of 3 samples one colour of three
        values = values[np.random.default_rng(0).integers(0, values.size, _MAX_SAMPLES)]
    low, high = (float(v) for v in np.percentile(values, CONTRAST_PERCENTILES))
    if high <= low:
        high = low + 1.0
    return low, high
