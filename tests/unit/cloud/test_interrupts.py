"""SIGTERM unwinds like Ctrl-C, once; a signal during cleanup waits for the cleanup to finish."""

from __future__ import annotations

import os
import signal

import pytest

from auraquant.cta.cloud.interrupts import Interrupted, deferred_signals, terminate_like_interrupt


def test_sigterm_raises_interrupted_once_and_later_signals_wait_for_the_unwinding() -> None:
    before = signal.getsignal(signal.SIGTERM)
    unwound = []
    with pytest.raises(Interrupted) as exc, terminate_like_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            pytest.fail("SIGTERM did not interrupt")  # pragma: no cover
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second, impatient signal during cleanup: ignored
            unwound.append("cleanup ran")
    assert exc.value.signum == signal.SIGTERM and isinstance(exc.value, KeyboardInterrupt)
    assert unwound == ["cleanup ran"]
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_a_signal_during_a_deferred_cleanup_takes_effect_after_it() -> None:
    steps = []
    with pytest.raises(Interrupted), terminate_like_interrupt():
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("still cleaning")  # not cut short
        steps.append("never reached")  # pragma: no cover
    assert steps == ["still cleaning"]
