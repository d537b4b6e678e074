"""Must-show 2: `auraquant chat` in a real terminal (pexpect pty) against a local OpenAI-compatible server
scripted like a model. The model calls two tools in one batch, recovers from a tool error, the context grows
past the compaction threshold and is compacted, a hanging turn is interrupted with Ctrl-C (state saved), a
second Ctrl-C exits, and `--resume last` continues the same conversation.

The server is the aura tests' OpenAI wire emulator, driven by a brain that decides from the request alone
(so it works across the two chat processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aura.providers.openai_provider import OpenAIProvider
from aura.runtime.compaction import context_message
from aura.runtime.messages import user_text
from aura.runtime.provider import ModelInfo, TurnRequest
from aura.runtime.sessions import SessionStore
from auraquant.cta.research.loop import load_layers
from auraquant.cta.tools import build_registry
from auraquant.workspace import Workspace
from tests.support.llm_emulators import OpenAIEmulator, Stall, Turn, tokens_of

from .conftest import env, research_cli

SURVEY = "survey the workspace"
LONG = "start the long job"
RECALL = "what did we establish so far"
ANALYSIS = "Analysis of the stored data and the baseline catalogue. " * 150  # ~2,000 tokens of model text
SNAPSHOT = ("<overall_goal>survey the workspace</overall_goal><key_knowledge>one synthetic data version; "
            "spec_doesnotexist is not stored</key_knowledge><contract_memory></contract_memory>"
            "<spec_workflow_state>surveyed</spec_workflow_state>")


def _last_assistant_calls(msgs: list[dict[str, Any]]) -> list[str]:
    for m in reversed(msgs):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            return [c["function"]["name"] for c in m["tool_calls"]]
    return []


def brain(body: dict[str, Any], index: int) -> Any:
    msgs = body["messages"]
    if not body.get("tools"):  # the compaction summary call
        return Turn(text=SNAPSHOT)
    last = msgs[-1]
    if last["role"] == "tool":
        calls = _last_assistant_calls(msgs)
        if calls == ["data_version_list", "module_list"]:
            return Turn(text=ANALYSIS, tool_calls=(("spec_get", json.dumps({"spec_id": "spec_doesnotexist00000"})),))
        if calls == ["spec_get"]:
            assert "error" in last["content"]
            return Turn(text="That Spec is not stored; listing the stored Specs instead.",
                        tool_calls=(("spec_list", "{}"),))
        return Turn(text="**Survey done**: one synthetic data version, four built-in baselines, no Spec yet.")
    text = last["content"] if isinstance(last["content"], str) else json.dumps(last["content"])
    if SURVEY in text:
        return Turn(text="Looking at data and modules together.",
                    tool_calls=(("data_version_list", "{}"), ("module_list", json.dumps({"kind": "baselines"}))))
    if LONG in text:
        return Stall(seconds=20)
    if RECALL in text:
        return Turn(text="We surveyed the workspace: RESUMED-OK.")
    return Turn(text="ok")


def _first_request_tokens(ws: Workspace) -> int:
    """Size of the first request the chat will send, as the emulator counts it (JSON chars / 4)."""
    layers = load_layers(ws)
    msgs = tuple(m for m in (context_message(layers), user_text(SURVEY)) if m is not None)
    req = TurnRequest(system=layers.system_prompt, messages=msgs, tools=build_registry().schemas("agent", None))
    prov = OpenAIProvider(ModelInfo(provider="openai", model="scripted-model"), api_key="x", base_url="http://x")
    return tokens_of(prov.build_params(req))


def _profile(ws: Workspace, url: str, context_window: int) -> None:
    path = ws.config / "models.json"
    cfg = json.loads(path.read_text())
    cfg["profiles"]["local"] = {"provider": "openai", "model": "scripted-model", "base_url": url + "/v1",
                                "api_key_env": None, "context_window": context_window, "max_output_tokens": 512,
                                "token_param": "max_tokens", "timeout_s": 60}
    path.write_text(json.dumps(cfg))


def _spawn(ws: Path, *extra: str) -> pexpect.spawn:
    argv = [*research_cli(), "chat", "-w", str(ws), "--provider", "local", *extra]
    child = pexpect.spawn(argv[0], argv[1:], env=env(), encoding="utf-8", timeout=60, dimensions=(50, 160))
    child.expect("research>")
    return child


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_chat_tools_error_compaction_interrupt_resume(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    base = _first_request_tokens(ws)
    # compaction threshold (80%) a little above the first requests, far below them plus the long analysis
    window = int((base + 900) / 0.8)
    with OpenAIEmulator(brain) as server:
        _profile(ws, server.url, window)
        child = _spawn(workspace)
        child.sendline(SURVEY)
        child.expect("data_version_list")
        child.expect("module_list")
        child.expect("spec_get")
        child.expect("in the store")  # the tool error panel
        # The long analysis pushed the context over the threshold: one compaction (summary, and the
        # oversized analysis cut to a stub) brings it back under, so it does not repeat every turn.
        child.expect(r"context compacted: \d+ -> \d+ tokens")
        child.expect("not stored")  # the model's recovery
        child.expect("spec_list")
        child.expect("Survey done")
        child.expect("research>")
        child.sendline("/cost")
        child.expect(r"\$\d+\.\d{4} over \d+ model turns")
        child.expect("research>")
        child.sendline("/compact")
        # Everything older than the last batch is already one snapshot: /compact says so instead of acting
        # (test_chat_resume_terminal.py shows it acting on a longer history).
        child.expect("nothing to compact: the history has")
        child.expect("research>")
        child.sendline("a quick question")
        child.expect("ok")
        child.expect("research>")
        child.sendline(LONG)
        child.expect("thinking")
        child.sendintr()
        child.expect("interrupted — state saved")
        child.expect("research>")
        child.sendintr()
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()

        store = SessionStore(ws.sessions)
        sid = store.latest()
        assert sid is not None
        state = store.open(sid).replay()
        assert state.compactions >= 1
        assert [s["reason"] for s in state.stops][-1] == "interrupted"
        traces = state.traces
        batch = [t for t in traces if t.tool in ("data_version_list", "module_list")]
        assert len(batch) == 2 and batch[0].turn == batch[1].turn  # one model turn, one parallel batch
        failed = [t for t in traces if not t.ok]
        assert [t.tool for t in failed] == ["spec_get"] and failed[0].error_kind == "preflight_failed"
        assert any(t.tool == "spec_list" and t.ok and t.turn == failed[0].turn + 1 for t in traces)
        summary_calls = [r for r in server.requests if not r.body.get("tools")]
        assert summary_calls, "compaction must have asked the model for a summary"
        before = len(server.requests)

        child = _spawn(workspace, "--resume", "last")
        shown = child.before
        assert f"resumed session {sid}" in shown and "last turns:" in shown, shown
        assert LONG in shown and "budget used: $" in shown, shown  # where the session stopped
        child.sendline(RECALL)
        child.expect("RESUMED-OK")
        child.expect("research>")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        child.close()

        resumed = server.requests[before:]
        body = json.dumps(resumed[-1].body)
        assert "spec_doesnotexist" in body or "surveyed" in body  # the old conversation came back
        assert "interrupted by the user" in body or "cancelled" in body or LONG in body
        assert store.open(sid).replay().stops[-1]["reason"] == "completed"
        assert not server.rejections, server.rejections
