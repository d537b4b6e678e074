"""SIGTERM handled like Ctrl-C while a remote run is in flight, so `finally` cleanup always runs.

A service manager, `timeout`, a CI runner or `kill` ends a process with SIGTERM, whose default action kills it
without unwinding: the remote session, its uploads and a throwaway environment would be left running and
billing. Inside `terminate_like_interrupt()` the first SIGTERM (or SIGINT) raises `Interrupted` (a
`KeyboardInterrupt`) in the main thread, so every `finally` block runs exactly as after Ctrl-C; further
SIGTERM/SIGINT signals are ignored until the block is left, so cleanup is not cut short by an impatient
second signal. Outside the main thread (where Python cannot install handlers) it does nothing.

`deferred_signals()` protects a cleanup from being cut short by a signal that arrives while it runs (say, a
SIGTERM just as a finished run deletes its session): within it SIGTERM/SIGINT are only noted; when it ends, the
previous handlers are back and the first noted signal is raised again, so it then has its usual effect.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (`signum`); cleanup ran in the unwinding."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_fired: list[int] = []  # signals caught by the active `terminate_like_interrupt` block (main thread only)


@contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `Interrupted` once; repeats are ignored until it ends.

    A handler's exception can be swallowed when the signal lands in code that ignores exceptions (a finalizer,
    a `__del__`): the signal is also recorded, `checkpoint()` raises it again from the main flow, and a block
    that ends without it having propagated raises it at its end (after the body, hence after its cleanup)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in watched}
    _fired.clear()

    def handler(signum: int, frame: FrameType | None) -> None:
        for s in watched:  # cleanup runs next: a second signal must not abandon it halfway
            signal.signal(s, signal.SIG_IGN)
        _fired.append(signum)
        raise Interrupted(signum)

    for s in watched:
        signal.signal(s, handler)
    try:
        yield
    except Interrupted:
        raise
    except BaseException as e:
        if _fired:
            raise Interrupted(_fired[0]) from e
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if _fired:  # the body finished although a signal arrived: its exception was swallowed somewhere
        raise Interrupted(_fired.pop(0))


def checkpoint() -> None:
    """Raise `Interrupted` if a signal was caught in this block but its exception did not propagate (call from
    the main flow of a long operation, never from cleanup)."""
    if _fired and threading.current_thread() is threading.main_thread():
        raise Interrupted(_fired[0])


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Within the block SIGTERM and SIGINT are held; the first one is re-delivered when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in watched}
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    for s in watched:
        signal.signal(s, hold)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if pending:
            signal.raise_signal(pending[0])
