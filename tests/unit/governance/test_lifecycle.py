"""The lifecycle state machine: the full transition table, actor rules and the agent-session gate."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from auraquant.cta.governance.actors import Actor, agent_session, current_agent, require_human
from auraquant.cta.governance.errors import ApprovalRefused, IllegalTransition
from auraquant.cta.governance.lifecycle import TRANSITIONS, allowed_targets, check_transition

STATES = [None, "candidate", "frozen", "production", "deprecated", "discarded"]
LEGAL = {(None, "candidate"), ("candidate", "frozen"), ("candidate", "discarded"), ("frozen", "production"),
         ("frozen", "deprecated"), ("production", "deprecated")}
HUMAN_ONLY = {("frozen", "production"), ("production", "deprecated")}


def test_table_is_exactly_the_documented_lifecycle() -> None:
    assert set(TRANSITIONS) == LEGAL
    assert allowed_targets("deprecated") == [] and allowed_targets("discarded") == []


@pytest.mark.parametrize(("frm", "to"), [(f, t) for f, t in itertools.product(STATES, STATES[1:]) if (f, t) not in LEGAL])
def test_every_illegal_transition_is_refused_for_everyone(frm: str | None, to: str) -> None:
    for actor in (Actor.human("ana"), Actor.agent("m"), Actor.system()):
        with pytest.raises(IllegalTransition, match="illegal transition"):
            check_transition(frm, to, actor)  # type: ignore[arg-type]


@pytest.mark.parametrize(("frm", "to"), sorted(LEGAL, key=str))
def test_legal_transitions_and_who_may_make_them(frm: str | None, to: str) -> None:
    check_transition(frm, to, Actor.human("ana"))  # type: ignore[arg-type]
    for actor in (Actor.agent("m"), Actor.system()):
        if (frm, to) in HUMAN_ONLY:
            with pytest.raises(ApprovalRefused):
                check_transition(frm, to, actor)  # type: ignore[arg-type]
        else:
            check_transition(frm, to, actor)  # type: ignore[arg-type]


def test_a_human_claim_inside_an_agent_session_is_refused() -> None:
    with agent_session("claude-sonnet-4-5"):
        assert current_agent() == "claude-sonnet-4-5"
        with pytest.raises(ApprovalRefused, match="inside the agent session"):
            check_transition("frozen", "production", Actor.human("ana"))
        check_transition("candidate", "frozen", Actor.agent("claude-sonnet-4-5"))  # automatic steps still work
    assert current_agent() is None
    require_human(Actor.human("ana"), "x")


def test_agent_session_reaches_asyncio_tasks_and_worker_threads() -> None:
    async def attempt() -> None:
        await asyncio.to_thread(require_human, Actor.human("ana"), "promotion")

    async def main() -> None:
        with agent_session("m"):
            with pytest.raises(ApprovalRefused):
                await asyncio.create_task(attempt())

    asyncio.run(main())


def test_human_actor_defaults_to_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "reviewer7")
    assert Actor.human() == Actor(kind="human", name="reviewer7")
