"""A deterministic model without an LLM: scripted turns, then an optional policy hook.

The policy hook lets a program drive the tools through the very same engine (budgets, traces,
sessions) that an LLM would use: it receives the conversation and returns the next assistant turn.
Usage is estimated from the text sizes so cost budgets work offline too.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aura.runtime.messages import Message, TextPart, ToolCallPart
from aura.runtime.provider import (
    ModelInfo,
    ProviderError,
    ProviderEvent,
    TextDelta,
    ToolCallStarted,
    TurnCompleted,
    TurnRequest,
)
from aura.runtime.tokens import estimate_messages_tokens, estimate_text_tokens, estimate_tools_tokens
from aura.runtime.usage import Usage


@dataclass(frozen=True)
class ScriptedTurn:
    """One assistant turn. `tool_calls` are `(name, arguments)`; a `str` argument is sent verbatim
    (so malformed JSON can be scripted). `error` makes this turn fail with that error instead."""

    text: str = ""
    tool_calls: Sequence[tuple[str, Mapping[str, Any] | str]] = ()
    error: ProviderError | None = None


@dataclass(frozen=True)
class PolicyState:
    """What a policy sees: the full request of this turn and how many turns this provider served."""

    turn: int
    request: TurnRequest
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> tuple[Message, ...]:
        return self.request.messages

    @property
    def last_message(self) -> Message | None:
        return self.request.messages[-1] if self.request.messages else None


Policy = Callable[[PolicyState], "ScriptedTurn | Message | Awaitable[ScriptedTurn | Message]"]
Summarizer = Callable[[TurnRequest], str]

_FINAL = ScriptedTurn(text="(offline model: nothing left to do)")


class OfflineProvider:
    """Serves `script` in order, then asks `policy` (if any), then ends the conversation.

    Compaction summary requests (`TurnRequest.purpose == "summary"`) go to `summarizer`, which by
    default returns an extractive snapshot, so scripts never have to account for them.
    """

    def __init__(
        self,
        script: Iterable[ScriptedTurn | Message] = (),
        *,
        policy: Policy | None = None,
        info: ModelInfo | None = None,
        summarizer: Summarizer | None = None,
    ) -> None:
        self._script = list(script)
        self._policy = policy
        self._info = info or ModelInfo(provider="offline", model="offline")
        self._summarizer = summarizer or default_summary
        self.turns = 0
        self.requests: list[TurnRequest] = []

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def aclose(self) -> None:
        return None

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        if request.purpose == "summary":
            message = Message(
                role="assistant", parts=(TextPart(text=self._summarizer(request)),), kind="model"
            )
        else:
            index = self.turns
            self.turns += 1
            step = await self._next(index, request)
            if isinstance(step, ScriptedTurn) and step.error is not None:
                raise step.error
            message = step if isinstance(step, Message) else _to_message(step, index)
        if message.text:
            yield TextDelta(message.text)
        for c in message.tool_calls:
            yield ToolCallStarted(id=c.id, name=c.name)
        usage = Usage(
            input_tokens=estimate_messages_tokens(request.messages)
            + estimate_text_tokens(request.system)
            + estimate_tools_tokens(request.tools),
            output_tokens=estimate_messages_tokens([message]),
        )
        finish = "tool_use" if message.tool_calls else "end_turn"
        yield TurnCompleted(message=message, usage=usage, finish_reason=finish)

    async def _next(self, index: int, request: TurnRequest) -> ScriptedTurn | Message:
        if self._script:
            return self._script.pop(0)
        if self._policy is None:
            return _FINAL
        step = self._policy(PolicyState(turn=index, request=request))
        if inspect.isawaitable(step):
            step = await step
        return step


def _to_message(step: ScriptedTurn, index: int) -> Message:
    parts: list[TextPart | ToolCallPart] = [TextPart(text=step.text)] if step.text else []
    for i, (name, args) in enumerate(step.tool_calls):
        raw = args if isinstance(args, str) else json.dumps(dict(args), sort_keys=True)
        parts.append(ToolCallPart(id=f"call_{index}_{i}", name=name, arguments=raw))
    return Message(role="assistant", parts=tuple(parts), kind="model")


def default_summary(request: TurnRequest) -> str:
    """Extractive snapshot: the first request as the goal, the tail of the transcript as knowledge."""
    transcript = request.messages[-1].text if request.messages else ""
    goal = ""
    for line in transcript.splitlines():
        if line.startswith("[user request]"):
            goal = line.removeprefix("[user request]").strip()
            break
    tail = transcript[-1500:]
    return (
        f"<overall_goal>{goal}</overall_goal>\n<key_knowledge>{tail}</key_knowledge>\n"
        "<contract_memory></contract_memory>\n<spec_workflow_state></spec_workflow_state>"
    )
