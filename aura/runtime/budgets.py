"""Run budgets and the typed reasons a run stops.

All limits count from the start of one `AgentEngine.run` call (one user request):
- `max_turns`: model turns (compaction summary calls excluded);
- `max_usd`: cost of all model calls, summary calls included, checked after every call;
- `max_tool_calls`: every call the model asks for counts, including failed calls the model retries;
  a batch that would exceed the limit is not executed at all;
- `max_identical_calls`: the same tool with the same (canonicalised) arguments may run this many
  times; asking for it once more stops the run (`REPEATED_CALL`).
`None` disables a limit.
"""

from __future__ import annotations

import json
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class StopReason(StrEnum):
    COMPLETED = "completed"  # the model answered without tool calls
    MAX_TURNS = "max_turns"
    MAX_USD = "max_usd"
    MAX_TOOL_CALLS = "max_tool_calls"
    REPEATED_CALL = "repeated_call"
    INTERRUPTED = "interrupted"  # cancelled (Ctrl-C) or the caller stopped consuming events
    PROVIDER_ERROR = "provider_error"  # non-retryable error, or retries exhausted
    CONTEXT_OVERFLOW = "context_overflow"  # history does not fit even after compaction


class Budgets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_turns: int | None = 50
    max_usd: float | None = None
    max_tool_calls: int | None = 200
    max_identical_calls: int | None = 3


def call_key(name: str, arguments: str) -> str:
    """Identity of a call for the repeat guard: name + arguments with key order and spacing normalised
    (malformed JSON is compared verbatim)."""
    try:
        canon = json.dumps(json.loads(arguments), sort_keys=True, separators=(",", ":"))
    except (json.JSONDecodeError, ValueError):
        canon = arguments
    return f"{name}\x00{canon}"
