"""The "Generate images" widget: samples, the latent manifold, interpolation, latent noise."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.latent import generation
from ..core.config import GENERATIVE_ARCHITECTURES
from ..core.model import TrainedModel
from .choice import ModelChoiceMixin
from .layers import LayerComboBox, contrast_limits, image_data, result_layer
from .panel import Panel
from .threads import WorkerError
from .forms import float_spin, spin

#: The actions, as listed in the widget.
SAMPLE, MANIFOLD, INTERPOLATE, NOISE = "sample", "manifold", "interpolate", "reconstruct + noise"
#: Planes of the manifold: two latent axes, or the principal directions of a layer's codes.
AXES_PLANE, PCA_PLANE = "latent axes", "principal directions of the layer"


class GenerateWidget(ModelChoiceMixin, Panel):
    """Generate images with a trained autoencoder; every result is a new layer.

    ``sample`` needs a generative model (a variational or an adversarial
    autoencoder) and ``reconstruct + noise`` a variational one, whose encoder
    has a posterior spread; ``manifold`` and ``interpolate`` also take a
    plain autoencoder with a latent plane. Results: ``"<model> samples"``,
    ``"<model> manifold"``, ``"<layer> interpolation"`` and ``"<layer> reconstructed + noise"``; the
    last two lie where the chosen layer lies.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers give frames.
    registry : ModelRegistry, optional
        The models to choose from; by default the session's.
    parent : QWidget, optional
        Parent widget.
    """

    def _build(self, layout: QVBoxLayout) -> None:
        layout.addLayout(self._build_form())
        self.generate_button = QPushButton("Generate")
        self.generate_button.clicked.connect(self.generate)
        layout.addWidget(self.generate_button)
        layout.addStretch()
        self.action.currentIndexChanged.connect(self._update_rows)
        self.plane.currentIndexChanged.connect(self._update_rows)
        self._update_rows()

    def _build_form(self) -> QFormLayout:
        model_row = self._build_model_row()
        self.action = QComboBox()
        self.action.addItems([SAMPLE, MANIFOLD, INTERPOLATE, NOISE])
        self.count = spin(16, 1, 10_000)
        self.temperature = float_spin(1.0, 0.0, 10.0, decimals=2)
        self.seed = spin(0, 0, 2**31 - 1)
        self.grid = spin(15, 1, 100)
        self.span = float_spin(0.0, 0.0, 1000.0, decimals=2)
        self.span.setSpecialValueText("auto")
        self.span.setToolTip(
            "Latent coordinates from -span to +span; auto: the prior's 5-95 % quantiles "
            "for a VAE or an AAE (2.5, around the circle, for an AAE's mixture prior), the "
            "layer's encoded extent for a plain autoencoder."
        )
        self.plane = QComboBox()
        self.plane.addItems([AXES_PLANE, PCA_PLANE])
        self.axis_x, self.axis_y = spin(0, 0, 4095), spin(1, 0, 4095)
        axes_row = QHBoxLayout()
        axes_row.addWidget(self.axis_x)
        axes_row.addWidget(self.axis_y)
        self.axes_row = QWidget()
        self.axes_row.setLayout(axes_row)
        self.layer = LayerComboBox(self.viewer)
        self.frame_a, self.frame_b = spin(0, 0, 10**9), spin(1, 0, 10**9)
        self.steps = spin(8, 2, 1000)
        self.strength = float_spin(1.0, 0.0, 100.0, decimals=2)
        self.strength.setToolTip("Latent noise in units of the encoder's posterior spread.")
        self.form = QFormLayout()
        for label, field in (
            ("model", model_row),
            ("action", self.action),
            ("images", self.count),
            ("temperature", self.temperature),
            ("grid size", self.grid),
            ("range (±)", self.span),
            ("plane", self.plane),
            ("latent axes (x, y)", self.axes_row),
            ("layer", self.layer),
            ("first frame", self.frame_a),
            ("last frame", self.frame_b),
            ("steps", self.steps),
            ("noise strength", self.strength),
            ("seed", self.seed),
        ):
            self.form.addRow(label, field)
        return self.form

    def _update_rows(self) -> None:
        """Show only the fields the chosen action uses."""
        action = self.action.currentText()
        rows = {
            SAMPLE: (self.count, self.temperature, self.seed),
            MANIFOLD: (self.grid, self.span, self.plane, self.axes_row, self.layer),
            INTERPOLATE: (self.layer, self.frame_a, self.frame_b, self.steps),
            NOISE: (self.layer, self.strength, self.seed),
        }[action]
        if action == MANIFOLD and self.plane.currentText() == PCA_PLANE:
            rows = tuple(field for field in rows if field is not self.axes_row)
        fields = (self.count, self.temperature, self.seed, self.grid, self.span, self.plane)
        fields += (self.axes_row, self.layer, self.frame_a, self.frame_b, self.steps)
        for field in (*fields, self.strength):
            field.setVisible(field in rows)
            self.form.labelForField(field).setVisible(field in rows)

    # -- the public interface ----------------------------------------------

    def generate(self) -> None:
        """Check the choices, then run the chosen action in a worker thread.

        Bad input is reported as an error notification and starts nothing.
        """
        if self.worker is not None and self.worker.is_running:
            show_warning("A generation is already running; wait for it to finish.")
            return
        try:
            job, name, source = self._job()
        except ValueError as err:
            show_error(f"Cannot generate: {err}")
            return
        self.generate_button.setEnabled(False)
        self.worker = _generate_in_thread(
            job,
            _connect={
                "returned": partial(self._add_result, name=name, source=source),
                "errored": lambda error: show_error(f"Generation failed: {error}"),
                "finished": lambda: self.generate_button.setEnabled(True),
            },
        )  # starts the worker

    # -- helpers -----------------------------------------------------------

    def _job(self) -> tuple[Callable[[], np.ndarray], str, Image | None]:
        """The computation, the result layer's name and the layer it comes from.

        Raises ``ValueError`` when the model, the layer or the options do not
        fit (the core's checks, run here in the main thread where cheap).
        """
        model = self.model()
        if model is None:
            raise ValueError("no model: train one with 'Train autoencoder' or load a model file.")
        model_name, action = self.model_choice.currentText(), self.action.currentText()
        if action == SAMPLE:
            generation.check_generative(model, action)
        elif action == NOISE:
            generation.check_variational(model, action)
        else:
            generation.check_latent(model, action)
        if action == SAMPLE:
            options = dict(temperature=self.temperature.value(), seed=self.seed.value())
            job = partial(generation.sample, model, self.count.value(), **options)
            return job, f"{model_name} samples", None
        if action == MANIFOLD:
            return self._manifold(model), f"{model_name} manifold", None
        layer = self.layer.layer()
        frames = _frames(image_data(layer, "frames"))
        if action == INTERPOLATE:
            first, last = self.frame_a.value(), self.frame_b.value()
            if max(first, last) >= len(frames):
                raise ValueError(
                    f"the layer {layer.name!r} has {len(frames)} frame(s); choose frames "
                    f"0 to {len(frames) - 1}."
                )
            pair = (frames[first], frames[last])
            job = partial(generation.interpolate, model, *pair, steps=self.steps.value())
            return job, f"{layer.name} interpolation", layer
        strength, seed = self.strength.value(), self.seed.value()
        job = partial(generation.reconstruct_noisy, model, frames, strength=strength, seed=seed)
        return job, f"{layer.name} reconstructed + noise", layer

    def _manifold(self, model: TrainedModel) -> Callable[[], np.ndarray]:
        """The manifold job; frames come from the layer when the plane or range needs them."""
        pca = self.plane.currentText() == PCA_PLANE
        span = self.span.value() or None
        with_prior = model.config.model.architecture in GENERATIVE_ARCHITECTURES
        frames = None
        if pca or (not with_prior and span is None):
            frames = _frames(image_data(self.layer.layer(), "frames"))
        options = dict(
            grid=self.grid.value(),
            span=span,
            axes="pca" if pca else (self.axis_x.value(), self.axis_y.value()),
            frames=frames,
        )
        generation.manifold_points(model, **options)  # checks the options: cheap next to decoding
        return partial(generation.manifold, model, **options)

    def _add_result(self, result: np.ndarray, *, name: str, source: Image | None) -> None:
        layers = self.viewer.layers
        if source is None or np.ndim(result) != np.ndim(source.data):
            layers.append(Image(result, name=name, contrast_limits=contrast_limits(result)))
            return
        index = layers.index(source) + 1 if source in layers else len(layers)
        layers.insert(index, result_layer(source, result, name))



def _frames(data: np.ndarray) -> np.ndarray:
    """A single (Y, X) image as a stack of one frame; stacks unchanged."""
    return data[None] if data.ndim == 2 else data


@thread_worker
def _generate_in_thread(job: Callable[[], np.ndarray]) -> np.ndarray:
    """Run ``job`` in a worker; a torch ``RuntimeError`` is raised as :class:`WorkerError`."""
    try:
        return job()
    except RuntimeError as err:  # see WorkerError: superqt would swallow it
        raise WorkerError(str(err)) from err
