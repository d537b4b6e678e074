"""The trust gate for results computed outside this machine: reproduce locally, then sign and archive.

`verify_results(bundle, result)` refuses (raises `TrustRefused`, loud) unless ALL of these hold:

1. every result file matches its sha256 in the manifest (`runner.open_results`), and the manifest is for this
   bundle's job (job id, spec id, data hash, trial count);
2. the metrics table has one row per parameter set, in order, with exactly the bundle's parameters;
3. the trial table's ranks are the ranks of the metrics table's `rank_by` column, and the manifest's top
   trials are ranks 1..k with the metrics table's values;
4. the `dsr` column equals the DSR recomputed from the table itself (`batches.merge_batches`);
5. the top `top_n` trials (default: the job's `top_k`) re-run locally with `run_backtest(record=True)` give
   bit-identical metric rows (every column, NaN == NaN) and bit-identical equity and trades frames
   (`runner.frame_digest`); plus `audit_n` other trials, picked with the job's seed, re-run with `run_sweep`.

Walk-forward jobs have no independent "top configurations" (each window's choice depends on its whole
search), so they are re-run locally in full and every file must be bit-identical (`_verify_walkforward`).

The engine is deterministic (DESIGN.md principle 4), so an honest result reproduces exactly; "close" is a
refusal. Only then does `accept_results` sign an attestation (schema `auraquant.cloud_result/v1`) with the
workspace witness key via the governance layer, write it and the results under
`.aura/artifacts/cloud/<job id>/`, and — given a goal — submit each reproduced top configuration that meets
the goal as a signed governance candidate. On refusal nothing is written.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.backtest.engine import buy_and_hold_of, run_sweep
from auraquant.cta.backtest.metrics import buy_and_hold_metrics
from auraquant.cta.cloud import batches, runner
from auraquant.cta.cloud.bundle import Bundle, open_bundle
from auraquant.cta.cloud.errors import BundleError, TrustRefused
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.record import ArchiveRecord, GoalThresholds, code_hashes
from auraquant.cta.governance.signing import Envelope, sign_envelope, witness_signer
from auraquant.workspace import Workspace

ATTESTATION_SCHEMA = "auraquant.cloud_result/v1"


@dataclass
class Verification:
    """What the local reproduction checked (only ever returned when everything matched)."""

    job_id: str
    reproduced_trials: list[int]
    audited_trials: list[int]
    checks: list[str] = field(default_factory=list)


def _bits(values: pd.Series) -> np.ndarray:
    arr = values.to_numpy(dtype=np.float64)
    # NaN payloads may differ across platforms; every NaN compares as the canonical one.
    return np.where(np.isnan(arr), np.nan, arr).view(np.int64)


def _same_row(claimed: pd.Series, local: dict[str, float], cols: list[str]) -> list[str]:
    bad = []
    for c in cols:
        a, b = float(claimed[c]), float(local[c])
        if not ((math.isnan(a) and math.isnan(b)) or np.float64(a).view(np.int64) == np.float64(b).view(np.int64)):
            bad.append(f"{c}: claimed {a!r}, reproduced {b!r}")
    return bad


def _refuse(job_id: str, reason: str) -> TrustRefused:
    return TrustRefused(f"[REFUSED] results of {job_id} are NOT trusted: {reason}. Nothing was signed or archived.")


def _structure(bundle: Bundle, result: runner.JobResult, metrics: pd.DataFrame, trials: pd.DataFrame) -> list[str]:
    job, m = bundle.job, result.manifest
    jid = job.id
    for key, want in (("job_id", jid), ("spec_id", job.spec.id), ("data_hash", job.data.content_hash),
                      ("n_trials", len(job.param_sets)), ("kind", job.kind)):
        if m.get(key) != want:
            raise _refuse(jid, f"manifest {key} is {m.get(key)!r}, the bundle says {want!r}")
    n = len(job.param_sets)
    if len(metrics) != n or list(metrics["trial"]) != list(range(n)):
        raise _refuse(jid, f"the metrics table does not have one row per parameter set in order ({len(metrics)} vs {n})")
    for i, p in enumerate(job.param_sets):
        for k, v in p.items():
            if k not in metrics.columns or float(metrics[k].iloc[i]) != float(v):
                raise _refuse(jid, f"trial {i}: parameter {k} in the metrics table is not the bundle's {v!r}")
        if trials["params"].iloc[i] != runner.params_json(p):
            raise _refuse(jid, f"trial {i}: the trial table's params are not the bundle's")
    if not np.array_equal(_bits(trials["objective"]), _bits(metrics[job.rank_by])):
        raise _refuse(jid, f"the trial table's objective is not the metrics table's {job.rank_by}")
    if not np.array_equal(trials["rank"].to_numpy(), runner.rank_trials(metrics[job.rank_by].to_numpy(dtype=float))):
        raise _refuse(jid, "the trial ranks do not follow from the metrics table")
    recomputed = batches.merge_batches([metrics.drop(columns=["trial"])])
    if not np.array_equal(_bits(recomputed["dsr"]), _bits(metrics["dsr"])):
        raise _refuse(jid, "the dsr column is not the deflated Sharpe of the table's own trials")
    top = runner.top_trials(trials, job.top_k)
    claimed_top = [t["trial"] for t in m.get("top", [])]
    if claimed_top != top:
        raise _refuse(jid, f"the manifest's top trials {claimed_top} are not the table's ranks 1..k {top}")
    return ["file hashes", "manifest identity", "parameters", "ranks", "dsr", "top-k"]


def verify_results(bundle_path: Path | str, result_path: Path | str, *, top_n: int | None = None,
                   audit_n: int = 2) -> Verification:
    """Reproduce `result_path` (dir or tar) of the bundle at `bundle_path` locally; see the module docstring."""
    bundle = open_bundle(bundle_path)
    job = bundle.job
    try:
        result = runner.open_results(result_path)
    except BundleError as e:
        raise _refuse(job.id, str(e)) from e
    if job.kind == "walkforward":
        return _verify_walkforward(bundle_path, result)
    metrics = runner.read_frame(result, runner.METRICS_FILE)
    trials = runner.read_frame(result, runner.TRIALS_FILE)
    checks = _structure(bundle, result, metrics, trials)
    param_cols = {k for p in job.param_sets for k in p} | {"trial"}
    metric_cols = [c for c in metrics.columns if c not in param_cols]
    k = min(top_n or job.top_k, job.top_k)
    top = runner.top_trials(trials, job.top_k)[:k]
    for rank, trial in enumerate(top, start=1):
        local_metrics, equity, trades = runner.artifacts_for(bundle, job.param_sets[trial])
        local_metrics = {**local_metrics, "dsr": float(metrics["dsr"].iloc[trial])}  # dsr checked above
        bad = _same_row(metrics.iloc[trial], local_metrics, metric_cols)
        if bad:
            raise _refuse(job.id, f"trial {trial} (rank {rank}) does not reproduce: " + "; ".join(bad[:4]))
        for name, frame in ((runner.equity_file(rank), equity), (runner.trades_file(rank), trades)):
            if result.manifest["files"].get(name, {}).get("digest") != runner.frame_digest(frame) or \
                    runner.frame_digest(runner.read_frame(result, name)) != runner.frame_digest(frame):
                raise _refuse(job.id, f"{name} (trial {trial}) does not reproduce bit for bit")
    others = [t for t in range(len(job.param_sets)) if t not in top]
    rng = np.random.default_rng(job.seed)
    audited = sorted(int(t) for t in rng.choice(others, size=min(audit_n, len(others)), replace=False)) if others else []
    if audited:
        local = run_sweep(bundle.bars, job.spec, [job.param_sets[t] for t in audited])
        for row, t in enumerate(audited):
            bad = _same_row(metrics.iloc[t], local.iloc[row].to_dict(), [c for c in metric_cols if c != "dsr"])
            if bad:
                raise _refuse(job.id, f"audited trial {t} does not reproduce: " + "; ".join(bad[:4]))
    checks.append(f"reproduced top {len(top)} + audited {len(audited)}")
    return Verification(job_id=job.id, reproduced_trials=top, audited_trials=audited, checks=checks)


def _verify_walkforward(bundle_path: Path | str, result: runner.JobResult) -> Verification:
    """A walk-forward's "top configurations" are its per-window choices, which depend on the whole search:
    the job is re-run locally in full (same seed) and every file must be bit-identical."""
    import tempfile

    job_id = result.job_id
    m = result.manifest
    with tempfile.TemporaryDirectory(prefix="aq-verify-") as tmp:
        local = runner.run_job(bundle_path, tmp)
        for name, entry in local.manifest["files"].items():
            claimed = m["files"].get(name, {})
            if claimed.get("digest") != entry["digest"] or \
                    runner.frame_digest(runner.read_frame(result, name)) != entry["digest"]:
                raise _refuse(job_id, f"{name} does not reproduce bit for bit")
        if set(m["files"]) != set(local.manifest["files"]) or m["top"] != local.manifest["top"]:
            raise _refuse(job_id, "the manifest's files or per-window choices differ from the local re-run")
    windows = [t["trial"] for t in m["top"]]
    return Verification(job_id=job_id, reproduced_trials=windows, audited_trials=[],
                        checks=["file hashes", f"full local re-run of {len(windows)} windows, bit-identical"])


@dataclass
class Acceptance:
    """Outcome of `accept_results`: the signed attestation, where it was written, and archived record ids."""

    verification: Verification
    envelope: Envelope
    path: Path
    records: list[str]


def _finite_or_none(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def accept_results(ws: Workspace, bundle_path: Path | str, result_path: Path | str, *, backend: str,
                   goal: GoalThresholds | None = None, model_id: str = "none", top_n: int | None = None,
                   audit_n: int = 2, actor: Actor | None = None) -> Acceptance:
    """Verify (see `verify_results`), then sign the attestation, archive the results and optional candidates."""
    v = verify_results(bundle_path, result_path, top_n=top_n, audit_n=audit_n)
    bundle = open_bundle(bundle_path)
    job = bundle.job
    result = runner.open_results(result_path)
    files = {n: e["sha256"] for n, e in sorted(result.manifest["files"].items())}
    body = {"job_id": job.id, "kind": job.kind, "spec_id": job.spec.id, "data_hash": job.data.content_hash,
            "data_version_id": job.data.data_version_id, "backend": backend, "engine": result.manifest["engine"],
            "files": files, "reproduced_trials": v.reproduced_trials, "audited_trials": v.audited_trials,
            "top": [{"trial": t["trial"], "params": t["params"],
                     "metrics": {k: _finite_or_none(x) for k, x in t["metrics"].items()}}
                    for t in result.manifest["top"] if t["trial"] in v.reproduced_trials]}
    envelope = sign_envelope(ATTESTATION_SCHEMA, json.loads(canonical_json(body)), witness_signer(ws.aura))
    dest = ws.artifacts / "cloud" / job.id
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(result.out_dir, dest / "results")
    (dest / "attestation.json").write_text(envelope.to_json() + "\n")
    # Candidates are strategy configurations scored on the whole data: sweeps only (a walk-forward's
    # per-window choices are evidence about the search, not archive records of their own).
    records = _archive(ws, bundle, body, goal, model_id, actor) if goal is not None and job.kind == "sweep" else []
    return Acceptance(verification=v, envelope=envelope, path=dest / "attestation.json", records=records)


def _archive(ws: Workspace, bundle: Bundle, body: dict[str, Any], goal: GoalThresholds, model_id: str,
             actor: Actor | None) -> list[str]:
    job = bundle.job
    spec = job.spec
    modules = [f"cta_runtime.baselines.{spec.baseline.name}"] + \
        [f"cta_runtime.filters.{r.name}" for r in spec.filters] + \
        [f"cta_runtime.executions.{r.name}" for r in spec.execution] + [f"cta_runtime.risks.{r.name}" for r in spec.risk]
    archive = Archive(ws.store, ws.aura)
    ids = []
    for top in body["top"]:
        # Buy and hold over the bundle's bars, computed here from local data (never taken from the remote side).
        bh = buy_and_hold_of(bundle.bars, spec, versus=top["metrics"])
        record = ArchiveRecord(
            spec_id=spec.id, spec_hash=sha256_hex(canonical_json(spec)),
            data_version_id=job.data.data_version_id or f"external:{job.data.content_hash[:16]}",
            data_hash=job.data.content_hash, run_id=job.id, family=spec.baseline.name,
            code_hashes=code_hashes(modules), params=top["params"],
            metrics=top["metrics"] | buy_and_hold_metrics(bh), buy_and_hold=bh.numbers(),
            trial_count=len(job.param_sets), model_id=model_id, created_at=datetime.now(UTC))
        if goal.failures(record.metrics):
            continue
        ids.append(archive.submit_candidate(record, goal, actor or Actor.system("auraquant-cloud")).id)
    return ids
