"""Progress generators, and stopping work that yields nothing.

The core's long computations yield ``(done, total)`` and return a value. The
widgets' workers and the command line show the steps; :func:`run` drives a
generator silently for callers that only want its value.

Work between yields that can take many seconds (a training's preparation:
measuring a large stack's noise) calls :func:`checkpoint` between its parts,
which raises :class:`Cancelled` inside :func:`stoppable` once its caller
asks to stop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

R = TypeVar("R")

#: The current thread's question "asked to stop?", set by :func:`stoppable`.
_SHOULD_STOP: ContextVar[Callable[[], bool] | None] = ContextVar("should_stop", default=None)


class Cancelled(Exception):
    """Raised by :func:`checkpoint` where the caller of :func:`stoppable` asked to stop."""


@contextmanager
def stoppable(should_stop: Callable[[], bool]) -> Iterator[None]:
    """In this block (this thread), :func:`checkpoint` raises :class:`Cancelled` once ``should_stop()``."""
    token = _SHOULD_STOP.set(should_stop)
    try:
        yield
    finally:
        _SHOULD_STOP.reset(token)


def checkpoint() -> None:
    """Raise :class:`Cancelled` if the enclosing :func:`stoppable` asks to stop; else do nothing."""
    should_stop = _SHOULD_STOP.get()
    if should_stop is not None and should_stop():
        raise Cancelled


def run(generator: Generator[object, None, R]) -> R:
    """Drive a progress generator to its end and return its value."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
