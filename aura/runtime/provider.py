"""The `Provider` Protocol: one streamed model turn with tools, plus the model's limits and prices.

The engine owns this contract and `aura.providers` implement it, so the runtime never imports a provider
(the packages stay acyclic: providers build on runtime's messages and usage, never the other way round).

A provider is stateless between turns: the engine owns the conversation and sends all of it each turn.
Providers never retry (SDK retries are disabled); they classify failures as `ProviderError` with a
`retryable` flag and the engine's retry policy decides. A stream that ends before the provider's own
end-of-message marker is a dropped stream: retryable, and the partial turn is discarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from aura.runtime.messages import Message
from aura.runtime.usage import Prices, Usage
from aura.tools.limits import DEFAULT_LIMITS
from aura.tools.schema import ToolSchema


class ModelInfo(BaseModel):
    """Limits and prices of the model behind a provider (from the models.json profile)."""

    model_config = ConfigDict(frozen=True)
    provider: str
    model: str
    context_window: int = 200_000
    max_output_tokens: int = 8_192
    prices: Prices = Prices()


@dataclass(frozen=True)
class TurnRequest:
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...] = ()
    max_output_tokens: int | None = None
    #: "summary" marks the compaction call (no tools); providers may treat it specially (Offline does).
    purpose: Literal["turn", "summary"] = "turn"
    #: past tool calls with more argument text than this are replayed clipped (`replay_arguments`);
    #: the engine sets its registry's per-call limit, so a call the registry accepted is replayed whole
    max_call_chars: int = DEFAULT_LIMITS.max_call_chars


# -- events of one streamed turn -------------------------------------------------------------------
@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model began emitting a call (its arguments are still streaming)."""

    id: str
    name: str


@dataclass(frozen=True)
class TurnCompleted:
    """Always the last event of a successful turn: the whole assistant message and its usage."""

    message: Message
    usage: Usage
    finish_reason: str


ProviderEvent = TextDelta | ToolCallStarted | TurnCompleted


class ProviderError(Exception):
    """A failed model call. `retryable` covers 408/409/429/5xx/529, timeouts, connection errors and
    dropped streams; `retry_after_s` carries the server's Retry-After hint when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        kind: str = "api",
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        self.kind = kind


RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@runtime_checkable
class Provider(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one assistant turn. Ends with exactly one `TurnCompleted`, or raises `ProviderError`."""
        ...

    async def aclose(self) -> None: ...


def retry_after_seconds(headers: object) -> float | None:
    """Parse a Retry-After / retry-after-ms header from an httpx-like headers mapping."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    ms = get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    s = get("retry-after")
    if s:
        try:
            return float(s)
        except ValueError:
            return None
    return None
