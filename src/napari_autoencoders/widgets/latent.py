"""The "Latent scatter" widget: encode frames, tiles or objects, project, cluster, show linked."""

from __future__ import annotations

import functools
from collections.abc import Generator
from dataclasses import dataclass

import napari
import numpy as np
from napari.layers import Labels
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.data.axes import Layout, STACK_AXES
from ..core.latent.clustering import Clustering, Embedding, cluster, default_embedding, embed
from ..core.config import Config, ModelConfig, Task, TrainingConfig
from ..core.latent.encoding import (
    Encoding,
    check_encoder,
    check_labels,
    item_crops,
    iter_encode_frames,
    iter_encode_objects,
    iter_encode_tiles,
    labels_at,
    object_crops,
    plane_at,
)
from ..core.model import TrainedModel
from ..core.recipes import task_config
from ..core.training import Trainer
from .choice import ModelChoiceMixin
from .layers import LayerComboBox, axes_edit, copied_metadata, guess_axes, image_data, layer_axes
from .panel import JobPanel
from .scatter import LatentScatter, cluster_legend, warm_items_colouring
from .threads import guarded, relay_warning
from .forms import combo, row, spin
from .train import batched_events, kept_after_failure

#: What can be encoded.
MODES = ("frames", "tiles", "objects")
#: Shown for the automatic choice of the projection.
AUTO = "auto"
#: Fewest objects for the neighbour term: each object's nearest neighbours, and itself.
NEIGHBOUR_OBJECTS = TrainingConfig.neighbours + 1


@dataclass
class _Job:
    """What one encoding run needs, gathered in the main thread."""

    source: napari.layers.Image
    #: The layer's pixels as napari holds them: a dask or zarr array is read batch by batch.
    data: object
    axes: str
    model: TrainedModel
    mode: str
    labels: np.ndarray | None
    stride: int | None
    mask: bool
    #: The plane of a stack whose tiles or objects are encoded, e.g. "Z=3"; empty otherwise.
    plane: str = ""


class LatentWidget(ModelChoiceMixin, JobPanel):
    """Encode an image layer's frames, tiles or objects and show the codes as a linked scatter.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer.
    registry : ModelRegistry, optional
        Models to choose from (default: the session's, shared with the other widgets).
    parent : QWidget, optional
        Parent widget.
    """

    def _build(self, layout: QVBoxLayout) -> None:
        #: The scatter of the last encoding, None before the first.
        self.scatter: LatentScatter | None = None
        #: The scatters in the viewer, one per source layer (encoding again replaces its
        #: own), each with the encoding job it came from: its layer, axes and model.
        self._scatters: list[tuple[LatentScatter, _Job]] = []
        self.encode_button = QPushButton("Encode")
        self.train_button = QPushButton("Train on objects")
        self.train_button.setToolTip(
            "Train a reconstruct autoencoder on crops around the objects, then choose it."
        )
        self.cancel_button = QPushButton("Cancel")
        self.encode_button.clicked.connect(self.encode)
        self.train_button.clicked.connect(self.train_on_objects)
        self.cancel_button.clicked.connect(self.cancel)
        self._add_job_controls(
            layout,
            (self._build_form(),),
            start=(self.encode_button, self.train_button),
            stop=self.cancel_button,
        )
        self.legend = QLabel()
        layout.addWidget(self.legend)
        self.new_cluster_button = QPushButton("Selection → new cluster")
        self.stack_button = QPushButton("Selection → image stack")
        self.new_cluster_button.clicked.connect(self.selection_to_cluster)
        self.stack_button.clicked.connect(self.selection_to_stack)
        layout.addLayout(row(self.new_cluster_button, self.stack_button))
        layout.addStretch()
        self.image_layer.currentIndexChanged.connect(self._fill_axes)
        self.mode.currentIndexChanged.connect(self._update_rows)
        self._fill_axes()
        self._update_rows()
        self._set_running(False)

    def _build_form(self) -> QFormLayout:
        self.image_layer = LayerComboBox(self.viewer)
        self.labels_layer = LayerComboBox(self.viewer, layer_type=Labels)
        model_row = self._build_model_row("Load…")
        self.mode = combo(list(MODES), MODES[0])
        self.axes = axes_edit()
        self.stride = spin(0, 0, 4096, suffix=" px", special="tile size")
        self.mask = QCheckBox("blank pixels outside the object")
        self.crop_size = spin(32, 8, 512, suffix=" px")
        self.crop_size.setToolTip("Crop side of a model trained on the objects.")
        self.latent_dim = spin(ModelConfig.latent_dim, 2, 512)
        self.epochs = spin(TrainingConfig.epochs, 1, 10_000)
        self.neighbour_term = QCheckBox("keep neighbours")
        self.neighbour_term.setChecked(True)
        self.neighbour_term.setToolTip(
            "Train with the neighbour term: objects alike in pixels stay near in the latent "
            f"space. It needs at least {NEIGHBOUR_OBJECTS} objects; with fewer the training "
            "goes on without it."
        )
        self.projection = combo([AUTO] + [e.value for e in Embedding], AUTO)
        self.projection.setToolTip("auto: the latent itself when it is 2D, else PCA.")
        self.method = combo([c.value for c in Clustering], Clustering.KMEANS.value)
        self.clusters = spin(0, 0, 100, special="auto")
        self.clusters.setToolTip(
            "auto: best silhouette over 2-10 (kmeans), lowest BIC (gmm); for hdbscan the "
            "minimum cluster size."
        )
        self.seed = spin(0, 0, 2**31 - 1)
        self.train_row = QWidget()
        self.train_row.setLayout(row(self.crop_size, self.latent_dim, self.epochs))
        self.train_row.layout().setContentsMargins(0, 0, 0, 0)
        self.form = form = QFormLayout()
        form.addRow("image", self.image_layer)
        form.addRow("labels (objects)", self.labels_layer)
        form.addRow("model", model_row)
        form.addRow("encode", self.mode)
        form.addRow("axes", self.axes)
        form.addRow("tile stride", self.stride)
        form.addRow("mask", self.mask)
        form.addRow("train: crop / latent / epochs", self.train_row)
        form.addRow("", self.neighbour_term)
        form.addRow("projection", self.projection)
        form.addRow("clustering", self.method)
        form.addRow("clusters", self.clusters)
        form.addRow("seed", self.seed)
        return form

    def _update_rows(self) -> None:
        """Show only the controls the chosen mode uses: stride for tiles, the rest for objects."""
        mode = self.mode.currentText()
        objects = (self.labels_layer, self.mask, self.train_row, self.neighbour_term)
        for field in (self.stride, *objects):
            shown = mode == ("tiles" if field is self.stride else "objects")
            field.setVisible(shown)
            label = self.form.labelForField(field)  # none for the unlabelled checkbox
            if label is not None:
                label.setVisible(shown)
        self.train_button.setVisible(mode == "objects")

    # -- the public interface ----------------------------------------------

    def encode(self) -> None:
        """Check the choices, then encode, project and cluster in a worker thread."""
        if self._busy:
            show_warning("The widget is busy; cancel the running job first.")
            return
        try:
            job = self._gather()
        except ValueError as err:
            show_error(f"Cannot encode: {err}")
            return
        self._start(
            _encode_in_thread(
                job,
                projection=self.projection.currentText(),
                method=self.method.currentText(),
                n_clusters=self.clusters.value() or None,
                seed=self.seed.value(),
                _start_thread=False,
                _ignore_errors=True,  # _start connects errored
            ),
            functools.partial(self._show_result, job),
        )

    def train_on_objects(self) -> None:
        """Train a reconstruct autoencoder on crops around the chosen labels' objects."""
        if self._busy:
            show_warning("The widget is busy; cancel the running job first.")
            return
        try:
            source, data, axes, labels, chosen = self._objects_input()
            crops, _, _ = object_crops(
                data, labels, self.crop_size.value(), axes=axes, mask=self.mask.isChecked()
            )
            trainer = Trainer(self._object_config(crops), crops)
        except ValueError as err:
            show_error(f"Cannot train on the objects: {err}")
            return
        plane = _plane_name(chosen)
        self._label = f"objects of {source.name}" + (f" at {plane}" if plane else "")
        self._start(
            _train_in_thread(trainer, _start_thread=False, _ignore_errors=True),
            self._add_model,
            errored=functools.partial(self._on_training_error, trainer),
            aborted=functools.partial(self._on_training_cancelled, trainer),
        )

    def cancel(self) -> None:
        """Stop the running job: an encoding adds nothing, a training keeps its best epoch."""
        if self._busy:
            self.worker.quit()

    def selection_to_cluster(self) -> None:
        """Make the selected points of the active scatter (else the last one) a new cluster."""
        try:
            scatter, _ = self._scatter()
            new = scatter.new_cluster_from_selection()
        except ValueError as err:
            show_error(f"Cannot make a cluster: {err}")
            return
        self.legend.setText(cluster_legend(scatter.clusters))
        show_info(f"The selected points are now cluster {new}.")

    def selection_to_stack(self) -> None:
        """Add the selected frames, tiles or object crops of the active scatter as a new image stack."""
        try:
            scatter, job = self._scatter()
            selected = scatter.selected_rows()
        except ValueError as err:
            show_error(f"Cannot make a stack: {err}")
            return
        crops = item_crops(
            scatter.encoding, selected, job.data, axes=job.axes,
            size=job.model.config.model.input_size, labels=job.labels, mask=job.mask,
        )  # (N, C, S, S)
        source = job.source
        if source.rgb:
            stack = np.moveaxis(crops, 1, -1)
        else:  # several channels as an axis of the stack: (N, C, S, S)
            stack = crops if crops.shape[1] > 1 else crops[:, 0]
        # the source's pixel size and YX origin (a frame's own place; a tile's or object's
        # crops have none of their own); the stack's and channels' axes start at 0
        lead = stack.ndim - 2 - source.rgb
        self.viewer.add_image(
            stack, name=f"{source.name} selection ({len(selected)})", rgb=source.rgb,
            scale=(*[1] * lead, *source.scale[-2:]),
            translate=(*[0] * lead, *source.translate[-2:]),
            metadata=copied_metadata(source),
        )

    # -- helpers -----------------------------------------------------------

    def _scatter(self) -> tuple[LatentScatter, _Job]:
        """The scatter whose layer is active, else the last one made, with its job.

        Scatters whose points layer was removed are forgotten.
        """
        self._scatters = [pair for pair in self._scatters if pair[0].points in self.viewer.layers]
        if not self._scatters:
            raise ValueError("no latent scatter: encode an image first.")
        active = self.viewer.layers.selection.active
        for scatter, job in self._scatters:
            if active in (scatter.points, scatter.highlight, scatter.items, scatter.outlines):
                return scatter, job
        return self._scatters[-1]  # the last made: self.scatter

    def _gather(self) -> _Job:
        mode = self.mode.currentText()
        model = self.model()
        if model is None:
            raise ValueError("no model: train one (or 'Train on objects') or load a model file.")
        if mode == "objects":
            source, data, axes, labels, chosen = self._objects_input()
        else:
            source = self.image_layer.layer()
            data, labels, chosen = image_data(source, lazy=True), None, {}
            axes = layer_axes(source, self.axes.text())
            if mode == "tiles":
                data, axes, chosen = self._shown_plane(source, data, axes)
        check_encoder(model)
        stride = self.stride.value() or None
        plane = _plane_name(chosen)
        return _Job(source, data, axes, model, mode, labels, stride, self.mask.isChecked(), plane)

    def _objects_input(self):
        """The source layer, its shown plane's pixels and axes, its objects' labels, and that plane.

        The labels layer holds the plane's objects (Y, X), or every plane's,
        of the stack's shape: then the shown plane's are taken.
        """
        source = self.image_layer.layer()
        data = image_data(source, lazy=True)
        axes = layer_axes(source, self.axes.text())
        layer = self.labels_layer.layer()
        if layer is None:
            raise ValueError("no labels layer: add the objects' labels layer and choose it.")
        shape, stack_axes = data.shape, axes
        data, axes, chosen = self._shown_plane(source, data, axes)
        labels = labels_at(layer.data, chosen, shape, stack_axes)
        plane_shape = tuple(data.shape[axes.index(a)] for a in "YX")
        labels = np.array(check_labels(labels, plane_shape), copy=True)  # as encoded, not as edited
        return source, data, axes, labels, chosen

    def _shown_plane(self, source, data, axes: str) -> tuple[object, str, dict[str, int]]:
        """The plane of a stack that the viewer shows, its axes, and its index on each stack axis.

        Tiles and objects are cut from one plane: of a stack (Z, T or S
        axes), the one at the viewer's sliders. A plane comes back as it
        is, with no index.
        """
        stack = [i for i, axis in enumerate(axes) if axis in STACK_AXES]
        if not stack:
            return data, axes, {}
        # data axis i is layer axis i (an RGB layer's C, the last, is no layer axis), and
        # world axis i + (viewer's dimensions - layer's)
        first = self.viewer.dims.ndim - source.ndim
        if any(first + i in self.viewer.dims.displayed for i in stack):
            raise ValueError(
                f"the view shows {axes[stack[0]]} as a dimension; switch to the 2D view and "
                "choose the plane of tiles or objects with the sliders."
            )
        position = source.world_to_data(self.viewer.dims.point)
        at = {axes[i]: int(np.rint(position[i])) for i in stack}
        if any(not 0 <= at[axes[i]] < data.shape[i] for i in stack):
            raise ValueError(
                f"the sliders lie outside the layer's planes ({_plane_name(at)}, of "
                f"{tuple(data.shape[i] for i in stack)}); move them onto a plane of it."
            )
        return (*plane_at(data, axes, at), at)

    def _object_config(self, crops: np.ndarray) -> Config:
        """The recipe's reconstruct config for object crops (N, C, S, S)."""
        return task_config(
            Task.RECONSTRUCT.value,
            shape=crops.shape,
            axes="SCYX",
            patch_size=self.crop_size.value(),
            latent_dim=self.latent_dim.value(),
            epochs=self.epochs.value(),
            seed=self.seed.value(),
            # ticked: the recipe's choice (the term, given enough objects); unticked: off
            neighbour_weight=None if self.neighbour_term.isChecked() else 0.0,
        )

    def _start(self, worker, on_result, errored=None, aborted=None) -> None:
        self.progress.setValue(0)
        self._set_running(True)
        self.worker = worker
        worker.yielded.connect(self._on_progress)
        worker.warned.connect(relay_warning)
        worker.returned.connect(on_result)
        worker.errored.connect(errored or (lambda error: show_error(f"Failed: {error}")))
        worker.aborted.connect(aborted or (lambda: show_info("Cancelled; nothing was added.")))
        worker.finished.connect(lambda: self._set_running(False))
        worker.start()

    def _fill_axes(self) -> None:
        layer = self.image_layer.layer()
        if layer is not None:
            self.axes.setText(guess_axes(layer))

    # -- worker signals (main thread) --------------------------------------

    def _show_result(self, job: _Job, result: tuple[Encoding, np.ndarray, np.ndarray]) -> None:
        encoding, embedding, clusters = result
        # encoding a layer again replaces its scatter rather than stacking a copy on top
        for pair in [pair for pair in self._scatters if pair[0].source is job.source]:
            pair[0].remove()
            self._scatters.remove(pair)
        layout = Layout(job.axes, job.data.shape)
        self.scatter = LatentScatter(
            self.viewer, job.source, encoding, embedding, clusters,
            size=job.model.config.model.input_size,
            stack_axes=tuple(job.axes.index(axis) for axis in layout.stack_axes),
            plane_shape=tuple(job.data.shape[job.axes.index(axis)] for axis in "YX"),
            labels=job.labels,
            stride=job.stride or job.model.config.model.input_size,
        )
        self._scatters.append((self.scatter, job))
        # ready to select points: the scatter's layer active, in its selection mode
        self.viewer.layers.selection.active = self.scatter.points
        self.scatter.points.mode = "select"
        self.legend.setText(cluster_legend(clusters))
        if job.plane:
            show_info(f"Encoded the {job.mode} of the plane at {job.plane}, where the sliders are.")

    def _on_training_error(self, trainer: Trainer, error: Exception) -> None:
        """Say why the training failed; keep its best validated model if it diverged."""
        model, message = kept_after_failure(trainer, error)
        show_error(f"Training failed: {message}")
        if model is not None:
            self._add_model(model)

    def _on_training_cancelled(self, trainer: Trainer) -> None:
        """Keep the best validated model of a training cancelled after an epoch, as Stop does."""
        if not trainer.history:
            show_info("Cancelled before the first validation; no model was kept.")
            return
        self._add_model(trainer.result(), cancelled=True)

    def _add_model(self, model: TrainedModel, *, cancelled: bool = False) -> None:
        name = self.registry.add(model, self._label)
        self.model_choice.setCurrentText(name)
        how = f"Cancelled after {len(model.history)} epoch(s); kept" if cancelled else "Trained"
        show_info(f"{how} {name!r} on the objects; choose 'objects' and press Encode.")


def _plane_name(at: dict[str, int]) -> str:
    """A plane's index on each stack axis as text, e.g. ``"T=1, Z=3"``; empty for none."""
    return ", ".join(f"{axis}={index}" for axis, index in at.items())


@thread_worker
def _encode_in_thread(
    job: _Job, *, projection: str, method: str, n_clusters: int | None, seed: int
) -> Generator[tuple[int, int], None, tuple[Encoding, np.ndarray, np.ndarray]]:
    """Encode, then project and cluster; yield ``(done, total)`` items."""
    options = dict(axes=job.axes)
    if job.mode == "frames":
        steps = iter_encode_frames(job.model, job.data, **options)
    elif job.mode == "tiles":
        steps = iter_encode_tiles(job.model, job.data, stride=job.stride, **options)
    else:
        steps = iter_encode_objects(job.model, job.data, job.labels, mask=job.mask, **options)
    encoding = yield from guarded(steps)
    count, dim = encoding.latents.shape
    projection = default_embedding(dim) if projection == AUTO else projection
    yield count, count  # each yield lets a Cancel stop the job: after the encoding,
    embedding = embed(encoding.latents, projection, seed=seed)
    yield count, count  # and after the projection
    clusters = cluster(encoding.latents, method, n_clusters, seed=seed)
    warm_items_colouring(encoding, job.labels)  # napari's compiling, here, not in the viewer
    return encoding, embedding, clusters


@thread_worker
def _train_in_thread(trainer: Trainer):
    """Train in a worker; yield ``(done, total)`` per mille, return the best model."""
    for events in guarded(batched_events(trainer)):
        yield round(events[-1].fraction * 1000), 1000
    return trainer.result()
