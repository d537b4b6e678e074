"""Run a job bundle with no workspace and write its results, each file hashed in `manifest.json`.

Result directory (flat, so it travels as one tar and maps 1:1 onto uploaded/downloaded files):

- `metrics.parquet`: one row per trial (parameter set) in input order: `trial`, the set's parameters, and
  every engine metric (the `run_sweep` table, dsr over all trials).
- `trials.parquet`: the trial table: `trial`, `params` (canonical JSON), `params_hash`, `objective`
  (= `rank_by`), `rank` (1 = best; NaN objectives rank last; ties by trial index).
- `equity_top<NN>.parquet` / `trades_top<NN>.parquet`: full artifacts of the `top_k` best trials.
- `manifest.json`: job id, kind, the engine version that ran it, the top trials (params + metrics), and
  for every file its sha256 and a value digest (`frame_digest`, independent of the Parquet encoding).

Walk-forward jobs run through the experiment layer (`auraquant.cta.experiment.runner.execute`) and write its
artifacts instead (see `_run_walkforward`); `top` then lists each window's chosen params and target metrics.

A bundle with workspace modules (`bundle.ModuleRef`) runs them from a scratch module root, in the sandbox worker
only, after their digests were checked on opening and after they pass the look-ahead gate on the bundle's bars
(`backtest.lookahead_gate.require_causal`, with every parameter set of the job): the container re-checks what the
workspace checked.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.content_hash import frame_digest
from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.cloud import batches
from auraquant.cta.cloud.bundle import (
    Bundle,
    JobSpec,
    current_engine_version,
    materialize_modules,
    open_bundle,
    write_tar,
)
from auraquant.cta.cloud.errors import BundleError
from auraquant.cta.strategy.spec import apply_params
from auraquant.jsonsafe import json_safe

RESULT_SCHEMA = "auraquant-job-result/v1"
MANIFEST = "manifest.json"
METRICS_FILE = "metrics.parquet"
TRIALS_FILE = "trials.parquet"

# A sweep executor maps (bars, spec JSON, batches of parameter sets, workspace module sources) to one table per
# batch, in order.
SweepExecutor = Callable[[pd.DataFrame, str, list[list[dict[str, Any]]], dict[tuple[str, str], bytes]],
                         list[pd.DataFrame]]


def equity_file(rank: int) -> str:
    return f"equity_top{rank:02d}.parquet"


def trades_file(rank: int) -> str:
    return f"trades_top{rank:02d}.parquet"


def params_json(params: dict[str, Any]) -> str:
    return canonical_json(params).decode()


def rank_trials(objective: Sequence[float]) -> np.ndarray:
    """1-based ranks: higher objective first, NaN last, ties by trial index (stable)."""
    obj = np.asarray(objective, dtype=float)
    key = np.where(np.isfinite(obj), -obj, np.inf)
    order = np.argsort(key, kind="stable")
    ranks = np.empty(len(obj), dtype=np.int64)
    ranks[order] = np.arange(1, len(obj) + 1)
    return ranks


def _local_executor(threads: int | None) -> SweepExecutor:
    def run(bars: pd.DataFrame, spec_json: str, parts: list[list[dict[str, Any]]],
            modules: dict[tuple[str, str], bytes]) -> list[pd.DataFrame]:
        return [batches.run_batch(bars, spec_json, p, threads, modules) for p in parts]
    return run


@dataclass
class JobResult:
    """A finished job: where its files are and its parsed manifest."""

    out_dir: Path
    manifest: dict[str, Any]

    @property
    def job_id(self) -> str:
        return str(self.manifest["job_id"])


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


def sweep_tables(bundle: Bundle, executor: SweepExecutor | None = None, n_batches: int = 1,
                 threads: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics table, trial table) of a sweep job, computed in `n_batches` batches by `executor`."""
    job = bundle.job
    parts = batches.split(job.param_sets, n_batches)
    tables = (executor or _local_executor(threads))(bundle.bars, job.spec.model_dump_json(), parts, bundle.modules)
    metrics = batches.merge_batches(tables)
    metrics.insert(0, "trial", np.arange(len(metrics), dtype=np.int64))
    if job.rank_by not in metrics.columns:
        raise BundleError(f"rank_by {job.rank_by!r} is not a metric column")
    objective = metrics[job.rank_by].to_numpy(dtype=float)
    pj = [params_json(p) for p in job.param_sets]
    trials = pd.DataFrame({"trial": metrics["trial"], "params": pj,
                           "params_hash": [sha256_hex(p.encode())[:16] for p in pj],
                           "objective": objective, "rank": rank_trials(objective)})
    return metrics, trials


def top_trials(trials: pd.DataFrame, k: int) -> list[int]:
    """Trial indices of ranks 1..k, best first."""
    return [int(t) for t in trials.sort_values("rank", kind="stable")["trial"].iloc[:k]]


def artifacts_for(bundle: Bundle, params: dict[str, Any],
                  extra_dir: Path | None = None) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """(metrics, equity, trades) of one parameter set, recorded in full (`extra_dir`: the bundle's module root)."""
    if bundle.modules and extra_dir is None:
        with tempfile.TemporaryDirectory(prefix="aq-modules-") as tmp:
            return artifacts_for(bundle, params, materialize_modules(bundle, tmp))
    res = run_backtest(bundle.bars, apply_params(bundle.job.spec, params), record=True, extra_dir=extra_dir)
    assert res.equity is not None and res.trades is not None
    return res.metrics, res.equity, res.trades


def check_modules_causal(bundle: Bundle, extra_dir: Path | None) -> None:
    """The look-ahead gate on the bundle's workspace modules, over its bars and every parameter set it runs
    (`LookaheadError` names the first leak). Built-in-only bundles pass at once."""
    if extra_dir is None:
        return
    from auraquant.cta.backtest.lookahead_gate import require_causal

    job = bundle.job
    require_causal(job.spec, bundle.bars, extra_dir, data_hash=job.data.content_hash, extra_sets=job.param_sets)


def run_job(bundle_path: Path | str, out_dir: Path | str, *, executor: SweepExecutor | None = None,
            n_batches: int = 1, threads: int | None = None, archive: Path | str | None = None,
            window_executor: Any = None) -> JobResult:
    """Run the bundle at `bundle_path` and write its result files + manifest into `out_dir`.

    `executor`/`n_batches` spread a sweep (see `batches`), `window_executor` (an experiment-layer executor
    or its string form, e.g. `threads:2`) the windows of a walk-forward; results do not depend on either.
    `archive` also packs the result directory into one tar (what a remote container hands back).
    """
    t0 = time.perf_counter()
    bundle = open_bundle(bundle_path)
    job = bundle.job
    with tempfile.TemporaryDirectory(prefix="aq-job-") as tmp:
        extra = materialize_modules(bundle, tmp)
        check_modules_causal(bundle, extra)
        if job.kind == "walkforward":
            return _run_walkforward(bundle, out_dir, archive, window_executor, t0, extra)
        if job.kind == "train":
            from auraquant.cta.cloud.training import run_training

            return run_training(bundle, out_dir, archive, window_executor, t0)
        if job.kind == "montecarlo":
            from auraquant.cta.cloud.montecarlo_job import run_montecarlo

            return run_montecarlo(bundle, out_dir, archive, window_executor, t0, extra)
        metrics, trials = sweep_tables(bundle, executor, n_batches, threads)
        files: dict[str, pd.DataFrame] = {METRICS_FILE: metrics, TRIALS_FILE: trials}
        top = []
        for rank, trial in enumerate(top_trials(trials, job.top_k), start=1):
            params = job.param_sets[trial]
            _, equity, trades = artifacts_for(bundle, params, extra)
            files[equity_file(rank)] = equity
            files[trades_file(rank)] = trades
            top.append(top_entry(job, rank, trial, metrics.iloc[trial].to_dict()))
    return write_results(job, files, top, out_dir, archive, time.perf_counter() - t0)


def top_entry(job: JobSpec, rank: int, trial: int, row: dict[str, Any]) -> dict[str, Any]:
    """The manifest's entry for a top trial: its rank, index, the bundle's params and every metric of `row`
    (the metrics-table row; NaN/inf as None). The trust gate rebuilds it from local numbers and compares."""
    param_cols = {k for p in job.param_sets for k in p} | {"trial"}
    return {"rank": rank, "trial": trial, "params": job.param_sets[trial],
            "metrics": {c: json_safe(v) for c, v in row.items() if c not in param_cols}}


@dataclass
class WalkForwardPlan:
    """What a walk-forward job runs on: the experiment-layer run, its sealed bars and its windows."""

    run: Any  # auraquant.cta.experiment.models.Run (imported lazily: the experiment layer is heavy)
    bars: Any  # auraquant.cta.experiment.sealed.SealedBars
    windows: list[Any]  # auraquant.cta.experiment.config.Window


def walkforward_plan(bundle: Bundle) -> WalkForwardPlan:
    """The run, sealed bars and windows of a walk-forward bundle (the one place that interprets `search`)."""
    from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig, plan_windows
    from auraquant.cta.experiment.runner import run_from_frame

    job = bundle.job
    cfg = job.search or {}
    run, sealed = run_from_frame(bundle.bars, job.spec, WalkForwardConfig.model_validate(cfg["walk_forward"]),
                                 SearchConfig.model_validate(cfg.get("search", {})), seed=job.seed,
                                 holdout_bars=int(cfg.get("holdout_bars", 0)))
    return WalkForwardPlan(run=run, bars=sealed, windows=plan_windows(len(sealed), run.walk_forward))


def walkforward_top(windows: Sequence[Any]) -> list[dict[str, Any]]:
    """The manifest's `top` of a walk-forward: per window (`WindowResult`), its chosen params and the
    numeric entries of its target report."""
    return [{"rank": i + 1, "trial": w.window.index, "params": w.params,
             "metrics": {k: json_safe(v) for k, v in w.target_report.items() if isinstance(v, int | float)}}
            for i, w in enumerate(windows)]


WALKFORWARD_FILES = ("selection.parquet", "trials.parquet", "oos_equity.parquet", "oos_trades.parquet")


def _run_walkforward(bundle: Bundle, out_dir: Path | str, archive: Path | str | None,
                     window_executor: Any = None, t0: float | None = None, extra_dir: Path | None = None) -> JobResult:
    """A walk-forward job through the experiment layer (Optuna journal in a scratch dir, no robustness pass).

    Files: the experiment's `selection.parquet` (params and scores per window), `trials.parquet` (every
    trial of every window), `oos_equity.parquet` and `oos_trades.parquet` (stitched out-of-sample).
    """
    from auraquant.cta.experiment.runner import execute

    job = bundle.job
    start = time.perf_counter() if t0 is None else t0
    plan = walkforward_plan(bundle)
    run = plan.run
    with tempfile.TemporaryDirectory(prefix="aq-wf-") as tmp:
        out = execute(run, plan.bars, out_dir=Path(tmp) / "run", storage_url=f"journal:{tmp}/optuna.journal",
                      executor=window_executor, robustness=None, extra_dir=extra_dir)
        files = {name: pd.read_parquet(Path(tmp) / "run" / name) for name in WALKFORWARD_FILES}
    top = walkforward_top(out.result.windows)
    return write_results(job, files, top, out_dir, archive, time.perf_counter() - start,
                          extra={"run_id": run.id, "n_trials": int(out.result.total_trials)})


def write_results(job: JobSpec, files: dict[str, pd.DataFrame | bytes], top: list[dict[str, Any]],
                  out_dir: Path | str, archive: Path | str | None, elapsed: float,
                  extra: dict[str, Any] | None = None) -> JobResult:
    """Write `files` (frames as Parquet; bytes verbatim, e.g. model weights) and the manifest into `out_dir`
    (and the tar `archive`). A frame's entry has its value digest and row count; a blob's digest is its sha256
    and `rows` its length in bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blobs = {name: f if isinstance(f, bytes) else _parquet_bytes(f) for name, f in files.items()}
    entries = {}
    for name, data in blobs.items():
        (out / name).write_bytes(data)
        f = files[name]
        entries[name] = {"sha256": sha256_hex(data),
                         "digest": sha256_hex(data) if isinstance(f, bytes) else frame_digest(f), "rows": len(f)}
    manifest = {"schema": RESULT_SCHEMA, "job_id": job.id, "kind": job.kind, "spec_id": job.spec.id,
                "data_hash": job.data.content_hash, "n_trials": len(job.param_sets), "rank_by": job.rank_by,
                "engine": current_engine_version().model_dump(), "top": top, "files": entries,
                "elapsed_s": round(elapsed, 3), **(extra or {})}
    raw = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False).encode() + b"\n"
    (out / MANIFEST).write_bytes(raw)
    if archive is not None:
        Path(archive).parent.mkdir(parents=True, exist_ok=True)
        write_tar(Path(archive), {**blobs, MANIFEST: raw})
    return JobResult(out_dir=out, manifest=manifest)


def open_results(path: Path | str) -> JobResult:
    """Open a result directory or tar (extracting a tar next to it) and check every file against its sha256.

    Raises `BundleError` when the manifest is missing, a listed file is missing, or a hash differs: a file
    edited after the run without updating the manifest never gets as far as the reproduction check.
    """
    from auraquant.cta.cloud.bundle import read_members

    path = Path(path)
    members = read_members(path)
    if MANIFEST not in members:
        raise BundleError(f"{path}: no {MANIFEST}; not a job result")
    manifest = json.loads(members[MANIFEST])
    if manifest.get("schema") != RESULT_SCHEMA:
        raise BundleError(f"{path}: unknown result schema {manifest.get('schema')!r}")
    for name, entry in manifest["files"].items():
        if name not in members:
            raise BundleError(f"{path}: result file {name} is missing")
        if sha256_hex(members[name]) != entry["sha256"]:
            raise BundleError(f"{path}: {name} was altered after the run (sha256 differs from the manifest)")
    out = path
    if not path.is_dir():
        out = path.with_name(path.name.removesuffix(".tar"))
        out.mkdir(parents=True, exist_ok=True)
        for name, data in members.items():
            (out / name).write_bytes(data)
    return JobResult(out_dir=out, manifest=manifest)


def read_frame(result: JobResult, name: str) -> pd.DataFrame:
    return pd.read_parquet(result.out_dir / name)
