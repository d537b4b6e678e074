"""Experiment tools: single backtests, parameter sweeps, walk-forward experiments (background jobs), reports,
comparisons, Monte Carlo and the robustness view.

Every number returned here was computed by the engine (`backtest`) or the experiment layer
(`experiment`) and is stored under the id the output cites; comparisons only subtract stored values.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.canonical import ContentModel, content_id
from auraquant.cta.backtest.artifacts import save_artifacts
from auraquant.cta.backtest.engine import buy_and_hold_of, run_backtest, run_sweep
from auraquant.cta.backtest.lookahead import LookaheadError
from auraquant.cta.backtest.lookahead_gate import require_causal
from auraquant.cta.backtest.metrics import Report, buy_and_hold_metrics, rank_rows
from auraquant.cta.data.access import HoldoutSealed
from auraquant.cta.experiment import ledger, runner
from auraquant.cta.experiment.compare import compare_runs
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.models import RUN_KIND, Run, RunResult
from auraquant.cta.experiment.montecarlo import block_bootstrap_mc, trade_order_mc
from auraquant.cta.experiment.robustness import RobustnessConfig
from auraquant.cta.experiment.significance import ledger_view
from auraquant.cta.experiment.stitch import daily_returns
from auraquant.cta.sandbox import isolation
from auraquant.cta.sandbox.errors import ModuleSandboxError
from auraquant.cta.tools import modules, state
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.tools.models import refuse_unfitted
from auraquant.cta.tools.preflight import (
    holdout_declared,
    holdout_untouched,
    modules_ready,
    persisted_spec,
    qualified_data,
    search_space_configured,
    spec_bound_to_data,
    stored_spec,
)
from auraquant.jsonsafe import json_safe
from auraquant.store import NotFound

CAT = "experiment"
KEY_METRICS = ("total_return", "ann_return", "sharpe", "sortino", "calmar", "max_drawdown", "trades", "win_rate",
               "profit_factor", "exposure", "psr")
MC_KIND = "montecarlo"


class BacktestRecord(ContentModel):
    """Which Spec ran on which bars, and where its Report and artifacts are."""

    _id_prefix = "bt"
    spec_id: str
    data_version_id: str
    first_bar: datetime
    last_bar: datetime
    report_id: str
    artifacts: str
    manifest: dict[str, str]


class BacktestOut(BaseModel):
    backtest_id: str
    report_id: str
    spec_id: str
    data_version_id: str
    bars: int
    metrics: dict[str, float | int | None]
    artifacts: str
    notes: list[str]
    isolation: str | None = None  # confinement of agent-written modules; None = built-ins only (in-process)


class SweepOut(BaseModel):
    sweep_id: str
    spec_id: str
    buy_and_hold: dict[str, Any] = Field(description="buy and hold over the same bars (each top row also has "
                                                     "its excess_return and excess_sharpe over it)")
    sets: int
    sort_by: str
    top: list[dict[str, Any]]
    table: str
    isolation: str | None = None  # confinement of agent-written modules; None = built-ins only (in-process)


class ExperimentState(BaseModel):
    run_id: str
    state: str
    windows: int
    windows_complete: int
    error: str | None = None
    result: dict[str, Any] | None = Field(None, description="compact OOS summary once finished")


class Evaluation(BaseModel):
    id: str
    kind: Literal["report", "run"]
    spec_id: str
    metrics: dict[str, Any]
    details: dict[str, Any]


class Comparison(BaseModel):
    a: str
    b: str
    kind: Literal["report", "run"]
    metrics: list[dict[str, Any]] = Field(description="per metric: a, b and delta = b - a (None if undefined)")
    config: dict[str, Any] = Field(default_factory=dict, description="run definitions that differ")
    windows_changed: list[int] = Field(default_factory=list)
    windows: list[dict[str, Any]] = Field(default_factory=list)


class MonteCarloRecord(ContentModel):
    _id_prefix = "mc"
    source_id: str
    method: str
    n_sims: int
    seed: int
    n_returns: int
    summary: dict[str, dict[str, float]]


class Robustness(BaseModel):
    run_id: str
    total_trials: int
    oos: dict[str, Any]
    deflated_sharpe: dict[str, Any]
    montecarlo: list[dict[str, Any]]
    window_stability: dict[str, Any]
    runner_robustness: dict[str, Any]
    not_available: list[str]


def _compact(report: Report | dict[str, Any]) -> dict[str, float | int | None]:
    """The key metrics of a report and buy and hold beside them (bh_*, excess_*)."""
    body = report.model_dump() if isinstance(report, Report) else report
    return {k: body.get(k) for k in KEY_METRICS} | buy_and_hold_metrics(body.get("buy_and_hold"))


def _engine_dir(ctx: Ctx, spec: Any) -> Path | None:
    return modules.engine_modules_dir(ctx.deps.runtime_dir, spec)


def _require_causal(check: Callable[[], Any]) -> None:
    """Run a look-ahead gate; a leak (or a module that cannot be checked) refuses the call in one line."""
    try:
        check()
    except LookaheadError as exc:
        raise ToolFailure(f"{exc} -> fix the module (module_write) or use another one") from None
    except (LookupError, ValueError) as exc:
        raise ToolFailure(f"look-ahead check could not run: {exc}") from None


def _dv_for(ctx: Ctx, spec_id: str, dv_id: str | None) -> str:
    dv = dv_id or state.spec_data_version(ctx.deps.workspace.store, spec_id)
    if dv is None:
        raise ToolFailure(f"Spec {spec_id} is not bound to a data version; pass data_version_id")
    return dv


_SPEC_READY = [persisted_spec(), modules_ready(stored_spec()), spec_bound_to_data(), qualified_data(),
               holdout_untouched()]


@tool(category=CAT, timeout_s=600, preflight=_SPEC_READY)
def backtest_run(ctx: Ctx, spec_id: str, data_version_id: str | None = None, start: datetime | None = None,
                 end: datetime | None = None) -> BacktestOut:
    """Backtest a persisted Spec once on `[start, end)` of its data version (never into the holdout).

    Stores the Report (metrics + the semantics they were computed under) and the artifacts (equity,
    trades, step summary, filter/risk decisions) and returns their ids. In-sample evidence only: judge a
    hypothesis with experiment_run (walk-forward) before archiving anything."""
    store = ctx.deps.workspace.store
    spec = state.spec(store, spec_id)
    refuse_unfitted(spec)
    dv_id = _dv_for(ctx, spec_id, data_version_id)
    bars = state.research_bars(store, dv_id, start, end)
    _require_causal(lambda: require_causal(spec, bars, _engine_dir(ctx, spec),
                                           cache_dir=runner.lookahead_cache_dir(ctx.deps.workspace)))
    try:
        res = run_backtest(bars, spec, record=True, extra_dir=_engine_dir(ctx, spec))
    except ModuleSandboxError as exc:
        raise ToolFailure(f"agent module stopped in the sandbox: {exc}") from None
    except (ValueError, LookupError) as exc:
        raise ToolFailure(f"engine refused the Spec: {exc}") from None
    report_id = store.put_object(state.REPORT, res.report)
    rep = res.report
    ledger.record_backtest(store, state.data_version(store, dv_id).content_hash, ctx.session_id, report_id,
                           rep.daily_mean, rep.daily_std, rep.n_days)
    out_dir = ctx.deps.workspace.artifacts / "backtests" / report_id
    manifest = save_artifacts(res, out_dir)
    rec = BacktestRecord(spec_id=spec_id, data_version_id=dv_id, first_bar=bars["time"].iloc[0].to_pydatetime(),
                         last_bar=bars["time"].iloc[-1].to_pydatetime(), report_id=report_id,
                         artifacts=str(out_dir.relative_to(ctx.deps.workspace.root)), manifest=manifest)
    store.put_object(state.BACKTEST, rec)
    notes = []
    if res.report.fill_optimistic:
        notes.append("same-close fills: optimistic")
    if res.report.open_position_at_end:
        notes.append("a position is still open at the end (marked to market)")
    if res.report.trades < 30:
        notes.append(f"only {res.report.trades} trades: statistics are weak")
    level = isolation.spec_isolation(spec, _engine_dir(ctx, spec))
    if level is not None:
        notes.append(f"agent-written modules ran in the sandbox worker ({level})")
    return BacktestOut(backtest_id=rec.id, report_id=report_id, spec_id=spec_id, data_version_id=dv_id,
                       bars=res.report.bars, metrics=_compact(res.report), artifacts=rec.artifacts, notes=notes,
                       isolation=level)


@tool(category=CAT, timeout_s=600, preflight=_SPEC_READY)
def sweep_run(ctx: Ctx, spec_id: str, param_sets: list[dict[str, int | float]] = Field(min_length=1, max_length=5000),
              data_version_id: str | None = None, start: datetime | None = None, end: datetime | None = None,
              sort_by: Literal["sharpe", "sortino", "calmar", "total_return", "dsr"] = "sharpe",
              top: int = Field(10, ge=1, le=50)) -> SweepOut:
    """Metrics of a Spec under many parameter sets in one compiled call (in-sample, counts as trials).

    `param_sets` are flat dicts of parameter paths (e.g. {"baseline.fast": 8, "execution.trailing_pct.pct":
    0.05}). The full table is stored; the top rows by `sort_by` are returned (ruined runs last), with DSR
    deflated by the number of sets. Prefer experiment_run for evidence: a sweep's best row is selection-biased."""
    store = ctx.deps.workspace.store
    spec = state.spec(store, spec_id)
    refuse_unfitted(spec)
    dv_id = _dv_for(ctx, spec_id, data_version_id)
    bars = state.research_bars(store, dv_id, start, end)
    _require_causal(lambda: require_causal(spec, bars, _engine_dir(ctx, spec),
                                           cache_dir=runner.lookahead_cache_dir(ctx.deps.workspace),
                                           extra_sets=param_sets))
    try:
        table = run_sweep(bars, spec, param_sets, extra_dir=_engine_dir(ctx, spec))
    except ModuleSandboxError as exc:
        raise ToolFailure(f"agent module stopped in the sandbox: {exc}") from None
    except (ValueError, LookupError, KeyError) as exc:
        raise ToolFailure(f"engine refused the sweep: {exc}") from None
    sweep_id = content_id("sweep", {"spec_id": spec_id, "dv": dv_id, "first": str(bars["time"].iloc[0]),
                                    "last": str(bars["time"].iloc[-1]), "sets": param_sets})
    path = ctx.deps.workspace.artifacts / "sweeps" / f"{sweep_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)
    ledger.record_sweep_trials(store, state.data_version(store, dv_id).content_hash, ctx.session_id, sweep_id, table)
    ranked = rank_rows(table, sort_by).head(top)
    cols = list(param_sets[0]) + [c for c in (*KEY_METRICS, "dsr") if c in table.columns]
    bh = buy_and_hold_of(bars, spec)
    rows = []
    for r in ranked[cols].to_dict("records"):
        row = {k: json_safe(v) for k, v in r.items()}
        excess = bh.versus(row)
        rows.append(row | {"excess_return": excess.excess_return, "excess_sharpe": excess.excess_sharpe})
    return SweepOut(sweep_id=sweep_id, spec_id=spec_id, buy_and_hold=bh.model_dump(), sets=len(table),
                    sort_by=sort_by, top=rows,
                    table=str(path.relative_to(ctx.deps.workspace.root)),
                    isolation=isolation.spec_isolation(spec, _engine_dir(ctx, spec)))


def _state(ctx: Ctx, run_id: str) -> ExperimentState:
    ws = ctx.deps.workspace
    try:
        st = runner.run_status(ws, run_id)
    except NotFound:
        raise ToolFailure(f"no experiment run {run_id!r}; experiment_run starts one") from None
    job = ctx.deps.jobs.get(run_id)
    error = None
    status = st["state"]
    if job is not None and job.done() and job.exception() is not None:
        status, error = "failed", f"{type(job.exception()).__name__}: {job.exception()}"
    elif job is not None and not job.done():
        status = "running"
    result = runner.load_result(ws, run_id)
    compact = None
    if result is not None:
        status = "finished"
        # A finished run seen by this session counts as this session's trials, also when an earlier
        # session computed it (the store returns the result instead of recomputing it).
        ledger.record_run(ws.store, ctx.session_id, ws.store.get_object(RUN_KIND, run_id, Run), result)
        compact = {"oos": result.oos.model_dump(include={"total_return", "sharpe", "max_drawdown", "trades",
                                                         "dsr", "dsr_n_trials", "n_days"})
                   | buy_and_hold_metrics(result.oos.buy_and_hold),
                   "total_trials": result.total_trials}
    return ExperimentState(run_id=run_id, state=status, windows=st["windows"],
                           windows_complete=st["windows_complete"], error=error, result=compact)


@tool(category=CAT, timeout_s=660,
      preflight=[persisted_spec(), modules_ready(stored_spec()), search_space_configured(), spec_bound_to_data(),
                 qualified_data(), holdout_declared()])
def experiment_run(ctx: Ctx, spec_id: str, walk_forward: WalkForwardConfig, search: SearchConfig | None = None,
                   data_version_id: str | None = None, seed: int = 0,
                   wait_s: float = Field(0.0, ge=0, le=600)) -> ExperimentState:
    """Start a walk-forward experiment of a persisted Spec as a background job; returns its run_id.

    Per window: seeded Optuna search on train over the Spec's search_space, re-rank top-K on validation,
    evaluate the chosen params on target; target segments stitch into one out-of-sample curve. The data
    version's declared holdout is sealed (search cannot read it). Modules that are not built in must first
    pass the look-ahead check on this run's pre-holdout bars (Spec params and search-space corners);
    otherwise the run is refused, naming the module, output and first differing bar. Lengths are in bars. Same inputs give
    the same run_id and the same results; a finished run is not recomputed. Poll with experiment_wait."""
    ws = ctx.deps.workspace
    store = ws.store
    spec = state.spec(store, spec_id)
    dv_id = _dv_for(ctx, spec_id, data_version_id)
    try:  # the holdout declared on the data content is the run's holdout (the data access layer's default)
        run, bars = runner.run_from_store(ws, spec, dv_id, walk_forward, search or SearchConfig(), seed=seed)
    except (ValueError, HoldoutSealed) as exc:
        raise ToolFailure(str(exc)) from None
    _require_causal(lambda: runner.require_causal_run(run, bars, _engine_dir(ctx, spec),
                                                      runner.lookahead_cache_dir(ws)))
    if runner.load_result(ws, run.id) is None:
        store.put_object(RUN_KIND, run)
        rob = RobustnessConfig(pbo_trials=state.gates(ws.config).pbo_spa_preselect)
        job = ctx.deps.jobs.submit(run.id, lambda: runner.run_experiment(ws, run, bars, robustness=rob,
                                                                         session_id=ctx.session_id))
        try:
            job.result(timeout=wait_s)
        except FutureTimeout:
            pass
        except Exception:  # reported by _state as `failed`
            pass
    return _state(ctx, run.id)


@tool(category=CAT, timeout_s=620)
def experiment_wait(ctx: Ctx, run_id: str, timeout_s: float = Field(120.0, ge=0, le=600)) -> ExperimentState:
    """Wait up to `timeout_s` for an experiment started in this session, then report its state."""
    job = ctx.deps.jobs.get(run_id)
    if job is not None:
        try:
            job.result(timeout=timeout_s)
        except FutureTimeout:
            pass
        except Exception:
            pass
    return _state(ctx, run_id)


@tool(category=CAT, timeout_s=30)
def experiment_status(ctx: Ctx, run_id: str) -> ExperimentState:
    """State of an experiment: created / running / stopped / failed / finished, windows done, OOS summary."""
    return _state(ctx, run_id)


def run_result(ctx: Ctx, run_id: str) -> tuple[Run, RunResult]:
    store = ctx.deps.workspace.store
    try:
        run = store.get_object(RUN_KIND, run_id, Run)
    except NotFound:
        raise ToolFailure(f"no experiment run {run_id!r}") from None
    result = runner.load_result(ctx.deps.workspace, run_id)
    if result is None:
        raise ToolFailure(f"run {run_id} has not finished; call experiment_wait")
    return run, result


def _report(ctx: Ctx, report_id: str) -> Report:
    try:
        return ctx.deps.workspace.store.get_object(state.REPORT, report_id, Report)
    except NotFound:
        raise ToolFailure(f"no report {report_id!r}; backtest_run returns report ids") from None


def _evaluation(ctx: Ctx, eid: str) -> Evaluation:
    if eid.startswith("run_"):
        run, res = run_result(ctx, eid)
        windows = [{"window": w.window.index, "params": w.params, "train_score": w.train_score,
                    "validation_score": w.validation_score, "target": _compact(w.target_report)}
                   for w in res.windows]
        return Evaluation(id=eid, kind="run", spec_id=run.spec.id,
                          metrics=res.oos.model_dump() | buy_and_hold_metrics(res.oos.buy_and_hold),
                          details={"total_trials": res.total_trials, "windows": windows,
                                   "data_version_id": run.data.data_version_id,
                                   "holdout_start": run.data.holdout_start, "artifacts": res.artifacts})
    if eid.startswith("report_"):
        rep = _report(ctx, eid)
        body = rep.model_dump()
        settings = {k: body[k] for k in ("data_from", "data_to", "bars", "annualization_basis", "fill",
                                          "fill_optimistic", "intrabar_policy", "commission_bps", "slippage_bps")}
        return Evaluation(id=eid, kind="report", spec_id=rep.spec_id,
                          metrics={k: v for k, v in body.items() if k not in settings and k not in
                                   ("spec_id", "semantics")} | buy_and_hold_metrics(rep.buy_and_hold),
                          details=settings)
    raise ToolFailure(f"{eid!r} is neither a run_ nor a report_ id")


@tool(category=CAT, timeout_s=30)
def evaluation_show(ctx: Ctx, evaluation_id: str) -> Evaluation:
    """Stored evaluation of a walk-forward run (`run_…`: OOS summary, DSR, per-window params and target
    metrics) or of a backtest (`report_…`: every metric and the settings it was computed under)."""
    return _evaluation(ctx, evaluation_id)


@tool(category=CAT, timeout_s=30)
def evaluation_compare(ctx: Ctx, a: str, b: str) -> Comparison:
    """Per-metric deltas (b - a) between two stored evaluations of the same kind. For two runs also: which
    parts of their definitions differ and which windows selected different params. Deltas are differences
    of stored engine numbers only."""
    if a.startswith("run_") and b.startswith("run_"):
        run_a, res_a = run_result(ctx, a)
        run_b, res_b = run_result(ctx, b)
        cmp = compare_runs(run_a, res_a, run_b, res_b)
        return Comparison(a=a, b=b, kind="run", metrics=cmp["metrics"], config=cmp["config"],
                          windows_changed=cmp["windows_changed"],
                          windows=[w for w in cmp["windows"] if w["changed"]])
    if a.startswith("report_") and b.startswith("report_"):
        ma, mb = _evaluation(ctx, a).metrics, _evaluation(ctx, b).metrics
        rows = []
        for k, va in ma.items():
            vb = mb.get(k)
            num = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (va, vb))
            rows.append({"metric": k, "a": va, "b": vb, "delta": vb - va if num else None})
        return Comparison(a=a, b=b, kind="report", metrics=rows)
    raise ToolFailure("compare a run_ with a run_, or a report_ with a report_")


def _returns_for(ctx: Ctx, source_id: str, method: str) -> tuple[np.ndarray, float]:
    """(returns, periods per year) of a run's OOS curve / trades or a backtest's equity curve."""
    ws = ctx.deps.workspace
    if source_id.startswith("run_"):
        run, res = run_result(ctx, source_id)
        out = Path(res.artifacts)
        basis = run.spec.engine.annualization
        if method == "trade_order":
            trades = pd.read_parquet(out / "oos_trades.parquet")
            years = max(res.oos.n_days / basis, 1e-9)
            return trades["equity_return"].to_numpy(dtype=float), len(trades) / years
        eq = pd.read_parquet(out / "oos_equity.parquet")
        return daily_returns(eq, run.spec.engine.initial_capital).to_numpy(), float(basis)
    if source_id.startswith("report_"):
        if method == "trade_order":
            raise ToolFailure("trade_order Monte Carlo needs a walk-forward run (run_…); use block_bootstrap")
        rep = _report(ctx, source_id)
        path = ws.artifacts / "backtests" / source_id / "equity.parquet"
        if not path.is_file():
            raise ToolFailure(f"no equity artifact for {source_id}; re-run backtest_run")
        return daily_returns(pd.read_parquet(path), rep.initial_capital).to_numpy(), float(rep.annualization_basis)
    raise ToolFailure(f"{source_id!r} is neither a run_ nor a report_ id")


@tool(category=CAT, timeout_s=300)
def montecarlo_run(ctx: Ctx, source_id: str, method: Literal["block_bootstrap", "trade_order"] = "block_bootstrap",
                   n_sims: int = Field(1000, ge=100, le=100_000), seed: int = 0) -> MonteCarloRecord:
    """Monte Carlo robustness of a run's OOS curve or a backtest, on compounding returns (seeded).

    block_bootstrap: stationary block bootstrap of daily returns (keeps autocorrelation); trade_order:
    bootstrap of the run's OOS trade returns. Stores and returns mean/median/95% interval of final
    return, max drawdown (never below -100%) and Sharpe."""
    r, per_year = _returns_for(ctx, source_id, method)
    if r.size < 5:
        raise ToolFailure(f"only {r.size} returns: too few for a Monte Carlo")
    if method == "trade_order":
        mc = trade_order_mc(r, n_sims=n_sims, seed=seed, mode="bootstrap", trades_per_year=per_year)
    else:
        mc = block_bootstrap_mc(r, n_sims=n_sims, seed=seed, periods_per_year=per_year)
    rec = MonteCarloRecord(source_id=source_id, method=mc.method, n_sims=n_sims, seed=seed, n_returns=int(r.size),
                           summary=mc.summary())
    ctx.deps.workspace.store.put_object(MC_KIND, rec)
    return rec


@tool(category=CAT, timeout_s=60)
def robustness_report(ctx: Ctx, run_id: str) -> Robustness:
    """Robustness view of a finished run: OOS metrics, Deflated Sharpe with this run's trial count and with
    the trial ledger's (`ledger`: every trial this session / the workspace evaluated on the same data — the
    count records and gates use), PBO (CSCV) and Hansen SPA over the per-window trial returns (every
    distinct trial unless gates.json states a preselection), Monte Carlo intervals (the run's own and any stored
    with montecarlo_run), parameter stability across windows, and what is not available (and why)."""
    run, res = run_result(ctx, run_id)
    store = ctx.deps.workspace.store
    mcs = [m.model_dump(include={"method", "n_sims", "seed", "summary"}) | {"id": m.id}
           for m in store.list_objects(MC_KIND, MonteCarloRecord) if m.source_id == run_id]
    params = pd.DataFrame([w.params for w in res.windows])
    stability = {p: {"distinct": int(params[p].nunique()), "min": json_safe(params[p].min()), "max": json_safe(params[p].max())}
                 for p in params.columns} if not params.empty else {}
    positive = sum(1 for w in res.windows if (w.target_report.get("total_return") or 0) > 0)
    rob = res.robustness
    missing = []
    if "pbo" not in rob:
        missing.append("PBO: too few trials or days per window to split the trial return matrix")
    if "spa_consistent_median" not in rob:
        missing.append("SPA: fewer than 10 days of trial returns per window")
    if not mcs and "mc_block" not in rob:
        missing.append("Monte Carlo: call montecarlo_run on this run")
    return Robustness(
        run_id=run_id, total_trials=res.total_trials,
        oos=res.oos.model_dump(include={"total_return", "sharpe", "sortino", "max_drawdown", "trades", "n_days"})
        | buy_and_hold_metrics(res.oos.buy_and_hold),
        deflated_sharpe={"dsr": res.oos.dsr, "n_trials": res.oos.dsr_n_trials,
                         "trial_sharpe_variance": res.oos.dsr_sharpe_variance,
                         "ledger": ledger_view(store, run, res, ctx.session_id)},
        montecarlo=mcs, window_stability={"params": stability, "windows": len(res.windows),
                                          "windows_with_positive_target_return": positive},
        runner_robustness={k: v for k, v in rob.items() if k not in ("pbo_windows", "spa_windows")},
        not_available=missing)


@tool(category=CAT, timeout_s=60)
def trials_table(ctx: Ctx, run_id: str, window: int | None = None, top: int = Field(10, ge=1, le=100),
                 sort_by: str = "score") -> list[dict[str, Any]]:
    """Rows of a run's trial table (every Optuna trial of every window, for DSR/PBO), best first by
    `sort_by` (default the search objective `score`; ruined trials last), optionally of one window."""
    _, res = run_result(ctx, run_id)
    trials = pd.read_parquet(Path(res.artifacts) / "trials.parquet")
    if window is not None:
        trials = trials[trials["window"] == window]
    if sort_by not in trials.columns:
        raise ToolFailure(f"unknown column {sort_by!r}; columns: {list(trials.columns)}")
    rows = rank_rows(trials, sort_by).head(top)
    return [{k: json_safe(v) for k, v in r.items()} for r in rows.to_dict("records")]


TOOLS = [backtest_run, sweep_run, experiment_run, experiment_wait, experiment_status, evaluation_show,
         evaluation_compare, montecarlo_run, robustness_report, trials_table]
