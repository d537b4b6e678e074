"""Tool batches: independent calls run together, exclusive calls alone, cancellation saves state."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from aura.providers import OfflineProvider, PolicyState, ScriptedTurn
from aura.runtime import AgentEngine, SessionStore, StopReason, find_orphans
from aura.runtime.events import ToolEnd, ToolStart
from aura.tools import ToolContext, ToolRegistry, tool


class Tracker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.overlaps: dict[str, set[str]] = {}

    def enter(self, name: str) -> None:
        with self.lock:
            self.overlaps.setdefault(name, set()).update(self.active)
            for other in self.active:
                self.overlaps.setdefault(other, set()).add(name)
            self.active.add(name)

    def leave(self, name: str) -> None:
        with self.lock:
            self.active.discard(name)


@tool(timeout_s=5)
def blocking(ctx: ToolContext[Tracker], tag: str) -> str:
    """A blocking (sync) tool."""
    ctx.deps.enter(tag)
    time.sleep(0.4)  # long enough that batch-mates overlap on a loaded machine
    ctx.deps.leave(tag)
    return tag


@tool(exclusive=True, timeout_s=5)
async def migrate(ctx: ToolContext[Tracker], tag: str) -> str:
    """Must run alone."""
    ctx.deps.enter(tag)
    await asyncio.sleep(0.1)
    ctx.deps.leave(tag)
    return tag


def test_sync_tools_overlap_and_exclusive_tools_run_alone() -> None:
    calls = [
        ("blocking", {"tag": "a"}),
        ("blocking", {"tag": "b"}),
        ("migrate", {"tag": "X"}),
        ("blocking", {"tag": "c"}),
        ("blocking", {"tag": "d"}),
        ("blocking", {"tag": "e"}),
    ]
    tracker = Tracker()
    engine: AgentEngine[Tracker] = AgentEngine(
        OfflineProvider([ScriptedTurn(tool_calls=calls)]), ToolRegistry([blocking, migrate]), deps=tracker
    )
    events: list[Any] = []
    stop = asyncio.run(engine.run_until_stopped("go", events.append))
    assert stop.reason is StopReason.COMPLETED
    assert tracker.overlaps["a"] == {"b"} and tracker.overlaps["c"] == {"d", "e"}
    assert tracker.overlaps["X"] == set()  # nothing ran next to the exclusive tool
    order = [(type(e).__name__, e.name) for e in events if isinstance(e, ToolStart | ToolEnd)]
    assert order.index(("ToolEnd", "migrate")) < order.index(("ToolStart", "blocking"), 4)
    # results come back in the model's order regardless of completion order
    assert [r.content for r in engine.messages[-2].tool_results] == ["a", "b", "X", "c", "d", "e"]


def test_cancellation_mid_batch_saves_state(tmp_path: Any) -> None:
    started = asyncio.Event()

    @tool
    def quick(n: int) -> int:
        """Fast."""
        return n

    @tool(timeout_s=None)
    async def hang() -> str:
        """Never finishes on its own."""
        started.set()
        await asyncio.sleep(3600)
        return "never"

    store = SessionStore(tmp_path)
    provider = OfflineProvider([ScriptedTurn(tool_calls=[("quick", {"n": 1}), ("hang", {})])])
    engine: AgentEngine[Any] = AgentEngine(provider, ToolRegistry([quick, hang]), session=store.create("c"))

    async def main() -> None:
        task = asyncio.create_task(engine.run_until_stopped("go"))
        await started.wait()
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return
        raise AssertionError("the run swallowed the cancellation")

    asyncio.run(main())
    assert engine.last_stop is not None and engine.last_stop.reason is StopReason.INTERRUPTED
    results = engine.messages[-1].tool_results
    assert (results[0].content, results[0].is_error) == ("1", False)
    assert results[1].is_error and '"cancelled"' in results[1].content
    state = store.open("c").replay()
    assert state.messages == list(engine.messages) and find_orphans(state.messages) == []
    assert state.stops[-1]["reason"] == "interrupted"


def test_policy_hook_drives_tools_without_an_llm() -> None:
    """A program plays the model: it reads tool results and decides the next call."""
    seen: list[str] = []

    @tool
    def count_to(n: int) -> int:
        """Echo n."""
        return n

    def policy(state: PolicyState) -> ScriptedTurn:
        last = state.last_message
        if last is not None and last.tool_results:
            seen.append(last.tool_results[0].content)
            value = int(last.tool_results[0].content)
            if value >= 3:
                return ScriptedTurn(text=f"reached {value}")
            return ScriptedTurn(tool_calls=[("count_to", {"n": value + 1})])
        return ScriptedTurn(tool_calls=[("count_to", {"n": 1})])

    engine: AgentEngine[Any] = AgentEngine(OfflineProvider(policy=policy), ToolRegistry([count_to]))
    stop = asyncio.run(engine.run_until_stopped("count"))
    assert (stop.reason, stop.final_text, seen) == (StopReason.COMPLETED, "reached 3", ["1", "2", "3"])
