"""Progressive disclosure: meta tools that let the model browse a large registry on demand instead of
reading every tool's full reference up front, and read the rest of a truncated tool output."""

from __future__ import annotations

from pydantic import BaseModel

from aura.tools.errors import ToolFailure
from aura.tools.outputs import output_tools
from aura.tools.registry import Tool, ToolRegistry, tool


class ToolSummary(BaseModel):
    name: str
    category: str
    summary: str


def disclosure_tools(registry: ToolRegistry) -> list[Tool]:
    """`list_tools(category)`, `tool_reference(name)` and `tool_output_get(output_id, offset)` bound to
    `registry` (register them into it)."""

    @tool(name="list_tools", category="meta", timeout_s=5)
    def list_tools(category: str | None = None) -> list[ToolSummary]:
        """List available tools, optionally of one category, with a one-line summary each.

        Categories: call with no argument to see every tool grouped by category."""
        return [
            ToolSummary(name=t.name, category=t.category, summary=t.description)
            for t in registry.tools(category=category)
        ]

    @tool(name="tool_reference", category="meta", timeout_s=5)
    def tool_reference(name: str) -> str:
        """Full reference of one tool: its documentation, input schema and output schema."""
        t = registry.get(name)
        if t is None or t.permission != "agent":
            raise ToolFailure(f"no agent tool named {name!r}; call list_tools to see them")
        return t.reference()

    return [list_tools, tool_reference, *output_tools(registry)]
