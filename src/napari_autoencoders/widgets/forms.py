"""Form fields shared by the widgets: choices, number boxes, rows that show and hide."""

from __future__ import annotations

from qtpy.QtGui import QValidator
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


class WordedSpinBox(QSpinBox):
    """An integer box in which some values read as words, e.g. -1 "auto" and 0 "off"."""

    def __init__(self, words: dict[int, str]):
        super().__init__()
        self.words = words

    def textFromValue(self, value: int) -> str:  # noqa: N802 (Qt's name)
        return self.words.get(value, super().textFromValue(value))

    def valueFromText(self, text: str) -> int:  # noqa: N802 (Qt's name)
        for value, word in self.words.items():
            if text.strip() == word:
                return value
        return super().valueFromText(text)

    def validate(self, text: str, position: int):
        if text.strip() in self.words.values():
            return QValidator.State.Acceptable, text, position
        if any(word.startswith(text.strip()) for word in self.words.values()):
            return QValidator.State.Intermediate, text, position
        return super().validate(text, position)


def worded_spin(value: int, minimum: int, maximum: int, *, words: dict[int, str]) -> WordedSpinBox:
    """An integer box from ``minimum`` to ``maximum`` whose ``words`` stand for some values."""
    box = WordedSpinBox(words)
    box.setRange(minimum, maximum)
    box.setValue(value)
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
