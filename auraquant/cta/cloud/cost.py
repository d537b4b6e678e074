"""Cost and time estimates before anything runs, and the local-vs-offload routing rule.

Time model (seconds) for a sweep job of B bars and N parameter sets, top_k recorded artifacts:

    local_s = call_s + B x N x unit_s + B x D x module_s + top_k x B x (record_s + io_s / 2) + B x io_s + fixed_s

where D is the number of distinct module configurations among the parameter sets (`distinct_modules`):
a sweep prepares each distinct indicator/filter/stop configuration once and runs the kernel once per set.
The per-bar costs come from a calibration run of the engine on this machine (`calibrate`). The calibration is what makes the
estimate honest: nothing is assumed about the hardware.

Money model (USD), Claude Managed Agents: a container bills only while the session is `running`, at
`SESSION_HOUR_USD` per hour, metered by the second (the Managed Agents published pricing);
container_s = local_s x `container_speed` (the remote/local speed ratio, 1 unless measured) + setup_s
(install + smoke job). Tokens are the agent loop's: turns x (input, output, prompt-cache read and write) tokens
at the model's list price per million (cache reads at 0.1x, 5-minute cache writes at 1.25x the input price). Dask costs no money here (an existing cluster); only time is estimated.

A training job (`training.py`) is calibrated on its first window (one and two epochs, sample building,
prediction) and estimated per window: per-window overhead + train samples x epochs x per-sample-epoch cost +
sample building + target prediction; its `units` are training sample-epochs and `param_sets` its windows.
A Monte Carlo job (`montecarlo_job.py`) is timed by its backtest and a 200-path chunk: backtest + paths x days
x per-path-day cost; its `units` are simulated path-days and `param_sets` its chunks.

Routing: `local` when the local estimate is under `offload_above_s`, else `offload`; asking for a backend
explicitly overrides it. Anything whose estimated wall time exceeds `confirm_above_s` or whose cost exceeds
`confirm_above_usd` needs an explicit yes (`--yes` or an interactive prompt).
"""

from __future__ import annotations

import io as io_mod
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from auraquant.content_hash import bars_content_hash
from auraquant.cta.backtest.engine import run_backtest, run_sweep
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.cloud.bundle import JobSpec
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import apply_params

SESSION_HOUR_USD = 0.08
# List prices in USD per million tokens (input, output) for the models the orchestrating agent may use.
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-opus-4-1": (15.0, 75.0),
}
DEFAULT_MODEL = "claude-haiku-4-5"


def model_price(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens; dated ids (`claude-haiku-4-5-20251001`) match their family."""
    for name, price in MODEL_PRICES.items():
        if model == name or model.startswith(name + "-"):
            return price
    raise ValueError(f"no list price known for model {model!r}; known: {sorted(MODEL_PRICES)}")


class Calibration(BaseModel):
    """Measured engine costs on this machine, per bar, for one job's spec and mix of parameters.

    - `call_s`: fixed overhead of one sweep call (seconds);
    - `unit_s`: the compiled kernel and the per-set bookkeeping, per bar and parameter set;
    - `module_s`: preparing one distinct module configuration (indicators, filters, stop series), per bar;
    - `record_s`: one recorded backtest (equity, trades, decisions), per bar;
    - `io_s`: reading + hashing the bars and writing one result frame, per bar.
    """

    model_config = {"frozen": True}
    call_s: float
    unit_s: float
    module_s: float
    record_s: float
    io_s: float
    sample_bars: int
    sample_sets: int
    measured_s: float


class TokenModel(BaseModel):
    """Token use of the orchestrating agent: `turns` model requests of about this size each, of which the
    growing transcript is mostly read from the prompt cache (`cache_read_per_turn`) after being written to it
    (`cache_write_per_turn`, 5-minute entries): both are billed (`session_cost_usd`)."""

    model_config = {"frozen": True}
    turns: int = 8
    input_per_turn: int = 6_000
    output_per_turn: int = 400
    cache_read_per_turn: int = 6_000
    cache_write_per_turn: int = 1_500

    def usd(self, model: str) -> float:
        """List price of `turns` requests on `model`, prompt-cache tokens included."""
        return session_cost_usd(0.0, self.turns * self.input_per_turn, self.turns * self.output_per_turn, model,
                                cache_read_tokens=self.turns * self.cache_read_per_turn,
                                cache_write_5m_tokens=self.turns * self.cache_write_per_turn)


class Estimate(BaseModel):
    """What a job will take. Every number comes from the job's size and a `Calibration`."""

    job_id: str
    bars: int
    param_sets: int
    units: int
    local_s: float
    container_s: float
    runtime_usd: float
    model: str
    input_tokens: int
    output_tokens: int
    tokens_usd: float
    total_usd: float
    route: Literal["local", "offload"]
    needs_confirmation: bool
    reasons: list[str]


@dataclass(frozen=True)
class Policy:
    """Routing and confirmation thresholds."""

    offload_above_s: float = 600.0
    confirm_above_s: float = 1800.0
    confirm_above_usd: float = 1.0
    container_speed: float = 1.0
    setup_s: float = 90.0
    fixed_s: float = 0.05
    trial_overhead_s: float = 0.004  # Optuna ask/tell + journal write per trial (walk-forward)


def _sample_indices(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(n, k)).round()})


def distinct_modules(spec: JobSpec | None, param_sets: list[dict]) -> int:
    """Distinct module configurations a sweep must prepare: per module, the distinct values of its parameters.

    Parameter paths name their module (`baseline.fast`, `execution.trailing_pct.pct`); a module none of whose
    parameters vary counts once.
    """
    groups: dict[str, set] = {}
    for p in param_sets or [{}]:
        by_mod: dict[str, list] = {}
        for path, v in sorted(p.items()):
            by_mod.setdefault(path.rsplit(".", 1)[0], []).append((path, v))
        for mod, items in by_mod.items():
            groups.setdefault(mod, set()).add(tuple(items))
    n_modules = 1 + (len(spec.spec.filters) + len(spec.spec.execution) + len(spec.spec.risk) if spec else 0)
    return sum(len(v) for v in groups.values()) + max(0, n_modules - len(groups))


def _timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def calibrate(job: JobSpec, bars: pd.DataFrame, *, sample_bars: int = 100_000, sample_sets: int = 16,
              threads: int | None = None, modules: dict[tuple[str, str], bytes] | None = None) -> Calibration:
    """Time the engine on a slice of `bars` with an evenly spaced sample of the job's own parameter sets.

    The sample covers the job's own bars (up to `sample_bars`, so per-set costs are measured at the job's
    scale). After a warm-up call (loads the compiled kernels), best of 3 each: the sweep of the S sampled
    sets; the same sets repeated 8x (same preparation, 8x the kernel work) -> the kernel's per-unit cost;
    the engine's preparation step alone (`backtest.prepare`: indicators, filters, stop series, one per
    distinct module configuration) -> the per-module cost; the remainder is the per-call overhead.
    A recorded backtest and a Parquet round trip of the bars give the rest. `modules`: the bundle's workspace
    module sources (timed as they run: in the sandbox worker).
    """
    if job.kind == "train":  # no sweep to time: a training job is timed on its own first window
        from auraquant.cta.cloud.training import calibrate_training

        return calibrate_training(job, bars)
    if job.kind == "montecarlo":
        from auraquant.cta.cloud.montecarlo_job import calibrate_montecarlo

        return calibrate_montecarlo(job, bars, modules)
    if modules:
        import tempfile

        from auraquant.cta.cloud.batches import write_module_root

        with tempfile.TemporaryDirectory(prefix="aq-calibrate-") as tmp:
            return _calibrate(job, bars, sample_bars, sample_sets, threads, write_module_root(modules, Path(tmp)))
    return _calibrate(job, bars, sample_bars, sample_sets, threads, None)


def _calibrate(job: JobSpec, bars: pd.DataFrame, sample_bars: int, sample_sets: int, threads: int | None,
               extra: Path | None) -> Calibration:
    t_start = time.perf_counter()
    sets = job.param_sets or [{}]
    picked = [sets[i] for i in _sample_indices(len(sets), sample_sets)]
    big = bars.iloc[-sample_bars:].reset_index(drop=True)
    n = len(big)
    warm = big.iloc[-500:].reset_index(drop=True)  # warm-up: load (or compile) both kernels before timing
    run_sweep(warm, job.spec, picked[:1], threads=threads, extra_dir=extra)
    run_backtest(warm, apply_params(job.spec, picked[0]), record=True, extra_dir=extra)
    frame = bars_from_frame(big)
    t_sweep = _timed(lambda: run_sweep(frame, job.spec, picked, threads=threads, extra_dir=extra))
    t_sweep8 = _timed(lambda: run_sweep(frame, job.spec, picked * 8, threads=threads, extra_dir=extra))
    t_prep = _timed(lambda: prepare(frame, job.spec, picked, extra))
    unit = max(t_sweep8 - t_sweep, 0.0) / (7 * n * len(picked)) or t_sweep8 / (8 * n * len(picked))
    module = t_prep / (n * distinct_modules(job, picked))
    call = max(0.0, t_sweep - t_prep - unit * n * len(picked))
    record = _timed(lambda: run_backtest(big, apply_params(job.spec, picked[0]), record=True, extra_dir=extra), 1) / n

    def io() -> None:
        buf = io_mod.BytesIO()
        big.to_parquet(buf, index=False, compression="zstd")
        bars_content_hash(pd.read_parquet(io_mod.BytesIO(buf.getvalue())))

    io_s = _timed(io) / n
    return Calibration(call_s=call, unit_s=unit, module_s=module, record_s=record, io_s=io_s, sample_bars=n,
                       sample_sets=len(picked), measured_s=time.perf_counter() - t_start)


def estimate_job(job: JobSpec, cal: Calibration, *, policy: Policy | None = None, model: str = DEFAULT_MODEL,
                 tokens: TokenModel | None = None) -> Estimate:
    """The time and money a job will take, and where it should run (see the module docstring)."""
    p = policy or Policy()
    tk = tokens or TokenModel()
    bars = job.data.bars
    if job.kind == "walkforward":
        units, n_sets, local_s = _walkforward_work(job, cal, p)
    elif job.kind == "train":
        from auraquant.cta.cloud.training import training_work

        units, n_sets, local_s = training_work(job, cal, p.fixed_s)
    elif job.kind == "montecarlo":
        from auraquant.cta.cloud.montecarlo_job import montecarlo_work

        units, n_sets, local_s = montecarlo_work(job, cal, p.fixed_s)
    else:
        n_sets = max(1, len(job.param_sets))
        units = bars * n_sets
        local_s = (cal.call_s + units * cal.unit_s + distinct_modules(job, job.param_sets) * bars * cal.module_s
                   + job.top_k * bars * (cal.record_s + cal.io_s / 2) + bars * cal.io_s + p.fixed_s)
    container_s = local_s * p.container_speed + p.setup_s
    runtime_usd = container_s / 3600.0 * SESSION_HOUR_USD
    in_tok, out_tok = tk.turns * tk.input_per_turn, tk.turns * tk.output_per_turn
    tokens_usd = tk.usd(model)
    total = runtime_usd + tokens_usd
    route: Literal["local", "offload"] = "offload" if local_s > p.offload_above_s else "local"
    reasons = [f"estimated local run {local_s:,.1f}s "
               f"({'above' if route == 'offload' else 'within'} the {p.offload_above_s:,.0f}s local limit)"]
    wall = container_s if route == "offload" else local_s
    confirm = wall > p.confirm_above_s or total > p.confirm_above_usd
    if wall > p.confirm_above_s:
        reasons.append(f"long run: {wall:,.0f}s > {p.confirm_above_s:,.0f}s needs --yes")
    if total > p.confirm_above_usd:
        reasons.append(f"cost ${total:,.4f} > ${p.confirm_above_usd:,.2f} needs --yes")
    return Estimate(job_id=job.id, bars=job.data.bars, param_sets=n_sets, units=units, local_s=local_s,
                    container_s=container_s, runtime_usd=runtime_usd, model=model, input_tokens=in_tok,
                    output_tokens=out_tok, tokens_usd=tokens_usd, total_usd=total, route=route,
                    needs_confirmation=confirm, reasons=reasons)


def _walkforward_work(job: JobSpec, cal: Calibration, p: Policy) -> tuple[int, int, float]:
    """(bar-evaluations, trials, seconds) of a walk-forward: per window, every trial on train (each trial a new
    module configuration), the top-k on validation, the choice on target; plus Optuna's per-trial cost."""
    from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig, plan_windows

    cfg = job.search or {}
    wf = WalkForwardConfig.model_validate(cfg["walk_forward"])
    sc = SearchConfig.model_validate(cfg.get("search", {}))
    windows = plan_windows(job.data.bars - int(cfg.get("holdout_bars", 0)), wf)
    units = sum(w.train.length * sc.n_trials + (w.validation.length * sc.top_k if w.validation else 0)
                + w.target.length for w in windows)
    trials = sc.n_trials * len(windows)
    batches = len(windows) * -(-sc.n_trials // sc.batch_size)
    seconds = (units * (cal.unit_s + cal.module_s) + batches * cal.call_s + trials * p.trial_overhead_s
               + sum(w.target.length for w in windows) * (cal.record_s + cal.io_s) + job.data.bars * cal.io_s
               + p.fixed_s)
    return units, trials, seconds


# Prompt-cache prices as multiples of the model's input price (Anthropic list pricing): reading a cached prefix,
# writing a 5-minute entry, writing a 1-hour entry. Sessions cache their growing transcript, so these tokens are
# a large share of an agent loop's input and must be billed, not ignored.
CACHE_READ_FACTOR = 0.1
CACHE_WRITE_5M_FACTOR = 1.25
CACHE_WRITE_1H_FACTOR = 2.0


def session_cost_usd(active_seconds: float, input_tokens: int, output_tokens: int, model: str, *,
                     cache_read_tokens: int = 0, cache_write_5m_tokens: int = 0,
                     cache_write_1h_tokens: int = 0) -> float:
    """What a finished session cost at list prices: running time x hourly rate + tokens, where the prompt-cache
    tokens (`usage.cache_read_input_tokens`, `usage.cache_creation.ephemeral_{5m,1h}_input_tokens`) are priced
    at `CACHE_READ_FACTOR`, `CACHE_WRITE_5M_FACTOR` and `CACHE_WRITE_1H_FACTOR` times the input price."""
    pin, pout = model_price(model)
    cache_in = (cache_read_tokens * CACHE_READ_FACTOR + cache_write_5m_tokens * CACHE_WRITE_5M_FACTOR
                + cache_write_1h_tokens * CACHE_WRITE_1H_FACTOR)
    return (active_seconds / 3600.0 * SESSION_HOUR_USD + (input_tokens + cache_in) / 1e6 * pin
            + output_tokens / 1e6 * pout)
