"""`auraquant data fetch` into a workspace: checkpointed pages survive a failure, resume continues, and a later
fetch extends the stored version — with the real ccxt client against the local Binance emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.data import service
from auraquant.cta.data.ccxt_source import FetchError
from auraquant.workspace import Workspace
from tests.support.exchange_server import ExchangeServer

H = 3_600_000
NOW = 1_750_000_000_000 // H * H + H // 2  # half-way through an open bar
LISTING = NOW // H * H - 2_500 * H  # three pages of closed bars
KLINES = "/api/v3/klines"


def _closed(server: ExchangeServer) -> pd.DataFrame:
    bars = server.bars("BTCUSDT", "1h")
    ms = bars["time"].astype("int64") // 1_000_000
    return bars[(ms >= LISTING) & (ms + H <= server.now_ms)].reset_index(drop=True)


def test_interrupted_fetch_resumes_from_its_checkpoint_then_extends(workspace: Workspace) -> None:
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=3) as server:
        opts = {"api_base_url": server.url, "rateLimit": 5, "timeout": 5_000}
        since = pd.Timestamp(LISTING, unit="ms", tz="UTC").to_pydatetime()

        injected: list[bool] = []

        def fail_after_two_pages(done: int, total: int | None) -> None:
            if done >= 2_000 and not injected:
                injected.append(True)
                server.fail_next(KLINES, "500", times=2)  # the first try and its one retry

        with pytest.raises(FetchError, match="failed after 1 retries"):
            service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h", since=since,
                          exchange_options=opts, progress=fail_after_two_pages, max_retries=1, backoff_s=0.01)
        assert workspace.store.list_data_versions() == []
        staged = pd.read_parquet(next((workspace.store.data_dir / "staging").glob("*.parquet")))
        assert len(staged) == 2_000

        requests_before = len(server.log(KLINES))
        dv, created = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                                    since=since, exchange_options=opts)
        assert created and dv.source == f"ccxt:binance@{server.url}" and dv.quality.ok
        resumed = server.log(KLINES)[requests_before:]
        assert int(resumed[0].params["startTime"]) == LISTING + 2_000 * H  # no stored page fetched again
        expected = _closed(server)
        got = workspace.store.load_bars(dv.id)
        pd.testing.assert_frame_equal(got, expected[got.columns.tolist()], check_dtype=False)
        assert not list((workspace.store.data_dir / "staging").glob("*.parquet"))

        server.now_ms = NOW + 5 * H  # five more bars close
        result = CliRunner().invoke(app, ["data", "fetch", "--symbol", "BTC/USDT", "--timeframe", "1h",
                                          "--api-url", server.url, "--json", "-w", str(workspace.root)])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["bars"] == dv.bars + 5 and doc["created"] is True
        assert int(server.log(KLINES)[-1].params["startTime"]) == int(dv.last.timestamp() * 1000) + H


def test_fetch_without_since_or_history_is_a_clear_error(workspace: Workspace) -> None:
    result = CliRunner().invoke(app, ["data", "fetch", "--symbol", "BTC/USDT", "--timeframe", "1h", "--json",
                                      "-w", str(workspace.root)])
    assert result.exit_code == 1 and "needs --since" in json.loads(result.stdout)["error"]


def test_fetch_error_is_rendered_without_traceback(workspace: Workspace, tmp_path: Path) -> None:
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=3) as server:
        server.fail_next(KLINES, "500", times=50)
        with pytest.raises(FetchError):
            service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                          since=pd.Timestamp(LISTING, unit="ms", tz="UTC").to_pydatetime(),
                          exchange_options={"api_base_url": server.url, "rateLimit": 5}, max_retries=0)


def test_extension_keeps_stored_bars_when_the_exchange_resends_them_revised(workspace: Workspace) -> None:
    """A later fetch starts after the stored version's last bar; bars the exchange re-sends from before it
    (here revised by +3%) never replace the stored copies: the first delivered copy of a bar wins."""
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=3) as server:
        opts = {"api_base_url": server.url, "rateLimit": 5, "timeout": 5_000}
        since = pd.Timestamp(LISTING, unit="ms", tz="UTC").to_pydatetime()
        first, _ = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                                 since=since, exchange_options=opts)
        stored = workspace.store.load_bars(first.id)
        server.resend(overlap=10, factor=1.03)
        server.now_ms = NOW + 5 * H  # five more bars close
        dv, created = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                                    since=None, exchange_options=opts)
        assert created and server.resent >= 10
        got = workspace.store.load_bars(dv.id)
        assert len(got) == len(stored) + 5 and got["time"].is_unique
        pd.testing.assert_frame_equal(got.iloc[: len(stored)].reset_index(drop=True), stored)
        expected = _closed(server)
        pd.testing.assert_frame_equal(got, expected[got.columns.tolist()], check_dtype=False)
