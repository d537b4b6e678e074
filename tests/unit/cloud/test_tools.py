"""The agent tools: bundle from the workspace, estimate, run + verify locally, status; costly runs refused."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from aura.tools import ToolRegistry
from auraquant.cta.data.service import ingest_frame
from auraquant.cta.tools.cloud import TOOLS
from auraquant.cta.tools.deps import research_context
from auraquant.workspace import Workspace

from .conftest import PARAM_SETS, SPEC


def test_agent_bundles_estimates_runs_and_is_refused_long_runs(workspace: Workspace, bars: pd.DataFrame) -> None:
    dv, *_ = ingest_frame(workspace.store, bars, symbol="SYNTH/USDT", timeframe="1h", source="synthetic:test")
    workspace.store.put_object("spec", SPEC)
    reg = ToolRegistry(TOOLS)
    ctx = research_context(workspace, model_id="test-model")

    def call(name: str, **args: object) -> dict:
        out = asyncio.run(reg.call(name, json.dumps(args), ctx))
        assert out.ok, out.content
        return json.loads(out.content)

    info = call("cloud_bundle", spec_id=SPEC.id, data_version_id=dv.id, param_sets=PARAM_SETS, top_k=2)
    assert info["bars"] == len(bars) and info["param_sets"] == len(PARAM_SETS)
    est = call("cloud_estimate", job_id=info["job_id"])
    assert est["route"] == "local" and est["needs_confirmation"] is False
    run = call("cloud_run", job_id=info["job_id"])
    assert run["backend"] == "local" and len(run["reproduced_trials"]) == 2
    assert len(run["audited_trials"]) == 2 and run["escape_probability"] == pytest.approx(1 - 2 / 6)
    assert run["verdict"].startswith("[VERIFIED]") and [t["trial"] for t in run["top"]] == run["reproduced_trials"]
    status = call("cloud_status")
    assert status == {"total_usd": 0.0, "sessions": 0, "inflight_jobs": []}
    bad = asyncio.run(reg.call("cloud_estimate", json.dumps({"job_id": "job_nope"}), ctx))
    assert not bad.ok and "no bundle 'job_nope'" in bad.content and str(workspace.root) not in bad.content


def test_cli_bundle_from_workspace(workspace: Workspace, bars: pd.DataFrame, tmp_path) -> None:
    from typer.testing import CliRunner

    from auraquant.cta.cloud.bundle import open_bundle
    from auraquant.cta.cloud.cli import app

    dv, *_ = ingest_frame(workspace.store, bars, symbol="SYNTH/USDT", timeframe="1h", source="synthetic:test")
    workspace.store.put_object("spec", SPEC)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(PARAM_SETS))
    res = CliRunner().invoke(app, ["bundle", "--spec", SPEC.id, "--data", dv.id, "--params", str(grid),
                                   "--workspace", str(workspace.root), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    job = open_bundle(body["path"]).job
    assert job.id == body["job_id"] and job.data.data_version_id == dv.id and job.param_sets == PARAM_SETS
