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


def test_prefix_lengths_include_short_parameter_and_final_lengths() -> None:
    from auraquant.cta.backtest.lookahead import prefix_lengths

    ks = prefix_lengths(100, {"period": 30, "k": 2.5, "flag": True}, n_checks=5)
    assert {2, 3, 5, 8, 13, 21, 34, 55, 89} <= set(ks)  # short ladder
    assert {15, 29, 30, 31, 60} <= set(ks)  # around the window: shorter, equal, longer, 2x
    assert {98, 99} <= set(ks) and max(ks) == 99 and min(ks) == 2
    assert ks == sorted(set(ks))


def test_corner_param_sets_cover_each_end_and_both_extremes() -> None:
    from auraquant.cta.backtest.lookahead import corner_param_sets
    from auraquant.cta.strategy.spec import Categorical, FloatRange, IntRange

    sets = corner_param_sets({"fast": 8}, {"fast": IntRange(low=3, high=30), "k": FloatRange(low=0.5, high=2.0),
                                           "mode": Categorical(choices=[0, 1, 2])})
    assert sets[0] == {"fast": 8}
    assert {"fast": 3} in sets and {"fast": 30} in sets and {"fast": 8, "k": 0.5} in sets
    assert {"fast": 8, "mode": 2} in sets
    assert {"fast": 3, "k": 0.5, "mode": 0} in sets and {"fast": 30, "k": 2.0, "mode": 2} in sets
    assert len(sets) == len({repr(sorted(s.items())) for s in sets})  # no duplicates


class _Stateful:
    """Caches a full-sample mean on its first call: one shared instance hides it, fresh instances do not."""

    name = "stateful"
    params: dict = {}

    def __init__(self) -> None:
        self.mu: float | None = None

    def candidates(self, bars, params):
        if self.mu is None:
            self.mu = float(np.mean(bars.close))
        return np.where(bars.close > self.mu, 1, -1).astype(np.int8)


class _Fragile:
    """Raises on short samples: a module must accept any length, or a leak could hide behind the error."""

    name = "fragile"
    params: dict = {}

    def candidates(self, bars, params):
        if len(bars) < 50:
            raise ValueError("too short")
        return np.zeros(len(bars), dtype=np.int8)


def test_fresh_instances_and_errors() -> None:
    bars = random_bars(np.random.default_rng(14), 300)
    assert check_module("baselines", _Stateful(), bars).ok  # shared instance: the cache hides the leak
    finding = check_module("baselines", _Stateful(), bars, fresh=_Stateful)
    assert not finding.ok and finding.output == "candidates" and finding.prefix_len is not None
    assert "stateful" in finding.describe() and f"{finding.prefix_len}-bar prefix" in finding.describe()
    bad = check_module("baselines", _Fragile(), bars)
    assert not bad.ok and bad.output == "error" and "too short" in (bad.detail or "")
