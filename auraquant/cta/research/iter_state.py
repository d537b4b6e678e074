"""The `<ITER_STATE>` of self-directed research as the loop shows it to the model every turn.

The typed state itself (`IterState`) is owned by the tool surface: `iter_state_update` validates it, fills
every metric from the store and persists it (current + one entry per iteration). This module only reads
it back and renders the per-turn context: the block, the goal, and what the protocol asks for next — the
same text whether an LLM or the autopilot drives the tools.
"""

from __future__ import annotations

from auraquant.cta.research.goal import Goal
from auraquant.cta.research.protocol import ProtocolRules, ProtocolView, assess, guidance
from auraquant.cta.tools import state as tool_state
from auraquant.cta.tools.lifecycle import IterState
from auraquant.store import Store

INDUCTION_PREFIX = "induction-iter-"


def current(store: Store) -> IterState | None:
    """The last recorded ITER_STATE (None before the first `iter_state_update`)."""
    body = store.memory_get(tool_state.ITER_STATE, "current")
    return IterState.model_validate(body) if body else None


def history(store: Store) -> list[IterState]:
    """Every recorded iteration state, by iteration number."""
    entries = store.memory_list(tool_state.ITER_STATE)
    return [IterState.model_validate(entries[k]) for k in sorted(entries) if k.startswith("iter-")]


def inductions(store: Store) -> list[int]:
    """Round counts of the induction notes stored in research memory under `induction-iter-NNN`, ascending."""
    from auraquant.cta.governance.memory import NS_RESEARCH

    out = []
    for key in store.memory_list(NS_RESEARCH):
        suffix = key.removeprefix(INDUCTION_PREFIX)
        if key.startswith(INDUCTION_PREFIX) and suffix.isdigit():
            out.append(int(suffix))
    return sorted(out)


def view_of(st: IterState | None, rules: ProtocolRules, inductions_at: list[int] | None = None) -> ProtocolView:
    """The protocol's reading of a recorded state: its `tried` entries, in order, are the rounds."""
    sharpes = [t.sharpe for t in st.tried] if st is not None else []
    return assess(sharpes, rules, inductions_at or [])


def turn_context(store: Store, goal: Goal | None, max_iters: int, rules: ProtocolRules = ProtocolRules()) -> str:
    """The text appended to the system prompt before every model turn of a self-directed session."""
    st = current(store)
    lines = ["# Self-directed research state (refreshed every turn)"]
    if goal is not None:
        lines.append(f"goal: {goal.describe()}  (archive_candidate goal = {goal.as_archive_goal()})")
    lines.append(f"iteration budget: {max_iters} rounds; record every round with iter_state_update")
    if st is None:
        lines.append(f"<ITER_STATE>\niter: 0 / {max_iters}\nstatus: CONTINUING (nothing recorded yet)\n</ITER_STATE>")
    else:
        lines.append(st.render())
    lines.extend(guidance(view_of(st, rules, inductions(store)), rules))
    return "\n".join(lines)
