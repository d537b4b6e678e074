"""The sealed bar access: holdout rows are not held, reaching them raises, every read is recorded."""

from __future__ import annotations

import pandas as pd
import pytest

from auraquant.cta.data.service import synth
from auraquant.cta.experiment.sealed import HoldoutViolation, SealedBars, holdout_start_for


def test_holdout_rows_are_not_held_and_cannot_be_served(synth_bars: pd.DataFrame) -> None:
    hs = holdout_start_for(synth_bars["time"], 1000)
    assert hs == synth_bars["time"].iloc[5000]
    bars = SealedBars(synth_bars, hs)
    assert len(bars) == 5000 and bars.last_time < hs
    seg = bars.segment(4000, 5000)
    assert seg["time"].iloc[-1] < hs and len(seg) == 1000
    with pytest.raises(HoldoutViolation):
        bars.segment(4500, 5001)
    assert [(r.start, r.stop) for r in bars.served] == [(4000, 5000)]
    # The object keeps no holdout row anywhere (not only behind a check).
    assert (bars._frame["time"] < hs).all()


def test_segment_returns_copies(synth_bars: pd.DataFrame) -> None:
    bars = SealedBars(synth_bars, None)
    seg = bars.segment(0, 10)
    seg.loc[0, "close"] = -1.0
    assert bars.segment(0, 10).loc[0, "close"] == synth_bars.loc[0, "close"]


def test_from_store_loads_only_pre_holdout_bars(workspace) -> None:
    dv, _ = synth(workspace.store, n=3000, seed=3)
    full = workspace.store.load_bars(dv.id)
    hs = full["time"].iloc[2500]
    bars = SealedBars.from_store(workspace.store, dv.id, hs)
    assert len(bars) == 2500
    assert bars.content_hash() == SealedBars(full, hs).content_hash()
    with pytest.raises(HoldoutViolation):
        bars.segment(0, 2501)
