"""The offline autopilot: a deterministic principal researcher that drives the same tools, through the same
engine, budgets, traces and session log as an LLM would — it is the `policy` of an `OfflineProvider`.

Each model turn it reads the results of its previous tool calls (tool-result JSON, exactly what a model
reads) and decides the next calls. It never calls domain code: every number it judges was returned by a
tool and every object it makes is made by a tool.

Research it does, round by round (one round = one Spec walk-forward tested and judged):
1. Data: find a qualified data version for the goal's market (a clearly stated stand-in of the same
   timeframe when the goal's symbol is absent), declare a sealed holdout if none exists.
2. Parameter: a new hypothesis starts with a seeded walk-forward Optuna search over its baseline params;
   after an improvement the search is refined to the range the windows actually selected.
3. Structure: swap one Filter / Execution / Risk option at a time against the family's best structure.
4. Hypothesis: change the baseline family. 5. External CTA recipes after 3 dead ends in a row.
A goal on a universe ("BTC/ETH 1h") researches the portfolio of its members: one stored version per member
(same timeframe), a universe with one holdout for all of them (`universe_create`), walk-forward rounds with
`universe_experiment_run` (per-member and portfolio OOS results, the gates), and the holdout scored once
with `universe_holdout_score`. Universe runs are not archive records (no signed record, so no approval
request): a confirmed goal stops GOAL_MET with the run id as its evidence.
Every 10 rounds a forced induction writes the falsified hypotheses and the next direction to research
memory and refocuses on the strongest family. It stops by the shared protocol (`protocol.termination`):
goal met (then archive -> freeze -> approval request), stagnation, iteration budget, structural gap.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aura.providers.offline import PolicyState, ScriptedTurn
from aura.runtime.messages import ToolResultPart
from auraquant.cta.experiment.gates import holdout_failures, holdout_table
from auraquant.cta.governance.record import holdout_look_text
from auraquant.cta.research.goal import Goal
from auraquant.cta.research.ideas import EXTERNAL, FAMILIES, OPTIONS, SLOTS, WRITTEN, Family, NewModule, Space
from auraquant.cta.research.iter_state import INDUCTION_PREFIX
from auraquant.cta.research.protocol import Escalation, ProtocolRules, Termination, assess, termination

COSTS = {"commission_bps": 4.0, "slippage_bps": 2.0}
NOT_EVALUATED_STOP = 3  # consecutive refused/failed experiments that end the research as a structural gap
MIN_TARGET_BARS = 60  # below this a target segment holds too few trades to judge anything


def fit_windows(research_bars: int, wanted: int) -> tuple[int, int]:
    """(windows, target bars) of a rolling walk-forward with train = 2 x target that fits `research_bars`:
    `wanted` windows when each target gets >= MIN_TARGET_BARS bars, else as many as do; (0, 0) when not even
    one window fits. Window k spans [k t, (k + 3) t), so n windows need (n + 2) t bars."""
    for n in range(max(wanted, 1), 0, -1):
        target = research_bars // (n + 2)
        if target >= MIN_TARGET_BARS:
            return n, target
    return 0, 0


def no_data_message(goal: Goal) -> str:
    """The refusal when no stored data matches the goal's market."""
    want = " ".join(p for p in (goal.market, goal.timeframe) if p) or "any market"
    return (f"no data for {want}; import or fetch it (auraquant data import FILE --symbol SYMBOL --timeframe TF, "
            "or auraquant data fetch)")


@dataclass(frozen=True)
class AutopilotConfig:
    """Knobs of the autopilot's experiments (small values make tiny, fast experiments for tests)."""

    goal: Goal
    max_iters: int = 20
    rules: ProtocolRules = ProtocolRules()
    windows: int = 4
    trials: int = 24
    seed: int = 0
    holdout_fraction: float = 0.15
    holdout_tolerance: float = 0.5  # the workspace's `gates.json` value; see experiment/gates.py


@dataclass
class Round:
    iter: int
    label: str
    family: str
    dimension: str
    run_id: str | None = None
    spec_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    window_params: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""

    @property
    def evaluated(self) -> bool:
        """An experiment ran and was judged (a refused or failed round is no evidence either way)."""
        return self.run_id is not None and bool(self.metrics)

    @property
    def sharpe(self) -> float | None:
        s = self.metrics.get("sharpe")
        return float(s) if isinstance(s, int | float) and math.isfinite(s) else None


@dataclass
class _FamilyState:
    family: Family
    structure: dict[str, int]
    best_sharpe: float | None = None
    best_run: str | None = None
    rounds: int = 0
    evaluated: int = 0  # rounds whose experiment ran and was judged
    refined: bool = False
    falsified: bool = False
    tried: set[str] = field(default_factory=set)


@dataclass
class _Candidate:
    label: str
    family: str
    dimension: str
    structure: dict[str, int]
    space: Space
    params: dict[str, int | float]
    module: NewModule | None = None  # written (module_write) before its Spec is put


def _result(part: ToolResultPart) -> tuple[bool, Any]:
    try:
        body = json.loads(part.content)
    except json.JSONDecodeError:
        body = part.content
    if part.is_error:
        msg = body.get("error", {}).get("message", part.content) if isinstance(body, dict) else str(body)
        return False, msg
    return True, body


class Autopilot:
    """Callable `policy(PolicyState) -> ScriptedTurn`. Deterministic: the same tool results give the same
    calls. `rounds`, `termination`, `record_id`, `notes` expose what it did (for summaries and tests)."""

    def __init__(self, config: AutopilotConfig) -> None:
        self.restart(config.goal, config)

    def restart(self, goal: Goal, config: AutopilotConfig | None = None) -> None:
        """Forget this object's rounds and research toward `goal` from the data phase on (the store keeps
        everything: identical experiments are found, not recomputed)."""
        base = config or self.cfg
        self.cfg = AutopilotConfig(**{**base.__dict__, "goal": goal})
        self.rounds: list[Round] = []
        self.termination: Termination | None = None
        self.record_id: str | None = None
        self.approval_id: str | None = None
        self.notes: list[str] = []
        self.inductions: list[str] = []
        self.data_version_id: str | None = None
        self.universe_id: str | None = None
        self.universe: dict[str, Any] = {}
        self._stage = "start"
        self._pending: list[str] = []
        self._families: dict[str, _FamilyState] = {}
        self._current: str | None = None
        self._externals_used: set[str] = set()
        self._known_falsified: set[str] = set()
        self._unwritable: set[str] = set()
        self._wf: dict[str, Any] = {}
        self._candidate: _Candidate | None = None
        self._round: Round | None = None
        self._escalation = Escalation.PARAMETER
        self._goal_run: Round | None = None
        self._converged = Termination("GOAL_MET", "")
        self.candidates: list[tuple[str, Round]] = []
        self._record_state: dict[str, str] = {}
        self.holdout: dict[str, Any] = {}
        self.holdout_verdict: str | None = None
        self._significance: dict[str, dict[str, Any]] = {}
        self._induction_rounds: list[int] = []

    # -- the policy ---------------------------------------------------------------------------
    def __call__(self, ps: PolicyState) -> ScriptedTurn:
        last = ps.last_message
        results = list(last.tool_results) if last is not None and last.role == "user" else []
        if self._pending and len(results) != len(self._pending):
            results = []  # not the answer to our calls (e.g. a fresh request): start the stage over
        by_tag = dict(zip(self._pending, (_result(r) for r in results), strict=False))
        self._pending = []
        return getattr(self, f"_on_{self._stage}")(by_tag)

    def _calls(self, stage: str, text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> ScriptedTurn:
        self._stage = stage
        self._pending = [tag for tag, _, _ in calls]
        return ScriptedTurn(text=text, tool_calls=[(name, args) for _, name, args in calls])

    # -- data phase ---------------------------------------------------------------------------
    def _on_start(self, _: dict[str, Any]) -> ScriptedTurn:
        return self._calls("pick_data", f"Goal: {self.cfg.goal.describe()}. Data phase: what is stored, and what "
                           "earlier sessions falsified.", [
                               ("skill", "skill_load", {"name": "cta-principal-research-loop"}),
                               ("versions", "data_version_list", {}),
                               ("memory", "memory_search", {"query": INDUCTION_PREFIX.rstrip("-")}),
                           ])

    def _on_pick_data(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, versions = r.get("versions", (False, []))
        if not ok:
            return self._finish(Termination("STRUCTURAL_GAP", f"cannot list data versions: {versions}"))
        goal = self.cfg.goal
        qualified = [v for v in versions if v.get("qualified")]
        if goal.universe:
            return self._pick_universe(qualified)
        # The goal's market is honoured exactly: another symbol or timeframe is a different market, never a
        # stand-in (an ETH goal judged on BTC bars would be evidence about BTC).
        match = [v for v in qualified if (goal.timeframe is None or v["timeframe"] == goal.timeframe)
                 and (goal.symbol is None or v["symbol"] == goal.symbol)]
        pick = sorted(match, key=lambda v: (v["synthetic"], -v["bars"]))[:1]
        if not pick:
            return self._finish(Termination("STRUCTURAL_GAP", no_data_message(goal)))
        dv = pick[0]
        self.data_version_id = dv["id"]
        mem_ok, mem = r.get("memory", (False, []))
        for entry in mem if mem_ok else []:  # what earlier sessions falsified on this very data version
            value = entry.get("value") or {}
            if isinstance(value, dict) and value.get("data_version_id") == dv["id"]:
                self._known_falsified.update(value.get("falsified_families", []))
        return self._calls("holdout", f"Using {dv['id']} ({dv['symbol']} {dv['timeframe']}, {dv['bars']} bars"
                           f"{', SYNTHETIC' if dv['synthetic'] else ''}). Checking its sealed holdout.",
                           [("show", "data_version_show", {"data_version_id": dv["id"]})])

    # -- universe data phase ------------------------------------------------------------------
    def _pick_universe(self, qualified: list[dict[str, Any]]) -> ScriptedTurn:
        goal = self.cfg.goal
        assert goal.universe
        picks, missing = [], []
        for sym in goal.universe:
            match = [v for v in qualified if v["symbol"] == sym and (goal.timeframe is None
                                                                     or v["timeframe"] == goal.timeframe)]
            best = sorted(match, key=lambda v: (v["synthetic"], -v["bars"]))[:1]
            if best:
                picks.extend(best)
            else:
                missing.append(sym)
        if missing:
            want = " ".join(p for p in ("+".join(missing), goal.timeframe) if p)
            return self._finish(Termination("STRUCTURAL_GAP", f"no data for {want} (a universe needs every member); "
                                            "import or fetch it (auraquant data import FILE --symbol SYMBOL "
                                            "--timeframe TF)"))
        if len({v["timeframe"] for v in picks}) != 1:
            return self._finish(Termination("STRUCTURAL_GAP", "the members' data have different timeframes"))
        self.data_version_id = picks[0]["id"]
        name = "+".join(goal.universe) + " " + picks[0]["timeframe"]
        self._wf["members"] = [v["id"] for v in picks]
        self._wf["name"] = name
        return self._calls("universe_made", f"Universe {name}: " + ", ".join(
            f"{v['symbol']} {v['id']} ({v['bars']} bars{', SYNTHETIC' if v['synthetic'] else ''})" for v in picks)
            + ". Checking its holdout.", [("uv", "universe_create", {"name": name, "data_version_ids": [
                v["id"] for v in picks]})])

    def _on_universe_made(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, out = r.get("uv", (False, "no answer"))
        if not ok:
            return self._finish(Termination("STRUCTURAL_GAP", f"could not make the universe: {out}"))
        uv = out["universe"]
        self.universe_id, self.universe = uv["id"], uv
        cal = uv.get("research_calendar")
        if uv.get("holdout_from") is not None and cal is not None:
            return self._plan(int(cal["bars"]), f"universe {uv['id']}: one holdout for every member from "
                              f"{uv['holdout_from']}")
        firsts = [datetime.fromisoformat(m["first"]) for m in uv["members"]]
        lasts = [datetime.fromisoformat(m["last"]) for m in uv["members"]]
        first, last = max(firsts), min(lasts)  # inside every member's span
        start = first + (last - first) * (1.0 - self.cfg.holdout_fraction)
        start = start - timedelta(microseconds=start.microsecond, seconds=start.second, minutes=start.minute)
        return self._calls("universe_sealed", f"No holdout yet: sealing every member of {uv['id']} from "
                           f"{start.isoformat()} at once (search never reads it).", [
                               ("uv", "universe_create", {"name": self._wf["name"],
                                                          "data_version_ids": self._wf["members"],
                                                          "holdout_start": start.isoformat()})])

    def _on_universe_sealed(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, out = r.get("uv", (False, "no answer"))
        if not ok:
            return self._finish(Termination("STRUCTURAL_GAP", f"could not seal the universe's holdout: {out}"))
        uv = out["universe"]
        self.universe = uv
        cal = uv.get("research_calendar") or {"bars": 0}
        return self._plan(int(cal["bars"]), f"universe {uv['id']}: holdout sealed for every member from "
                          f"{uv['holdout_from']}")

    def _on_holdout(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, detail = r.get("show", (False, "no answer"))
        if not ok:
            return self._finish(Termination("STRUCTURAL_GAP", f"data version unreadable: {detail}"))
        v = detail["version"]
        self._wf["total_bars"] = v["bars"]
        if detail.get("holdout_from") is not None:  # declared on this version or on the same bars elsewhere
            hold = next((s["bars"] for s in detail["slices"] if s["role"] == "holdout"), 0)
            sealed = detail.get("holdout_bars") or hold
            return self._plan(v["bars"] - sealed, f"holdout sealed from {detail['holdout_from']}")
        held = int(v["bars"] * self.cfg.holdout_fraction)
        first, last = datetime.fromisoformat(v["first"]), datetime.fromisoformat(v["last"])
        step = (last - first) / max(v["bars"] - 1, 1)
        start = first + step * (v["bars"] - held)
        start = start - timedelta(microseconds=start.microsecond)
        self._wf["research_bars"] = v["bars"] - held
        return self._calls("holdout_made", f"No holdout yet: sealing the last {self.cfg.holdout_fraction:.0%} "
                           f"from {start.isoformat()} (search never reads it).",
                           [("slice", "data_slice_create", {"data_version_id": v["id"], "role": "holdout",
                                                            "start": start.isoformat()})])

    def _on_holdout_made(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, sl = r.get("slice", (False, "no answer"))
        if not ok:
            return self._finish(Termination("STRUCTURAL_GAP", f"could not seal a holdout: {sl}"))
        # The bars before the holdout are counted from the slice itself: the holdout starts at a time, and
        # gaps in real data make a time-based cut differ from a bar count.
        research = self._wf["total_bars"] - int(sl["bars"]) if "bars" in sl else self._wf["research_bars"]
        return self._plan(research, f"holdout {sl['id']} sealed from {sl['start']}")

    def _plan(self, research_bars: int, note: str) -> ScriptedTurn:
        n, target = fit_windows(research_bars, self.cfg.windows)
        if n == 0:
            return self._finish(Termination(
                "STRUCTURAL_GAP", f"only {research_bars} bars before the holdout: a walk-forward window needs at "
                f"least {3 * MIN_TARGET_BARS} (train {2 * MIN_TARGET_BARS} + target {MIN_TARGET_BARS}); import "
                "a longer history"))
        if n < self.cfg.windows:
            note += (f"; {self.cfg.windows} windows do not fit {research_bars} bars with >= {MIN_TARGET_BARS} "
                     f"target bars each, using {n}")
        self._wf = {"train_bars": 2 * target, "target_bars": target, "n_windows": n}
        self.notes.append(f"{note}; walk-forward: {n} rolling windows, train {2 * target} / target {target} bars, "
                          f"{self.cfg.trials} Optuna trials per window; costs {COSTS['commission_bps']:g} bps "
                          f"commission + {COSTS['slippage_bps']:g} bps slippage per side")
        return self._propose({}, note)

    # -- one round ----------------------------------------------------------------------------
    def _propose(self, extra: dict[str, tuple[str, str, dict[str, Any]]], lead: str = "") -> ScriptedTurn:
        cand = self._next_candidate()
        if cand is None:
            return self._finish(Termination("STRUCTURAL_GAP", "every built-in family, structure and external "
                                            "recipe was tried; the goal needs a new module (module_write)"))
        self._candidate = cand
        self._round = Round(iter=len(self.rounds) + 1, label=cand.label, family=cand.family, dimension=cand.dimension)
        text = (lead + "\n" if lead else "") + f"Round {self._round.iter} [{cand.dimension}]: {cand.label}."
        if cand.module is not None:
            m = cand.module
            return self._calls("module_written", text + f" No built-in module expresses it: writing {m.kind}/"
                               f"{m.module} from the scaffold (validated and look-ahead checked before it is saved).", [
                                   *extra.values(),
                                   ("scaffold", "module_scaffold", {"kind": m.kind, "name": m.module}),
                                   ("write", "module_write", {"kind": m.kind, "name": m.module, "source": m.source,
                                                              "overwrite": True}),
                               ])
        return self._put_spec(cand, text, list(extra.values()))

    def _put_spec(self, cand: _Candidate, text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> ScriptedTurn:
        spec = self._spec(cand)
        calls = [*calls, ("spec", "spec_put", {"spec": spec, "data_version_id": self.data_version_id})]
        return self._calls("spec_stored", text, calls)

    def _on_module_written(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, out = r.get("write", (False, "no answer"))
        cand = self._candidate
        assert cand is not None and cand.module is not None
        if not ok:
            self.notes.append(f"module_write refused {cand.module.module}: {out}")
            self._unwritable.add(cand.family)
            self._families.pop(cand.family, None)  # nothing of it exists to swap structure on
            self._current = None
            return self._propose({}, f"The module was refused ({str(out)[:200]}); choosing another direction.")
        self.notes.append(f"wrote {out.get('path')} ({out.get('lookahead')})")
        return self._put_spec(cand, f"Module saved: {out.get('path')}. Putting its Spec.", [])

    def _on_spec_stored(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, out = r.get("spec", (False, "no answer"))
        assert self._round is not None
        if not ok:
            self._round.verdict = f"spec refused: {out}"
            return self._judge()
        self._round.spec_id = out["spec_id"]
        if self.universe_id is not None:
            wf = {"n_windows": self._wf["n_windows"], "train_bars": self._wf["train_bars"],
                  "target_bars": self._wf["target_bars"], "n_trials": self.cfg.trials, "seed": self.cfg.seed}
            return self._calls("universe_ran", f"Walk-forward of {out['spec_id']} on universe {self.universe_id}.", [
                ("run", "universe_experiment_run", {"spec_id": out["spec_id"], "universe_id": self.universe_id,
                                                    "walk_forward": wf})])
        args = {"spec_id": out["spec_id"], "walk_forward": self._wf, "seed": self.cfg.seed, "wait_s": 600,
                "search": {"n_trials": self.cfg.trials, "batch_size": max(2, self.cfg.trials // 2),
                           "n_startup_trials": max(1, min(8, self.cfg.trials // 2)), "top_k": 3}}
        return self._calls("ran", f"Walk-forward search of {out['spec_id']}.", [("run", "experiment_run", args)])

    def _on_ran(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, st = r.get("run", (False, "no answer"))
        assert self._round is not None
        if not ok:
            self._round.verdict = f"experiment refused: {st}"
            return self._judge()
        self._round.run_id = st["run_id"]
        if st["state"] == "failed":
            self._round.verdict = f"experiment failed: {st.get('error')}"
            return self._judge()
        if st["state"] != "finished":
            return self._calls("ran", f"{st['run_id']}: {st['windows_complete']}/{st['windows']} windows done.",
                               [("run", "experiment_wait", {"run_id": st["run_id"], "timeout_s": 600})])
        return self._calls("judged", f"{st['run_id']} finished; reading its evaluation and robustness.", [
            ("eval", "evaluation_show", {"evaluation_id": st["run_id"]}),
            ("robust", "robustness_report", {"run_id": st["run_id"]}),
        ])

    def _on_universe_ran(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, st = r.get("run", (False, "no answer"))
        assert self._round is not None
        if not ok:
            self._round.verdict = f"experiment refused: {st}"
            return self._judge()
        sig = st["significance"]
        self._round.run_id = st["run_id"]
        self._round.metrics = {**st["oos"], "dsr": sig.get("dsr_session", sig.get("dsr_workspace")),
                               "pbo": sig.get("pbo"), "spa_consistent_median": sig.get("spa_p"),
                               "members": st["members"], "carriers": st["consistency"].get("carriers")}
        self._round.window_params = [w["params"] or w["member_params"] for w in st["windows"]]
        self._significance[st["run_id"]] = {**sig, "consistency": st["consistency"],
                                            "correlation": st["correlation"],
                                            "basket_buy_and_hold": st["basket_buy_and_hold"]}
        return self._judge()

    def _on_judged(self, r: dict[str, Any]) -> ScriptedTurn:
        assert self._round is not None
        ok, ev = r.get("eval", (False, "no answer"))
        if ok:
            self._round.metrics = ev["metrics"]
            self._round.window_params = [w["params"] for w in ev["details"]["windows"]]
        else:
            self._round.verdict = f"evaluation unavailable: {ev}"
        rok, rob = r.get("robust", (False, None))
        if rok and self._round.metrics:
            self._round.metrics = {**self._round.metrics, **{
                k: rob["runner_robustness"].get(k) for k in ("pbo", "spa_consistent_median")}}
        return self._judge()

    def _judge(self) -> ScriptedTurn:
        rnd = self._round
        assert rnd is not None and self._candidate is not None
        before = assess([x.sharpe for x in self.rounds], self.cfg.rules)
        self.rounds.append(rnd)
        view = assess([x.sharpe for x in self.rounds], self.cfg.rules, self._induction_rounds)
        self._update_family(rnd)
        met = rnd.run_id is not None and rnd.sharpe is not None and self.cfg.goal.met(rnd.metrics)
        if not rnd.verdict:
            if met:
                rnd.verdict = "meets the goal out of sample"
            elif view.dead_ends[-1]:
                best = before.best_sharpe
                rnd.verdict = (f"dead end: best stays {best:.3f}" if best is not None and rnd.sharpe is not None
                               else "dead end: no Sharpe")
                miss = self.cfg.goal.failures(rnd.metrics)
                rnd.verdict += f"; misses {', '.join(miss)}" if miss else ""
            else:
                rnd.verdict = "new best" + (f" (+{rnd.sharpe - before.best_sharpe:.3f})"
                                            if before.best_sharpe is not None and rnd.sharpe is not None else "")
        self._escalation = view.escalation
        text = f"Round {rnd.iter}: {rnd.label} -> {self._metric_text(rnd)} — {rnd.verdict}."
        if met and self.universe_id is not None:
            # a universe run is its own evidence (no archive record): its significance came with the run
            assert rnd.run_id is not None
            self.candidates.append((rnd.run_id, rnd))
            self._record_state[rnd.run_id] = "candidate"
            sig = self._significance.get(rnd.run_id, {})
            return self._next(text + f" Candidate {rnd.run_id} ({sig.get('significance', 'significance unknown')}"
                              + (f": {sig['failed_gates']}" if sig.get("failed_gates") else "") + ").")
        if met:
            return self._calls("archived", text + " Archiving it as a candidate; research goes on until it "
                               "converges, then the best candidate is frozen.", [
                                   self._iter_update("CONTINUING", f"archive {rnd.run_id} as a candidate"),
                                   ("archive", "archive_candidate", {
                                       "run_id": rnd.run_id, "family": rnd.family,
                                       "goal": self.cfg.goal.as_archive_goal(),
                                       "parents": [rid for rid, _ in self.candidates]}),
                               ])
        return self._next(text)

    def _view(self) -> Any:
        return assess([x.sharpe for x in self.rounds], self.cfg.rules, self._induction_rounds)

    def _next(self, text: str, record_iter: bool = True) -> ScriptedTurn:
        """After a round: a due induction first (even before a stop), then the stop rules, else the next round."""
        view = self._view()
        tail = self.rounds[-NOT_EVALUATED_STOP:]
        if len(tail) == NOT_EVALUATED_STOP and not any(x.evaluated for x in tail):
            return self._finish(Termination(
                "STRUCTURAL_GAP", f"{NOT_EVALUATED_STOP} experiments in a row were refused or failed (last: "
                f"{tail[-1].verdict[:300]}); nothing was learnt from them, so nothing is recorded as falsified"), text)
        if view.induction_due:
            return self._induce(text)
        stop = termination(view, iterations=len(self.rounds), max_iters=self.cfg.max_iters,
                           candidates=len(self.candidates))
        if stop is not None and stop.status == "GOAL_MET":
            return self._freeze_best(stop, text)
        if stop is not None:
            return self._finish(stop, text)
        extra = {"iter": self._iter_update("CONTINUING", self._peek_next())} if record_iter else {}
        return self._propose(extra, text)

    # -- induction ----------------------------------------------------------------------------
    def _induce(self, lead: str) -> ScriptedTurn:
        best = max((f for f in self._families.values() if f.best_sharpe is not None),
                   key=lambda f: f.best_sharpe or -1e9, default=None)
        top = best.best_sharpe if best is not None else None
        falsified = []
        for f in self._families.values():
            # Only evidence falsifies: a family whose experiments were all refused or failed was never tested.
            if f.evaluated and (f.best_sharpe is None or f.best_sharpe <= 0
                                or (top is not None and f.best_sharpe < top - 0.5)):
                f.falsified = True
                falsified.append(f.family.name)
        if best is not None:
            self._current = best.family.name
        self._escalation = Escalation.PARAMETER  # the redirect starts a new direction at the first rung
        n = len(self.rounds)
        why = (f"every {self.cfg.rules.induction_every} rounds" if n % self.cfg.rules.induction_every == 0
               else f"{self.cfg.rules.stagnation_rounds} dead ends in a row")
        direction = (f"refocus on {best.family.name} (best OOS Sharpe {top:.3f}, {best.best_run}): structure swaps "
                     "against its best structure" if best is not None else "new hypotheses")
        note = {
            "iter": n, "trigger": why, "data_version_id": self.data_version_id, "goal": self.cfg.goal.text,
            "falsified_families": falsified,
            "falsified_rounds": [{"label": x.label, "run_id": x.run_id, "verdict": x.verdict}
                                 for x in self.rounds if x.evaluated and x.verdict.startswith("dead end")],
            "not_evaluated_rounds": [{"label": x.label, "verdict": x.verdict}
                                     for x in self.rounds if not x.evaluated],
            "best": {"family": best.family.name, "run_id": best.best_run} if best is not None else None,
            "next_direction": direction,
        }
        key = f"{INDUCTION_PREFIX}{n:03d}"
        self.inductions.append(key)
        self._induction_rounds.append(n)
        text = (f"{lead}\nForced induction after {n} rounds ({why}): falsified families {falsified or 'none'}; "
                f"next direction: {direction}.")
        return self._calls("propose", text, [
            self._iter_update("CONTINUING", f"induction done: {direction}"),
            ("induction", "memory_store", {"key": key, "value": note}),
        ])

    def _on_propose(self, _: dict[str, Any]) -> ScriptedTurn:
        return self._next("", record_iter=False)

    # -- governance ---------------------------------------------------------------------------
    def _on_archived(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, rec = r.get("archive", (False, "no answer"))
        rnd = self.rounds[-1]
        if not ok:
            self.notes.append(f"archive refused {rnd.run_id}: {rec}")
            return self._next(f"The archive refused the candidate ({rec}); research continues.", record_iter=False)
        self.candidates.append((rec["record_id"], rnd))
        self._record_state[rec["record_id"]] = rec.get("state", "candidate")
        self._significance[rec["record_id"]] = rec
        label = rec.get("significance") or "significance unknown"
        why = f": {rec['failed_gates']}" if rec.get("failed_gates") else ""
        return self._next(f"Archived {rec['record_id']} (candidate, signed={rec['signed']}, {label}{why}; DSR "
                          f"{_f(rec.get('dsr'))} with the {rec.get('dsr_count') or 'run'} trial count).",
                          record_iter=False)

    def _freeze_best(self, converged: Termination, lead: str) -> ScriptedTurn:
        """Freeze the best candidate that passed the significance gates; none passing ends NOT_SIGNIFICANT."""
        significant = [c for c in self.candidates
                       if self._significance.get(c[0], {}).get("significance") == "significant"
                       or self._record_state.get(c[0]) in ("frozen", "production")]
        if not significant:
            rid, rnd = max(self.candidates, key=lambda c: (c[1].sharpe or -1e9, -c[1].iter))
            why = self._significance.get(rid, {}).get("failed_gates") or "below the significance gates"
            self.record_id = None
            return self._finish(Termination(
                "NOT_SIGNIFICANT", f"{len(self.candidates)} candidate(s) met the goal out of sample but none passed "
                f"the significance gates (best {rid}, {rnd.run_id}: {why}); archived as 'not significant', nothing "
                f"frozen, the holdout stays sealed; research converged: {converged.detail}"), lead)
        record_id, rnd = max(significant, key=lambda c: (c[1].sharpe or -1e9, -c[1].iter))
        self.record_id, self._goal_run, self._converged = record_id, rnd, converged
        if self.universe_id is not None:
            return self._calls("universe_frozen", (lead + "\n" if lead else "") + f"Research converged "
                               f"({converged.detail}). Scoring the sealed holdout of every member once for the best "
                               f"significant universe run {record_id}: the gates are re-checked with the current "
                               "trial ledger first.", [("freeze", "universe_holdout_score", {"run_id": record_id})])
        if self._record_state.get(record_id) in ("frozen", "production"):  # frozen by an earlier session
            earlier = self._significance.get(record_id, {}).get("holdout")
            misses = holdout_failures(self.cfg.goal.thresholds, earlier, self.cfg.holdout_tolerance)
            if earlier and misses:  # its holdout was looked at once already and did not confirm this goal
                self.holdout = earlier
                self.holdout_verdict = "does not confirm the goal: " + "; ".join(misses)
                return self._finish(Termination(
                    "HOLDOUT_FAILED", f"{record_id} was frozen by an earlier session and its holdout does not "
                    f"confirm the goal within {self.cfg.holdout_tolerance:g}x each threshold: {'; '.join(misses)}. "
                    "No approval requested"), lead)
            view = self._view()
            gate = termination(view, iterations=len(self.rounds), max_iters=self.cfg.max_iters,
                               awaiting_approval=record_id)
            assert gate is not None
            if self._record_state[record_id] == "production":
                gate = Termination("GOAL_MET", f"{rnd.run_id} meets the goal; its record {record_id} is already in "
                                               "production")
            return self._finish(gate, lead)
        return self._calls("frozen", (lead + "\n" if lead else "") + f"Research converged ({converged.detail}). "
                           f"Freezing the best significant candidate {record_id} ({rnd.run_id}): the gates are "
                           "re-checked with the current trial ledger, then the sealed holdout is scored once.",
                           [("freeze", "archive_freeze", {"record_id": record_id})])

    def _on_frozen(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, rec = r.get("freeze", (False, "no answer"))
        run = self._goal_run
        assert run is not None
        if not ok:
            self.notes.append(f"freeze refused: {rec}")
            rid, self.record_id = self.record_id, None
            status = "NOT_SIGNIFICANT" if "significance gates" in str(rec) else "STRUCTURAL_GAP"
            return self._finish(Termination(status, f"{run.run_id} met the goal out of sample but candidate {rid} "
                                            f"could not be frozen: {rec}"))
        holdout = rec.get("holdout") or {}
        self.holdout = holdout
        tol = self.cfg.holdout_tolerance
        misses = holdout_failures(self.cfg.goal.thresholds, holdout, tol)
        self.holdout_verdict = ("confirms the goal" if not misses else "does not confirm the goal: " + "; ".join(misses))
        if misses:
            return self._finish(Termination(
                "HOLDOUT_FAILED", f"{run.run_id} met the goal out of sample and passed the significance gates, but "
                f"the holdout of frozen record {self.record_id} (scored once) does not confirm it within the "
                f"tolerance of {tol:g}x each threshold: {'; '.join(misses)}. No approval requested"))
        reason = (f"{run.run_id} meets the goal out of sample ({self._metric_text(run)}); holdout scored once "
                  f"confirms it within {tol:g}x each threshold: sharpe={holdout.get('sharpe')}, "
                  f"max_drawdown={holdout.get('max_drawdown')} ({holdout_look_text(holdout)}). Record {self.record_id}; "
                  f"research converged: "
                  f"{self._converged.detail}.")
        return self._calls("requested", "Frozen; the holdout confirms the goal. Requesting human approval.",
                           [("approval", "approval_request", {"record_id": self.record_id, "reason": reason[:2000]})])

    def _on_universe_frozen(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, rec = r.get("freeze", (False, "no answer"))
        run = self._goal_run
        assert run is not None
        if not ok:
            self.notes.append(f"holdout scoring refused: {rec}")
            rid, self.record_id = self.record_id, None
            status = "NOT_SIGNIFICANT" if "significance gates" in str(rec) else "STRUCTURAL_GAP"
            return self._finish(Termination(status, f"{run.run_id} met the goal out of sample but its holdout could "
                                            f"not be scored ({rid}): {rec}"))
        self.holdout = {**rec["metrics"], "holdout_look": rec["look"], "holdout_bars": rec["bars"],
                        "members": rec["members"]}
        tol = self.cfg.holdout_tolerance
        misses = holdout_failures(self.cfg.goal.thresholds, self.holdout, tol)
        for sym, mm in rec["members"].items():
            misses += [f"{sym}: {x}" for x in holdout_failures(self.cfg.goal.each, mm, tol)]
        self.holdout_verdict = ("confirms the goal" if not misses else "does not confirm the goal: " + "; ".join(misses))
        if misses:
            return self._finish(Termination(
                "HOLDOUT_FAILED", f"{run.run_id} met the goal out of sample and passed the significance gates, but "
                f"its holdout (every member, scored once) does not confirm it within {tol:g}x each threshold: "
                f"{'; '.join(misses)}"))
        return self._finish(Termination(
            "GOAL_MET", f"{run.run_id} meets every goal threshold out of sample on universe {self.universe_id}, "
            f"passes the significance gates and the holdout of every member confirms it (tolerance {tol:g}x, "
            f"{holdout_look_text(self.holdout)}); research converged ({self._converged.detail}). Universe runs are "
            "not archive records: no approval can be requested for it"))

    def _on_requested(self, r: dict[str, Any]) -> ScriptedTurn:
        ok, req = r.get("approval", (False, "no answer"))
        run = self._goal_run
        assert run is not None
        if ok:
            self.approval_id = req.get("id") if isinstance(req, dict) else None
        detail = (f"{run.run_id} meets every goal threshold out of sample ({len(self.candidates)} candidate(s)), "
                  f"passes the significance gates and the holdout confirms it (tolerance "
                  f"{self.cfg.holdout_tolerance:g}x); research converged ({self._converged.detail}); best record "
                  f"{self.record_id} frozen"
                  + (f", approval requested ({self.approval_id}): a human runs `auraquant approve {self.record_id}`"
                     if ok else f" (approval request refused: {req})"))
        return self._finish(Termination("GOAL_MET", detail))

    # -- ending -------------------------------------------------------------------------------
    def _finish(self, stop: Termination, lead: str = "") -> ScriptedTurn:
        self.termination = stop
        text = (lead + "\n" if lead else "") + f"Stopping: {stop.status} — {stop.detail}."
        return self._calls("final", text, [self._iter_update(stop.status, stop.detail)])

    def _on_final(self, _: dict[str, Any]) -> ScriptedTurn:
        return ScriptedTurn(text=self.summary_markdown())

    def summary_markdown(self) -> str:
        stop = self.termination
        lines = [f"## Research summary — {stop.status if stop else 'RUNNING'}", "",
                 f"**Goal:** {self.cfg.goal.describe()}  ", f"**Stop:** {stop.detail if stop else '-'}", ""]
        lines += [f"- {n}" for n in self.notes]
        lines += ["", "| iter | round | run | OOS Sharpe | max DD | trades | B&H Sharpe | excess return | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for x in self.rounds:
            m = x.metrics
            lines.append(f"| {x.iter} | {x.label} | {x.run_id or '-'} | {_f(m.get('sharpe'))} | "
                         f"{_f(m.get('max_drawdown'))} | {m.get('trades', '-')} | {_f(m.get('bh_sharpe'))} | "
                         f"{_f(m.get('excess_return'))} | {x.verdict} |")
        lines += self._universe_summary()
        if self.inductions:
            lines += ["", "Inductions stored in research memory: " + ", ".join(self.inductions)]
        if self.candidates:
            lines += ["", "Archived candidates: " + ", ".join(
                f"{rid} ({x.run_id}, {self._significance.get(rid, {}).get('significance') or 'significance unknown'})"
                for rid, x in self.candidates)]
        if self.record_id:
            lines += [f"Frozen: {self.record_id}; holdout scored once: {self.holdout_verdict or 'not scored'} "
                      f"(tolerance {self.cfg.holdout_tolerance:g}x each threshold); {holdout_look_text(self.holdout)}"
                      + (f"; approval requested {self.approval_id}" if self.approval_id else "")]
            if self.holdout:
                lines += ["", "| holdout metric | value | goal | bound with tolerance | verdict |", "|---|---|---|---|---|"]
                for row in holdout_table(self.cfg.goal.thresholds, self.holdout, self.cfg.holdout_tolerance):
                    lines.append(f"| {row['metric']} | {_f(row['holdout'])} | {row['goal'] or '-'} | "
                                 f"{row['bound'] or '-'} | {row['verdict']} |")
        return "\n".join(lines)

    def universe_result(self) -> dict[str, Any] | None:
        """JSON-able universe outcome (for the summary and a later tearsheet): universe, the best round's
        portfolio and per-member OOS metrics, their return correlation, the equal-weight basket's buy and
        hold, the consistency and the holdout (portfolio and members) when scored."""
        if self.universe_id is None:
            return None
        best = self._best_universe_round()
        out: dict[str, Any] = {"universe_id": self.universe_id, "universe": self.universe, "best_run_id": None}
        if best is not None:
            sig = self._significance.get(best.run_id or "", {})
            out.update(best_run_id=best.run_id,
                       portfolio={k: v for k, v in best.metrics.items() if k != "members"},
                       members=best.metrics.get("members"), correlation=sig.get("correlation"),
                       basket_buy_and_hold=sig.get("basket_buy_and_hold"), consistency=sig.get("consistency"),
                       significance={k: v for k, v in sig.items()
                                     if k not in ("correlation", "basket_buy_and_hold", "consistency")})
        out["holdout"] = self.holdout or None
        return out

    def _best_universe_round(self) -> Round | None:
        """The evaluated round with per-member results and the highest portfolio Sharpe."""
        return max((x for x in self.rounds if x.evaluated and x.metrics.get("members")),
                   key=lambda x: x.sharpe if x.sharpe is not None else -1e9, default=None)

    def _universe_summary(self) -> list[str]:
        """For a universe goal: the best round's members beside the portfolio, the correlation of the
        members' OOS returns and buy and hold of the equal-weight basket."""
        best = self._best_universe_round() if self.universe_id is not None else None
        if best is None:
            return []
        m = best.metrics
        sig = self._significance.get(best.run_id or "", {})
        lines = ["", f"Universe {self.universe_id}, best round {best.iter} ({best.run_id}), out of sample:", "",
                 "| instrument | Sharpe | max DD | total return | trades |", "|---|---|---|---|---|",
                 f"| portfolio | {_f(m.get('sharpe'))} | {_f(m.get('max_drawdown'))} | {_f(m.get('total_return'))} | "
                 f"{m.get('trades', '-')} |"]
        for sym, mm in (m.get("members") or {}).items():
            lines.append(f"| {sym} | {_f(mm.get('sharpe'))} | {_f(mm.get('max_drawdown'))} | "
                         f"{_f(mm.get('total_return'))} | {mm.get('trades', '-')} |")
        bh = sig.get("basket_buy_and_hold") or {}
        lines.append(f"| equal-weight basket buy and hold | {_f(bh.get('sharpe'))} | {_f(bh.get('max_drawdown'))} | "
                     f"{_f(bh.get('total_return'))} | - |")
        cons = sig.get("consistency") or {}
        lines += ["", f"Members carrying the edge (OOS Sharpe > 0): {cons.get('carriers', '-')} of "
                      f"{cons.get('members', '-')}"]
        corr = sig.get("correlation") or {}
        syms = list(corr)
        if syms:
            lines += ["", "| OOS return correlation | " + " | ".join(syms) + " |", "|---" * (len(syms) + 1) + "|"]
            lines += [f"| {a} | " + " | ".join(_f(corr[a].get(b)) for b in syms) + " |" for a in syms]
        return lines

    # -- bookkeeping --------------------------------------------------------------------------
    def _iter_update(self, status: str, next_action: str) -> tuple[str, str, dict[str, Any]]:
        tried = [{"label": x.label[:200], "evaluation_id": x.run_id, "verdict": x.verdict[:300]}
                 for x in self.rounds if x.run_id is not None and x.metrics]
        return ("iter", "iter_state_update", {"iter": len(self.rounds), "max_iters": self.cfg.max_iters,
                                              "goal": self.cfg.goal.describe(), "tried": tried,
                                              "next_action": next_action[:500], "status": status})

    def _metric_text(self, x: Round) -> str:
        m = x.metrics
        if not m:
            return "no metrics"
        return (f"sharpe={_f(m.get('sharpe'))} · max_dd={_f(m.get('max_drawdown'))} · dsr={_f(m.get('dsr'))} · "
                f"trades={m.get('trades')} · vs buy and hold: excess return={_f(m.get('excess_return'))}, "
                f"excess sharpe={_f(m.get('excess_sharpe'))}")

    def _update_family(self, rnd: Round) -> None:
        fs = self._families[rnd.family]
        fs.rounds += 1
        fs.evaluated += int(rnd.evaluated)
        s = rnd.sharpe
        if s is not None and (fs.best_sharpe is None or s > fs.best_sharpe):
            fs.best_sharpe, fs.best_run = s, rnd.run_id
            assert self._candidate is not None
            fs.structure = dict(self._candidate.structure)
        if self._candidate is not None and self._candidate.dimension.startswith("parameter refine"):
            fs.refined = True

    # -- choosing what to test next -----------------------------------------------------------
    def _peek_next(self) -> str:
        return {Escalation.PARAMETER: "parameter refinement / structure on the current family",
                Escalation.STRUCTURE: "swap one filter/execution/risk module",
                Escalation.HYPOTHESIS: "change the alpha hypothesis (baseline family)",
                Escalation.EXTERNAL: "import an external CTA recipe"}[self._escalation]

    def _state(self, fam: Family) -> _FamilyState:
        if fam.name not in self._families:
            self._families[fam.name] = _FamilyState(fam, {s: 0 for s in SLOTS})
        return self._families[fam.name]

    def _next_candidate(self) -> _Candidate | None:
        order = {
            Escalation.PARAMETER: (self._refine, self._structure, self._hypothesis, self._external),
            Escalation.STRUCTURE: (self._structure, self._hypothesis, self._external),
            Escalation.HYPOTHESIS: (self._hypothesis, self._structure, self._external),
            Escalation.EXTERNAL: (self._external, self._hypothesis, self._structure),
        }[self._escalation if self.rounds else Escalation.HYPOTHESIS]
        for make in order:
            cand = make()
            if cand is not None:
                fs = self._state(self._family(cand.family))
                fs.tried.add(self._key(cand))
                self._current = cand.family
                return cand
        return None

    @staticmethod
    def _key(c: _Candidate) -> str:
        return json.dumps([c.family, c.structure, c.space, c.params], sort_keys=True)

    def _fresh(self, c: _Candidate) -> _Candidate | None:
        fs = self._state(self._family(c.family))
        return None if self._key(c) in fs.tried else c

    def _space(self, fam: Family, structure: dict[str, int]) -> Space:
        space = dict(fam.space)
        for slot in SLOTS:
            space.update(OPTIONS[slot][structure[slot]].space)
        return space

    def _refine(self) -> _Candidate | None:
        if self._current is None or not self.rounds or self.rounds[-1].family != self._current:
            return None
        fs = self._families[self._current]
        last = self.rounds[-1]
        if fs.refined or not last.window_params or last.sharpe is None:
            return None
        space = self._space(fs.family, fs.structure)
        for path, rng in fs.family.space.items():
            vals = [p[path] for p in last.window_params if path in p]
            if not vals:
                continue
            lo, hi = min(vals) * 0.75, max(vals) * 1.25
            lo, hi = max(rng["low"], lo), min(rng["high"], hi)
            if rng["kind"] == "int":
                lo, hi = int(math.floor(lo)), int(math.ceil(hi))
                hi = max(hi, lo + 2)
            elif hi - lo < 1e-6:
                hi = lo + (rng["high"] - rng["low"]) * 0.1
            space[path] = {**rng, "low": lo, "high": hi}
        return self._fresh(_Candidate(f"{fs.family.name} + {self._structure_label(fs.structure)}, refined search",
                                      fs.family.name, "parameter refine", dict(fs.structure), space, {}))

    def _structure(self) -> _Candidate | None:
        names = [self._current] if self._current else []
        names += [n for n, f in sorted(self._families.items(), key=lambda kv: -(kv[1].best_sharpe or -1e9))
                  if n not in names and not f.falsified]
        for name in names:
            if name is None:
                continue
            fs = self._families[name]
            for slot in self._slot_order(fs):
                for i in range(len(OPTIONS[slot])):
                    if i == fs.structure[slot]:
                        continue
                    struct = {**fs.structure, slot: i}
                    opt = OPTIONS[slot][i]
                    c = self._fresh(_Candidate(
                        f"{fs.family.name} + {self._structure_label(struct)} (swap {slot}: {opt.label})",
                        fs.family.name, f"structure ({slot})", struct, self._space(fs.family, struct), {}))
                    if c is not None:
                        return c
        return None

    def _slot_order(self, fs: _FamilyState) -> tuple[str, ...]:
        """Execution first by default; risk first when the family's best run has the Sharpe but misses the goal's
        drawdown bound (sizing and breakers act on drawdown), filters first when it lacks the Sharpe only."""
        best = next((x for x in self.rounds if x.run_id is not None and x.run_id == fs.best_run), None)
        if best is None:
            return SLOTS
        misses = {f.split("=")[0].split(" ")[0] for f in self.cfg.goal.failures(best.metrics)}
        if misses == {"max_drawdown"}:
            return ("risk", "execution", "filters")
        if "max_drawdown" not in misses and misses:
            return ("filters", "execution", "risk")
        return SLOTS

    def _family(self, name: str) -> Family:
        return next(f for f in (*FAMILIES, *(w.family for w in WRITTEN)) if f.name == name)

    def _hypothesis(self) -> _Candidate | None:
        """The next untested alpha hypothesis: a built-in family, then one the autopilot writes as a module."""
        for fam, new in [*((f, None) for f in FAMILIES), *((w.family, w) for w in WRITTEN)]:
            fs = self._families.get(fam.name)
            if fs is not None or fam.name in self._known_falsified or fam.name in self._unwritable:
                continue
            struct = {s: 0 for s in SLOTS}
            label = f"{fam.name} + {self._structure_label(struct)}: {fam.hypothesis}"
            if new is not None:
                label = f"new module {new.kind}/{new.module} + {self._structure_label(struct)}: {fam.hypothesis}"
            cand = self._fresh(_Candidate(label, fam.name, "hypothesis" if self.rounds else "parameter",
                                          struct, self._space(fam, struct), {}, new))
            if cand is not None:
                return cand
        return None

    def _external(self) -> _Candidate | None:
        for ext in EXTERNAL:
            if ext.name in self._externals_used:
                continue
            self._externals_used.add(ext.name)
            fam = self._family(ext.family)
            struct = dict(ext.structure)
            space = {**self._space(fam, struct), **ext.space}
            c = self._fresh(_Candidate(f"external idea: {ext.name} ({ext.source})", fam.name, "external research",
                                       struct, space, {}))
            if c is not None:
                return c
        return None

    @staticmethod
    def _structure_label(struct: dict[str, int]) -> str:
        return " / ".join(OPTIONS[s][struct[s]].label for s in SLOTS)

    def _spec(self, c: _Candidate) -> dict[str, Any]:
        fam = self._family(c.family)
        mods: dict[str, list[dict[str, Any]]] = {s: [] for s in SLOTS}
        for slot in SLOTS:
            for name, params in OPTIONS[slot][c.structure[slot]].modules:
                mods[slot].append({"name": name, "params": dict(params)})
        return {"name": f"{fam.name}-{len(self.rounds) + 1:03d}", "description": c.label,
                "baseline": {"name": fam.baseline, "params": dict(fam.defaults)},
                "filters": mods["filters"], "execution": mods["execution"], "risk": mods["risk"],
                "search_space": c.space, "engine": dict(COSTS)}


def _f(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else "-"
