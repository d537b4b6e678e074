"""CCXT fetch with the real ccxt `binance` client against a local Binance REST emulator on 127.0.0.1.

Covers issue 2, must-show 4: several pages of contiguous bars equal to what the server served, 429 / 5xx /
dropped connections retried, a clear error when retries run out, and resume after an interruption giving the
same frame as an uninterrupted fetch without re-requesting stored pages. Only closed bars come back.
"""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest

from auraquant.cta.data import ccxt_source
from auraquant.cta.data.ccxt_source import FetchError, fetch_ohlcv, make_exchange
from tests.support.exchange_server import ExchangeServer

H = 3_600_000
NOW = 1_700_000_000_000 // H * H + 25 * 60_000  # 25 minutes into the open 1h bar
OPEN_BAR = NOW // H * H
LISTING = OPEN_BAR - 500 * H
SINCE = OPEN_BAR - 350 * H  # 350 closed bars from here; 4 pages of 100
KLINES = "/api/v3/klines"
SPOT_ONLY = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}
FAST = {"page_limit": 100, "backoff_s": 0.001}


class Interrupted(Exception):
    pass


@pytest.fixture
def server():
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=11) as s:
        yield s


def client(server: ExchangeServer, **config):
    # rateLimit lowered only to keep the suite fast; the limiter itself stays on (see test_rate_limiter_spaces).
    return make_exchange("binance", api_base_url=server.url, options=SPOT_ONLY, timeout=5_000,
                         **{"rateLimit": 5, **config})


def served(server: ExchangeServer, since_ms: int, until_ms: int | None = None) -> pd.DataFrame:
    """The closed bars the server holds in [since, until): the values it put on the wire."""
    bars = server.bars("BTCUSDT", "1h")
    ms = bars["time"].astype("int64") // 1_000_000
    keep = (ms >= since_ms) & (ms + H <= NOW)
    if until_ms is not None:
        keep &= ms < until_ms
    return bars[keep].reset_index(drop=True)


def kline_starts(server: ExchangeServer) -> list[int]:
    return [int(r.params["startTime"]) for r in server.log(KLINES)]


def test_pages_are_contiguous_and_equal_what_was_served(server):
    pages, ticks = [], []
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, on_page=pages.append,
                      progress=lambda n, total: ticks.append((n, total)), **FAST)

    expected = served(server, SINCE)
    assert len(expected) == 350
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == ["time", "open", "high", "low", "close", "volume"]
    assert str(got["time"].dtype) == "datetime64[ns, UTC]"
    assert (got["time"].diff().dropna() == pd.Timedelta(hours=1)).all()
    # Four full-or-partial pages, each starting one bar after the previous page's last bar.
    assert kline_starts(server) == [SINCE, SINCE + 100 * H, SINCE + 200 * H, SINCE + 300 * H]
    assert [len(p) for p in pages] == [100, 100, 100, 50]
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), got)
    assert ticks == [(100, 350), (200, 350), (300, 350), (350, 350)]


def test_still_open_bar_is_served_but_never_returned(server):
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    # The last page covered the open bar, and the server did serve it ...
    assert kline_starts(server)[-1] <= OPEN_BAR
    assert server.bars("BTCUSDT", "1h")["time"].iloc[-1] == pd.Timestamp(OPEN_BAR, unit="ms", tz="UTC")
    # ... but only closed bars come back.
    assert got["time"].iloc[-1] == pd.Timestamp(OPEN_BAR - H, unit="ms", tz="UTC")


def test_until_is_exclusive_and_stops_paging(server):
    until = SINCE + 150 * H
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, until_ms=until, **FAST)
    pd.testing.assert_frame_equal(got, served(server, SINCE, until))
    assert len(got) == 150
    assert kline_starts(server) == [SINCE, SINCE + 100 * H]


def test_rate_limit_429_then_success(server, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(ccxt_source, "_sleep", waits.append)
    server.fail_next(KLINES, "429", times=2)
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, page_limit=100, backoff_s=0.5)
    pd.testing.assert_frame_equal(got, served(server, SINCE))
    assert server.count(KLINES, 429) == 2
    assert waits == [0.5, 1.0]  # exponential backoff
    assert kline_starts(server)[:3] == [SINCE, SINCE, SINCE]  # the same page was asked again


def test_retry_after_header_is_honoured(server, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(ccxt_source, "_sleep", waits.append)
    server.retry_after_s = 7
    server.fail_next(KLINES, "429")
    fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    assert waits == [7.0]


@pytest.mark.parametrize("fault", ["500", "503", "drop"])
def test_server_errors_and_dropped_connections_are_retried(server, fault):
    server.fail_next(KLINES, fault, times=2)
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    pd.testing.assert_frame_equal(got, served(server, SINCE))
    assert server.count(KLINES, int(fault) if fault.isdigit() else fault) == 2


def test_clear_error_when_retries_are_exhausted(server):
    server.fail_next(KLINES, "429", times=10)
    with pytest.raises(FetchError, match=r"binance BTC/USDT 1h: fetch_ohlcv since .* failed after 2 retries"):
        fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, max_retries=2, **FAST)
    assert server.count(KLINES, 429) == 3  # one try + two retries, then no more


def test_non_transient_error_is_not_retried(server):
    with pytest.raises(FetchError, match="not retried.*BadSymbol"):
        fetch_ohlcv(client(server), "DOGE/USDT", "1h", since_ms=SINCE, **FAST)
    assert server.count(KLINES) == 0


def test_resume_after_interruption_equals_uninterrupted_fetch(server):
    reference = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    server.requests.clear()

    stored: list[pd.DataFrame] = []

    def checkpoint_then_crash(page: pd.DataFrame) -> None:
        stored.append(page)
        if len(stored) == 2:
            raise Interrupted("process killed after page 2")

    with pytest.raises(Interrupted):
        fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, on_page=checkpoint_then_crash, **FAST)
    assert server.count(KLINES) == 2

    last_stored_ms = int(stored[-1]["time"].iloc[-1].value // 1_000_000)
    server.requests.clear()
    rest = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=last_stored_ms + H, on_page=stored.append,
                       **FAST)

    pd.testing.assert_frame_equal(pd.concat(stored, ignore_index=True), reference)
    assert len(rest) == 150
    assert min(kline_starts(server)) == last_stored_ms + H  # stored pages were not asked for again
    assert server.count(KLINES) == 2


def test_resume_after_the_server_dies(server):
    stored: list[pd.DataFrame] = []

    def checkpoint_then_kill(page: pd.DataFrame) -> None:
        stored.append(page)
        if len(stored) == 2:
            server.stop()

    with pytest.raises(FetchError, match="failed after 1 retries: NetworkError"):
        fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, on_page=checkpoint_then_kill,
                    max_retries=1, **FAST)

    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=11) as again:  # same exchange, new process
        last_ms = int(stored[-1]["time"].iloc[-1].value // 1_000_000)
        fetch_ohlcv(client(again), "BTC/USDT", "1h", since_ms=last_ms + H, on_page=stored.append, **FAST)
        pd.testing.assert_frame_equal(pd.concat(stored, ignore_index=True), served(again, SINCE))
        assert min(kline_starts(again)) == last_ms + H


def test_resume_later_fetches_only_newly_closed_bars(server):
    first = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    server.now_ms = NOW + 5 * H  # five more bars have closed
    last_ms = int(first["time"].iloc[-1].value // 1_000_000)
    new = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=last_ms + H, **FAST)
    assert list(new["time"].astype("int64") // 1_000_000) == [OPEN_BAR + k * H for k in range(5)]
    bars = server.bars("BTCUSDT", "1h").set_index("time")
    pd.testing.assert_frame_equal(new.set_index("time"), bars.loc[new["time"]])


def test_exchange_given_by_id_with_options(server):
    got = fetch_ohlcv("binance", "BTC/USDT", "1h", since_ms=SINCE, until_ms=SINCE + 10 * H,
                      exchange_options={"api_base_url": server.url, "options": SPOT_ONLY, "rateLimit": 5},
                      **FAST)
    pd.testing.assert_frame_equal(got, served(server, SINCE, SINCE + 10 * H))
    # Spot-only market loading: exchangeInfo once, no futures endpoints.
    assert {r.path for r in server.requests} == {"/api/v3/exchangeInfo", "/api/v3/time", KLINES}


def test_rate_limiter_spaces_requests(server):
    assert make_exchange("binance", api_base_url=server.url).enableRateLimit is True  # on by default
    # ccxt's sync client starts each request at least rateLimit x the endpoint's cost after the last one. With
    # binance's defaults that is 50 ms x 0.4 = 20 ms for klines, no more than parsing a page takes, so a client
    # without the limiter could pass; a 250 ms rateLimit (100 ms per klines page) makes the limiter the only
    # thing that can space the pages that far.
    ex = make_exchange("binance", api_base_url=server.url, options=SPOT_ONLY, rateLimit=250)
    cost = ex.calculate_rate_limiter_cost("public", "GET", "klines", {"limit": 99},
                                          ex.describe()["api"]["public"]["get"]["klines"])
    assert ex.rateLimit * cost >= 100
    interval = (ex.rateLimit * cost - 2) / 1000  # ccxt times it on a whole-millisecond clock: up to ~1 ms short
    fetch_ohlcv(ex, "BTC/USDT", "1h", since_ms=SINCE, page_limit=99, max_retries=0)
    arrivals = [r.at for r in server.log(KLINES)]
    assert len(arrivals) >= 3
    # Lower bounds only, so a slow machine cannot make this fail. The limiter spaces the sends; an arrival may
    # lag its send (a busy server thread), which shortens the next gap as seen here but never the mean: the mean
    # gap holds the interval, each single gap most of it.
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert (arrivals[-1] - arrivals[0]) / len(gaps) >= interval, gaps
    assert min(gaps) >= interval / 2, gaps


def test_nothing_closed_since_gives_an_empty_frame_without_paging(server):
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=OPEN_BAR, **FAST)
    assert got.empty
    assert list(got.columns) == ["time", "open", "high", "low", "close", "volume"]
    assert str(got["time"].dtype) == "datetime64[ns, UTC]"
    assert server.count(KLINES) == 0


def test_make_exchange_reroots_every_api_url(server):
    ex = client(server)
    assert ex.urls["api"]["public"] == f"{server.url}/api/v3"
    assert ex.urls["api"]["fapiPublic"] == f"{server.url}/fapi/v1"
    assert ex.enableRateLimit is True


def _scaled(frame: pd.DataFrame, k: float) -> pd.DataFrame:
    out = frame.copy()
    for col in ("open", "high", "low", "close", "volume"):
        # The server rounds every served value to 8 decimals; so does this expectation.
        out[col] = (out[col] * k).round(8)
    return out


class _UnfilteredBinance(ccxt.binance):
    """ccxt's binance without its client-side `since` filter: an adapter that passes on whatever the
    exchange sent, so the fetch's own rule must drop the bars a page re-sends from before its cursor."""

    def filter_by_since_limit(self, array: list[object] | None, since: int | None = None, limit: int | None = None,
                              key: str | int = "timestamp", tail: bool = False) -> list[object]:
        return list(array or [])


def unfiltered_client(server: ExchangeServer) -> ccxt.Exchange:
    ex = _UnfilteredBinance({"options": SPOT_ONLY, "timeout": 5_000, "rateLimit": 5})
    ex.urls["api"] = make_exchange("binance", api_base_url=server.url).urls["api"]
    return ex


@pytest.mark.parametrize("make_client", [client, unfiltered_client], ids=["ccxt", "unfiltered"])
def test_a_bar_resent_by_a_later_page_keeps_the_first_served_copy(server, make_client):
    # Every page after the first starts with 3 bars the previous page already served, revised by +1%.
    server.resend(overlap=3, factor=1.01)
    pages = []
    got = fetch_ohlcv(make_client(server), "BTC/USDT", "1h", since_ms=SINCE, on_page=pages.append, **FAST)
    assert server.resent == 3 * len(kline_starts(server)) > 0
    # The revision never replaces the copy the earlier page delivered (and on_page already handed out) ...
    pd.testing.assert_frame_equal(got, served(server, SINCE))
    assert not got.merge(_scaled(served(server, SINCE), 1.01), on=["time", "close"]).shape[0]
    # ... nor does it shift the cursor: pages stay contiguous and no bar is delivered twice.
    assert kline_starts(server) == [SINCE, SINCE + 100 * H, SINCE + 200 * H, SINCE + 300 * H]
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), got)


def test_a_bar_repeated_within_one_page_keeps_the_later_copy(server):
    # Each page repeats its first bar at its end, revised by -2%: the later copy in the page wins.
    server.resend(repeat_first=True, factor=0.98)
    got = fetch_ohlcv(client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    expected = served(server, SINCE)
    firsts = expected["time"].isin([pd.Timestamp(s, unit="ms", tz="UTC") for s in kline_starts(server)])
    assert firsts.sum() == 4
    expected.loc[firsts] = _scaled(expected.loc[firsts], 0.98)
    assert len(got) == 350 and got["time"].is_unique
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("make_client", [client, unfiltered_client], ids=["ccxt", "unfiltered"])
def test_resent_bars_keep_a_resumed_fetch_equal_to_an_uninterrupted_one(server, make_client):
    server.resend(overlap=5, factor=1.05)
    whole = fetch_ohlcv(make_client(server), "BTC/USDT", "1h", since_ms=SINCE, **FAST)
    stored: list[pd.DataFrame] = []

    def keep_two(page: pd.DataFrame) -> None:
        stored.append(page)
        if len(stored) == 2:
            raise Interrupted("killed after page 2")

    with pytest.raises(Interrupted):
        fetch_ohlcv(make_client(server), "BTC/USDT", "1h", since_ms=SINCE, on_page=keep_two, **FAST)
    resume_from = int(stored[-1]["time"].iloc[-1].value // 1_000_000) + H
    rest = fetch_ohlcv(make_client(server), "BTC/USDT", "1h", since_ms=resume_from, **FAST)
    # The resumed first page re-sends 5 stored bars, revised; the stored copies stand.
    pd.testing.assert_frame_equal(pd.concat([*stored, rest], ignore_index=True), whole)
