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

Use as a context manager; it binds 127.0.0.1 on an ephemeral port and serves from a daemon thread.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

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
    at: float  # time.monotonic() when the response was decided


class ExchangeServer:
    def __init__(self, *, now_ms: int, listing_ms: int, markets: tuple[tuple[str, str], ...] = (("BTC", "USDT"),),
                 seed: int = 7, retry_after_s: int = 0) -> None:
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
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> ExchangeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="exchange-server",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop like a dying process: stop accepting, and cut every open (keep-alive) connection."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            with self._lock:
                conns, self._conns = list(self._conns), set()
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

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

    def _respond(self, path: str, params: dict[str, str]) -> tuple[int, object]:
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

    def _record(self, path: str, params: dict[str, str], outcome: int | str) -> None:
        with self._lock:
            self.requests.append(Request(path, params, outcome, time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: ExchangeServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        with self.server_owner._lock:
            self.server_owner._conns.add(self.connection)

    def finish(self) -> None:
        with self.server_owner._lock:
            self.server_owner._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        owner = self.server_owner
        parts = urlsplit(self.path)
        path, params = parts.path, dict(parse_qsl(parts.query))
        fault = owner._next_fault(path)
        if fault == "429":
            owner._record(path, params, 429)
            self._send(429, {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request "
                             "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                             "polling the API."}, {"Retry-After": str(owner.retry_after_s)})
            return
        if fault == "500":
            owner._record(path, params, 500)
            self._send(500, {"code": -1001, "msg": "Internal error; unable to process your request. "
                             "Please try again."})
            return
        if fault == "503":
            owner._record(path, params, 503)
            self._send_raw(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                           "text/html")
            return
        status, payload = owner._respond(path, params)
        if fault == "drop":
            owner._record(path, params, "drop")
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        owner._record(path, params, status)
        if payload is None:
            self._send_raw(status, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        else:
            self._send(status, payload)

    def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload, separators=(",", ":")).encode(),
                       "application/json;charset=UTF-8", headers)

    def _send_raw(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


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
