from __future__ import annotations

import numpy as np

from auraquant.cta.report.overlays import spec_overlays
from auraquant.cta.strategy.indicators import ema, prior_max, prior_min
from auraquant.cta.strategy.spec import Spec


def _ohlc(n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    c = 100 * np.cumprod(1 + np.random.default_rng(0).normal(0, 0.01, n))
    return c, c * 1.01, c * 0.99, c


def test_builtin_lines_use_the_spec_parameters_and_module_defaults() -> None:
    o, h, lo, c = _ohlc()
    spec = Spec.model_validate({"baseline": {"name": "ema_cross", "params": {"fast": 7}},
                                "filters": [{"name": "adx_trend"}]})
    lines, notes = spec_overlays(spec, o, h, lo, c)
    assert [n for n, _ in lines] == ["EMA fast", "EMA slow"]
    np.testing.assert_array_equal(lines[0][1], ema(c, 7))
    np.testing.assert_array_equal(lines[1][1], ema(c, 26))  # the module's default slow period
    assert notes == ["adx_trend: no price-scale indicator"]
    d = Spec.model_validate({"baseline": {"name": "donchian_breakout", "params": {"period": 10}}})
    (hi_name, hi), (lo_name, low) = spec_overlays(d, o, h, lo, c)[0]
    np.testing.assert_array_equal(hi, prior_max(h, 10))
    np.testing.assert_array_equal(low, prior_min(lo, 10))


def test_agent_modules_are_never_run() -> None:
    o, h, lo, c = _ohlc()
    spec = Spec.model_validate({"baseline": {"name": "agent_cross"}})
    lines, notes = spec_overlays(spec, o, h, lo, c)
    assert lines == [] and notes == ["agent_cross: agent-written module, not run by the report (no lines drawn)"]
