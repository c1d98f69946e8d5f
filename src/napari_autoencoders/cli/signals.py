"""Ctrl-C and SIGTERM: both stop a command the same way, and nothing half-written is kept.

While a command runs, SIGTERM (a scheduler's time limit, ``kill``) raises
:class:`Interrupted` in the main thread as Ctrl-C raises
``KeyboardInterrupt``; outputs are written to temporary files renamed when
complete, so the exception leaves the previous files as they were. A training
instead stops gracefully at the first signal (:func:`stop_on_signals`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator

#: The signals that stop a command.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM, raised in the main thread.

    Parameters
    ----------
    signum : int
        The signal received.
    message : str
        What was kept, for the one line the command line prints.
    """

    def __init__(self, signum: int = signal.SIGINT, message: str = ""):
        super().__init__(message)
        self.signum = signum


def signal_name(signum: int) -> str:
    """``"Ctrl-C"`` for SIGINT, else the signal's name, e.g. ``"SIGTERM"``."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def signal_of(interrupt: KeyboardInterrupt) -> int:
    """The signal behind ``interrupt``: its own for :class:`Interrupted`, else SIGINT."""
    return getattr(interrupt, "signum", signal.SIGINT)


def _can_handle(signum: int) -> bool:
    """Whether this thread can set a handler for ``signum`` and the process does not ignore it."""
    main = threading.current_thread() is threading.main_thread()
    return main and signal.getsignal(signum) is not signal.SIG_IGN


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` as Ctrl-C raises KeyboardInterrupt.

    The previous handler is restored afterwards. Outside the main thread,
    where Python cannot set handlers, or where SIGTERM is ignored, the block
    runs unchanged.
    """
    if not _can_handle(signal.SIGTERM):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclasses.dataclass
class Stop:
    """What :func:`stop_on_signals` received: the first signal, or None."""

    signum: int | None = None


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[Stop]:
    """Within the block, the first Ctrl-C or SIGTERM calls ``stop``; a second raises.

    Lets a training finish the step under way and validate it instead of
    dying mid-step: the first signal only asks it to stop (and is recorded
    in the yielded :class:`Stop`); a second raises :class:`Interrupted`
    for those who cannot wait. The previous handlers are restored
    afterwards. Outside the main thread the block runs unchanged; a signal
    that is ignored (SIGINT in a shell's background job) stays ignored.
    """
    received = Stop()
    signums = [signum for signum in STOP_SIGNALS if _can_handle(signum)]

    def handle(signum: int, frame) -> None:
        if received.signum is not None:
            raise Interrupted(signum)
        received.signum = signum
        stop()  # no printing here: the handler may interrupt a print under way

    previous = {signum: signal.signal(signum, handle) for signum in signums}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
