"""The frame the widgets share: a viewer, the session's models, one worker at a time."""

from __future__ import annotations

from collections.abc import Sequence

import napari
from qtpy.QtCore import QSize
from qtpy.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .session import ModelRegistry, session_models


class _ContentScrollArea(QScrollArea):
    """A scroll area that asks for its content's full size and accepts less.

    QScrollArea's own size hint stops at about 24 lines of text, so every
    dock would open short; this one opens as tall as its content when the
    screen allows, and scrolls when the dock is made smaller.
    """

    def sizeHint(self) -> QSize:
        content = self.widget()
        if content is None:
            return super().sizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        frame = 2 * self.frameWidth()
        return content.sizeHint() + QSize(bar + frame, frame)


class Panel(QWidget):
    """A widget on a viewer and the session's models; subclasses fill it in :meth:`_build`.

    The content lies in :attr:`scroll_area`, so a dock taller than the screen
    scrolls instead of being cut off.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer the widget works on.
    registry : ModelRegistry, optional
        The models; by default the session's, shared by all widgets.
    parent : QWidget, optional
        Parent widget.
    """

    def __init__(
        self,
        napari_viewer: napari.Viewer,
        registry: ModelRegistry | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.registry = registry if registry is not None else session_models()
        #: The worker of the current or last job, None before the first.
        self.worker = None
        content = QWidget()
        self.scroll_area = _ContentScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll_area)
        self._build(QVBoxLayout(content))

    def _build(self, layout: QVBoxLayout) -> None:
        """Add the widget's fields and buttons to ``layout`` and connect them."""
        raise NotImplementedError


class JobPanel(Panel):
    """A panel whose settings and start buttons are locked while its job runs.

    The subclass adds its controls with :meth:`_add_job_controls` and calls
    :meth:`_set_running` when a job starts and ends.
    """

    # our own flag: a started worker reports is_running only once its thread runs
    _busy = False

    def _add_job_controls(
        self,
        layout: QVBoxLayout,
        settings: Sequence[QLayout | QWidget],
        *,
        start: Sequence[QPushButton],
        stop: QPushButton,
        extra: Sequence[QPushButton] = (),
    ) -> None:
        """Add :attr:`settings`, a row of buttons and :attr:`progress` to ``layout``.

        Parameters
        ----------
        layout : QVBoxLayout
            The widget's layout.
        settings : sequence of QLayout or QWidget
            The form and other parts of :attr:`settings`, locked while a job runs.
        start : sequence of QPushButton
            Buttons that start a job, locked while one runs.
        stop : QPushButton
            The button that stops the job, enabled only while one runs.
        extra : sequence of QPushButton
            Further buttons at the end of the row, left to the subclass.
        """
        self.settings = QWidget()
        settings_layout = QVBoxLayout(self.settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        for part in settings:
            if isinstance(part, QLayout):
                settings_layout.addLayout(part)
            else:
                settings_layout.addWidget(part)
        layout.addWidget(self.settings)
        buttons = QHBoxLayout()
        for button in (*start, stop, *extra):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        layout.addWidget(self.progress)
        self._start_buttons, self._stop_button = tuple(start), stop

    def _set_running(self, running: bool) -> None:
        """Lock the settings and start buttons while a job runs, and free them after."""
        self._busy = running
        self.settings.setEnabled(not running)
        for button in self._start_buttons:
            button.setEnabled(not running)
        self._stop_button.setEnabled(running)

    def _on_progress(self, progress: tuple[int, int]) -> None:
        """Show a worker's ``(done, total)`` on the progress bar."""
        done, total = progress
        self.progress.setRange(0, total)
        self.progress.setValue(done)
