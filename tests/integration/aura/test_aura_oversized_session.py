"""Must-show: a session that receives a 300 KB argument and a 2 MB tool result keeps working on a
128k-window profile for 20 more turns, with at least one real compaction, and never overflows.

Driven through the real `openai` SDK against the local Chat Completions emulator, which refuses (HTTP 400,
like vLLM) any request whose prompt plus requested output exceeds the window. Two registries: the default
limits (the argument is refused before the tool runs, the result is cut with an id to fetch the rest), and
limits so loose that the 2 MB result lands in the history whole — then compaction must summarise *and*
cut the oversized message to a stub to bring the session back under its window."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aura_wire_helpers import provider_for

from aura.runtime import AgentEngine, Budgets, SessionStore, StopReason, find_orphans
from aura.runtime.events import Compacted, EngineEvent, Stopped, ToolEnd
from aura.tools import ToolRegistry, disclosure_tools, tool
from aura.tools.limits import ToolLimits
from tests.support.llm_emulators import OpenAIEmulator, Turn

WINDOW = 128_000
MAX_OUT = 4_096
BIG_ARG = "x = 1  # filler line of a very long module\n" * 7_000  # ~300 KB
BIG_RESULT_CHARS = 2_000_000
MORE_TURNS = 20
SNAPSHOT = ("<overall_goal>write the module and survey the pages</overall_goal><key_knowledge>the big module was "
            "refused as too large; the big report was cut</key_knowledge><contract_memory></contract_memory>"
            "<spec_workflow_state>paging</spec_workflow_state>")


class Brain:
    """Turn 1: a 300 KB argument. Turn 2: a call returning 2 MB. Turn 3: read the cut part back by id
    (when the result was cut). Then 20 turns each reading a ~20 KB page, then a final answer."""

    def __init__(self) -> None:
        self.turn = 0
        self.summaries = 0

    def __call__(self, body: dict[str, Any], index: int) -> Turn:
        if not body.get("tools"):
            self.summaries += 1
            return Turn(text=SNAPSHOT)
        self.turn += 1
        if self.turn == 1:
            return Turn(text="writing the module", tool_calls=(("module_write", json.dumps({"source": BIG_ARG})),))
        if self.turn == 2:
            return Turn(text="fetching the report", tool_calls=(("big_report", "{}"),))
        if self.turn == 3:
            cut = _cut_note(body)
            if cut is not None:  # read on from where the note says the cut started
                return Turn(tool_calls=(("tool_output_get", json.dumps({"output_id": cut[0], "offset": cut[1]})),))
            return Turn(text="the whole report is here", tool_calls=(("page", json.dumps({"n": 0})),))
        if self.turn <= 3 + MORE_TURNS:
            return Turn(text=f"page {self.turn}", tool_calls=(("page", json.dumps({"n": self.turn})),))
        return Turn(text="FINISHED after all pages")


def _cut_note(body: dict[str, Any]) -> tuple[str, int] | None:
    for m in reversed(body["messages"]):
        found = m["role"] == "tool" and re.search(r'tool_output_get\(output_id="(out_\w+)", offset=(\d+)\)', m["content"])
        if found:
            return found.group(1), int(found.group(2))
    return None


def _big_text() -> str:
    return "".join(f"row {i:07d}: " + "v" * 40 + "\n" for i in range(BIG_RESULT_CHARS // 53 + 1))[:BIG_RESULT_CHARS]


def _registry(limits: ToolLimits, ran: list[str]) -> ToolRegistry:
    @tool
    def module_write(source: str) -> str:
        """Save a module."""
        ran.append("module_write")
        return f"saved {len(source)} characters"

    @tool
    def big_report() -> str:
        """A very large report."""
        ran.append("big_report")
        return _big_text()

    @tool
    def page(n: int) -> str:
        """One ~20 KB page."""
        ran.append("page")
        return f"page {n}: " + ("p" * 99 + "\n") * 200

    reg = ToolRegistry([module_write, big_report, page], limits=limits)
    reg.register(*disclosure_tools(reg))
    return reg


def _session(tmp_path: Path, limits: ToolLimits) -> tuple[AgentEngine[Any], list[EngineEvent], OpenAIEmulator,
                                                           list[str], Brain]:
    brain = Brain()
    ran: list[str] = []
    events: list[EngineEvent] = []
    with OpenAIEmulator(brain, context_window=WINDOW) as server:
        provider = provider_for("openai_chat", server.url, context_window=WINDOW, max_output=MAX_OUT, timeout_s=60)
        log = SessionStore(tmp_path / "sessions").create("big")
        engine: AgentEngine[Any] = AgentEngine(provider, _registry(limits, ran), session=log,
                                               budgets=Budgets(max_turns=40, max_identical_calls=None))

        async def main() -> None:
            try:
                await engine.run_until_stopped("write the module, read the report, then page through", events.append)
            finally:
                await provider.aclose()

        asyncio.run(main())
        log.close()
    return engine, events, server, ran, brain


def _common_checks(engine: AgentEngine[Any], events: list[EngineEvent], server: OpenAIEmulator) -> None:
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.reason is StopReason.COMPLETED, stop
    assert stop.final_text == "FINISHED after all pages" and stop.turns >= 3 + MORE_TURNS + 1
    assert server.rejections == [], server.rejections[:1]  # no request was ever over the window
    assert server.max_prompt_tokens + MAX_OUT <= WINDOW
    compactions = [e for e in events if isinstance(e, Compacted)]
    assert compactions and any(c.summarized_messages > 0 and c.summary_calls > 0 for c in compactions)
    assert all(c.tokens_after < c.threshold_tokens for c in compactions)
    assert not any(isinstance(e, Stopped) and e.reason is StopReason.CONTEXT_OVERFLOW for e in events)
    assert find_orphans(engine.messages) == []


@pytest.mark.slow
def test_default_limits_refuse_the_argument_cut_the_result_and_the_session_goes_on(tmp_path: Path) -> None:
    engine, events, server, ran, _ = _session(tmp_path, ToolLimits())
    _common_checks(engine, events, server)
    ends = [e for e in events if isinstance(e, ToolEnd)]
    refused = ends[0]
    assert refused.name == "module_write" and refused.error is not None and refused.error.kind == "too_large"
    assert "the limit is 128000 per call" in refused.error.message and "module_write" not in ran
    cut = ends[1]
    assert cut.name == "big_report" and cut.ok and len(cut.content) <= 24_000
    assert "tool_output_get(output_id=" in cut.content
    fetched = ends[2]
    assert fetched.name == "tool_output_get" and fetched.ok
    page = json.loads(fetched.content)
    shown = cut.content.split("\n…[output truncated", 1)[0]
    assert _big_text().startswith(shown) and page["offset"] == len(shown)  # continues exactly at the cut
    assert page["total_chars"] == BIG_RESULT_CHARS and page["next_offset"] == len(shown) + 20_000
    assert page["text"] == _big_text()[len(shown) : len(shown) + 20_000]
    # The 300 KB argument never went back to the server: every later request replays it clipped.
    assert all(len(json.dumps(r.body)) < 600_000 for r in server.requests[1:])
    assert any("_omitted" in json.dumps(r.body) for r in server.requests[1:4])
    # The session log keeps the argument as sent; the full result is kept next to it, by id.
    logged = [json.loads(line) for line in (tmp_path / "sessions" / "big.jsonl").read_text().splitlines()]
    sent = [p["arguments"] for r in logged if r["t"] == "msg" for p in r["m"]["parts"] if p["type"] == "tool_call"]
    assert json.dumps({"source": BIG_ARG}) in sent
    outputs = list((tmp_path / "sessions" / "big.outputs").glob("out_*.txt"))
    assert any(p.stat().st_size == BIG_RESULT_CHARS for p in outputs)


@pytest.mark.slow
def test_loose_limits_let_2mb_into_history_and_compaction_stubs_it(tmp_path: Path) -> None:
    loose = ToolLimits(max_argument_chars=10_000_000, max_call_chars=10_000_000, max_result_chars=10_000_000)
    engine, events, server, ran, brain = _session(tmp_path, loose)
    _common_checks(engine, events, server)
    assert ran[:2] == ["module_write", "big_report"]  # both ran: nothing was refused or cut up front
    assert len(json.dumps(server.requests[1].body)) > 300_000  # an accepted call is replayed whole
    compactions = [e for e in events if isinstance(e, Compacted)]
    assert any(c.stubbed_messages > 0 for c in compactions)  # the summary alone could not make room
    # The stub of the 2 MB result kept its call id and says where the full text is.
    logged = [json.loads(line) for line in (tmp_path / "sessions" / "big.jsonl").read_text().splitlines()]
    stubs = [p for r in logged if r["t"] == "replace" for p in r["m"]["parts"]
             if p["type"] == "tool_result" and "[compacted:" in p["content"]]
    big = [p for p in stubs if p["name"] == "big_report"]
    assert big and len(big[0]["content"]) < 2_000
    calls = [p["id"] for r in logged if r["t"] == "msg" for p in r["m"]["parts"]
             if p["type"] == "tool_call" and p["name"] == "big_report"]
    assert big[0]["tool_call_id"] == calls[0]
    oid = re.search(r'output_id "(out_\w+)"', big[0]["content"])
    assert oid is not None
    assert (tmp_path / "sessions" / "big.outputs" / f"{oid.group(1)}.txt").read_text() == _big_text()
    replayed = SessionStore(tmp_path / "sessions").open("big").replay()
    assert [m.model_dump() for m in replayed.messages] == [m.model_dump() for m in engine.messages]
