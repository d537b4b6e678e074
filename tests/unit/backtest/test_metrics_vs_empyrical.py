"""Our return metrics against empyrical-reloaded, an independent implementation, on real and synthetic returns.

Conventions matched explicitly (both sides state them; a mismatch here is a definition bug, not noise):
- returns: our daily returns are NAV(close of day d) / NAV(close of day d-1) - 1, the first day over the
  initial capital; on a curve with one bar per UTC day they are the bar returns empyrical receives;
- annualization: empyrical's `annualization=` is our `basis` (365 for 24/7 markets, 252 for exchange
  calendars), passed explicitly on every call, never empyrical's `period` default (252);
- Sharpe: risk-free 0, ddof=1, x sqrt(basis) (empyrical: same); Sortino: mean / sqrt(mean(min(r, 0)^2)) x
  sqrt(basis) (empyrical's downside risk with required return 0); annual return: (final / initial) ^
  (basis / n) - 1; annual volatility: std(ddof=1) x sqrt(basis); max drawdown: against the running peak
  including the initial capital (empyrical starts its cumulative curve at the starting value too);
  Calmar: annual return / |max drawdown|; VaR 95: the 5% quantile, linear interpolation (empyrical's
  `value_at_risk`, cutoff 0.05).
Not compared: CVaR (empyrical averages the int((n-1) q) + 1 smallest returns; ours averages the returns
<= the interpolated quantile, a different, documented definition), PSR/DSR, trade statistics (empyrical
has none).
"""

from __future__ import annotations

import math
from pathlib import Path

import empyrical
import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.metrics import nav_metrics
from auraquant.cta.backtest.sharpe import sharpe_of_returns, sharpe_ratio
from auraquant.cta.strategy.spec import Spec

REL = 1e-10
_DAY_NS = 86_400_000_000_000


def _empyrical(r: np.ndarray, basis: int) -> dict[str, float]:
    return {
        "sharpe": empyrical.sharpe_ratio(r, risk_free=0.0, annualization=basis),
        "sortino": empyrical.sortino_ratio(r, required_return=0.0, annualization=basis),
        "max_drawdown": empyrical.max_drawdown(r),
        "ann_return": empyrical.annual_return(r, annualization=basis),
        "ann_volatility": empyrical.annual_volatility(r, annualization=basis),
        "calmar": empyrical.calmar_ratio(r, annualization=basis),
        "var_95": empyrical.value_at_risk(r, cutoff=0.05),
    }


def _assert_match(ours: dict[str, float], r: np.ndarray, basis: int) -> None:
    theirs = _empyrical(r, basis)
    for name, expected in theirs.items():
        assert ours[name] == pytest.approx(expected, rel=REL, abs=1e-14), (name, ours[name], expected, basis)


def _daily_times(n: int, start: str = "2021-01-01") -> np.ndarray:
    return pd.date_range(start, periods=n, freq="1D", tz="UTC").as_unit("ns").asi8


def _nav_from_returns(r: np.ndarray, initial: float) -> np.ndarray:
    return initial * np.cumprod(1.0 + r)


@pytest.mark.parametrize("basis", [365, 252])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_returns_match_empyrical(seed: int, basis: int) -> None:
    """Fat-tailed synthetic daily returns with drift, a crash and a recovery: every compared metric agrees."""
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, 900) * 0.02 + 0.0005
    r[300:330] -= 0.03  # a drawdown deeper than the noise
    initial = 10_000.0
    m = nav_metrics(_daily_times(r.size), _nav_from_returns(r, initial), initial, basis)
    assert m["n_days"] == r.size
    _assert_match(m, r, basis)


def test_basis_is_the_annualization_factor_not_empyricals_default() -> None:
    """The factor must be passed: with empyrical's default (252 periods) a 365-day Sharpe differs."""
    r = np.random.default_rng(5).normal(0.001, 0.02, 500)
    m = nav_metrics(_daily_times(r.size), _nav_from_returns(r, 1.0), 1.0, 365)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=365), rel=REL)
    assert m["sharpe"] != pytest.approx(empyrical.sharpe_ratio(r), rel=1e-3)
    assert m["sharpe"] / empyrical.sharpe_ratio(r) == pytest.approx(math.sqrt(365 / 252), rel=1e-12)


def test_buy_and_hold_of_real_btc_days_matches_empyrical(shared_data: Path) -> None:
    """Real BTC daily closes held from the first close (no costs): the NAV is initial x close / close[0]."""
    frame = pd.read_parquet(shared_data / "binance_BTCUSDT_1d_2017-2025.parquet")
    close = frame["close"].to_numpy(dtype=np.float64)
    times = frame["time"].to_numpy(dtype="datetime64[ns]")
    nav = 1_000.0 * close / close[0]
    r = nav / np.concatenate([[1_000.0], nav[:-1]]) - 1.0
    m = nav_metrics(times, nav, 1_000.0, 365)
    assert m["n_days"] == len(frame) > 2_000
    _assert_match(m, r, 365)


def test_backtest_report_on_real_btc_days_matches_empyrical(shared_data: Path) -> None:
    """The kernel's own metric vector (a trading strategy with costs, on real BTC daily bars) against empyrical
    applied to the daily returns of the recorded equity curve."""
    frame = pd.read_parquet(shared_data / "binance_BTCUSDT_1d_2017-2025.parquet")
    assert (np.diff(frame["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)) == _DAY_NS).all()
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 10, "slow": 40}},
                execution=[{"name": "trailing_pct", "params": {"pct": 0.12}}],
                engine={"commission_bps": 10, "slippage_bps": 5, "initial_capital": 50_000.0})
    res = run_backtest(frame, spec)
    assert res.equity is not None and res.metrics["trades"] > 10
    nav = res.equity["equity"].to_numpy()
    r = nav / np.concatenate([[50_000.0], nav[:-1]]) - 1.0
    _assert_match(res.metrics, r, 365)
    assert res.report.sharpe == pytest.approx(empyrical.sharpe_ratio(r, annualization=365), rel=REL)


@pytest.mark.parametrize("basis", [1, 252, 365])
def test_python_sharpe_matches_empyrical(basis: int) -> None:
    r = np.random.default_rng(9).normal(0.0004, 0.013, 400)
    assert sharpe_of_returns(r, periods_per_year=basis) == pytest.approx(
        empyrical.sharpe_ratio(r, annualization=basis), rel=1e-12)
    assert sharpe_ratio(r.mean(), r.std(ddof=1), r.size, periods_per_year=basis) == pytest.approx(
        empyrical.sharpe_ratio(r, annualization=basis), rel=1e-12)
