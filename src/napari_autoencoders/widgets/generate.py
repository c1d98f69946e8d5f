"""The "Generate images" widget: samples, the latent manifold, interpolation, latent noise."""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial

import numpy as np
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
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
from .layers import (
    LayerComboBox,
    contrast_limits,
    copied_metadata,
    drop_per_frame,
    image_data,
    result_layer,
)
from .forms import float_spin, spin
from .panel import JobPanel
from .threads import guarded, relay_warning

#: The actions, as listed in the widget.
SAMPLE, MANIFOLD, INTERPOLATE, NOISE = "sample", "manifold", "interpolate", "reconstruct + noise"
#: Planes of the manifold: two latent axes, or the principal directions of a layer's codes.
AXES_PLANE, PCA_PLANE = "latent axes", "principal directions of the layer"


class GenerateWidget(ModelChoiceMixin, JobPanel):
    """Generate images with a trained autoencoder; every result is a new layer.

    Codes are decoded in batches in a worker thread, with a progress bar and
    a Cancel button. A generated stack is shown from its first frame.

    ``sample`` needs a generative model (a variational or an adversarial
    autoencoder) and ``reconstruct + noise`` a variational one, whose encoder
    has a posterior spread; ``manifold`` and ``interpolate`` also take a
    plain autoencoder with a latent plane. Results: ``"<model> samples"``,
    ``"<model> manifold"``, ``"<layer> interpolation"`` and
    ``"<layer> reconstructed + noise"``; the
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
        self.generate_button = QPushButton("Generate")
        self.cancel_button = QPushButton("Cancel")
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self._add_job_controls(
            layout, (self._build_form(),), start=(self.generate_button,), stop=self.cancel_button
        )
        layout.addStretch()
        self.action.currentIndexChanged.connect(self._update_rows)
        self.plane.currentIndexChanged.connect(self._update_rows)
        self._update_rows()
        self._set_running(False)

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
        """Check the choices, then compute the codes and decode them in a worker thread.

        Bad input is reported as an error notification and starts nothing.
        """
        if self._busy:
            show_warning("A generation is already running; wait for it or cancel it.")
            return
        try:
            model, codes, name, source = self._job()
        except ValueError as err:
            show_error(f"Cannot generate: {err}")
            return
        self.progress.setRange(0, 0)  # busy until the codes are known
        self._set_running(True)
        self.worker = _generate_in_thread(
            model,
            codes,
            tiled=self.action.currentText() == MANIFOLD,
            channels_first=_channel_axis_first(model),
            _connect={
                "yielded": self._on_progress,
                "warned": relay_warning,
                "returned": partial(self._add_result, name=name, source=source, model=model),
                "aborted": self._on_aborted,
                "errored": self._on_error,
                "finished": lambda: self._set_running(False),
            },
            _start_thread=False,
        )
        self.worker.start()  # once it is self.worker, which a Cancel must find

    def cancel(self) -> None:
        """Stop the running generation after the current batch; no layer is added."""
        if self._busy:
            self.worker.quit()

    # -- helpers -----------------------------------------------------------

    def _job(self) -> tuple[TrainedModel, Callable[[], np.ndarray], str, Image | None]:
        """The model, its codes (computed in the worker), the result's name and source layer.

        Raises ``ValueError`` when the model, the layer or the options do not
        fit; checks that need an encoding run in the worker and are reported
        from there.
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
            codes = generation.sample_codes(
                model, self.count.value(), temperature=self.temperature.value(),
                seed=self.seed.value(),
            )
            return model, lambda: codes, f"{model_name} samples", None
        if action == MANIFOLD:
            return model, self._manifold(model), f"{model_name} manifold", None
        layer = self.layer.layer()
        frames = _frames(layer, model)
        generation.check_frames(model, _model_shape(frames, model))  # before the worker reads them
        if action == INTERPOLATE:
            first, last = self.frame_a.value(), self.frame_b.value()
            if max(first, last) >= len(frames):
                raise ValueError(
                    f"the layer {layer.name!r} has {len(frames)} frame(s); choose frames "
                    f"0 to {len(frames) - 1}."
                )
            pair = _model_frames(frames, [first, last], model)  # only these two are read
            codes = partial(generation.interpolation_codes, model, *pair, steps=self.steps.value())
            return model, codes, f"{layer.name} interpolation", layer
        strength, seed = self.strength.value(), self.seed.value()
        codes = partial(  # the frames are read in the worker
            _noisy_codes, model, frames, strength=strength, seed=seed
        )
        return model, codes, f"{layer.name} reconstructed + noise", layer

    def _manifold(self, model: TrainedModel) -> Callable[[], np.ndarray]:
        """The manifold's codes (grid², D); frames come from the layer when the plane or range needs them."""
        pca = self.plane.currentText() == PCA_PLANE
        span = self.span.value() or None
        with_prior = model.config.model.architecture in GENERATIVE_ARCHITECTURES
        frames = None
        if pca or (not with_prior and span is None):
            frames = _frames(self.layer.layer(), model)  # read in the worker
        return partial(
            _flat_manifold_points,
            model,
            grid=self.grid.value(),
            span=span,
            axes="pca" if pca else (self.axis_x.value(), self.axis_y.value()),
            frames=frames,
        )

    # -- worker signals (main thread) --------------------------------------

    def _add_result(
        self, result: np.ndarray, *, name: str, source: Image | None, model: TrainedModel
    ) -> None:
        """Add ``result`` of ``model`` as a new layer: where ``source`` lies, if the result came from one.

        A single image's result of one frame takes its shape; a stack made
        from it (an interpolation) lies over it, one frame after another.
        """
        layers = self.viewer.layers
        if source is None:
            layers.append(Image(result, name=name, contrast_limits=contrast_limits(result)))
            self._show_first_frame(layers[-1])
            return
        frames = 1 if _single_frame(source, model) else len(source.data)
        if frames == 1 and len(result) == 1:
            result = result[0]
        if np.ndim(result) == np.ndim(source.data):
            layer = result_layer(source, result, name)
        else:  # a stack from a single image
            layer = Image(
                result, name=name, rgb=source.rgb, scale=(1, *source.scale),
                translate=(0, *source.translate), metadata=copied_metadata(source),
                contrast_limits=contrast_limits(result),
            )
        layer.metadata = drop_per_frame(layer.metadata, frames, len(result))
        layers.insert(layers.index(source) + 1 if source in layers else len(layers), layer)
        self._show_first_frame(layer)

    def _show_first_frame(self, layer: Image) -> None:
        """Move the sliders to the first frame of a new stack, which may lie before them.

        The viewer keeps its sliders where they were, e.g. on frame 2499 of a
        5000-frame input, past the end of 16 new frames, which then look empty.
        """
        stack_ndim = layer.ndim - 2  # an RGB layer's ndim leaves out its channels
        first_axis = self.viewer.dims.ndim - layer.ndim
        origin = layer.data_to_world(np.zeros(layer.ndim))
        for axis in range(stack_ndim):
            self.viewer.dims.set_point(first_axis + axis, origin[axis])

    def _on_aborted(self) -> None:
        self._reset_progress()
        show_info("Generation cancelled; no layer was added.")

    def _on_error(self, error: Exception) -> None:
        self._reset_progress()
        show_error(f"Generation failed: {error}")

    def _reset_progress(self) -> None:
        """The bar out of its busy animation, empty."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)


def _channel_axis_first(model: TrainedModel) -> bool:
    """Whether ``model``'s images are shown with their channels as an axis before (Y, X).

    A model of 3 or 4 channels trained on colour images (axes ending in C)
    takes and makes RGB(A) images (..., Y, X, C); any other model of several
    channels takes and makes them as napari shows channels that are not
    colours: (..., C, Y, X).
    """
    channels, axes = model.config.model.out_channels, model.config.data.axes
    return channels > 1 and not (channels in (3, 4) and axes.endswith("C"))


def _flat_manifold_points(model: TrainedModel, *, frames=None, **options) -> np.ndarray:
    """The manifold's points (grid², D), row by row: the order :func:`generation.mosaic` takes."""
    if frames is not None:
        frames = _model_frames(frames, slice(None), model)
    points = generation.manifold_points(model, frames=frames, **options)
    return points.reshape(-1, points.shape[-1])


def _noisy_codes(model: TrainedModel, frames, **options) -> np.ndarray:
    """:func:`generation.noisy_codes` of all ``frames`` (a stack as :func:`_frames` gives it)."""
    return generation.noisy_codes(model, _model_frames(frames, slice(None), model), **options)


def _frames(layer: Image | None, model: TrainedModel):
    """The frames of ``layer``, unread where napari holds them lazily: a single image as a stack of one.

    Raises ``ValueError`` for an RGB layer and a model whose channels are
    not colours (it takes them as an axis before Y and X).
    """
    data = image_data(layer, "frames", lazy=True)
    if layer.rgb and _channel_axis_first(model):
        raise ValueError(
            f"this model's {model.config.model.in_channels} channels are not colours (it was "
            f"trained on axes {model.config.data.axes!r}): choose a layer with its channels as "
            f"an axis before Y and X, not the RGB layer {layer.name!r}."
        )
    return np.asarray(data)[None] if _single_frame(layer, model) else data


def _model_frames(frames, which, model: TrainedModel) -> np.ndarray:
    """Frames ``which`` (indices or a slice) of a stack, read, their channels where the model takes them.

    The model takes (N, S, S[, C]); a stack of channels as an axis (N, C, S, S) is moved there.
    """
    chosen = np.asarray(frames[which])
    if _channel_axis_first(model) and chosen.ndim == 4:
        return np.moveaxis(chosen, 1, -1)
    return chosen


def _model_shape(frames, model: TrainedModel) -> tuple[int, ...]:
    """The shape of a stack as :func:`_model_frames` gives it to ``model``, unread.

    :func:`_model_frames` of a view of one value in the stack's shape (no memory).
    """
    view = np.broadcast_to(np.float32(0), np.shape(frames))
    return _model_frames(view, slice(None), model).shape


def _single_frame(layer: Image, model: TrainedModel | None = None) -> bool:
    """Whether ``layer`` holds one image, not a stack: (Y, X), RGB (Y, X, C), or (C, Y, X) for ``model``."""
    channel_axis = model is not None and _channel_axis_first(model)
    return np.ndim(layer.data) == 2 + (layer.rgb or channel_axis)


@thread_worker
def _generate_in_thread(
    model: TrainedModel, codes: Callable[[], np.ndarray], *, tiled: bool, channels_first: bool
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Compute the codes, decode them in batches yielding ``(done, total)``, return the images.

    ``tiled``: lay the images out as the manifold's mosaic; ``channels_first``:
    give them as (..., C, Y, X) instead of (..., Y, X, C).
    """
    return (yield from guarded(_generate(model, codes, tiled=tiled, channels_first=channels_first)))


def _generate(
    model: TrainedModel, codes: Callable[[], np.ndarray], *, tiled: bool, channels_first: bool
) -> Generator[tuple[int, int], None, np.ndarray]:
    images = yield from generation.iter_decode(model, codes())
    images = generation.mosaic(images) if tiled else images
    return np.moveaxis(images, -1, -3) if channels_first else images
