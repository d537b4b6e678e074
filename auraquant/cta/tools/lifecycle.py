"""Agent-lifecycle tools: saved agent state, the `<ITER_STATE>` of self-directed research, run traces,
budgets, and on-demand skills.

`iter_state_update` takes what was tried as references (report or run ids) and fills every metric from
the store itself, so the iteration state can never carry a number the engine did not compute;
`iter_state_show` re-checks those numbers against the store before showing them (an edited memory row comes
back UNVERIFIED).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, Field

from aura.runtime.sessions import SessionStore
from aura.tools import ToolFailure, tool
from auraquant.cta.backtest.metrics import Report, buy_and_hold_metrics
from auraquant.cta.governance.memory import cost_summary
from auraquant.cta.tools import state
from auraquant.cta.tools.deps import Ctx
from auraquant.store import NotFound

CAT = "lifecycle"
SKILLS = ("cta-data-operator", "cta-strategy-operator", "cta-experiment-operator", "cta-governance-operator",
          "cta-principal-research-loop")
Status = Literal["CONTINUING", "GOAL_MET", "STAGNATED", "BUDGET_SPENT", "STRUCTURAL_GAP", "APPROVAL_GATE",
                 "INTERRUPTED", "HOLDOUT_FAILED", "NOT_SIGNIFICANT"]


class Tried(BaseModel):
    """One thing tried: a label and the stored evaluation that judged it (metrics are filled by the tool)."""

    model_config = {"extra": "forbid"}
    label: str = Field(min_length=1, max_length=200)
    evaluation_id: str = Field(pattern=r"^(run|report|urun)_[0-9a-f]+$")
    verdict: str = Field("", max_length=300)


class TriedResult(Tried):
    sharpe: float | None = None
    max_drawdown: float | None = None
    dsr: float | None = None
    trades: int | None = None
    # buy and hold of the same instrument over the same span, and the excess over it (from the store)
    total_return: float | None = None
    bh_total_return: float | None = None
    bh_sharpe: float | None = None
    bh_max_drawdown: float | None = None
    excess_return: float | None = None
    excess_sharpe: float | None = None


class IterState(BaseModel):
    iter: int
    max_iters: int
    goal: str
    tried: list[TriedResult]
    next_action: str
    status: Status
    updated_at: datetime

    def render(self) -> str:
        lines = ["<ITER_STATE>", f"iter: {self.iter} / {self.max_iters}", f"goal: {self.goal}", "tried:"]
        for t in self.tried:
            m = [f"{k}={getattr(t, k):.4g}" for k in ("sharpe", "max_drawdown", "dsr", "excess_return", "excess_sharpe")
                 if getattr(t, k) is not None]
            lines.append(f"- {t.label} [{t.evaluation_id}] -> {' · '.join(m) or 'no metrics'}"
                         + (f" ({t.verdict})" if t.verdict else ""))
        lines += [f"next_action: {self.next_action}", f"status: {self.status}", "</ITER_STATE>"]
        return "\n".join(lines)


class IterStateOut(BaseModel):
    """The iteration state; `verified` is False (and `problems` say where) when a stored number no longer
    equals the one its cited evaluation holds, i.e. the memory row was edited."""

    state: IterState
    block: str
    verified: bool = True
    problems: list[str] = []


class TraceRow(BaseModel):
    session_id: str
    turn: int
    tool: str
    ok: bool
    error_kind: str | None
    duration_ms: float
    result_summary: str
    started_at: str


class BudgetStatus(BaseModel):
    session_id: str
    cost_usd: float
    model_turns: int
    tool_calls: int
    iterations: int | None
    limits: dict[str, float | int | None]
    remaining: dict[str, float | int | None]
    tracked_costs: dict[str, float | int]


def _metrics(ctx: Ctx, eid: str, cache: dict[Any, Any] | None = None) -> dict[str, Any]:
    store = ctx.deps.workspace.store
    if eid.startswith("report_"):
        try:
            rep = store.get_object(state.REPORT, eid, Report)
        except NotFound:
            raise ToolFailure(f"no report {eid!r}") from None
        return {"sharpe": rep.sharpe, "max_drawdown": rep.max_drawdown, "trades": rep.trades,
                "total_return": rep.total_return, **buy_and_hold_metrics(rep.buy_and_hold)}
    from auraquant.cta.experiment import runner
    from auraquant.cta.experiment.models import RUN_KIND, Run
    from auraquant.cta.experiment.significance import ledger_view

    if eid.startswith("urun_"):  # a universe walk-forward: the portfolio's stitched OOS metrics
        from auraquant.cta.experiment import universe_walkforward as uwf

        try:
            ures = store.get_object(uwf.RESULT_KIND, eid, uwf.UniverseRunResult)
        except NotFound:
            raise ToolFailure(f"no finished universe run {eid!r}; cite finished runs only") from None
        o = ures.oos
        return {"sharpe": o.get("sharpe"), "max_drawdown": o.get("max_drawdown"), "trades": o.get("trades"),
                "dsr": ures.significance.get("dsr_session"), "total_return": o.get("total_return"),
                **{k: o.get(k) for k in ("bh_total_return", "bh_sharpe", "bh_max_drawdown", "excess_return",
                                         "excess_sharpe")}}

    res = runner.load_result(ctx.deps.workspace, eid)
    if res is None:
        raise ToolFailure(f"no finished run {eid!r}; cite finished runs only")
    # The DSR deflated by every trial this session evaluated on the data so far (the trial ledger), not by
    # this run's trials alone: the session selects among all of them.
    view = ledger_view(store, store.get_object(RUN_KIND, eid, Run), res, ctx.session_id, cache)
    return {"sharpe": res.oos.sharpe, "max_drawdown": res.oos.max_drawdown, "dsr": view["dsr_session"],
            "trades": res.oos.trades, "total_return": res.oos.total_return,
            **buy_and_hold_metrics(res.oos.buy_and_hold)}


def _record_runs(ctx: Ctx, run_ids: list[str]) -> None:
    from auraquant.cta.experiment import ledger, runner
    from auraquant.cta.experiment.models import RUN_KIND, Run

    store = ctx.deps.workspace.store
    for rid in run_ids:
        res = runner.load_result(ctx.deps.workspace, rid)
        if res is not None:
            ledger.record_run(store, ctx.session_id, store.get_object(RUN_KIND, rid, Run), res)


@tool(category=CAT, timeout_s=30)
def iter_state_update(ctx: Ctx, iter: int = Field(ge=0), max_iters: int = Field(ge=1), goal: str = "",
                      tried: list[Tried] | None = None, next_action: str = "", status: Status = "CONTINUING"
                      ) -> IterStateOut:
    """Record the self-directed iteration state and get the rendered <ITER_STATE> block back.

    `tried` lists labels with the report/run id that judged each; the tool looks up Sharpe, max drawdown,
    DSR and trade count in the store (you never type metrics). A run's DSR deflates by every trial this
    session evaluated on the same data (the trial ledger), so it falls as the session tries more. Each
    update is kept in history."""
    tried = tried or []
    runs = [t.evaluation_id for t in tried if t.evaluation_id.startswith("run_")]
    store = ctx.deps.workspace.store
    with store.connect():  # one connection for the many small lookups below (connections are re-entrant)
        _record_runs(ctx, runs)  # every run first: each DSR then deflates by the same, complete session count
        cache: dict[Any, Any] = {}
        rows = [TriedResult(**t.model_dump(), **_metrics(ctx, t.evaluation_id, cache)) for t in tried]
        st = IterState(iter=iter, max_iters=max_iters, goal=goal, tried=rows, next_action=next_action,
                       status=status, updated_at=datetime.now(UTC))
        body = st.model_dump(mode="json")
        store.memory_put(state.ITER_STATE, "current", body)
        store.memory_put(state.ITER_STATE, f"iter-{iter:05d}", body)
    return IterStateOut(state=st, block=st.render())


@tool(category=CAT, timeout_s=10)
def iter_state_show(ctx: Ctx) -> IterStateOut:
    """The current <ITER_STATE> (as last recorded with iter_state_update)."""
    body = ctx.deps.workspace.store.memory_get(state.ITER_STATE, "current")
    if body is None:
        raise ToolFailure("no iteration state yet; call iter_state_update")
    st = IterState.model_validate(body)
    problems = _unverified_numbers(ctx, st)
    block = st.render() if not problems else "UNVERIFIED (edited memory): " + "; ".join(problems)
    return IterStateOut(state=st, block=block, verified=not problems, problems=problems)


def _unverified_numbers(ctx: Ctx, st: IterState) -> list[str]:
    """Tried entries whose numbers differ from what the store holds for their evaluation id (memory is a
    reminder, the store is the evidence: a number that disagrees is never shown as if it were true)."""
    out = []
    for t in st.tried:
        try:
            truth = _metrics(ctx, t.evaluation_id)
        except ToolFailure as exc:
            out.append(f"{t.label} [{t.evaluation_id}]: {exc}")
            continue
        shown = {k: getattr(t, k) for k in truth}
        if json.dumps(shown, sort_keys=True) != json.dumps(truth, sort_keys=True, default=float):
            out.append(f"{t.label} [{t.evaluation_id}]: stored numbers differ from the evaluation's")
    return out


@tool(category=CAT, timeout_s=10)
def agent_state_save(ctx: Ctx, name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
                     state_body: dict[str, Any] = Field(default_factory=dict)) -> dict[str, Any]:
    """Save a named agent working state (hypotheses in flight, ids to revisit) so a later session can restore
    it. Cite ids for results; the store, not this note, is the source of truth for numbers."""
    text = json.dumps(state_body, default=str)
    if len(text) > 50_000:
        raise ToolFailure(f"state is {len(text)} characters; keep it under 50,000")
    saved = {"state": state_body, "saved_at": datetime.now(UTC).isoformat(), "session_id": ctx.session_id}
    ctx.deps.workspace.store.memory_put(state.AGENT_STATE, name, saved)
    return {"name": name, "chars": len(text), "saved_at": saved["saved_at"]}


@tool(category=CAT, timeout_s=10)
def agent_state_restore(ctx: Ctx, name: str | None = None) -> dict[str, Any]:
    """Restore a saved agent state by name, or the most recently saved one when no name is given."""
    saved = ctx.deps.workspace.store.memory_list(state.AGENT_STATE)
    if not saved:
        raise ToolFailure("no saved agent state; agent_state_save stores one")
    if name is None:
        name = max(saved, key=lambda k: saved[k]["saved_at"])
    if name not in saved:
        raise ToolFailure(f"no saved state {name!r}; saved: {sorted(saved)}")
    return {"name": name, **saved[name]}


@tool(category=CAT, timeout_s=30)
def run_trace_query(ctx: Ctx, session_id: str | None = None, tool_name: str | None = None, ok: bool | None = None,
                    limit: int = Field(20, ge=1, le=200)) -> list[TraceRow]:
    """RunTrace records (one per tool call) of a session, newest last: the current session by default.
    Filter by tool name and success to find failures and repeated work."""
    sessions = SessionStore(ctx.deps.workspace.sessions)
    sid = session_id or ctx.session_id or sessions.latest()
    if not sid:
        raise ToolFailure("no session recorded in this workspace yet")
    try:
        traces = sessions.open(sid).replay().traces
    except (FileNotFoundError, ValueError) as exc:
        raise ToolFailure(str(exc)) from None
    rows = [t for t in traces if (tool_name is None or t.tool == tool_name) and (ok is None or t.ok == ok)]
    return [TraceRow(session_id=t.session_id, turn=t.turn, tool=t.tool, ok=t.ok, error_kind=t.error_kind,
                     duration_ms=t.duration_ms, result_summary=t.result_summary, started_at=t.started_at)
            for t in rows[-limit:]]


@tool(category=CAT, timeout_s=30)
def budget_status(ctx: Ctx) -> BudgetStatus:
    """Spend so far in this session (USD, model turns, tool calls, iterations) against the session's limits,
    plus the workspace's tracked costs (cloud runs)."""
    ws = ctx.deps.workspace
    sessions = SessionStore(ws.sessions)
    cost = 0.0
    turns = calls = 0
    if ctx.session_id and ctx.session_id in sessions.ids():
        st = sessions.open(ctx.session_id).replay()
        cost, turns, calls = st.cost_usd, st.model_turns, len(st.traces)
    it = ws.store.memory_get(state.ITER_STATE, "current")
    iters = it["iter"] if it else None
    lim = ctx.deps.limits
    limits = {"max_usd": lim.max_usd, "max_turns": lim.max_turns, "max_tool_calls": lim.max_tool_calls,
              "max_iters": lim.max_iters}
    used = {"max_usd": cost, "max_turns": turns, "max_tool_calls": calls, "max_iters": iters or 0}
    remaining = {k: (None if v is None else v - used[k]) for k, v in limits.items()}
    return BudgetStatus(session_id=ctx.session_id, cost_usd=cost, model_turns=turns, tool_calls=calls,
                        iterations=iters, limits=limits, remaining=remaining,
                        tracked_costs=cost_summary(ws.store))


@tool(category=CAT, timeout_s=10)
def skill_load(ctx: Ctx, name: Literal["cta-data-operator", "cta-strategy-operator", "cta-experiment-operator",
                                       "cta-governance-operator", "cta-principal-research-loop"]) -> str:
    """Load one operator skill (SKILL.md) on demand: the step-by-step guide for a research phase.
    The workspace copy (skills/<name>/SKILL.md) wins over the packaged one, so a team can edit it."""
    local = ctx.deps.workspace.root / "skills" / name / "SKILL.md"
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return resources.files("auraquant.templates").joinpath("skills", name, "SKILL.md").read_text(encoding="utf-8")


TOOLS = [iter_state_update, iter_state_show, agent_state_save, agent_state_restore, run_trace_query,
         budget_status, skill_load]
