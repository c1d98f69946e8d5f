"""What the widgets' worker threads share."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from napari.utils.notifications import show_warning

Y = TypeVar("Y")
R = TypeVar("R")


class WorkerError(Exception):
    """A computation in a worker thread failed with a ``RuntimeError``.

    superqt's workers take a ``RuntimeError`` for the sign of a deleted Qt
    object and then emit neither ``errored`` nor ``finished``. Torch reports
    its own failures (out of memory, a broken device) as ``RuntimeError``, so
    they are raised again as this type to reach the user.
    """


def guarded(generator: Generator[Y, None, R]) -> Generator[Y, None, R]:
    """Yield from ``generator``, return its value, and raise its ``RuntimeError`` as WorkerError."""
    try:
        return (yield from generator)
    except RuntimeError as err:
        raise WorkerError(str(err)) from err


def relay_warning(warning: tuple) -> None:
    """Show a worker's warning (``warnings.showwarning``'s arguments) as a notification.

    Connect it to a worker's ``warned``: napari 0.9.2's workers do not relay
    their warnings themselves, and the core's (the prior kept on clipped
    noise, objects larger than a crop, codes all the same) went unseen.
    Warnings meant for developers are left out: the worker records every
    warning, so umap-learn's ImportWarning of a missing TensorFlow would
    reach the user.
    """
    if not issubclass(warning[1], _FOR_DEVELOPERS):
        show_warning(str(warning[0]))


_FOR_DEVELOPERS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning)
