"""The agent loop and its state: messages, events, budgets, compaction, sessions, traces, and the `Provider`
Protocol the loop drives (implemented in `aura.providers`, which this package never imports).
"""

from aura.retry import RetryPolicy
from aura.runtime.budgets import Budgets, StopReason
from aura.runtime.compaction import AUTO_CONTINUE, CompactionPolicy
from aura.runtime.engine import AgentEngine
from aura.runtime.events import (
    Compacted,
    EngineEvent,
    Retrying,
    Stopped,
    TextDeltaEvent,
    ToolEnd,
    ToolStart,
    TurnUsage,
)
from aura.runtime.layers import PromptLayers
from aura.runtime.messages import (
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    assistant_message,
    find_orphans,
    user_text,
)
from aura.runtime.sessions import SessionLog, SessionState, SessionStore
from aura.runtime.trace import RunTrace
from aura.runtime.usage import Prices, Usage

__all__ = [
    "AUTO_CONTINUE",
    "AgentEngine",
    "Budgets",
    "Compacted",
    "CompactionPolicy",
    "EngineEvent",
    "Message",
    "Prices",
    "PromptLayers",
    "RetryPolicy",
    "Retrying",
    "RunTrace",
    "SessionLog",
    "SessionState",
    "SessionStore",
    "StopReason",
    "Stopped",
    "TextDeltaEvent",
    "TextPart",
    "ToolCallPart",
    "ToolEnd",
    "ToolResultPart",
    "ToolStart",
    "TurnUsage",
    "Usage",
    "assistant_message",
    "find_orphans",
    "user_text",
]
