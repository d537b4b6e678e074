"""Must show 6: every built-in passes the look-ahead check; a leaky module is caught and located."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from auraquant.cta.backtest.lookahead import check_all_modules, check_module, check_spec
from auraquant.cta.strategy.loader import list_modules, load_module
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars

LEAKY_DIR = Path(__file__).resolve().parents[2] / "support" / "leaky_runtime"

# Short periods so every module produces values (and trips on any leak) inside 500 bars.
SMALL = {"ema_cross": {"fast": 3, "slow": 8}, "donchian_breakout": {"period": 5},
         "ts_momentum": {"lookback": 6}, "bollinger_breakout": {"period": 6, "k": 0.5},
         "atr_regime": {"period": 5, "min_pct": 0.005, "max_pct": 0.02}, "adx_trend": {"period": 5},
         "htf_trend": {"hours": 6, "period": 3}, "atr_stop": {"period": 5}, "chandelier": {"period": 5},
         "vol_target": {"lookback": 10}}


def test_every_builtin_is_causal() -> None:
    bars = random_bars(np.random.default_rng(11), 500)
    findings = check_all_modules(bars, n_checks=30, params=lambda kind, name: SMALL.get(name, {}))
    assert {f.module for f in findings} >= {n for k in ("baselines", "filters", "executions", "risks")
                                            for n in list_modules(k)}
    bad = [f.describe() for f in findings if not f.ok]
    assert not bad, bad
    assert all(f.prefixes_checked >= 30 for f in findings)


def test_leaky_module_is_named_with_its_first_bad_bar() -> None:
    bars = random_bars(np.random.default_rng(12), 400)
    mod = load_module("baselines", "peek_ahead", LEAKY_DIR, in_process=True)
    finding = check_module("baselines", mod, bars, {"start": 137}, n_checks=10)
    assert not finding.ok
    assert finding.module == "peek_ahead" and finding.output == "candidates"
    # bar 137 is the first bar whose value reads a later close: the prefix ending at 137 disagrees there.
    assert finding.first_bad_bar == 137
    assert finding.first_bad_time == str(bars["time"].iloc[137])
    assert "peek_ahead" in finding.describe() and "137" in finding.describe()


def test_check_spec_covers_each_referenced_module() -> None:
    bars = random_bars(np.random.default_rng(13), 300)
    spec = Spec(baseline={"name": "peek_ahead"}, filters=[{"name": "adx_trend", "params": {"period": 5}}],
                execution=[{"name": "atr_stop", "params": {"period": 5}}])
    findings = check_spec(bars, spec, extra_dir=LEAKY_DIR, n_checks=10)
    assert [(f.kind, f.module, f.ok) for f in findings] == [
        ("baselines", "peek_ahead", False), ("filters", "adx_trend", True), ("executions", "atr_stop", True)]
