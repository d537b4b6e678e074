"""`tool_output_get`: the model's way back to the part of a tool output that a size cap cut off
(see `aura.tools.limits`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from aura.tools.errors import ToolFailure
from aura.tools.registry import Tool, ToolRegistry, tool

#: characters one `tool_output_get` call returns at most (kept under the default result cap, so a
#: page is never itself cut)
PAGE_CHARS = 20_000


class OutputSlice(BaseModel):
    output_id: str
    offset: int
    text: str
    total_chars: int
    #: where the next page starts; null when this page reaches the end
    next_offset: int | None


def output_tools(registry: ToolRegistry) -> list[Tool]:
    """`tool_output_get(output_id, offset, length)` bound to `registry`'s output store."""

    @tool(name="tool_output_get", category="meta", timeout_s=10)
    def tool_output_get(
        output_id: str = Field(pattern=r"^out_[0-9a-f]{16}$"),
        offset: int = Field(0, ge=0),
        length: int = Field(PAGE_CHARS, ge=1, le=PAGE_CHARS),
    ) -> OutputSlice:
        """Read part of a tool output that was truncated: the note at the end of a cut result names its
        output_id and the offset where the cut started. Returns up to `length` characters from `offset`
        and the offset of the next page (null at the end)."""
        page = registry.outputs.page(output_id, offset, length)
        if page is None:
            raise ToolFailure(
                f"no stored output {output_id!r} in this session; use the output_id from a truncation note"
            )
        return OutputSlice(
            output_id=page.output_id,
            offset=page.offset,
            text=page.text,
            total_chars=page.total_chars,
            next_offset=page.next_offset,
        )

    return [tool_output_get]
