"""`auraquant chat` without a configured key: it says how to add one, offers the offline autopilot, runs it
toward the --goal through the same session machinery, and the slash commands report on that session."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect
import pytest

from aura.runtime.sessions import SessionStore
from auraquant.workspace import Workspace

from .conftest import env, research_cli


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_chat_without_key_offers_autopilot_and_slash_commands(workspace: Path) -> None:
    argv = [*research_cli(), "chat", "-w", str(workspace), "--goal", "SYNTH/USDT 1h sharpe >= 9", "--max-iters", "1",
            "--windows", "2", "--trials", "4"]
    child = pexpect.spawn(argv[0], argv[1:], env=env(), encoding="utf-8", timeout=60, dimensions=(50, 160))
    child.expect("No API key")
    child.expect("ANTHROPIC_API_KEY")
    child.expect(r"offline autopilot instead\? \[Y/n\]")
    child.sendline("y")
    child.expect("Round 1")
    child.expect("experiment_run")
    child.expect("stop: BUDGET_SPENT")
    child.expect("research>")
    child.sendline("/iter")
    child.expect("<ITER_STATE>")
    child.expect("iter: 1 / 1")
    child.expect("research>")
    child.sendline("/status")
    child.expect("offline/autopilot")
    child.expect("research>")
    child.sendline("/budget")
    child.expect("max_iters=1")
    child.expect("research>")
    child.sendline("/approve")
    child.expect("no frozen record awaits approval")
    child.expect("research>")
    child.sendline("/save mark")
    child.expect("chat --resume")
    child.expect("research>")
    child.sendline("/nope")
    child.expect("unknown command")
    child.expect("research>")
    child.sendline("/quit")
    child.expect("session saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    ws = Workspace.open(workspace)
    sid = SessionStore(ws.sessions).latest()
    assert sid is not None
    st = SessionStore(ws.sessions).open(sid).replay()
    assert st.meta["model"] == "autopilot" and {t.tool for t in st.traces} >= {"spec_put", "experiment_run"}
    saved = ws.store.memory_get("agent_state", "mark")
    assert saved["state"]["session_id"] == sid and saved["state"]["iter_state"]["status"] == "BUDGET_SPENT"
    outcome = ws.store.memory_get("research-sessions", sid)
    assert outcome["status"] == "BUDGET_SPENT" and json.dumps(outcome["tried"])
