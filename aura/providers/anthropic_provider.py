"""Anthropic Messages API through the `anthropic` SDK: streaming, tool use, prompt caching.

Caching: breakpoints on the system prompt, on the last tool definition (so system + tools form one
cached prefix) and on the last block of the conversation (so each turn reads the previous turn's
prefix from cache). That is 3 of the 4 breakpoints the API allows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from aura.providers._errors import classify, dropped
from aura.runtime.messages import Message, TextPart, ToolCallPart, ToolResultPart
from aura.runtime.provider import (
    ModelInfo,
    ProviderEvent,
    TextDelta,
    ToolCallStarted,
    TurnCompleted,
    TurnRequest,
)
from aura.runtime.replay import replay_arguments
from aura.runtime.usage import Usage
from aura.tools.limits import DEFAULT_LIMITS
from aura.tools.schema import to_format

_EPHEMERAL = {"type": "ephemeral"}


class AnthropicProvider:
    """`Provider` for the Anthropic Messages API. The API key is handed to the SDK client and kept
    nowhere else (not in `info`, not in `repr`)."""

    def __init__(
        self,
        info: ModelInfo,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 600.0,
        prompt_caching: bool = True,
    ) -> None:
        self._info = info
        self._caching = prompt_caching
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,  # the engine owns retries
            timeout=httpx2.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def __repr__(self) -> str:
        return f"AnthropicProvider(model={self._info.model!r})"

    async def aclose(self) -> None:
        await self._client.close()

    def build_params(self, request: TurnRequest) -> dict[str, Any]:
        """The exact keyword arguments of `messages.create` for `request` (public for inspection)."""
        params: dict[str, Any] = {
            "model": self._info.model,
            "max_tokens": request.max_output_tokens or self._info.max_output_tokens,
            "messages": to_anthropic_messages(
                request.messages, cache_last=self._caching, max_call_chars=request.max_call_chars
            ),
        }
        if request.system:
            block: dict[str, Any] = {"type": "text", "text": request.system}
            if self._caching:
                block["cache_control"] = _EPHEMERAL
            params["system"] = [block]
        if request.tools:
            tools = [to_format(t, "anthropic") for t in request.tools]
            if self._caching:
                tools[-1] = {**tools[-1], "cache_control": _EPHEMERAL}
            params["tools"] = tools
        return params

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        params = self.build_params(request)
        try:
            stream = await self._client.messages.create(**params, stream=True)
        except Exception as exc:  # classified, never swallowed
            raise _classify(exc, mid_stream=False) from exc
        try:
            async with stream:
                async for ev in _assemble(stream):
                    yield ev
        except Exception as exc:
            raise _classify(exc, mid_stream=True) from exc


def _classify(exc: BaseException, mid_stream: bool) -> Exception:
    return classify(
        exc,
        status_error=anthropic.APIStatusError,
        timeout_error=anthropic.APITimeoutError,
        connection_error=anthropic.APIConnectionError,
        mid_stream=mid_stream,
    )


async def _assemble(stream: Any) -> AsyncIterator[ProviderEvent]:
    blocks: dict[int, dict[str, Any]] = {}
    usage: dict[str, int] = {}
    stop_reason = "end_turn"
    async for event in stream:
        et = event.type
        if et == "message_start":
            u = event.message.usage
            usage = {
                "input_tokens": u.input_tokens or 0,
                "cache_write_tokens": getattr(u, "cache_creation_input_tokens", None) or 0,
                "cache_read_tokens": getattr(u, "cache_read_input_tokens", None) or 0,
                "output_tokens": u.output_tokens or 0,
            }
        elif et == "content_block_start":
            cb = event.content_block
            if cb.type == "text":
                blocks[event.index] = {"kind": "text", "text": [cb.text or ""]}
            elif cb.type == "tool_use":
                blocks[event.index] = {"kind": "tool", "id": cb.id, "name": cb.name, "json": []}
                yield ToolCallStarted(id=cb.id, name=cb.name)
            else:
                blocks[event.index] = {"kind": "other"}
        elif et == "content_block_delta":
            d = event.delta
            b = blocks.get(event.index)
            if b is None:
                continue
            if d.type == "text_delta":
                b["text"].append(d.text)
                yield TextDelta(d.text)
            elif d.type == "input_json_delta":
                b["json"].append(d.partial_json)
        elif et == "message_delta":
            stop_reason = event.delta.stop_reason or stop_reason
            if event.usage is not None and event.usage.output_tokens is not None:
                usage["output_tokens"] = event.usage.output_tokens
        elif et == "message_stop":
            yield TurnCompleted(message=_to_message(blocks), usage=Usage(**usage), finish_reason=stop_reason)
            return
    raise dropped("the stream ended before message_stop")


def _to_message(blocks: dict[int, dict[str, Any]]) -> Message:
    parts: list[TextPart | ToolCallPart] = []
    for _, b in sorted(blocks.items()):
        if b["kind"] == "text":
            text = "".join(b["text"])
            if text:
                parts.append(TextPart(text=text))
        elif b["kind"] == "tool":
            # An empty input stream means "{}" (a tool without parameters).
            parts.append(ToolCallPart(id=b["id"], name=b["name"], arguments="".join(b["json"]) or "{}"))
    return Message(role="assistant", parts=tuple(parts), kind="model")


def to_anthropic_messages(
    messages: tuple[Message, ...] | list[Message],
    cache_last: bool = False,
    max_call_chars: int = DEFAULT_LIMITS.max_call_chars,
) -> list[dict[str, Any]]:
    """Neutral messages -> Messages API `messages`. Consecutive same-role messages are merged (the API
    wants alternation), tool results go first in a user turn, empty messages are dropped. Arguments
    go through `replay_arguments` (the API requires an object: a malformed call is replayed as an
    object recording the error; the call was already answered with an `invalid_json` tool error)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, TextPart):
                if p.text:
                    blocks.append({"type": "text", "text": p.text})
            elif isinstance(p, ToolCallPart):
                blocks.append(
                    {"type": "tool_use", "id": p.id, "name": p.name, "input": replay_arguments(p.arguments, max_call_chars).obj}
                )
            elif isinstance(p, ToolResultPart):
                blocks.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": p.tool_call_id,
                        "content": p.content,
                        **({"is_error": True} if p.is_error else {}),
                    }
                )
        if not blocks:
            continue
        if out and out[-1]["role"] == m.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": m.role, "content": blocks})
    for msg in out:
        if msg["role"] == "user":
            # tool_result blocks must precede any text in a user turn
            msg["content"].sort(key=lambda b: 0 if b["type"] == "tool_result" else 1)
    if cache_last and out:
        last = out[-1]["content"]
        last[-1] = {**last[-1], "cache_control": _EPHEMERAL}
    return out
