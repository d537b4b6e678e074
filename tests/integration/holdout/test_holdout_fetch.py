"""`data fetch` extending a sealed version: the extended version (new bars appended) inherits the seal, and
`data show` of it says where — with the real ccxt client against the local Binance emulator."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.data import access, service
from auraquant.workspace import Workspace
from tests.support.exchange_server import ExchangeServer

H = 3_600_000
NOW = 1_750_000_000_000 // H * H + H // 2
LISTING = NOW // H * H - 1_200 * H


def test_a_fetched_extension_of_a_sealed_version_is_sealed(workspace: Workspace) -> None:
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=5) as server:
        opts = {"api_base_url": server.url, "rateLimit": 5, "timeout": 5_000}
        dv, _ = service.fetch(workspace.store, exchange="binance", symbol="BTC/USDT", timeframe="1h",
                              since=pd.Timestamp(LISTING, unit="ms", tz="UTC").to_pydatetime(), exchange_options=opts)
        hs = access.bar_times(workspace.store, dv.id)[1_000]
        service.make_slice(workspace.store, dv.id, start=hs.to_pydatetime(), role="holdout")
        server.now_ms = NOW + 48 * H  # two more days of closed bars
        res = CliRunner().invoke(app, ["data", "fetch", "--symbol", "BTC/USDT", "--timeframe", "1h", "--api-url",
                                       server.url, "--json", "-w", str(workspace.root)])
        assert res.exit_code == 0, res.output
        extended = json.loads(res.stdout)
        assert extended["id"] != dv.id and extended["bars"] == dv.bars + 48
        assert pd.Timestamp(extended["holdout_from"]) == hs
        bars = access.research_bars(workspace.store, extended["id"])
        assert bars["time"].max() < hs and len(bars) == 1_000
