"""Responsiveness: the longest stall of napari's event loop while the Train widget trains,
and while a latent scatter of 100,000 points is drawn, recoloured and selected.

A Qt timer asks to fire every 10 ms and records how late each tick is; the
longest delay is the longest the viewer froze. The same timer on an idle
viewer, in the same run, is the reference. Needs a display (``make bench``
starts a virtual one with xvfb-run where there is none).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from napari_autoencoders.core.data.noise import add_noise
from phantoms import fluorescence_phantom

#: Interval the probing timer asks for, in milliseconds.
TICK_MS = 10


def stalls(seconds: float, *, start=None, busy=None) -> list[float]:
    """Lateness (ms) of every tick of a 10 ms timer over ``seconds``.

    ``start()`` is called when the timer starts; the loop then runs until
    ``seconds`` have passed and ``busy()`` (if given) returns False.
    """
    from qtpy.QtCore import QEventLoop, QTimer

    late: list[float] = []
    last = time.perf_counter()
    began = last
    loop = QEventLoop()

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        late.append(max(0.0, (now - last) * 1e3 - TICK_MS))
        last = now
        if now - began >= seconds and (busy is None or not busy()):
            loop.quit()

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    if start is not None:  # from inside the loop, so that its own time counts as a stall
        QTimer.singleShot(0, start)
    loop.exec_()
    timer.stop()
    return late


def responsiveness_rows(seconds: float, quick: bool) -> list[list[str]]:
    """The longest and typical stall with the viewer idle, then during two trainings.

    Opening the widget imports ``torch._dynamo``, which a process's first
    optimiser needs, so that no training imports it in its worker thread
    (holding the GIL for stretches); its time is the first row.
    """
    import napari
    from qtpy.QtCore import QTimer

    from napari_autoencoders.widgets.train import TrainWidget

    viewer = napari.Viewer(show=True)
    try:
        fresh = "torch._dynamo" not in sys.modules
        start_opening = time.perf_counter()
        widget = TrainWidget(viewer)
        opening = (time.perf_counter() - start_opening) * 1e3
        viewer.window.add_dock_widget(widget)
        noisy = add_noise(fluorescence_phantom((256, 256), seed=0), "gaussian:0.1", seed=1)
        viewer.add_image(noisy, name="noisy")
        widget.start.setCurrentText("random weights")  # the widget's U-Net, as measured before
        sizes = {"epochs": 10_000}
        if quick:
            sizes.update(patch_size=16, batch_size=2, width=8, steps_per_epoch=5)
        for field, value in sizes.items():
            getattr(widget, field).setValue(value)

        def start() -> None:
            widget.train()
            QTimer.singleShot(int(seconds * 1e3), widget.stop)

        def training() -> bool:
            return not widget.train_button.isEnabled()

        stalls(1.0)  # let the viewer finish drawing itself
        rows = [[f"opening the Train widget{' in a fresh process' if fresh else ''} "
                 "(blocks by design: imports torch._dynamo)", f"{opening:.0f}", "-", "-"],
                _stall_row("idle viewer (reference)", stalls(seconds / 2))]
        for name in ("first training" + (" of a fresh process" if fresh else ""),
                     "second training"):
            late = stalls(seconds, start=start, busy=training)
            steps, _ = widget.plot.curves()["training"]
            rows.append(_stall_row(f"{name} in the Train widget ({len(steps)} steps)", late))
        return rows
    finally:
        viewer.close()


def _stall_row(name: str, late: list[float]) -> list[str]:
    return [name, f"{max(late):.0f}", f"{statistics.median(late):.1f}", str(len(late))]


def fresh_process_rows(seconds: float) -> list[list[str]]:
    """:func:`responsiveness_rows` in a new Python process, as a user's first training runs.

    Run in this process, earlier benchmarks would already have imported
    what the first training imports.
    """
    result = subprocess.run([sys.executable, __file__, str(seconds)], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def scatter_rows(count: int, side: int = 28) -> list[list[str]]:
    """Time of each latent-scatter operation on ``count`` frames of ``side`` pixels.

    Two columns (ms): the operation's own Python time, and the longest stall
    of the event loop around it, which adds napari's redraw.
    """
    import napari

    from napari_autoencoders.core.latent.encoding import Encoding
    from napari_autoencoders.widgets.scatter import LatentScatter

    viewer = napari.Viewer(show=True)
    try:
        source = viewer.add_image(np.zeros((count, side, side), np.uint8), name="frames")
        rng = np.random.default_rng(0)
        codes = rng.random((count, 4), dtype=np.float32)
        encoding = Encoding(codes, np.arange(count), np.zeros((count, 2)), "frame")
        made = []

        def add() -> None:
            made.append(LatentScatter(viewer, source, encoding, codes[:, :2],
                                      rng.integers(0, 10, count), size=side, stack_axes=(0,)))

        def recolour() -> None:
            made[0].set_clusters(rng.integers(0, 10, count))

        def select() -> None:
            made[0].points.selected_data = set(range(0, count, max(1, count // 1000)))

        stalls(1.0)  # let the viewer finish drawing itself
        rows = []
        for name, operation in (
            (f"add the {count:,}-point layer", add),
            (f"recolour {count:,} points by new clusters", recolour),
            ("select 1,000 points (the slider follows)", select),
        ):
            took = []
            late = stalls(1.0, start=lambda op=operation: took.append(_timed(op)))
            rows.append([name, f"{took[0] * 1e3:.0f}", f"{max(late):.0f}"])
        return rows
    finally:
        viewer.close()


def _timed(operation) -> float:
    """Seconds ``operation()`` takes."""
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def run(quick: bool = False) -> list[dict]:
    """Return the responsiveness table (``quick``: a short, tiny training)."""
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        raise RuntimeError("bench/responsiveness.py needs a display; run it with xvfb-run -a.")
    seconds = 1.0 if quick else 30.0
    return [
        {
            "title": "Responsiveness: napari's event loop while training",
            "note": f"A {TICK_MS} ms Qt timer records how late each tick fires; two trainings "
            f"of {seconds:g} s with the widget's default network and batch"
            + (" (tiny in --quick)" if quick else ", in a fresh Python process, as a user's "
               "first training runs")
            + "; target: longest stall under 100 ms.",
            "header": ["viewer", "longest stall (ms)", "median lateness (ms)", "ticks"],
            "rows": responsiveness_rows(seconds, quick) if quick else fresh_process_rows(seconds),
        },
        {
            "title": "Responsiveness: a latent scatter of many points",
            "note": "The same timer while the Latent scatter's layer is made (points, "
            "features, colours) for a stack of 28x28 frames, recoloured by new clusters and "
            "partly selected, each started from the event loop. The stall adds napari's "
            "redraw, which under Xvfb is software OpenGL (Mesa) on the CPU.",
            "header": ["operation", "operation (ms)", "longest stall (ms)"],
            "rows": scatter_rows(1_000 if quick else 100_000),
        },
    ]


if __name__ == "__main__":  # the fresh process of fresh_process_rows
    print(json.dumps(responsiveness_rows(float(sys.argv[1]), quick=False)))
