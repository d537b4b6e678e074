"""Significance gates (`gates.py`), the trial ledger's store table and counts (`ledger.py`), and the GOAL_MET
rule of the research loop (GOAL_MET only when a frozen record's holdout confirms the goal)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.backtest import metrics
from auraquant.cta.experiment import ledger
from auraquant.cta.experiment.gates import (
    GateConfig,
    GatesConfigError,
    gate_failures,
    holdout_failures,
    holdout_table,
    load_gates,
)
from auraquant.cta.governance.record import Threshold
from auraquant.cta.research.goal import parse_goal
from auraquant.cta.research.loop import _confirm
from auraquant.store import Store


def test_gates_default_when_absent_and_invalid_files_are_one_line_errors(tmp_path: Path) -> None:
    assert load_gates(tmp_path) == GateConfig()
    g = GateConfig()
    assert (g.min_dsr, g.dsr_scope, g.max_pbo, g.max_spa_p, g.min_oos_trades) == (0.95, "session", 0.5, 0.10, 30)
    assert g.describe() == "session DSR >= 0.95, PBO <= 0.5, SPA p <= 0.1, OOS trades >= 30"
    (tmp_path / "gates.json").write_text("{not json")
    with pytest.raises(GatesConfigError) as e:
        load_gates(tmp_path)
    assert "\n" not in str(e.value)
    (tmp_path / "gates.json").write_text('{"min_dsr": 2}')
    with pytest.raises(GatesConfigError, match="min_dsr"):
        load_gates(tmp_path)
    (tmp_path / "gates.json").write_text('{"max_pbo": null, "dsr_scope": "workspace"}')
    off = load_gates(tmp_path)
    assert off.describe() == "workspace DSR >= 0.95, PBO gate off, SPA p <= 0.1, OOS trades >= 30"


def test_gate_failures_are_inclusive_name_each_gate_and_fail_undefined_statistics() -> None:
    g = GateConfig()
    assert gate_failures(0.95, 0.5, 0.10, 30, g) == []
    assert gate_failures(0.949, 0.51, 0.11, 29, g) == ["session DSR 0.949 < 0.95", "PBO 0.510 > 0.5",
                                                       "SPA p 0.110 > 0.1", "29 OOS trades < 30"]
    undefined = gate_failures(None, math.nan, None, None, g)
    assert len(undefined) == 4 and all("not available" in f or "OOS trades" in f for f in undefined)
    off = GateConfig(min_dsr=None, max_pbo=None, max_spa_p=None, min_oos_trades=None)
    assert gate_failures(None, None, None, None, off) == []


def test_holdout_confirms_within_the_tolerance_only_on_length_free_metrics() -> None:
    goal = {"sharpe": Threshold(min=1.2), "max_drawdown": Threshold(min=-0.15), "trades": Threshold(min=100)}
    assert holdout_failures(goal, {"sharpe": 0.6, "max_drawdown": -0.2249, "trades": 3}, 0.5) == []
    miss = holdout_failures(goal, {"sharpe": -0.02, "max_drawdown": -0.30}, 0.5)
    assert miss == ["holdout max_drawdown -0.300 < -0.225 (goal -0.15 less 0.5x)",
                    "holdout sharpe -0.020 < 0.600 (goal 1.2 less 0.5x)"]
    assert holdout_failures(goal, {"sharpe": 1.1, "max_drawdown": -0.1}, 0.0) == [
        "holdout sharpe 1.100 < 1.200 (goal 1.2 less 0x)"]
    assert holdout_failures({"win_rate": Threshold(max=0.4)}, {"win_rate": 0.59}, 0.5) == []  # <= 0.4 + 0.2
    assert holdout_failures({"win_rate": Threshold(max=0.4)}, {"win_rate": 0.61}, 0.5) == [
        "holdout win_rate 0.610 > 0.600 (goal 0.4 plus 0.5x)"]
    assert holdout_failures({"trades": Threshold(min=30)}, {"trades": 50}, 0.5)[0].startswith("the goal has no metric")
    assert holdout_failures(goal, None, 0.5) == ["the holdout was not scored"]
    assert holdout_failures(goal, {"sharpe": None, "max_drawdown": -0.1}, 0.5) == ["holdout sharpe is undefined"]
    rows = {r["metric"]: r for r in holdout_table(goal, {"sharpe": 0.7, "max_drawdown": -0.3, "trades": 4}, 0.5)}
    assert rows["sharpe"]["verdict"] == "confirms" and rows["sharpe"]["bound"] == ">= 0.6"
    assert rows["max_drawdown"]["verdict"] == "misses" and rows["trades"]["verdict"] == "not compared"
    assert rows["total_return"]["verdict"] == "-" and rows["total_return"]["goal"] is None


def test_goal_met_stands_only_for_a_frozen_record_whose_holdout_confirms() -> None:
    goal = parse_goal("sharpe >= 1.2, max drawdown >= -15%")
    status, detail = _confirm(goal, None, 0.5, "claimed")
    assert status == "HOLDOUT_FAILED" and "no record was frozen" in detail
    status, _ = _confirm(goal, {"state": "candidate", "holdout": None}, 0.5, "claimed")
    assert status == "HOLDOUT_FAILED"
    frozen = {"state": "frozen", "holdout": {"sharpe": -0.02, "max_drawdown": -0.05}}
    status, detail = _confirm(goal, frozen, 0.5, "claimed")
    assert status == "HOLDOUT_FAILED" and "holdout sharpe -0.020 < 0.600" in detail
    assert _confirm(goal, {**frozen, "holdout": {"sharpe": 0.9, "max_drawdown": -0.05}}, 0.5, "ok") == ("GOAL_MET", "ok")


def test_ledger_counts_distinct_trials_per_session_and_workspace(tmp_path: Path) -> None:
    store = Store(tmp_path)
    t = pd.DataFrame({"window": [0, 0, 1], "batch": [0, 0, 0], "slot": [0, 1, 0], "daily_mean": [0.01, 0.0, 0.02],
                      "daily_std": [0.1, 0.0, 0.1], "n_days": [50, 50, 50]})
    assert ledger.record_run_trials(store, "h1", "s1", "run_a", t) == 3
    assert ledger.record_run_trials(store, "h1", "s1", "run_a", t) == 0  # idempotent per session
    assert ledger.record_run_trials(store, "h1", "s2", "run_a", t) == 3  # another session saw it too
    ledger.record_backtest(store, "h1", "s2", "report_x", 0.03, 0.1, 50)
    ledger.record_backtest(store, "h2", "s1", "report_y", 0.05, 0.1, 50)  # other data: another ledger
    s1 = ledger.count(store, "h1", "session", "s1")
    ws = ledger.count(store, "h1", "workspace")
    assert (s1.n_trials, s1.n_finite) == (3, 2)  # a zero-variance trial counts, its Sharpe does not
    assert s1.sharpe_variance == pytest.approx(pd.Series([0.1, 0.2]).var(ddof=1))
    assert (ws.n_trials, ws.n_finite) == (4, 3) and ws.session_id is None
    assert ledger.count(store, "h1", "session", None).n_trials == 0  # nothing outside a session yet
    d = ledger.ledger_dsr(0.15, 120, 0.0, 3.0, ws)
    want = metrics.deflated_sharpe_ratio(0.15, 120, 0.0, 3.0, 4, ws.sharpe_variance)
    assert d.dsr == pytest.approx(want, rel=1e-12) and d.count is ws
    assert ledger.ledger_dsr(0.15, 120, 0.0, 3.0, ledger.count(store, "h2", "workspace")).dsr is None  # no variance
