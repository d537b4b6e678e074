"""On the real Binance bars: a holdout sealed on BTC 1h also seals BTC 4h and 1d (the same market, fetched at
coarser timeframes), and leaves ETH alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auraquant.cta.data import access, service
from auraquant.workspace import Workspace


def test_a_btc_1h_holdout_seals_btc_4h_and_1d_but_not_eth(workspace: Workspace, shared_data: Path) -> None:
    store = workspace.store
    dv = {name: service.import_file(store, shared_data / f"binance_{name}.parquet", symbol=name.split("_")[0],
                                    timeframe=name.split("_")[1])[0].id
          for name in ("BTCUSDT_1h_2017-2026", "BTCUSDT_4h_2017-2026", "BTCUSDT_1d_2017-2025",
                       "ETHUSDT_1h_2017-2026")}
    h1 = dv["BTCUSDT_1h_2017-2026"]
    times = access.bar_times(store, h1)
    hs = pd.Timestamp(times[int(len(times) * 0.8)])  # 07:00 UTC: inside a 4h bar and a day
    access.declare_holdout(store, h1, hs, declared_by="test")
    assert access.holdout_start(store, h1) == hs
    assert access.holdout_start(store, dv["BTCUSDT_4h_2017-2026"]) == hs.ceil("4h")
    assert access.holdout_start(store, dv["BTCUSDT_1d_2017-2025"]) == hs.ceil("1D")
    assert access.holdout_of(store, dv["ETHUSDT_1h_2017-2026"]) is None
    four = access.research_bars(store, dv["BTCUSDT_4h_2017-2026"])
    assert four["time"].max() < hs and len(four) > 10_000
