"""Estimates come from the job's size and a measured calibration; routing and confirmation follow from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auraquant.cta.cloud.cli import app
from auraquant.cta.cloud.cost import (
    SESSION_HOUR_USD,
    Calibration,
    Policy,
    TokenModel,
    calibrate,
    distinct_modules,
    estimate_job,
    model_price,
    session_cost_usd,
)
from auraquant.workspace import Workspace

CAL = Calibration(call_s=0.01, unit_s=1e-6, module_s=3e-7, record_s=2e-6, io_s=4e-7, sample_bars=1000, sample_sets=4,
                  measured_s=0.1)


def test_estimate_arithmetic(job) -> None:
    e = estimate_job(job, CAL, policy=Policy(setup_s=90, fixed_s=0.5), tokens=TokenModel(turns=2, input_per_turn=1000,
                                                                                         output_per_turn=100,
                                                                                         cache_read_per_turn=3000,
                                                                                         cache_write_per_turn=500))
    b = job.data.bars
    units = b * len(job.param_sets)
    assert e.units == units
    # 8 sets over 2 fast x 2 slow (4 baseline configs) x 2 trailing pcts: 6 module configurations to prepare
    assert distinct_modules(job, job.param_sets) == 6
    assert e.local_s == pytest.approx(0.01 + units * 1e-6 + 6 * b * 3e-7 + 2 * b * (2e-6 + 2e-7) + b * 4e-7 + 0.5)
    assert e.container_s == pytest.approx(e.local_s + 90)
    assert e.runtime_usd == pytest.approx(e.container_s / 3600 * SESSION_HOUR_USD)
    # haiku list prices; prompt-cache reads at 0.1x and 5-minute writes at 1.25x the input price
    assert e.tokens_usd == pytest.approx(2000 / 1e6 * 1.0 + 200 / 1e6 * 5.0 + (6000 * 0.1 + 1000 * 1.25) / 1e6 * 1.0)
    assert e.total_usd == pytest.approx(e.runtime_usd + e.tokens_usd)
    assert (e.route, e.needs_confirmation) == ("local", False)


def test_routing_and_confirmation(job) -> None:
    slow = CAL.model_copy(update={"unit_s": 1e-1})  # ~50 minutes of local work
    e = estimate_job(job, slow)
    assert e.route == "offload" and e.needs_confirmation and any("needs --yes" in r for r in e.reasons)
    costly = estimate_job(job, CAL, policy=Policy(confirm_above_usd=0.0))
    assert costly.route == "local" and costly.needs_confirmation


def test_model_prices() -> None:
    assert model_price("claude-haiku-4-5-20251001") == (1.0, 5.0)
    with pytest.raises(ValueError, match="no list price"):
        model_price("gpt-4")
    assert session_cost_usd(3600, 1_000_000, 0, "claude-sonnet-4-5") == pytest.approx(0.08 + 3.0)


def test_calibration_is_measured(job, bars) -> None:
    cal = calibrate(job, bars, sample_bars=800, sample_sets=3)
    assert cal.sample_bars == 800 and cal.sample_sets == 3
    assert cal.unit_s > 0 and cal.module_s > 0 and cal.record_s > 0 and cal.io_s > 0 and cal.measured_s > 0


def test_cli_run_local_verifies_signs_and_refuses_long_runs_without_yes(workspace: Workspace, bundle_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ws = ["--workspace", str(workspace.root), "--json"]
    refused = CliRunner().invoke(app, ["run", str(bundle_path), "--backend", "local", "--confirm-above-s", "0", *ws])
    assert refused.exit_code == 1 and json.loads(refused.output)["kind"] == "ConfirmationRequired"
    assert not (workspace.artifacts / "cloud").exists()
    ok = CliRunner().invoke(app, ["run", str(bundle_path), "--backend", "local", "--confirm-above-s", "0", "--yes",
                                  "--goal-sharpe", "-100", *ws])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert body["backend"] == "local" and Path(body["attestation"]).is_file() and len(body["archived"]) == 2
    est = CliRunner().invoke(app, ["estimate", str(bundle_path), "--json"])
    assert est.exit_code == 0 and json.loads(est.output)["units"] == body["estimate"]["units"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")  # past the key check, the budget check refuses
    over = CliRunner().invoke(app, ["run", str(bundle_path), "--backend", "managed", "--budget", "0.0001", "--yes",
                                    *ws])
    assert over.exit_code == 1 and "exceeds the session budget" in json.loads(over.output)["error"]
    status = CliRunner().invoke(app, ["status", *ws])
    assert status.exit_code == 0 and json.loads(status.output)["inflight"] == {}
