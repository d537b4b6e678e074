"""Providers of every kind pointed at a local emulator (used by the aura integration tests)."""

from __future__ import annotations

from aura.providers.anthropic_provider import AnthropicProvider
from aura.providers.openai_provider import OpenAIProvider
from aura.runtime.provider import ModelInfo, Provider
from aura.runtime.usage import Prices
from tests.support.llm_emulators import AnthropicEmulator, Brain, OpenAIEmulator

FAKE_KEY = "sk-test-not-a-real-key-7d1e"
KINDS = ("anthropic", "openai_chat", "openai_responses")
PRICES = Prices(input_per_mtok=3.0, output_per_mtok=15.0, cache_write_per_mtok=3.75, cache_read_per_mtok=0.3)


def emulator_for(kind: str, brain: Brain) -> AnthropicEmulator | OpenAIEmulator:
    return AnthropicEmulator(brain) if kind == "anthropic" else OpenAIEmulator(brain)


def provider_for(
    kind: str, url: str, *, context_window: int = 200_000, max_output: int = 1024, timeout_s: float = 5.0
) -> Provider:
    info = ModelInfo(
        provider=kind,
        model=f"{kind}-test-model",
        context_window=context_window,
        max_output_tokens=max_output,
        prices=PRICES,
    )
    if kind == "anthropic":
        return AnthropicProvider(info, api_key=FAKE_KEY, base_url=url, timeout_s=timeout_s)
    api = "responses" if kind == "openai_responses" else "chat"
    return OpenAIProvider(info, api_key=FAKE_KEY, base_url=url + "/v1", api=api, timeout_s=timeout_s)
