"""What the widgets' worker threads share."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

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
