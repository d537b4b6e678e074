"""Provider-neutral conversation model.

A conversation is a list of `Message`s with two roles. Tool calls live in assistant messages; their
results live in the *next* user message (the Anthropic layout, which is the strictest one: every other
wire format can be derived from it). Providers translate to and from their own wire formats; nothing
outside `aura.providers` ever sees a wire format.

Invariant kept by the engine and by compaction ("no orphans"): every `ToolCallPart` of an assistant
message has exactly one `ToolResultPart` with the same id in the immediately following user message,
and every `ToolResultPart` answers a call of the immediately preceding assistant message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["user", "assistant"]

#: Why a message exists. `request` is a genuine user request; the others are written by the runtime.
MessageKind = Literal["request", "model", "tool_results", "context", "compaction"]


class TextPart(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str


class ToolCallPart(BaseModel):
    """A tool call as the model emitted it. `arguments` is the raw JSON text, kept verbatim even when
    it does not parse, so a malformed call can be answered with a precise tool error."""

    model_config = ConfigDict(frozen=True)
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: str


class ToolResultPart(BaseModel):
    """The answer to one `ToolCallPart`; `content` is what the model reads (JSON text for structured
    results and for `ToolError`s)."""

    model_config = ConfigDict(frozen=True)
    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


Part = Annotated[TextPart | ToolCallPart | ToolResultPart, Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Role
    parts: tuple[Part, ...]
    kind: MessageKind = "request"

    @property
    def text(self) -> str:
        """Concatenated text parts (tool parts excluded)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCallPart))

    @property
    def tool_results(self) -> tuple[ToolResultPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolResultPart))


def user_text(text: str, kind: MessageKind = "request") -> Message:
    return Message(role="user", parts=(TextPart(text=text),), kind=kind)


def assistant_message(
    text: str = "", tool_calls: tuple[ToolCallPart, ...] | list[ToolCallPart] = ()
) -> Message:
    parts: list[TextPart | ToolCallPart] = [TextPart(text=text)] if text else []
    parts.extend(tool_calls)
    return Message(role="assistant", parts=tuple(parts), kind="model")


def find_orphans(messages: list[Message] | tuple[Message, ...]) -> list[str]:
    """Ids violating the no-orphans invariant (calls without results, results without calls).
    Empty list means the history is valid for every provider."""
    problems: list[str] = []
    for i, msg in enumerate(messages):
        if msg.role == "assistant" and msg.tool_calls:
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            answered = {r.tool_call_id for r in nxt.tool_results} if nxt is not None else set()
            problems.extend(c.id for c in msg.tool_calls if c.id not in answered)
        if msg.tool_results:
            prev = messages[i - 1] if i > 0 else None
            asked = (
                {c.id for c in prev.tool_calls} if prev is not None and prev.role == "assistant" else set()
            )
            problems.extend(r.tool_call_id for r in msg.tool_results if r.tool_call_id not in asked)
    return problems
