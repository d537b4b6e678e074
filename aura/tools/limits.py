"""Size limits on tool traffic, and the store that keeps what a cap cut off.

A model can send an argument of any size and a tool can return any amount of text; both end up in
the conversation that is re-sent every turn. So the registry bounds both sides:

- **before a tool runs**: the raw argument text of one call (`max_call_chars`) and the JSON size of
  each top-level argument (`max_argument_chars`). An oversized call is refused with a `too_large`
  `ToolError` naming the argument, its size and the limit; the tool never runs;
- **after it ran**: a result (or error text) longer than `max_result_chars` is cut to a head that fits,
  followed by a note saying how much was cut and the `output_id` under which the whole text is kept.
  `tool_output_get(output_id, offset)` (see `output_tools`) pages through it.

Output ids are content addressed (`out_` + 16 hex digits of the SHA-256 of the text), so the same
output always gets the same id and re-running a session is deterministic. The store keeps outputs in
memory and, once `persist_to(dir)` was called (the engine does it with its session's directory), also
as files there, so an id in a resumed session can still be fetched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ToolLimits(BaseModel):
    """Per-registry bounds (characters). Defaults suit a 128k-token window: one capped result is
    ~6k tokens, the largest accepted call ~32k tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: JSON size of one top-level argument (a string counts its characters)
    max_argument_chars: int = Field(64_000, gt=0)
    #: raw argument text of one call, as the model sent it
    max_call_chars: int = Field(128_000, gt=0)
    #: text a tool result (or error) may put into the conversation; the rest is fetched by id
    max_result_chars: int = Field(24_000, gt=0)


DEFAULT_LIMITS = ToolLimits()

_OUTPUT_ID = re.compile(r"^out_[0-9a-f]{16}$")


def output_id_for(text: str) -> str:
    return "out_" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class OutputPage:
    output_id: str
    offset: int
    text: str
    total_chars: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.text)
        return end if end < self.total_chars else None


class OutputStore:
    """Full texts of capped outputs, by output id (memory, plus files once `persist_to` was called)."""

    def __init__(self) -> None:
        self._mem: dict[str, str] = {}
        self._dir: Path | None = None

    def persist_to(self, directory: Path) -> None:
        """Also write outputs (those already held and future ones) under `directory`, and read ids
        from there (outputs of an earlier process of the same session)."""
        self._dir = directory
        for oid, text in self._mem.items():
            self._write(oid, text)

    def put(self, text: str) -> str:
        oid = output_id_for(text)
        if oid not in self._mem:
            self._mem[oid] = text
            self._write(oid, text)
        return oid

    def get(self, output_id: str) -> str | None:
        if output_id in self._mem:
            return self._mem[output_id]
        if self._dir is None or not _OUTPUT_ID.match(output_id):
            return None
        path = self._dir / f"{output_id}.txt"
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8", errors="surrogatepass")
        self._mem[output_id] = text
        return text

    def page(self, output_id: str, offset: int, length: int) -> OutputPage | None:
        text = self.get(output_id)
        if text is None:
            return None
        offset = max(0, min(offset, len(text)))
        return OutputPage(output_id, offset, text[offset : offset + length], len(text))

    def _write(self, oid: str, text: str) -> None:
        if self._dir is None:
            return
        path = self._dir / f"{oid}.txt"
        if path.exists():
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8", errors="surrogatepass")
        tmp.replace(path)


def cap_text(text: str, max_chars: int, store: OutputStore, *, fetchable: bool = True) -> str:
    """`text` if it fits, else its head plus a note (what was cut, the output id to fetch the rest;
    `fetchable=False` when no `tool_output_get` tool is there to call). The returned text is never
    longer than `max_chars` (the note is counted)."""
    if len(text) <= max_chars:
        return text
    oid = store.put(text)
    note_len = len(_cap_note(oid, max_chars, len(text), len(text), fetchable))  # upper bound
    head = max(0, max_chars - note_len)
    return text[:head] + _cap_note(oid, head, len(text) - head, len(text), fetchable)


def _cap_note(oid: str, shown: int, cut: int, total: int, fetchable: bool) -> str:
    how = (
        f'call tool_output_get(output_id="{oid}", offset={shown}) for the rest'
        if fetchable
        else f"the full text is kept as output_id {oid}"
    )
    return f"\n…[output truncated: {cut} of {total} characters cut after the first {shown}; {how}]"


def clip_middle(text: str, max_chars: int, what: str = "characters") -> str:
    """Head and tail of `text` around a note of how much was cut (for previews and stubs)."""
    if len(text) <= max_chars:
        return text
    half = max(0, max_chars // 2)
    return f"{text[:half]}…[{len(text) - 2 * half} {what} cut]…{text[len(text) - half :]}"
