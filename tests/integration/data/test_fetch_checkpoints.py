"""Fetch checkpoints belong to one request (server, symbol, timeframe, since): a resume never mixes two
servers' bars or two start dates, and temp files of interrupted writers are cleaned. Real ccxt client
against two local Binance emulators serving different bars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.data import service
from auraquant.cta.data.ccxt_source import FetchError
from auraquant.cta.data.staging import remove_stale_temp_files
from auraquant.workspace import Workspace
from tests.support.exchange_server import ExchangeServer

H = 3_600_000
NOW = 1_750_000_000_000 // H * H + H // 2
LISTING = NOW // H * H - 1_500 * H  # two pages of closed bars
KLINES = "/api/v3/klines"


def _closed(server: ExchangeServer, since_ms: int = LISTING) -> pd.DataFrame:
    bars = server.bars("BTCUSDT", "1h")
    ms = bars["time"].astype("int64") // 1_000_000
    return bars[(ms >= since_ms) & (ms + H <= server.now_ms)].reset_index(drop=True)


def _opts(server: ExchangeServer) -> dict[str, object]:
    return {"api_base_url": server.url, "rateLimit": 5, "timeout": 5_000}


def _interrupt_after_first_page(ws: Workspace, server: ExchangeServer, since: pd.Timestamp) -> None:
    def fail(done: int, total: int | None) -> None:
        if done >= 1_000:
            server.fail_next(KLINES, "500", times=2)

    with pytest.raises(FetchError):
        service.fetch(ws.store, exchange="binance", symbol="BTC/USDT", timeframe="1h", since=since.to_pydatetime(),
                      exchange_options=_opts(server), progress=fail, max_retries=1, backoff_s=0.01)


def _assert_bars(ws: Workspace, dv_id: str, expected: pd.DataFrame) -> None:
    got = ws.store.load_bars(dv_id)
    pd.testing.assert_frame_equal(got, expected[got.columns.tolist()], check_dtype=False)


def test_checkpoint_of_one_server_is_not_resumed_from_another(workspace: Workspace) -> None:
    since = pd.Timestamp(LISTING, unit="ms", tz="UTC")
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=3) as a, \
            ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=4) as b:
        assert not _closed(a)["close"].equals(_closed(b)["close"])  # the servers really serve different bars
        _interrupt_after_first_page(workspace, a, since)
        staging = workspace.store.data_dir / "staging"
        assert len(list(staging.iterdir())) == 1

        # Same symbol, timeframe and since from server B: starts from scratch, B's bars only.
        before = len(b.log(KLINES))
        dv_b, _ = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                                since=since.to_pydatetime(), exchange_options=_opts(b))
        assert int(b.log(KLINES)[before].params["startTime"]) == LISTING
        assert dv_b.source == f"ccxt:binance@{b.url}"
        _assert_bars(workspace, dv_b.id, _closed(b))

        # A's checkpoint survived B's fetch; resuming A continues after its first page and holds A's bars only
        # (B's stored version, from another server, is not extended either).
        assert len(list(staging.iterdir())) == 1
        before = len(a.log(KLINES))
        dv_a, created = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                                      since=since.to_pydatetime(), exchange_options=_opts(a))
        assert created and dv_a.id != dv_b.id
        assert int(a.log(KLINES)[before].params["startTime"]) == LISTING + 1_000 * H
        _assert_bars(workspace, dv_a.id, _closed(a))
        assert not list(staging.iterdir())


def test_checkpoint_of_another_since_is_not_resumed(workspace: Workspace) -> None:
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=3) as a:
        _interrupt_after_first_page(workspace, a, pd.Timestamp(LISTING, unit="ms", tz="UTC"))
        later = LISTING + 1_200 * H  # starts after the staged page ends: a resume would leave a hole
        before = len(a.log(KLINES))
        dv, _ = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                              since=pd.Timestamp(later, unit="ms", tz="UTC").to_pydatetime(),
                              exchange_options=_opts(a))
        assert int(a.log(KLINES)[before].params["startTime"]) == later
        _assert_bars(workspace, dv.id, _closed(a, later))


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)
    page_dir = tmp_path / "staging" / "binance_BTC-USDT_1h_x.parquet"
    page_dir.mkdir(parents=True)
    stale = page_dir / f".page-000000000000001.parquet.{dead_pid}.tmp"
    live = page_dir / f".page-000000000000002.parquet.{os.getpid()}.tmp"
    page = page_dir / "page-000000000000003.parquet"
    other = page_dir / ".notes.tmp"  # not the atomic-writer pattern: not ours to delete
    for p in (stale, live, page, other):
        p.write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and page.exists() and other.exists()
    assert remove_stale_temp_files(tmp_path / "absent") == []
