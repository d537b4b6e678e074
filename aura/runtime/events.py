"""Events the engine streams to its caller (a CLI, a UI, a test). The last event of a run is `Stopped`."""

from __future__ import annotations

from dataclasses import dataclass

from aura.runtime.budgets import StopReason
from aura.runtime.trace import RunTrace
from aura.runtime.usage import Usage
from aura.tools.errors import ToolError


@dataclass(frozen=True)
class TextDeltaEvent:
    turn: int
    text: str


@dataclass(frozen=True)
class ToolStart:
    turn: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolEnd:
    turn: int
    call_id: str
    name: str
    ok: bool
    content: str
    error: ToolError | None
    trace: RunTrace


@dataclass(frozen=True)
class TurnUsage:
    turn: int
    model: str
    usage: Usage
    cost_usd: float
    run_cost_usd: float


@dataclass(frozen=True)
class Retrying:
    """A model call failed with a retryable error; any text streamed by the failed attempt is void."""

    attempt: int
    delay_s: float
    error: str


@dataclass(frozen=True)
class Compacted:
    """One compaction: `summarized_messages` older messages folded into a snapshot (0 when nothing
    was old enough), then `stubbed_messages` oversized messages cut to stubs to make room."""

    tokens_before: int
    tokens_after: int
    threshold_tokens: int
    summarized_messages: int
    kept_messages: int
    summary_calls: int
    stubbed_messages: int = 0


@dataclass(frozen=True)
class Stopped:
    reason: StopReason
    detail: str
    turns: int
    tool_calls: int
    cost_usd: float
    final_text: str = ""


EngineEvent = TextDeltaEvent | ToolStart | ToolEnd | TurnUsage | Retrying | Compacted | Stopped
