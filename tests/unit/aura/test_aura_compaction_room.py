"""Compaction always makes room: when a summary cannot bring the context under the threshold, oversized
messages become stubs that keep their ids; a forced compaction (`/compact`) acts or says why not; stubs
are persisted so a resumed session sees the same history; cancelled calls carry their real duration."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aura.providers import ModelInfo, OfflineProvider, ScriptedTurn
from aura.runtime import AgentEngine, CompactionPolicy, SessionStore, StopReason, find_orphans
from aura.runtime.compaction import stub_message
from aura.runtime.events import Compacted, EngineEvent, Stopped
from aura.runtime.messages import (
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    assistant_message,
    user_text,
)
from aura.runtime.tokens import estimate_message_tokens
from aura.tools import ToolRegistry, tool
from aura.tools.limits import ToolLimits

INFO = ModelInfo(provider="offline", model="m", context_window=20_000, max_output_tokens=1_000)


def test_stub_message_keeps_ids_roles_and_order() -> None:
    msg = Message(role="user", kind="tool_results", parts=(
        TextPart(text="t" * 10_000),
        ToolResultPart(tool_call_id="c1", name="f", content="r" * 10_000, is_error=True),
        ToolResultPart(tool_call_id="c2", name="g", content="short"),
    ))
    kept: list[str] = []
    stub = stub_message(msg, 500, lambda text: kept.append(text) or "out_0123456789abcdef")
    assert [type(p) for p in stub.parts] == [type(p) for p in msg.parts] and stub.kind == msg.kind
    r1, r2 = stub.tool_results
    assert (r1.tool_call_id, r1.name, r1.is_error) == ("c1", "f", True) and r2 == msg.parts[2]
    assert "[compacted: 10000 characters" in r1.content and 'output_id "out_0123456789abcdef"' in r1.content
    assert kept == ["r" * 10_000] and estimate_message_tokens(stub) < 700
    call = assistant_message("", [ToolCallPart(id="k", name="f", arguments=json.dumps({"s": "x" * 5_000}))])
    cstub = stub_message(call, 500)
    assert cstub.tool_calls[0].id == "k" and "_omitted" in json.loads(cstub.tool_calls[0].arguments)


def _engine(tmp_path: Path, script: list[ScriptedTurn], limits: ToolLimits | None = None,
            policy: CompactionPolicy | None = None) -> tuple[AgentEngine[Any], SessionStore]:
    @tool
    def huge(n: int) -> str:
        """n characters."""
        return "h" * n

    store = SessionStore(tmp_path)
    provider = OfflineProvider(script, info=INFO)
    reg = ToolRegistry([huge], limits=limits or ToolLimits(max_result_chars=1_000_000))
    return AgentEngine(provider, reg, session=store.create("s"), compaction=policy), store


def _run(engine: AgentEngine[Any], text: str) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    asyncio.run(engine.run_until_stopped(text, events.append))
    return events


def test_a_history_that_cannot_be_summarised_is_stubbed_instead_of_overflowing(tmp_path: Path) -> None:
    # One batch whose result alone is far over the window: nothing older to summarise.
    engine, store = _engine(tmp_path, [ScriptedTurn(tool_calls=[("huge", {"n": 200_000})]), ScriptedTurn(text="ok")])
    events = _run(engine, "go")
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
    comp = [e for e in events if isinstance(e, Compacted)]
    # only the request was older than the batch: summarising it cannot make room, the stub does
    assert len(comp) == 1 and comp[0].summarized_messages == 1 and comp[0].stubbed_messages == 1
    assert "go" in engine.messages[0].text  # the request is carried verbatim in the header
    assert comp[0].tokens_after < comp[0].threshold_tokens < comp[0].tokens_before
    assert find_orphans(engine.messages) == []
    assert store.open("s").replay().messages == list(engine.messages)  # the stub is persisted
    # The full text is still there, by the id the stub names.
    stubbed = engine.messages[2].tool_results[0].content
    oid = stubbed.split('output_id "', 1)[1].split('"', 1)[0]
    assert (tmp_path / "s.outputs" / f"{oid}.txt").read_text() == "h" * 200_000


def test_forced_compaction_acts_or_says_why_not(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path, [ScriptedTurn(text="hi")])
    _run(engine, "hello")
    why = engine.compaction_blocker()
    assert why is not None and why.startswith("nothing to compact: the history has 2 messages")

    async def compact() -> list[EngineEvent]:
        return [e async for e in engine.compact()]

    assert asyncio.run(compact()) == []  # and it really does nothing
    assert len(engine.messages) == 2

    script = [ScriptedTurn(text="answer " * 400) for _ in range(6)]
    engine2, store = _engine(tmp_path / "b", script)
    for k in range(6):
        _run(engine2, f"request {k}")
    assert engine2.compaction_blocker() is None
    evs = asyncio.run((lambda: _collect(engine2))())
    comp = [e for e in evs if isinstance(e, Compacted)]
    assert len(comp) == 1 and comp[0].summarized_messages > 0 and comp[0].summary_calls == 1
    assert engine2.messages[0].kind == "compaction"
    # Right after, the older part is only the snapshot: a second /compact says so.
    why2 = engine2.compaction_blocker()
    assert why2 is not None and why2.startswith("nothing to compact")


async def _collect(engine: AgentEngine[Any]) -> list[EngineEvent]:
    return [e async for e in engine.compact()]


def test_cancelled_calls_carry_their_real_duration(tmp_path: Path) -> None:
    started = asyncio.Event()

    @tool(timeout_s=None)
    async def hang() -> str:
        """Never finishes on its own."""
        started.set()
        await asyncio.sleep(3600)
        return "never"

    store = SessionStore(tmp_path)
    provider = OfflineProvider([ScriptedTurn(tool_calls=[("hang", {})])])
    engine: AgentEngine[Any] = AgentEngine(provider, ToolRegistry([hang]), session=store.create("c"))

    async def main() -> None:
        task = asyncio.create_task(engine.run_until_stopped("go"))
        await started.wait()
        await asyncio.sleep(0.3)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    traces = store.open("c").replay().traces
    assert [t.error_kind for t in traces] == ["cancelled"]
    assert 250 <= traces[0].duration_ms < 5_000  # the time it really ran, not 0


def test_per_call_durations_differ_within_a_batch(tmp_path: Path) -> None:
    @tool
    async def nap(s: float) -> str:
        """Sleep s seconds."""
        await asyncio.sleep(s)
        return "ok"

    provider = OfflineProvider([ScriptedTurn(tool_calls=[("nap", {"s": 0.02}), ("nap", {"s": 0.4})]),
                                ScriptedTurn(text="done")])
    engine: AgentEngine[Any] = AgentEngine(provider, ToolRegistry([nap]))
    events = _run(engine, "go")
    ends = [e for e in events if type(e).__name__ == "ToolEnd"]
    short, long = (e.trace.duration_ms for e in ends)  # type: ignore[attr-defined]
    assert short < 200 <= long


def test_user_text_stub_and_header_never_stubbed() -> None:
    from aura.runtime.compaction import stub_candidates

    msgs = [Message(role="user", kind="compaction", parts=(TextPart(text="s" * 40_000),)),
            user_text("u" * 40_000), assistant_message("a" * 100)]
    counts = [estimate_message_tokens(m) for m in msgs]
    assert stub_candidates(msgs, counts, CompactionPolicy()) == [1]


def test_an_oversized_request_with_nothing_before_it_is_cut_not_overflowed(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path, [ScriptedTurn(text="read it")])
    events = _run(engine, "q" * 200_000)
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
    comp = [e for e in events if isinstance(e, Compacted)]
    assert comp and comp[0].summarized_messages == 0 and comp[0].stubbed_messages == 1
    assert "[compacted: 200000 characters" in engine.messages[0].text


def test_a_session_saved_over_the_window_recovers_on_resume(tmp_path: Path) -> None:
    """A log written before the limits existed (a 2 MB result in the history) resumes on a small window:
    the first turn compacts (summary + stub) and the session goes on."""
    store = SessionStore(tmp_path)
    log = store.create("old")
    for m in (user_text("read the report"),
              assistant_message("", [ToolCallPart(id="r1", name="huge", arguments='{"n": 2000000}')]),
              Message(role="user", kind="tool_results",
                      parts=(ToolResultPart(tool_call_id="r1", name="huge", content="h" * 2_000_000),)),
              assistant_message("the report is long"), user_text("summarise it")):
        log.append_message(m)
    log.close()

    @tool
    def huge(n: int) -> str:
        """n characters."""
        return "h" * n

    provider = OfflineProvider([ScriptedTurn(text="here is the summary")], info=INFO)
    engine: AgentEngine[Any] = AgentEngine.resume(provider, ToolRegistry([huge]), store.open("old"))
    events = _run(engine, "go on")
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED and stop.final_text == "here is the summary"
    assert any(isinstance(e, Compacted) for e in events)
    turn_requests = [r for r in provider.requests if r.purpose == "turn"]
    assert all(sum(estimate_message_tokens(m) for m in r.messages) < INFO.context_window for r in turn_requests)
