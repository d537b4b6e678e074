"""Responses API wire format (required by Codex models): neutral messages -> input items, events -> events.

Requests are stateless (`store=False`): the whole conversation is sent as input items each turn, like
every other provider, so sessions, compaction and resume work the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aura.providers._errors import dropped
from aura.runtime.messages import Message, TextPart, ToolCallPart
from aura.runtime.provider import ProviderError, ProviderEvent, TextDelta, ToolCallStarted, TurnCompleted
from aura.runtime.replay import replay_arguments
from aura.runtime.usage import Usage
from aura.tools.limits import DEFAULT_LIMITS


def to_responses_input(
    messages: tuple[Message, ...] | list[Message], max_call_chars: int = DEFAULT_LIMITS.max_call_chars
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant":
            if m.text:
                items.append({"role": "assistant", "content": m.text})
            items.extend(
                {
                    "type": "function_call",
                    "call_id": c.id,
                    "name": c.name,
                    "arguments": replay_arguments(c.arguments, max_call_chars).text,
                }
                for c in m.tool_calls
            )
        else:
            items.extend(
                {"type": "function_call_output", "call_id": r.tool_call_id, "output": r.content}
                for r in m.tool_results
            )
            if m.text:
                items.append({"role": "user", "content": m.text})
    return items


async def assemble_responses(stream: Any) -> AsyncIterator[ProviderEvent]:
    """Events -> events. Each `output_item.added` of type function_call opens a new call; argument
    deltas and the final `output_item.done` are routed by item id (the latest call opened with that
    id), else by `output_index`, else to the latest call — so servers that reuse one index (or one
    item id) for parallel calls still yield separate calls."""
    text: list[str] = []
    slots: list[dict[str, Any]] = []
    routes: dict[Any, dict[str, Any]] = {}

    def route(item_id: Any, output_index: Any) -> dict[str, Any] | None:
        slot = routes.get(("id", item_id)) if item_id else None
        if slot is None and output_index is not None:
            slot = routes.get(("index", output_index))
        return slot if slot is not None else (slots[-1] if slots else None)

    async for ev in stream:
        et = ev.type
        if et == "response.output_text.delta":
            text.append(ev.delta)
            yield TextDelta(ev.delta)
        elif et == "response.output_item.added" and ev.item.type == "function_call":
            item = ev.item
            call_id = item.call_id or item.id or f"call_{len(slots)}"
            slot = {"id": call_id, "name": item.name, "args": [item.arguments or ""]}
            slots.append(slot)
            for key in (("id", item.id), ("id", item.call_id), ("index", getattr(ev, "output_index", None))):
                if key[1] is not None and key[1] != "":
                    routes[key] = slot
            yield ToolCallStarted(id=call_id, name=item.name)
        elif et == "response.function_call_arguments.delta":
            slot = route(getattr(ev, "item_id", None), getattr(ev, "output_index", None))
            if slot is not None:
                slot["args"].append(ev.delta)
        elif et == "response.output_item.done" and ev.item.type == "function_call":
            slot = route(ev.item.id or ev.item.call_id, getattr(ev, "output_index", None))
            if slot is not None and ev.item.arguments is not None:
                slot["args"] = [ev.item.arguments]  # the final item is authoritative
        elif et in ("response.completed", "response.incomplete"):
            resp = ev.response
            parts: list[TextPart | ToolCallPart] = [TextPart(text="".join(text))] if text else []
            parts.extend(ToolCallPart(id=c["id"], name=c["name"], arguments="".join(c["args"])) for c in slots)
            yield TurnCompleted(
                message=Message(role="assistant", parts=tuple(parts), kind="model"),
                usage=_usage(getattr(resp, "usage", None)),
                finish_reason="tool_calls" if slots else ("stop" if et == "response.completed" else "length"),
            )
            return
        elif et in ("response.failed", "error"):
            err = getattr(getattr(ev, "response", None), "error", None) or ev
            code = getattr(err, "code", None) or ""
            raise ProviderError(
                f"response failed: {code} {getattr(err, 'message', '')}".strip(),
                retryable=code in ("server_error", "rate_limit_exceeded"),
                kind="stream_error",
            )
    raise dropped("the stream ended before response.completed")


def _usage(u: Any) -> Usage:
    if u is None:
        return Usage()
    details = getattr(u, "input_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
    return Usage(
        input_tokens=(u.input_tokens or 0) - cached,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=cached,
    )
