"""Keys come from the environment, reach the server, and are never written; prompt caching and
usage/cost accounting through the real SDKs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aura_wire_helpers import PRICES

from aura.config import ModelProfile
from aura.providers import build_provider
from aura.runtime import AgentEngine, PromptLayers, SessionStore, StopReason
from aura.runtime.events import ToolEnd, TurnUsage
from aura.tools import ToolRegistry, tool
from tests.support.llm_emulators import AnthropicEmulator, OpenAIEmulator, ScriptBrain, Turn

SECRET = "sk-live-SENTINEL-4b8e0c"


@tool(category="a")
def alpha(x: int) -> int:
    """First tool."""
    return x


@tool(category="b")
def beta(x: int) -> int:
    """Second tool."""
    return -x


@pytest.mark.parametrize("provider_kind", ["anthropic", "openai"])
def test_key_from_env_is_used_and_never_persisted(tmp_path: Path, provider_kind: str) -> None:
    brain = ScriptBrain(
        [Turn(tool_calls=(("alpha", '{"x": 2}'), ("beta", '{"x": 3}')))], then=Turn(text="ok")
    )
    emulator = AnthropicEmulator(brain) if provider_kind == "anthropic" else OpenAIEmulator(brain)
    with emulator as server:
        profile = ModelProfile(
            provider=provider_kind,
            model="m",  # type: ignore[arg-type]
            base_url=server.url if provider_kind == "anthropic" else server.url + "/v1",
            api_key_env="AURA_TEST_KEY",
            prices=PRICES,
        )
        provider = build_provider(profile, environ={"AURA_TEST_KEY": SECRET})
        store = SessionStore(tmp_path)
        engine: AgentEngine[Any] = AgentEngine(
            provider, ToolRegistry([alpha, beta]), session=store.create("k")
        )
        events: list[Any] = []

        async def main() -> Any:
            try:
                return await engine.run_until_stopped("use both tools", events.append)
            finally:
                await provider.aclose()

        stop = asyncio.run(main())
    assert stop.reason is StopReason.COMPLETED
    sent = [r.headers.get("x-api-key") or r.headers.get("authorization", "") for r in server.requests]
    assert all(SECRET in h for h in sent)  # the key did reach the server
    on_disk = "".join(p.read_text() for p in tmp_path.rglob("*"))
    assert "alpha" in on_disk and SECRET not in on_disk
    assert SECRET not in repr(events) and SECRET not in repr(engine.messages) and SECRET not in repr(provider)


def test_anthropic_prompt_caching_and_cost_accounting() -> None:
    brain = ScriptBrain(
        [Turn(tool_calls=(("alpha", '{"x": 1}'),)), Turn(tool_calls=(("beta", '{"x": 1}'),))],
        then=Turn(text="done"),
    )
    with AnthropicEmulator(brain) as server:
        profile = ModelProfile(
            provider="anthropic", model="claude-test", base_url=server.url, api_key_env="K", prices=PRICES
        )
        provider = build_provider(profile, environ={"K": "k"})
        engine: AgentEngine[Any] = AgentEngine(
            provider, ToolRegistry([alpha, beta]), layers=PromptLayers(system_prompt="You are terse.")
        )
        events: list[Any] = []

        async def main() -> Any:
            try:
                return await engine.run_until_stopped("go", events.append)
            finally:
                await provider.aclose()

        stop = asyncio.run(main())
    body = server.requests[0].body
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in body["tools"][0]
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    usages = [e for e in events if isinstance(e, TurnUsage)]
    assert usages[0].usage.cache_write_tokens > 0 and usages[0].usage.cache_read_tokens == 0
    assert all(u.usage.cache_read_tokens > 0 and u.usage.cache_write_tokens == 0 for u in usages[1:])
    for u in usages:
        expected = (
            u.usage.input_tokens * 3.0
            + u.usage.output_tokens * 15.0
            + u.usage.cache_write_tokens * 3.75
            + u.usage.cache_read_tokens * 0.3
        ) / 1e6
        assert u.cost_usd == pytest.approx(expected) and u.cost_usd > 0
    assert stop.cost_usd == pytest.approx(sum(u.cost_usd for u in usages))
    traces = [e.trace for e in events if isinstance(e, ToolEnd)]
    assert [t.tool for t in traces] == ["alpha", "beta"]
    assert traces[0].model == "claude-test" and traces[0].cost_usd == pytest.approx(usages[0].cost_usd)
    assert traces[0].input_tokens == usages[0].usage.prompt_tokens and traces[0].duration_ms >= 0
    assert json.loads(traces[0].arguments) == {"x": 1}
