"""One research session: the engine wired to a workspace — prompt layers, tool registry, budgets, session log
(with every tool call's RunTrace), the ITER_STATE shown to the model every turn — and the stop reason.

The same `ResearchSession` serves `auraquant research` (non-interactive), `auraquant chat` (one `ask` per
user message) and the demo. With the offline provider, the `Autopilot` is the model.

Stop reasons (`ResearchOutcome.status`): the research statuses GOAL_MET, STAGNATED, BUDGET_SPENT,
STRUCTURAL_GAP, APPROVAL_GATE, INTERRUPTED — taken from the ITER_STATE the driver recorded, or derived from
the engine's stop (Ctrl-C -> INTERRUPTED; turn / USD / tool-call limits -> BUDGET_SPENT) — or ERROR for a
runtime failure (provider error, repeated-call guard, context overflow). Every outcome is appended to the
session log (`{"t": "research_stop", ...}`) and stored in the `research-sessions` memory namespace.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from pydantic import BaseModel

from aura.config.models import ModelProfile, load_models_config
from aura.providers import Provider
from aura.providers.offline import OfflineProvider
from aura.runtime.budgets import Budgets, StopReason
from aura.runtime.compaction import CompactionPolicy
from aura.runtime.engine import AgentEngine
from aura.runtime.events import EngineEvent, Stopped, ToolEnd
from aura.runtime.layers import PromptLayers
from aura.runtime.provider import ModelInfo
from aura.runtime.sessions import SessionLog, SessionStore
from aura.tools import ToolRegistry
from auraquant.cta.experiment.gates import holdout_failures, holdout_table, load_gates
from auraquant.cta.research import iter_state
from auraquant.cta.research.autopilot import Autopilot, AutopilotConfig
from auraquant.cta.research.goal import Goal, parse_goal
from auraquant.cta.research.protocol import TERMINAL, ProtocolRules
from auraquant.cta.tools import build_registry
from auraquant.cta.tools.deps import ResearchDeps, ResearchLimits
from auraquant.workspace import Workspace

SKILL = "cta-principal-research-loop"
OUTCOMES_NS = "research-sessions"
EngineHook = Callable[[EngineEvent], None]


def load_layers(workspace: Workspace, skill: str = SKILL) -> PromptLayers:
    """system_prompt.md + AGENTS.md + the active skill, workspace copies first (a team may edit them), the
    packaged templates otherwise."""
    def read(*rel: str) -> str:
        local = workspace.root.joinpath(*rel)
        if local.is_file():
            return local.read_text(encoding="utf-8")
        return resources.files("auraquant.templates").joinpath(*rel).read_text(encoding="utf-8")

    return PromptLayers(system_prompt=read("agent", "system_prompt.md"), agents_md=read("AGENTS.md"),
                        active_skill=read("skills", skill, "SKILL.md"))


def models_profile(workspace: Workspace, name: str | None, model: str | None) -> ModelProfile:
    """The profile `name` (default: the workspace's default) of `.aura/config/models.json`, `model` overriding
    its model id."""
    path = workspace.config / "models.json"
    cfg = load_models_config(path)
    prof = cfg.profile(name)
    return prof.model_copy(update={"model": model}) if model else prof


def autopilot_provider(autopilot: Autopilot) -> OfflineProvider:
    return OfflineProvider(policy=autopilot, info=ModelInfo(provider="offline", model="autopilot"))


def default_budgets(max_iters: int, max_usd: float | None = None) -> Budgets:
    """Room for ~6 model turns and ~8 tool calls per round plus the data phase."""
    return Budgets(max_turns=max_iters * 6 + 30, max_tool_calls=max_iters * 8 + 40, max_usd=max_usd,
                   max_identical_calls=3)


class ResearchOutcome(BaseModel):
    session_id: str
    status: str
    detail: str
    engine_stop: str
    iterations: int
    max_iters: int
    goal: str | None
    iter_state: str | None
    best_run_id: str | None
    best_metrics: dict[str, float | int | None] | None
    record_id: str | None
    candidates: list[str]
    tearsheet: dict[str, str] | None
    tried: list[dict[str, Any]]
    experiments: int = 0  # walk-forward experiments that ran and were judged in this session
    holdout: list[dict[str, Any]] | None = None  # the frozen record's holdout vs the goal (gates.holdout_table)
    holdout_tolerance: float | None = None
    significance: dict[str, Any] | None = None  # the record's significance block (ledger DSR, gates, label)
    candidate_significance: list[dict[str, Any]] = []  # per archived candidate: label, DSR and count, failed gates
    notes: list[str]
    universe: dict[str, Any] | None = None  # a universe goal: portfolio and members OOS, correlation, basket B&H
    cost_usd: float
    turns: int
    tool_calls: int
    session_log: str
    finished_at: datetime


@dataclass
class ResearchSession:
    """An engine on a workspace. Build with `ResearchSession.start(...)` or `.resume(...)`."""

    workspace: Workspace
    engine: AgentEngine[ResearchDeps]
    log: SessionLog
    registry: ToolRegistry
    deps: ResearchDeps
    goal: Goal | None
    max_iters: int
    rules: ProtocolRules = ProtocolRules()
    autopilot: Autopilot | None = None
    base_layers: PromptLayers = field(default_factory=PromptLayers)
    last_stop: Stopped | None = None

    @classmethod
    def start(cls, workspace: Workspace, provider: Provider, *, goal: Goal | None, max_iters: int = 20,
              budgets: Budgets | None = None, autopilot: Autopilot | None = None, session_id: str | None = None,
              compaction: CompactionPolicy | None = None, rules: ProtocolRules = ProtocolRules(),
              resume: str | None = None) -> ResearchSession:
        store = SessionStore(workspace.sessions)
        if resume is not None:
            log = store.open(resume)
            if goal is None and log.replay().meta.get("goal"):  # a self-directed session stays self-directed
                goal = parse_goal(log.replay().meta["goal"])
        else:
            log = store.create(session_id, {"model": provider.info.model, "provider": provider.info.provider,
                                            "goal": goal.text if goal else None, "max_iters": max_iters})
        registry = build_registry()
        limits = ResearchLimits(max_usd=budgets.max_usd if budgets else None, max_iters=max_iters,
                                max_tool_calls=budgets.max_tool_calls if budgets else None,
                                max_turns=budgets.max_turns if budgets else None)
        deps = ResearchDeps(workspace=workspace, model_id=provider.info.model, limits=limits)
        layers = load_layers(workspace)
        kwargs: dict[str, Any] = {"deps": deps, "layers": layers, "budgets": budgets or default_budgets(max_iters),
                                  "compaction": compaction}
        if resume is not None:
            engine = AgentEngine.resume(provider, registry, log, **kwargs)
        else:
            engine = AgentEngine(provider, registry, session=log, **kwargs)
        sess = cls(workspace, engine, log, registry, deps, goal, max_iters, rules, autopilot, layers)
        sess.refresh_context()
        return sess

    @property
    def session_id(self) -> str:
        return self.log.session_id

    def refresh_context(self) -> None:
        """Put the current ITER_STATE and protocol guidance into the system prompt of the next model turn."""
        if self.goal is None and iter_state.current(self.workspace.store) is None:
            return
        ctx = iter_state.turn_context(self.workspace.store, self.goal, self.max_iters, self.rules)
        self.engine.set_layers(PromptLayers(system_prompt=self.base_layers.system_prompt + "\n\n" + ctx,
                                            agents_md=self.base_layers.agents_md,
                                            active_skill=self.base_layers.active_skill))

    async def ask(self, request: str, on_event: EngineHook | None = None) -> Stopped:
        """One engine run for `request`; ITER_STATE is re-rendered after every tool batch."""
        stop: Stopped | None = None
        self.refresh_context()
        async for ev in self.engine.run(request):
            if isinstance(ev, ToolEnd):
                self.refresh_context()
            if isinstance(ev, Stopped):
                stop = ev
            if on_event is not None:
                on_event(ev)
        assert stop is not None
        self.last_stop = stop
        return stop

    def close(self) -> None:
        self.deps.jobs.close()
        self.log.close()


def goal_request(goal: Goal, max_iters: int) -> str:
    return (f"Self-directed research. Goal: {goal.text}\nThresholds (out of sample): {goal.describe()}.\n"
            f"Run at most {max_iters} rounds. Follow the principal research loop: route to the earliest gap, "
            "record every round with iter_state_update, follow the anti-stagnation protocol, stop on a stop "
            "condition, then give the final summary.")


AUTO_CONTINUE = ("<AUTO_CONTINUE> The ITER_STATE status is still CONTINUING and iterations remain: continue the "
                 "research loop, or set a terminal status with iter_state_update and summarise.")


async def drive(session: ResearchSession, request: str, on_event: EngineHook | None = None,
                max_nudges: int = 3) -> Stopped:
    """Run `request`, then nudge a model that stopped early (status CONTINUING, iterations left) to go on."""
    stop = await session.ask(request, on_event)
    nudges = 0
    while stop.reason == StopReason.COMPLETED and session.autopilot is None and nudges < max_nudges:
        st = iter_state.current(session.workspace.store)
        if st is None or st.status != "CONTINUING" or st.iter >= session.max_iters:
            break
        nudges += 1
        stop = await session.ask(AUTO_CONTINUE, on_event)
    return stop


_BUDGET = {StopReason.MAX_TURNS, StopReason.MAX_USD, StopReason.MAX_TOOL_CALLS}


async def conclude(session: ResearchSession, stop: Stopped | None, *, tearsheet: bool = True) -> ResearchOutcome:
    """Decide and record the stop reason of the session, build the best result's tearsheet."""
    ws = session.workspace
    st = iter_state.current(ws.store)
    status, detail = "ERROR", "no run"
    if stop is not None and stop.reason == StopReason.INTERRUPTED:
        status, detail = "INTERRUPTED", "interrupted by the user; state saved (resume with --resume)"
    elif stop is not None and stop.reason in _BUDGET:
        status, detail = "BUDGET_SPENT", f"{stop.reason.value}: {stop.detail}"
    elif st is not None and st.status in TERMINAL:
        status, detail = st.status, st.next_action
    elif st is not None and st.iter >= session.max_iters:
        status, detail = "BUDGET_SPENT", f"iteration budget used: {st.iter} / {session.max_iters}"
    elif stop is not None and stop.reason == StopReason.COMPLETED:
        status, detail = "ERROR", "the model ended the session without a stop condition"
    elif stop is not None:
        status, detail = "ERROR", f"{stop.reason.value}: {stop.detail}"
    if session.autopilot is not None and session.autopilot.termination is not None and status != "INTERRUPTED":
        status, detail = session.autopilot.termination.status, session.autopilot.termination.detail
    if st is not None and status in TERMINAL and st.status != status:
        await _record_status(session, st, status, detail)
        st = iter_state.current(ws.store)

    tried = [t.model_dump() for t in st.tried] if st is not None else []
    scored = [t for t in tried if isinstance(t.get("sharpe"), int | float) and math.isfinite(t["sharpe"])]
    best = max(scored, key=lambda t: t["sharpe"], default=None)
    summaries = await _summaries_of(session, tried)
    candidates = [r.record_id for r in summaries]
    pilot = session.autopilot
    record_id = pilot.record_id if pilot is not None else None
    if record_id is None and candidates and pilot is None:
        record_id = candidates[-1]
    experiments = (sum(1 for r in pilot.rounds if r.evaluated) if pilot is not None
                   else sum(1 for t in tried if str(t.get("evaluation_id", "")).startswith("run_")))
    gates = load_gates(ws.config)
    uv_id = getattr(pilot, "universe_id", None) if pilot is not None else None
    record = ((await _tool(session, "archive_show", {"record_id": record_id}) or None)
              if record_id and uv_id is None else None)
    rec = record.record if record is not None else None
    if uv_id is not None and pilot is not None:
        # a universe run is not an archive record: the holdout its autopilot scored once is the confirmation
        rec = {"state": "frozen", "holdout": pilot.holdout} if pilot.holdout else None
    if status == "GOAL_MET" and session.goal is not None:
        status, detail = _confirm(session.goal, rec, gates.holdout_tolerance, detail)
        if st is not None and st.status != status:
            await _record_status(session, st, status, detail)
            st = iter_state.current(ws.store)
    holdout = (holdout_table(session.goal.thresholds if session.goal else {}, rec.get("holdout"),
                             gates.holdout_tolerance) if rec is not None and rec.get("holdout") else None)
    sheet = None
    source = record_id or (best["evaluation_id"] if best else None)
    if tearsheet and source is not None and source.startswith(("run_", "rec_")):
        sheet = await asyncio.to_thread(_tearsheet, source, ws)
    replay = session.log.replay()
    outcome = ResearchOutcome(
        session_id=session.session_id, status=status, detail=detail,
        engine_stop=stop.reason.value if stop is not None else "none",
        iterations=st.iter if st is not None else 0, max_iters=session.max_iters,
        goal=session.goal.text if session.goal else None, iter_state=st.render() if st is not None else None,
        best_run_id=best["evaluation_id"] if best else None,
        best_metrics={k: best.get(k) for k in ("sharpe", "max_drawdown", "dsr", "trades", "total_return",
                                                "bh_total_return", "bh_sharpe", "excess_return", "excess_sharpe")}
        if best else None,
        record_id=record_id, candidates=candidates, tearsheet=sheet, tried=tried, experiments=experiments,
        holdout=holdout, holdout_tolerance=gates.holdout_tolerance,
        significance=(rec.get("significance") or None) if rec is not None else None,
        candidate_significance=[{"record_id": r.record_id, "state": r.state, "significance": r.significance,
                                 "dsr": r.dsr, "dsr_count": r.dsr_count, "failed_gates": r.failed_gates}
                                for r in summaries],
        notes=list(session.autopilot.notes) if session.autopilot is not None else [],
        universe=pilot.universe_result() if uv_id is not None and pilot is not None else None,
        cost_usd=replay.cost_usd, turns=replay.model_turns, tool_calls=len(replay.traces),
        session_log=str(session.log.path), finished_at=datetime.now(UTC))
    body = outcome.model_dump(mode="json")
    session.log.append({"t": "research_stop", "status": status, "detail": detail,
                        "engine_stop": outcome.engine_stop, "iterations": outcome.iterations,
                        "best_run_id": outcome.best_run_id, "record_id": record_id})
    ws.store.memory_put(OUTCOMES_NS, session.session_id, body)
    return outcome


def _confirm(goal: Goal, record: dict[str, Any] | None, tolerance: float, detail: str) -> tuple[str, str]:
    """GOAL_MET stands only for a frozen record whose holdout confirms the goal within `tolerance`
    (`gates.holdout_failures`); anything else is HOLDOUT_FAILED, whoever drove the session."""
    if record is None or record.get("state") not in ("frozen", "production"):
        state = "no record was frozen" if record is None else f"the record is {record.get('state')}"
        return "HOLDOUT_FAILED", (f"GOAL_MET needs a frozen record whose holdout confirms the goal; {state}. "
                                  f"Claimed: {detail}")[:2000]
    misses = holdout_failures(goal.thresholds, record.get("holdout"), tolerance)
    members = (record.get("holdout") or {}).get("members") or {}
    for sym, mm in members.items() if goal.each else ():
        misses += [f"{sym}: {x}" for x in holdout_failures(goal.each, mm, tolerance)]
    if misses:
        return "HOLDOUT_FAILED", (f"the holdout does not confirm the goal within {tolerance:g}x each threshold: "
                                  f"{'; '.join(misses)}. Claimed: {detail}")[:2000]
    return "GOAL_MET", detail


def _tearsheet(source: str, ws: Workspace) -> dict[str, str] | None:
    from auraquant.cta.report.cli import build_report

    try:
        out = build_report(source, ws.root)
    except Exception as exc:  # a report failure must not lose the research outcome; it is reported instead
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"source": source, "html": str(out.html), "png": str(out.png)}


async def _tool(session: ResearchSession, name: str, args: dict[str, Any]) -> Any:
    from aura.tools import ToolContext

    ctx = ToolContext(deps=session.deps, session_id=session.session_id, caller="human")
    out = await session.registry.call(name, args, ctx)
    return out.value if out.ok else None


async def _record_status(session: ResearchSession, st: Any, status: str, detail: str) -> None:
    """Record the loop's own stop decision (interrupt, budget) in ITER_STATE through the tool surface."""
    tried = [{"label": t.label, "evaluation_id": t.evaluation_id, "verdict": t.verdict} for t in st.tried]
    await _tool(session, "iter_state_update", {"iter": st.iter, "max_iters": st.max_iters, "goal": st.goal,
                                               "tried": tried, "next_action": detail[:500], "status": status})


async def _summaries_of(session: ResearchSession, tried: list[dict[str, Any]]) -> list[Any]:
    """Archive summaries of the records made from the runs this session tried (frozen ones last)."""
    runs = {t["evaluation_id"] for t in tried}
    records = await _tool(session, "archive_list", {}) or []
    mine = [r for r in records if r.run_id in runs]
    return sorted(mine, key=lambda r: r.state == "frozen")


async def _records_of(session: ResearchSession, tried: list[dict[str, Any]]) -> list[str]:
    """Archived records made from the runs this session tried (frozen ones last)."""
    return [r.record_id for r in await _summaries_of(session, tried)]


def run_research(workspace: Workspace, provider: Provider, *, goal: Goal, max_iters: int,
                 autopilot: Autopilot | None = None, budgets: Budgets | None = None,
                 on_event: EngineHook | None = None, session_id: str | None = None,
                 tearsheet: bool = True) -> ResearchOutcome:
    """The non-interactive loop (`auraquant research`, the demo): one session from goal to stop reason.
    Ctrl-C ends it as INTERRUPTED with state saved."""
    session = ResearchSession.start(workspace, provider, goal=goal, max_iters=max_iters, budgets=budgets,
                                    autopilot=autopilot, session_id=session_id)

    async def main() -> ResearchOutcome:
        stop: Stopped | None = None
        try:
            stop = await drive(session, goal_request(goal, max_iters), on_event)
        except (asyncio.CancelledError, KeyboardInterrupt):
            stop = session.engine.last_stop
        return await conclude(session, stop, tearsheet=tearsheet)

    try:
        try:
            return asyncio.run(main())
        except KeyboardInterrupt:
            return asyncio.run(conclude(session, session.engine.last_stop, tearsheet=False))
    finally:
        session.close()


def offline_autopilot(goal: Goal, *, max_iters: int, windows: int = 4, trials: int = 24,
                      seed: int = 0, holdout_tolerance: float = 0.5) -> tuple[Autopilot, OfflineProvider]:
    """The autopilot and its provider. `holdout_tolerance` is the workspace's (`gates.json`)."""
    pilot = Autopilot(AutopilotConfig(goal=goal, max_iters=max_iters, windows=windows, trials=trials, seed=seed,
                                      holdout_tolerance=holdout_tolerance))
    return pilot, autopilot_provider(pilot)
