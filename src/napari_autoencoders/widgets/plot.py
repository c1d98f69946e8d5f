"""Live loss plot: smoothed training loss per step, validation loss per epoch."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..core.training import TrainingEvent

#: Weight of the newest step in the exponential moving average of the loss.
SMOOTHING = 0.1
#: At most this many training points are drawn; longer runs are thinned.
MAX_POINTS = 1000
#: Losses are clipped to this before drawing on the log axis.
_FLOOR = 1e-12


class LossPlot(QWidget):
    """Training loss (exponential moving average over steps) and validation loss, log y axis."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setLogMode(y=True)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)" on log losses
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setMinimumHeight(160)
        self._train_curve = self.plot.plot(pen=pg.mkPen("#4ea8de", width=1.5), name="training")
        self._val_curve = self.plot.plot(
            pen=pg.mkPen("#f4a261", width=2), symbol="o", symbolSize=6,
            symbolBrush="#f4a261", name="validation",
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.clear()

    def clear(self) -> None:
        """Forget all points."""
        self._steps: list[int] = []
        self._smoothed: list[float] = []
        self._val_steps: list[int] = []
        self._val_losses: list[float] = []
        self._train_curve.setData([], [])
        self._val_curve.setData([], [])

    def add_events(self, events: Iterable[TrainingEvent]) -> None:
        """Add training events (steps and epoch ends) and redraw once."""
        for event in events:
            if event.val_loss is not None:
                self._val_steps.append(event.step)
                self._val_losses.append(max(event.val_loss, _FLOOR))
                continue
            loss = max(event.loss, _FLOOR)
            previous = self._smoothed[-1] if self._smoothed else loss
            self._steps.append(event.step)
            self._smoothed.append(previous + SMOOTHING * (loss - previous))
        self._redraw()

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The drawn ``(x, y)`` data of the ``"training"`` and ``"validation"`` curves."""
        return {
            "training": self._train_curve.getOriginalDataset(),
            "validation": self._val_curve.getOriginalDataset(),
        }

    def _redraw(self) -> None:
        stride = max(1, -(-len(self._steps) // MAX_POINTS))
        steps, losses = np.asarray(self._steps), np.asarray(self._smoothed)
        # thin from the newest point back so the latest loss is always drawn
        self._train_curve.setData(steps[::-1][::stride][::-1], losses[::-1][::stride][::-1])
        self._val_curve.setData(self._val_steps, self._val_losses)
