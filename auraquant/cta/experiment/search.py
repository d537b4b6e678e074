"""The per-window search: parameter sets proposed in batches, each batch scored by one `run_sweep` call.

Samplers (`SearchConfig.sampler`):
- `qmc_parzen` (default): the first batch, and any batch while fewer than `n_startup_trials` trials exist,
  continues one scrambled Sobol sequence per window; later batches are batched Parzen (TPE-style)
  refinement with the constant-liar rule, computed in one vectorized pass (`auraquant.cta.experiment.
  sampler` states it exactly). Its trials are recorded in the window's Optuna study with `add_trial`.
- `optuna_tpe`: each batch asked from a fresh Optuna `TPESampler` (multivariate, constant liar) on an
  in-memory study holding the earlier trials, then told; the completed trials are copied to the record.

Determinism and resumability (same seed -> same trials, uninterrupted or resumed after a kill, with any
number of threads or workers):
- batch b of window k draws its randomness only from `sampler_seed(seed, k, b)` (the Sobol sequence of
  window k from `sampler_seed(seed, k, 0)`), and what it proposes depends only on that seed and the
  trials of earlier batches, never on a random state a crash would lose;
- a batch is persisted once evaluated, all its trials in one journal append (one record per trial, one
  fsync per batch: this is what keeps the storage cheap). Only complete trials are ever persisted;
- on resume the persisted trials of complete batches are re-evaluated (their stored scores must equal
  the re-evaluation, else the storage belongs to other bars, spec or seed) and form the history in (batch,
  slot) order, which recreates the exact search; a batch with missing slots (killed while persisting) is
  recomputed from its seed and only the missing slots are persisted, after checking that the present
  ones are what the recomputation produced.
Every trial carries the user attribute `wf` = [batch, slot] (slot: position in the batch); the trial
table is ordered by them and `optuna_number` is the position in that order (0 .. n_trials - 1). Each
evaluated parameter set is one trial, so the trial count DSR and the trial ledger use equals
`n_trials` per window. Several machines can share one storage: each window is one study.

Scores: the objective's metric from the engine (annualized, metrics.py definitions); an undefined
metric (no trades, zero variance) scores `UNDEFINED_SCORE`; a ruined run (NAV reached 0, see
`auraquant.cta.backtest.metrics`) scores `RUINED_SCORE`, below every other run, whatever its metric.
`constrained` maximizes Sharpe under trades >= min_trades: both samplers rank infeasible trials below
feasible ones (Optuna through its trial constraints, `min_trades - trades <= 0` is feasible).
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
from auraquant.cta.experiment import sampler as qmc_parzen
from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.strategy.spec import Categorical, FloatRange, IntRange, Spec

UNDEFINED_SCORE = -1e9
RUINED_SCORE = -1e12
METRIC_COLUMNS = ("sharpe", "sortino", "calmar", "total_return", "max_drawdown", "trades", "daily_mean",
                  "daily_std", "n_days", "skew", "kurtosis", "ruined")

_storages: dict[str, optuna.storages.BaseStorage] = {}
_backends: dict[str, _BatchedJournalBackend] = {}
_storages_lock = threading.Lock()


@dataclass
class Timings:
    """Wall seconds spent proposing and recording trials (the sampler, Optuna's ask/tell and storage:
    `optuna_s`) and inside the engine (`engine_s`)."""

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


class _BatchedJournalBackend(JournalFileBackend):
    """A journal file whose appends can be held back per thread (`deferred_writes`) and written as one
    locked append with one fsync. Readers never see a held-back record, so a batch is either on disk in
    full (up to a torn last line, which the journal reader skips) or not at all."""

    def __init__(self, file_path: str, lock_obj: BaseJournalFileLock) -> None:
        super().__init__(file_path, lock_obj=lock_obj)
        self._held = threading.local()

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        held = getattr(self._held, "logs", None)
        if held is None:
            super().append_logs(logs)
        else:
            held.extend(logs)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._held.logs = []
        try:
            yield
            logs = self._held.logs
        finally:
            self._held.logs = None
        if logs:
            super().append_logs(logs)


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
                backend = _BatchedJournalBackend(str(path), lock_obj=_FlockLock(f"{path}.flock"))
                _backends[url] = backend
                st = optuna.storages.JournalStorage(backend)
            else:
                st = optuna.storages.RDBStorage(url)
            _storages[url] = st
        return st


@contextmanager
def deferred_writes(url: str) -> Iterator[None]:
    """Within the block, this thread's writes to the journal storage `url` are appended at its end in one
    go (RDB storages: no change, each write is its own transaction)."""
    backend = _backends.get(url)
    if backend is None:
        yield
        return
    storage = _storages[url]
    # JournalStorage.create_new_trial reads back the id of the trial it just wrote, which a held-back
    # record does not have yet; the id is unused by `Study.add_trial`, but its attribute only exists once
    # this process has replayed a trial of its own, so it is initialised as Optuna's snapshot restore does.
    replay = storage._replay_result  # type: ignore[attr-defined]
    with storage._thread_lock:  # type: ignore[attr-defined]
        if not hasattr(replay, "_last_created_trial_id_by_this_process"):
            replay._last_created_trial_id_by_this_process = -1
    with backend.deferred():
        yield


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


def batch_plan(cfg: SearchConfig) -> list[int]:
    """Sizes of the search's batches: `batch_size` each, the last one holding the remainder."""
    return [min(cfg.batch_size, cfg.n_trials - b * cfg.batch_size) for b in range(math.ceil(cfg.n_trials /
                                                                                            cfg.batch_size))]


def sobol_slots(cfg: SearchConfig) -> list[tuple[int, int]]:
    """(index of its first point in the window's Sobol sequence, count) of the quasi-random points of each
    batch of a `qmc_parzen` search: the whole batch while fewer than `n_startup_trials` trials precede it
    (always the first batch), none afterwards."""
    out, done, used = [], 0, 0
    for size in batch_plan(cfg):
        k = size if done < max(cfg.n_startup_trials, 1) else 0
        out.append((used, k))
        used += k
        done += size
    return out


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


def _constraints(cfg: SearchConfig, trades: float) -> dict[str, float] | None:
    return {"min_trades": float(cfg.min_trades - trades)} if cfg.objective == "constrained" else None


def propose(cfg: SearchConfig, dists: Mapping[str, BaseDistribution], *, seed: int, window: int, batch: int,
            size: int, history: list[dict[str, Any]], scores: np.ndarray, trades: np.ndarray,
            upto: int | None = None) -> list[dict[str, Any]]:
    """The first `upto` (default all `size`) parameter sets batch `batch` of window `window` proposes, given
    the evaluated trials of the earlier batches in (batch, slot) order: their parameters, scores and
    closed-trade counts (the latter decide feasibility under the `constrained` objective). The one
    definition of a search's proposals: `search_window` runs it, a verifier replays it."""
    history = [dict(h) for h in history]
    n = size if upto is None else min(upto, size)
    if cfg.sampler == "qmc_parzen":
        cube = qmc_parzen.UnitCube(dists)
        start, n_sobol = sobol_slots(cfg)[batch]
        out = []
        if n_sobol < size:
            feas = np.asarray(trades, dtype=float) >= cfg.min_trades if cfg.objective == "constrained" else \
                np.ones(len(history), dtype=bool)
            out = qmc_parzen.parzen_batch(cube, history, np.asarray(scores, dtype=float), feas, size - n_sobol,
                                          sampler_seed(seed, window, batch))
        if n_sobol:
            out += cube.decode(qmc_parzen.sobol_points(cube.dim, sampler_seed(seed, window, 0), start, n_sobol))
        return out[:n]
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
    study.add_trials([optuna.trial.create_trial(params=h, distributions=dict(dists), value=float(v),
                                                constraints=_constraints(cfg, t))
                      for h, v, t in zip(history, scores, trades, strict=True)])
    study.sampler = _sampler(cfg, sampler_seed(seed, window, batch))
    return [dict(study.ask(fixed_distributions=dict(dists)).params) for _ in range(n)]


class _OptunaTPE:
    """The `optuna_tpe` search: an in-memory study asked and told batch by batch (same proposals as
    `propose`, without rebuilding the study each batch)."""

    def __init__(self, cfg: SearchConfig, dists: dict[str, BaseDistribution], seed: int, window: int) -> None:
        self.cfg, self.dists, self.seed, self.window = cfg, dists, seed, window
        self.study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
        self.asked: list[optuna.Trial] = []

    def known(self, trials: list[FrozenTrial]) -> None:
        self.study.add_trials(trials)

    def ask(self, batch: int, size: int) -> list[dict[str, Any]]:
        self.study.sampler = _sampler(self.cfg, sampler_seed(self.seed, self.window, batch))
        self.asked = [self.study.ask(fixed_distributions=self.dists) for _ in range(size)]
        for slot, t in enumerate(self.asked):
            t.set_user_attr("wf", [batch, slot])
        return [dict(t.params) for t in self.asked]

    def tell(self, table: pd.DataFrame) -> list[FrozenTrial]:
        for trial, sc, tr in zip(self.asked, table["score"], table["trades"], strict=True):
            if self.cfg.objective == "constrained":
                trial.set_constraint("min_trades", float(self.cfg.min_trades - tr))
            self.study.tell(trial, float(sc))
        return self.study.get_trials(deepcopy=False)[-len(self.asked):]


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
    dists = distributions(spec)
    names = list(dists)
    stored: dict[tuple[int, int], FrozenTrial] = {}
    for t in persisted.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "wf" in t.user_attrs:
            stored[(int(t.user_attrs["wf"][0]), int(t.user_attrs["wf"][1]))] = t
    tpe = _OptunaTPE(cfg, dists, seed, window) if cfg.sampler == "optuna_tpe" else None
    tm.optuna_s += time.perf_counter() - t0

    history: list[dict[str, Any]] = []
    tables: list[pd.DataFrame] = []
    plan = batch_plan(cfg)
    for b, size in enumerate(plan):
        have = [stored.get((b, slot)) for slot in range(size)]
        if all(t is not None for t in have):
            params = [{p: t.params[p] for p in names} for t in have]  # type: ignore[union-attr]
            t0 = time.perf_counter()
            table = evaluate(bars, spec, params, cfg, engine_threads, extra_dir)
            tm.engine_s += time.perf_counter() - t0
            if not np.array_equal(np.array([t.value for t in have], dtype=float),  # type: ignore[union-attr]
                                  table["score"].to_numpy()):
                raise RuntimeError(f"study {study_name!r}: stored trial values differ from a re-evaluation; the "
                                   "storage belongs to different bars or a different spec")
            if tpe is not None:
                tpe.known(have)  # type: ignore[arg-type]
        else:
            t0 = time.perf_counter()
            if tpe is not None:
                params = tpe.ask(b, size)
            else:
                params = propose(cfg, dists, seed=seed, window=window, batch=b, size=size, history=history,
                                 scores=np.concatenate([t["score"].to_numpy() for t in tables]) if tables else
                                 np.zeros(0), trades=np.concatenate([t["trades"].to_numpy() for t in tables])
                                 if tables else np.zeros(0))
            tm.optuna_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            table = evaluate(bars, spec, params, cfg, engine_threads, extra_dir)
            tm.engine_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            if tpe is not None:
                records = tpe.tell(table)
            else:
                records = [optuna.trial.create_trial(
                    params=ps, distributions=dists, value=float(sc), user_attrs={"wf": [b, slot]},
                    constraints=_constraints(cfg, float(tr)))
                    for slot, (ps, sc, tr) in enumerate(zip(params, table["score"], table["trades"], strict=True))]
            with deferred_writes(storage_url):
                for slot, frozen in enumerate(records):
                    prior = have[slot]
                    if prior is None:
                        persisted.add_trial(frozen)
                    elif prior.params != frozen.params or prior.value != frozen.value:
                        raise RuntimeError(f"study {study_name!r} batch {b} slot {slot} holds a different trial "
                                           "than this search produces; the storage belongs to other bars, spec "
                                           "or seed")
            tm.optuna_s += time.perf_counter() - t0
            if on_batch is not None:
                on_batch(size)
        history += params
        tables.append(table)

    table = pd.concat(tables, ignore_index=True)
    head = pd.DataFrame({"batch": [b for b, n in enumerate(plan) for _ in range(n)],
                         "slot": [s for n in plan for s in range(n)],
                         "optuna_number": range(len(table))})
    cols = [*names, *METRIC_COLUMNS, "score", "feasible"]
    return SearchOutcome(trials=pd.concat([head, table[cols]], axis=1), timings=tm)
