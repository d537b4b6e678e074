"""Chat Completions wire format: neutral messages -> request, streamed chunks -> events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aura.providers._errors import dropped
from aura.providers.base import ProviderEvent, TextDelta, ToolCallStarted, TurnCompleted
from aura.runtime.messages import Message, TextPart, ToolCallPart
from aura.runtime.usage import Usage


def to_chat_messages(system: str, messages: tuple[Message, ...] | list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        if m.role == "assistant":
            text = m.text
            calls = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
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
    (the usage chunk comes after the finish chunk when `include_usage` is on)."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage = Usage()
    async for chunk in stream:
        if getattr(chunk, "usage", None) is not None:
            u = chunk.usage
            details = getattr(u, "prompt_tokens_details", None)
            cached = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
            usage = Usage(
                input_tokens=(u.prompt_tokens or 0) - cached,
                output_tokens=u.completion_tokens or 0,
                cache_read_tokens=cached,
            )
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    text.append(delta.content)
                    yield TextDelta(delta.content)
                for tc in delta.tool_calls or ():
                    slot = calls.get(tc.index)
                    if slot is None:
                        slot = calls[tc.index] = {"id": tc.id or f"call_{tc.index}", "name": "", "args": []}
                    fn = tc.function
                    if fn is not None and fn.name:
                        slot["name"] += fn.name
                    if fn is not None and fn.arguments:
                        slot["args"].append(fn.arguments)
                    if tc.id and not slot.get("announced") and slot["name"]:
                        slot["announced"] = True
                        yield ToolCallStarted(id=slot["id"], name=slot["name"])
            if choice.finish_reason:
                finish = choice.finish_reason
    if finish is None:
        raise dropped("the stream ended without a finish_reason")
    parts: list[TextPart | ToolCallPart] = [TextPart(text="".join(text))] if text else []
    parts.extend(
        ToolCallPart(id=c["id"], name=c["name"], arguments="".join(c["args"]))
        for _, c in sorted(calls.items())
    )
    yield TurnCompleted(
        message=Message(role="assistant", parts=tuple(parts), kind="model"), usage=usage, finish_reason=finish
    )
