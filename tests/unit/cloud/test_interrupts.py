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


def test_a_swallowed_interrupt_is_raised_again_by_checkpoint_and_at_the_end_of_the_block() -> None:
    from auraquant.cta.cloud.interrupts import checkpoint

    def finalizer_like() -> None:  # code that ignores exceptions, as a __del__ does
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
        except BaseException:
            pass

    with pytest.raises(Interrupted), terminate_like_interrupt():
        finalizer_like()
        checkpoint()  # the main flow notices at its next checkpoint
        pytest.fail("checkpoint did not raise")  # pragma: no cover
    with pytest.raises(Interrupted) as exc, terminate_like_interrupt():
        finalizer_like()
        done = "the body completed"  # no checkpoint on the way: the block's end raises it
    assert done and exc.value.signum == signal.SIGTERM
