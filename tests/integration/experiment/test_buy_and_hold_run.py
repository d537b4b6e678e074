"""A walk-forward's buy and hold covers exactly the stitched target span: the same segments, the same bars,
each bought and sold once with the run's fill and costs, compounded like the strategy's; excess = OOS - B&H."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.data.synthetic import generate
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.runner import execute, run_from_frame
from tests.support.specs import ema_chandelier_spec

# step > target: the target segments are separated by gaps, so a straight hold over the first-to-last span
# would differ from buy and hold over the stitched segments.
WF = WalkForwardConfig(train_bars=600, target_bars=300, step_bars=450, n_windows=3)
SEARCH = SearchConfig(n_trials=6, batch_size=6, n_startup_trials=6, top_k=2)


def test_buy_and_hold_spans_the_stitched_target_segments(tmp_path) -> None:
    frame = generate(2400, seed=4)
    spec = ema_chandelier_spec("bh_wf")
    c, s = spec.engine.commission_bps * 1e-4, spec.engine.slippage_bps * 1e-4
    run, bars = run_from_frame(frame, spec, WF, SEARCH, seed=1)
    res = execute(run, bars, out_dir=tmp_path / "r", storage_url=f"journal:{tmp_path / 'j.journal'}",
                  executor="threads:1", robustness=None).result
    bh = res.oos.buy_and_hold
    assert bh is not None and bh.segments == len(res.windows) == 3
    eq = pd.read_parquet(tmp_path / "r" / "oos_equity.parquet")
    # Same bars as the strategy's stitched curve: one B&H mark per OOS bar, on the same times.
    assert eq["buy_and_hold"].notna().all() and len(eq) == 3 * WF.target_bars
    growth = 1.0
    for w in res.windows:
        seg = frame[(frame["time"] >= w.target_span[0]) & (frame["time"] <= w.target_span[1])]
        assert len(seg) == WF.target_bars
        assert eq.loc[eq["window"] == w.window.index, "time"].tolist() == seg["time"].tolist()
        # By hand: enter at the 2nd bar's open (next_open) with slippage and commission, sell at the last close.
        qty = 1.0 / (seg["open"].iloc[1] * (1 + s))
        cash = 1.0 - qty * seg["open"].iloc[1] * (1 + s) * (1 + c)
        growth *= cash + qty * seg["close"].iloc[-1] * (1 - s) * (1 - c)
    assert bh.total_return == pytest.approx(growth - 1, rel=1e-9)
    assert eq["buy_and_hold"].iloc[-1] == pytest.approx(spec.engine.initial_capital * growth, rel=1e-9)
    # A straight hold from the first to the last target bar is a different number (the gaps are not held).
    first = frame[frame["time"] == res.windows[0].target_span[0]].index[0]
    last = frame[frame["time"] == res.windows[-1].target_span[1]].index[0]
    straight = frame["close"].iloc[last] / frame["open"].iloc[first + 1] - 1
    assert abs(straight - bh.total_return) > 1e-6  # type: ignore[operator]
    # Excess over the strategy's stitched OOS numbers.
    assert bh.excess_return == pytest.approx(res.oos.total_return - bh.total_return, abs=1e-15)
    if res.oos.sharpe is not None and bh.sharpe is not None:
        assert bh.excess_sharpe == pytest.approx(res.oos.sharpe - bh.sharpe, abs=1e-15)
    peak = np.maximum.accumulate(np.concatenate([[spec.engine.initial_capital], eq["buy_and_hold"].to_numpy()]))
    assert bh.max_drawdown == pytest.approx(float(np.min(eq["buy_and_hold"].to_numpy() / peak[1:] - 1)))
    # Each window's target report carries its own segment's buy and hold.
    assert all(w.target_report["buy_and_hold"]["segments"] == 1 for w in res.windows)
