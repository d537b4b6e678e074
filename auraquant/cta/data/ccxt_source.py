"""CCXT OHLCV source: paginated, rate-limited, retried and resumable download of *closed* bars.

Semantics of `fetch_ohlcv`:
- Range: bars whose open time `t` satisfies `since_ms <= t < until_ms` (until is exclusive; open-ended when
  None), and which are closed by the exchange's clock: `t + timeframe <= now`, where `now` is read once from
  the exchange (`fetch_time`, or the local clock when the exchange has none) before the first page. A bar
  still forming is never returned; bars that close while a long download runs are left for the next resume.
- Pagination: page k+1 starts at (last bar of page k) + timeframe. Stops at `until_ms`, at an empty page,
  when a page makes no progress, or when the next bar cannot be closed yet.
- Robustness: ccxt's own rate limiter is on (`enableRateLimit=True`). Transient failures (ccxt
  `OperationFailed`: HTTP 429/418 rate limits, 5xx, timeouts, dropped connections, malformed responses) are
  retried up to `max_retries` times, waiting `backoff_s * 2**attempt` seconds, or the server's
  `Retry-After` when that is longer (the schedule of `aura.retry.RetryPolicy`, without jitter). Anything else, or exhaustion, raises `FetchError` naming the request.
- Checkpoints: `on_page(frame)` receives each page's closed in-range bars as soon as they arrive. A caller
  that persisted them resumes after an interruption with `since_ms = last stored bar + timeframe`; the
  result of the resumed fetch plus the stored pages equals an uninterrupted fetch.

- Re-sent bars (an exchange may serve one bar twice, possibly with different values): within one page the
  copy later in the page wins (the exchange's last word in that answer). Across pages the first page that
  delivered a bar wins: a page's bars before its cursor (which the previous page already delivered) are
  dropped. The earlier copy may already have gone to `on_page` and been stored, and a resumed fetch never
  asks for it again, so letting a later page overwrite it would make an uninterrupted fetch differ from a
  resumed one. The bars are closed, so a well-behaved exchange serves the same values either way.

Frames have columns time (bar open, datetime64[ns, UTC]), open, high, low, close, volume (float64), sorted
by time with one row per time (which copy, see "Re-sent bars").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pandas as pd

from aura.retry import RetryPolicy
from auraquant.cta.data.timeframes import OHLCV, timeframe_ms
from auraquant.errors import UserError

COLUMNS = ["time", *OHLCV]

# A Retry-After longer than this is a ban (Binance answers 418 with hours), not a pause worth sleeping through.
_MAX_RETRY_AFTER_S = 600.0

# Indirection so tests can observe the backoff schedule without waiting it out.
_sleep = time.sleep


class FetchError(UserError, RuntimeError):
    """Fetching from the exchange failed for good: a non-transient error, or retries were exhausted."""


def make_exchange(exchange_id: str, *, api_base_url: str | None = None, **config: Any) -> ccxt.Exchange:
    """A synchronous ccxt client for `exchange_id` with the rate limiter on.

    `config` is ccxt's constructor config (e.g. `timeout`, `options={'defaultType': 'spot'}`);
    `enableRateLimit` defaults to True. `api_base_url` (e.g. `http://127.0.0.1:8123`) re-roots every entry
    of `exchange.urls['api']` at that origin, keeping each path, so the client talks to a local server.
    """
    cls = getattr(ccxt, exchange_id, None)
    if not (isinstance(cls, type) and issubclass(cls, ccxt.Exchange)):
        raise FetchError(f"unknown ccxt exchange {exchange_id!r} (see ccxt.exchanges for the supported ids)")
    ex: ccxt.Exchange = cls({"enableRateLimit": True, **config})
    if api_base_url is not None:
        ex.urls["api"] = _reroot(ex.urls["api"], api_base_url.rstrip("/"))
    return ex


def fetch_ohlcv(exchange: str | ccxt.Exchange, symbol: str, timeframe: str, *, since_ms: int,
                until_ms: int | None = None, page_limit: int = 1000, max_retries: int = 5,
                backoff_s: float = 1.0, on_page: Callable[[pd.DataFrame], None] | None = None,
                exchange_options: Mapping[str, Any] | None = None,
                progress: Callable[[int, int | None], None] | None = None) -> pd.DataFrame:
    """Download closed `timeframe` bars of `symbol` in `[since_ms, until_ms)`; see the module docstring.

    `exchange` is a ccxt id (built with `make_exchange(exchange, **exchange_options)`) or a ready client
    (whose rate limiter is switched on).
    `progress(bars_so_far, expected)` follows each page; `expected` is the number of bar slots in the range
    (an upper bound: exchange gaps make it smaller). Exceptions raised by `on_page` propagate unchanged.
    """
    step = timeframe_ms(timeframe)
    if since_ms < 0:
        raise ValueError(f"since_ms must be >= 0, got {since_ms}")
    if until_ms is not None and until_ms <= since_ms:
        raise ValueError(f"until_ms ({until_ms}) must be after since_ms ({since_ms})")
    if page_limit < 1 or max_retries < 0 or backoff_s < 0:
        raise ValueError("page_limit must be >= 1, max_retries >= 0 and backoff_s >= 0")
    if isinstance(exchange, ccxt.Exchange):
        if exchange_options:
            raise ValueError("exchange_options only apply when the exchange is given by id")
        ex = exchange
        ex.enableRateLimit = True  # politeness is not optional, whoever built the client
    else:
        ex = make_exchange(exchange, **dict(exchange_options or {}))
    what = f"{ex.id} {symbol} {timeframe}"

    def call(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return _with_retries(ex, f"{what}: {label}", max_retries, backoff_s, fn, *args, **kwargs)

    call("load_markets", ex.load_markets)
    if ex.timeframes and timeframe not in ex.timeframes:
        raise FetchError(f"{what}: {ex.id} has no timeframe {timeframe!r}; it offers {sorted(ex.timeframes)}")
    now = call("fetch_time", ex.fetch_time) if ex.has.get("fetchTime") else ex.milliseconds()
    end = now - step + 1 if until_ms is None else min(until_ms, now - step + 1)  # open times < end are wanted
    expected = max(0, -(-(end - since_ms) // step))

    pages: list[pd.DataFrame] = []
    got = 0
    cursor = since_ms
    while cursor < end:
        rows = call(f"fetch_ohlcv since {_iso(cursor)}", ex.fetch_ohlcv, symbol, timeframe, since=cursor,
                    limit=page_limit)
        if not rows:
            break
        last = max(int(r[0]) for r in rows)
        page = _frame([r for r in rows if cursor <= int(r[0]) < end])
        if len(page):
            pages.append(page)
            got += len(page)
            if on_page is not None:
                on_page(page)
            if progress is not None:
                progress(got, expected)
        if last < cursor:  # the exchange ignored `since` and has nothing at or after it
            break
        cursor = last + step
    if not pages:
        return _frame([])
    # Each page keeps only bars at or after its cursor, which is past every bar of the pages before it:
    # the pages are disjoint and ascending, so their concatenation is the frame (see "Re-sent bars").
    return pd.concat(pages, ignore_index=True)


def _with_retries(ex: ccxt.Exchange, label: str, max_retries: int, backoff_s: float,
                  fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # The schedule is the shared retry policy without jitter: retry k waits backoff_s * 2**(k-1), or the
    # server's Retry-After when longer (a longer one than _MAX_RETRY_AFTER_S is a ban and ends the fetch).
    policy = RetryPolicy(max_attempts=max_retries + 1, base_delay_s=backoff_s, multiplier=2.0,
                         max_delay_s=_MAX_RETRY_AFTER_S, jitter=0.0)
    delays = policy.delays()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return fn(*args, **kwargs)
        except ccxt.OperationFailed as e:  # transient by ccxt's taxonomy: network, rate limit, 5xx, bad response
            if attempt == policy.max_attempts:
                raise FetchError(f"{label} failed after {max_retries} retries: {type(e).__name__}: {e}") from e
            retry_after = None
            if isinstance(e, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
                retry_after = _retry_after_s(ex)
                if retry_after is not None and retry_after > _MAX_RETRY_AFTER_S:
                    raise FetchError(f"{label}: the exchange asks to wait {retry_after:.0f}s "
                                     f"(Retry-After); giving up: {e}") from e
            _sleep(delays.delay(attempt, retry_after))
        except ccxt.BaseError as e:
            raise FetchError(f"{label} failed (not retried): {type(e).__name__}: {e}") from e
    raise AssertionError("unreachable")


def _retry_after_s(ex: ccxt.Exchange) -> float | None:
    # ccxt records the failed response's headers before raising, so these belong to the rate-limit reply.
    headers = ex.last_response_headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date; the exponential backoff applies instead


def _frame(rows: list[list[Any]]) -> pd.DataFrame:
    raw = pd.DataFrame([r[:6] for r in rows], columns=COLUMNS)
    out = pd.DataFrame({"time": pd.to_datetime(raw["time"].astype("int64"), unit="ms", utc=True)
                        .astype("datetime64[ns, UTC]")})
    for col in OHLCV:
        out[col] = pd.to_numeric(raw[col], errors="coerce").astype("float64")
    return out.drop_duplicates("time", keep="last").sort_values("time", kind="stable").reset_index(drop=True)


def _reroot(urls: Any, origin: str) -> Any:
    if isinstance(urls, str):
        parts = urlsplit(urls)
        return origin + parts.path + (f"?{parts.query}" if parts.query else "")
    if isinstance(urls, dict):
        return {k: _reroot(v, origin) for k, v in urls.items()}
    return urls


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


__all__ = ["COLUMNS", "FetchError", "fetch_ohlcv", "make_exchange"]
