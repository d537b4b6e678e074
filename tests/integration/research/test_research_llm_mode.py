"""`auraquant research` driven by an LLM (a local OpenAI-compatible server scripted like a model): the
ITER_STATE is re-rendered into the system prompt after every tool batch, a model that stops while the
state is still CONTINUING is nudged with <AUTO_CONTINUE>, and the status it records is the stop reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auraquant.workspace import Workspace
from tests.support.llm_emulators import OpenAIEmulator, Turn

from .conftest import research_cli, run


def _state(status: str, action: str) -> tuple[str, str]:
    return ("iter_state_update", json.dumps({"iter": 0, "max_iters": 3, "goal": "SYNTH/USDT 1h sharpe >= 1.2",
                                             "next_action": action, "status": status}))


def brain(body: dict[str, Any], index: int) -> Turn:
    last = body["messages"][-1]
    if last["role"] == "tool":
        return Turn(text="Recorded." if "STRUCTURAL_GAP" not in last["content"] else
                    "Verdict: structural gap — the goal needs order-book data no tool provides.")
    if "<AUTO_CONTINUE>" in str(last["content"]):
        return Turn(tool_calls=(_state("STRUCTURAL_GAP", "needs order-book data"),))
    return Turn(text="Starting.", tool_calls=(_state("CONTINUING", "survey the data"),))


def test_llm_research_iter_state_every_turn_nudge_and_stop_reason(workspace: Path, tmp_path: Path) -> None:
    ws = Workspace.open(workspace)
    with OpenAIEmulator(brain) as server:
        cfg = json.loads((ws.config / "models.json").read_text())
        cfg["profiles"]["local"] = {"provider": "openai", "model": "scripted-model", "base_url": server.url + "/v1",
                                    "api_key_env": None, "token_param": "max_tokens", "timeout_s": 30}
        (ws.config / "models.json").write_text(json.dumps(cfg))
        out = run([*research_cli(), "research", "-w", str(workspace), "--provider", "local", "--goal",
                   "SYNTH/USDT 1h Sharpe >= 1.2, max drawdown >= -15%", "--max-iters", "3", "--json"], tmp_path)
        # the scripted model ran no experiment: the outcome is still printed, and the exit code says so
        assert out.returncode == 1, out.stderr[-3000:]
        res = json.loads(out.stdout)
        bodies = [r.body for r in server.requests]
    assert res["status"] == "STRUCTURAL_GAP" and res["detail"] == "needs order-book data"
    assert res["experiments"] == 0
    assert res["engine_stop"] == "completed" and res["turns"] == 4
    systems = [next(m["content"] for m in b["messages"] if m["role"] == "system") for b in bodies]
    assert "iter: 0 / 3" in systems[0] and "nothing recorded yet" in systems[0]
    assert "<ITER_STATE>" in systems[1] and "next_action: survey the data" in systems[1]  # refreshed after the batch
    assert "sharpe >= 1.2" in systems[1] and "max_drawdown" in systems[1]
    nudge = bodies[2]["messages"][-1]
    assert nudge["role"] == "user" and "<AUTO_CONTINUE>" in str(nudge["content"])
    assert "status: STRUCTURAL_GAP" in systems[3]
