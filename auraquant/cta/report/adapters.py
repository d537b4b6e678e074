"""Build `TearsheetData` from what the engine and the experiment runner produce.

- `from_backtest_result`: one backtest (`BacktestResult` with recorded artifacts): its equity, trades and
  `Report` metrics; no OOS windows (a single backtest is not out-of-sample by itself).
- `from_backtest_artifacts`: the same from a directory written by `backtest.artifacts.save_artifacts`.
- `from_run`: a finished walk-forward `Run` + `RunResult`: the stitched out-of-sample equity, the target
  windows as OOS bands with the parameters each window chose, all target trades, the `OOSSummary` metrics and
  the robustness figures (DSR, PBO, SPA, Monte Carlo intervals), each with its verdict
  (`auraquant.cta.report.verdicts`); the sealed holdout as a labelled band when the run has one.
- `with_record`: a run's tearsheet as an archive record shows it: the record's DSR (deflated by the trial
  ledger's count), and once frozen its holdout result on the holdout band and in a "holdout" group.

All draw buy and hold of the same instrument over the same span beside the equity (the `buy_and_hold`
NAV column of the artifacts) and list its return, Sharpe, max drawdown and the excess among the metrics.

Metric values are copied, never recomputed; every raw value (each robustness entry per window, the full
report, the record's significance block) also goes to `raw`, the page's collapsed appendix. Given the bars
(`bars`: time, open, high, low, close; read through the sealed access layer by the caller), the price chart
with the Spec's indicators (`overlays.spec_overlays`) and each trade's MAE / MFE
(`transforms.trade_excursions`) are derived here. The Monte Carlo fan (`fan.trade_bootstrap_fan`) resamples
the trades' compounding returns: net pnl / NAV at the close before the entry fill (the initial capital for a
trade entered at the first bar), the definition `experiment.window` uses for `equity_return`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.engine import BacktestResult
from auraquant.cta.backtest.metrics import Report, buy_and_hold_metrics
from auraquant.cta.experiment.models import Run, RunResult
from auraquant.cta.report import verdicts
from auraquant.cta.report.fan import trade_bootstrap_fan
from auraquant.cta.report.formatting import fmt_duration
from auraquant.cta.report.model import (
    EquityCurve,
    HoldoutSegment,
    Metric,
    MetricGroup,
    MetricUnit,
    MonteCarloFan,
    OOSWindow,
    Overlay,
    PriceChart,
    TearsheetData,
    Trade,
)
from auraquant.cta.report.overlays import spec_overlays
from auraquant.cta.report.transforms import trade_excursions
from auraquant.cta.strategy.spec import IntRange, Spec, apply_params

DEFAULT_MC_SIMS = 1000

# (field, label, display unit, group), in display order within each group. Fields not listed here are
# shown only in the raw appendix.
_REPORT_METRICS: tuple[tuple[str, str, MetricUnit, MetricGroup], ...] = (
    ("total_return", "total return", "return", "return"),
    ("ann_return", "annualized return", "return", "return"),
    ("sharpe", "Sharpe", "ratio", "return"), ("sortino", "Sortino", "ratio", "return"),
    ("calmar", "Calmar", "ratio", "return"),
    ("max_drawdown", "max drawdown", "return", "risk"),
    ("ann_volatility", "annualized volatility", "pct", "risk"),
    ("daily_std", "daily volatility", "pct", "risk"),
    ("var_95", "VaR 95% (daily)", "return", "risk"), ("cvar_95", "CVaR 95% (daily)", "return", "risk"),
    ("skew", "skew (daily)", "ratio", "risk"), ("kurtosis", "kurtosis (daily, non-excess)", "ratio", "risk"),
    ("trades", "trades", "count", "trades"), ("win_rate", "win rate", "pct", "trades"),
    ("profit_factor", "profit factor", "ratio", "trades"), ("expectancy", "expectancy (per trade)", "money", "trades"),
    ("avg_trade_return", "avg trade return", "return", "trades"), ("exposure", "exposure", "pct", "trades"),
    ("turnover", "turnover (NAV/yr)", "ratio", "trades"),
    ("bh_total_return", "buy and hold return", "return", "benchmark"),
    ("bh_sharpe", "buy and hold Sharpe", "ratio", "benchmark"),
    ("bh_max_drawdown", "buy and hold max drawdown", "return", "benchmark"),
    ("excess_return", "excess return vs buy and hold", "return", "benchmark"),
    ("excess_sharpe", "excess Sharpe vs buy and hold", "ratio", "benchmark"),
)
_HEADLINE = ("total return", "annualized return", "Sharpe", "max drawdown", "excess return vs buy and hold",
             "trades")


def _metrics(values: Mapping[str, Any]) -> list[Metric]:
    out = [Metric(name=label, value=values[key], unit=unit, group=group, key=key)
           for key, label, unit, group in _REPORT_METRICS if key in values]
    bench = {m.key: m.value for m in out if m.group == "benchmark"}
    if "excess_return" in bench:
        text, level = verdicts.excess_verdict(bench.get("excess_return"), bench.get("excess_sharpe"))
        out = [m.model_copy(update={"verdict": text, "level": level}) if m.key == "excess_return" else m for m in out]
    return out


def _raw_value(v: Any) -> float | int | str | None:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | str) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return json.dumps(v, default=str, sort_keys=True)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[Metric]:
    """Every entry of a nested mapping as a raw appendix row named `a.b.c`, in the mapping's order."""
    out: list[Metric] = []
    for k, v in values.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += _flatten(v, name + ".")
        else:
            out.append(Metric(name=name, value=_raw_value(v), unit="raw", group="other", key=name))
    return out


def trade_metrics(trades: list[Trade], present: set[str]) -> list[Metric]:
    """Trade-list figures the engine's summary may lack, derived from the listed trades (engine definitions:
    win rate = share with net pnl > 0): win rate and profit factor when not in `present`, plus the average
    holding time, the best and worst trade return and the median MAE / MFE."""
    if not trades:
        return []
    pnl = np.array([t.pnl for t in trades])
    ret = np.array([t.ret for t in trades])
    out: list[Metric] = []
    if "win_rate" not in present:
        out.append(Metric(name="win rate", value=float((pnl > 0).mean()), unit="pct", group="trades", key="win_rate"))
    if "profit_factor" not in present:
        loss = float(-pnl[pnl < 0].sum())
        out.append(Metric(name="profit factor", value=float(pnl[pnl > 0].sum()) / loss if loss > 0 else None,
                          group="trades", key="profit_factor"))
    hold = np.mean([(t.exit_time - t.entry_time).total_seconds() for t in trades])
    out += [Metric(name="avg holding time", value=fmt_duration(timedelta(seconds=float(hold))), unit="text",
                   group="trades", key="avg_holding_time"),
            Metric(name="best trade", value=float(ret.max()), unit="return", group="trades", key="best_trade"),
            Metric(name="worst trade", value=float(ret.min()), unit="return", group="trades", key="worst_trade")]
    for key, label in (("mae", "median MAE"), ("mfe", "median MFE")):
        vals = [getattr(t, key) for t in trades if getattr(t, key) is not None]
        if vals:
            out.append(Metric(name=label, value=float(np.median(vals)), unit="return", group="trades", key=key))
    return out


def _with_trade_metrics(metrics: list[Metric], trades: list[Trade]) -> list[Metric]:
    """`metrics` with `trade_metrics` inserted after the last trades-group entry."""
    extra = trade_metrics(trades, {m.key for m in metrics})
    last = max((i for i, m in enumerate(metrics) if m.group == "trades"), default=len(metrics) - 1)
    return metrics[:last + 1] + extra + metrics[last + 1:]


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


def _opt_float(col: str, frame: pd.DataFrame) -> list[float | None]:
    if col not in frame.columns:
        return [None] * len(frame)
    return [float(x) if math.isfinite(float(x)) else None for x in frame[col]]


def _trades(frame: pd.DataFrame, bars: pd.DataFrame | None, fill_at_open: bool) -> list[Trade]:
    entry, exit_ = _times(frame["entry_time"]), _times(frame["exit_time"])
    ep, xp = _opt_float("entry_price", frame), _opt_float("exit_price", frame)
    sides = [int(s) for s in frame["side"]]
    reasons = [str(r) for r in frame["exit_reason"]]
    excursions: list[tuple[float | None, float | None]] = [(None, None)] * len(frame)
    if bars is not None and len(frame) and None not in ep and None not in xp:
        excursions = trade_excursions(
            bars["time"], bars["open"].to_numpy(dtype=float), bars["high"].to_numpy(dtype=float),
            bars["low"].to_numpy(dtype=float),
            [(e, x, s, float(a), float(b), r) for e, x, s, a, b, r in zip(entry, exit_, sides, ep, xp, reasons,
                                                                          strict=True)],
            fill_at_open=fill_at_open)
    return [Trade(entry_time=e, exit_time=x, side=s, pnl=float(p), ret=float(r), exit_reason=reason,
                  entry_price=a, exit_price=b, mae=mae, mfe=mfe)
            for e, x, s, p, r, reason, a, b, (mae, mfe) in zip(
                entry, exit_, sides, frame["pnl"], frame["return"], reasons, ep, xp, excursions, strict=True)]


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


def _in_span(bars: pd.DataFrame, start: datetime, end: datetime) -> np.ndarray:
    t = pd.DatetimeIndex(pd.to_datetime(bars["time"], utc=True))
    return np.asarray((t >= pd.Timestamp(start)) & (t <= pd.Timestamp(end)))


def _price_chart(bars: pd.DataFrame | None, equity: EquityCurve, segments: list[tuple[Spec, datetime, datetime]],
                 symbol: str, how: str) -> PriceChart | None:
    """Close prices over the equity span and the Spec's lines. `segments` gives the Spec (with the parameters
    that traded) per span [start, end]; each span's indicators are computed on that span's bars alone, as the
    engine saw them (a backtest, and each walk-forward target segment, warm up from its own first bar)."""
    if bars is None or len(bars) < 2:
        return None
    shown = _in_span(bars, equity.times[0], equity.times[-1])
    if shown.sum() < 2:
        return None
    by_label: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for spec, start, end in segments:
        seg = _in_span(bars, start, end)
        if not seg.any():
            continue
        o, h, lo, c = (bars[k].to_numpy(dtype=np.float64)[seg] for k in ("open", "high", "low", "close"))
        lines, why = spec_overlays(spec, o, h, lo, c)
        notes += [n for n in why if n not in notes]
        for label, values in lines:
            line = by_label.setdefault(label, np.full(len(bars), np.nan))
            line[seg] = values
    overlays = [Overlay(name=label, values=[float(v) if math.isfinite(v) else None for v in line[shown]])
                for label, line in by_label.items()]
    caption = how + ("; " + "; ".join(notes) if notes else "")
    return PriceChart(symbol=symbol, times=_times(bars["time"][shown]),
                      close=bars["close"].to_numpy(dtype=np.float64)[shown].tolist(), overlays=overlays,
                      caption=caption)


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


def _robust(key: str, name: str, value: Any, unit: MetricUnit, verdict: tuple[str, str]) -> Metric:
    return Metric(name=name, value=value, unit=unit, group="robustness", key=key, verdict=verdict[0],
                  level=verdict[1])  # type: ignore[arg-type]


def from_backtest_result(result: BacktestResult, *, title: str | None = None,
                         ids: Mapping[str, str] | None = None, notes: Iterable[str] = (),
                         mc_sims: int = DEFAULT_MC_SIMS, mc_seed: int = 0, bars: pd.DataFrame | None = None,
                         spec: Spec | None = None, symbol: str = "") -> TearsheetData:
    """Tearsheet of one recorded backtest (`run_backtest(..., record=True)`); `bars` (the bars it ran on, or
    a superset) and `spec` add the price chart, the indicators and MAE / MFE."""
    if result.equity is None or result.trades is None:
        raise ValueError("the backtest was run with record=False: no equity curve or trades to show")
    rep = result.report
    fill, ctx = _report_context(rep)
    body = rep.model_dump() | buy_and_hold_metrics(rep.buy_and_hold)
    trades = _trades(result.trades, bars, rep.fill == "next_open")
    metrics = _with_trade_metrics(_metrics(body), trades)
    metrics += [_robust("psr", "PSR (vs 0)", rep.psr, "prob", verdicts.psr_verdict(rep.psr)),
                _robust("trades_enough", "trades (enough to judge?)", rep.trades, "count",
                        verdicts.trades_verdict(rep.trades))]
    fan = _fan(equity_returns(result.trades, result.equity, rep.initial_capital), mc_sims, mc_seed)
    equity = _curve(result.equity, rep.initial_capital)
    price = None
    if bars is not None:
        segs = [(spec, equity.times[0], equity.times[-1])] if spec is not None else []
        how = ("close of each bar; indicators recomputed from the backtest's own bars with the Spec's "
               "parameters (as the engine saw them, warm-up included)")
        price = _price_chart(bars, equity, segs, symbol, how if spec is not None else "close of each bar")
    return TearsheetData(
        title=title or (f"{spec.name}: backtest" if spec is not None else f"Backtest of {rep.spec_id}")
        + (f" on {symbol}" if symbol else ""), subtitle="single backtest (in-sample unless stated otherwise)",
        ids={"report": rep.id, "spec": rep.spec_id, **(ids or {})}, kind="backtest",
        equity=equity, benchmark=_benchmark(result.equity, rep.initial_capital),
        trades=trades, monte_carlo=fan, price=price,
        metrics=metrics, headline=_headline(metrics), annualization_basis=rep.annualization_basis,
        fill_policy=fill, intrabar_policy=rep.intrabar_policy, context=ctx, notes=list(notes),
        raw=_flatten(rep.model_dump(mode="json"), "report."))


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


def _get(d: Mapping[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping) or p not in d:
            return None
        d = d[p]
    return d


def robustness_metrics(robustness: Mapping[str, Any], dsr: float | None, dsr_trials: int | None,
                       total_trials: int | None, oos_trades: int | None) -> list[Metric]:
    """The robustness group of a walk-forward result: DSR (deflated by `dsr_trials`), PBO, SPA p, the Monte
    Carlo 95% intervals of the final return, and whether there are enough trades; each with its verdict."""
    spa = robustness.get("spa_consistent_median")
    pbo = robustness.get("pbo")
    out = [Metric(name="trials (all windows)", value=total_trials, unit="count", group="robustness",
                  key="total_trials"),
           _robust("dsr", "DSR", dsr, "prob", verdicts.dsr_verdict(dsr, dsr_trials)),
           _robust("pbo", "PBO", pbo, "prob", verdicts.pbo_verdict(pbo)),
           _robust("spa_p", "SPA p (median of windows)", spa, "prob", verdicts.spa_verdict(spa, total_trials))]
    for key, label, what in (("mc_block", "Monte Carlo, daily blocks", "daily-block bootstrap return"),
                             ("mc_trades", "Monte Carlo, trades", "trade bootstrap return")):
        lo, hi = _get(robustness, key, "final_return", "ci_low"), _get(robustness, key, "final_return", "ci_high")
        med = _get(robustness, key, "final_return", "median")
        out.append(Metric(name=f"{label}: median return", value=med, unit="return", group="robustness", key=key,
                          verdict=verdicts.interval_verdict(what, lo, hi)[0],
                          level=verdicts.interval_verdict(what, lo, hi)[1]))
    out.append(_robust("trades_enough", "OOS trades (enough to judge?)", oos_trades, "count",
                       verdicts.trades_verdict(oos_trades)))
    return out


def _param_space(spec: Spec) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for name, space in spec.search_space.items():
        if isinstance(space, IntRange) or hasattr(space, "low"):
            out[name] = (float(space.low), float(space.high))  # type: ignore[union-attr]
        else:
            choices = [float(c) for c in space.choices]  # type: ignore[union-attr]
            out[name] = (min(choices), max(choices))
    return out


def holdout_band(run: Run, data_end: datetime | None) -> HoldoutSegment | None:
    """The run's sealed holdout [holdout start, end of the data] as an unscored band (None without one)."""
    if run.data.holdout_start is None or data_end is None or data_end <= run.data.holdout_start:
        return None
    return HoldoutSegment(start=run.data.holdout_start, end=data_end, scored=False,
                          label="sealed holdout (not searched, not scored)")


def from_run(run: Run, result: RunResult, artifacts_dir: str | Path | None = None, *, title: str | None = None,
             ids: Mapping[str, str] | None = None, notes: Iterable[str] = (),
             mc_sims: int = DEFAULT_MC_SIMS, mc_seed: int | None = None, bars: pd.DataFrame | None = None,
             data_end: datetime | None = None, symbol: str = "") -> TearsheetData:
    """Tearsheet of a finished walk-forward run (artifacts from `result.artifacts` unless given). `bars`: the
    run's visible bars (never the holdout) for the price chart and MAE / MFE; `data_end`: the last bar time of
    the data version, the end of the holdout band."""
    if result.run_id != run.id:
        raise ValueError(f"result belongs to run {result.run_id}, not {run.id}")
    d = Path(artifacts_dir if artifacts_dir is not None else result.artifacts)
    e = run.spec.engine
    equity_frame = pd.read_parquet(d / "oos_equity.parquet")
    trades = pd.read_parquet(d / "oos_trades.parquet")
    windows = [OOSWindow(start=w.target_span[0], end=w.target_span[1], label=f"W{w.window.index}",
                         params=dict(w.params), train_score=w.train_score, validation_score=w.validation_score,
                         n_trials=w.n_trials) for w in result.windows]
    oos = result.oos
    metrics = _metrics(oos.model_dump() | buy_and_hold_metrics(oos.buy_and_hold))
    metrics.insert(next((i for i, m in enumerate(metrics) if m.group == "benchmark"), len(metrics)),
                   Metric(name="windows", value=len(result.windows), unit="count", group="trades", key="windows"))
    trade_list = _trades(trades, bars, e.fill == "next_open")
    metrics = _with_trade_metrics(metrics, trade_list)
    metrics += robustness_metrics(result.robustness, oos.dsr, oos.dsr_n_trials, result.total_trials, oos.trades)
    rets = trades["equity_return"].to_numpy(dtype=float) if "equity_return" in trades else np.array([])
    fan = _fan(rets, mc_sims, run.seed if mc_seed is None else mc_seed)
    s = run.search
    ctx = {"costs": _costs(e.commission_bps, e.slippage_bps), "initial capital": f"{e.initial_capital:,.2f}",
           "walk-forward": _wf_summary(run),
           "search": f"Optuna TPE, {s.n_trials} trials per window ({result.total_trials:,} in all), objective "
                     f"{s.objective}, re-rank top {s.top_k} on validation, seed {run.seed}",
           "sides": e.sides}
    if run.data.holdout_start is not None:
        ctx["sealed holdout"] = f"from {run.data.holdout_start:%Y-%m-%d %H:%M} UTC (not searched)"
    all_ids = {"run": run.id, "spec": run.spec.id}
    if run.data.data_version_id:
        all_ids["data version"] = run.data.data_version_id
    all_ids.update(ids or {})
    equity = _curve(equity_frame, e.initial_capital)
    price = None
    if bars is not None:
        segs = [(apply_params(run.spec, w.params), w.start, w.end) for w in windows]
        price = _price_chart(bars, equity, segs, symbol, "close of each bar; indicators recomputed on each "
                             "window's own target bars with the parameters it chose (as the engine saw them: they "
                             "restart at every window start)")
    raw = _flatten({"oos": oos.model_dump(mode="json"), "robustness": result.robustness,
                    "total_trials": result.total_trials})
    return TearsheetData(
        title=title or f"{run.spec.name}: walk-forward out-of-sample" + (f" on {symbol}" if symbol else ""),
        kind="run",
        subtitle=f"{len(windows)} target windows stitched by compounding returns; every point shown is "
                 f"out-of-sample", ids=all_ids,
        equity=equity, benchmark=_benchmark(equity_frame, e.initial_capital),
        oos_windows=windows, trades=trade_list, monte_carlo=fan, price=price,
        holdout=holdout_band(run, data_end), param_space=_param_space(run.spec),
        metrics=metrics, headline=_headline(metrics), annualization_basis=e.annualization,
        fill_policy=e.fill + (" (optimistic)" if e.fill == "same_close" else " (signal at bar close, fill at the "
                                                                              "next open)"),
        intrabar_policy=e.intrabar, context=ctx, notes=list(notes), raw=raw)


# The holdout metrics shown in the holdout group (the rest of the record's holdout block is raw).
_HOLDOUT_SHOWN: tuple[tuple[str, str, MetricUnit], ...] = (
    ("total_return", "holdout return", "return"), ("sharpe", "holdout Sharpe", "ratio"),
    ("max_drawdown", "holdout max drawdown", "return"), ("trades", "holdout trades", "count"),
    ("bh_total_return", "holdout buy and hold return", "return"),
    ("excess_return", "holdout excess return vs buy and hold", "return"), ("bars", "holdout bars", "count"),
    ("holdout_look", "holdout look", "count"))


def with_record(data: TearsheetData, record: Any, oos_sharpe: float | None) -> TearsheetData:
    """`data` (a run's tearsheet) as archive record `record` shows it (see the module docstring)."""
    sig: Mapping[str, Any] = record.significance or {}
    metrics = list(data.metrics)
    if sig.get("dsr") is not None or sig.get("dsr_n_trials") is not None:
        n = sig.get("dsr_n_trials")
        n = int(n) if isinstance(n, int | float) else None
        scope = sig.get("dsr_scope") or "ledger"
        dsr = _robust("dsr", f"DSR ({scope} trials)", sig.get("dsr"), "prob", verdicts.dsr_verdict(sig.get("dsr"), n))
        metrics = [dsr if m.key == "dsr" else m for m in metrics]
    holdout = data.holdout
    ho: Mapping[str, Any] = record.holdout or {}
    if ho:
        look = ho.get("holdout_look")
        text, level = verdicts.holdout_verdict(ho.get("total_return"), ho.get("sharpe"),
                                               int(look) if look else None, oos_sharpe)
        shown = [Metric(name=label, value=ho.get(k), unit=unit, group="holdout", key=f"holdout_{k}")
                 for k, label, unit in _HOLDOUT_SHOWN if k in ho]
        if shown:
            shown[0] = shown[0].model_copy(update={"verdict": text, "level": level})
        metrics += shown
        if holdout is not None:
            holdout = holdout.model_copy(update={"scored": True, "label": text, "metrics": shown})
    raw = [*data.raw, *_flatten({"record": {"significance": dict(sig), "holdout": dict(ho),
                                            "state": record.state, "trial_count": record.trial_count}})]
    return data.model_copy(update={"kind": "record", "metrics": metrics, "holdout": holdout, "raw": raw})
