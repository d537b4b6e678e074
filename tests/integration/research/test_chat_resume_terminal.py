"""`auraquant chat --resume last` in a real terminal (pexpect pty) shows where the session was — the goal,
the ITER_STATE, the budget used and the last turns — before the prompt, then continues the same
conversation; `/compact` on a short history says why it does nothing; and `python -m auraquant` works with
the workspace as the current directory even when the workspace's `cta_runtime/` is importable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aura.runtime.messages import (
    Message,
    ToolCallPart,
    ToolResultPart,
    assistant_message,
    user_text,
)
from aura.runtime.sessions import SessionStore
from aura.runtime.usage import Usage
from auraquant.cta.research.cli import DEMO_GOAL
from auraquant.workspace import Workspace
from tests.support.llm_emulators import OpenAIEmulator, Turn

from .conftest import env, research_cli

FIRST = "compare the EMA and Donchian baselines on the synthetic data"
SECOND = "now tighten the stop and re-run FOLLOWUP-REQ"
ANSWER = "Donchian wins on the synthetic data: MARKER-LAST-ANSWER."
RECALL = "where were we"


SNAPSHOT = ("<overall_goal>compare baselines</overall_goal><key_knowledge>Donchian wins: MARKER-LAST-ANSWER"
            "</key_knowledge><contract_memory></contract_memory><spec_workflow_state>re-run done FOLLOWUP-REQ"
            "</spec_workflow_state>")
NOTES = "Measured the breakout and crossover variants on every window; details follow. " * 40  # ~800 tokens


def brain(body: dict[str, Any], index: int) -> Turn:
    if not body.get("tools"):  # the compaction summary call
        return Turn(text=SNAPSHOT)
    text = json.dumps(body["messages"])
    # The resumed conversation must reach the model: answer only if the earlier turns are in the request.
    return Turn(text="RESUMED-WITH-HISTORY" if "MARKER-LAST-ANSWER" in text and "FOLLOWUP-REQ" in text
                else "history lost")


def _seed_session(ws: Workspace) -> str:
    """A finished two-request session log, written the way the engine writes it."""
    log = SessionStore(ws.sessions).create(meta={"model": "scripted-model", "provider": "openai",
                                                 "goal": DEMO_GOAL, "max_iters": 5})
    calls = (ToolCallPart(id="c1", name="spec_list", arguments="{}"),
             ToolCallPart(id="c2", name="spec_get", arguments='{"spec_id": "spec_nope"}'))
    msgs = [
        *[m for k in range(4) for m in (user_text(f"detail {k}: {NOTES}"), assistant_message(f"noted {k}"))],
        user_text(FIRST),
        assistant_message("Listing the stored Specs first.", list(calls)),
        Message(role="user", kind="tool_results", parts=(
            ToolResultPart(tool_call_id="c1", name="spec_list", content="[]"),
            ToolResultPart(tool_call_id="c2", name="spec_get", content='{"error": {}}', is_error=True))),
        assistant_message(ANSWER),
        user_text(SECOND),
        assistant_message("Stop tightened; the re-run is recorded."),
    ]
    for m in msgs:
        log.append_message(m)
    log.append_turn("scripted-model", Usage(input_tokens=1200, output_tokens=300), 0.0123)
    log.close()
    return log.session_id


def _profile(ws: Workspace, url: str) -> None:
    path = ws.config / "models.json"
    cfg = json.loads(path.read_text())
    cfg["profiles"]["local"] = {"provider": "openai", "model": "scripted-model", "base_url": url + "/v1",
                                "api_key_env": None, "context_window": 200_000, "max_output_tokens": 512,
                                "timeout_s": 60}
    path.write_text(json.dumps(cfg))


@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_resume_last_shows_goal_state_budget_and_turns(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    sid = _seed_session(ws)
    with OpenAIEmulator(brain) as server:
        _profile(ws, server.url)
        argv = [*research_cli(), "chat", "-w", str(workspace), "--provider", "local", "--resume", "last"]
        child = pexpect.spawn(argv[0], argv[1:], env=env(), encoding="utf-8", timeout=60, dimensions=(50, 160))
        child.expect(f"resumed session {sid}")
        child.expect(r"goal: SYNTH/USDT 1h Sharpe >= 1\.5")
        child.expect("ITER_STATE: none recorded yet")
        child.expect(r"budget used: \$0\.0123 .*1 model turns .*1200 input / 300 output tokens")
        child.expect("last turns:")
        child.expect("you" + r".{0,40}" + re.escape(FIRST))  # styles may sit between the two
        child.expect("spec_list ✓, spec_get ✗")  # the calls and how each ended
        child.expect("MARKER-LAST-ANSWER")
        child.expect("FOLLOWUP-REQ")
        child.expect("Stop tightened")
        child.expect("research>")
        child.sendline("/compact")  # a history worth summarising: acts at once
        child.expect(r"context compacted: \d+ -> \d+ tokens \(\d+ messages summarised")
        child.expect("research>")
        child.sendline("/compact")  # now everything older is one snapshot: it says why it does nothing
        child.expect("nothing to compact: ")
        child.expect("research>")
        child.sendline(RECALL)
        child.expect("RESUMED-WITH-HISTORY")
        child.expect("research>")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        child.close()
    assert not server.rejections, server.rejections
    summaries = [r for r in server.requests if not r.body.get("tools")]
    assert len(summaries) == 1 and len(server.requests) == 2  # the second /compact did not call the model
    state = SessionStore(ws.sessions).open(sid).replay()
    assert state.compactions == 1 and state.messages[0].kind == "compaction"


def _shadowing_workspace(workspace: Path) -> None:
    """Make the workspace's own cta_runtime/ importable as a regular package that fails loudly."""
    (workspace / "cta_runtime" / "__init__.py").write_text(
        'raise RuntimeError("the workspace cta_runtime shadowed the built-in package")\n')


@pytest.mark.timeout(240)
def test_python_m_auraquant_inside_a_workspace_uses_the_builtins(workspace: Path) -> None:
    _shadowing_workspace(workspace)
    sid = _seed_session(Workspace.open(workspace))

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "auraquant", *args], cwd=workspace, env=env(), input=stdin,
                              capture_output=True, text=True, timeout=180)

    out = run("--help")  # importing the CLI imports the built-in cta_runtime
    assert out.returncode == 0 and "Usage" in out.stdout, out.stderr
    for module in ("auraquant.cta.research", "auraquant.cta.cloud"):  # the other documented module forms
        other = subprocess.run([sys.executable, "-m", module, "--help"], cwd=workspace, env=env(),
                               capture_output=True, text=True, timeout=180)
        assert other.returncode == 0 and "Usage" in other.stdout, other.stderr[-2000:]
    chat = run("chat", "-w", ".", "--provider", "offline", "--resume", "last", stdin="/quit\n")
    assert "shadowed" not in chat.stderr and "Traceback" not in chat.stderr, chat.stderr[-2000:]
    assert chat.returncode == 0 and f"resumed session {sid}" in chat.stdout, chat.stdout[-2000:]
