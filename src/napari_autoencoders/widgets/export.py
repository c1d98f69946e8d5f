"""The *Export…* dialog: a trained model as a BioImage Model Zoo package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..core.io.bioimageio import export_bioimageio
from ..core.model import TrainedModel

#: Licences offered first; any SPDX identifier can be typed.
LICENSES = ("CC-BY-4.0", "MIT", "BSD-3-Clause", "Apache-2.0", "CC0-1.0")


class ExportDialog(QDialog):
    """Ask the package's name, description, authors, licence and file.

    Parameters
    ----------
    name : str
        Prefilled name of the model.
    parent : QWidget, optional
        Parent widget.
    """

    def __init__(self, name: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export to the BioImage Model Zoo")
        self.name = QLineEdit(name)
        self.description = QLineEdit()
        self.description.setPlaceholderText("default: from the task and mode")
        self.authors = QLineEdit()
        self.authors.setPlaceholderText("Ada Lovelace; Alan Turing")
        self.license = QComboBox()
        self.license.setEditable(True)
        self.license.addItems(LICENSES)
        self.path = QLineEdit("model.zip")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, stretch=1)
        path_row.addWidget(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("name", self.name)
        form.addRow("description", self.description)
        form.addRow("authors", self.authors)
        form.addRow("licence", self.license)
        form.addRow("package", path_row)
        form.addRow(buttons)

    def options(self) -> dict[str, object]:
        """The keyword arguments of :func:`export_bioimageio` chosen here."""
        return {
            "name": self.name.text().strip() or None,
            "description": self.description.text().strip() or None,
            "authors": self.authors.text().split(";"),
            "license": self.license.currentText().strip(),
        }

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export model", self.path.text(), "bioimage.io packages (*.zip)"
        )
        if path:
            self.path.setText(path)


def export_package(
    model: TrainedModel,
    path: str | Path,
    *,
    sample: np.ndarray | None = None,
    sample_axes: str | None = None,
    **options,
) -> Path | None:
    """Export ``model`` with :func:`export_bioimageio`, reporting the outcome as a notification.

    Returns the package written, or None (with an error notification naming
    the problem: an author missing, a licence unknown, the extra missing...).
    """
    try:
        written = export_bioimageio(model, path, sample=sample, sample_axes=sample_axes, **options)
    except (ValueError, OSError) as err:  # MissingExtraError is a ValueError too
        show_error(f"Could not export the model: {err}")
        return None
    show_info(f"bioimage.io package written to {written}")
    return written
