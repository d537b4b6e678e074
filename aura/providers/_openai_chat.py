"""Chat Completions wire format: neutral messages -> request, streamed chunks -> events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aura.providers._errors import dropped
from aura.runtime.messages import Message, TextPart, ToolCallPart
from aura.runtime.provider import ProviderEvent, TextDelta, ToolCallStarted, TurnCompleted
from aura.runtime.replay import replay_arguments
from aura.runtime.usage import Usage
from aura.tools.limits import DEFAULT_LIMITS


def to_chat_messages(
    system: str,
    messages: tuple[Message, ...] | list[Message],
    max_call_chars: int = DEFAULT_LIMITS.max_call_chars,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        if m.role == "assistant":
            text = m.text
            # Arguments go through `replay_arguments`: servers that validate history refuse malformed ones.
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": replay_arguments(c.arguments, max_call_chars).text},
                }
                for c in m.tool_calls
            ]
            if not text and not calls:
                continue
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        else:
            out.extend(
                {"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content} for r in m.tool_results
            )
            if m.text:
                out.append({"role": "user", "content": m.text})
    return out


async def assemble_chat(stream: Any) -> AsyncIterator[ProviderEvent]:
    """Chunks -> events. The turn is complete once a `finish_reason` arrived and the stream ended
    (the usage chunk comes after the finish chunk when `include_usage` is on; some servers put usage
    in the finish chunk or send none). Reasoning fields (`reasoning_content`, `reasoning`) are not
    part of the answer and are dropped.

    Tool-call deltas are assembled by call id; the `index` only routes deltas that carry no id (the
    continuation chunks of the OpenAI format) to the call that last opened that index. So servers
    that number every call 0, or omit the index, still yield one call per id."""
    text: list[str] = []
    calls = _CallAssembler()
    finish: str | None = None
    usage = Usage()
    async for chunk in stream:
        if getattr(chunk, "usage", None) is not None:
            usage = _usage(chunk.usage)
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    text.append(delta.content)
                    yield TextDelta(delta.content)
                for tc in delta.tool_calls or ():
                    started = calls.feed(tc)
                    if started is not None:
                        yield started
            if choice.finish_reason:
                finish = choice.finish_reason
    if finish is None:
        raise dropped("the stream ended without a finish_reason")
    parts: list[TextPart | ToolCallPart] = [TextPart(text="".join(text))] if text else []
    parts.extend(calls.parts())
    yield TurnCompleted(
        message=Message(role="assistant", parts=tuple(parts), kind="model"), usage=usage, finish_reason=finish
    )


def _usage(u: Any) -> Usage:
    details = getattr(u, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
    return Usage(
        input_tokens=(getattr(u, "prompt_tokens", None) or 0) - cached,
        output_tokens=getattr(u, "completion_tokens", None) or 0,
        cache_read_tokens=cached,
    )


class _CallAssembler:
    """Streamed tool-call deltas -> calls, in the order they were opened."""

    def __init__(self) -> None:
        self._slots: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._by_index: dict[int | None, dict[str, Any]] = {}

    def feed(self, tc: Any) -> ToolCallStarted | None:
        """Add one delta; returns `ToolCallStarted` the first time a call has both its id and name."""
        call_id = getattr(tc, "id", None) or None
        index = getattr(tc, "index", None)
        fn = getattr(tc, "function", None)
        name = (getattr(fn, "name", None) or "") if fn is not None else ""
        args = (getattr(fn, "arguments", None) or "") if fn is not None else ""
        slot = self._by_id.get(call_id) if call_id is not None else self._by_index.get(index)
        if slot is None and call_id is None and index is None and self._slots:
            slot = self._slots[-1]  # neither id nor index: a continuation of the latest call
        if slot is None:
            slot = {"id": call_id or f"call_{len(self._slots)}", "name": "", "args": [], "announced": False}
            self._slots.append(slot)
            if call_id is not None:
                self._by_id[call_id] = slot
        self._by_index[index] = slot
        # Some servers repeat the full name on every delta; OpenAI sends it once (never split).
        if name and slot["name"] != name:
            slot["name"] += name
        if args:
            slot["args"].append(args)
        if not slot["announced"] and slot["name"]:
            slot["announced"] = True
            return ToolCallStarted(id=slot["id"], name=slot["name"])
        return None

    def parts(self) -> list[ToolCallPart]:
        return [ToolCallPart(id=s["id"], name=s["name"], arguments="".join(s["args"])) for s in self._slots]
