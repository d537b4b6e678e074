"""Neutral messages -> each provider's wire format."""

from __future__ import annotations

import json

from aura.providers._openai_chat import to_chat_messages
from aura.providers._openai_responses import to_responses_input
from aura.providers.anthropic_provider import to_anthropic_messages
from aura.runtime.messages import (
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    assistant_message,
    user_text,
)

CALL = ToolCallPart(id="c1", name="f", arguments='{"a": 1}')
BAD = ToolCallPart(id="c2", name="f", arguments='{"a": ')
RESULTS = Message(
    role="user",
    kind="tool_results",
    parts=(
        TextPart(text="also, hurry"),
        ToolResultPart(tool_call_id="c1", name="f", content="one"),
        ToolResultPart(tool_call_id="c2", name="f", content='{"error": {}}', is_error=True),
    ),
)
HISTORY = [user_text("ctx", kind="context"), user_text("go"), assistant_message("ok", [CALL, BAD]), RESULTS]


def test_anthropic_merges_same_role_turns_puts_results_first_and_objects_for_bad_json() -> None:
    wire = to_anthropic_messages(HISTORY, cache_last=True)
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert [b["text"] for b in wire[0]["content"]] == ["ctx", "go"]
    assert wire[1]["content"][1] == {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}
    # malformed arguments: the API requires an object; the error is recorded inside it
    bad = wire[1]["content"][2]["input"]
    assert list(bad) == ["_invalid_arguments"] and "not a JSON object" in bad["_invalid_arguments"]
    assert [b["type"] for b in wire[2]["content"]] == ["tool_result", "tool_result", "text"]
    assert wire[2]["content"][1]["is_error"] is True and "is_error" not in wire[2]["content"][0]
    assert wire[2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert to_anthropic_messages([user_text(""), assistant_message("")]) == []  # empty turns dropped


def test_openai_chat_uses_tool_role_messages_and_replayable_arguments() -> None:
    wire = to_chat_messages("sys", HISTORY)
    assert [m["role"] for m in wire] == ["system", "user", "user", "assistant", "tool", "tool", "user"]
    assert wire[3]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'  # valid: verbatim
    replayed = json.loads(wire[3]["tool_calls"][1]["function"]["arguments"])  # malformed: a valid object
    assert "line 1 column 7" in replayed["_invalid_arguments"] and '{"a": ' in replayed["_invalid_arguments"]
    assert wire[4] == {"role": "tool", "tool_call_id": "c1", "content": "one"}


def test_openai_responses_uses_function_call_items() -> None:
    items = to_responses_input(HISTORY)
    types = [i.get("type", i.get("role")) for i in items]
    assert types == [
        "user",
        "user",
        "assistant",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "user",
    ]
    assert items[3] == {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}'}
    assert items[5] == {"type": "function_call_output", "call_id": "c1", "output": "one"}
    assert "_invalid_arguments" in json.loads(items[4]["arguments"])
