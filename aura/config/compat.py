"""Known wire differences of OpenAI-compatible servers, and what the OpenAI provider sends to each.

The Chat Completions format is shared by many servers that differ in details. What the provider
*sends* differs by one field (`max_completion_tokens` for OpenAI itself, `max_tokens` everywhere
else: several servers ignore or refuse the newer name). Everything else is handled on the receiving
side for every server alike (see `aura.providers._openai_chat.assemble_chat`): tool-call deltas
keyed by id (index only as a fallback), whole calls in one chunk, names repeated on every chunk,
usage in its own last chunk, in the finish chunk or absent, reasoning fields (`reasoning_content`,
`reasoning`) dropped from the answer, `finish_reason: "stop"` on a turn with tool calls. The
provider never sends `tool_choice` (the default, "auto", is what every server does anyway), so
servers without tool-choice support work too.

A profile's `compat` names the server (`"auto"`: guessed from `base_url`); its `token_param`, when
set, overrides the field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

ServerKind = Literal["openai", "vllm", "llamacpp", "ollama", "sglang", "lmstudio", "gemini", "generic"]
TokenParam = Literal["max_completion_tokens", "max_tokens"]
COMPAT_CHOICES = ("auto", "openai", "vllm", "llamacpp", "ollama", "sglang", "lmstudio", "gemini", "generic")


@dataclass(frozen=True)
class WireCompat:
    """What the provider sends to one kind of server."""

    server: ServerKind
    token_param: TokenParam


#: server -> what is sent; every server other than OpenAI's own API gets `max_tokens`
SERVERS: dict[ServerKind, WireCompat] = {
    "openai": WireCompat("openai", "max_completion_tokens"),
    **{
        s: WireCompat(s, "max_tokens")
        for s in ("vllm", "llamacpp", "ollama", "sglang", "lmstudio", "gemini", "generic")
    },  # type: ignore[misc]
}

#: default ports of the local servers (how `auto` recognises them)
_PORTS: dict[int, ServerKind] = {11434: "ollama", 1234: "lmstudio", 30000: "sglang", 8000: "vllm", 8080: "llamacpp"}


def detect_server(base_url: str | None) -> ServerKind:
    """The server a base URL most likely points at: no URL or api.openai.com -> openai; Google's
    endpoint -> gemini; the local servers by their default port; anything else -> generic."""
    if not base_url:
        return "openai"
    parsed = urlparse(base_url)
    host = (parsed.hostname or "").lower()
    if host == "api.openai.com" or host.endswith(".openai.azure.com"):
        return "openai"
    if host == "generativelanguage.googleapis.com":
        return "gemini"
    return _PORTS.get(parsed.port or -1, "generic")


def resolve_compat(compat: str, base_url: str | None, token_param: str = "auto") -> WireCompat:
    """The `WireCompat` of a profile: its `compat` (or the server detected from `base_url` when
    "auto"), with `token_param` overriding the field name when it is not "auto"."""
    server: ServerKind = detect_server(base_url) if compat == "auto" else compat  # type: ignore[assignment]
    if server not in SERVERS:
        raise ValueError(f"unknown compat {compat!r}; one of {', '.join(COMPAT_CHOICES)}")
    wire = SERVERS[server]
    if token_param != "auto":
        wire = WireCompat(server, token_param)  # type: ignore[arg-type]
    return wire
