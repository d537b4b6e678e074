"""The Monte Carlo job kind: a stationary block bootstrap of one configuration's daily returns, split into
independently seeded chunks, so it spreads over workers and is audited chunk by chunk.

A Monte Carlo job (`JobSpec.kind == "montecarlo"`, made by `make_montecarlo_job`) carries the spec, one
parameter set (`param_sets[0]`) and `montecarlo = {n_sims, chunk_sims, mean_block}`. Everywhere it runs:
1. the configuration is backtested on the bundle's bars and its UTC daily returns taken
   (`experiment.stitch.daily_returns`, annualised with the spec's basis), as `montecarlo_run` does; workspace
   modules the spec uses run from the bundle's own sources, in the sandbox worker, after the look-ahead gate;
2. the mean block length is `mean_block`, or arch's optimal length of those returns (deterministic);
3. chunk c simulates `chunk_sims` paths (the last chunk the rest) with
   `experiment.montecarlo.block_bootstrap_mc(seed=chunk_seed(job.seed, c))`: chunks depend on nothing but
   the returns and their own seed, so any subset can be recomputed alone.

Result files: `paths.parquet` (sim, chunk, final_return, max_drawdown, sharpe) and `returns.parquet` (the
daily returns simulated). The manifest's `top` holds one entry: the parameter set and the summary statistics
(mean, median, 2.5% and 97.5% of each statistic) of all paths.

Local verification (`verify_montecarlo`): the returns and block length are recomputed here and must be
bit-identical; every chunk's structure is checked; `audit_n` chunks (default 10%, at least 2) drawn with the
workspace's audit secret are re-simulated here and must be bit-identical; the summary is recomputed here from
the received paths (whose audited chunks reproduced) and must equal the manifest's. The verdict states the
chance that one forged chunk escapes (1 - k/n).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.cloud.bundle import Bundle, JobSpec, make_job, materialize_modules
from auraquant.jsonsafe import json_safe

PATHS_FILE = "paths.parquet"
RETURNS_FILE = "returns.parquet"
STATS = ("final_return", "max_drawdown", "sharpe")

# Maps the chunk simulator over chunk indices (in order): sequential here, one task per chunk on Dask.
ChunkMapper = Callable[[Callable[..., pd.DataFrame], np.ndarray, float, float, int, list[tuple[int, int]]],
                       list[pd.DataFrame]]


def make_montecarlo_job(bars: pd.DataFrame, spec: Any, params: dict[str, int | float] | None = None, *,
                        n_sims: int = 10_000, chunk_sims: int = 1_000, mean_block: float | None = None,
                        seed: int = 0, data_version_id: str | None = None, symbol: str = "",
                        timeframe: str = "", modules: dict[tuple[str, str], bytes] | None = None) -> JobSpec:
    """A Monte Carlo job of `spec` under `params` (the spec's own values when None) over `bars`; `modules`: the
    sources of the workspace modules the spec uses (`bundle.make_job`)."""
    if n_sims < 1 or chunk_sims < 1:
        raise ValueError("n_sims and chunk_sims must be >= 1")
    if mean_block is not None and mean_block < 1:
        raise ValueError(f"mean_block must be >= 1, got {mean_block}")
    return make_job(bars, spec, kind="montecarlo", param_sets=[dict(params or {})], seed=seed, top_k=1,
                    data_version_id=data_version_id, symbol=symbol, timeframe=timeframe, modules=modules,
                    montecarlo={"n_sims": int(n_sims), "chunk_sims": int(chunk_sims), "mean_block": mean_block})


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk `chunk`: independent of every other chunk, fixed by the job's seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}/mc/{chunk}".encode()).digest()[:8], "little")


def chunks(job: JobSpec) -> list[tuple[int, int]]:
    """(chunk index, sims) of each chunk, in order."""
    mc = job.montecarlo or {}
    n, size = int(mc["n_sims"]), int(mc["chunk_sims"])
    return [(c, min(size, n - a)) for c, a in enumerate(range(0, n, size))]


def returns_of(bundle: Bundle, extra_dir: Path | None = None) -> tuple[np.ndarray, float, float]:
    """(daily returns, mean block length, periods per year) of the job's configuration on its bars (`extra_dir`:
    the bundle's module root, `bundle.materialize_modules`; laid out here in a scratch directory when None)."""
    if bundle.modules and extra_dir is None:
        with tempfile.TemporaryDirectory(prefix="aq-modules-") as tmp:
            return returns_of(bundle, materialize_modules(bundle, tmp))
    from auraquant.cta.backtest.engine import run_backtest
    from auraquant.cta.experiment.montecarlo import default_block_length
    from auraquant.cta.experiment.stitch import daily_returns
    from auraquant.cta.strategy.spec import apply_params

    job = bundle.job
    spec = apply_params(job.spec, job.param_sets[0])
    res = run_backtest(bundle.bars, spec, record=True, extra_dir=extra_dir)
    assert res.equity is not None
    r = daily_returns(res.equity, spec.engine.initial_capital).to_numpy(dtype=np.float64)
    if r.size < 5:
        raise ValueError(f"only {r.size} daily returns: too few for a Monte Carlo")
    mb = (job.montecarlo or {}).get("mean_block")
    return r, (default_block_length(r) if mb is None else float(mb)), float(spec.engine.annualization)


def simulate_chunk(returns: np.ndarray, mean_block: float, per_year: float, seed: int, chunk: int,
                   sims: int) -> pd.DataFrame:
    """The paths of one chunk (pure: the same inputs give bit-identical rows)."""
    from auraquant.cta.experiment.montecarlo import block_bootstrap_mc

    mc = block_bootstrap_mc(returns, n_sims=sims, seed=chunk_seed(seed, chunk), mean_block=mean_block,
                            periods_per_year=per_year)
    return pd.DataFrame({"chunk": np.full(sims, chunk, dtype=np.int64), "final_return": mc.final_return,
                         "max_drawdown": mc.max_drawdown, "sharpe": mc.sharpe})


def local_mapper(fn: Callable[..., pd.DataFrame], returns: np.ndarray, mean_block: float, per_year: float,
                 seed: int, todo: list[tuple[int, int]]) -> list[pd.DataFrame]:
    return [fn(returns, mean_block, per_year, seed, c, n) for c, n in todo]


def paths_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "sim", np.arange(len(out), dtype=np.int64))
    return out


def summary(paths: pd.DataFrame) -> dict[str, float | None]:
    """Mean, median, 2.5% and 97.5% quantiles of each statistic over all paths (flat keys)."""
    out: dict[str, float | None] = {}
    for s in STATS:
        v = paths[s].to_numpy(dtype=np.float64)
        for name, x in (("mean", np.mean(v)), ("median", np.median(v)), ("p2_5", np.percentile(v, 2.5)),
                        ("p97_5", np.percentile(v, 97.5))):
            out[f"{s}_{name}"] = json_safe(float(x))
    return out


def montecarlo_top(job: JobSpec, paths: pd.DataFrame, mean_block: float) -> list[dict[str, Any]]:
    """The manifest's `top` of a Monte Carlo job: its parameter set, the paths' summary and the block length."""
    return [{"rank": 1, "trial": 0, "params": job.param_sets[0], "metrics": summary(paths) | {"mean_block": mean_block}}]


def run_montecarlo(bundle: Bundle, out_dir: Path | str, archive: Path | str | None = None,
                   mapper: ChunkMapper | None = None, t0: float | None = None, extra_dir: Path | None = None) -> Any:
    """Simulate every chunk (through `mapper`, default in this process) and write the result files
    (`extra_dir`: the bundle's module root; the chunks themselves only resample the returns)."""
    from auraquant.cta.cloud import runner

    start = time.perf_counter() if t0 is None else t0
    job = bundle.job
    r, mb, per_year = returns_of(bundle, extra_dir)
    paths = paths_table((mapper or local_mapper)(simulate_chunk, r, mb, per_year, job.seed, chunks(job)))
    files: dict[str, pd.DataFrame | bytes] = {PATHS_FILE: paths, RETURNS_FILE: pd.DataFrame({"ret": r})}
    top = montecarlo_top(job, paths, mb)
    return runner.write_results(job, files, top, out_dir, archive, time.perf_counter() - start)


def smoke_montecarlo_job(job: JobSpec, bars: pd.DataFrame) -> tuple[JobSpec, pd.DataFrame]:
    """The smoke run: one small chunk of the same configuration on the same bars."""
    mc = job.montecarlo or {}
    sims = min(int(mc["chunk_sims"]), 100)
    return job.model_copy(update={"montecarlo": {**mc, "n_sims": sims, "chunk_sims": sims}}), bars


def verify_montecarlo(bundle: Bundle, jid: str, result: Any, *, audit_n: int | None, secret: bytes) -> Any:
    """The local checks of a Monte Carlo job (module docstring); returns a `trust.Verification`."""
    from auraquant.cta.cloud import audit, runner
    from auraquant.cta.cloud.consistency import bits_equal
    from auraquant.cta.cloud.trust import (
        Verification,
        check_frame,
        check_identity,
        manifest_digest,
        refuse,
        same_json,
    )

    job = bundle.job
    check_identity(job, jid, result, len(job.param_sets), {PATHS_FILE, RETURNS_FILE})
    with tempfile.TemporaryDirectory(prefix="aq-verify-") as tmp:
        # workspace modules re-run from the bundle's own sources after the look-ahead gate here, as for a sweep
        extra = materialize_modules(bundle, tmp)
        runner.check_modules_causal(bundle, extra)
        r, mb, per_year = returns_of(bundle, extra)
    check_frame(jid, result, RETURNS_FILE, pd.DataFrame({"ret": r}), "the daily returns simulated")
    paths = runner.read_frame(result, PATHS_FILE)
    plan = chunks(job)
    want_chunks = np.concatenate([np.full(n, c, dtype=np.int64) for c, n in plan])
    if list(paths.columns) != ["sim", "chunk", *STATS] or len(paths) != len(want_chunks) \
            or not np.array_equal(paths["sim"].to_numpy(), np.arange(len(paths))) \
            or not np.array_equal(paths["chunk"].to_numpy(), want_chunks):
        raise refuse(jid, f"{PATHS_FILE} does not hold exactly the job's {len(plan)} chunks of paths")
    stats = paths[list(STATS)].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(stats)) or stats[:, 1].min() < -1 or stats[:, 1].max() > 0 or stats[:, 0].min() < -1:
        raise refuse(jid, "a path has an impossible statistic (non-finite, drawdown outside [-1, 0], loss > 100%)")
    digest = manifest_digest(result)
    k = audit.default_audit_count(len(plan)) if audit_n is None else max(0, min(audit_n, len(plan)))
    audited = audit.draw([c for c, _ in plan], k, audit.audit_seed(secret, jid, digest, "montecarlo"))
    sizes = dict(plan)
    for c in audited:
        local = simulate_chunk(r, mb, per_year, job.seed, c, sizes[c])
        claimed = paths[paths["chunk"] == c]
        if not bits_equal(claimed[list(STATS)].to_numpy(dtype=np.float64), local[list(STATS)].to_numpy(dtype=np.float64)):
            raise refuse(jid, f"audited chunk {c} does not reproduce bit for bit")
    top = montecarlo_top(job, paths, mb)
    if not same_json(result.manifest.get("top"), top):
        raise refuse(jid, "the manifest's summary differs from the one recomputed here from the paths")
    n = len(plan)
    checks = ["file hashes", "manifest identity", "daily returns and block length recomputed", "chunk structure",
              f"{len(audited)} of {n} chunks re-simulated bit for bit", "summary recomputed"]
    return Verification(job_id=jid, kind=job.kind, reproduced_trials=[0], audited_trials=audited, auditable=n,
                        escape_probability=audit.escape_probability(n, len(audited)), top=top, checks=checks,
                        details={"odds": f"{len(audited)} of {n} chunks re-simulated with the local secret: one forged "
                                         f"chunk escapes with probability {audit.escape_probability(n, len(audited)):.3f}"})


def calibrate_montecarlo(job: JobSpec, bars: pd.DataFrame,
                         modules: dict[tuple[str, str], bytes] | None = None) -> Any:
    """A `cost.Calibration` for a Monte Carlo job, measured here after a warm-up: the backtest and returns
    (`call_s`; workspace `modules` run as they will, in the sandbox worker) and one 200-path chunk, best of 3
    (`unit_s` per simulated path-day)."""
    from auraquant.cta.cloud.cost import Calibration

    t_start = time.perf_counter()
    bundle = Bundle(job=job, bars=bars, modules=dict(modules or {}))
    with tempfile.TemporaryDirectory(prefix="aq-calibrate-") as tmp:
        extra = materialize_modules(bundle, tmp)
        returns_of(bundle, extra)  # warm-up: loads (or compiles) the engine once, which a run does not pay per chunk
        t0 = time.perf_counter()
        r, mb, per_year = returns_of(bundle, extra)
        call_s = time.perf_counter() - t0
    sims = 200
    simulate_chunk(r, mb, per_year, 0, 0, 5)  # warm-up (numba)
    best = float("inf")
    for _ in range(3):  # best of 3: a shared machine's hiccups would otherwise scale with the job
        t0 = time.perf_counter()
        simulate_chunk(r, mb, per_year, 0, 0, sims)
        best = min(best, time.perf_counter() - t0)
    unit = best / (sims * r.size)
    return Calibration(call_s=call_s, unit_s=unit, module_s=0.0, record_s=0.0, io_s=0.0, sample_bars=int(r.size),
                       sample_sets=sims, measured_s=time.perf_counter() - t_start)


def montecarlo_work(job: JobSpec, cal: Any, fixed_s: float) -> tuple[int, int, float]:
    """(simulated path-days, chunks, seconds) of a Monte Carlo job from `calibrate_montecarlo`."""
    units = int((job.montecarlo or {})["n_sims"]) * cal.sample_bars
    return units, len(chunks(job)), cal.call_s + units * cal.unit_s + fixed_s
