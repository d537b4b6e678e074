"""One retry policy (`aura.retry.RetryPolicy`) drives both retry loops: the engine's model calls and the
exchange downloads. These tests pin the exchange loop's schedule to the policy's."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from aura.retry import RetryPolicy
from aura.runtime import RetryPolicy as RuntimeRetryPolicy
from auraquant.cta.data import ccxt_source
from auraquant.cta.data.ccxt_source import FetchError


class _Exchange:
    """Just what the loop reads from a ccxt client: the headers of the last response."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.last_response_headers = headers or {}


def _failing(errors: list[Exception], result: Any = "ok") -> Any:
    def fn() -> Any:
        if errors:
            raise errors.pop(0)
        return result
    return fn


def test_one_policy_class() -> None:
    assert RuntimeRetryPolicy is RetryPolicy


def test_policy_schedule_without_jitter() -> None:
    d = RetryPolicy(base_delay_s=0.5, multiplier=2.0, max_delay_s=3.0, jitter=0.0).delays()
    assert [d.delay(k) for k in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert d.delay(1, retry_after_s=2.5) == 2.5 and d.delay(1, retry_after_s=99) == 3.0


def test_exchange_loop_waits_the_policy_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(ccxt_source, "_sleep", waits.append)
    errors: list[Exception] = [ccxt.NetworkError("reset"), ccxt.ExchangeNotAvailable("503"),
                               ccxt.RequestTimeout("slow")]
    assert ccxt_source._with_retries(_Exchange(), "x", 3, 0.25, _failing(errors)) == "ok"
    expected = RetryPolicy(base_delay_s=0.25, multiplier=2.0, jitter=0.0, max_delay_s=600.0).delays()
    assert waits == [expected.delay(k) for k in (1, 2, 3)] == [0.25, 0.5, 1.0]


def test_exchange_loop_honours_and_bounds_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(ccxt_source, "_sleep", waits.append)
    ex = _Exchange({"Retry-After": "7"})
    assert ccxt_source._with_retries(ex, "x", 2, 0.25, _failing([ccxt.RateLimitExceeded("429")])) == "ok"
    assert waits == [7.0]  # longer than the backoff: the server's word wins
    with pytest.raises(FetchError, match="asks to wait 3600s"):  # a ban, not a pause
        ccxt_source._with_retries(_Exchange({"Retry-After": "3600"}), "x", 2, 0.25,
                                  _failing([ccxt.DDoSProtection("418")]))
    with pytest.raises(FetchError, match="failed after 1 retries"):
        ccxt_source._with_retries(_Exchange(), "x", 1, 0.0, _failing([ccxt.NetworkError("a"), ccxt.NetworkError("b")]))
    with pytest.raises(FetchError, match="not retried"):
        ccxt_source._with_retries(_Exchange(), "x", 5, 0.0, _failing([ccxt.BadSymbol("nope")]))
    assert waits == [7.0, 0.0]
