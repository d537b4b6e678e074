"""A local emulator of the Binance spot REST API, enough for ccxt's `binance` client to load markets and page
through klines: `GET /api/v3/time`, `/api/v3/exchangeInfo`, `/api/v3/klines`.

Klines follow Binance's semantics: `symbol` and `interval` required; `startTime` / `endTime` inclusive bounds
on the bar open time; `limit` default 500, max 1000; ascending; without `startTime` the latest bars up to
`endTime` (or now) are served. Bars are epoch-aligned, exist from `listing_ms` up to and including the one
still forming at `now_ms` (a settable, frozen clock), and are deterministic for a seed: the same bar has the
same values whichever request serves it. Prices and volumes are served as 8-decimal strings.

Re-sent bars (`resend`): pages that overlap the previous one (the `n` bars before `startTime` come first)
and/or repeat their first bar at the end of the page, each re-sent copy with prices and volume scaled by a
factor, so a client's choice between two copies of one bar is visible in its output.

Fault injection per path (`fail_next`): HTTP 429 with Binance's `-1003` body and a `Retry-After` header,
HTTP 500 with Binance's `-1001` body, HTTP 503 with a gateway HTML page, or `drop` (headers promise the full
body, half of it is sent, the connection is closed). Every request is logged with its outcome.

Use as a context manager (`tests.support.http_harness.HttpHarness`): it binds 127.0.0.1 on an ephemeral port,
serves from a daemon thread, and on exit stops like a dying process (open connections cut).
"""

from __future__ import annotations

import threading
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from tests.support.http_harness import Exchange, HttpHarness, json_bytes

JSON_WIRE = "application/json;charset=UTF-8"  # Binance's Content-Type
Fault = Literal["429", "500", "503", "drop"]

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000,
}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str]
    outcome: int | str  # HTTP status, or "drop"
    at: float  # time.monotonic() when the request arrived (before any work on it, so gaps are the client's)


class ExchangeServer(HttpHarness):
    thread_name = "exchange-server"

    def __init__(self, *, now_ms: int, listing_ms: int, markets: tuple[tuple[str, str], ...] = (("BTC", "USDT"),),
                 seed: int = 7, retry_after_s: int = 0) -> None:
        super().__init__()
        self.now_ms = now_ms
        self.listing_ms = listing_ms
        self.markets = markets
        self.seed = seed
        self.retry_after_s = retry_after_s
        self.requests: list[Request] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._overlap = 0
        self._repeat_first = False
        self._resend_factor = 1.0
        self.resent = 0  # re-sent copies put on the wire so far
        self._series: dict[tuple[str, str], pd.DataFrame] = {}
        self._lock = threading.Lock()

    # -- test controls ---------------------------------------------------------------------------------------
    def fail_next(self, path: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests to `path` (e.g. `/api/v3/klines`) fail with `fault`."""
        with self._lock:
            self._faults.setdefault(path, deque()).extend([fault] * times)

    def resend(self, *, overlap: int = 0, repeat_first: bool = False, factor: float = 1.01) -> None:
        """Re-send bars on every klines page with a `startTime`: the `overlap` bars before it prepended (for
        every page after the first, bars the previous page already served, as if the exchange ignored part
        of the cursor), and with `repeat_first` the page's first bar appended again at its end;
        every re-sent copy has open/high/low/close/volume multiplied by `factor`."""
        with self._lock:
            self._overlap, self._repeat_first, self._resend_factor = overlap, repeat_first, factor

    def count(self, path: str, outcome: int | str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and (outcome is None or r.outcome == outcome))

    def log(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def bars(self, symbol: str, interval: str) -> pd.DataFrame:
        """Every bar the server can serve (through the one open at `now_ms`), with values as served.

        Columns: time (open, UTC), open, high, low, close, volume (float64, parsed from the served strings).
        """
        full = self._full_series(symbol, interval)
        return full[full["open_ms"] <= self.now_ms].drop(columns="open_ms").reset_index(drop=True)

    # -- data ------------------------------------------------------------------------------------------------
    def _full_series(self, symbol: str, interval: str) -> pd.DataFrame:
        with self._lock:
            key = (symbol, interval)
            cached = self._series.get(key)
            if cached is None or cached["open_ms"].iloc[-1] + INTERVAL_MS[interval] <= self.now_ms:
                cached = self._series[key] = _synthetic(symbol, interval, self.listing_ms, self.now_ms, self.seed)
            return cached

    def _klines(self, params: dict[str, str]) -> tuple[int, object]:
        symbol, interval = params.get("symbol"), params.get("interval")
        if symbol not in {b + q for b, q in self.markets}:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if interval not in INTERVAL_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= MAX_LIMIT:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
        full = self._full_series(symbol, interval)
        t = full["open_ms"].to_numpy()
        mask = t <= self.now_ms
        if end is not None:
            mask &= t <= end
        if start is not None:
            mask &= t >= start
            sel = full[mask].head(limit)
        else:
            sel = full[mask].tail(limit)
        step = INTERVAL_MS[interval]

        def row(r: Any, k: float = 1.0) -> list[object]:
            o, h, lo, c, v = (k * getattr(r, f) for f in ("open", "high", "low", "close", "volume"))
            return [int(r.open_ms), f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}",
                    int(r.open_ms) + step - 1, f"{v * c:.8f}", 100, f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0"]

        rows = [row(r) for r in sel.itertuples(index=False)]
        with self._lock:
            overlap, repeat_first, k = self._overlap, self._repeat_first, self._resend_factor
        resent: list[list[object]] = []
        if start is not None and overlap and rows:
            before = full[(t < start) & (t <= self.now_ms)].tail(overlap)
            resent = [row(r, k) for r in before.itertuples(index=False)]
        tail = [row(next(sel.itertuples(index=False)), k)] if repeat_first and rows else []
        with self._lock:
            self.resent += len(resent) + len(tail)
        return 200, resent + rows + tail

    def _exchange_info(self) -> dict[str, object]:
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms,
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                            "limit": 6000}],
            "exchangeFilters": [],
            "symbols": [_symbol_info(base, quote) for base, quote in self.markets],
        }

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, object]:
        if path == "/api/v3/time":
            return 200, {"serverTime": self.now_ms}
        if path == "/api/v3/exchangeInfo":
            return 200, self._exchange_info()
        if path == "/api/v3/klines":
            return self._klines(params)
        return 404, None

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            q = self._faults.get(path)
            return q.popleft() if q else None

    def _record(self, ex: Exchange, outcome: int | str) -> None:
        with self._lock:
            self.requests.append(Request(ex.path, ex.query, outcome, ex.received_at))

    # -- wire ------------------------------------------------------------------------------------------------
    def respond(self, ex: Exchange) -> None:
        """Every GET: an injected fault for the path if one is queued, else the endpoint's answer."""
        if ex.method != "GET":
            ex.send_bytes(405, b"<html><body><h1>405 Method Not Allowed</h1></body></html>", "text/html")
            return
        path, params = ex.path, ex.query
        fault = self._next_fault(path)
        if fault == "429":
            self._record(ex, 429)
            ex.send_json(429, {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request "
                               "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                               "polling the API."}, {"Retry-After": str(self.retry_after_s)},
                         content_type=JSON_WIRE, compact=True)
            return
        if fault == "500":
            self._record(ex, 500)
            ex.send_json(500, {"code": -1001, "msg": "Internal error; unable to process your request. "
                               "Please try again."}, content_type=JSON_WIRE, compact=True)
            return
        if fault == "503":
            self._record(ex, 503)
            ex.send_bytes(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                          "text/html")
            return
        status, payload = self._answer(path, params)
        if fault == "drop":
            self._record(ex, "drop")
            # Headers promise the full body; half of it is sent and the connection closed.
            body = json_bytes(payload)
            ex.send_bytes(status, body, JSON_WIRE, truncate_to=len(body) // 2)
            return
        self._record(ex, status)
        if payload is None:
            ex.send_bytes(status, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        else:
            ex.send_json(status, payload, content_type=JSON_WIRE, compact=True)


def _symbol_info(base: str, quote: str) -> dict[str, object]:
    return {
        "symbol": base + quote, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _synthetic(symbol: str, interval: str, listing_ms: int, now_ms: int, seed: int) -> pd.DataFrame:
    """Seeded random-walk bars from the first aligned bar at/after listing through the one open at now."""
    step = INTERVAL_MS[interval]
    first = -(-listing_ms // step) * step
    open_ms = np.arange(first, now_ms // step * step + step, step, dtype=np.int64)
    n = len(open_ms)
    # One stream per column, so a later `now` extends the series without changing any earlier bar.
    streams = np.random.SeedSequence([seed, zlib.crc32(symbol.encode()), step]).spawn(4)
    r_close, r_high, r_low, r_vol = (np.random.default_rng(s) for s in streams)
    close = 20_000.0 * np.exp(np.cumsum(r_close.normal(0.0, 0.01, n)))
    open_ = np.concatenate([[20_000.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(r_high.normal(0.0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(r_low.normal(0.0, 0.004, n)))
    volume = r_vol.lognormal(3.0, 0.5, n)
    # Round to what the wire carries so expected values equal the parsed served strings exactly.
    frame = pd.DataFrame({"open_ms": open_ms, "open": open_, "high": high, "low": low, "close": close,
                          "volume": volume})
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = [float(f"{v:.8f}") for v in frame[col]]
    frame.insert(1, "time", pd.to_datetime(open_ms, unit="ms", utc=True).astype("datetime64[ns, UTC]"))
    return frame
