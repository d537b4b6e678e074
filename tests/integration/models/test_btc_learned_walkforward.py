"""Must-show 1: walk-forward of an LSTM and an N-BEATS baseline on the shared BTC 1h data (one recent
year), end to end from the CLI and through the agent's tools, with robustness statistics; a rerun in a
fresh workspace gives identical results and weight hashes; `model show` reloads each model exactly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from auraquant.cli import app
from auraquant.cta.tools import build_registry, research_context
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

SPAN = ("2025-01-01", "2025-12-31")  # a recent year of hourly bars
TINY = {"horizon": 4, "lookback": 8, "hidden": 8, "epochs": 2, "hp_trials": 2}
WF = {"train_bars": 2000, "validation_bars": 500, "target_bars": 1500, "embargo_bars": 4, "n_windows": 3}
SEARCH = {"n_trials": 6, "batch_size": 6, "top_k": 2}
HOLDOUT = 720


def _spec(kind: str) -> dict[str, Any]:
    return {"name": f"btc-{kind}", "baseline": {"name": f"model_{kind}", "params": TINY},
            "risk": [{"name": "fixed_fraction"}],
            "search_space": {"baseline.threshold": {"kind": "float", "low": 0.5, "high": 0.6}},
            "engine": {"commission_bps": 5.0, "slippage_bps": 2.0}}


@pytest.fixture(scope="module")
def btc_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = pd.read_parquet(shared_data / "binance_BTCUSDT_1h_2017-2026.parquet")
    f = f[(f["time"] >= SPAN[0]) & (f["time"] < SPAN[1])].reset_index(drop=True)
    out = tmp_path_factory.mktemp("btc") / "btc_1h.parquet"
    f.to_parquet(out, index=False)
    return out


def _cli(args: list[str]) -> dict[str, Any]:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _model_fields(windows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(w["model"]["model_id"], w["model"]["weights_sha256"], w["model"]["train_data_hash"]) for w in windows]


@pytest.mark.slow
def test_lstm_and_nbeats_on_btc_cli_and_tools_identical(btc_file: Path, tmp_path: Path) -> None:
    # -- CLI, workspace A --------------------------------------------------------------------------------------
    root_a = tmp_path / "a"
    init_workspace(root_a, demo_data=False)
    dv = _cli(["data", "import", str(btc_file), "--symbol", "BTC/USDT", "--timeframe", "1h", "-w", str(root_a)])
    dv_id = dv["id"] if "id" in dv else dv["version"]["id"]
    cli_runs: dict[str, dict[str, Any]] = {}
    for kind in ("lstm", "nbeats"):
        spec_file = tmp_path / f"{kind}.json"
        spec_file.write_text(json.dumps(_spec(kind)))
        out = _cli(["experiment", "run", "--data", dv_id, "--spec", str(spec_file), "-w", str(root_a),
                    "--train", str(WF["train_bars"]), "--validation", str(WF["validation_bars"]),
                    "--target", str(WF["target_bars"]), "--embargo", str(WF["embargo_bars"]),
                    "--windows", str(WF["n_windows"]), "--trials", str(SEARCH["n_trials"]),
                    "--batch", str(SEARCH["batch_size"]), "--top-k", str(SEARCH["top_k"]),
                    "--holdout-bars", str(HOLDOUT), "--executor", "threads:1"])
        assert len(out["windows"]) == 3
        assert all(w["model"]["kind"] == kind and w["model"]["hp_trials"] == 2 for w in out["windows"])
        # robustness statistics of the run: PBO, SPA, Monte Carlo and parameter stability
        assert {"pbo", "spa_consistent_median", "mc_block"} <= set(out["robustness"]), out["robustness"].keys()
        # the learned model's trials count: 2 hyperparameter trials x 6 threshold trials per window
        assert out["oos"]["dsr_n_trials"] == 3 * 2 * 6
        cli_runs[kind] = out
        # every window's model reloads from its bytes and re-predicts its target segment bit for bit
        for w in out["windows"]:
            shown = _cli(["model", "show", w["model"]["model_id"], "-w", str(root_a)])
            assert shown["reload_identical"] is True and shown["weights_sha256"] == w["model"]["weights_sha256"]
    assert cli_runs["lstm"]["run_id"] != cli_runs["nbeats"]["run_id"]
    listing = CliRunner().invoke(app, ["experiment", "show", cli_runs["nbeats"]["run_id"], "-w", str(root_a)])
    assert listing.exit_code == 0 and cli_runs["nbeats"]["windows"][2]["model"]["model_id"] in listing.output
    human = CliRunner().invoke(app, ["model", "show", cli_runs["lstm"]["windows"][0]["model"]["model_id"],
                                     "-w", str(root_a)])
    assert human.exit_code == 0 and "reload_identical" in human.output and "weights.bin" in human.output

    # -- agent tools, fresh workspace B: the same runs, bit-identical --------------------------------------------
    root_b = tmp_path / "b"
    init_workspace(root_b, demo_data=False)
    ws = Workspace.open(root_b)
    reg = build_registry()
    ctx = research_context(ws, session_id="btc-models", model_id="test-model")
    (root_b / "btc.parquet").write_bytes(btc_file.read_bytes())

    def ok(name: str, args: dict[str, Any]) -> Any:
        out = asyncio.run(reg.call(name, args, ctx))
        assert out.ok, out.content
        return out.value

    dv_b = ok("data_import", {"path": "btc.parquet", "symbol": "BTC/USDT", "timeframe": "1h"}).version.id
    assert dv_b == dv_id
    sealed_from = pd.read_parquet(btc_file)["time"].iloc[-HOLDOUT].isoformat()  # what --holdout-bars sealed
    ok("data_slice_create", {"data_version_id": dv_b, "role": "holdout", "start": sealed_from})
    for kind in ("lstm", "nbeats"):
        spec_id = ok("spec_put", {"spec": _spec(kind), "data_version_id": dv_b}).spec_id
        st = ok("experiment_run", {"spec_id": spec_id, "walk_forward": WF, "search": SEARCH, "wait_s": 600})
        assert st.state == "finished", st
        a = cli_runs[kind]
        assert st.run_id == a["run_id"]
        res = json.loads((ws.artifacts / "runs" / st.run_id / "result.json").read_text())
        assert res["oos"] == a["oos"]
        assert _model_fields(res["windows"]) == _model_fields(a["windows"])
        assert [w["params"] for w in res["windows"]] == [w["params"] for w in a["windows"]]
        rob = ok("robustness_report", {"run_id": st.run_id})
        assert rob is not None
        shown = ok("model_show", {"model_id": res["windows"][0]["model"]["model_id"]})
        assert shown.details["reload_identical"] is True

    # a signed record of the last run pins every window's model files by sha256 and verifies
    rec = ok("archive_candidate", {"run_id": st.run_id, "family": "btc-nbeats", "goal": {"trades": {"min": 0}}})
    assert rec.significance == "not significant"  # tiny nets on one year of BTC: nothing to freeze
    arts = ok("archive_show", {"record_id": rec.record_id}).record["artifacts"]
    for w in res["windows"]:
        ref = next(k for k in arts if k.endswith(f"w{w['window']['index']:03d}_model/weights.bin"))
        assert arts[ref] == w["model"]["weights_sha256"]
    assert ok("artifact_verify", {"record_id": rec.record_id}).ok
