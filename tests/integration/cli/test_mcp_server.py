"""`auraquant mcp` through the MCP SDK's own client: a subprocess server on stdio, listed tools with the
registry's schemas, a backtest run through the tools, traces in the session log, and no way to approve."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from aura.runtime.sessions import SessionStore
from auraquant.cta.tools.registry import build_registry
from auraquant.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]
SPEC = {"name": "mcp-ema", "baseline": {"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
        "execution": [{"name": "trailing_pct"}], "engine": {"commission_bps": 5, "slippage_bps": 2},
        "search_space": {"baseline.fast": {"kind": "int", "low": 4, "high": 20},
                         "baseline.slow": {"kind": "int", "low": 30, "high": 90}}}
WALK_FORWARD = {"train_bars": 1200, "target_bars": 400, "n_windows": 2}
SEARCH = {"n_trials": 8, "batch_size": 4, "n_startup_trials": 4, "top_k": 2}
GOAL = {"trades": {"min": 0}}  # lenient: this test is about the gate, not about alpha
GATES_OFF = '{"min_dsr": null, "max_pbo": null, "max_spa_p": null, "min_oos_trades": null}'


def _text(result: Any) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


async def _session_run(ws_root: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "auraquant", "mcp", "--workspace",
                                                                 str(ws_root), "--session-id", "mcp-test"],
                                   env=env, cwd=str(ROOT))
    seen: dict[str, Any] = {}
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as client:
            init = await client.initialize()
            seen["server"] = init.server_info.name
            seen["instructions"] = init.instructions or ""
            seen["tools"] = {t.name: t for t in (await client.list_tools()).tools}

            async def call(name: str, args: dict[str, Any]) -> tuple[bool, Any]:
                res = await client.call_tool(name, args)
                return (not res.is_error), json.loads(_text(res))

            ok, dv = await call("data_synth", {"n": 3000, "seed": 11})
            assert ok, dv
            seen["dv"] = dv["version"]["id"]
            ok, hold = await call("data_slice_create", {"data_version_id": seen["dv"], "role": "holdout",
                                                        "start": "2022-04-01"})
            assert ok, hold
            ok, spec = await call("spec_put", {"spec": SPEC, "data_version_id": seen["dv"]})
            assert ok, spec
            seen["spec"] = spec["spec_id"]
            ok, seen["backtest"] = await call("backtest_run", {"spec_id": seen["spec"]})
            assert ok, seen["backtest"]
            seen["bad_args"] = await call("backtest_run", {"spec_id": 42, "extra": True})
            seen["no_spec"] = await call("backtest_run", {"spec_id": "spec_doesnotexist"})
            seen["approve"] = await call("approve", {"record_id": seen["backtest"]["report_id"]})
            seen["request_not_frozen"] = await call("approval_request", {"record_id": seen["backtest"]["report_id"],
                                                                         "reason": "please promote this backtest"})
            # The whole governance path through the tools: run -> candidate -> frozen -> approval requested.
            ok, run = await call("experiment_run", {"spec_id": seen["spec"], "walk_forward": WALK_FORWARD,
                                                    "search": SEARCH, "wait_s": 300})
            assert ok, run
            ok, mc = await call("montecarlo_run", {"source_id": run["run_id"], "n_sims": 100})
            assert ok, mc
            ok, cand = await call("archive_candidate", {"run_id": run["run_id"], "family": "ema", "goal": GOAL})
            assert ok, cand
            seen["record"] = cand["record_id"]
            ok, frozen = await call("archive_freeze", {"record_id": seen["record"]})
            assert ok and frozen["state"] == "frozen", frozen
            seen["request"] = await call("approval_request", {"record_id": seen["record"],
                                                              "reason": f"OOS evidence in {run['run_id']}"})
            for name in ("approve", "archive_approve", "approval_grant", "promote"):
                seen[f"try_{name}"] = await call(name, {"record_id": seen["record"]})
            seen["status"] = await call("approval_status", {"record_or_request_id": seen["record"]})
            seen["budget"] = await call("budget_status", {})
    return seen


@pytest.mark.slow
def test_mcp_client_lists_tools_runs_a_backtest_and_cannot_approve(workspace: Workspace) -> None:
    # significance gates off: the tiny run must reach `frozen` so that the approval refusal is what is tested
    (workspace.config / "gates.json").write_text(GATES_OFF)
    seen = asyncio.run(_session_run(workspace.root))
    registry = build_registry()

    # Listing: the registry's agent tools, with the registry's own input schemas.
    tools = seen["tools"]
    assert seen["server"] == "auraquant" and "human only" in seen["instructions"]
    assert len(tools) >= 40
    assert set(tools) == {s.name for s in registry.schemas(caller="agent")}
    for schema in registry.schemas(caller="agent"):
        assert tools[schema.name].input_schema == schema.parameters, schema.name
        assert tools[schema.name].description == schema.description

    # A backtest through the tools, with metrics and buy and hold beside it.
    bt = seen["backtest"]
    assert bt["report_id"].startswith("report_") and bt["spec_id"] == seen["spec"]
    assert isinstance(bt["metrics"]["sharpe"], float) or bt["metrics"]["sharpe"] is None

    # Validation and pre-flight are the registry's: structured errors, returned as tool errors.
    ok, err = seen["bad_args"]
    assert not ok and err["error"]["kind"] == "invalid_arguments"
    ok, err = seen["no_spec"]
    assert not ok and err["error"]["kind"] == "preflight_failed"

    # The human-only gate: no tool can approve, reject or promote, and asking for one is refused.
    assert not [n for n in tools if any(w in n for w in ("approve", "reject", "promot", "grant"))]
    assert {"approval_request", "approval_status"} <= set(tools)
    ok, err = seen["approve"]
    assert not ok and err["error"]["kind"] == "unknown_tool"
    ok, err = seen["request_not_frozen"]  # a backtest report is not a frozen record: refused
    assert not ok and err["error"]["kind"] in ("tool_failed", "preflight_failed")
    # Requesting approval of a frozen record works; nothing the client can call grants it.
    ok, req = seen["request"]
    assert ok and req["status"] == "pending" and req["requested_by"].startswith("agent:")
    for name in ("approve", "archive_approve", "approval_grant", "promote"):
        ok, err = seen[f"try_{name}"]
        assert not ok and err["error"]["kind"] == "unknown_tool", name
    ok, status = seen["status"]
    assert ok and status["record_state"] == "frozen" and status["request"]["status"] == "pending"
    assert "auraquant approve" in status["next_step"]
    from auraquant.cta.governance.archive import Archive

    stored = Archive(workspace.store, workspace.aura).get(seen["record"])
    assert stored.record.state == "frozen" and stored.record.approval is None

    # Every call is traced in the workspace's session log (run_trace_query reads the same log).
    state = SessionStore(workspace.sessions).open("mcp-test").replay()
    assert state.meta["kind"] == "mcp"
    tools_called = [t.tool for t in state.traces]
    assert tools_called[:8] == ["data_synth", "data_slice_create", "spec_put", "backtest_run", "backtest_run",
                                "backtest_run", "approve", "approval_request"]
    assert [t.ok for t in state.traces][:8] == [True, True, True, True, False, False, False, False]
    assert state.traces[6].error_kind == "unknown_tool"
    assert len(state.traces) == 19 and tools_called[-2:] == ["approval_status", "budget_status"]
    # budget_status reads the same log: 18 calls before it, against the server's default cap of 200
    ok, budget = seen["budget"]
    assert ok and budget["session_id"] == "mcp-test" and budget["tool_calls"] == 18
    assert budget["limits"]["max_tool_calls"] == 200 and budget["remaining"]["max_tool_calls"] == 182
