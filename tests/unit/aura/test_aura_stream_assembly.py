"""Streamed Chat Completions tool-call deltas are assembled by call id; the index only routes id-less
continuation chunks. Chunks are built the way the `openai` SDK builds them from a stream."""

from __future__ import annotations

import asyncio
from typing import Any

from openai._models import construct_type
from openai.types.chat import ChatCompletionChunk

from aura.providers._openai_chat import assemble_chat
from aura.runtime.provider import ToolCallStarted, TurnCompleted


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, Any] | None = None,
           no_choices: bool = False) -> ChatCompletionChunk:
    body: dict[str, Any] = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                            "choices": [] if no_choices else [{"index": 0, "delta": delta or {},
                                                               "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    # How the SDK builds stream chunks: constructed without validation (a server omitting `index`
    # yields an object without it, exactly as in a real stream).
    return construct_type(type_=ChatCompletionChunk, value=body)  # type: ignore[no-any-return]


def _assemble(chunks: list[ChatCompletionChunk]) -> tuple[TurnCompleted, list[ToolCallStarted]]:
    async def stream() -> Any:
        for c in chunks:
            yield c

    async def main() -> list[Any]:
        return [ev async for ev in assemble_chat(stream())]

    evs = asyncio.run(main())
    done = evs[-1]
    assert isinstance(done, TurnCompleted)
    return done, [e for e in evs if isinstance(e, ToolCallStarted)]


def _calls(done: TurnCompleted) -> list[tuple[str, str, str]]:
    return [(c.id, c.name, c.arguments) for c in done.message.tool_calls]


def test_every_call_numbered_zero_still_yields_separate_calls() -> None:
    chunks = []
    for j, name in enumerate(["data_version_list", "list_tools", "module_validate", "module_validate"]):
        chunks.append(_chunk({"tool_calls": [{"index": 0, "id": f"id{j}", "type": "function",
                                              "function": {"name": name, "arguments": ""}}]}))
        chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"k": '}}]}))
        chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": f"{j}}}"}}]}))
    chunks.append(_chunk(finish="tool_calls"))
    done, started = _assemble(chunks)
    assert _calls(done) == [("id0", "data_version_list", '{"k": 0}'), ("id1", "list_tools", '{"k": 1}'),
                            ("id2", "module_validate", '{"k": 2}'), ("id3", "module_validate", '{"k": 3}')]
    assert [s.id for s in started] == ["id0", "id1", "id2", "id3"]


def test_without_ids_the_index_separates_calls_and_interleaving_works() -> None:
    chunks = [
        _chunk({"tool_calls": [{"index": 0, "function": {"name": "a", "arguments": '{"x":'}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"name": "b", "arguments": '{"y":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": "2}"}}]}),
        _chunk(finish="tool_calls"),
    ]
    done, _ = _assemble(chunks)
    assert [(n, a) for _, n, a in _calls(done)] == [("a", '{"x":1}'), ("b", '{"y":2}')]
    assert len({i for i, _, _ in _calls(done)}) == 2


def test_repeated_ids_and_names_on_every_chunk_are_not_concatenated() -> None:
    chunks = [
        _chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "spec_get", "arguments": '{"a"'}}]}),
        _chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "spec_get", "arguments": ": 1}"}}]}),
        _chunk({"tool_calls": [{"index": 0, "id": "c2", "function": {"name": "spec_get", "arguments": "{}"}}]}),
        _chunk(finish="stop"),
    ]
    done, _ = _assemble(chunks)
    assert _calls(done) == [("c1", "spec_get", '{"a": 1}'), ("c2", "spec_get", "{}")]
    assert done.finish_reason == "stop"  # Ollama/Gemini style: calls with finish "stop"


def test_whole_calls_in_one_chunk_without_index_and_usage_in_the_finish_chunk() -> None:
    chunks = [
        _chunk({"content": "calling"}),
        _chunk({"tool_calls": [{"id": "g1", "function": {"name": "a", "arguments": "{}"}},
                               {"id": "g2", "function": {"name": "b", "arguments": '{"z": 2}'}}]}),
        _chunk(finish="stop", usage={"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}),
    ]
    done, _ = _assemble(chunks)
    assert _calls(done) == [("g1", "a", "{}"), ("g2", "b", '{"z": 2}')]
    assert done.usage.input_tokens == 100 and done.usage.output_tokens == 7 and done.message.text == "calling"


def test_reasoning_fields_stay_out_of_the_answer_and_missing_usage_is_zero() -> None:
    chunks = [
        _chunk({"reasoning_content": "secret thoughts"}),
        _chunk({"reasoning": "more thoughts"}),
        _chunk({"content": "the answer"}),
        _chunk(finish="stop"),
    ]
    done, _ = _assemble(chunks)
    assert done.message.text == "the answer" and done.usage.prompt_tokens == 0
