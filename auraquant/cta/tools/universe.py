"""Universe tools: make and read universes, backtest and walk-forward a Spec on every member at once, and
score a universe run's holdout once.

A universe is several data versions of one timeframe researched together (`uv_…`); the portfolio rules are
in `auraquant.cta.backtest.portfolio`, the walk-forward in `auraquant.cta.experiment.universe_walkforward`.
Every portfolio trial counts in the trial ledger of every member's data content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.cta.backtest.lookahead_gate import LookaheadError, require_causal
from auraquant.cta.backtest.portfolio import Sizing, run_portfolio_backtest, save_portfolio_artifacts
from auraquant.cta.data.access import HoldoutSealed
from auraquant.cta.experiment import ledger, runner
from auraquant.cta.experiment import universe_walkforward as uwf
from auraquant.cta.sandbox.errors import ModuleSandboxError
from auraquant.cta.tools import modules, state
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.universe import service
from auraquant.cta.universe.align import align
from auraquant.store import NotFound

CAT = "universe"


class UniverseOut(BaseModel):
    """A universe: members (span, bars, holdout), its seal, and the research calendar (bars missing per member)."""

    universe: dict[str, Any]
    created: bool | None = None


class PortfolioOut(BaseModel):
    """A portfolio result: the portfolio's metrics, each member's, their return correlation, the equal-weight
    basket's buy and hold, and how many members carry the edge."""

    report_id: str | None = None
    universe_id: str
    spec_id: str
    portfolio: dict[str, Any]
    members: dict[str, dict[str, Any]]
    consistency: dict[str, Any]
    correlation: dict[str, dict[str, float | None]]
    basket_buy_and_hold: dict[str, Any]
    notes: list[str] = Field(default_factory=list)


class UniverseRunOut(BaseModel):
    run_id: str
    universe_id: str
    spec_id: str
    oos: dict[str, Any]
    members: dict[str, dict[str, Any]]
    consistency: dict[str, Any]
    correlation: dict[str, dict[str, float | None]]
    basket_buy_and_hold: dict[str, Any]
    significance: dict[str, Any]
    windows: list[dict[str, Any]]
    total_trials: int


class UniverseHoldoutOut(BaseModel):
    run_id: str
    holdout_start: datetime
    look: int
    bars: int
    metrics: dict[str, Any]
    members: dict[str, dict[str, Any]]


def _uv(ctx: Ctx, universe_id: str) -> Any:
    try:
        return service.get(ctx.deps.workspace.store, universe_id)
    except service.UniverseError as exc:
        raise ToolFailure(f"missing step 'universe': {exc}") from None


def _causal(ctx: Ctx, spec: Any, frames: dict[str, pd.DataFrame]) -> None:
    """The look-ahead gate on every member's research bars (agent-written modules only)."""
    extra = modules.engine_modules_dir(ctx.deps.runtime_dir, spec)
    for frame in frames.values():
        try:
            require_causal(spec, frame, extra, cache_dir=runner.lookahead_cache_dir(ctx.deps.workspace))
        except LookaheadError as exc:
            raise ToolFailure(f"{exc} -> fix the module (module_write) or use another one") from None
        except (LookupError, ValueError) as exc:
            raise ToolFailure(f"look-ahead check could not run: {exc}") from None


def _f(v: Any) -> Any:
    return float(v) if isinstance(v, int | float) and v == v and abs(v) != float("inf") else None


@tool(category=CAT, timeout_s=300, exclusive=True)
def universe_create(ctx: Ctx, name: str = Field(min_length=1, max_length=80),
                    data_version_ids: list[str] = Field(min_length=1, max_length=100),
                    holdout_start: datetime | None = None) -> UniverseOut:
    """Make a universe of data versions (same timeframe, distinct symbols) researched together; idempotent
    (same name and members -> same `uv_…` id). `holdout_start` seals every member from that one time (each
    member must have bars on both sides); without it the universe's seal is the earliest of its members'
    own seals. Bars are aligned on the union of the members' bar times; a missing bar is never filled."""
    store = ctx.deps.workspace.store
    try:
        uv, created = service.create(store, name, data_version_ids)
        if holdout_start is not None:
            service.declare_holdout(store, uv, holdout_start, declared_by=f"universe_create:{ctx.caller}")
    except (service.UniverseError, ValueError) as exc:
        raise ToolFailure(str(exc).splitlines()[0]) from None
    return UniverseOut(universe=service.describe(store, uv), created=created)


@tool(category=CAT, timeout_s=60)
def universe_show(ctx: Ctx, universe_id: str) -> UniverseOut:
    """One universe: members (span, bars, synthetic flag, holdout), the universe's seal, and its research
    calendar (bars, and per member the bars it is missing, its first and last bar)."""
    return UniverseOut(universe=service.describe(ctx.deps.workspace.store, _uv(ctx, universe_id)))


@tool(category=CAT, timeout_s=30)
def universe_list(ctx: Ctx) -> list[dict[str, Any]]:
    """Stored universes (id, name, timeframe, members' symbols), oldest first."""
    return [{"id": u.id, "name": u.name, "timeframe": u.timeframe, "symbols": u.symbols}
            for u in service.list_all(ctx.deps.workspace.store)]


@tool(category=CAT, timeout_s=900)
def universe_backtest(ctx: Ctx, spec_id: str, universe_id: str, sizing: Sizing | None = None,
                      start: datetime | None = None, end: datetime | None = None,
                      member_costs: dict[str, dict[str, float]] | None = None,
                      member_params: dict[str, dict[str, int | float]] | None = None) -> PortfolioOut:
    """Backtest a persisted Spec on every member of a universe (never into its holdout) and size the members
    into one portfolio (`sizing`: equal_weight | fixed | inverse_vol, rebalance none | day | bar, optional
    target_vol and gross_cap). `member_costs` ({symbol: {commission_bps, slippage_bps}}) and `member_params`
    ({symbol: {param path: value}}) override the Spec for one member. In-sample evidence; counts as one
    trial on every member's data content. Artifacts (equity, trades, attribution, summary) are stored."""
    store = ctx.deps.workspace.store
    spec = state.spec(store, spec_id)
    uv = _uv(ctx, universe_id)
    try:
        frames = service.research_frames(store, uv, start, end)
    except (HoldoutSealed, service.UniverseError) as exc:
        raise ToolFailure(str(exc)) from None
    _causal(ctx, spec, frames)
    try:
        res = run_portfolio_backtest(align(frames), spec, sizing or Sizing(), record=True,
                                     member_costs=member_costs, member_params=member_params,
                                     extra_dir=modules.engine_modules_dir(ctx.deps.runtime_dir, spec))
    except ModuleSandboxError as exc:
        raise ToolFailure(f"agent module stopped in the sandbox: {exc}") from None
    except (ValueError, LookupError) as exc:
        raise ToolFailure(f"engine refused the Spec: {exc}") from None
    rep = res.report
    report_id = store.put_object(state.REPORT, rep)
    dvs = [store.get_data_version(m.data_version_id) for m in uv.members]
    for dv in dvs:
        ledger.record_backtest(store, dv.content_hash, ctx.session_id, report_id, rep.daily_mean, rep.daily_std,
                               rep.n_days)
    summ = res.summary()
    out_dir = ctx.deps.workspace.artifacts / "portfolios" / report_id
    save_portfolio_artifacts(res, out_dir)
    notes = [f"artifacts: {out_dir.relative_to(ctx.deps.workspace.root)}"]
    if any(dv.source.startswith("synthetic:") for dv in dvs):
        notes.append("synthetic members: not market evidence")
    return PortfolioOut(report_id=report_id, universe_id=uv.id, spec_id=spec_id,
                        portfolio={k: _f(v) for k, v in res.metrics.items()},
                        members=summ["members"], consistency=res.consistency, correlation=res.correlation,
                        basket_buy_and_hold=res.basket, notes=notes)


def _run_out(run_id: str, res: uwf.UniverseRunResult) -> UniverseRunOut:
    # the stored result's fields, less its trial list and robustness matrices (too long for the model)
    return UniverseRunOut(**{**res.model_dump(include=set(UniverseRunOut.model_fields)), "run_id": run_id})


@tool(category=CAT, timeout_s=3600, exclusive=True)
def universe_experiment_run(ctx: Ctx, spec_id: str, universe_id: str,
                            walk_forward: uwf.UniverseWalkForward) -> UniverseRunOut:
    """Walk-forward a persisted Spec (with a search space) on a universe: rolling windows on the common
    calendar, selection on the portfolio Sharpe (or per member), stitched portfolio out-of-sample equity
    beside each member's and the equal-weight basket's buy and hold, PBO/SPA, the ledger DSR (every trial
    counted on every member's content) and the workspace's significance gates. Needs the universe's holdout
    (universe_create with holdout_start). The same request returns the stored run."""
    store = ctx.deps.workspace.store
    spec = state.spec(store, spec_id)
    uv = _uv(ctx, universe_id)
    if service.holdout_start(store, uv) is None:
        raise ToolFailure("missing step 'holdout': the universe has no sealed holdout -> call universe_create "
                          "with holdout_start")
    if not spec.search_space:
        raise ToolFailure("missing step 'search_space': the Spec has none -> call spec_put with a search_space")
    try:
        frames = service.research_frames(store, uv)
        _causal(ctx, spec, frames)
        run, res = uwf.run_universe_walkforward(
            store, uv, spec, walk_forward, session_id=ctx.session_id,
            gates=state.gates(ctx.deps.workspace.config),
            extra_dir=modules.engine_modules_dir(ctx.deps.runtime_dir, spec), frames=frames)
    except ModuleSandboxError as exc:
        raise ToolFailure(f"agent module stopped in the sandbox: {exc}") from None
    except (ValueError, LookupError, HoldoutSealed) as exc:
        raise ToolFailure(str(exc).splitlines()[0]) from None
    return _run_out(run.id, res)


@tool(category=CAT, timeout_s=60)
def universe_run_show(ctx: Ctx, run_id: str) -> UniverseRunOut:
    """A finished universe walk-forward: portfolio and per-member OOS metrics, consistency, correlation,
    basket buy and hold, windows and the significance verdict."""
    try:
        res = ctx.deps.workspace.store.get_object(uwf.RESULT_KIND, run_id, uwf.UniverseRunResult)
    except NotFound:
        raise ToolFailure(f"no universe run {run_id!r}; universe_experiment_run makes one") from None
    return _run_out(run_id, res)


@tool(category=CAT, timeout_s=900, exclusive=True)
def universe_holdout_score(ctx: Ctx, run_id: str) -> UniverseHoldoutOut:
    """Score a universe run's sealed holdout ONCE (every member's sealed bars, each read audited; the
    k-th look is reported). Refused when the run is below the significance gates (re-checked with the
    trial ledger's current counts) or was scored before."""
    store = ctx.deps.workspace.store
    try:
        res = store.get_object(uwf.RESULT_KIND, run_id, uwf.UniverseRunResult)
    except NotFound:
        raise ToolFailure(f"no universe run {run_id!r}; universe_experiment_run makes one") from None
    fails = uwf.current_gate_failures(store, run_id, res, ctx.session_id, state.gates(ctx.deps.workspace.config))
    if fails:
        raise ToolFailure(f"below the significance gates ({'; '.join(fails)}): the holdout stays sealed")
    try:
        spec = store.get_object(uwf.RUN_KIND, run_id, uwf.UniverseRun).spec
        extra = modules.engine_modules_dir(ctx.deps.runtime_dir, spec)
        sc = uwf.score_universe_holdout(store, run_id, extra_dir=extra)
    except uwf.HoldoutAlreadyScored as exc:
        raise ToolFailure(str(exc)) from None
    except (ValueError, service.UniverseError) as exc:
        raise ToolFailure(str(exc).splitlines()[0]) from None
    return UniverseHoldoutOut(run_id=run_id, holdout_start=sc.holdout_start, look=sc.look, bars=sc.bars,
                              metrics=sc.metrics, members=sc.members)


TOOLS = [universe_create, universe_show, universe_list, universe_backtest, universe_experiment_run, universe_run_show,
         universe_holdout_score]
