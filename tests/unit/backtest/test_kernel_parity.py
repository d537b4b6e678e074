"""Must show 1: the compiled kernel equals the pure-Python reference (1e-9) on randomized specs."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.layout import F_SL_PCT, F_TIME_STOP, F_TRAIL_PCT, METRIC_NAMES
from auraquant.cta.backtest.prepare import Prepared, prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars, random_spec
from tests.support.reference_engine import ReferenceEngine

TOL = 1e-9


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= TOL * max(1.0, abs(a), abs(b))


def check_parity(seed: int) -> Counter[str]:
    """Run one random spec through both engines; assert equality; return the reference's event counts."""
    rng = np.random.default_rng(seed)
    bars = bars_from_frame(random_bars(rng, int(rng.integers(150, 450))))
    spec = random_spec(rng)
    return assert_parity(prepare(bars, spec), f"seed={seed} spec={spec.model_dump_json()}")


def assert_parity(prep: Prepared, ctx: str) -> Counter[str]:
    """Assert the kernel equals the reference on one prepared set; return the reference's event counts."""
    metrics, equity, position, fcode, rcode, size, trades = kernel.simulate(*prep.kernel_args(0), True)
    metrics_only = kernel.simulate(*prep.kernel_args(0), False)[0]
    ref = ReferenceEngine(prep).run()
    assert np.array_equal(metrics, metrics_only, equal_nan=True), ctx
    for i, name in enumerate(METRIC_NAMES):
        assert _close(float(metrics[i]), float(ref.metrics[name])), f"{name}: {metrics[i]} != {ref.metrics[name]} {ctx}"
    assert len(trades) == len(ref.trades), ctx
    for row, tr in zip(trades, ref.trades, strict=True):
        expected = (tr.entry_bar, tr.exit_bar, tr.side, tr.qty, tr.entry_price, tr.exit_price, tr.pnl, tr.fees,
                    tr.reason)
        assert all(_close(float(a), float(b)) for a, b in zip(row[:9], expected, strict=True)), (row, tr, ctx)
    assert all(_close(a, b) for a, b in zip(equity, ref.equity, strict=True)), ctx
    assert all(_close(a, b) for a, b in zip(position, ref.position, strict=True)), ctx
    assert list(fcode) == ref.filter_code and list(rcode) == ref.risk_code, ctx
    assert all(_close(a, b) for a, b in zip(size, ref.size, strict=True)), ctx
    events = Counter(ref.events)
    events["trades"] += len(trades)
    events["short_trades"] += int(sum(1 for tr in ref.trades if tr.side < 0))
    events["rejections"] += sum(1 for c in ref.risk_code if c > 0) + sum(1 for c in ref.filter_code if c == 0)
    events[f"fill:{prep.fill_mode}"] += 1
    return events


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_kernel_matches_reference_on_random_specs(seed: int) -> None:
    check_parity(seed)


def test_fixed_seeds_cover_every_hard_case() -> None:
    """The same check on 120 fixed seeds, asserting the hard cases were really exercised."""
    total: Counter[str] = Counter()
    for seed in range(120):
        total += check_parity(seed)
    for key in ("short_trades", "reversal", "gap_through_stop", "rejections", "fill:0", "fill:1"):
        assert total[key] > 0, (key, total)
    for policy in (0, 1, 2):
        assert total[f"sl_tp_same_bar:{policy}:stop"] > 0, (policy, total)
        if policy:
            assert total[f"sl_tp_same_bar:{policy}:target"] > 0, (policy, total)


@pytest.mark.parametrize(("trail", "time_stop", "sl"), [
    (0.02, 2.5, np.nan), (0.02, 0.5, np.nan), (0.02, 1.0, np.nan), (1.5, np.nan, np.nan), (0.02, np.nan, 0.01),
    (-0.5, 3.0, np.nan), (0.02, np.inf, np.nan), (0.02, -np.inf, np.nan)])
@pytest.mark.parametrize("sides", ["both", "short"])
def test_slot_values_outside_the_built_ins_ranges(trail: float, time_stop: float, sl: float, sides: str) -> None:
    """Slot values an agent-written module may set (fractional or infinite time stops, trails of 100% or
    more, negative trails), which the kernel's shortcuts must not change: parity with the reference."""
    bars = bars_from_frame(random_bars(np.random.default_rng(11), 400))
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 3, "slow": 8}},
                execution={"name": "trailing_pct"}, risk={"name": "fixed_fraction", "params": {"fraction": 0.9}},
                engine={"sides": sides, "commission_bps": 5.0})
    prep = prepare(bars, spec)
    prep.fparams[0, F_TRAIL_PCT] = trail
    prep.fparams[0, F_TIME_STOP] = time_stop
    prep.fparams[0, F_SL_PCT] = sl
    events = assert_parity(prep, f"trail={trail} time_stop={time_stop} sl={sl} sides={sides}")
    assert events["trades"] > 0
