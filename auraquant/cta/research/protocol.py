"""The anti-stagnation protocol and the termination rules, shared by the LLM-driven loop and the autopilot.

A *round* is one judged experiment (an entry of ITER_STATE `tried`, in order). With `delta` = 0.05:
- a round is a **dead end** when its OOS Sharpe is missing or below `best_before + delta`, where
  `best_before` is the best Sharpe of all earlier rounds (the first round with a Sharpe is never one);
- the **streak** is the run of consecutive dead ends ending at the last round, counted from the last
  induction on (an induction summarises the falsified directions and redirects the research, so the rounds
  after it are judged as a new direction);
- the **escalation level** follows the streak: 0 -> parameter search within the current signal,
  1 -> structure swap (Filter / Execution / Risk, one at a time), 2 -> new hypothesis (another baseline
  family), >= 3 (`dead_ends_for_external`) -> import an external CTA idea;
- **induction** is forced after every `induction_every` (10) rounds (rounds 10, 20, ...), before the next
  experiment;
- **stagnation**: a streak of `stagnation_rounds` (5) dead ends. The first time it happens in a session
  without any induction yet, the protocol forces an induction instead (the falsified hypotheses are
  summarised and one redirect is tried); a streak of 5 after an induction stops the research.

Goal met follows the lifecycle of AGENTS.md §5: a run meeting every threshold out of sample is archived as a
candidate at once, and research goes on until it *converges* (stagnation or the iteration budget); then
the best candidate is frozen (its sealed holdout scored once) and put forward for human approval. A forced
induction that is due is carried out before any stop.

Termination after a round (first match wins): a frozen record of this goal awaiting a human ->
APPROVAL_GATE; converged with at least one candidate -> GOAL_MET *pending evidence*: the best candidate
that passed the significance gates (`experiment/gates.py`) is frozen, and GOAL_MET stands only when its
holdout confirms the goal within the workspace's tolerance — otherwise HOLDOUT_FAILED (no approval is
requested); when no candidate passed the gates -> NOT_SIGNIFICANT (nothing frozen, the holdout stays
sealed); stagnation -> STAGNATED; iterations used up -> BUDGET_SPENT. STRUCTURAL_GAP and INTERRUPTED are decided by whoever detects them (a goal no tool can
express, the user's Ctrl-C).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

Status = Literal["CONTINUING", "GOAL_MET", "STAGNATED", "BUDGET_SPENT", "STRUCTURAL_GAP", "APPROVAL_GATE",
                 "INTERRUPTED", "HOLDOUT_FAILED", "NOT_SIGNIFICANT"]
TERMINAL: frozenset[str] = frozenset({"GOAL_MET", "STAGNATED", "BUDGET_SPENT", "STRUCTURAL_GAP", "APPROVAL_GATE",
                                      "INTERRUPTED", "HOLDOUT_FAILED", "NOT_SIGNIFICANT"})


class Escalation(IntEnum):
    PARAMETER = 0
    STRUCTURE = 1
    HYPOTHESIS = 2
    EXTERNAL = 3


@dataclass(frozen=True)
class ProtocolRules:
    min_sharpe_delta: float = 0.05
    stagnation_rounds: int = 5
    induction_every: int = 10
    dead_ends_for_external: int = 3


@dataclass(frozen=True)
class ProtocolView:
    """The protocol's reading of the rounds so far."""

    rounds: int
    best_sharpe: float | None
    best_round: int | None  # 0-based index of the best round
    dead_ends: tuple[bool, ...]
    streak: int  # consecutive dead ends ending at the last round
    escalation: Escalation
    stagnated: bool
    induction_due: bool

    def improved_last(self) -> bool:
        return bool(self.dead_ends) and not self.dead_ends[-1]


def _finite(x: float | None) -> float | None:
    return x if isinstance(x, int | float) and math.isfinite(x) else None


def assess(sharpes: Sequence[float | None], rules: ProtocolRules = ProtocolRules(),
           inductions_at: Sequence[int] = ()) -> ProtocolView:
    """Read a sequence of round Sharpes (None = the round produced no Sharpe). `inductions_at` are the round
    counts after which an induction was carried out (e.g. [10] for the forced one after round 10)."""
    best: float | None = None
    best_i: int | None = None
    dead: list[bool] = []
    for i, raw in enumerate(sharpes):
        s = _finite(raw)
        is_dead = s is None or (best is not None and s < best + rules.min_sharpe_delta)
        dead.append(is_dead)
        if s is not None and (best is None or s > best):
            best, best_i = s, i
    n = len(dead)
    since = max((k for k in inductions_at if k <= n), default=0)
    streak = 0
    for d in reversed(dead[since:]):
        if not d:
            break
        streak += 1
    level = Escalation.EXTERNAL if streak >= rules.dead_ends_for_external else Escalation(min(streak, 2))
    stuck = streak >= rules.stagnation_rounds
    scheduled = n > 0 and n % rules.induction_every == 0 and n not in inductions_at
    return ProtocolView(rounds=n, best_sharpe=best, best_round=best_i, dead_ends=tuple(dead), streak=streak,
                        escalation=level, stagnated=stuck and bool(inductions_at),
                        induction_due=scheduled or (stuck and not inductions_at))


@dataclass(frozen=True)
class Termination:
    status: Status
    detail: str


def termination(view: ProtocolView, *, iterations: int, max_iters: int, candidates: int = 0,
                awaiting_approval: str | None = None) -> Termination | None:
    """The stop decision after a round (None: continue). `candidates` counts the archived runs that met the
    goal; `awaiting_approval` names a frozen record of this goal that waits for a human."""
    if awaiting_approval is not None:
        return Termination("APPROVAL_GATE", f"{awaiting_approval} is frozen and awaits a human: "
                                            f"auraquant approve {awaiting_approval}")
    converged = None
    if view.stagnated:
        converged = (f"{view.streak} rounds in a row improved the best OOS Sharpe ({_fmt(view.best_sharpe)}) by "
                     "less than the minimum delta")
    elif iterations >= max_iters:
        converged = f"iteration budget used: {iterations} / {max_iters}"
    if converged is None:
        return None
    if candidates:
        return Termination("GOAL_MET", f"{candidates} candidate(s) meet the goal; {converged}")
    return Termination("STAGNATED" if view.stagnated else "BUDGET_SPENT", converged)


def guidance(view: ProtocolView, rules: ProtocolRules = ProtocolRules()) -> list[str]:
    """What the protocol asks for next, as lines shown to the model with its ITER_STATE every turn."""
    out = [f"rounds judged: {view.rounds}; best OOS Sharpe: {_fmt(view.best_sharpe)}; "
           f"dead-end streak: {view.streak} (stagnation stop at {rules.stagnation_rounds})"]
    if view.induction_due:
        out.append(f"FORCED INDUCTION now (after round {view.rounds}): summarise the falsified hypotheses with "
                   f"memory_store under key 'induction-iter-{view.rounds:03d}' and choose the next direction "
                   "before the next experiment.")
    step = {
        Escalation.PARAMETER: "parameter: search parameters within the current signal (walk-forward).",
        Escalation.STRUCTURE: "structure: swap one Filter / Execution / Risk module and re-test.",
        Escalation.HYPOTHESIS: "hypothesis: change the alpha hypothesis (another baseline family).",
        Escalation.EXTERNAL: "research: import an external CTA idea (turtle/Donchian, time-series momentum, "
                             "dual MA with volatility targeting, Bollinger breakout, higher-timeframe filter).",
    }[view.escalation]
    out.append("next dimension -> " + step)
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
