"""The lifecycle state machine of an archive record.

    (new) -> candidate            automatic, when the metrics meet the goal's thresholds
    candidate -> frozen           automatic, when research converges; the sealed holdout is scored here
    candidate -> discarded
    frozen -> production          human only (`auraquant approve ID`)
    frozen -> deprecated
    production -> deprecated      human only

`discarded` and `deprecated` are terminal. Anything not listed is refused with `IllegalTransition`.
"""

from __future__ import annotations

from auraquant.cta.governance.actors import Actor, ActorKind, require_human
from auraquant.cta.governance.errors import IllegalTransition
from auraquant.cta.governance.record import LifecycleState

_ANYONE: frozenset[ActorKind] = frozenset({"human", "agent", "system"})
_HUMAN: frozenset[ActorKind] = frozenset({"human"})

TRANSITIONS: dict[tuple[LifecycleState | None, LifecycleState], frozenset[ActorKind]] = {
    (None, "candidate"): _ANYONE,
    ("candidate", "frozen"): _ANYONE,
    ("candidate", "discarded"): _ANYONE,
    ("frozen", "production"): _HUMAN,
    ("frozen", "deprecated"): _ANYONE,
    ("production", "deprecated"): _HUMAN,
}


def allowed_targets(state: LifecycleState | None) -> list[LifecycleState]:
    return [to for (frm, to) in TRANSITIONS if frm == state]


def check_transition(state: LifecycleState | None, target: LifecycleState, actor: Actor) -> None:
    """Refuse an illegal transition (or a human-only one attempted by anyone else)."""
    actors = TRANSITIONS.get((state, target))
    if actors is None:
        allowed = ", ".join(allowed_targets(state)) or "none (terminal state)"
        raise IllegalTransition(f"illegal transition {state or '(new)'} -> {target}; "
                                f"allowed from {state or '(new)'}: {allowed}")
    if actors == _HUMAN:
        require_human(actor, f"transition {state} -> {target}")
    elif actor.kind not in actors:
        raise IllegalTransition(f"{actor} may not perform {state} -> {target}")
