"""Typed tool registry: `@tool`, `ToolRegistry`, `ToolContext`, `ToolError`, `ToolLimits`."""

from aura.tools.context import ToolContext
from aura.tools.disclosure import disclosure_tools
from aura.tools.errors import ToolError, ToolFailure
from aura.tools.limits import ToolLimits
from aura.tools.outputs import output_tools
from aura.tools.registry import Tool, ToolOutcome, ToolRegistry, tool
from aura.tools.schema import ToolSchema

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolFailure",
    "ToolLimits",
    "ToolOutcome",
    "ToolRegistry",
    "ToolSchema",
    "disclosure_tools",
    "output_tools",
    "tool",
]
