"""The compatibility matrix (README, "Models"): the real `openai` SDK, configured from a profile with
`compat`, against local servers that stream and check requests like vLLM, llama.cpp server, Ollama,
SGLang, LM Studio and Gemini's OpenAI endpoint (`SERVER_PROFILES`). Each row: four parallel calls
(with every call numbered 0 where that server does so) come out as four separate calls and run, the
reasoning field stays out of the answer, the output-limit field is one the server accepts, and the
server refuses nothing. Then: servers that validate history keep serving a session after a malformed
call, on the Chat and the Responses paths, across a resume and a forced compaction."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from aura.config.models import ModelProfile
from aura.providers.factory import build_provider
from aura.runtime import AgentEngine, Budgets, CompactionPolicy, RetryPolicy, SessionStore, StopReason
from aura.runtime.events import Compacted, EngineEvent, Stopped, ToolEnd, TurnUsage
from aura.tools import ToolRegistry, tool
from tests.support.llm_emulators import SERVER_PROFILES, OpenAIEmulator, ServerQuirks, Turn

TAGS = ("alpha", "beta", "gamma", "delta")
NAMES = ("data_version_list", "list_tools", "module_validate", "module_validate")


def _registry(seen: list[tuple[str, str]]) -> ToolRegistry:
    def make(name: str) -> Any:
        @tool(name=name, timeout_s=5)
        def fn(tag: str) -> str:
            """Record the call."""
            seen.append((name, tag))
            return f"{name}:{tag}"

        return fn

    return ToolRegistry([make(n) for n in dict.fromkeys(NAMES)])


def _parallel_brain(body: dict[str, Any], index: int) -> Turn:
    if index == 0:
        return Turn(text="four at once", tool_calls=tuple(
            (n, json.dumps({"tag": t})) for n, t in zip(NAMES, TAGS, strict=True)))
    return Turn(text="all four seen")


def _profile(url: str, compat: str, api: str = "chat", window: int = 200_000) -> ModelProfile:
    return ModelProfile(provider="openai", model=f"{compat}-model", api=api, base_url=url + "/v1",
                        compat=compat, context_window=window, max_output_tokens=512, timeout_s=10)  # type: ignore[arg-type]


async def _run(engine: AgentEngine[Any], request: str) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    await engine.run_until_stopped(request, events.append)
    return events


def _one_run(provider: Any, engine: AgentEngine[Any], request: str) -> list[EngineEvent]:
    async def main() -> list[EngineEvent]:
        try:
            return await _run(engine, request)
        finally:
            await provider.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("server_name", sorted(SERVER_PROFILES))
def test_matrix_row_streams_four_parallel_calls(server_name: str) -> None:
    quirks = SERVER_PROFILES[server_name]
    seen: list[tuple[str, str]] = []
    with OpenAIEmulator(_parallel_brain, quirks) as server:
        provider = build_provider(_profile(server.url, server_name))
        engine: AgentEngine[Any] = AgentEngine(provider, _registry(seen), budgets=Budgets(max_turns=4),
                                               retry=RetryPolicy(max_attempts=1))
        events = _one_run(provider, engine, "go")

    assert server.rejections == [], server.rejections
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
    calls = engine.messages[1].tool_calls
    assert [(c.name, json.loads(c.arguments)["tag"]) for c in calls] == list(zip(NAMES, TAGS, strict=True))
    assert len({c.id for c in calls}) == 4  # separate calls, separate ids
    assert sorted(seen) == sorted(zip(NAMES, TAGS, strict=True))
    assert all(e.ok for e in events if isinstance(e, ToolEnd))
    texts = "".join(m.text for m in engine.messages)
    assert "REASONING-NOT-ANSWER" not in texts and stop.final_text == "all four seen"
    first = server.requests[0].body
    assert "tool_choice" not in first
    sent = {k for k in ("max_tokens", "max_completion_tokens") if k in first}
    assert sent == {"max_tokens"} and sent <= quirks.token_params
    usage = [e.usage for e in events if isinstance(e, TurnUsage)]
    if quirks.usage == "absent":
        assert all(u.prompt_tokens == 0 for u in usage)
    else:
        assert all(u.prompt_tokens > 0 and u.output_tokens > 0 for u in usage)


def test_responses_stream_with_every_item_at_index_zero() -> None:
    seen: list[tuple[str, str]] = []
    with OpenAIEmulator(_parallel_brain, ServerQuirks(name="same-index", responses_same_index=True)) as server:
        provider = build_provider(_profile(server.url, "openai", api="responses"))
        engine: AgentEngine[Any] = AgentEngine(provider, _registry(seen), budgets=Budgets(max_turns=4))
        events = _one_run(provider, engine, "go")
    assert isinstance(events[-1], Stopped) and events[-1].reason is StopReason.COMPLETED
    calls = engine.messages[1].tool_calls
    assert [(c.name, json.loads(c.arguments)["tag"]) for c in calls] == list(zip(NAMES, TAGS, strict=True))
    assert sorted(seen) == sorted(zip(NAMES, TAGS, strict=True))
    assert server.requests[0].path.endswith("/responses") and server.rejections == []


def test_auto_compat_sends_the_field_each_server_accepts() -> None:
    """`compat: auto` guesses the server from the URL: OpenAI's own API gets max_completion_tokens,
    a server on Ollama's port max_tokens (which an Ollama-like server requires)."""
    with OpenAIEmulator(_parallel_brain, SERVER_PROFILES["ollama"]) as server:
        port = int(server.url.rsplit(":", 1)[1])
        prof = _profile(server.url, "auto")
        provider = build_provider(prof)
        # the emulator's port is random: an unknown server is "generic", which also sends max_tokens
        assert "max_tokens" in provider.build_params(_request())  # type: ignore[attr-defined]
        assert port > 0
    official = build_provider(ModelProfile(provider="openai", model="gpt-x", api_key_env=None))
    assert "max_completion_tokens" in official.build_params(_request())  # type: ignore[attr-defined]
    local = build_provider(ModelProfile(provider="openai", model="m", base_url="http://127.0.0.1:11434/v1"))
    assert "max_tokens" in local.build_params(_request())  # type: ignore[attr-defined]
    forced = build_provider(ModelProfile(provider="openai", model="m", base_url="http://127.0.0.1:11434/v1",
                                         token_param="max_completion_tokens"))
    assert "max_completion_tokens" in forced.build_params(_request())  # type: ignore[attr-defined]


def _request() -> Any:
    from aura.runtime.messages import user_text
    from aura.runtime.provider import TurnRequest

    return TurnRequest(system="s", messages=(user_text("hi"),))


# -- servers that validate history: one malformed call must not poison the session ----------------
MALFORMED = '{"tag": "oops", '


class HistoryBrain:
    """Turn 1: one malformed call and one good call; then a good call per request; summary calls
    (no tools) get a snapshot."""

    def __init__(self) -> None:
        self.turns = 0

    def __call__(self, body: dict[str, Any], index: int) -> Turn:
        if not body.get("tools"):
            return Turn(text="<overall_goal>keep going</overall_goal><key_knowledge>one bad call</key_knowledge>")
        self.turns += 1
        last = (body.get("messages") or body.get("input") or [{}])[-1]
        if last.get("role") == "tool" or last.get("type") == "function_call_output":
            return Turn(text=f"done {self.turns}")
        if self.turns == 1:
            return Turn(tool_calls=(("data_version_list", MALFORMED), ("list_tools", '{"tag": "fine"}')))
        return Turn(text="checking", tool_calls=(("module_validate", json.dumps({"tag": f"t{self.turns}"})),))


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_history_validating_server_serves_the_whole_session_after_a_malformed_call(
    tmp_path: Path, api: str
) -> None:
    seen: list[tuple[str, str]] = []
    store = SessionStore(tmp_path / "sessions")
    quirks = SERVER_PROFILES["vllm"]
    assert quirks.validates_history
    with OpenAIEmulator(HistoryBrain(), quirks) as server:
        provider = build_provider(_profile(server.url, "vllm", api=api))
        log = store.create("s1")

        async def main() -> None:
            try:
                engine: AgentEngine[Any] = AgentEngine(provider, _registry(seen), session=log,
                                                       budgets=Budgets(max_turns=6))
                first = await _run(engine, "start")
                assert isinstance(first[-1], Stopped) and first[-1].reason is StopReason.COMPLETED, first[-1]
                bad = [e for e in first if isinstance(e, ToolEnd) and not e.ok]
                assert len(bad) == 1 and bad[0].error is not None and bad[0].error.kind == "invalid_json"
                for k in range(3):
                    stop = (await _run(engine, f"request {k}"))[-1]
                    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
                log.close()
                # after a resume (as a new process would) and a forced compaction (/compact)
                # min_summarized_tokens=1: this short test history is worth a /compact
                resumed: AgentEngine[Any] = AgentEngine.resume(
                    provider, _registry(seen), store.open("s1"), budgets=Budgets(max_turns=6),
                    compaction=CompactionPolicy(min_summarized_tokens=1))
                stop = (await _run(resumed, "after resume"))[-1]
                assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
                assert resumed.compaction_blocker() is None
                assert any(isinstance(e, Compacted) for e in [ev async for ev in resumed.compact()])
                stop = (await _run(resumed, "after compaction"))[-1]
                assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
            finally:
                await provider.aclose()

        asyncio.run(main())

    assert server.rejections == [], server.rejections
    assert len(server.requests) >= 12
    # the session log keeps what the model sent, verbatim
    state = store.open("s1").replay()
    raw = [rec for rec in map(json.loads, store.path("s1").read_text().splitlines()) if rec["t"] == "msg"]
    sent = [p["arguments"] for r in raw for p in r["m"]["parts"] if p["type"] == "tool_call"]
    assert MALFORMED in sent
    assert state.traces[0].arguments == MALFORMED
    # ...and every request carried the malformed call as a valid object with the error beside it
    replayed = [
        args
        for r in server.requests[1:]
        for args in (
            [c["function"]["arguments"] for m in r.body.get("messages", []) for c in m.get("tool_calls") or []]
            + [i["arguments"] for i in r.body.get("input", []) if i.get("type") == "function_call"]
        )
        if "_invalid_arguments" in args
    ]
    assert replayed and all("not a JSON object" in json.loads(a)["_invalid_arguments"] for a in replayed)
