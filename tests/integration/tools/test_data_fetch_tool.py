"""data_fetch through the registry against a local emulator of the Binance API (the real ccxt client)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd

from auraquant.cta.tools import build_registry
from auraquant.cta.tools.deps import research_context
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace
from tests.support.exchange_server import ExchangeServer

H = 3_600_000
NOW = 1_750_000_000_000 // H * H + H // 2
LISTING = NOW // H * H - 300 * H


def test_data_fetch_valid_and_invalid(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", demo_data=False)
    ws = Workspace.open(tmp_path / "ws")
    reg = build_registry()
    with ExchangeServer(now_ms=NOW, listing_ms=LISTING, seed=3) as server:
        ctx = research_context(ws)
        ctx.deps.exchange_options = {"api_base_url": server.url, "rateLimit": 5, "timeout": 5_000}
        since = pd.Timestamp(LISTING, unit="ms", tz="UTC").isoformat()
        out = asyncio.run(reg.call("data_fetch", {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
                                                  "since": since}, ctx))
        assert out.ok, out.content
        assert out.value.version.bars == 300 and out.value.version.source == f"ccxt:binance@{server.url}"
        assert out.value.version.qualified and not out.value.version.synthetic
        bad = asyncio.run(reg.call("data_fetch", {"exchange": "binance", "symbol": "NOPE/USDT", "timeframe": "1h",
                                                  "since": since}, ctx))
        assert not bad.ok and bad.error is not None and bad.error.kind == "tool_failed", bad.content
