"""What a tool receives besides its arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Caller = Literal["agent", "human"]


@dataclass(frozen=True)
class ToolContext[DepsT]:
    """Per-call context, generic in the domain object the caller injects (`deps`, e.g. a workspace).

    The engine derives one context per tool call from its base context, filling `tool_call_id` and
    `turn`. `caller` decides permission checks: human-only tools refuse agent callers.
    """

    deps: DepsT
    session_id: str = ""
    caller: Caller = "agent"
    tool_call_id: str = ""
    turn: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
