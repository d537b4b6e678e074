"""The training and Monte Carlo job kinds: one bundle gives the same weight hashes (the same paths) through
`job run`, a 2-worker Dask cluster and the Managed Agents emulator (estimate, smoke, run, pull, verify,
terminate); forged weights and forged chunks are refused."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cta.cloud import montecarlo_job, runner, tags, training
from auraquant.cta.cloud.bundle import open_bundle, smoke_job, write_bundle
from auraquant.cta.cloud.cli import app as cloud_app
from auraquant.cta.cloud.cost import calibrate, estimate_job
from auraquant.cta.cloud.dask_backend import DaskBackend
from auraquant.cta.cloud.errors import TrustRefused
from auraquant.cta.cloud.trust import FULL_AUDIT, verify_results
from auraquant.cta.data.synthetic import generate
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.signing import parse_envelope, verify_envelope
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace
from tests.support.dask_cluster import DaskCluster, dask_cluster, processing_counts
from tests.support.managed_agents_emulator import ManagedAgentsEmulator

ROOT = Path(__file__).resolve().parents[3]
SPEC = Spec(name="lstm-train", baseline={"name": "model_lstm", "params": {"lookback": 8, "hidden": 8, "epochs": 2,
                                                                         "horizon": 4}})
WF = {"train_bars": 500, "validation_bars": 150, "target_bars": 200}


@pytest.fixture(scope="module")
def train_bars() -> pd.DataFrame:
    return generate(1_600, seed=11)


@pytest.fixture
def train_bundle(tmp_path: Path, train_bars: pd.DataFrame) -> Path:
    pytest.importorskip("torch")  # the ml extra (Monte Carlo tests below do not need it)
    job = training.make_training_job(train_bars, SPEC, WF, seed=7, symbol="SYNTH/USDT", timeframe="1h")
    return write_bundle(job, train_bars, tmp_path / "bundles")


def _hashes(result_dir: Path) -> dict[str, str]:
    """Per window: the weights hash the table claims, checked against the weights file itself."""
    table = pd.read_parquet(result_dir / training.WINDOWS_FILE)
    out = {}
    for _, row in table.iterrows():
        data = (result_dir / training.weights_file(int(row["window"]))).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["weights_sha256"]
        out[f"w{int(row['window'])}"] = row["weights_sha256"]
    return out


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    with dask_cluster(2, log_dir=tmp_path / "dask-logs") as c:
        yield c


@pytest.mark.slow
def test_one_training_bundle_gives_the_same_weights_via_job_run_dask_and_managed_agents(
        workspace: Workspace, train_bundle: Path, cluster: DaskCluster, tmp_path: Path) -> None:
    job = open_bundle(train_bundle).job
    n_windows = len(training.train_plan(job, job.data.bars).windows)
    assert n_windows == 4

    # 1. `job run`, as a container or a person runs it
    proc = subprocess.run([sys.executable, "-m", "auraquant", "job", "run", str(train_bundle), "--out",
                           str(tmp_path / "job-run"), "--json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    local = _hashes(tmp_path / "job-run")
    assert len(local) == n_windows and len(set(local.values())) == n_windows

    # 2. a real 2-worker Dask cluster: one task per window
    dask = DaskBackend(cluster.address).run(train_bundle, tmp_path / "dask")
    assert _hashes(dask.out_dir) == local
    assert len(processing_counts(cluster.address, "train_window")) == n_windows
    assert runner.frame_digest(runner.read_frame(dask, training.PREDICTIONS_FILE)) == \
        runner.frame_digest(pd.read_parquet(tmp_path / "job-run" / training.PREDICTIONS_FILE))

    # 3. Managed Agents through the CLI: estimate first, smoke (1 window, 1 epoch), run, pull, verify, sign, clean
    b = open_bundle(train_bundle)
    est = estimate_job(b.job, calibrate(b.job, b.bars))
    assert est.units == sum(w.train.length * 2 for w in training.train_plan(job, job.data.bars).windows)
    assert est.param_sets == n_windows and est.local_s > 0 and est.total_usd > 0
    from tests.support.managed_agents_emulator import make_wheel

    wheel = make_wheel(tmp_path)
    with ManagedAgentsEmulator() as emu:
        res = CliRunner().invoke(cloud_app, ["run", str(train_bundle), "--backend", "managed", "--base-url", emu.url,
                                             "--wheel", str(wheel), "--yes", "--no-keep-environment",
                                             "--workspace", str(workspace.root), "--json"],
                                 env={"ANTHROPIC_API_KEY": "test-key"})
        assert res.exit_code == 0, res.output
        body = json.loads(res.output)
        # the smoke job ran first (its own bundle: the first window for one epoch), then the real job
        smoke, _ = smoke_job(job, b.bars)
        assert f"--archive /mnt/session/outputs/result-{smoke.id}.tar" in emu.commands[1]
        assert f"--archive /mnt/session/outputs/result-{job.id}.tar" in emu.commands[2]
        assert emu.live_sessions() == [] and emu.live_environments() == [] and emu.files == {}  # terminated
    remote = _hashes(Path(body["results"]))
    assert remote == local
    assert body["estimate"]["param_sets"] == n_windows and body["verdict"].startswith("[VERIFIED]")
    # the signed attestation pins the same hashes, with the metrics recomputed here
    env = parse_envelope(Path(body["attestation"]).read_text())
    signed = verify_envelope(env, TrustList.load(workspace.aura), schema_name="auraquant.cloud_result/v2")
    assert {f"w{t['trial']}": t["params"]["weights_sha256"] for t in signed["top"]} == local
    assert signed["kind"] == "train" and len(signed["training"]["retrained"]) == 1
    assert signed["training"]["retrain_tolerance"] == training.RETRAIN_TOLERANCE
    [outcome] = signed["training"]["retrained"].values()
    assert outcome == {"weights": "bit-identical", "max_abs_probability_diff": 0.0}


def _forge(bundle: Path, out: Path, *, window: int, seed_shift: int = 1,
           tweak_prediction: bool = False) -> Path:
    """A result of `bundle` whose `window` was trained with another seed, consistent with itself (weights,
    metrics, predictions, hashes and manifest all agree): only retraining that window can catch it."""
    b = open_bundle(bundle)
    plan = training.train_plan(b.job, len(b.bars))
    other = b.job.model_copy(update={"seed": b.job.seed + seed_shift}).model_dump_json()
    fits = []
    for w in plan.windows:
        fit = training.train_window(b.bars, other if w.index == window else b.job.model_dump_json(), w.index)
        if tweak_prediction and w.index == window:
            fit["probability"] = fit["probability"].copy()
            fit["probability"][0] += 0.01
        fits.append(fit)
    files: dict[str, pd.DataFrame | bytes] = {training.WINDOWS_FILE: training.windows_table(plan, fits),
                                              training.PREDICTIONS_FILE: training.predictions_table(fits)}
    files |= {training.weights_file(f["window"]): f["weights"] for f in fits}
    top = training.training_top(training.windows_table(plan, fits))
    runner.write_results(b.job, files, top, out, None, 0.0)
    return out


def test_weights_not_trained_as_claimed_are_caught_by_the_secret_retrain(train_bundle: Path, tmp_path: Path) -> None:
    honest = runner.run_job(train_bundle, tmp_path / "honest").out_dir
    v = verify_results(train_bundle, honest, audit_n=FULL_AUDIT)
    assert v.reproduced_trials == [0, 1, 2, 3] and v.escape_probability == 0.0
    forged = _forge(train_bundle, tmp_path / "forged", window=2)
    # self-consistent: re-prediction and metrics pass; without a retrain it would be signed ...
    unaudited = verify_results(train_bundle, forged, audit_n=0)
    assert unaudited.escape_probability == 1.0 and unaudited.reproduced_trials == []
    # ... retraining the window catches it (weights differ, and their predictions beyond the tolerance)
    with pytest.raises(TrustRefused, match="window 2 retrained here"):
        verify_results(train_bundle, forged, audit_n=FULL_AUDIT)


def test_a_claimed_prediction_that_the_weights_do_not_give_is_refused(train_bundle: Path, tmp_path: Path) -> None:
    forged = _forge(train_bundle, tmp_path / "forged", window=1, seed_shift=0, tweak_prediction=True)
    with pytest.raises(TrustRefused, match="re-predicting"):
        verify_results(train_bundle, forged, audit_n=0)


def test_a_weights_file_swapped_for_another_windows_is_refused(train_bundle: Path, tmp_path: Path) -> None:
    honest = runner.run_job(train_bundle, tmp_path / "honest").out_dir
    w0, w1 = (honest / training.weights_file(0)), (honest / training.weights_file(1))
    a, b = w0.read_bytes(), w1.read_bytes()
    w0.write_bytes(b)
    w1.write_bytes(a)
    manifest = json.loads((honest / runner.MANIFEST).read_text())
    manifest["files"][training.weights_file(0)]["sha256"] = hashlib.sha256(b).hexdigest()
    manifest["files"][training.weights_file(1)]["sha256"] = hashlib.sha256(a).hexdigest()
    (honest / runner.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(TrustRefused, match="does not hash to the weights_sha256"):
        verify_results(train_bundle, honest, audit_n=0)


def test_training_bundles_are_validated(train_bars: pd.DataFrame) -> None:
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="not a learned baseline"):
        training.make_training_job(train_bars, Spec(name="x", baseline={"name": "ema_cross", "params": {}}), WF)
    job = training.make_training_job(train_bars, SPEC, WF, seed=7, windows=[1])
    assert [w.index for w in training.train_plan(job, len(train_bars)).windows] == [1]
    smoke, _ = smoke_job(job, train_bars)
    plan = training.train_plan(smoke, len(train_bars))
    assert [w.index for w in plan.windows] == [1] and plan.config.epochs == 1 and smoke.id != job.id


@pytest.mark.slow
def test_one_montecarlo_bundle_gives_the_same_paths_via_job_run_dask_and_managed_agents(
        workspace: Workspace, cluster: DaskCluster, tmp_path: Path) -> None:
    import anthropic

    from auraquant.cta.cloud.managed import ManagedAgentsBackend, ManagedConfig
    from auraquant.cta.cloud.trust import accept_results
    from tests.support.managed_agents_emulator import make_wheel
    from tests.support.specs import SWEEP_SPEC

    bars = generate(3_000, seed=11)
    job = montecarlo_job.make_montecarlo_job(bars, SWEEP_SPEC, {"baseline.fast": 5}, n_sims=1_200, chunk_sims=200,
                                             seed=3)
    bundle = write_bundle(job, bars, tmp_path / "bundles")
    est = estimate_job(job, calibrate(job, bars))
    assert est.param_sets == 6 and est.units == 1_200 * len(montecarlo_job.returns_of(open_bundle(bundle))[0])
    local = runner.run_job(bundle, tmp_path / "local")
    digest = local.manifest["files"][montecarlo_job.PATHS_FILE]["digest"]
    dask = DaskBackend(cluster.address).run(bundle, tmp_path / "dask")
    assert dask.manifest["files"][montecarlo_job.PATHS_FILE]["digest"] == digest
    assert len(processing_counts(cluster.address, "simulate_chunk")) == 6
    with ManagedAgentsEmulator() as emu:
        client = anthropic.Anthropic(api_key="k", base_url=emu.url, max_retries=0)
        run = ManagedAgentsBackend(client, workspace_tag=tags.workspace_tag(workspace.root),
                                   wheel=make_wheel(tmp_path), store=workspace.store,
                                   config=ManagedConfig(poll_s=0.1, keep_environment=False)).run(bundle, tmp_path / "r")
        assert emu.live_sessions() == [] and emu.live_environments() == [] and emu.files == {}
    assert run.result.manifest["files"][montecarlo_job.PATHS_FILE]["digest"] == digest
    acc = accept_results(workspace, bundle, run.result.out_dir, backend="managed")
    assert acc.verification.top == local.manifest["top"] and len(acc.verification.audited_trials) == 2

    # a forged chunk (better paths) is caught when its chunk is audited
    paths = pd.read_parquet(local.out_dir / montecarlo_job.PATHS_FILE)
    paths.loc[paths["chunk"] == 4, "final_return"] += 0.05
    forged = tmp_path / "forged"
    runner.write_results(job, {montecarlo_job.PATHS_FILE: paths,
                               montecarlo_job.RETURNS_FILE: pd.read_parquet(local.out_dir / montecarlo_job.RETURNS_FILE)},
                         [{"rank": 1, "trial": 0, "params": job.param_sets[0],
                           "metrics": montecarlo_job.summary(paths) | {"mean_block": local.manifest["top"][0]["metrics"][
                               "mean_block"]}}], forged, None, 0.0)
    with pytest.raises(TrustRefused, match="audited chunk 4 does not reproduce"):
        verify_results(bundle, forged, audit_n=FULL_AUDIT)


def _perturb_window(bundle: Path, result: Path, out: Path, window: int, rel: float) -> Path:
    """`result` with window `window`'s weights scaled by (1 + rel) and everything derived from them (predictions,
    metrics, hashes, manifest) made consistent: what another CPU's float noise (small rel) or a model trained
    on something else (large rel) looks like."""
    import numpy as np

    from auraquant.cta.models.training import TrainedModel

    b = open_bundle(bundle)
    plan = training.train_plan(b.job, len(b.bars))
    table = pd.read_parquet(result / training.WINDOWS_FILE)
    preds = pd.read_parquet(result / training.PREDICTIONS_FILE)
    files: dict[str, pd.DataFrame | bytes] = {}
    for w in plan.windows:
        files[training.weights_file(w.index)] = (result / training.weights_file(w.index)).read_bytes()
    raw = np.frombuffer(files[training.weights_file(window)], dtype="<f4") * np.float32(1 + rel)
    data = raw.astype("<f4").tobytes()
    files[training.weights_file(window)] = data
    row = table["window"] == window
    model = TrainedModel.from_bytes(plan.config, int(table.loc[row, "n_features"].iloc[0]), data)
    [w] = [x for x in plan.windows if x.index == window]
    ts, X_target, _ = training.window_data(b.bars, plan, w)
    local = training._metrics_of(model, ts)
    table.loc[row, "weights_sha256"] = hashlib.sha256(data).hexdigest()
    for k in training.METRIC_KEYS:
        table.loc[row, k] = local[k]
    preds.loc[preds["window"] == window, "probability"] = model.predict_proba(X_target)
    files |= {training.WINDOWS_FILE: table, training.PREDICTIONS_FILE: preds}
    runner.write_results(b.job, files, training.training_top(table), out, None, 0.0)
    return out


def test_retrained_weights_that_differ_by_float_noise_pass_within_the_stated_tolerance(train_bundle: Path,
                                                                                      tmp_path: Path) -> None:
    honest = runner.run_job(train_bundle, tmp_path / "honest").out_dir
    noisy = _perturb_window(train_bundle, honest, tmp_path / "noisy", window=1, rel=1e-6)
    v = verify_results(train_bundle, noisy, audit_n=FULL_AUDIT)
    outcome = v.details["training"]["retrained"]["1"]
    assert outcome["weights"] == "within tolerance"
    assert 0 < outcome["max_abs_probability_diff"] <= training.RETRAIN_TOLERANCE
    assert all(o["weights"] == "bit-identical" for k, o in v.details["training"]["retrained"].items() if k != "1")
    off = _perturb_window(train_bundle, honest, tmp_path / "off", window=1, rel=0.2)
    with pytest.raises(TrustRefused, match="window 1 retrained here gives other weights"):
        verify_results(train_bundle, off, audit_n=FULL_AUDIT)
