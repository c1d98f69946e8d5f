"""The "Train autoencoder" widget: a form, a worker thread around :class:`Trainer`, a loss plot."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from functools import lru_cache
from pathlib import Path

import napari
import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QSignalBlocker
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from magicgui.widgets import FileEdit
from superqt import QCollapsible

from ..core.config import (
    TASK_MODES,
    Config,
    DataConfig,
    Mode,
    ModelConfig,
    Prior,
    Task,
    TrainingConfig,
)
from ..core.data.axes import as_volume_axes
from ..core.data.collection import DEFAULT_CACHE_MB, ImageCollection
from ..core.data.correlation import parse_strides
from ..core.noise_report import NoiseReport, noise_report
from ..core.io.inputs import image_paths, open_collection
from ..core.io.bioimageio import read_test_sample
from ..core.io.model_files import save_model
from ..core.data.resolution import FACTORS
from ..core.inference.prediction import check_input
from ..core.model import TrainedModel
from ..core.recipes import (
    DEFAULT_TIME_BUDGET,
    FRAME_BATCH_SIZE,
    FRAME_LEARNING_RATE,
    FRAME_WIDTH,
    GENERATIVE_TASKS,
    PRETRAINED_LEARNING_RATE,
    SUPERRES_BATCH_SIZE,
    ZERO_SHOT_EPOCHS,
    ZERO_SHOT_TIME_BUDGET,
    LATENT_TASKS,
    NEIGHBOUR_TASKS,
    VOLUME_BATCH_SIZE,
    VOLUME_PATCH_SIZE,
    VOLUME_PATCH_Z,
    task_config,
)
from ..core.training import Trainer, TrainingEvent, import_optimizer_support
from .export import ExportDialog, export_package
from .forms import combo, float_spin, show_row, spin, worded_spin
from .layers import LayerComboBox, axes_edit, guess_axes, image_data, layer_axes
from .plot import LossPlot
from .panel import JobPanel
from .threads import WorkerError, guarded, relay_warning

#: The GUI is updated at most this often (seconds) while training.
UPDATE_INTERVAL = 0.1
#: Resolution of the progress bar.
PROGRESS_STEPS = 1000
#: The choices of an on/off field whose default the recipe decides.
SWITCH = {"auto": None, "on": True, "off": False}
#: Where a denoising network starts: the shipped prior, or random weights.
STARTS = {"pretrained prior": True, "random weights": False}
#: The noise strides offered (Y,X; any other may be typed): measured, whole, one axis, both.
NOISE_STRIDES = ("auto", "1,1", "1,2", "1,3", "2,1", "3,1", "2,2", "3,3")
#: The value of a number field shown as "auto": the recipe decides.
AUTO_NUMBER = -1.0
#: The time budget's words: the recipe's budget, or none (the epochs count).
AUTO, OFF = -1, 0
BUDGET_WORDS = {AUTO: "auto", OFF: "off"}
#: Where the training data come from: an image layer, or files read patch by patch
#: (several files, or a folder of images or a zarr store), with magicgui's file dialog mode.
LAYER, FILES, FOLDER = "layer", "files", "folder"
FILE_MODES = {FILES: "rm", FOLDER: "d"}
#: What the status and a notification say of a training cancelled before its first step.
CANCELLED = "Training cancelled before its first step; no model was kept."
#: The status until the first step: measuring a large stack's noise takes tens of seconds.
PREPARING = "Preparing the training (measuring the noise of a large input takes a while)…"


class InputError(WorkerError):
    """A lazy input layer could not be read, or was refused, in the worker: "Cannot train".

    A :class:`~.threads.WorkerError`, for the reason that type gives.
    """


class TrainWidget(JobPanel):
    """Train a denoising, reconstructing or upscaling autoencoder on an image layer or on files.

    Files (several, or a folder's, or a zarr store) are read patch by patch
    through a cache, as the command line's ``train --input`` reads them
    (:func:`~napari_autoencoders.core.io.inputs.open_collection`), so they
    may be larger than memory.

    The form becomes a :class:`~napari_autoencoders.core.config.Config`; the
    :class:`~napari_autoencoders.core.training.Trainer` is built (and the
    input checked) in the main thread, then runs in a worker thread; a dask-
    or zarr-backed layer is read, and its values checked, in the worker
    instead, so that napari does not freeze. The best model is kept in
    :attr:`model` and added to the session's models.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers can be trained on.
    registry : ModelRegistry, optional
        Where trained models go; by default the session's, shared with the
        "Apply model" widget.
    parent : QWidget, optional
        Parent widget.
    """

    def _build(self, layout: QVBoxLayout) -> None:
        # in the background while the widget opens, rather than mid-training or blocking napari
        self._warm_up = warm_optimizer_support()
        #: The last trained model, None before the first training ends.
        self.model: TrainedModel | None = None
        self._trainer: Trainer | None = None
        #: Whether Stop was pressed during the running training.
        self._stopping = False
        self._label = ""
        self._val_loss: float | None = None
        self._build_buttons()
        self._add_job_controls(
            layout,
            (self._build_form(), self._build_advanced()),
            start=(self.train_button,),
            stop=self.stop_button,
            extra=(self.save_button, self.export_button, self.noise_button),
        )
        self.progress.setRange(0, PROGRESS_STEPS)
        self.status = QLabel("Not trained yet.")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        for widget in (self.status, self.plot):
            layout.addWidget(widget)

        self.task.currentIndexChanged.connect(self._fill_modes)
        for choice in (self.task, self.mode, self.start):
            choice.currentIndexChanged.connect(self._update_rows)
        self.time_budget.valueChanged.connect(self._update_rows)
        self.three_d.toggled.connect(self._on_three_d)
        self.input_layer.currentIndexChanged.connect(self._on_layer_changed)
        self.data_source.currentIndexChanged.connect(self._on_source_changed)
        self._update_rows()
        self._on_layer_changed()
        self._set_running(False)

    # -- building the form -------------------------------------------------

    def _build_form(self) -> QFormLayout:
        defaults = TrainingConfig()
        self.task = combo([task.value for task in Task], defaults.task)
        self.mode = combo(list(TASK_MODES[defaults.task]), defaults.mode)
        self.data_source = combo([LAYER, FILES, FOLDER], LAYER)
        self.data_source.setToolTip(
            "layer: an image layer, held in memory. files, folder: image files (.tif, .npy, "
            ".zarr ...) or a folder of them or a zarr store, read patch by patch through a "
            "cache, so they may be larger than memory (self-supervised denoising, reconstruct "
            "and vae without the neighbour term)."
        )
        self.files = FileEdit(mode=FILE_MODES[FILES])
        self.files.native.setToolTip("The images to train on, read lazily.")
        self.cache_mb = spin(DEFAULT_CACHE_MB, 1, 1_000_000, suffix=" MB")
        self.cache_mb.setToolTip("Most memory the decoded blocks of the files take.")
        self.input_layer = LayerComboBox(self.viewer)
        self.target_layer = LayerComboBox(self.viewer)
        self.noise = QLineEdit(defaults.noise)
        self.noise.setToolTip(
            'Noise added to the clean image, e.g. "gaussian:0.1" or "poisson:30+gaussian:0.02".'
        )
        self.start = combo(list(STARTS), next(iter(STARTS)))
        self.start.setToolTip(
            "pretrained prior: fine-tune a network shipped with the plugin. Denoising: a "
            "denoiser trained on photographs; it works on the noise estimated from your image, "
            "Gaussian or Poisson-Gaussian, best on one or few images. Super-resolution: an "
            "upscaler per factor trained on photographs and science images, one channel at a "
            "time. Random weights: train from scratch (blind-spot masking in self-supervised "
            "denoising), for other noise."
        )
        self.factor = combo([str(factor) for factor in FACTORS], str(FACTORS[0]))
        self.factor.setToolTip("Upscaling factor in Y and X.")
        self.downscale = QLineEdit(defaults.downscale)
        self.downscale.setToolTip(
            'How training inputs are shrunk: "area" (block average) or "gaussian:SIGMA" '
            '(blur of SIGMA high-resolution pixels, then decimation), e.g. "gaussian:1.0".'
        )
        self.axes = axes_edit()
        self.epochs = spin(defaults.epochs, 1, 100_000)
        self.time_budget = worded_spin(AUTO, AUTO, 7 * 24 * 3600, words=BUDGET_WORDS)
        self.time_budget.setToolTip(
            f"Seconds of training (it stops earlier without progress). auto: "
            f"{DEFAULT_TIME_BUDGET:g} s ({ZERO_SHOT_EPOCHS} epochs within "
            f"{ZERO_SHOT_TIME_BUDGET:g} s for zero-shot super-resolution); off: train for the "
            "epochs instead, reproducibly with the seed."
        )
        self.seed = spin(defaults.seed, 0, 2**31 - 1)
        self.latent_dim = spin(ModelConfig().latent_dim, 1, 4096)
        self.beta = float_spin(defaults.beta, 0.0, 1000.0, decimals=3)
        self.beta.setToolTip("Weight of the KL term of the VAE loss; 1 gives the ELBO.")
        self.kl_warmup = spin(defaults.kl_warmup, 0, 10_000_000, suffix=" steps", special="off")
        self.dense = QCheckBox("fully connected (tiny images)")
        self.three_d = QCheckBox("3D network on the Z axis")
        self.three_d.setToolTip(
            "Train a 3D U-Net on boxes of planes, which sees structures across planes; "
            "unticked, a stack is denoised plane by plane. Needs axes with Z, e.g. ZYX."
        )
        self.prior = combo([prior.value for prior in Prior], ModelConfig().prior)
        self.prior.setToolTip(
            "The distribution the discriminator pushes the codes toward, and samples come "
            "from: gaussian, the standard normal; mixture, 10 Gaussians on a circle (latent dim 2)."
        )
        self.adversarial_rate = float_spin(defaults.adversarial_rate, 0.001, 100.0, decimals=3)
        self.adversarial_rate.setToolTip(
            "Learning rate of the discriminator and of the encoder's regularisation, as a share "
            "of the learning rate: how hard the codes are pushed toward the prior."
        )
        self.neighbour_weight = float_spin(AUTO_NUMBER, AUTO_NUMBER, 100.0, decimals=3)
        self.neighbour_weight.setSpecialValueText("auto")
        self.neighbour_weight.setToolTip(
            "Weight of the neighbour term: frames that are near neighbours in pixel space stay "
            "near in the latent space, so a latent scatter groups alike frames. auto: 1 for a "
            "stack of small frames (each frame one item), else off; 0: off."
        )
        self.form = QFormLayout()
        for label, field in (
            ("task", self.task),
            ("mode", self.mode),
            ("training data", self.data_source),
            ("image", self.input_layer),
            ("files", self.files.native),
            ("cache", self.cache_mb),
            ("clean target", self.target_layer),
            ("noise", self.noise),
            ("start from", self.start),
            ("factor", self.factor),
            ("downscale", self.downscale),
            ("axes", self.axes),
            ("3D", self.three_d),
            ("epochs", self.epochs),
            ("time budget (s)", self.time_budget),
            ("seed", self.seed),
            ("latent dim", self.latent_dim),
            ("neighbour term", self.neighbour_weight),
            ("β (KL weight)", self.beta),
            ("KL warm-up", self.kl_warmup),
            ("VAE network", self.dense),
            ("prior", self.prior),
            ("adversarial rate", self.adversarial_rate),
        ):
            self.form.addRow(label, field)
        return self.form

    def _build_advanced(self) -> QCollapsible:
        data, model, training = DataConfig(), ModelConfig(), TrainingConfig()
        self.patch_size = spin(0, 0, 2048, special="auto")
        self.patch_size.setToolTip(
            f"auto: {data.patch_size} pixels ({VOLUME_PATCH_SIZE} for a 3D network), less for "
            "smaller planes; the frame itself for reconstruct and vae on small frames."
        )
        self.patch_z = spin(0, 0, 1024, special="auto")
        self.patch_z.setToolTip(
            f"Planes of a 3D network's patches. auto: {VOLUME_PATCH_Z}, fewer for a thinner volume."
        )
        self.batch_size = spin(0, 0, 4096, special="auto")
        self.batch_size.setToolTip(
            f"Patches per step. auto: {data.batch_size}, {VOLUME_BATCH_SIZE} for a 3D network, "
            f"{FRAME_BATCH_SIZE} frames for a stack of frames with the neighbour term, "
            f"{SUPERRES_BATCH_SIZE[2]} for super-resolution ×2 from-highres or paired."
        )
        self.depth = spin(model.depth, 1, 6)
        self.width = spin(0, 0, 1024, special="auto")
        self.width.setToolTip(
            f"Feature maps of the first level. auto: {model.width}, {FRAME_WIDTH} for a stack of "
            "frames with the neighbour term."
        )
        self.learning_rate = float_spin(0.0, 0.0, 1.0, decimals=6)
        self.learning_rate.setSpecialValueText("auto")
        self.learning_rate.setToolTip(
            f"auto: {training.learning_rate:g}, {PRETRAINED_LEARNING_RATE:g} from the prior, "
            f"{FRAME_LEARNING_RATE:g} for a stack of frames with the neighbour term."
        )
        self.steps_per_epoch = spin(training.steps_per_epoch, 1, 1_000_000)
        self.patience = spin(training.patience, 1, 100_000)
        self.mask_fraction = float_spin(training.mask_fraction, 0.001, 0.25, decimals=3)
        self.augment = combo(list(SWITCH), "auto")
        self.augment.setToolTip(
            "Random flips and 90° turns of the patches. auto: on, except for a stack of frames "
            "to embed, whose orientation can matter (a turned 6 is a 9)."
        )
        self.neighbours = spin(training.neighbours, 1, 1000)
        self.neighbours.setToolTip("Nearest neighbours of each frame for the neighbour term.")
        self.noise_strides = combo(list(NOISE_STRIDES), "auto")
        self.noise_strides.setEditable(True)
        self.noise_strides.setToolTip(
            "Split the noisy image into interleaved sets Y rows and X columns apart, for noise "
            "correlated along rows, columns or both (Measure noise shows its correlation); 1,1 "
            "keeps it whole. auto: measured, along one axis only (from random weights, kept "
            "whole: give strides to split)."
        )
        content = QWidget()
        self.advanced_form = QFormLayout(content)
        for label, field in (
            ("patch size", self.patch_size),
            ("patch planes (Z)", self.patch_z),
            ("batch size", self.batch_size),
            ("depth", self.depth),
            ("width", self.width),
            ("learning rate", self.learning_rate),
            ("steps per epoch", self.steps_per_epoch),
            ("patience (epochs)", self.patience),
            ("mask fraction", self.mask_fraction),
            ("augment", self.augment),
            ("neighbours per frame", self.neighbours),
            ("noise strides (Y,X)", self.noise_strides),
        ):
            self.advanced_form.addRow(label, field)
        self.advanced = QCollapsible("Advanced options")
        self.advanced.addWidget(content)
        return self.advanced

    def _build_buttons(self) -> None:
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.save_button = QPushButton("Save model…")
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self._save_dialog)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write a BioImage Model Zoo package (.zip)")
        self.export_button.clicked.connect(self._export_dialog)
        self.noise_button = QPushButton("Measure noise")
        self.noise_button.setToolTip(
            "What denoising measures in the input layer: its noise model, clipping, hot and "
            "dead pixels and the noise's correlation along rows and columns"
        )
        self.noise_button.clicked.connect(self.measure_noise)

    def _fill_modes(self) -> None:
        """List the modes of the chosen task, keeping the current one if it is among them."""
        modes = TASK_MODES.get(self.task.currentText(), ())
        current = self.mode.currentText()
        with QSignalBlocker(self.mode):
            self.mode.clear()
            self.mode.addItems(list(modes))
            if current in modes:
                self.mode.setCurrentText(current)

    def _update_rows(self) -> None:
        """Show only the fields the chosen task and mode use."""
        task = self.task.currentText()
        denoise, superres = task == Task.DENOISE.value, task == Task.SUPERRES.value
        mode = self.mode.currentText()
        show_row(self.form, self.mode, task in TASK_MODES)
        from_files = self._from_files()
        show_row(self.form, self.input_layer, not from_files)
        show_row(self.form, self.files.native, from_files)
        show_row(self.form, self.cache_mb, from_files)
        self.noise_button.setVisible(not from_files)  # it measures a layer
        paired = mode == Mode.PAIRED.value and task in TASK_MODES
        show_row(self.form, self.target_layer, paired and not from_files)  # files: no targets
        self.form.labelForField(self.target_layer).setText(
            "high-res target" if superres else "clean target"
        )
        show_row(self.form, self.noise, denoise and mode == Mode.SYNTHETIC.value)
        show_row(self.form, self.factor, superres)
        show_row(self.form, self.downscale, superres and mode != Mode.PAIRED.value)
        vae, aae = task == Task.VAE.value, task == Task.AAE.value
        show_row(self.form, self.latent_dim, task in LATENT_TASKS)
        show_row(self.form, self.neighbour_weight, task in NEIGHBOUR_TASKS)
        # the priors are 2D networks: a 3D one starts from random weights
        flat = (denoise and not self.three_d.isChecked()) or superres
        pretrained = flat and STARTS[self.start.currentText()]
        show_row(self.form, self.start, flat)
        show_row(self.advanced_form, self.depth, not superres and not pretrained)
        for field in (self.width, self.learning_rate):  # the prior's, or the recipe's rate
            show_row(self.advanced_form, field, not pretrained)
        for field in (self.beta, self.kl_warmup, self.dense):
            show_row(self.form, field, vae)
        for field in (self.prior, self.adversarial_rate):
            show_row(self.form, field, aae)
        show_row(self.advanced_form, self.neighbours, task in NEIGHBOUR_TASKS)
        # each frame is one sample of what a generative model learns to draw
        show_row(self.advanced_form, self.augment, task not in GENERATIVE_TASKS)
        show_row(self.form, self.three_d, denoise)
        show_row(self.advanced_form, self.patch_z, denoise and self.three_d.isChecked())
        masked = denoise and mode == Mode.SELF_SUPERVISED.value and not pretrained
        show_row(self.advanced_form, self.mask_fraction, masked)
        planes = denoise and mode == Mode.SELF_SUPERVISED.value and not self.three_d.isChecked()
        show_row(self.advanced_form, self.noise_strides, planes)
        self.epochs.setEnabled(self.time_budget.value() == OFF)  # a budget replaces the cap

    def _on_source_changed(self) -> None:
        """Pick files or a folder; files' axes come from their metadata or a guess unless given."""
        source = self.data_source.currentText()
        if source in FILE_MODES:
            self.files.mode = FILE_MODES[source]
            self.axes.clear()
            self.axes.setPlaceholderText("stored or guessed")
        else:
            self.axes.setPlaceholderText("")
            self._on_layer_changed()
        self._update_rows()

    def _on_layer_changed(self) -> None:
        """Prefill the axes from the new layer (a stack reads as a volume when 3D is ticked)."""
        layer = self.input_layer.layer()
        if layer is not None and not self._from_files():
            axes = guess_axes(layer)
            self.axes.setText(as_volume_axes(axes) if self._three_d() else axes)

    def _on_three_d(self, checked: bool) -> None:
        """Show the 3D fields; a 3D network reads a stack guessed ``SYX`` as a volume, ``ZYX``."""
        if checked:
            self.axes.setText(as_volume_axes(self.axes.text().strip().upper()))
        self._update_rows()

    # -- the public interface ----------------------------------------------

    def recipe_options(self) -> dict[str, object]:
        """The choices of the form's shown fields, as options of the core recipe.

        Hidden fields do not apply to the chosen task and mode, so they are
        left out; a time budget replaces the epoch cap, and the neighbour
        count goes with a neighbour weight above 0.
        """
        fields = {
            "noise": self.noise, "factor": self.factor, "downscale": self.downscale,
            "seed": self.seed, "latent_dim": self.latent_dim,
            "neighbour_weight": self.neighbour_weight, "beta": self.beta,
            "kl_warmup": self.kl_warmup, "dense": self.dense, "prior": self.prior,
            "adversarial_rate": self.adversarial_rate, "patch_size": self.patch_size,
            "batch_size": self.batch_size, "depth": self.depth, "width": self.width,
            "learning_rate": self.learning_rate, "steps_per_epoch": self.steps_per_epoch,
            "patience": self.patience, "mask_fraction": self.mask_fraction,
            "augment": self.augment, "three_d": self.three_d, "patch_z": self.patch_z,
            "noise_strides": self.noise_strides,
        }  # fmt: skip
        options = {name: _read(field) for name, field in fields.items() if not field.isHidden()}
        if "factor" in options:
            options["factor"] = int(options["factor"])
        auto = ("dense", "patch_size", "batch_size", "width", "learning_rate", "three_d", "patch_z")
        for name in auto:  # unticked, auto
            options[name] = options.get(name) or None
        if "augment" in options:
            options["augment"] = SWITCH[options["augment"]]
        if "noise_strides" in options:
            options["noise_strides"] = parse_strides(options["noise_strides"])
        if not self.start.isHidden():
            options["pretrained"] = STARTS[self.start.currentText()]
        if options.get("neighbour_weight") == AUTO_NUMBER:
            options["neighbour_weight"] = None
        budget = self.time_budget.value()  # auto: the recipe's budget; off: the epochs count
        options["time_budget"] = float(budget) if budget > 0 else None
        options["epochs"] = self.epochs.value() if budget == OFF else None
        if options.get("neighbour_weight"):
            options["neighbours"] = self.neighbours.value()
        return options

    def config(self) -> Config:
        """Return the validated configuration of the form for the chosen layer or files.

        Raises
        ------
        ValueError
            Without an input layer or files, or when the choices do not fit them.
        """
        if self._from_files():
            return self._prepare()[0]
        layer = self.input_layer.layer()
        if layer is None:
            raise ValueError("no input layer: add an image layer and choose it.")
        return self._config_for(np.shape(layer.data), self.axes.text().strip() or None)

    def chosen_paths(self) -> list[Path]:
        """The image files the training reads: those chosen, or the chosen folder's.

        Raises
        ------
        ValueError
            If none is chosen; FileNotFoundError if a folder holds no images.
        """
        text = self.files.line_edit.value.strip()
        if not text:
            what = "image files" if self.data_source.currentText() == FILES else "a folder"
            raise ValueError(f"no training data: choose {what} to train on.")
        chosen = self.files.value
        patterns = chosen if isinstance(chosen, tuple) else (chosen,)
        return [path for pattern in patterns for path in image_paths(str(pattern))]

    def train(self) -> None:
        """Check the input, then start training in a worker thread.

        Bad input is reported as an error notification and starts nothing.
        """
        if self._busy:
            show_warning("A training is already running; stop it first.")
            return
        try:
            config, inputs, targets = self._prepare()
            # a lazy layer's Trainer reads it whole, a collection's samples its files: built in
            # the worker, or napari freezes
            trainer = None if _lazy(inputs, targets) else Trainer(config, inputs, targets)
        except (ValueError, FileNotFoundError) as err:
            self._refuse(err)
            return
        self._trainer, self._label, self._val_loss = trainer, self._model_label(config), None
        self._stopping = False
        self.plot.clear()
        self.progress.setValue(0)
        self.status.setText("Reading the input…" if trainer is None else PREPARING)
        self._set_running(True)
        connect = {
            "yielded": self._on_yielded,
            "warned": relay_warning,
            "returned": self._keep,
            "aborted": self._on_aborted,
            "errored": self._on_error,
            "finished": self._on_finished,
        }
        start = dict(_connect=connect, _start_thread=False)
        if trainer is None:
            self.worker = _read_and_train(config, inputs, targets, self._warm_up, **start)
        else:
            self.worker = _train_in_thread(trainer, self._warm_up, **start)
        self.worker.start()  # once it is self.worker, which a Stop must find

    def measure_noise(self) -> None:
        """Measure the input layer's noise in a worker and show the report as a notification.

        The noise model, clip levels, hot and dead pixels and the noise's
        correlation along rows and columns (:func:`~..core.noise_report.noise_report`),
        as the ``noise`` command prints them; bad input is an error notification.
        The button waits, disabled, until the report is in (a few seconds).
        """
        if self._from_files():
            show_error(
                "Cannot measure the noise: it is measured on the input layer; choose the "
                "source 'layer', or run the noise command on a file."
            )
            return
        layer = self.input_layer.layer()
        try:
            # a dask or zarr layer stays lazy: the worker reads it
            data = image_data(layer, "input", lazy=True, multiscale=False)
            axes = self._noise_axes(layer)
        except ValueError as err:
            show_error(f"Cannot measure the noise: {err}")
            return
        self.noise_button.setEnabled(False)
        self.noise_button.setText("Measuring noise…")
        self.noise_worker = _noise_in_thread(
            data,
            axes,
            _connect={
                "returned": lambda report: show_info(
                    "\n".join([f"Noise of {layer.name!r}:", *report.lines()])
                ),
                "errored": lambda error: show_error(f"Cannot measure the noise: {error}"),
                "finished": self._on_noise_measured,
            },
        )  # starts the worker

    def _on_noise_measured(self) -> None:
        self.noise_button.setText("Measure noise")
        self.noise_button.setEnabled(True)

    def _noise_axes(self, layer) -> str:
        """The axes to measure ``layer``'s noise along: the training's, else those given or guessed.

        The training's settings may not fit a layer whose noise can still be
        measured, or that the noise report refuses with its own message (a
        layer smaller than the patch: "planes ... too small to measure").
        """
        try:
            return self.config().data.axes
        except ValueError:
            return layer_axes(layer, self.axes.text())

    def stop(self) -> None:
        """Stop after the current step; the best model so far is kept.

        Before the first step (while the input is prepared: its noise
        measured, ...) the training is cancelled within a second or two, and
        no model is kept; while a lazy input layer is still read, the worker
        ends once it is read.
        """
        if not self._busy:
            return
        self._stopping = True
        if self._trainer is None:
            self.worker.quit()
            self.status.setText("Cancelling once the input is read…")
        else:
            self._trainer.stop()
            self.status.setText("Stopping after the current step…")

    def save_model_to(self, path: str | Path) -> Path | None:
        """Save :attr:`model` to ``path`` (``.safetensors`` added without a suffix).

        Returns the path written, or None (with a notification) on failure.
        """
        if self.model is None:
            show_warning("There is no trained model to save yet; train one first.")
            return None
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".safetensors")
        try:
            saved = save_model(self.model, path)
        except (OSError, ValueError) as err:  # ValueError: a package's name, e.g. model.zip
            show_error(f"Could not save the model to {str(path)!r}: {err}")
            return None
        show_info(f"Model saved to {saved}")
        return saved

    def export_model_to(self, path: str | Path, **options) -> Path | None:
        """Export :attr:`model` as a bioimage.io package; see :func:`.export.export_package`.

        A part of the input layer (:func:`~..core.io.bioimageio.read_test_sample`,
        the only part read of a lazy or multiscale layer) becomes the
        package's test image and cover when the layer has the model's axes
        and channels and that part holds no NaN. ``options`` are those of
        the Export dialog: ``authors``, ``license``, ``name``,
        ``description``. Returns the path written, or None (with a
        notification).
        """
        if self.model is None:
            show_warning("There is no trained model to export yet; train one first.")
            return None
        layer = None if self._from_files() else self.input_layer.layer()
        axes = self.model.config.data.axes
        data = None if layer is None else image_data(layer, lazy=True)
        sample = None
        if data is not None and np.ndim(data) == len(axes) and layer.rgb == axes.endswith("C"):
            try:
                sample = read_test_sample(self.model, data, axes)
                check_input(self.model, sample, axes)
            except ValueError:  # another channel count, NaN: the package's own sample instead
                sample = None
        return export_package(self.model, path, sample=sample, sample_axes=axes, **options)

    # -- helpers -----------------------------------------------------------

    def _from_files(self) -> bool:
        return self.data_source.currentText() != LAYER

    def _three_d(self) -> bool:
        """Whether a 3D network is asked for: the box ticked and shown (denoising)."""
        return self.three_d.isChecked() and not self.three_d.isHidden()

    def _config_for(self, shape: tuple[int, ...], axes: str | None, *, lazy: bool = False) -> Config:
        """The recipe's config for data of ``shape`` and ``axes`` (None: guessed), read lazily or not.

        Where the recipe turns the neighbour term on itself (its weight on
        auto), it takes the form's neighbours per frame.
        """
        task = self.task.currentText()
        mode = self.mode.currentText() if task in TASK_MODES else None
        options = self.recipe_options()
        config = task_config(task, shape=shape, axes=axes, mode=mode, lazy=lazy, **options)
        if "neighbours" not in options and not self.neighbours.isHidden():
            if config.training.neighbour_weight > 0:
                neighbours = self.neighbours.value()
                config = task_config(
                    task, shape=shape, axes=axes, mode=mode, lazy=lazy, neighbours=neighbours,
                    **options,
                )
        return config

    def _prepare(self) -> tuple[Config, np.ndarray | ImageCollection, np.ndarray | None]:
        """The config, the inputs (a layer's array or the files' collection) and the targets."""
        if not self._from_files():
            config = self.config()
            return (config, *self._training_data(config))
        paths, cache_mb, given = self.chosen_paths(), self.cache_mb.value(), self.axes.text()
        collection, axes = open_collection(paths, axes=given.strip() or None, cache_mb=cache_mb)
        if axes is None and self._three_d():  # guessed as a stack of planes: read as volumes
            axes = as_volume_axes(collection.axes)
            collection, axes = open_collection(paths, axes=axes, cache_mb=cache_mb)
        config = self._config_for(collection.shape, axes or collection.axes, lazy=True)
        return config, collection, None

    def _training_data(self, config: Config) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the input array and, in paired mode, the target array; check the layers.

        A dask or zarr layer's array is returned unread; only its shape is checked here.
        """
        layer = self.input_layer.layer()
        inputs = image_data(layer, "input", lazy=True, multiscale=False)
        training = config.training
        if training.task not in TASK_MODES or training.mode != Mode.PAIRED.value:
            return inputs, None
        target = self.target_layer.layer()
        targets = image_data(target, "target", lazy=True, multiscale=False)
        if target is layer:
            raise ValueError(
                f"the target layer is the input layer {layer.name!r}; choose the clean image "
                "of the same scene as the target."
            )
        if target.rgb != layer.rgb:
            raise ValueError(
                f"the input layer {layer.name!r} is {_colour(layer)} but the target layer "
                f"{target.name!r} is {_colour(target)}; paired layers must be both RGB or "
                "both grey."
            )
        # super-resolution pairs differ in size: the core checks them against the factor
        if training.task == Task.DENOISE.value and targets.shape != inputs.shape:
            raise ValueError(
                f"the input layer {layer.name!r} has shape {inputs.shape} but the target layer "
                f"{target.name!r} has shape {targets.shape}; paired layers must have the same "
                "shape."
            )
        return inputs, targets

    def _model_label(self, config: Config) -> str:
        layer = self._data_name()
        if config.training.task in LATENT_TASKS:
            return f"{config.training.task} (latent {config.model.latent_dim}) on {layer}"
        if config.training.task == Task.SUPERRES.value:
            return f"superres ×{config.model.factor} ({config.training.mode}) on {layer}"
        return f"denoise ({config.training.mode}) on {layer}"

    def _data_name(self) -> str:
        """The input layer's name, or the folder's or first file's with a count of the others."""
        if not self._from_files():
            return self.input_layer.layer().name
        chosen = self.files.value
        if not isinstance(chosen, tuple):
            return chosen.name
        return chosen[0].name + (f" +{len(chosen) - 1}" if len(chosen) > 1 else "")

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        self.save_button.setEnabled(not running and self.model is not None)
        self.export_button.setEnabled(not running and self.model is not None)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save model", "model.safetensors", "Model files (*.safetensors)"
        )
        if path:
            self.save_model_to(path)

    def _export_dialog(self) -> None:
        dialog = ExportDialog(self._label, parent=self)
        if dialog.exec() == QDialog.Accepted:
            self.export_model_to(dialog.path.text(), **dialog.options())

    # -- worker signals (main thread) --------------------------------------

    def _on_yielded(self, item: Trainer | list[TrainingEvent]) -> None:
        """Show a list of training events, or keep the Trainer built on a lazy input layer.

        A training cancelled while its input was read is not started: its
        Trainer is dropped, and :meth:`_on_aborted` keeps no model.
        """
        if not isinstance(item, Trainer):
            self._on_events(item)
        elif not self.worker.abort_requested:
            self._trainer = item
            self.status.setText(PREPARING)

    def _on_events(self, events: list[TrainingEvent]) -> None:
        self.plot.add_events(events)
        for event in events:
            if event.val_loss is not None:
                self._val_loss = event.val_loss
        last = events[-1]
        self.progress.setValue(round(PROGRESS_STEPS * last.fraction))
        val = "–" if self._val_loss is None else f"{self._val_loss:.4g}"
        left = _seconds_left(last)
        self.status.setText(
            f"step {last.step} · epoch {last.epoch} · loss {last.loss:.4g} · "
            f"val loss {val} · {last.elapsed:.0f} s" + (f" · about {left} s left" if left else "")
        )

    def _on_aborted(self) -> None:
        # cancelled while a lazy input was read, or before the first step: nothing trained
        if self._trainer is None or self._trainer.cancelled:
            self._keep(None)
            return
        # quit() (e.g. from napari's activity dock) skips `returned`: keep the model anyway
        self._keep(self._trainer.result())

    def _keep(self, model: TrainedModel | None, *, diverged: bool = False) -> None:
        """Keep and register the finished model (the best before a divergence), and say how it went.

        None, or a Stop before the first step: the training was cancelled,
        and there is nothing to keep. The status line then says how it
        ended, in place of the last step's progress and time left.
        """
        if model is None or (self._stopping and not model.history):
            self.status.setText(CANCELLED)
            show_info(CANCELLED)
            return
        self.progress.setValue(PROGRESS_STEPS)
        self.model = model
        name = self.registry.add(model, self._label)
        if model.history:
            ended = "Stopped" if self._stopping else "Training finished"
            ended = "Kept the best model before the divergence" if diverged else ended
            steps = model.history[-1]["step"]
            self.status.setText(f"{ended} after {steps} step(s): {self._trainer.outcome()}.")
            show_info(
                f"{ended} after {steps} step(s): {self._trainer.outcome()}. "
                f"Saved in this session as {name!r}."
            )
            if self._trainer is not None and (warning := self._trainer.warning()):
                show_warning(f"Check the result: {warning}")
        else:
            self.status.setText("Ended before the first validation.")
            show_warning(
                f"Training stopped before the first validation; the unvalidated model is "
                f"kept as {name!r}."
            )

    def _refuse(self, error: Exception) -> None:
        """Say why the input was refused, in a notification and in place of the last run's status."""
        self.progress.setValue(0)
        self.status.setText(f"Cannot train: {error}")
        show_error(f"Cannot train: {error}")

    def _on_error(self, error: Exception) -> None:
        # a refusal in the worker, before the first step (a lazy layer read there, planes too
        # small to measure their noise), is reported as the main thread reports its own
        unstarted = self._trainer is None or self._trainer.steps_done == 0
        if isinstance(error, InputError) or (isinstance(error, ValueError) and unstarted):
            self._refuse(error)
            return
        model, message = kept_after_failure(self._trainer, error)
        self.status.setText(f"Training failed: {message}")
        show_error(f"Training failed: {message}")
        if model is not None:
            self._keep(model, diverged=True)

    def _on_finished(self) -> None:
        self._set_running(False)


@lru_cache(maxsize=1)
def warm_optimizer_support() -> threading.Thread:
    """Start :func:`import_optimizer_support` in a daemon thread, once per process; return it.

    The import takes a second or more; in napari's main thread it froze the
    viewer while the Train widget opened.
    """
    thread = threading.Thread(
        target=import_optimizer_support, name="import torch._dynamo", daemon=True
    )
    thread.start()
    return thread


@thread_worker
def _noise_in_thread(data: np.ndarray, axes: str) -> NoiseReport:
    """:func:`~..core.noise_report.noise_report` of ``data`` in a worker, which reads a lazy array."""
    return noise_report(np.asarray(data), axes)


@thread_worker
def _train_in_thread(
    trainer: Trainer, warm_up: threading.Thread
) -> Generator[list[TrainingEvent], None, TrainedModel | None]:
    """Run ``trainer`` in a worker once ``warm_up`` has imported; yield lists of events.

    Waiting keeps two threads from importing ``torch._dynamo`` at once.
    Returns the best model, or None where a stop cancelled it before its first step.
    """
    return (yield from _trained(trainer, warm_up))


@thread_worker
def _read_and_train(
    config: Config, inputs, targets, warm_up: threading.Thread
) -> Generator[Trainer | list[TrainingEvent], None, TrainedModel | None]:
    """Read lazy ``inputs`` and ``targets`` (None: none), or open a collection, in a worker; train.

    Yields the Trainer first, for the widget to stop it, then lists of
    events as :func:`_train_in_thread`; returns the best model. A failure to
    read or a refused input (NaN, a constant channel ...) is an
    :class:`InputError`: a ``RuntimeError`` would end a generator worker
    without a signal, leaving the widget busy.
    """
    try:
        if not isinstance(inputs, ImageCollection):
            inputs = np.asarray(inputs)
        trainer = Trainer(config, inputs, None if targets is None else np.asarray(targets))
    except Exception as err:
        raise InputError(str(err) or type(err).__name__) from err
    yield trainer
    return (yield from _trained(trainer, warm_up))


def _trained(
    trainer: Trainer, warm_up: threading.Thread
) -> Generator[list[TrainingEvent], None, TrainedModel | None]:
    """Wait for ``warm_up``, then yield ``trainer``'s events in lists; return the best model."""
    warm_up.join()
    return (yield from guarded(batched_events(trainer)))


def _lazy(inputs: np.ndarray | ImageCollection, targets: np.ndarray | None) -> bool:
    """Whether ``inputs`` or ``targets`` is read by its Trainer: a lazy layer's array or files."""
    arrays = (inputs,) if targets is None else (inputs, targets)
    return not all(isinstance(array, np.ndarray) for array in arrays)


def batched_events(
    trainer: Trainer, interval: float = UPDATE_INTERVAL
) -> Generator[list[TrainingEvent], None, TrainedModel | None]:
    """Yield the trainer's events in lists, at most every ``interval`` seconds.

    Every epoch's validation event is sent at once, so no validation loss is late.
    Returns the best model, or None where the training was cancelled before
    its first step (:attr:`.Trainer.cancelled`).
    """
    batch: list[TrainingEvent] = []
    last = time.monotonic()
    for event in trainer.run():
        batch.append(event)
        if event.val_loss is not None or time.monotonic() - last >= interval:
            yield batch
            batch, last = [], time.monotonic()
    if batch:
        yield batch
    return None if trainer.cancelled else trainer.result()


def kept_after_failure(trainer: Trainer, error: Exception) -> tuple[TrainedModel | None, str]:
    """The model to keep after ``error`` ended ``trainer``'s run, and what to say of the failure.

    A training that diverged (``FloatingPointError``, whose message says the
    best weights are kept) keeps its best validated model, as the command
    line saves it; before its first validation it has none to keep.
    """
    if not isinstance(error, FloatingPointError):
        return None, str(error)
    if not trainer.history:
        return None, f"{error} But none were validated, so no model was kept."
    return trainer.result(), str(error)


def _seconds_left(event: TrainingEvent) -> int | None:
    """Seconds to the planned end (time budget or epochs), or None early on.

    The training may end sooner: after ``patience`` epochs without progress.
    """
    if event.fraction < 0.02 or event.fraction >= 1:
        return None
    return round(event.elapsed * (1 - event.fraction) / event.fraction)


def _read(field: QWidget) -> object:
    """The value of a form field: a number, a stripped text, a choice or a tick."""
    if isinstance(field, QLineEdit):
        return field.text().strip()
    if isinstance(field, QComboBox):
        return field.currentText()
    if isinstance(field, QCheckBox):
        return field.isChecked()
    return field.value()


def _colour(layer: napari.layers.Image) -> str:
    return "RGB" if layer.rgb else "grey"
