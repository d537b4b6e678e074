"""Typed tool registry: `@tool`, `ToolRegistry`, `ToolContext`, `ToolError`."""

from aura.tools.context import ToolContext
from aura.tools.disclosure import disclosure_tools
from aura.tools.errors import ToolError, ToolFailure
from aura.tools.registry import Tool, ToolOutcome, ToolRegistry, tool
from aura.tools.schema import ToolSchema

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolFailure",
    "ToolOutcome",
    "ToolRegistry",
    "ToolSchema",
    "disclosure_tools",
    "tool",
]
