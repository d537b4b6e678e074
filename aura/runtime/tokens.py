"""Cheap token estimates for compaction bookkeeping.

A provider-agnostic heuristic (about 4 characters per token plus a small per-message overhead). The
engine anchors it to the provider's reported prompt size after every turn (see `AgentEngine`), so the
heuristic only has to be right for the few messages added since the last turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aura.runtime.messages import Message, TextPart, ToolCallPart
from aura.runtime.replay import replay_arguments
from aura.tools.limits import DEFAULT_LIMITS
from aura.tools.schema import ToolSchema

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
PART_OVERHEAD_TOKENS = 3


def estimate_text_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_message_tokens(message: Message, max_call_chars: int = DEFAULT_LIMITS.max_call_chars) -> int:
    """Tokens of `message` as it is re-sent (tool-call arguments through `replay_arguments` with the
    same `max_call_chars` the providers get)."""
    chars = 0
    for p in message.parts:
        if isinstance(p, TextPart):
            chars += len(p.text)
        elif isinstance(p, ToolCallPart):
            # What is re-sent, not what was stored: an oversized call is replayed clipped.
            chars += len(replay_arguments(p.arguments, max_call_chars).text) + len(p.name) + len(p.id)
        else:
            chars += len(p.content) + len(p.tool_call_id)
    return (
        (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
        + MESSAGE_OVERHEAD_TOKENS
        + PART_OVERHEAD_TOKENS * len(message.parts)
    )


def estimate_messages_tokens(messages: Iterable[Message]) -> int:
    return sum(estimate_message_tokens(m) for m in messages)


def estimate_tools_tokens(tools: Iterable[ToolSchema]) -> int:
    """Tokens of the tool definitions (callers cache this: schemas rarely change within a session)."""
    return sum(
        estimate_text_tokens(t.name)
        + estimate_text_tokens(t.description)
        + estimate_text_tokens(json.dumps(t.parameters))
        for t in tools
    )
