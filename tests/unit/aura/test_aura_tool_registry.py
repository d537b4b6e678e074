"""Typed tool registry: schemas from signatures, permissions, pre-flight, timeouts, structured errors."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, Field

from aura.tools import ToolContext, ToolFailure, ToolOutcome, ToolRegistry, disclosure_tools, tool


@dataclass
class Workspace:
    name: str
    calls: list[str]


class SearchIn(BaseModel):
    query: str = Field(description="what to look for")
    limit: int = Field(5, ge=1, le=50)


class Hit(BaseModel):
    id: str
    score: float


@tool(category="search", timeout_s=2)
def search(ctx: ToolContext[Workspace], args: SearchIn) -> list[Hit]:
    """Search the workspace.

    Returns at most `limit` hits, best first."""
    ctx.deps.calls.append(args.query)
    return [Hit(id=f"{ctx.deps.name}-{i}", score=1.0 / (i + 1)) for i in range(args.limit)]


@tool(name="add", category="math")
async def add_numbers(a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


@tool(category="admin", permission="human")
def approve(ctx: ToolContext[Workspace], target: str) -> str:
    """Approve a release (a human decision)."""
    return f"approved {target}"


def _no_weekend(ctx: ToolContext[Any], args: BaseModel) -> str | None:
    return "markets are closed" if args.day in ("sat", "sun") else None


async def _async_check(ctx: ToolContext[Any], args: BaseModel) -> str | None:
    await asyncio.sleep(0)
    return None


@tool(category="trade", preflight=[_async_check, _no_weekend])
def trade(ctx: ToolContext[Workspace], day: str) -> str:
    """Place a trade."""
    ctx.deps.calls.append(f"trade {day}")
    return "filled"


@tool(timeout_s=0.05)
async def slow_async() -> str:
    """Too slow."""
    await asyncio.sleep(5)
    return "never"


@tool(timeout_s=0.05)
def slow_sync() -> str:
    """Too slow, blocking."""
    time.sleep(0.5)
    return "never"


@tool
def broken(x: int) -> int:
    """Raises."""
    raise ZeroDivisionError("boom")


@tool
def refuses(x: int) -> int:
    """Fails on purpose with a message for the model."""
    raise ToolFailure("x must be even", details={"x": x})


@tool
def wrong_type() -> int:
    """Declares int, returns a string that is not one."""
    return "not a number"  # type: ignore[return-value]


@tool
def no_params() -> str:
    """Takes nothing."""
    return "ok"


ALL = [search, add_numbers, approve, trade, slow_async, slow_sync, broken, refuses, wrong_type, no_params]


def _call(name: str, args: Any, caller: str = "agent") -> tuple[ToolOutcome, Workspace]:
    ws = Workspace(name="ws", calls=[])
    ctx: ToolContext[Workspace] = ToolContext(deps=ws, session_id="s", caller=caller)  # type: ignore
    return asyncio.run(ToolRegistry(ALL).call(name, args, ctx)), ws


def test_schema_from_pydantic_model_and_from_plain_parameters() -> None:
    reg = ToolRegistry(ALL)
    s = {t.name: t for t in reg.schemas()}
    assert s["search"].description == "Search the workspace."
    assert s["search"].parameters["properties"]["query"]["description"] == "what to look for"
    assert s["search"].parameters["required"] == ["query"]
    assert s["add"].parameters["properties"]["b"]["default"] == 1
    assert s["add"].parameters["required"] == ["a"]
    assert s["add"].parameters["additionalProperties"] is False
    assert s["no_params"].parameters == {"additionalProperties": False, "properties": {}, "type": "object"}
    assert reg.get("search").output_schema["type"] == "array"  # type: ignore[union-attr]


def test_export_formats() -> None:
    reg = ToolRegistry(ALL)
    a = {t["name"]: t for t in reg.export("anthropic")}
    o = {t["function"]["name"]: t for t in reg.export("openai_chat")}
    r = {t["name"]: t for t in reg.export("openai_responses")}
    assert set(a["add"]) == {"name", "description", "input_schema"}
    assert o["add"]["type"] == "function" and o["add"]["function"]["parameters"] == a["add"]["input_schema"]
    assert r["add"] == {
        "type": "function",
        "name": "add",
        "description": "Add two integers.",
        "parameters": a["add"]["input_schema"],
    }
    assert "approve" not in a and "approve" in {t["name"] for t in reg.export("anthropic", caller="human")}
    assert [t["name"] for t in reg.export("anthropic", categories=["math"])] == ["add"]


def test_listing_by_category_and_reference_text() -> None:
    reg = ToolRegistry(ALL)
    cats = reg.categories()
    assert cats["search"] == ["search"] and cats["admin"] == ["approve"]
    assert [t.name for t in reg.tools("math")] == ["add"]
    ref = reg.reference("search")
    assert "Returns at most `limit` hits" in ref and "## Input schema" in ref and "## Output schema" in ref


def test_successful_calls_sync_and_async_with_deps() -> None:
    out, ws = _call("search", '{"query": "trend", "limit": 2}')
    assert out.ok and json.loads(out.content) == [{"id": "ws-0", "score": 1.0}, {"id": "ws-1", "score": 0.5}]
    assert ws.calls == ["trend"]
    out, _ = _call("add", {"a": 2, "b": 3})
    assert out.ok and out.content == "5" and out.value == 5
    out, _ = _call("no_params", "")  # some servers send "" for a call without arguments
    assert out.ok and out.content == "ok"


@pytest.mark.parametrize(
    ("name", "args", "kind"),
    [
        ("nope", "{}", "unknown_tool"),
        ("add", '{"a": 1', "invalid_json"),
        ("add", "[1, 2]", "invalid_json"),
        ("add", '{"a": "x"}', "invalid_arguments"),
        ("add", '{"a": 1, "c": 2}', "invalid_arguments"),
        ("search", '{"query": "q", "limit": 99}', "invalid_arguments"),
        ("approve", '{"target": "v1"}', "permission_denied"),
        ("trade", '{"day": "sun"}', "preflight_failed"),
        ("slow_async", "{}", "timeout"),
        ("slow_sync", "{}", "timeout"),
        ("broken", '{"x": 1}', "exception"),
        ("refuses", '{"x": 1}', "tool_failed"),
        ("wrong_type", "{}", "exception"),
    ],
)
def test_failures_are_structured_tool_errors(name: str, args: str, kind: str) -> None:
    out, ws = _call(name, args)
    assert not out.ok and out.error is not None and out.error.kind == kind
    payload = json.loads(out.content)["error"]
    assert payload["kind"] == kind and payload["tool"] == name and payload["message"]
    assert ws.calls == []  # nothing ran past a failed check


def test_error_details_are_precise() -> None:
    out, _ = _call("add", '{"a": "x"}')
    assert out.error is not None and out.error.details[0]["loc"] == ["a"]
    out, _ = _call("refuses", '{"x": 3}')
    assert out.error is not None and out.error.message == "x must be even" and out.error.details == {"x": 3}
    out, _ = _call("trade", '{"day": "sat"}')
    assert out.error is not None and out.error.message == "markets are closed"


def test_human_only_tool_runs_for_a_human_and_preflight_passes_on_weekdays() -> None:
    out, _ = _call("approve", '{"target": "v1"}', caller="human")
    assert out.ok and out.content == "approved v1"
    out, ws = _call("trade", '{"day": "mon"}')
    assert out.ok and ws.calls == ["trade mon"]


def test_registration_rules() -> None:
    reg = ToolRegistry([add_numbers])
    with pytest.raises(ValueError, match="already registered"):
        reg.register(add_numbers)
    with pytest.raises(TypeError, match="decorate it"):
        reg.register(lambda: 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a type annotation"):
        tool(lambda x: x)


def test_disclosure_tools_browse_the_registry() -> None:
    reg = ToolRegistry(ALL)
    reg.register(*disclosure_tools(reg))
    ctx: ToolContext[None] = ToolContext(deps=None)
    listed = asyncio.run(reg.call("list_tools", '{"category": "math"}', ctx))
    assert json.loads(listed.content) == [{"name": "add", "category": "math", "summary": "Add two integers."}]
    ref = asyncio.run(reg.call("tool_reference", '{"name": "search"}', ctx))
    assert ref.ok and ref.content == reg.reference("search")
    hidden = asyncio.run(reg.call("tool_reference", '{"name": "approve"}', ctx))
    assert hidden.error is not None and hidden.error.kind == "tool_failed"
