"""Append-only session logs: replay, torn tails, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aura.providers import OfflineProvider, ScriptedTurn
from aura.runtime import AgentEngine, SessionStore, StopReason
from aura.runtime.messages import assistant_message, user_text
from aura.tools import ToolRegistry, tool


@tool
def ping(n: int) -> str:
    """Ping."""
    return f"pong {n}"


def test_log_is_append_only_and_replays_the_history(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    log = store.create("s1", meta={"who": "test"})
    provider = OfflineProvider([ScriptedTurn(tool_calls=[("ping", {"n": 1})]), ScriptedTurn(text="bye")])
    engine: AgentEngine[Any] = AgentEngine(provider, ToolRegistry([ping]), session=log)
    sizes = []
    orig_append = log.append

    def spy(record: dict[str, Any]) -> None:
        before = log.path.read_bytes() if log.path.exists() else b""
        orig_append(record)
        after = log.path.read_bytes()
        assert after.startswith(before)  # never rewritten
        sizes.append(len(after))

    log.append = spy  # type: ignore[method-assign]
    stop = asyncio.run(engine.run_until_stopped("hello"))
    assert stop.reason is StopReason.COMPLETED and sizes == sorted(sizes)
    state = store.open("s1").replay()
    assert state.messages == list(engine.messages)
    assert state.meta["who"] == "test" and state.model_turns == 2
    assert [t.tool for t in state.traces] == ["ping"] and state.traces[0].result_summary == "pong 1"
    assert state.stops[-1]["reason"] == "completed"
    with pytest.raises(FileExistsError):
        store.create("s1")
    assert store.ids() == ["s1"] and store.latest() == "s1"


def test_torn_tail_is_ignored_then_cut_before_the_next_append(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    log = store.create("s")
    log.append_message(user_text("one"))
    log.close()
    with open(log.path, "a") as fh:
        fh.write('{"t":"msg","m":{"role":"assist')  # a writer killed mid-line
    again = store.open("s")
    assert again.replay().messages == [user_text("one")]
    again.append_message(assistant_message("two"))
    assert again.replay().messages == [user_text("one"), assistant_message("two")]
    assert all(line.startswith("{") and line.endswith("}") for line in log.path.read_text().splitlines())


def test_resume_continues_the_same_session(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    first: AgentEngine[Any] = AgentEngine(
        OfflineProvider([ScriptedTurn(text="first answer")]), ToolRegistry(), session=store.create("r")
    )
    asyncio.run(first.run_until_stopped("q1"))
    resumed = AgentEngine.resume(
        OfflineProvider([ScriptedTurn(text="second answer")]), ToolRegistry(), store.open("r")
    )
    assert resumed.messages == first.messages
    asyncio.run(resumed.run_until_stopped("q2"))
    assert [m.text for m in resumed.messages] == ["q1", "first answer", "q2", "second answer"]
    assert store.open("r").replay().messages == list(resumed.messages)


def test_invalid_session_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SessionStore(tmp_path).create("../escape")
