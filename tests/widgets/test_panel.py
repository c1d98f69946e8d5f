"""Every widget's content scrolls, so a dock fits a laptop screen."""

import pytest
from qtpy.QtWidgets import QScrollArea

from napari_autoencoders.widgets.apply import ApplyWidget
from napari_autoencoders.widgets.generate import GenerateWidget
from napari_autoencoders.widgets.latent import LatentWidget
from napari_autoencoders.widgets.train import TrainWidget

WIDGETS = [TrainWidget, ApplyWidget, GenerateWidget, LatentWidget]


@pytest.mark.parametrize("widget_class", WIDGETS, ids=lambda cls: cls.__name__)
def test_a_short_dock_scrolls(viewer, registry, qtbot, widget_class):
    widget = widget_class(viewer, registry=registry)
    qtbot.addWidget(widget)
    assert isinstance(widget.scroll_area, QScrollArea)
    content = widget.scroll_area.widget()
    full = content.sizeHint().height()
    # opens at full height where the screen allows, and may be made much shorter
    assert widget.sizeHint().height() >= full
    assert widget.minimumSizeHint().height() < full / 2

    widget.resize(widget.sizeHint().width(), full // 2)
    widget.show()
    qtbot.waitExposed(widget)
    bar = widget.scroll_area.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())  # the last controls can be reached
    assert bar.value() == bar.maximum()
