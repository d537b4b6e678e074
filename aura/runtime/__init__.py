"""The agent loop and its state: messages, events, budgets, compaction, sessions, traces.

Exports are resolved lazily: providers import `aura.runtime.messages` while the engine imports the
provider Protocol, and a lazy package namespace keeps that from being an import cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AgentEngine": "engine",
    "Budgets": "budgets",
    "StopReason": "budgets",
    "AUTO_CONTINUE": "compaction",
    "CompactionPolicy": "compaction",
    "Compacted": "events",
    "EngineEvent": "events",
    "Retrying": "events",
    "Stopped": "events",
    "TextDeltaEvent": "events",
    "ToolEnd": "events",
    "ToolStart": "events",
    "TurnUsage": "events",
    "PromptLayers": "layers",
    "Message": "messages",
    "TextPart": "messages",
    "ToolCallPart": "messages",
    "ToolResultPart": "messages",
    "assistant_message": "messages",
    "find_orphans": "messages",
    "user_text": "messages",
    "RetryPolicy": "retry",
    "SessionLog": "sessions",
    "SessionState": "sessions",
    "SessionStore": "sessions",
    "RunTrace": "trace",
    "Prices": "usage",
    "Usage": "usage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aura.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"aura.runtime.{module}"), name)
