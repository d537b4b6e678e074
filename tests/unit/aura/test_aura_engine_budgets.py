"""Must-show 3: a scripted model that loops forever is stopped by each budget and by the repeat
guard, each with a clear typed stop reason, and the history stays valid (no orphaned calls)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aura.providers import ModelInfo, OfflineProvider, PolicyState, ScriptedTurn
from aura.runtime import AgentEngine, Budgets, Prices, StopReason, find_orphans
from aura.runtime.events import Stopped, ToolEnd
from aura.tools import ToolRegistry, tool

executed: list[int] = []


@tool
def step(i: int) -> str:
    """Do one step."""
    executed.append(i)
    return f"step {i} done"


def forever_new_args(state: PolicyState) -> ScriptedTurn:
    """Never stops; each turn asks for two calls with fresh arguments (so only budgets can stop it)."""
    return ScriptedTurn(
        text="again", tool_calls=[("step", {"i": 2 * state.turn}), ("step", {"i": 2 * state.turn + 1})]
    )


def forever_same_call(state: PolicyState) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[("step", '{"i": 7}')])


def forever_malformed(state: PolicyState) -> ScriptedTurn:
    """The model keeps retrying a call whose JSON is broken: every retry is a tool call."""
    return ScriptedTurn(tool_calls=[("step", '{"i": ' + str(state.turn))])


def _run(
    policy: Any, budgets: Budgets, prices: Prices | None = None
) -> tuple[Stopped, AgentEngine[Any], list[Any]]:
    executed.clear()
    info = ModelInfo(provider="offline", model="loop", prices=prices or Prices())
    engine: AgentEngine[Any] = AgentEngine(
        OfflineProvider(policy=policy, info=info), ToolRegistry([step]), budgets=budgets
    )
    events: list[Any] = []
    stop = asyncio.run(engine.run_until_stopped("loop please", events.append))
    assert find_orphans(engine.messages) == []
    return stop, engine, events


def test_max_turns_stops_the_loop() -> None:
    stop, _, _ = _run(forever_new_args, Budgets(max_turns=5, max_tool_calls=None, max_identical_calls=None))
    assert stop.reason is StopReason.MAX_TURNS and stop.turns == 5 and "max_turns=5" in stop.detail
    assert executed == list(range(10))


def test_max_usd_stops_the_loop() -> None:
    prices = Prices(input_per_mtok=1_000.0, output_per_mtok=1_000.0)  # ~0.05-0.5 USD per offline turn
    stop, engine, _ = _run(
        forever_new_args,
        Budgets(max_turns=None, max_usd=1.0, max_tool_calls=None, max_identical_calls=None),
        prices,
    )
    assert stop.reason is StopReason.MAX_USD and "max_usd" in stop.detail
    assert stop.cost_usd >= 1.0 and stop.cost_usd == pytest.approx(engine.session_cost_usd)
    # the turn that crossed the limit had its calls answered as not executed, not run
    last = engine.messages[-1]
    assert last.kind == "tool_results" and all('"not_executed"' in r.content for r in last.tool_results)
    assert len(executed) == 2 * (stop.turns - 1)


def test_max_tool_calls_stops_the_loop_before_exceeding() -> None:
    stop, engine, _ = _run(
        forever_new_args, Budgets(max_turns=None, max_tool_calls=7, max_identical_calls=None)
    )
    assert stop.reason is StopReason.MAX_TOOL_CALLS
    assert stop.tool_calls == 6 and executed == list(range(6))  # a batch of 2 would make 8 > 7
    assert "max_tool_calls=7" in stop.detail


def test_failed_calls_retried_by_the_model_count_toward_max_tool_calls() -> None:
    stop, _, events = _run(
        forever_malformed, Budgets(max_turns=None, max_tool_calls=4, max_identical_calls=None)
    )
    assert stop.reason is StopReason.MAX_TOOL_CALLS and stop.tool_calls == 4
    errors = [e.error.kind for e in events if isinstance(e, ToolEnd)]
    assert errors == ["invalid_json"] * 4 and executed == []


def test_repeat_guard_stops_identical_calls() -> None:
    stop, engine, _ = _run(
        forever_same_call, Budgets(max_turns=None, max_tool_calls=None, max_identical_calls=3)
    )
    assert stop.reason is StopReason.REPEATED_CALL
    assert executed == [7, 7, 7] and stop.turns == 4
    assert 'step({"i": 7}) requested 4 times' in stop.detail


def test_repeat_guard_normalises_argument_order_and_spacing() -> None:
    variants = ['{"i": 1, "j": 2}', '{"j":2,"i":1}', '{ "i" : 1 , "j" : 2 }']

    @tool(name="pair")
    def pair(i: int, j: int) -> int:
        """Pair."""
        return i + j

    def policy(state: PolicyState) -> ScriptedTurn:
        return ScriptedTurn(tool_calls=[("pair", variants[state.turn % 3])])

    engine: AgentEngine[Any] = AgentEngine(
        OfflineProvider(policy=policy), ToolRegistry([pair]), budgets=Budgets(max_identical_calls=2)
    )
    stop = asyncio.run(engine.run_until_stopped("go"))
    assert stop.reason is StopReason.REPEATED_CALL and stop.turns == 3


def test_completed_when_the_model_stops_calling_tools() -> None:
    provider = OfflineProvider([ScriptedTurn(tool_calls=[("step", {"i": 1})]), ScriptedTurn(text="finished")])
    engine: AgentEngine[Any] = AgentEngine(provider, ToolRegistry([step]))
    stop = asyncio.run(engine.run_until_stopped("go"))
    assert (stop.reason, stop.final_text, stop.turns, stop.tool_calls) == (
        StopReason.COMPLETED,
        "finished",
        2,
        1,
    )
    assert engine.messages[-2].tool_results[0].content == "step 1 done"  # str results pass verbatim


def test_every_call_the_model_made_is_traced_even_when_refused(tmp_path: Any) -> None:
    from aura.runtime import SessionStore

    store = SessionStore(tmp_path)
    engine: AgentEngine[Any] = AgentEngine(
        OfflineProvider(policy=forever_new_args),
        ToolRegistry([step]),
        session=store.create("t"),
        budgets=Budgets(max_turns=None, max_tool_calls=5, max_identical_calls=None),
    )
    stop = asyncio.run(engine.run_until_stopped("go"))
    assert stop.reason is StopReason.MAX_TOOL_CALLS
    state = store.open("t").replay()
    issued = [c.id for m in state.messages for c in m.tool_calls]
    assert [t.tool_call_id for t in state.traces] == issued
    assert [t.error_kind for t in state.traces][-2:] == ["not_executed", "not_executed"]
