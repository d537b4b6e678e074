"""Must-show 1: the real `anthropic` and `openai` SDKs against local servers speaking the real
streaming formats — concurrent tool batches, malformed arguments, 429/500/timeouts/dropped streams."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aura_wire_helpers import emulator_for, provider_for

from aura.runtime import AgentEngine, Budgets, RetryPolicy, StopReason
from aura.runtime.events import EngineEvent, Retrying, Stopped, ToolEnd
from aura.tools import ToolRegistry, tool
from tests.support.llm_emulators import Drop, Fail, ScriptBrain, Stall, Turn

FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_attempts=4)


def _run(
    provider: Any, registry: ToolRegistry, request: str = "go"
) -> tuple[AgentEngine[Any], list[EngineEvent]]:
    engine: AgentEngine[Any] = AgentEngine(
        provider, registry, retry=FAST_RETRY, budgets=Budgets(max_turns=10)
    )
    events: list[EngineEvent] = []

    async def main() -> None:
        try:
            await engine.run_until_stopped(request, events.append)
        finally:
            await provider.aclose()

    asyncio.run(main())
    return engine, events


def _results_in_request(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results of a request body, normalised to {id, content, is_error}."""
    if kind == "anthropic":
        return [
            {"id": b["tool_use_id"], "content": b["content"], "is_error": b.get("is_error", False)}
            for m in body["messages"]
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_result"
        ]
    if kind == "openai_chat":
        return [
            {"id": m["tool_call_id"], "content": m["content"], "is_error": "error" in m["content"]}
            for m in body["messages"]
            if m["role"] == "tool"
        ]
    return [
        {"id": i["call_id"], "content": i["output"], "is_error": "error" in i["output"]}
        for i in body["input"]
        if i.get("type") == "function_call_output"
    ]


def test_tool_calls_of_one_turn_run_concurrently(kind: str) -> None:
    spans: dict[str, tuple[float, float]] = {}
    barrier: dict[str, asyncio.Barrier] = {}

    @tool(timeout_s=3.0)
    async def probe(tag: str) -> str:
        """Wait until all three probes are running at the same time."""
        start = time.perf_counter()
        # A barrier of 3 only opens if the three calls are in flight together: run one after the
        # other, the first would wait forever and fail with a timeout.
        await barrier.setdefault("b", asyncio.Barrier(3)).wait()
        spans[tag] = (start, time.perf_counter())
        return f"probe {tag} passed"

    calls = tuple(("probe", json.dumps({"tag": t})) for t in "abc")
    with emulator_for(kind, ScriptBrain([Turn(text="checking", tool_calls=calls)])) as server:
        engine, events = _run(provider_for(kind, server.url), ToolRegistry([probe]))

    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED and stop.final_text == "all done"
    ends = [e for e in events if isinstance(e, ToolEnd)]
    assert [e.ok for e in ends] == [True, True, True], [e.content for e in ends]
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())  # all overlapped
    results = _results_in_request(kind, server.requests[1].body)
    assert sorted(r["content"] for r in results) == ["probe a passed", "probe b passed", "probe c passed"]
    assert server.rejections == []


def test_malformed_tool_arguments_return_a_tool_error(kind: str) -> None:
    ran: list[str] = []

    @tool
    def echo(tag: str) -> str:
        """Echo a tag."""
        ran.append(tag)
        return tag

    bad = '{"tag": "x",'
    with emulator_for(
        kind, ScriptBrain([Turn(tool_calls=(("echo", bad), ("echo", '{"tag": "ok"}')))])
    ) as server:
        engine, events = _run(provider_for(kind, server.url), ToolRegistry([echo]))

    assert isinstance(events[-1], Stopped) and events[-1].reason is StopReason.COMPLETED
    ends = [e for e in events if isinstance(e, ToolEnd)]
    assert ends[0].error is not None and ends[0].error.kind == "invalid_json"
    assert ends[1].ok and ran == ["ok"]  # the bad call never reached the function
    results = _results_in_request(kind, server.requests[1].body)
    assert results[0]["is_error"] and "invalid_json" in results[0]["content"]
    assert results[1] == {"id": results[1]["id"], "content": "ok", "is_error": False}
    assert engine.messages[1].tool_calls[0].arguments == bad  # kept verbatim in history
    assert server.rejections == []


FAILURES = {
    "429": Fail(429, "rate_limit_error", "slow down", retry_after=0.01),
    "500": Fail(500, "api_error", "internal error"),
    "529": Fail(529, "overloaded_error", "overloaded"),
    "dropped_reset": Drop(after_events=4),
    "dropped_clean_eof": Drop(after_events=4, clean_eof=True),
    "timeout": Stall(1.5),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_retryable_failure_then_success(kind: str, failure: str) -> None:
    @tool
    def echo(tag: str) -> str:
        """Echo a tag."""
        return tag

    script = [FAILURES[failure], Turn(text="recovered", tool_calls=(("echo", '{"tag": "t"}'),))]
    with emulator_for(kind, ScriptBrain(script, then=Turn(text="finished"))) as server:
        timeout = 0.5 if failure == "timeout" else 5.0
        engine, events = _run(provider_for(kind, server.url, timeout_s=timeout), ToolRegistry([echo]))

    retries = [e for e in events if isinstance(e, Retrying)]
    assert len(retries) == 1, retries
    expected = {
        "429": "429",
        "500": "500",
        "529": "529",
        "dropped_reset": "dropped",
        "dropped_clean_eof": "dropped",
        "timeout": "timeout",
    }[failure]
    assert expected in retries[0].error.lower()
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED and stop.final_text == "finished"
    assert len(server.requests) == 3  # failed attempt, retry, turn after the tool
    assert server.requests[0].body == server.requests[1].body  # the retry resends the same turn
    history = "".join(m.text for m in engine.messages)
    assert "will be lost" not in history  # the partial text of a dropped stream is discarded
    assert [m.role for m in engine.messages] == ["user", "assistant", "user", "assistant"]


def test_non_retryable_error_stops_with_provider_error(kind: str) -> None:
    with emulator_for(kind, ScriptBrain([Fail(400, "invalid_request_error", "bad request")])) as server:
        _, events = _run(provider_for(kind, server.url), ToolRegistry())
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.PROVIDER_ERROR and "400" in stop.detail
    assert len(server.requests) == 1


def test_retries_exhausted_stop_with_provider_error(kind: str) -> None:
    brain = ScriptBrain([], then=Fail(503, "api_error", "unavailable"))
    with emulator_for(kind, brain) as server:
        _, events = _run(provider_for(kind, server.url), ToolRegistry())
    assert isinstance(events[-1], Stopped) and events[-1].reason is StopReason.PROVIDER_ERROR
    assert len(server.requests) == FAST_RETRY.max_attempts
