"""The trust gate for results computed outside this machine: recompute locally, then sign and archive.

Principle: only numbers recomputed on this machine are signed. The attestation's `top` (params and metrics)
and every archived record are built from the local re-runs, never copied from a remote file; everything
remote that is shown (the manifest's `top`, the result tables, equity and trades files) must equal the
recomputation or the whole result is refused (`TrustRefused`, nothing written).

`verify_results(bundle, result, audit_n=None, secret=None)` for a **sweep** refuses unless ALL hold:

1. every result file matches its sha256 in the manifest (`runner.open_results`); the manifest is for this
   bundle's job (job id, kind, spec id, data hash, trial count, rank_by), has no unknown fields, and lists
   exactly the files such a job writes;
2. the metrics table has one row per parameter set, in order, with exactly the bundle's parameters (no
   dropped, duplicated, extra or re-ordered trials); rows with equal parameters have equal metrics; the
   trial table's params, params_hash, objective (= `rank_by`) and ranks follow from it;
3. every row is internally consistent (`consistency.sweep_table_problems`: finite where the engine
   defines a value, counts whole, ratios in range, Sharpe/returns/calmar following from the row's other
   metrics, `psr`/`dsr` the statistics of the table itself);
4. the `top_k` best trials re-run locally (`run_backtest(record=True)`) give bit-identical metric rows and
   bit-identical equity and trades frames, and the manifest's `top` equals the entries rebuilt from them;
5. `audit_n` other trials (default: 10% of them, at least 2; `audit.default_audit_count`) re-run with
   `run_sweep` are bit-identical. They are drawn with `audit.audit_seed`: an HMAC of the job id and the
   received manifest under a local secret the remote side never sees (never the job's seed), so the
   remote cannot know which rows to keep honest.

**Training** jobs are verified by `training.verify_training` (returned weights re-predict a secret sample and
give the claimed metrics here; a secret-drawn window is retrained from scratch, within a stated tolerance).

**Monte Carlo** jobs by `montecarlo_job.verify_montecarlo` (returns recomputed, a secret sample of chunks
re-simulated bit for bit, the summary recomputed from the paths).

**Walk-forward** jobs are verified per window by `walkforward_check.verify_walkforward` (the selected
parameters re-run on each target segment, the selection re-derived on validation, an audit sample of the
search trials re-run on train, the stitched curve rebuilt locally) at a fraction of the job's cost.

The engine is deterministic (README, "Semantics in one place"), so an honest result reproduces exactly; "close" is a
refusal. The verdict states the chance that a hidden-best forgery (the true best trial reported with
worse metrics, in a row that is not audited) escapes: with k of n rows audited, 1 - k/n for one tampered
row and C(n-m, k)/C(n, k) for m (`audit.escape_probability`). Raise `audit_n` to shrink it.

`accept_results` then signs an attestation (schema `auraquant.cloud_result/v2`) with the workspace witness
key through the governance layer, writes it and the results under `.aura/artifacts/cloud/<job id>/`, and —
given a goal — submits each reproduced top configuration that meets the goal as a signed candidate. A
refused job is remembered, and any later submission of it is audited in full.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.backtest.engine import buy_and_hold_of, run_sweep
from auraquant.cta.backtest.metrics import buy_and_hold_metrics
from auraquant.cta.cloud import audit, runner, tags
from auraquant.cta.cloud.bundle import Bundle, JobSpec, materialize_modules, open_bundle, read_members
from auraquant.cta.cloud.consistency import bits_equal, param_names, sweep_table_problems
from auraquant.cta.cloud.errors import BundleError, TrustRefused
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.record import ArchiveRecord, GoalThresholds, code_hashes
from auraquant.cta.governance.signing import Envelope, sign_envelope, witness_signer
from auraquant.workspace import Workspace

ATTESTATION_SCHEMA = "auraquant.cloud_result/v2"
FULL_AUDIT = 1 << 62  # audit count meaning "every row" (clipped to the rows there are)
MANIFEST_FIELDS = {"schema", "job_id", "kind", "spec_id", "data_hash", "n_trials", "rank_by", "engine", "top",
                   "files", "elapsed_s", "run_id"}
TRIAL_COLUMNS = ["trial", "params", "params_hash", "objective", "rank"]


@dataclass
class Verification:
    """What the local recomputation checked (only ever returned when everything matched).

    `top` holds the locally recomputed top entries (what gets signed); `auditable` is the number of rows the
    audit was drawn from (n), `audited_trials` the k drawn, `escape_probability` the chance that one
    tampered row among them escapes (worst window for a walk-forward).
    """

    job_id: str
    kind: str
    reproduced_trials: list[int]
    audited_trials: list[int]
    auditable: int
    escape_probability: float
    top: list[dict[str, Any]]
    checks: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    result_digest: str = ""

    @property
    def verdict(self) -> str:
        """One line: verified, what was re-run, and the chance that a hidden-best forgery escapes."""
        return (f"[VERIFIED] {self.job_id}: {'; '.join(self.checks)}. Hidden-best forgery escape probability: "
                f"{self.escape_probability:.3f} ({self.details.get('odds', '')})")


def refuse(job_id: str, reason: str) -> TrustRefused:
    """The one refusal message of the gate (loud, says nothing was signed)."""
    return TrustRefused(f"[REFUSED] results of {job_id} are NOT trusted: {reason}. Nothing was signed or archived.")


def refusal_key(job_id: str) -> str:
    return f"refused:{job_id}"


def manifest_digest(result: runner.JobResult) -> str:
    """sha256 of the received manifest (it lists every file's sha256): the audit draw's view of the results."""
    return sha256_hex(json.dumps(result.manifest, sort_keys=True, allow_nan=True).encode())


def check_identity(job: JobSpec, jid: str, result: runner.JobResult, n_trials: int, files: set[str]) -> None:
    """Manifest fields: the bundle's job (`jid` = its id, computed once by the caller: it hashes the whole
    job), no unknown fields, exactly the files such a job writes."""
    m = result.manifest
    unknown = sorted(set(m) - MANIFEST_FIELDS)
    if unknown:
        raise refuse(jid, f"the manifest has unknown fields {unknown}")
    for key, want in (("job_id", jid), ("spec_id", job.spec.id), ("data_hash", job.data.content_hash),
                      ("n_trials", n_trials), ("kind", job.kind), ("rank_by", job.rank_by)):
        if m.get(key) != want:
            raise refuse(jid, f"manifest {key} is {m.get(key)!r}, the bundle says {want!r}")
    if set(m.get("files", {})) != files:
        raise refuse(jid, f"the result files {sorted(m.get('files', {}))} are not the job's {sorted(files)}")


def same_json(a: Any, b: Any) -> bool:
    """Equal after canonical JSON (NaN/inf never occur: both sides map them to None)."""
    try:
        return canonical_json(a) == canonical_json(b)
    except (TypeError, ValueError):
        return False


def check_frame(job_id: str, result: runner.JobResult, name: str, local: pd.DataFrame, what: str) -> None:
    """The remote file `name` and its manifest digest must equal the local frame's value digest."""
    want = runner.frame_digest(local)
    if result.manifest["files"][name].get("digest") != want or \
            runner.frame_digest(runner.read_frame(result, name)) != want:
        raise refuse(job_id, f"{name} ({what}) does not reproduce bit for bit")


def _diff(claimed: pd.Series, local: dict[str, Any], cols: list[str]) -> list[str]:
    bad = []
    for c in cols:
        if not bits_equal(float(claimed[c]), float(local[c])):
            bad.append(f"{c}: claimed {float(claimed[c])!r}, reproduced {float(local[c])!r}")
    return bad


def _sweep_structure(bundle: Bundle, jid: str, metrics: pd.DataFrame, trials: pd.DataFrame) -> None:
    job = bundle.job
    n = len(job.param_sets)
    if len(metrics) != n or not bits_equal(metrics["trial"], np.arange(n)):
        raise refuse(jid, f"the metrics table does not have one row per parameter set in order ({len(metrics)} "
                          f"rows for {n} sets: trials dropped, duplicated, added or re-ordered)")
    names = param_names(job.param_sets)
    bundle_params = pd.DataFrame(list(job.param_sets))
    for k in names:
        if k not in metrics.columns or not bits_equal(metrics[k], bundle_params[k]):
            raise refuse(jid, f"parameter {k} in the metrics table is not the bundle's")
    problems = sweep_table_problems(metrics, job.spec, job.param_sets)
    if problems:
        raise refuse(jid, "the metrics table is not internally consistent: " + "; ".join(problems[:3]))
    # Equal parameters must give equal metrics (the engine is a function of them).
    keys = [json.dumps(p, sort_keys=True) for p in job.param_sets]  # grouping key only (fast)
    first: dict[str, int] = {}
    cols = [c for c in metrics.columns if c not in (*names, "trial")]
    for i, key in enumerate(keys):
        j = first.setdefault(key, i)
        if j != i and not bits_equal(metrics.iloc[i][cols].to_numpy(dtype=float),
                                     metrics.iloc[j][cols].to_numpy(dtype=float)):
            raise refuse(jid, f"trials {j} and {i} have the same parameters but different metrics")
    if list(trials.columns) != TRIAL_COLUMNS or len(trials) != n or not bits_equal(trials["trial"], np.arange(n)):
        raise refuse(jid, "the trial table does not have the job's columns and one row per trial in order")
    claimed = list(trials["params"])
    try:
        # Parsed and compared with exact types (5 is not 5.0): the strings are the runner's canonical JSON.
        same = all(_typed(json.loads(c)) == _typed(p) for c, p in zip(claimed, job.param_sets, strict=True))
    except (TypeError, ValueError):
        same = False
    if not same:
        raise refuse(jid, "the trial table's params are not the bundle's")
    if list(trials["params_hash"]) != [sha256_hex(str(c).encode())[:16] for c in claimed]:
        raise refuse(jid, "the trial table's params_hash column does not hash its params")
    if not bits_equal(trials["objective"], metrics[job.rank_by]):
        raise refuse(jid, f"the trial table's objective is not the metrics table's {job.rank_by}")
    if not np.array_equal(trials["rank"].to_numpy(), runner.rank_trials(metrics[job.rank_by].to_numpy(dtype=float))):
        raise refuse(jid, "the trial ranks do not follow from the metrics table")


def _typed(params: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return sorted((k, type(v).__name__, v) for k, v in params.items())


def _sweep_files(job: JobSpec) -> set[str]:
    k = min(job.top_k, len(job.param_sets))
    return {runner.METRICS_FILE, runner.TRIALS_FILE} | {runner.equity_file(r) for r in range(1, k + 1)} | \
        {runner.trades_file(r) for r in range(1, k + 1)}


def verify_results(bundle_path: Path | str, result_path: Path | str, *, audit_n: int | None = None,
                   secret: bytes | None = None, replay_n: int | None = None) -> Verification:
    """Recompute `result_path` (dir or tar) of the bundle at `bundle_path` locally (module docstring).

    `audit_n`: rows audited beyond the always re-run ones (None: the default sample; per window for a
    walk-forward). `replay_n`: walk-forward windows whose selected trial's search proposals are replayed
    (None: `walkforward_check.default_replay_count`). `secret`: the audit secret (`accept_results`
    passes the workspace's; None draws a fresh
    random one that is never stored, so the draw is unpredictable to anyone)."""
    bundle = open_bundle(bundle_path)
    job = bundle.job
    jid = job.id  # (a hash of the whole job: computed once)
    secret = os.urandom(audit.SECRET_BYTES) if secret is None else secret
    try:
        result = runner.open_results(result_path)
        unlisted = sorted(set(read_members(result_path)) - set(result.manifest.get("files", {})) - {runner.MANIFEST})
    except BundleError as e:
        raise refuse(jid, str(e)) from e
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise refuse(jid, f"the result manifest is malformed ({type(e).__name__}: {e})") from e
    if unlisted:
        raise refuse(jid, f"the results hold files the manifest does not list: {unlisted}")
    if result.manifest.get("kind") != job.kind or result.manifest.get("job_id") != jid:
        raise refuse(jid, f"manifest job_id is {result.manifest.get('job_id')!r} (kind "
                          f"{result.manifest.get('kind')!r}), the bundle says {jid!r} ({job.kind})")
    try:
        if job.kind == "walkforward":
            from auraquant.cta.cloud.walkforward_check import verify_walkforward

            v = verify_walkforward(bundle, jid, result, audit_n=audit_n, secret=secret, replay_n=replay_n)
        elif job.kind == "train":
            from auraquant.cta.cloud.training import verify_training

            v = verify_training(bundle, jid, result, audit_n=audit_n, secret=secret)
        elif job.kind == "montecarlo":
            from auraquant.cta.cloud.montecarlo_job import verify_montecarlo

            v = verify_montecarlo(bundle, jid, result, audit_n=audit_n, secret=secret)
        else:
            v = _verify_sweep(bundle, jid, result, audit_n, secret)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        # Malformed remote content (a missing column, a wrong type): refused, never a traceback.
        raise refuse(jid, f"the results are malformed ({type(e).__name__}: {e})") from e
    v.result_digest = manifest_digest(result)
    return v


def _verify_sweep(bundle: Bundle, jid: str, result: runner.JobResult, audit_n: int | None,
                  secret: bytes) -> Verification:
    job = bundle.job
    check_identity(job, jid, result, len(job.param_sets), _sweep_files(job))
    try:
        metrics = runner.read_frame(result, runner.METRICS_FILE)
        trials = runner.read_frame(result, runner.TRIALS_FILE)
    except (OSError, ValueError) as e:
        raise refuse(jid, f"a result table does not read: {e}") from e
    _sweep_structure(bundle, jid, metrics, trials)
    names = set(param_names(job.param_sets)) | {"trial"}
    metric_cols = [c for c in metrics.columns if c not in names]
    with tempfile.TemporaryDirectory(prefix="aq-verify-") as tmp:
        # Workspace modules re-run from the bundle's own (digest-checked) sources, in the sandbox worker only,
        # after the look-ahead gate here: what is signed never depends on the remote side's checks.
        extra = materialize_modules(bundle, tmp)
        runner.check_modules_causal(bundle, extra)
        return _reproduce_sweep(bundle, jid, result, audit_n, secret, metrics, metric_cols, extra)


def _reproduce_sweep(bundle: Bundle, jid: str, result: runner.JobResult, audit_n: int | None, secret: bytes,
                     metrics: pd.DataFrame, metric_cols: list[str], extra: Path | None) -> Verification:
    job = bundle.job
    trials = runner.read_frame(result, runner.TRIALS_FILE)
    top = runner.top_trials(trials, job.top_k)
    local_top = []
    for rank, trial in enumerate(top, start=1):
        local, equity, trades = runner.artifacts_for(bundle, job.param_sets[trial], extra)
        # dsr depends on the whole table; it was recomputed locally from it above (consistency check 3).
        local = {**local, "dsr": float(metrics["dsr"].iloc[trial])}
        bad = _diff(metrics.iloc[trial], local, metric_cols)
        if bad:
            raise refuse(jid, f"trial {trial} (rank {rank}) does not reproduce: " + "; ".join(bad[:4]))
        check_frame(jid, result, runner.equity_file(rank), equity, f"trial {trial}")
        check_frame(jid, result, runner.trades_file(rank), trades, f"trial {trial}")
        local_top.append(runner.top_entry(job, rank, trial, {c: local[c] for c in metric_cols}))
    if not same_json(result.manifest.get("top"), local_top):
        raise refuse(jid, "the manifest's top trials (params or metrics) differ from the local recomputation")
    others = [t for t in range(len(job.param_sets)) if t not in set(top)]
    k = audit.default_audit_count(len(others)) if audit_n is None else max(0, min(audit_n, len(others)))
    audited = audit.draw(others, k, audit.audit_seed(secret, jid, manifest_digest(result), "sweep"))
    if audited:
        local_rows = run_sweep(bundle.bars, job.spec, [job.param_sets[t] for t in audited], extra_dir=extra)
        cols = [c for c in metric_cols if c not in ("psr", "dsr")]
        claimed_rows = metrics.iloc[audited]
        if not bits_equal(claimed_rows[cols].to_numpy(dtype=np.float64), local_rows[cols].to_numpy(dtype=np.float64)):
            for row, t in enumerate(audited):  # name the first row that differs
                bad = _diff(metrics.iloc[t], local_rows.iloc[row].to_dict(), cols)
                if bad:
                    raise refuse(jid, f"audited trial {t} does not reproduce: " + "; ".join(bad[:4]))
    checks = ["file hashes", "manifest identity", "trial set", "ranks", "row consistency", "psr/dsr",
              f"top {len(top)} re-run bit for bit", f"{len(audited)} of {len(others)} other trials audited"]
    return Verification(job_id=jid, kind=job.kind, reproduced_trials=top, audited_trials=audited,
                        auditable=len(others), escape_probability=audit.escape_probability(len(others), len(audited)),
                        top=local_top, checks=checks, details={"odds": audit.describe_odds(len(others), len(audited))})


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
                   goal: GoalThresholds | None = None, model_id: str = "none", audit_n: int | None = None,
                   actor: Actor | None = None, secret: bytes | None = None,
                   replay_n: int | None = None) -> Acceptance:
    """Verify (see `verify_results`, audits drawn with the workspace's secret unless `secret` is given),
    then sign the attestation built from the LOCAL recomputation, archive the results and optional candidates.

    A refusal is remembered (store memory `cloud`, key `refused:<job id>`): every later submission of the
    same job is audited in full (every trial, every window's proposals), so a remote side cannot resubmit
    forgeries until one slips past a partial audit."""
    bundle = open_bundle(bundle_path)
    job = bundle.job
    jid = job.id
    refused_before = ws.store.memory_get(tags.MEMORY_NAMESPACE, refusal_key(jid))
    if refused_before is not None:
        audit_n = replay_n = FULL_AUDIT
    try:
        v = verify_results(bundle_path, result_path, audit_n=audit_n, replay_n=replay_n,
                           secret=audit.workspace_secret(ws.aura) if secret is None else secret)
    except TrustRefused as e:
        ws.store.memory_put(tags.MEMORY_NAMESPACE, refusal_key(jid),
                            {"job_id": jid, "backend": backend, "reason": str(e),
                             "at": datetime.now(UTC).isoformat(),
                             "count": int((refused_before or {}).get("count", 0)) + 1})
        raise
    if refused_before is not None:
        v.checks.append(f"full audit: this job was refused {refused_before.get('count', 1)} time(s) before")
    result = runner.open_results(result_path)
    if manifest_digest(result) != v.result_digest:
        raise refuse(jid, "the results changed while they were being verified")
    files = {n: e["sha256"] for n, e in sorted(result.manifest["files"].items())}
    body = {"job_id": jid, "kind": job.kind, "spec_id": job.spec.id, "data_hash": job.data.content_hash,
            "data_version_id": job.data.data_version_id, "backend": backend,
            # the remote's claimed engine versions are not signed (nothing unverifiable is): only ours
            "verified_with": runner.current_engine_version().model_dump(),
            "result_digest": v.result_digest, "files": files, "reproduced_trials": v.reproduced_trials,
            "audited_trials": v.audited_trials,
            "auditable": v.auditable, "escape_probability": v.escape_probability, "checks": v.checks,
            # a top trial's dsr depends on every trial: recomputed here from the received table, whose rows
            # all passed the consistency checks and whose audited rows reproduced
            "dsr_basis": "received trial table, recomputed locally" if job.kind == "sweep" else None,
            "top": [{"trial": t["trial"], "params": t["params"],
                     "metrics": {k: _finite_or_none(x) for k, x in t["metrics"].items()}} for t in v.top],
            **({"walkforward": v.details["walkforward"]} if "walkforward" in v.details else {}),
            **({"training": v.details["training"]} if "training" in v.details else {})}
    envelope = sign_envelope(ATTESTATION_SCHEMA, json.loads(canonical_json(body)), witness_signer(ws.aura))
    dest = ws.artifacts / "cloud" / jid
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "results").mkdir(parents=True)
    for name in [runner.MANIFEST, *sorted(result.manifest["files"])]:  # exactly what was verified
        data = (result.out_dir / name).read_bytes()
        if name != runner.MANIFEST and sha256_hex(data) != files[name]:
            shutil.rmtree(dest)
            raise refuse(jid, f"{name} changed while the results were being verified")
        (dest / "results" / name).write_bytes(data)
    (dest / "attestation.json").write_text(envelope.to_json() + "\n")
    # Candidates are strategy configurations scored on the whole data: sweeps only (a walk-forward's
    # per-window choices are evidence about the search, not archive records of their own).
    records = _archive(ws, bundle, body, goal, model_id, actor) if goal is not None and job.kind == "sweep" else []
    return Acceptance(verification=v, envelope=envelope, path=dest / "attestation.json", records=records)


def _archive(ws: Workspace, bundle: Bundle, body: dict[str, Any], goal: GoalThresholds, model_id: str,
             actor: Actor | None) -> list[str]:
    job = bundle.job
    spec = job.spec
    used = [("baselines", spec.baseline.name)] + [("filters", r.name) for r in spec.filters] + \
        [("executions", r.name) for r in spec.execution] + [("risks", r.name) for r in spec.risk]
    shipped = {(m.kind, m.name): m.sha256 for m in job.modules}
    # Built-ins by their installed source; workspace modules by the digest of the bundled (and re-run) source.
    hashes = code_hashes([f"cta_runtime.{k}.{n}" for k, n in used if (k, n) not in shipped])
    hashes |= {f"workspace:{k}/{n}": digest for (k, n), digest in shipped.items()}
    archive = Archive(ws.store, ws.aura)
    ids = []
    for top in body["top"]:  # local recomputations only (see verify_results)
        # Buy and hold over the bundle's bars, computed here from local data (never taken from the remote side).
        bh = buy_and_hold_of(bundle.bars, spec, versus=top["metrics"])
        record = ArchiveRecord(
            spec_id=spec.id, spec_hash=sha256_hex(canonical_json(spec)),
            data_version_id=job.data.data_version_id or f"external:{job.data.content_hash[:16]}",
            data_hash=job.data.content_hash, run_id=job.id, family=spec.baseline.name,
            code_hashes=hashes, params=top["params"],
            metrics=top["metrics"] | buy_and_hold_metrics(bh), buy_and_hold=bh.numbers(),
            trial_count=len(job.param_sets), model_id=model_id, created_at=datetime.now(UTC))
        if goal.failures(record.metrics):
            continue
        ids.append(archive.submit_candidate(record, goal, actor or Actor.system("auraquant-cloud")).id)
    return ids
