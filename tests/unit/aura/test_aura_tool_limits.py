"""Bounded tool traffic in the registry: oversized calls are refused before the tool runs (a typed
`too_large` error naming the limit), oversized results are cut with a note and kept by id, and
`tool_output_get` pages through what was cut (also from a new process, via the session's directory)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from aura.tools import ToolContext, ToolRegistry, disclosure_tools, tool
from aura.tools.limits import OutputStore, ToolLimits, cap_text, clip_middle, output_id_for

CTX: ToolContext[None] = ToolContext(deps=None)
LIMITS = ToolLimits(max_argument_chars=100, max_call_chars=300, max_result_chars=500)


def _registry(ran: list[str], limits: ToolLimits = LIMITS) -> ToolRegistry:
    @tool
    def save(text: str, tags: list[str] | None = None) -> str:
        """Save a text."""
        ran.append(text)
        return "saved"

    @tool
    def dump(n: int) -> str:
        """Return n characters."""
        return "".join(chr(ord("a") + i % 26) for i in range(n))

    @tool
    def boom(n: int) -> str:
        """Fail with a long message."""
        raise ValueError("e" * n)

    reg = ToolRegistry([save, dump, boom], limits=limits)
    reg.register(*disclosure_tools(reg))
    return reg


def _call(reg: ToolRegistry, name: str, args: str | dict[str, object]):  # type: ignore[no-untyped-def]
    return asyncio.run(reg.call(name, args, CTX))


@pytest.mark.parametrize("raw", [json.dumps({"text": "x" * 101}), {"text": "x" * 101}])
def test_an_oversized_argument_is_refused_before_the_tool_runs(raw: str | dict[str, object]) -> None:
    ran: list[str] = []
    out = _call(_registry(ran), "save", raw)
    assert not out.ok and out.error is not None and out.error.kind == "too_large"
    assert "argument 'text' is 101 characters; the limit is 100 per argument" in out.error.message
    assert out.error.details == {"argument": "text", "size_chars": 101, "limit_chars": 100, "scope": "argument"}
    assert ran == []
    assert "x" * 101 not in out.content  # the refused value is not echoed back


def test_non_string_arguments_count_their_json_size_and_limits_are_inclusive() -> None:
    ran: list[str] = []
    reg = _registry(ran)
    tags = ["abcdefgh"] * 10  # compact JSON: 10 * 11 - 1 + 2 = 111 characters
    out = _call(reg, "save", json.dumps({"text": "t", "tags": tags}))
    assert out.error is not None and out.error.kind == "too_large" and out.error.details["argument"] == "tags"
    assert _call(reg, "save", json.dumps({"text": "y" * 100})).ok and ran == ["y" * 100]  # exactly the limit


def test_an_oversized_call_is_refused_without_parsing() -> None:
    ran: list[str] = []
    raw = '{"text": "' + "z" * 400  # not even valid JSON: the size check comes first
    out = _call(_registry(ran), "save", raw)
    assert out.error is not None and out.error.kind == "too_large"
    assert out.error.message.startswith("the call's arguments are 410 characters; the limit is 300 per call")
    assert ran == []


def test_a_long_result_is_cut_with_a_note_and_read_back_by_id() -> None:
    reg = _registry([])
    full = _call(reg, "dump", {"n": 5000})
    assert full.ok and len(full.content) <= 500 and full.output_id == output_id_for(full.value)
    head, note = full.content.split("\n…[output truncated: ", 1)
    assert full.value.startswith(head)
    assert f'call tool_output_get(output_id="{full.output_id}", offset={len(head)}) for the rest' in note
    assert note.startswith(f"{5000 - len(head)} of 5000 characters cut after the first {len(head)}")
    pages, offset = [], len(head)
    while offset is not None:  # page size is capped by the same result limit, so pages are never cut
        got = _call(reg, "tool_output_get", {"output_id": full.output_id, "offset": offset, "length": 300})
        page = json.loads(got.content)
        pages.append(page["text"])
        offset = page["next_offset"]
    assert head + "".join(pages) == full.value
    missing = _call(reg, "tool_output_get", {"output_id": "out_" + "0" * 16})
    assert missing.error is not None and missing.error.kind == "tool_failed" and "no stored output" in missing.content
    bad = _call(reg, "tool_output_get", {"output_id": "../../etc/passwd"})
    assert bad.error is not None and bad.error.kind == "invalid_arguments"


def test_error_texts_are_capped_too_and_short_results_pass_verbatim() -> None:
    reg = _registry([])
    out = _call(reg, "boom", {"n": 10_000})
    assert not out.ok and len(out.content) <= 500 and out.output_id is not None
    short = _call(reg, "dump", {"n": 26})
    assert short.content == "abcdefghijklmnopqrstuvwxyz" and short.output_id is None


def test_without_tool_output_get_the_note_does_not_promise_it() -> None:
    @tool
    def dump(n: int) -> str:
        """Return n characters."""
        return "q" * n

    reg = ToolRegistry([dump], limits=LIMITS)
    out = asyncio.run(reg.call("dump", {"n": 2000}, CTX))
    assert "tool_output_get" not in out.content and f"kept as output_id {out.output_id}" in out.content


def test_outputs_persist_next_to_the_session_and_load_in_a_new_store(tmp_path: Path) -> None:
    store = OutputStore()
    early = store.put("early " * 100)  # before persistence was attached: written when it is
    store.persist_to(tmp_path / "s.outputs")
    late = cap_text("late " * 1000, 200, store)
    late_id = late.split('output_id="')[1].split('"')[0]
    fresh = OutputStore()
    fresh.persist_to(tmp_path / "s.outputs")
    assert fresh.get(early) == "early " * 100 and fresh.get(late_id) == "late " * 1000
    assert fresh.get("out_../../x") is None and fresh.get("nope") is None
    assert len(late) <= 200


def test_json_error_location_reads_naturally() -> None:
    out = _call(_registry([]), "save", '{"text": "unterminated')
    assert out.error is not None and out.error.kind == "invalid_json"
    assert " at at " not in out.error.message
    assert "Unterminated string starting at: line 1 column 10 (char 9)" in out.error.message


def test_clip_middle_keeps_head_and_tail() -> None:
    assert clip_middle("abc", 10) == "abc"
    clipped = clip_middle("a" * 50 + "b" * 50, 20)
    assert clipped.startswith("a" * 10) and clipped.endswith("b" * 10) and "[80 characters cut]" in clipped
