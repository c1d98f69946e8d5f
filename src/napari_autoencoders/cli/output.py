"""What the commands print: messages, and progress bars that follow the core's generators."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

from tqdm import tqdm

from ..core.training import Trainer
from .signals import signal_of, stop_on_signals

R = TypeVar("R")

#: Resolution of the training progress bar (it follows the event's fraction).
BAR_STEPS = 1000


def printer(quiet: bool) -> Callable[[str], None]:
    """``print``, or a function that prints nothing when ``quiet``."""
    return (lambda message: None) if quiet else print


def train_with_bar(trainer: Trainer, *, quiet: bool) -> int | None:
    """Drive the training with a progress bar; return the signal that stopped it, or None.

    The first Ctrl-C or SIGTERM asks the trainer to stop after the step
    under way; the epoch so far is then validated, so the weights it reached
    can be kept. A second one stops at once: the last validated weights are
    kept, if any.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or infinite; the trainer keeps its best
        validated weights.
    """
    bar = tqdm(total=BAR_STEPS, disable=quiet, bar_format="{l_bar}{bar}| {elapsed}{postfix}")
    events = trainer.run()
    val_loss = None
    with stop_on_signals(trainer.stop) as stop:
        try:
            for event in events:
                val_loss = event.val_loss if event.val_loss is not None else val_loss
                bar.update(max(0, round(event.fraction * BAR_STEPS) - bar.n))
                postfix = {"step": event.step, "loss": f"{event.loss:.4g}"}
                if val_loss is not None:
                    postfix["val"] = f"{val_loss:.4g}"
                if stop.signum is not None:
                    postfix["stopping"] = "validating (Ctrl-C again: stop now)"
                bar.set_postfix(postfix, refresh=stop.signum is not None)
        except KeyboardInterrupt as interrupt:  # a second signal, or raised by other means
            trainer.stop()
            # finishes the epoch under way (validating it) if the interrupt left it suspended
            for _ in events:
                pass
            return signal_of(interrupt)
        finally:
            bar.close()
    return stop.signum


def run_with_bar(steps: Generator[tuple[int, int], None, R], *, quiet: bool, unit: str = "tile") -> R:
    """Drive a core generator of ``(done, total)`` with a progress bar; return its value."""
    try:
        done, total = next(steps)  # checks the input before a bar appears
    except StopIteration as end:
        return end.value
    with tqdm(total=total, initial=done, unit=unit, disable=quiet) as bar:
        while True:
            try:
                done, _ = next(steps)
            except StopIteration as end:
                return end.value
            bar.update(done - bar.n)
