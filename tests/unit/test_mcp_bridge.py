"""`McpBridge` budgets and traces, in process (the stdio round trip is tests/integration/cli/test_mcp_server.py)."""

from __future__ import annotations

import asyncio
import json

from aura.runtime.budgets import Budgets
from aura.runtime.sessions import SessionStore
from aura.tools import ToolRegistry, tool
from auraquant.mcp_server import McpBridge
from auraquant.workspace import Workspace


@tool
def echo(text: str) -> str:
    """Return the text."""
    return text


@tool(permission="human")
def promote(record_id: str) -> str:
    """A human-only tool: never listed to an MCP client, refused when called."""
    return record_id


def _bridge(workspace: Workspace, **budgets: int | None) -> McpBridge:
    return McpBridge(workspace, budgets=Budgets(**budgets), session_id="b1", registry=ToolRegistry([echo, promote]))


def test_tool_call_cap_refuses_without_executing_and_traces_it(workspace: Workspace) -> None:
    bridge = _bridge(workspace, max_tool_calls=2, max_identical_calls=None)
    results = [asyncio.run(bridge.call("echo", {"text": f"t{i}"})) for i in range(3)]
    assert [r.is_error for r in results] == [False, False, True]
    assert [r.text for r in results[:2]] == ["t0", "t1"]
    err = json.loads(results[2].text)["error"]
    assert err["kind"] == "not_executed" and "max_tool_calls=2" in err["message"]
    traces = SessionStore(workspace.sessions).open("b1").replay().traces
    assert [(t.tool, t.ok, t.error_kind) for t in traces] == [("echo", True, None), ("echo", True, None),
                                                               ("echo", False, "not_executed")]


def test_identical_calls_in_a_row_are_refused_as_a_loop_but_different_calls_reset(workspace: Workspace) -> None:
    bridge = _bridge(workspace, max_tool_calls=None, max_identical_calls=2)
    same = [asyncio.run(bridge.call("echo", {"text": "x"})) for _ in range(3)]
    assert [r.is_error for r in same] == [False, False, True]
    assert "max_identical_calls=2" in json.loads(same[2].text)["error"]["message"]
    # key order does not make a call different; another call in between does
    assert asyncio.run(bridge.call("echo", {"text": "y"})).is_error is False
    assert asyncio.run(bridge.call("echo", {"text": "x"})).is_error is False


def test_human_only_tools_are_hidden_and_refused(workspace: Workspace) -> None:
    bridge = _bridge(workspace)
    assert [t.name for t in bridge.tools()] == ["echo"]
    res = asyncio.run(bridge.call("promote", {"record_id": "rec_1"}))
    assert res.is_error and json.loads(res.text)["error"]["kind"] == "permission_denied"
    assert bridge.tools()[0].input_schema == echo.schema.parameters


def test_exclusive_tools_run_alone_while_others_overlap(workspace: Workspace) -> None:
    log: list[str] = []

    @tool
    async def slow(tag: str) -> str:
        """Record start and end around a pause."""
        log.append(f"start {tag}")
        await asyncio.sleep(0.05)
        log.append(f"end {tag}")
        return tag

    @tool(exclusive=True)
    async def alone(tag: str) -> str:
        """Exclusive: must not overlap any other call."""
        log.append(f"start {tag}")
        await asyncio.sleep(0.05)
        log.append(f"end {tag}")
        return tag

    bridge = McpBridge(workspace, budgets=Budgets(max_tool_calls=None, max_identical_calls=None),
                       session_id="x1", registry=ToolRegistry([slow, alone]))

    async def scenario() -> None:
        await asyncio.gather(bridge.call("slow", {"tag": "a"}), bridge.call("slow", {"tag": "b"}),
                             bridge.call("alone", {"tag": "X"}), bridge.call("slow", {"tag": "c"}))

    asyncio.run(scenario())
    assert log[:2] == ["start a", "start b"]  # non-exclusive calls overlap
    i = log.index("start X")
    assert log[i + 1] == "end X"  # nothing started or ended while the exclusive call ran
    assert set(log) == {f"{e} {t}" for e in ("start", "end") for t in "abXc"}
    traces = SessionStore(workspace.sessions).open("x1").replay().traces
    # each overlapping call keeps its own number in its trace
    assert {t.turn: json.loads(t.arguments)["tag"] for t in traces} == {1: "a", 2: "b", 3: "X", 4: "c"}
    assert all(t.tool_call_id == f"mcp-{t.turn}" for t in traces)
