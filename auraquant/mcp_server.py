"""`auraquant mcp`: the CTA tool registry served over the Model Context Protocol (official `mcp` SDK, stdio).

An MCP client (Claude Code, Claude Desktop, Cursor, Codex…) gets exactly what the built-in agent gets:
- the same tools with the same typed input schemas (`ToolRegistry.schemas(caller="agent")`); human-only tools
  are not listed and a call to one is refused by the registry (`permission_denied`). There is no tool that
  approves, rejects or promotes anything: `approval_request` asks a person, who runs `auraquant approve ID`;
- every call goes through `ToolRegistry.call` (argument validation, pre-flight steps, timeouts), and a failed
  call is a tool result with `isError` and the registry's structured error, never a protocol error; calls
  may overlap (clients send them concurrently) except `exclusive` tools, which run alone, as in the engine;
- every call, refused or not, is recorded as a `RunTrace` in a session log of the workspace
  (`.aura/sessions/<id>.jsonl`, meta `"kind": "mcp"`), so `run_trace_query` and `budget_status` see it;
- budgets of the server session (one server process): at most `max_tool_calls` calls (the call that would
  exceed it is not executed), and one call (same tool, same canonicalised arguments) repeated back to back
  more than `max_identical_calls` times is refused as a loop. Model cost is the client's, not counted here.

`McpBridge` holds the registry, context, budgets and log and is transport-independent; `serve_stdio` binds it
to the SDK's low-level server on stdin/stdout.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import mcp_types as types
import typer
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from aura.runtime.budgets import Budgets, call_key
from aura.runtime.sessions import SessionLog, SessionStore
from aura.runtime.trace import RunTrace, summarize_result
from aura.tools import ToolContext, ToolError, ToolRegistry
from auraquant import __version__
from auraquant.cta.tools.deps import ResearchDeps, ResearchLimits
from auraquant.cta.tools.registry import build_registry
from auraquant.workspace import Workspace

SERVER_NAME = "auraquant"
#: The model field of the traces: the client's model is unknown to the server.
TRACE_MODEL = "mcp-client"


@dataclass(frozen=True)
class CallResult:
    """One served call: the text the client's model reads and whether it is an error."""

    text: str
    is_error: bool


class McpBridge:
    """The registry of one workspace as an MCP tool provider (see the module docstring for the guarantees)."""

    def __init__(self, workspace: Workspace, *, budgets: Budgets | None = None, session_id: str | None = None,
                 registry: ToolRegistry | None = None) -> None:
        self.workspace = workspace
        self.budgets = budgets or Budgets()
        self.registry = registry or build_registry()
        self.log: SessionLog = SessionStore(workspace.sessions).create(
            session_id, {"kind": "mcp", "model": TRACE_MODEL, "server": f"{SERVER_NAME} {__version__}",
                         "max_tool_calls": self.budgets.max_tool_calls,
                         "max_identical_calls": self.budgets.max_identical_calls})
        limits = ResearchLimits(max_tool_calls=self.budgets.max_tool_calls)
        self.deps = ResearchDeps(workspace=workspace, model_id=TRACE_MODEL, limits=limits)
        self.calls = 0
        self._last_key: str | None = None
        self._repeats = 0
        # As in the engine, an `exclusive` tool runs alone: it waits for calls in flight and holds new ones.
        self._gate = asyncio.Condition()
        self._running = 0
        self._exclusive_running = False

    @property
    def session_id(self) -> str:
        return self.log.session_id

    def tools(self) -> list[types.Tool]:
        """The tools an agent may call, with the registry's own names, descriptions and input schemas."""
        return [types.Tool(name=s.name, description=s.description, input_schema=s.parameters)
                for s in self.registry.schemas(caller="agent")]

    def _refusal(self, name: str, key: str) -> str | None:
        """Why the budget refuses this call (it is then not executed), or None."""
        cap = self.budgets.max_tool_calls
        if cap is not None and self.calls >= cap:
            return (f"not executed: this MCP session made {self.calls} tool calls, max_tool_calls={cap}; "
                    "a person can restart `auraquant mcp` with a larger --max-tool-calls")
        limit = self.budgets.max_identical_calls
        if limit is not None and key == self._last_key and self._repeats >= limit:
            return (f"not executed: {name} was called {self._repeats} times in a row with identical arguments "
                    f"(max_identical_calls={limit}); change the arguments or do the step the result asks for")
        return None

    async def call(self, name: str, arguments: dict[str, Any] | None) -> CallResult:
        """Run one call through the registry under the session's budgets, and trace it."""
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        args = dict(arguments or {})
        key = call_key(name, _canonical_args(args))
        refusal = self._refusal(name, key)
        self.calls += 1
        n = self.calls  # this call's number: calls may overlap, so it is captured before any await
        self._repeats = self._repeats + 1 if key == self._last_key else 1
        self._last_key = key
        if refusal is not None:
            text = ToolError(tool=name, kind="not_executed", message=refusal).to_model_text()
            self._trace(n, name, args, ok=False, kind="not_executed", text=text, duration_s=0.0, started=started)
            return CallResult(text, True)
        ctx = ToolContext(deps=self.deps, session_id=self.session_id, caller="agent",
                          tool_call_id=f"mcp-{n}", turn=n)
        t = self.registry.get(name)
        exclusive = t is not None and t.exclusive
        await self._enter(exclusive)
        try:
            out = await self.registry.call(name, args, ctx)
        finally:
            await self._leave(exclusive)
        self._trace(n, name, args, ok=out.ok, kind=out.error.kind if out.error else None, text=out.content,
                    duration_s=out.duration_s, started=started)
        return CallResult(out.content, not out.ok)

    async def _enter(self, exclusive: bool) -> None:
        async with self._gate:
            if exclusive:
                await self._gate.wait_for(lambda: self._running == 0 and not self._exclusive_running)
                self._exclusive_running = True
            else:
                await self._gate.wait_for(lambda: not self._exclusive_running)
            self._running += 1

    async def _leave(self, exclusive: bool) -> None:
        async with self._gate:
            self._running -= 1
            if exclusive:
                self._exclusive_running = False
            self._gate.notify_all()

    def _trace(self, n: int, name: str, args: dict[str, Any], *, ok: bool, kind: str | None, text: str,
               duration_s: float, started: str) -> None:
        self.log.append_trace(RunTrace(
            session_id=self.session_id, turn=n, tool_call_id=f"mcp-{n}", tool=name,
            arguments=_canonical_args(args), ok=ok, error_kind=kind, duration_ms=round(duration_s * 1000.0, 3),
            result_summary=summarize_result(text), model=TRACE_MODEL, input_tokens=0, output_tokens=0,
            cost_usd=0.0, started_at=started))

    def close(self) -> None:
        """Cancel queued background jobs (a running experiment finishes its window; it is resumable)."""
        self.deps.jobs.close()
        self.log.close()


def _canonical_args(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def instructions(workspace: Workspace) -> str:
    """What the client's model is told on connect: the workspace's project contract (AGENTS.md)."""
    from auraquant.cta.research.loop import load_layers

    return (f"AuraQuant research tools on the workspace {workspace.root}. Start with list_tools and "
            "tool_reference; approval to production is human only (a person runs `auraquant approve ID`).\n\n"
            + load_layers(workspace).agents_md)


def build_server(bridge: McpBridge) -> Server[Any]:
    """The SDK's low-level server with the bridge's tools/list and tools/call handlers."""

    async def list_tools(_ctx: Any, _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=bridge.tools())

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        res = await bridge.call(params.name, params.arguments)
        return types.CallToolResult(content=[types.TextContent(text=res.text)], is_error=res.is_error)

    return Server(SERVER_NAME, version=__version__, instructions=instructions(bridge.workspace),
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def serve_stdio(bridge: McpBridge) -> None:
    """Serve until the client closes stdin."""
    server = build_server(bridge)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        bridge.close()


def mcp_command(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")] = Path("."),
    max_tool_calls: Annotated[int, typer.Option(min=0, help="Tool calls this server session may make "
                                                "(0 = unlimited).")] = Budgets().max_tool_calls or 0,
    max_identical_calls: Annotated[int, typer.Option(min=0, help="Identical calls in a row before they are "
                                                     "refused as a loop (0 = unlimited).")]
    = Budgets().max_identical_calls or 0,
    session_id: Annotated[str | None, typer.Option(help="Session log id (default: a new timestamped id).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Report start-up errors as JSON (stdout is the "
                                           "protocol once serving).")] = False,
) -> None:
    """Serve the research tools over the Model Context Protocol (stdio) for Claude Code, Claude Desktop, Cursor or Codex.

    Same typed tools, pre-flight checks, traces and human-only approval as `chat`; see `auraquant.mcp_server`."""
    ws = Workspace.open(workspace)
    budgets = Budgets(max_tool_calls=max_tool_calls or None, max_identical_calls=max_identical_calls or None)
    bridge = McpBridge(ws, budgets=budgets, session_id=session_id)
    asyncio.run(serve_stdio(bridge))
