"""The per-window Optuna search: TPE asked in batches, each batch scored by one `run_sweep` call.

Determinism and resumability (same seed -> same trials, uninterrupted or resumed after a kill):
- the sampler of batch b of window k is a fresh `TPESampler` seeded with `sampler_seed(seed, k, b)`, so
  what it proposes depends only on that seed and the trials of earlier batches, never on a random
  state a crash would lose;
- the search runs on an in-memory study; after a batch is evaluated and told, its completed trials are
  copied into the persistent study (one journal record per trial, not one per attribute: this is what
  keeps the storage cheap). Only complete trials are ever persisted;
- on resume the persisted trials of complete batches are loaded into the working study in (batch, slot)
  order, which recreates the exact history; a batch with missing slots (killed while persisting) is
  recomputed from its seed and only the missing slots are persisted, after checking that the present
  ones are what the recomputation produced.
Every trial carries the user attribute `wf` = [batch, slot] (slot: position in the batch); the trial
table is ordered by them. Several machines can share one storage: each window is one study.

Scores: the objective's metric from the engine (annualized, metrics.py definitions); an undefined
metric (no trades, zero variance) scores `UNDEFINED_SCORE`; a ruined run (NAV reached 0, see
`auraquant.cta.backtest.metrics`) scores `RUINED_SCORE`, below every other run, whatever its metric. `constrained` maximizes Sharpe under
trades >= min_trades through Optuna's trial constraints (`min_trades - trades <= 0` is feasible), which
TPE uses to rank infeasible trials below feasible ones.
Pruning is not used: a batch is one vectorized engine call, there is no intermediate value to prune on.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock
from optuna.trial import FrozenTrial, TrialState

from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.strategy.spec import Categorical, FloatRange, IntRange, Spec

UNDEFINED_SCORE = -1e9
RUINED_SCORE = -1e12
METRIC_COLUMNS = ("sharpe", "sortino", "calmar", "total_return", "max_drawdown", "trades", "daily_mean",
                  "daily_std", "n_days", "skew", "kurtosis", "ruined")

_storages: dict[str, optuna.storages.BaseStorage] = {}
_storages_lock = threading.Lock()


@dataclass
class Timings:
    """Wall seconds spent inside Optuna (ask, tell, storage) and inside the engine."""

    optuna_s: float = 0.0
    engine_s: float = 0.0

    def add(self, other: Timings) -> None:
        self.optuna_s += other.optuna_s
        self.engine_s += other.engine_s


@dataclass
class SearchOutcome:
    trials: pd.DataFrame
    timings: Timings = field(default_factory=Timings)


class _FlockLock(BaseJournalFileLock):
    """Journal lock held with flock(2): the kernel drops it when the holder dies, so a killed run never
    leaves a stale lock behind (Optuna's own file locks wait out a grace period first)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._local.fd = fd
        return True

    def release(self) -> None:
        fd = self._local.fd
        self._local.fd = None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url`: `journal:<path>` (a JournalFile, safe for several processes on one
    machine; locked with flock) or any Optuna RDB URL (`sqlite:///...`, `postgresql://...`). One object
    per URL per process."""
    with _storages_lock:
        st = _storages.get(url)
        if st is None:
            if url.startswith("journal:"):
                path = Path(url.removeprefix("journal:"))
                path.parent.mkdir(parents=True, exist_ok=True)
                backend = JournalFileBackend(str(path), lock_obj=_FlockLock(f"{path}.flock"))
                st = optuna.storages.JournalStorage(backend)
            else:
                st = optuna.storages.RDBStorage(url)
            _storages[url] = st
        return st


def distributions(spec: Spec) -> dict[str, BaseDistribution]:
    """Optuna distributions of the Spec's search space, keyed by parameter path."""
    if not spec.search_space:
        raise ValueError(f"spec {spec.name!r} has an empty search_space: nothing to search")
    out: dict[str, BaseDistribution] = {}
    for path, sp in spec.search_space.items():
        if isinstance(sp, IntRange):
            out[path] = IntDistribution(sp.low, sp.high, log=sp.log, step=sp.step)
        elif isinstance(sp, FloatRange):
            out[path] = FloatDistribution(sp.low, sp.high, log=sp.log, step=sp.step)
        elif isinstance(sp, Categorical):
            out[path] = CategoricalDistribution(list(sp.choices))
        else:  # pragma: no cover - the Spec model admits nothing else
            raise TypeError(f"unsupported search space {sp!r}")
    return out


def sampler_seed(seed: int, window: int, batch: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{window}/{batch}".encode()).digest()[:4], "little")


def score(metrics: pd.DataFrame, cfg: SearchConfig) -> np.ndarray:
    """The objective value of each row of an engine metrics table (see the module docstring)."""
    col = "sharpe" if cfg.objective == "constrained" else cfg.objective
    v = metrics[col].to_numpy(dtype=float)
    out = np.where(np.isfinite(v), v, UNDEFINED_SCORE)
    if "ruined" in metrics:
        out = np.where(metrics["ruined"].to_numpy(dtype=float) > 0, RUINED_SCORE, out)
    return out


def feasible(metrics: pd.DataFrame, cfg: SearchConfig) -> np.ndarray:
    if cfg.objective != "constrained":
        return np.ones(len(metrics), dtype=bool)
    return metrics["trades"].to_numpy(dtype=float) >= cfg.min_trades


def _sampler(cfg: SearchConfig, seed: int) -> optuna.samplers.TPESampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.n_startup_trials, multivariate=True,
                                          constant_liar=True)


def evaluate(bars: pd.DataFrame, spec: Spec, param_sets: list[dict[str, Any]], cfg: SearchConfig,
             threads: int | None = None, extra_dir: str | None = None) -> pd.DataFrame:
    """Engine metrics of each parameter set plus `score` and `feasible` columns. `extra_dir` holds the
    workspace's own modules (agent-written), as for the engine."""
    table = run_sweep(bars, spec, param_sets, threads=threads, extra_dir=extra_dir)
    table["score"] = score(table, cfg)
    table["feasible"] = feasible(table, cfg)
    return table


def search_window(bars: pd.DataFrame, spec: Spec, cfg: SearchConfig, *, storage_url: str, study_name: str,
                  seed: int, window: int, engine_threads: int | None = None,
                  on_batch: Callable[[int], None] | None = None, extra_dir: str | None = None) -> SearchOutcome:
    """Run (or resume) the search of one window on `bars` (its train segment) and return the trial table:
    one row per completed trial, ordered by (batch, slot), with params, engine metrics, score, feasible."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tm = Timings()
    t0 = time.perf_counter()
    persisted = optuna.create_study(study_name=study_name, storage=open_storage(storage_url),
                                    direction="maximize", load_if_exists=True)
    work = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
    dists = distributions(spec)
    stored: dict[tuple[int, int], FrozenTrial] = {}
    for t in persisted.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "wf" in t.user_attrs:
            stored[(int(t.user_attrs["wf"][0]), int(t.user_attrs["wf"][1]))] = t
    tm.optuna_s += time.perf_counter() - t0

    for b in range(math.ceil(cfg.n_trials / cfg.batch_size)):
        size = min(cfg.batch_size, cfg.n_trials - b * cfg.batch_size)
        have = [stored.get((b, slot)) for slot in range(size)]
        t0 = time.perf_counter()
        if all(t is not None for t in have):
            work.add_trials(have)  # type: ignore[arg-type]
            tm.optuna_s += time.perf_counter() - t0
            continue
        work.sampler = _sampler(cfg, sampler_seed(seed, window, b))
        trials = []
        for slot in range(size):
            trial = work.ask(fixed_distributions=dists)
            trial.set_user_attr("wf", [b, slot])
            trials.append(trial)
        tm.optuna_s += time.perf_counter() - t0

        t0 = time.perf_counter()
        table = evaluate(bars, spec, [dict(t.params) for t in trials], cfg, engine_threads, extra_dir)
        tm.engine_s += time.perf_counter() - t0

        t0 = time.perf_counter()
        for trial, row in zip(trials, table.itertuples(index=False), strict=True):
            if cfg.objective == "constrained":
                trial.set_constraint("min_trades", float(cfg.min_trades - row.trades))
            work.tell(trial, float(row.score))
        for slot, frozen in enumerate(work.get_trials(deepcopy=False)[-size:]):
            prior = have[slot]
            if prior is None:
                persisted.add_trial(frozen)
            elif prior.params != frozen.params or prior.value != frozen.value:
                raise RuntimeError(f"study {study_name!r} batch {b} slot {slot} holds a different trial than "
                                   "this search produces; the storage belongs to other bars, spec or seed")
        tm.optuna_s += time.perf_counter() - t0
        if on_batch is not None:
            on_batch(size)

    done = work.get_trials(deepcopy=False)
    params = [{p: t.params[p] for p in dists} for t in done]
    t0 = time.perf_counter()
    table = evaluate(bars, spec, params, cfg, engine_threads, extra_dir)
    tm.engine_s += time.perf_counter() - t0
    stored_scores = np.array([t.value for t in done], dtype=float)
    if not np.array_equal(stored_scores, table["score"].to_numpy()):
        raise RuntimeError(f"study {study_name!r}: stored trial values differ from a re-evaluation; the storage "
                           "belongs to different bars or a different spec")
    head = pd.DataFrame({"batch": [int(t.user_attrs["wf"][0]) for t in done],
                         "slot": [int(t.user_attrs["wf"][1]) for t in done],
                         "optuna_number": [t.number for t in done]})
    cols = [*dists, *METRIC_COLUMNS, "score", "feasible"]
    return SearchOutcome(trials=pd.concat([head, table[cols]], axis=1), timings=tm)
