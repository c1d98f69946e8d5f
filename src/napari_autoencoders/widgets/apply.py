"""The "Apply model" widget: run a session or file model on an image layer, tile by tile."""

from __future__ import annotations

import threading
from collections.abc import Generator

import numpy as np
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ..core.config import Task
from ..core.data.axes import as_volume_axes
from ..core.inference.distributed import iter_predict_at
from ..core.inference.prediction import check_input, iter_predict
from ..core.model import TrainedModel
from ..core.progress import Cancelled, stoppable
from .choice import ModelChoiceMixin
from .layers import LayerComboBox, axes_edit, guess_axes, image_data, layer_axes, result_layer
from .panel import JobPanel
from .resolution import upscaled_layer
from .threads import guarded, relay_warning

#: Suffix of the result layer's name, by task.
RESULT_SUFFIX = {
    Task.DENOISE.value: "denoised",
    Task.RECONSTRUCT.value: "reconstructed",
    Task.VAE.value: "reconstructed",
    Task.AAE.value: "reconstructed",
}


class ApplyWidget(ModelChoiceMixin, JobPanel):
    """Apply a trained model to an image layer; the result becomes a new layer.

    The input layer is never changed. The new layer, named ``"<input> denoised"``
    or ``"<input> reconstructed"``, lies just above the input with its scale,
    translate and a copy of its metadata. A super-resolution model's result,
    ``"<input> super-resolved ×F"``, has a finer scale and overlays the input.

    With a dask scheduler's address under "Advanced options", the prediction
    runs on that cluster's workers, chunk by chunk, with the same progress
    bar and Cancel; the result equals the local one. An unreachable
    scheduler is reported as an error notification.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers can be processed.
    registry : ModelRegistry, optional
        Where the models to choose from are; by default the session's, filled
        by the "Train autoencoder" widget.
    parent : QWidget, optional
        Parent widget.
    """

    def _build(self, layout: QVBoxLayout) -> None:
        self._source: Image | None = None
        self._task = Task.DENOISE.value
        self._axes = ""
        self._factor = 1
        self._cancel = threading.Event()  # a new one per prediction
        self.apply_button = QPushButton("Apply")
        self.cancel_button = QPushButton("Cancel")
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button.clicked.connect(self.cancel)
        self._add_job_controls(
            layout,
            (self._build_form(), self._build_advanced()),
            start=(self.apply_button,),
            stop=self.cancel_button,
        )
        layout.addStretch()

        self.image_layer.currentIndexChanged.connect(self._fill_axes)
        self.model_choice.currentIndexChanged.connect(self._fill_axes)
        self._fill_axes()
        self._set_running(False)

    def _build_form(self) -> QFormLayout:
        self.image_layer = LayerComboBox(self.viewer)
        model_row = self._build_model_row()
        self.model_choice.setToolTip("Models trained or loaded in this session.")
        self.axes = axes_edit()
        form = QFormLayout()
        form.addRow("image", self.image_layer)
        form.addRow("model", model_row)
        form.addRow("axes", self.axes)
        return form

    def _build_advanced(self) -> QCollapsible:
        self.tile = QSpinBox()
        self.tile.setRange(16, 8192)
        self.tile.setValue(512)
        self.tile.setSuffix(" px")
        self.overlap = QSpinBox()
        self.overlap.setRange(0, 1024)
        self.overlap.setValue(32)
        self.overlap.setSuffix(" px")
        # at most half a tile: more covers each pixel many times over (tile 17, overlap 16
        # made 30,976 tiles of a 192x192 image, minutes where the default takes a second)
        self.tile.valueChanged.connect(lambda side: self.overlap.setMaximum(side // 2))
        self.overlap.setMaximum(self.tile.value() // 2)
        self.scheduler = QLineEdit()
        self.scheduler.setPlaceholderText("empty: this computer")
        self.scheduler.setToolTip(
            "The address of a dask scheduler (e.g. tcp://10.0.0.5:8786, from dask-jobqueue, "
            "dask-kubernetes or 'dask scheduler') to predict on its workers, chunk by chunk. "
            "A zarr- or dask-backed layer is read by the workers themselves: its files must be "
            "on a file system they share."
        )
        self.ensemble = QCheckBox()
        self.ensemble.setChecked(True)
        self.ensemble.setToolTip(
            "Average the predictions of the 8 rotations and flips of each tile, for 8 times "
            "the computation: super-resolution models always (0.1 to 0.7 dB better on real "
            "images), denoising models on inputs of up to 2048x2048 values, all planes counted "
            "(0.1 to 0.3 dB). Untick for speed."
        )
        content = QWidget()
        form = QFormLayout(content)
        form.addRow("average 8 orientations", self.ensemble)
        form.addRow("tile size", self.tile)
        form.addRow("tile overlap", self.overlap)
        form.addRow("dask scheduler", self.scheduler)
        self.advanced = QCollapsible("Advanced options")
        self.advanced.addWidget(content)
        return self.advanced

    # -- the public interface ----------------------------------------------

    def apply(self) -> None:
        """Check the choices, then predict in a worker thread.

        Bad input is reported as an error notification and starts nothing.
        """
        if self._busy:
            show_warning("A prediction is already running; cancel it first.")
            return
        layer = self.image_layer.layer()
        model = self.model()
        try:
            data = image_data(layer, lazy=True)  # dask and zarr layers read tile by tile
            if model is None:
                raise ValueError(
                    "no model: train one with 'Train autoencoder' or load a model file."
                )
            # a field left empty: the prefill's axes, or "cannot guess the axes ...; give them"
            given = self.axes.text().strip() or _axes_for(layer, model) or layer_axes(layer, "")
            axes = check_input(model, data, given)
        except ValueError as err:
            show_error(f"Cannot apply the model: {err}")
            return
        self._source, self._task = layer, model.config.training.task
        self._axes, self._factor = axes, model.config.model.factor
        self.progress.setValue(0)
        self._set_running(True)
        options = dict(axes=axes, tile=self.tile.value(), overlap=self.overlap.value())
        options["ensemble"] = None if self.ensemble.isChecked() else False  # None: the default
        if scheduler := self.scheduler.text().strip():  # connected in the worker thread
            self._steps = iter_predict_at(scheduler, model, data, **options)
        else:
            self._steps = iter_predict(model, data, **options)
        self._cancel = threading.Event()
        self.worker = _run_in_thread(
            self._steps,
            self._cancel,
            _connect={
                "yielded": self._on_progress,
                "warned": relay_warning,
                "returned": self._add_result,
                "aborted": self._on_aborted,
                "errored": self._on_error,
                "finished": lambda: self._set_running(False),
            },
            _start_thread=False,
        )
        # closed in the worker thread as it stops, between two steps: a cluster's tasks are
        # cancelled and its client closed in the thread that opened it
        self.worker.aborted.connect(self._steps.close, Qt.ConnectionType.DirectConnection)
        # started once it is self.worker and fully connected: a Cancel as the first tile
        # runs must find it (it found None, or the last prediction's worker)
        self.worker.start()

    def cancel(self) -> None:
        """Stop the running prediction; no layer is added."""
        if self._busy:
            self.worker.quit()
            self._cancel.set()  # after quit(): the worker then ends as aborted

    # -- helpers -----------------------------------------------------------

    def _fill_axes(self) -> None:
        """Prefill the axes: the model's if they fit the layer, else a guess from the layer.

        A 3D model's guess reads a stack as a volume (``ZYX``, not ``SYX``).
        """
        layer, model = self.image_layer.layer(), self.model()
        if layer is not None:
            self.axes.setText(_axes_for(layer, model))

    # -- worker signals (main thread) --------------------------------------

    def _add_result(self, result: np.ndarray) -> None:
        source = self._source
        if self._task == Task.SUPERRES.value:
            layer = upscaled_layer(source, result, factor=self._factor, axes=self._axes)
        else:
            layer = result_layer(source, result, f"{source.name} {RESULT_SUFFIX[self._task]}")
        layers = self.viewer.layers
        index = layers.index(source) + 1 if source in layers else len(layers)
        layers.insert(index, layer)

    def _on_error(self, error: Exception) -> None:
        show_error(f"Prediction failed: {error}")

    def _on_aborted(self) -> None:
        self.progress.setValue(0)
        show_info("Prediction cancelled; no layer was added.")


def _axes_for(layer: Image, model: TrainedModel | None) -> str:
    """The axes to prefill for ``layer``: the model's if they fit it, else a guess ("" if none).

    A 3D model's guess reads a stack as a volume (``ZYX``, not ``SYX``).
    """
    axes = model.config.data.axes if model is not None else ""
    fits = len(axes) == np.ndim(layer.data) and (axes.endswith("C") or not layer.rgb)
    guess = guess_axes(layer)
    return axes if fits else (as_volume_axes(guess) if "Z" in axes else guess)


@thread_worker
def _run_in_thread(steps: Generator, cancel: threading.Event) -> Generator:
    """Run a prediction's steps in a worker: yield ``(done, total)``, return the result.

    Once ``cancel`` is set (after the worker's ``quit()``) a tile's 8
    orientations stop between two (:func:`..core.inference.prediction.symmetry_mean`),
    not only between tiles: a 512x512 tile's took 4 s on 2 cores.
    """
    with stoppable(cancel.is_set):
        try:
            return (yield from guarded(steps))
        except Cancelled:
            yield 0, 1  # the worker, asked to quit, ends at its next turn: `aborted`
