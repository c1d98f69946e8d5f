"""Timing helpers for the speed benchmarks: medians of interleaved runs, and ratios.

Absolute times on a shared machine drift from minute to minute, so every
speed figure is a ratio against a reference timed in the same run, with the
runs of the measured code and of its reference interleaved.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_times(*functions: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Median seconds of each of ``functions``, timed in turn ``repeats`` times.

    The functions take turns (a, b, a, b, ...) so that a slow spell of the
    machine hits them alike; ``warmup`` untimed rounds come first.
    """
    seconds: list[list[float]] = [[] for _ in functions]
    for round_ in range(warmup + repeats):
        for function, times in zip(functions, seconds):
            start = time.perf_counter()
            function()
            if round_ >= warmup:
                times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in seconds]


def median_time(function: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of ``function`` over ``repeats`` timed runs after ``warmup`` untimed ones."""
    return median_times(function, repeats=repeats, warmup=warmup)[0]


def ratio(value: float, reference: float) -> str:
    """``value / reference`` to two decimals, e.g. ``"0.97"``."""
    return f"{value / reference:.2f}"
