"""Buy and hold in the tools' JSON: backtest_run, sweep_run, evaluation_show/compare, iter_state, and a goal
that requires beating it is enforced by archive_candidate."""

from __future__ import annotations

import pytest

from auraquant.cta.backtest.engine import buy_and_hold_of
from auraquant.cta.experiment import runner
from auraquant.cta.tools import state

from .conftest import Lab


def test_backtest_and_report_evaluation_carry_buy_and_hold(lab: Lab) -> None:
    ev = lab.ok("evaluation_show", {"evaluation_id": lab.ids["report"]})
    bh = ev.metrics["buy_and_hold"]
    assert bh["segments"] == 1 and ev.metrics["bh_total_return"] == bh["total_return"]
    assert ev.metrics["excess_return"] == ev.metrics["total_return"] - bh["total_return"]
    cmp = lab.ok("evaluation_compare", {"a": lab.ids["report"], "b": lab.ids["report2"]})
    rows = {m["metric"]: m for m in cmp.metrics}
    assert rows["bh_total_return"]["delta"] == 0.0  # same bars, same costs: the same buy and hold


def test_sweep_rows_show_their_excess_over_one_buy_and_hold(lab: Lab) -> None:
    sets = [{"baseline.fast": 6}, {"baseline.fast": 10}, {"baseline.fast": 16}]
    out = lab.ok("sweep_run", {"spec_id": lab.ids["spec"], "param_sets": sets})
    store = lab.ws.store
    spec = state.spec(store, lab.ids["spec"])
    bars = state.research_bars(store, lab.ids["dv"], None, None)
    expected = buy_and_hold_of(bars, spec)
    assert out.buy_and_hold == expected.model_dump()
    for row in out.top:
        assert row["excess_return"] == pytest.approx(row["total_return"] - expected.total_return, abs=1e-15)


def test_iter_state_cites_buy_and_hold_from_the_store(lab: Lab) -> None:
    out = lab.ok("iter_state_update", {"iter": 1, "max_iters": 20, "goal": "beats buy and hold",
                                       "tried": [{"label": "ema", "evaluation_id": lab.ids["run"]}],
                                       "next_action": "more"})
    res = runner.load_result(lab.ws, lab.ids["run"])
    bh = res.oos.buy_and_hold
    t = out.state.tried[0]
    assert (t.bh_total_return, t.excess_return, t.excess_sharpe) == (bh.total_return, bh.excess_return,
                                                                     bh.excess_sharpe)
    assert "excess_return=" in out.block


def test_archive_refuses_a_run_that_does_not_beat_buy_and_hold_when_the_goal_says_so(lab: Lab) -> None:
    res = runner.load_result(lab.ws, lab.ids["run2"])
    bh = res.oos.buy_and_hold
    assert bh is not None and bh.excess_return is not None
    # A bound just above the run's excess: the same run fails the goal on buy and hold alone.
    goal = {"excess_return": {"min": bh.excess_return + 0.01}}
    refused = lab.call("archive_candidate", {"run_id": lab.ids["run2"], "family": "ema-cross", "goal": goal})
    assert not refused.ok and "excess_return" in refused.content
