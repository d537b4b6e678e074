"""Build `TearsheetData` for a universe walk-forward run (`urun_…`, `experiment.universe_walkforward`), and for a
saved universe backtest (`from_portfolio_artifacts`, a directory of `backtest.portfolio.save_portfolio_artifacts`).

Everything comes from what the run stored (`UniverseRun` + `UniverseRunResult`); no bar is read, so the
holdout stays sealed and there is no price chart or trade list (the run keeps trade counts, not trades):
- equity: the stitched out-of-sample portfolio NAV at its daily closes (`result.stitched["portfolio"]`),
  against the equal-weight basket's buy and hold on the same marks (`stitched["basket_buy_and_hold"]`);
- OOS bands: the target segments of `result.windows` with the parameters each chose;
- metrics: the portfolio's OOS metrics (`result.oos`, whose buy-and-hold figures are the basket's), the
  window count, the robustness figures (DSR as the run's significance block deflated it, PBO, SPA p,
  OOS trades) and the consistency across members, each with its verdict;
- `universe`: each member's stored OOS figures (Sharpe, return, max drawdown, trades, its own buy and hold
  when the run stored it) beside the portfolio row, the carriers and the correlation of member returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from auraquant.cta.backtest.engine import BacktestResult
from auraquant.cta.backtest.metrics import Report
from auraquant.cta.experiment.universe_walkforward import UniverseRun, UniverseRunResult
from auraquant.cta.report import verdicts
from auraquant.cta.report.adapters import (
    _costs,
    _flatten,
    _metrics,
    _param_space,
    from_backtest_result,
    robustness_metrics,
)
from auraquant.cta.report.model import (
    EquityCurve,
    HoldoutSegment,
    InstrumentRow,
    Metric,
    OOSWindow,
    TearsheetData,
    UniverseView,
)

BASKET_LABEL = "equal-weight basket buy and hold"
_HEADLINE_KEYS = ("total_return", "ann_return", "sharpe", "max_drawdown", "excess_return", "carriers")


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _row(symbol: str, m: Mapping[str, Any], bh: float | None) -> InstrumentRow:
    trades = m.get("trades")
    return InstrumentRow(symbol=symbol, sharpe=_num(m.get("sharpe")), total_return=_num(m.get("total_return")),
                         max_drawdown=_num(m.get("max_drawdown")),
                         trades=int(trades) if isinstance(trades, int | float) else None, bh_total_return=bh)


def universe_view(members: Mapping[str, Mapping[str, Any]], portfolio: Mapping[str, Any],
                  basket: Mapping[str, Any], consistency: Mapping[str, Any],
                  correlation: Mapping[str, Mapping[str, float | None]]) -> UniverseView:
    """The per-instrument section, copied from a stored result: `members` {symbol: metrics}, the portfolio's
    metrics, the equal-weight basket's buy and hold (its `total_return` is the portfolio row's buy and hold),
    the consistency block (`backtest.portfolio.consistency`) and the member return correlation."""
    rows = [_row(s, m, _num(m.get("bh_total_return"))) for s, m in members.items()]
    return UniverseView(members=rows, portfolio=_row("portfolio", portfolio, _num(basket.get("total_return"))),
                        carriers=int(consistency.get("carriers") or 0),
                        carrier_symbols=list(consistency.get("carrier_symbols") or []),
                        metric=str(consistency.get("metric", "sharpe")),
                        threshold=float(consistency.get("threshold") or 0.0),
                        correlation={a: dict(r) for a, r in correlation.items()})


def _consistency_metric(view: UniverseView) -> Metric:
    text, level = verdicts.consistency_verdict(view.carriers, len(view.members), view.metric, view.threshold)
    return Metric(name="instruments carrying the edge", value=view.carriers, unit="count", group="robustness",
                  key="carriers", verdict=text, level=level)


def _basket_named(m: Metric) -> Metric:
    """A benchmark metric renamed for the basket (the buy and hold of a universe is the equal-weight basket's)."""
    update: dict[str, str] = {"name": m.name.replace("buy and hold", "basket buy and hold")}
    if m.verdict:
        update["verdict"] = m.verdict.replace("buy and hold", "the equal-weight basket's buy and hold")
    return m.model_copy(update=update)


def _headline(metrics: list[Metric]) -> list[str]:
    by_key = {m.key: m.name for m in metrics}
    return [by_key[k] for k in _HEADLINE_KEYS if k in by_key]


def _dsr(sig: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The significance block's DSR entry (`dsr_<scope>`) as (scope, value)."""
    for k, v in sig.items():
        if k.startswith("dsr_") and k not in ("dsr_n_trials", "dsr_sharpe_variance"):
            return k.removeprefix("dsr_"), _num(v)
    return None, None


def _window_params(w: Mapping[str, Any]) -> dict[str, int | float]:
    """The parameters a window traded: the shared set, or with per-member selection each member's set under
    `<symbol> <parameter>` (one row per member and parameter in the stability heatmap)."""
    per_member = w.get("member_params") or {}
    if per_member:
        return {f"{sym} {k}": v for sym, mp in per_member.items() for k, v in mp.items() if isinstance(v, int | float)}
    return {k: v for k, v in (w.get("params") or {}).items() if isinstance(v, int | float)}


def _window(w: Mapping[str, Any]) -> OOSWindow:
    params = _window_params(w)
    return OOSWindow(start=pd.Timestamp(w["target_from"]).to_pydatetime(),
                     end=pd.Timestamp(w["target_to"]).to_pydatetime(), label=f"W{w['window']}", params=params,
                     train_score=_num(w.get("train_sharpe")), validation_score=None)


def from_universe_run(run: UniverseRun, result: UniverseRunResult, *, ids: Mapping[str, str] | None = None,
                      notes: Iterable[str] = (), data_end: datetime | None = None) -> TearsheetData:
    """Tearsheet of a finished universe walk-forward run (module docstring). `data_end`: the last bar time
    of the members' data, the end of the holdout band (no band without it)."""
    if result.run_id != run.id:
        raise ValueError(f"result belongs to run {result.run_id}, not {run.id}")
    st = result.stitched
    if len(st.get("time", [])) < 2:
        raise ValueError(f"universe run {run.id} stored fewer than two daily marks: no equity curve to draw")
    e = run.spec.engine
    times = list(pd.DatetimeIndex(pd.to_datetime(st["time"], utc=True)).to_pydatetime())
    equity = EquityCurve(times=times, nav=[float(x) for x in st["portfolio"]], initial=e.initial_capital)
    basket = EquityCurve(times=times, nav=[float(x) for x in st["basket_buy_and_hold"]], initial=e.initial_capital)
    view = universe_view(result.members, result.oos, result.basket_buy_and_hold, result.consistency,
                         result.correlation)
    metrics = [_basket_named(m) for m in _metrics(result.oos)]
    metrics.insert(next((i for i, m in enumerate(metrics) if m.group == "benchmark"), len(metrics)),
                   Metric(name="windows", value=len(result.windows), unit="count", group="trades", key="windows"))
    sig = result.significance
    scope, dsr = _dsr(sig)
    n = sig.get("dsr_n_trials")
    robust = robustness_metrics(result.robustness, dsr, int(n) if isinstance(n, int | float) else None,
                                result.total_trials, result.oos.get("trades"))
    robust = [m for m in robust if m.key not in ("mc_block", "mc_trades")]  # a universe run stores no simulation
    if scope:
        robust = [m.model_copy(update={"name": f"DSR ({scope} trials)"}) if m.key == "dsr" else m for m in robust]
    metrics += [*robust, _consistency_metric(view)]
    cfg = run.config
    ctx = {"costs": _costs(e.commission_bps, e.slippage_bps) + " (the Spec's; per-member overrides of the "
           "universe apply)", "initial capital": f"{e.initial_capital:,.2f}",
           "universe": f"{run.universe_id}: {', '.join(run.members)} ({run.calendar_bars:,} calendar bars before "
                       "the seal)",
           "walk-forward": f"rolling, {cfg.n_windows} windows, train {cfg.train_bars:,}, target "
                           f"{cfg.target_bars:,} calendar bars",
           "search": f"{cfg.n_trials} sampled parameter sets per window ({result.total_trials:,} trials counted), "
                     f"selection by {cfg.selection} train Sharpe, seed {cfg.seed}",
           "sizing": ", ".join(f"{k} {v}" for k, v in cfg.sizing.model_dump(mode="json").items()),
           "equity marks": "daily closes (UTC) of the stitched curves, as the run stored them",
           "gates": f"{sig.get('significance')}; failed: {', '.join(sig.get('failed_gates') or []) or 'none'}"}
    windows = [_window(w) for w in result.windows]
    space = _param_space(run.spec)
    # a per-member parameter is placed in the range of the parameter it sets
    space |= {n: space[n.split(" ", 1)[1]] for w in windows for n in w.params if " " in n and n.split(" ", 1)[1] in space}
    holdout = None
    if run.holdout_start is not None and data_end is not None and data_end > run.holdout_start:
        holdout = HoldoutSegment(start=run.holdout_start, end=data_end,
                                 label="sealed holdout of every member (not searched, not scored)")
        ctx["sealed holdout"] = f"from {run.holdout_start:%Y-%m-%d %H:%M} UTC for every member (not searched)"
    raw = _flatten({"oos": result.oos, "members": result.members, "consistency": result.consistency,
                    "correlation": result.correlation, "basket_buy_and_hold": result.basket_buy_and_hold,
                    "robustness": result.robustness, "significance": dict(sig), "total_trials": result.total_trials})
    return TearsheetData(
        title=f"{run.spec.name}: universe walk-forward out-of-sample on {', '.join(run.members)}",
        kind="universe_run",
        subtitle=f"{len(result.windows)} target windows stitched by compounding returns, {len(run.members)} "
                 "instruments; every point shown is out-of-sample",
        ids={"universe run": run.id, "universe": run.universe_id, "spec": run.spec.id, **(ids or {})},
        equity=equity, benchmark=basket, benchmark_label=BASKET_LABEL,
        oos_windows=windows, holdout=holdout, param_space=space,
        metrics=metrics, headline=_headline(metrics),
        annualization_basis=e.annualization,
        fill_policy=e.fill + (" (optimistic)" if e.fill == "same_close" else " (signal at bar close, fill at the "
                                                                              "next open)"),
        intrabar_policy=e.intrabar, context=ctx, notes=list(notes), raw=raw, universe=view)


def from_portfolio_artifacts(directory: str | Path, *, ids: Mapping[str, str] | None = None,
                             notes: Iterable[str] = ()) -> TearsheetData:
    """Tearsheet of a universe backtest saved by `backtest.portfolio.save_portfolio_artifacts` (in-sample, one
    run): the portfolio NAV against the equal-weight basket's buy and hold (`basket_buy_and_hold` column),
    the portfolio `Report` (its buy and hold is the basket's), every member's trades (pnl in portfolio
    currency, `pnl_portfolio`), and the members, consistency and correlation of `summary.json`."""
    d = Path(directory)
    summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
    body = dict(summary["portfolio"])
    body.pop("id", None)
    rep = Report.model_validate(body)
    equity = pd.read_parquet(d / "equity.parquet")
    equity = equity.assign(buy_and_hold=equity["basket_buy_and_hold"])
    trades = pd.read_parquet(d / "trades.parquet")
    # the portfolio's pnl of each trade (the member's pnl scaled by the units the portfolio held)
    trades = trades.assign(pnl=trades["pnl_portfolio"])
    base = from_backtest_result(BacktestResult(report=rep, metrics={}, equity=equity, trades=trades), notes=notes)
    view = universe_view(summary["members"], rep.model_dump(), summary.get("basket_buy_and_hold") or {},
                         summary.get("consistency") or {}, summary.get("correlation") or {})
    metrics = [_basket_named(m) if m.group == "benchmark" else m for m in base.metrics]
    metrics.append(_consistency_metric(view))
    members = ", ".join(v.symbol for v in view.members)
    raw = [*base.raw, *_flatten({"members": summary["members"], "consistency": summary.get("consistency") or {},
                                 "correlation": summary.get("correlation") or {},
                                 "basket_buy_and_hold": summary.get("basket_buy_and_hold") or {}})]
    return base.model_copy(update={
        "title": f"Universe backtest of {rep.spec_id} on {members}",
        "subtitle": f"portfolio backtest of {len(view.members)} instruments (in-sample unless stated otherwise)",
        "ids": {**base.ids, **(ids or {})}, "benchmark_label": BASKET_LABEL, "metrics": metrics,
        "headline": _headline(metrics), "raw": raw, "universe": view,
        "context": {**base.context, "trades": "every member's closed trades; net pnl in portfolio currency, "
                                              "return on the member's own entry notional"}})
