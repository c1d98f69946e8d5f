"""Progress generators: the core's long computations yield ``(done, total)`` and return a value.

The widgets' workers and the command line show the steps; :func:`run` drives
a generator silently for callers that only want its value.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

R = TypeVar("R")


def run(generator: Generator[object, None, R]) -> R:
    """Drive a progress generator to its end and return its value."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
