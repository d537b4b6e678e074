"""OpenAI through the `openai` SDK: Chat Completions (any OpenAI-compatible server via `base_url`:
Ollama, vLLM, llama.cpp, LM Studio, Gemini's OpenAI endpoint) or the Responses API (`api="responses"`,
which Codex models require)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx2
import openai

from aura.providers._errors import classify
from aura.providers._openai_chat import assemble_chat, to_chat_messages
from aura.providers._openai_responses import assemble_responses, to_responses_input
from aura.runtime.provider import ModelInfo, ProviderEvent, TurnRequest
from aura.tools.schema import to_format

OpenAIApi = Literal["chat", "responses"]


class OpenAIProvider:
    """`Provider` for OpenAI-style APIs. `token_param` names the output limit field: the official API
    wants `max_completion_tokens`, many compatible servers only know `max_tokens`."""

    def __init__(
        self,
        info: ModelInfo,
        *,
        api_key: str,
        base_url: str | None = None,
        api: OpenAIApi = "chat",
        timeout_s: float = 600.0,
        token_param: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
    ) -> None:
        self._info = info
        self._api = api
        self._token_param = token_param
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,  # the engine owns retries
            timeout=httpx2.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self._info.model!r}, api={self._api!r})"

    async def aclose(self) -> None:
        await self._client.close()

    def build_params(self, request: TurnRequest) -> dict[str, Any]:
        max_out = request.max_output_tokens or self._info.max_output_tokens
        if self._api == "responses":
            params: dict[str, Any] = {
                "model": self._info.model,
                "input": to_responses_input(request.messages, request.max_call_chars),
                "store": False,
                "max_output_tokens": max_out,
            }
            if request.system:
                params["instructions"] = request.system
            if request.tools:
                params["tools"] = [to_format(t, "openai_responses") for t in request.tools]
            return params
        params = {
            "model": self._info.model,
            "messages": to_chat_messages(request.system, request.messages, request.max_call_chars),
            "stream_options": {"include_usage": True},
            self._token_param: max_out,
        }
        if request.tools:
            params["tools"] = [to_format(t, "openai_chat") for t in request.tools]
        return params

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        params = self.build_params(request)
        try:
            if self._api == "responses":
                stream: Any = await self._client.responses.create(**params, stream=True)
                assembled = assemble_responses(stream)
            else:
                stream = await self._client.chat.completions.create(**params, stream=True)
                assembled = assemble_chat(stream)
        except Exception as exc:  # classified, never swallowed
            raise _classify(exc, mid_stream=False) from exc
        try:
            async with stream:
                async for ev in assembled:
                    yield ev
        except Exception as exc:
            raise _classify(exc, mid_stream=True) from exc


def _classify(exc: BaseException, mid_stream: bool) -> Exception:
    return classify(
        exc,
        status_error=openai.APIStatusError,
        timeout_error=openai.APITimeoutError,
        connection_error=openai.APIConnectionError,
        mid_stream=mid_stream,
    )
