"""Build `TearsheetData` from what the engine and the experiment runner produce.

- `from_backtest_result`: one backtest (`BacktestResult` with recorded artifacts): its equity, trades and
  `Report` metrics; no OOS windows (a single backtest is not out-of-sample by itself).
- `from_backtest_artifacts`: the same from a directory written by `backtest.artifacts.save_artifacts`.
- `from_run`: a finished walk-forward `Run` + `RunResult`: the stitched out-of-sample equity, the target
  windows as OOS bands, all target trades and the `OOSSummary` metrics (+ numeric robustness entries).

Both draw buy and hold of the same instrument over the same span beside the equity (the `buy_and_hold`
NAV column of the artifacts) and list its return, Sharpe, max drawdown and the excess among the metrics.

Metric values are copied, never recomputed. The Monte Carlo fan (`fan.trade_bootstrap_fan`) resamples the
trades' compounding returns: net pnl / NAV at the close before the entry fill (the initial capital for a
trade entered at the first bar), the definition `experiment.window` uses for `equity_return`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.engine import BacktestResult
from auraquant.cta.backtest.metrics import Report, buy_and_hold_metrics
from auraquant.cta.experiment.models import Run, RunResult
from auraquant.cta.report.fan import trade_bootstrap_fan
from auraquant.cta.report.model import EquityCurve, Metric, MonteCarloFan, OOSWindow, TearsheetData, Trade

DEFAULT_MC_SIMS = 1000

# (field, label, display unit), in display order.
_REPORT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "total return", "return"), ("ann_return", "annualized return", "return"),
    ("sharpe", "Sharpe", "ratio"), ("max_drawdown", "max drawdown", "return"), ("trades", "trades", "count"),
    ("win_rate", "win rate", "pct"), ("sortino", "Sortino", "ratio"), ("calmar", "Calmar", "ratio"),
    ("ann_volatility", "annualized volatility", "pct"), ("psr", "PSR (vs 0)", "ratio"),
    ("dsr", "DSR", "ratio"), ("profit_factor", "profit factor", "ratio"), ("expectancy", "expectancy", "money"),
    ("avg_trade_return", "avg trade return", "return"), ("exposure", "exposure", "pct"),
    ("turnover", "turnover (NAV/yr)", "ratio"), ("var_95", "VaR 95% (daily)", "return"),
    ("cvar_95", "CVaR 95% (daily)", "return"), ("daily_mean", "mean daily return", "return"),
    ("daily_std", "daily volatility", "pct"), ("skew", "skew (daily)", "ratio"),
    ("kurtosis", "kurtosis (daily, non-excess)", "ratio"), ("n_days", "days", "count"),
    ("years", "years", "ratio"), ("final_nav", "final NAV", "money"), ("final_position", "final position", "ratio"),
    ("dsr_n_trials", "DSR trials", "count"), ("dsr_sharpe_variance", "DSR trial Sharpe variance", "ratio"),
    ("bh_total_return", "buy and hold return", "return"), ("bh_sharpe", "buy and hold Sharpe", "ratio"),
    ("bh_max_drawdown", "buy and hold max drawdown", "return"),
    ("excess_return", "excess return vs buy and hold", "return"),
    ("excess_sharpe", "excess Sharpe vs buy and hold", "ratio"),
)
_HEADLINE = ("total return", "annualized return", "Sharpe", "max drawdown", "trades", "win rate")


def _metrics(values: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> list[Metric]:
    out = [Metric(name=label, value=values[key], unit=unit) for key, label, unit in _REPORT_METRICS
           if key in values]
    for k, v in (extra or {}).items():
        if isinstance(v, int | float | str) or v is None:
            out.append(Metric(name=k, value=v, unit="count" if isinstance(v, int) and not isinstance(v, bool)
                              else "text" if isinstance(v, str) else "ratio"))
    return out


def _headline(metrics: list[Metric]) -> list[str]:
    names = {m.name for m in metrics}
    return [h for h in _HEADLINE if h in names]


def _costs(commission_bps: float, slippage_bps: float) -> str:
    return f"commission {commission_bps:g} bps + slippage {slippage_bps:g} bps per side"


def _times(col: pd.Series) -> list:
    return list(pd.DatetimeIndex(pd.to_datetime(col, utc=True)).to_pydatetime())


def _curve(frame: pd.DataFrame, initial: float, column: str = "equity") -> EquityCurve:
    return EquityCurve(times=_times(frame["time"]), nav=frame[column].astype(float).tolist(), initial=initial)


def _benchmark(frame: pd.DataFrame, initial: float) -> EquityCurve | None:
    """Buy and hold's NAV (the `buy_and_hold` column the engine and the runner write), if the artifacts have it."""
    return _curve(frame, initial, "buy_and_hold") if "buy_and_hold" in frame.columns else None


def _trades(frame: pd.DataFrame) -> list[Trade]:
    entry, exit_ = _times(frame["entry_time"]), _times(frame["exit_time"])
    return [Trade(entry_time=e, exit_time=x, side=int(s), pnl=float(p), ret=float(r), exit_reason=str(reason))
            for e, x, s, p, r, reason in zip(entry, exit_, frame["side"], frame["pnl"], frame["return"],
                                             frame["exit_reason"], strict=True)]


def equity_returns(trades: pd.DataFrame, equity: pd.DataFrame, initial: float) -> np.ndarray:
    """Per-trade compounding returns: net pnl / NAV at the close before the entry bar (see module doc)."""
    nav = equity["equity"].to_numpy(dtype=float)
    entry = trades["entry_bar"].to_numpy(dtype=np.int64)
    before = np.where(entry > 0, nav[np.maximum(entry - 1, 0)], initial)
    return trades["pnl"].to_numpy(dtype=float) / before


def _fan(returns: np.ndarray, n_sims: int, seed: int) -> MonteCarloFan | None:
    r = np.asarray(returns, dtype=float)
    if n_sims <= 0 or r.size < 2 or not np.isfinite(r).all() or (r < -1).any():
        return None
    return trade_bootstrap_fan(r, n_sims=n_sims, seed=seed)


def _report_context(rep: Report) -> tuple[str, dict[str, str]]:
    fill = rep.fill + (" (optimistic: signal and fill at one price)" if rep.fill_optimistic else
                       " (signal at bar close, fill at the next open)" if rep.fill == "next_open" else "")
    ctx = {"costs": _costs(rep.commission_bps, rep.slippage_bps),
           "initial capital": f"{rep.initial_capital:,.2f}",
           "data": f"{rep.data_from} to {rep.data_to} UTC, {rep.bars:,} bars",
           "position open at end": "yes (marked to market, not in the trade list)" if rep.open_position_at_end
           else "no",
           "engine semantics": rep.semantics}
    return fill, ctx


def from_backtest_result(result: BacktestResult, *, title: str | None = None,
                         ids: Mapping[str, str] | None = None, notes: Iterable[str] = (),
                         mc_sims: int = DEFAULT_MC_SIMS, mc_seed: int = 0) -> TearsheetData:
    """Tearsheet of one recorded backtest (`run_backtest(..., record=True)`)."""
    if result.equity is None or result.trades is None:
        raise ValueError("the backtest was run with record=False: no equity curve or trades to show")
    rep = result.report
    fill, ctx = _report_context(rep)
    body = rep.model_dump() | buy_and_hold_metrics(rep.buy_and_hold)
    metrics = _metrics(body)
    fan = _fan(equity_returns(result.trades, result.equity, rep.initial_capital), mc_sims, mc_seed)
    return TearsheetData(
        title=title or f"Backtest of {rep.spec_id}", subtitle="single backtest (in-sample unless stated otherwise)",
        ids={"report": rep.id, "spec": rep.spec_id, **(ids or {})},
        equity=_curve(result.equity, rep.initial_capital), benchmark=_benchmark(result.equity, rep.initial_capital),
        trades=_trades(result.trades), monte_carlo=fan,
        metrics=metrics, headline=_headline(metrics), annualization_basis=rep.annualization_basis,
        fill_policy=fill, intrabar_policy=rep.intrabar_policy, context=ctx, notes=list(notes))


def from_backtest_artifacts(directory: str | Path, **kwargs: Any) -> TearsheetData:
    """Tearsheet of a backtest saved by `auraquant.cta.backtest.artifacts.save_artifacts`."""
    d = Path(directory)
    body = json.loads((d / "report.json").read_text(encoding="utf-8"))
    body.pop("id", None)
    rep = Report.model_validate(body)
    result = BacktestResult(report=rep, metrics={}, equity=pd.read_parquet(d / "equity.parquet"),
                            trades=pd.read_parquet(d / "trades.parquet"))
    return from_backtest_result(result, **kwargs)


def _wf_summary(run: Run) -> str:
    wf = run.walk_forward
    parts = [f"{wf.mode}", f"train {wf.train_bars:,}"]
    if wf.validation_bars:
        parts.append(f"validation {wf.validation_bars:,}")
    parts += [f"target {wf.target_bars:,} bars", f"step {wf.step:,}"]
    if wf.embargo_bars:
        parts.append(f"embargo {wf.embargo_bars}")
    return ", ".join(parts)


def _numeric_robustness(robustness: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested robustness entries to `a.b` names; keep finite numbers (others become None)."""
    out: dict[str, Any] = {}
    for k, v in robustness.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_numeric_robustness(v, name + "."))
        elif isinstance(v, bool):
            out[name] = "yes" if v else "no"
        elif isinstance(v, int | float):
            out[name] = v if math.isfinite(v) else None
    return out


def from_run(run: Run, result: RunResult, artifacts_dir: str | Path | None = None, *, title: str | None = None,
             ids: Mapping[str, str] | None = None, notes: Iterable[str] = (),
             mc_sims: int = DEFAULT_MC_SIMS, mc_seed: int | None = None) -> TearsheetData:
    """Tearsheet of a finished walk-forward run (artifacts from `result.artifacts` unless given)."""
    if result.run_id != run.id:
        raise ValueError(f"result belongs to run {result.run_id}, not {run.id}")
    d = Path(artifacts_dir if artifacts_dir is not None else result.artifacts)
    e = run.spec.engine
    equity = pd.read_parquet(d / "oos_equity.parquet")
    trades = pd.read_parquet(d / "oos_trades.parquet")
    windows = [OOSWindow(start=w.target_span[0], end=w.target_span[1], label=f"W{w.window.index}")
               for w in result.windows]
    extra = {"windows": len(result.windows), "trials (all windows)": result.total_trials,
             **_numeric_robustness(result.robustness)}
    metrics = _metrics(result.oos.model_dump() | buy_and_hold_metrics(result.oos.buy_and_hold), extra)
    rets = trades["equity_return"].to_numpy(dtype=float) if "equity_return" in trades else np.array([])
    fan = _fan(rets, mc_sims, run.seed if mc_seed is None else mc_seed)
    s = run.search
    ctx = {"costs": _costs(e.commission_bps, e.slippage_bps), "initial capital": f"{e.initial_capital:,.2f}",
           "walk-forward": _wf_summary(run),
           "search": f"Optuna TPE, {s.n_trials} trials per window, objective {s.objective}, "
                     f"re-rank top {s.top_k} on validation, seed {run.seed}",
           "sides": e.sides}
    if run.data.holdout_start is not None:
        ctx["sealed holdout"] = f"from {run.data.holdout_start:%Y-%m-%d %H:%M} UTC (not searched, not shown)"
    all_ids = {"run": run.id, "spec": run.spec.id}
    if run.data.data_version_id:
        all_ids["data version"] = run.data.data_version_id
    all_ids.update(ids or {})
    return TearsheetData(
        title=title or f"{run.spec.name}: walk-forward out-of-sample",
        subtitle=f"{len(windows)} target windows stitched by compounding returns; every point shown is "
                 f"out-of-sample", ids=all_ids,
        equity=_curve(equity, e.initial_capital), benchmark=_benchmark(equity, e.initial_capital),
        oos_windows=windows, trades=_trades(trades), monte_carlo=fan,
        metrics=metrics, headline=_headline(metrics), annualization_basis=e.annualization,
        fill_policy=e.fill + (" (optimistic)" if e.fill == "same_close" else " (signal at bar close, fill at the "
                                                                              "next open)"),
        intrabar_policy=e.intrabar, context=ctx, notes=list(notes))
