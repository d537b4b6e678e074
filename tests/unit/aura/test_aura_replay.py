"""`replay_arguments`: what a stored call's arguments become when re-sent to a provider."""

from __future__ import annotations

import json

from aura.runtime.messages import ToolCallPart, assistant_message
from aura.runtime.replay import replay_arguments
from aura.runtime.tokens import estimate_message_tokens


def test_valid_objects_are_replayed_verbatim() -> None:
    raw = '{"b": 1,  "a": [1, 2]}'
    r = replay_arguments(raw)
    assert r.text == raw and r.obj == {"b": 1, "a": [1, 2]} and r.note is None


def test_empty_arguments_are_an_empty_object() -> None:
    assert replay_arguments("").text == "{}" and replay_arguments("  ").obj == {}


def test_malformed_and_non_object_arguments_become_objects_recording_the_error() -> None:
    for raw, why in (('{"a": 1,', "Expecting property name"), ("[1, 2]", "got list"), ('"s"', "got str"),
                     ("nul", "Expecting value")):
        r = replay_arguments(raw)
        assert json.loads(r.text) == r.obj and list(r.obj) == ["_invalid_arguments"]
        assert why in r.obj["_invalid_arguments"] and raw in r.obj["_invalid_arguments"]
        assert r.note == r.obj["_invalid_arguments"]


def test_oversized_arguments_are_clipped_below_the_limit() -> None:
    raw = json.dumps({"source": "s" * 50_000, "name": "mod", "n": 3})
    r = replay_arguments(raw, max_call_chars=10_000)
    assert len(r.text) <= 10_000 and r.obj["name"] == "mod" and r.obj["n"] == 3
    assert "characters cut" in r.obj["source"] and "over the 10000 per-call limit" in r.obj["_omitted"]
    hopeless = replay_arguments(json.dumps({"k": ["x"] * 20_000}), max_call_chars=10_000)
    assert list(hopeless.obj) == ["_omitted"] and len(hopeless.text) < 300
    broken = replay_arguments('{"a": "' + "y" * 20_000, max_call_chars=10_000)
    assert list(broken.obj) == ["_omitted"]


def test_token_estimates_count_what_is_replayed() -> None:
    big = assistant_message("", [ToolCallPart(id="c", name="f", arguments=json.dumps({"x": "z" * 400_000}))])
    assert estimate_message_tokens(big) < 5_000


def test_every_wire_replays_with_the_limit_of_the_registry_that_accepted_the_call() -> None:
    from aura.providers._openai_chat import to_chat_messages
    from aura.providers._openai_responses import to_responses_input
    from aura.providers.anthropic_provider import to_anthropic_messages

    raw = json.dumps({"source": "s" * 200_000})
    msgs = [assistant_message("", [ToolCallPart(id="c", name="f", arguments=raw)])]
    loose = 1_000_000
    assert to_chat_messages("", msgs, loose)[0]["tool_calls"][0]["function"]["arguments"] == raw
    assert to_responses_input(msgs, loose)[0]["arguments"] == raw
    assert to_anthropic_messages(msgs, max_call_chars=loose)[0]["content"][0]["input"] == json.loads(raw)
    clipped = to_chat_messages("", msgs)[0]["tool_calls"][0]["function"]["arguments"]  # default limit
    assert len(clipped) < 5_000 and "_omitted" in json.loads(clipped)
    assert estimate_message_tokens(msgs[0], loose) > 50_000 > estimate_message_tokens(msgs[0])
