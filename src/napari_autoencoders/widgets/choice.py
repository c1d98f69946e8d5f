"""The model choice shared by the widgets that apply a model: session models or a file."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error
from qtpy.QtCore import Slot
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QMessageBox, QPushButton, QWidget

from ..core.io.bioimageio import PackageCodeError
from ..core.io.model_files import ModelFileError, load_model
from ..core.model import TrainedModel


class ModelComboBox(QComboBox):
    """A combo box of model names that adds and chooses each new model."""

    # a declared slot: Qt drops its connection when the box is deleted, whereas
    # a plain bound method would outlive it and fail on the next model
    @Slot(str)
    def add_and_choose(self, name: str) -> None:
        """List ``name`` and choose it."""
        self.addItem(name)
        self.setCurrentText(name)


class ModelChoiceMixin:
    """Choose a model from ``self.registry`` in ``self.model_choice``, or load one.

    A model added to the registry (a training finished, a file loaded in any
    widget) becomes the choice, so a widget never keeps applying the old one.
    The widget provides ``registry`` (a :class:`.session.ModelRegistry`) and
    puts the row of :meth:`_build_model_row` in its form.
    """

    def _build_model_row(self, load_text: str = "Load from file…") -> QHBoxLayout:
        """Make ``model_choice``, kept up to date with the registry, and ``load_button``.

        The newest model is chosen, at first and whenever one is added.
        """
        self.model_choice = ModelComboBox()
        self.model_choice.addItems(self.registry.names())
        self.model_choice.setCurrentIndex(self.model_choice.count() - 1)
        self.registry.added.connect(self.model_choice.add_and_choose)
        self.load_button = QPushButton(load_text)
        self.load_button.clicked.connect(self._load_dialog)
        row = QHBoxLayout()
        row.addWidget(self.model_choice, stretch=1)
        row.addWidget(self.load_button)
        return row

    def model(self) -> TrainedModel | None:
        """The chosen model, or None when the session has none."""
        name = self.model_choice.currentText()
        return self.registry[name] if name else None

    def load_model_from(self, path: str | Path) -> str | None:
        """Load a model file, add it to the session and choose it.

        Another tool's package whose network only its own Python code builds
        (:class:`~..core.io.bioimageio.PackageCodeError`) is opened only if
        the user, asked, allows that code to run. Returns the model's name in
        the session, or None (with an error notification) if the file is
        missing, corrupt, not a model, or its code was not allowed.
        """
        try:
            try:
                model = load_model(path)
            except PackageCodeError as err:
                if not _allowed_to_run(self, err):
                    raise
                model = load_model(path, run_package_code=True)
        except ModelFileError as err:
            show_error(f"Cannot load the model: {err}")
            return None
        name = self.registry.add(model, Path(path).name)
        self.model_choice.setCurrentText(name)
        return name

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load model",
            "",
            "Model files (*.safetensors *.zip);;bioimage.io packages (*.zip rdf.yaml "
            "bioimageio.yaml);;All files (*)",
        )
        if path:
            self.load_model_from(path)


def _allowed_to_run(parent: QWidget, error: PackageCodeError) -> bool:
    """Ask whether a package may run its own code (:class:`~..core.io.bioimageio.PackageCodeError`)."""
    answer = QMessageBox.question(
        parent,
        "Run the package's code?",
        f"{error}\n\nRun its code to open it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes
