"""Must-show 4: a process killed (SIGKILL) mid-session resumes with identical history."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aura_wire_helpers import provider_for

from aura.runtime import AgentEngine, Message, PromptLayers, SessionStore, StopReason, find_orphans
from aura.tools import ToolRegistry, tool
from tests.support.llm_emulators import AnthropicEmulator, ScriptBrain, Turn

CHILD = Path(__file__).with_name("aura_kill_child.py")


@tool(category="work")
def note(i: int) -> dict[str, int]:
    """Record a note."""
    return {"noted": i}


@tool(category="work")
def block_forever(reason: str) -> str:
    """Stand-in after resume (returns at once)."""
    return "done"


def _run_child_until_blocked(tmp_path: Path, sig: signal.Signals) -> int:
    """Start the child, wait until its tool blocks, send `sig`, return the exit code."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]), str(CHILD.parent)]),
    }
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists():
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "child never reached the blocking tool"
            time.sleep(0.02)
        proc.send_signal(sig)
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_cancels_cleanly_with_state_saved(tmp_path: Path) -> None:
    code = _run_child_until_blocked(tmp_path, signal.SIGINT)
    assert code == 130  # exited promptly although a blocking tool was still running
    held = [Message.model_validate(m) for m in json.loads((tmp_path / "mirror.json").read_text())]
    state = SessionStore(tmp_path / "sessions").open("killme").replay()
    assert state.messages[: len(held)] == held
    results = state.messages[len(held)]
    assert results.kind == "tool_results" and len(state.messages) == len(held) + 1
    done, interrupted = results.tool_results  # the call that finished keeps its real result
    assert (done.name, done.content, done.is_error) == ("note", '{"noted":3}', False)
    assert (
        interrupted.name == "block_forever" and interrupted.is_error and '"cancelled"' in interrupted.content
    )
    assert find_orphans(state.messages) == []
    assert state.stops[-1]["reason"] == StopReason.INTERRUPTED.value


def test_killed_process_resumes_with_identical_history(tmp_path: Path) -> None:
    assert _run_child_until_blocked(tmp_path, signal.SIGKILL) == -signal.SIGKILL

    held = [Message.model_validate(m) for m in json.loads((tmp_path / "mirror.json").read_text())]
    store = SessionStore(tmp_path / "sessions")
    replayed = store.open("killme").replay()
    assert replayed.messages == held  # identical history
    assert [m.kind for m in held] == ["context", "request", "model", "tool_results", "model"]
    assert held[-1].tool_calls[-1].name == "block_forever"
    assert replayed.model_turns == 2 and [t.tool for t in replayed.traces] == ["note", "note"]

    # Resume against the strict Anthropic-protocol server: the in-flight calls get a "cancelled"
    # result so the history is valid, and the session continues.
    with AnthropicEmulator(ScriptBrain([Turn(text="resumed and finished")])) as server:
        provider = provider_for("anthropic", server.url)
        engine: AgentEngine[Any] = AgentEngine.resume(
            provider,
            ToolRegistry([note, block_forever]),
            store.open("killme"),
            layers=PromptLayers(system_prompt="sys", agents_md="contract text", active_skill="skill text"),
        )
        assert list(engine.messages[: len(held)]) == held
        repaired = engine.messages[len(held)]
        assert [r.tool_call_id for r in repaired.tool_results] == [c.id for c in held[-1].tool_calls]
        assert all(r.is_error and '"cancelled"' in r.content for r in repaired.tool_results)

        async def go() -> Any:
            try:
                return await engine.run_until_stopped("please finish")
            finally:
                await provider.aclose()

        stop = asyncio.run(go())
    assert stop.reason is StopReason.COMPLETED and stop.final_text == "resumed and finished"
    assert server.rejections == []
    assert find_orphans(engine.messages) == []
    # the resumed run's records went to the same append-only log
    again = store.open("killme").replay()
    assert again.messages == list(engine.messages)
    assert again.model_turns == 3
