"""Form fields shared by the widgets: choices, number boxes, rows that show and hide."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QWidget,
)


def combo(choices: list[str], current: str) -> QComboBox:
    """A drop-down list of ``choices`` showing ``current``."""
    box = QComboBox()
    box.addItems(choices)
    box.setCurrentText(current)
    return box


def spin(value: int, minimum: int, maximum: int, *, suffix: str = "", special: str = "") -> QSpinBox:
    """An integer box; ``special`` is shown instead of the minimum (e.g. "off", "auto")."""
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setSpecialValueText(special)
    return box


def float_spin(value: float, minimum: float, maximum: float, *, decimals: int) -> QDoubleSpinBox:
    """A number box with ``decimals`` decimals, stepping by ten units of the last one shown."""
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(minimum, maximum)
    box.setSingleStep(10 ** (1 - decimals))
    box.setValue(value)
    return box


def show_row(form: QFormLayout, field: QWidget, visible: bool) -> None:
    """Show or hide ``field`` and its label in ``form``."""
    field.setVisible(visible)
    form.labelForField(field).setVisible(visible)


def row(*widgets: QWidget) -> QHBoxLayout:
    """The ``widgets`` side by side, sharing the width equally."""
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget, stretch=1)
    return layout
