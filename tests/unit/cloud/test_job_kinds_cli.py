"""`cloud bundle` for every job kind from a workspace, and `cloud run --backend local` verifying each one:
a learned baseline's training, a Monte Carlo, and a sweep of a spec that uses the workspace's own module."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cta.cloud.bundle import open_bundle
from auraquant.cta.cloud.cli import app
from auraquant.cta.data.models import DataVersion
from auraquant.cta.data.service import ingest_frame
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.signing import parse_envelope, verify_envelope
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace
from tests.support.specs import renamed_builtin

from .conftest import PARAM_SETS, SPEC

ROOT = Path(__file__).resolve().parents[3]


def _invoke(*args: str) -> dict:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _signed(workspace: Workspace, path: str) -> dict:
    env = parse_envelope(Path(path).read_text())
    return verify_envelope(env, TrustList.load(workspace.aura), schema_name="auraquant.cloud_result/v2")


def _ws_cross(workspace: Workspace, bars: pd.DataFrame) -> tuple[bytes, Spec, DataVersion]:
    """(source, spec, data version): the built-in EMA cross saved as the workspace's own `ws_cross` module, a
    stored spec that uses it, and the bars stored as a data version."""
    source = renamed_builtin("baselines", "ema_cross", "ws_cross").encode()
    (workspace.runtime_dir / "baselines").mkdir(parents=True, exist_ok=True)
    (workspace.runtime_dir / "baselines" / "ws_cross.py").write_bytes(source)
    spec = SPEC.model_copy(update={"baseline": SPEC.baseline.model_copy(update={"name": "ws_cross"})})
    dv, *_ = ingest_frame(workspace.store, bars, symbol="SYNTH/USDT", timeframe="1h", source="synthetic:test")
    workspace.store.put_object("spec", spec)
    return source, spec, dv


def test_training_and_montecarlo_bundles_from_a_workspace_run_and_verify(workspace: Workspace, bars: pd.DataFrame,
                                                                        tmp_path: Path) -> None:
    pytest.importorskip("torch")
    dv, *_ = ingest_frame(workspace.store, bars, symbol="SYNTH/USDT", timeframe="1h", source="synthetic:test")
    lstm = Spec(name="lstm", baseline={"name": "model_lstm", "params": {"lookback": 4, "hidden": 4, "epochs": 1,
                                                                        "horizon": 4}})
    workspace.store.put_object("spec", lstm)
    workspace.store.put_object("spec", SPEC)
    ws = ["--workspace", str(workspace.root)]
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"walk_forward": {"train_bars": 600, "validation_bars": 150, "target_bars": 300},
                               "windows": [0, 2]}))
    info = _invoke("bundle", "--spec", lstm.id, "--data", dv.id, "--train", str(cfg), *ws)
    job = open_bundle(info["path"]).job
    assert info["kind"] == "train" and job.train is not None and job.train["windows"] == [0, 2]
    assert job.train["feature_set"]["returns"]  # the feature set travels in the job
    run = _invoke("run", info["path"], "--backend", "local", *ws)
    assert run["verdict"].startswith("[VERIFIED]") and [t["trial"] for t in run["top"]] == [0, 2]
    signed = _signed(workspace, run["attestation"])
    assert signed["kind"] == "train" and all(len(t["params"]["weights_sha256"]) == 64 for t in signed["top"])

    mc = tmp_path / "mc.json"
    mc.write_text(json.dumps({"params": PARAM_SETS[0], "n_sims": 400, "chunk_sims": 100}))
    info = _invoke("bundle", "--spec", SPEC.id, "--data", dv.id, "--montecarlo", str(mc), "--seed", "4", *ws)
    assert info["kind"] == "montecarlo"
    est = _invoke("estimate", info["path"], *ws)
    assert est["param_sets"] == 4 and est["units"] > 0
    run = _invoke("run", info["path"], "--backend", "local", "--audit", "4", *ws)
    assert run["audited_trials"] == [0, 1, 2, 3] and run["escape_probability"] == 0.0
    assert set(_signed(workspace, run["attestation"])["top"][0]["metrics"]) >= {"sharpe_p2_5", "final_return_mean"}

    refused = CliRunner().invoke(app, ["bundle", "--spec", SPEC.id, "--data", dv.id, "--train", str(cfg), *ws,
                                       "--json"])
    assert refused.exit_code == 1 and "not a learned one" in json.loads(refused.output)["error"]


def test_a_spec_with_a_workspace_module_is_bundled_with_its_source_and_verified(workspace: Workspace,
                                                                               bars: pd.DataFrame,
                                                                               tmp_path: Path) -> None:
    source, spec, dv = _ws_cross(workspace, bars)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(PARAM_SETS))
    ws = ["--workspace", str(workspace.root)]
    info = _invoke("bundle", "--spec", spec.id, "--data", dv.id, "--params", str(grid), *ws)
    job = open_bundle(info["path"]).job
    [ref] = job.modules
    assert (ref.kind, ref.name) == ("baselines", "ws_cross") and open_bundle(info["path"]).modules == {
        ("baselines", "ws_cross"): source}
    run = _invoke("run", info["path"], "--backend", "local", "--goal-sharpe", "-100", *ws)
    assert run["verdict"].startswith("[VERIFIED]") and len(run["archived"]) == 3
    # the archived record pins the module by the digest of the source that was bundled and re-run
    from auraquant.cta.governance.archive import Archive

    record = Archive(workspace.store, workspace.aura).get(run["archived"][0]).record
    assert record.code_hashes["workspace:baselines/ws_cross"] == ref.sha256
    # editing the module after bundling does not change what the bundle runs: its digest is in the job
    (workspace.runtime_dir / "baselines" / "ws_cross.py").write_bytes(source + b"\n# edited\n")
    assert open_bundle(info["path"]).modules[("baselines", "ws_cross")] == source


def test_a_montecarlo_of_a_spec_with_a_workspace_module_carries_it_and_a_peeking_one_is_refused(
        workspace: Workspace, bars: pd.DataFrame, tmp_path: Path) -> None:
    """A Monte Carlo bundle carries the spec's workspace module like a sweep bundle: estimated, run and verified
    from the bundled source (the same paths as its built-in twin), and never written for a module that peeks."""
    source, spec, dv = _ws_cross(workspace, bars)
    workspace.store.put_object("spec", SPEC)
    mc = tmp_path / "mc.json"
    mc.write_text(json.dumps({"params": PARAM_SETS[0], "n_sims": 300, "chunk_sims": 100}))
    ws = ["--workspace", str(workspace.root)]
    info = _invoke("bundle", "--spec", spec.id, "--data", dv.id, "--montecarlo", str(mc), "--seed", "4", *ws)
    opened = open_bundle(info["path"])
    assert opened.job.kind == "montecarlo" and opened.modules == {("baselines", "ws_cross"): source}
    assert _invoke("estimate", info["path"], *ws)["units"] > 0
    run = _invoke("run", info["path"], "--backend", "local", "--audit", "3", *ws)
    assert run["verdict"].startswith("[VERIFIED]") and run["audited_trials"] == [0, 1, 2]
    twin = _invoke("bundle", "--spec", SPEC.id, "--data", dv.id, "--montecarlo", str(mc), "--seed", "4", *ws)
    twin_run = _invoke("run", twin["path"], "--backend", "local", "--audit", "0", *ws)
    assert run["top"][0]["metrics"] == twin_run["top"][0]["metrics"]  # same returns, same seeds: same paths

    leaky = (ROOT / "tests" / "support" / "leaky_runtime" / "baselines" / "peek_ahead.py").read_bytes()
    (workspace.runtime_dir / "baselines" / "peek_ahead.py").write_bytes(leaky)
    peek = Spec(name="peek", baseline={"name": "peek_ahead", "params": {"start": 50}})
    workspace.store.put_object("spec", peek)
    refused = CliRunner().invoke(app, ["bundle", "--spec", peek.id, "--data", dv.id, "--montecarlo", str(mc), *ws,
                                       "--json"])
    assert refused.exit_code != 0 and "look" in json.loads(refused.output)["error"].lower()
    assert not [p for p in (workspace.artifacts / "cloud" / "bundles").glob("*.tar")
                if open_bundle(p).job.spec.baseline.name == "peek_ahead"]


def test_a_walkforward_of_a_spec_with_a_workspace_module_carries_it_and_verifies(workspace: Workspace,
                                                                                  bars: pd.DataFrame,
                                                                                  tmp_path: Path) -> None:
    """A walk-forward bundle carries the workspace module too: run and verified window by window from the bundled
    source, with the same choices and target results as its built-in twin; a training bundle still refuses one."""
    from .conftest import WF_SEARCH, WF_SPEC

    source, _, dv = _ws_cross(workspace, bars)
    spec = WF_SPEC.model_copy(update={"baseline": WF_SPEC.baseline.model_copy(update={"name": "ws_cross"})})
    workspace.store.put_object("spec", spec)
    workspace.store.put_object("spec", WF_SPEC)
    cfg = tmp_path / "wf.json"
    cfg.write_text(json.dumps(WF_SEARCH))
    ws = ["--workspace", str(workspace.root)]
    info = _invoke("bundle", "--spec", spec.id, "--data", dv.id, "--walkforward", str(cfg), "--seed", "5", *ws)
    assert open_bundle(info["path"]).modules == {("baselines", "ws_cross"): source}
    run = _invoke("run", info["path"], "--backend", "local", *ws)
    assert run["verdict"].startswith("[VERIFIED]") and len(run["top"]) >= 2
    twin = _invoke("bundle", "--spec", WF_SPEC.id, "--data", dv.id, "--walkforward", str(cfg), "--seed", "5", *ws)
    assert run["top"] == _invoke("run", twin["path"], "--backend", "local", *ws)["top"]

    from auraquant.cta.cloud.bundle import make_job

    with pytest.raises(ValueError, match="train bundles run built-in modules only"):
        make_job(bars, spec, kind="train", search={"walk_forward": WF_SEARCH["walk_forward"]},
                 train={"feature_set": {"returns": [1]}}, modules={("baselines", "ws_cross"): source})
