"""Who acts on the archive, and the human gate.

Actors are `human` (a person at the CLI), `agent` (an LLM research agent acting through tools) or `system`
(automatic steps such as freezing on convergence). Only humans resolve approvals and promote to production.

The tool layer runs every agent tool call inside `agent_session(model_id)`. Inside it (including asyncio
tasks and `asyncio.to_thread` workers started from it, which copy the context) any human-only operation is
refused even if the caller claims to be a human: the agent can open an approval request, never resolve it.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from pydantic import BaseModel

from auraquant.cta.governance.errors import ApprovalRefused

ActorKind = Literal["human", "agent", "system"]

_AGENT_SESSION: ContextVar[str | None] = ContextVar("auraquant_agent_session", default=None)


class Actor(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}

    kind: ActorKind
    name: str

    @classmethod
    def human(cls, name: str | None = None) -> Actor:
        """The person at this terminal (login name from `getpass.getuser()` unless given)."""
        return cls(kind="human", name=name or getpass.getuser())

    @classmethod
    def agent(cls, model_id: str) -> Actor:
        return cls(kind="agent", name=model_id)

    @classmethod
    def system(cls, name: str = "auraquant") -> Actor:
        return cls(kind="system", name=name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@contextmanager
def agent_session(model_id: str) -> Iterator[None]:
    """Mark the current context as an agent acting through tools (see the module docstring)."""
    token = _AGENT_SESSION.set(model_id)
    try:
        yield
    finally:
        _AGENT_SESSION.reset(token)


def current_agent() -> str | None:
    """The model id of the agent session this code runs in, if any."""
    return _AGENT_SESSION.get()


def require_human(actor: Actor, action: str) -> None:
    """Refuse `action` unless a human outside any agent session performs it."""
    agent = current_agent()
    if agent is not None:
        raise ApprovalRefused(f"{action} refused: called from inside the agent session of {agent!r}; only a "
                              f"human can do this, with `auraquant approve ID` / `auraquant reject ID`")
    if actor.kind != "human":
        raise ApprovalRefused(f"{action} refused for {actor}: only a human can do this, with "
                              f"`auraquant approve ID` / `auraquant reject ID`")
