"""Turn (bars, Spec, parameter sets) into the kernel's flat inputs, computing each distinct module
output once (a sweep over stop distances reuses one candidate array)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from auraquant.cta.backtest.layout import (
    ALLOW_LONG,
    ALLOW_SHORT,
    F_FRACTION,
    FILL_CODES,
    I_ALLOW,
    I_SIG,
    I_STOP_ATR,
    I_TRAIL_ATR,
    I_VOL,
    N_FPARAMS,
    N_IPARAMS,
    POLICY_CODES,
    SERIES_TO_I,
    SIDES_CODES,
    SLOT_TO_F,
)
from auraquant.cta.sandbox import isolation
from auraquant.cta.strategy.bars import Bars
from auraquant.cta.strategy.loader import load_module
from auraquant.cta.strategy.protocols import EXECUTION_SLOTS, RISK_SLOTS, KernelPart, resolve_params
from auraquant.cta.strategy.spec import Spec, locate_param

_NS_PER_DAY = 86_400_000_000_000
_KIND_DIR = {"baseline": "baselines", "filters": "filters", "execution": "executions", "risk": "risks"}


@dataclass
class Prepared:
    """Kernel inputs for one or many parameter sets over the same bars and engine settings."""

    bars: Bars
    day_id: np.ndarray
    n_days: int
    sig_pool: np.ndarray
    allow_pool: np.ndarray
    series_pool: np.ndarray
    iparams: np.ndarray
    fparams: np.ndarray
    fill_mode: int
    policy: int
    sides: int
    comm: float
    slip: float
    initial: float
    basis: float
    # Per-filter (name, allow_long, allow_short) of the first set: the audit trail for FilterDecisions.
    filter_outputs: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    # reject_reason of agent-written filters (computed in the sandbox worker); built-ins are looked up.
    filter_reasons: dict[str, str] = field(default_factory=dict)

    def kernel_args(self, k: int) -> tuple:
        """Positional arguments of `kernel.simulate` for parameter set k (without `record`)."""
        ip = self.iparams[k]
        return (self.bars.open, self.bars.high, self.bars.low, self.bars.close, self.day_id, self.n_days,
                self.sig_pool[ip[I_SIG]], self.allow_pool[ip[I_ALLOW]], self.series_pool[ip[I_STOP_ATR]],
                self.series_pool[ip[I_TRAIL_ATR]], self.series_pool[ip[I_VOL]], self.fparams[k], self.fill_mode,
                self.policy, self.sides, self.comm, self.slip, self.initial, self.basis)


def day_index(time_ns: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense 0..n_days-1 index of each bar's UTC calendar day (of its open time)."""
    d = time_ns // _NS_PER_DAY
    dense = np.zeros(d.shape[0], dtype=np.int64)
    np.cumsum(d[1:] != d[:-1], out=dense[1:])
    return dense, int(dense[-1]) + 1


class _Pool:
    """Distinct arrays keyed by module identity; row 0 is the neutral element."""

    def __init__(self, neutral: np.ndarray) -> None:
        self.rows: list[np.ndarray] = [neutral]
        self.index: dict[Any, int] = {}

    def add(self, key: Any, make: Any) -> int:
        if key not in self.index:
            self.index[key] = len(self.rows)
            self.rows.append(make())
        return self.index[key]

    def reserve(self, key: Any) -> tuple[int, bool]:
        """(row of `key`, whether it is new); a new row's array is appended later via `rows.extend`, in
        reservation order."""
        if key in self.index:
            return self.index[key], False
        self.index[key] = len(self.index) + 1
        return self.index[key], True

    def stack(self, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(np.vstack(self.rows).astype(dtype, copy=False))


def prepare(bars: Bars, spec: Spec, param_sets: Sequence[Mapping[str, Any]] | None = None,
            extra_dir: Path | str | None = None, workers: int = 1,
            days: tuple[np.ndarray, int] | None = None) -> Prepared:
    """Kernel inputs for `spec` with each of `param_sets` applied (default: the spec as written).

    Each distinct module output is computed once. With `workers` > 1 the distinct baseline candidate
    arrays are computed in that many threads while the parameter sets are still being resolved (modules
    are pure functions of bars and params; compiled indicators release the GIL); the result does not
    depend on it. A Spec using agent-written modules (from `extra_dir`) is prepared inside the sandbox
    worker (`auraquant.cta.sandbox`); its arrays come back validated. `days` is `day_index(bars.time_ns)`
    when the caller already has it (a chunked sweep prepares many times over the same bars).
    """
    if isolation.needed(spec, extra_dir):
        return isolation.prepare(bars, spec, param_sets, extra_dir)
    with _Jobs(workers) as jobs:
        return _prepare(bars, spec, param_sets, extra_dir, jobs, days)


class _Jobs:
    """Calls whose results are collected in submission order: run in a thread pool as they are submitted
    (workers > 1), or at collection time in the caller's thread."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        self._items: list[Any] = []

    def submit(self, fn: Callable[..., np.ndarray], *args: Any) -> None:
        self._items.append(self._pool.submit(fn, *args) if self._pool else (fn, args))

    def results(self) -> list[np.ndarray]:
        return [x.result() if self._pool else x[0](*x[1]) for x in self._items]

    def __enter__(self) -> _Jobs:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


_PART_BASELINE, _PART_FILTERS, _PART_COMBO = "baseline", "filters", "combo"


class _Plan:
    """Where the values of a parameter set with a given path list go: per part, a pick of the values
    that feed it (a cache key) and their per-slot override tuples (sorted (param, value) items)."""

    def __init__(self, plan_id: int, where: list[tuple[int, str]], part_slots: dict[str, tuple[int, ...]]) -> None:
        self.id = plan_id
        self._where = where
        self._slots = part_slots
        self.pick: dict[str, Callable[[tuple], Any]] = {}
        for part, slots in part_slots.items():
            idx = [i for i, (j, _) in enumerate(where) if j in slots]
            self.pick[part] = itemgetter(*idx) if idx else _no_values

    def overrides(self, part: str, vals: tuple) -> tuple[tuple, ...]:
        return tuple(tuple(sorted((param, vals[i]) for i, (j, param) in enumerate(self._where) if j == slot))
                     for slot in self._slots[part])


def _no_values(vals: tuple) -> tuple:
    return ()


def _prepare(bars: Bars, spec: Spec, param_sets: Sequence[Mapping[str, Any]] | None,
             extra_dir: Path | str | None, jobs: _Jobs, days: tuple[np.ndarray, int] | None = None) -> Prepared:
    sets = list(param_sets) if param_sets else [{}]
    n = len(bars)
    refs = {"baseline": [spec.baseline], "filters": list(spec.filters), "execution": list(spec.execution),
            "risk": list(spec.risk)}
    mods = {kind: [load_module(_KIND_DIR[kind], r.name, extra_dir) for r in lst] for kind, lst in refs.items()}
    base_raw = {kind: [dict(r.params) for r in lst] for kind, lst in refs.items()}
    # Module slots in a fixed order; a set's overrides become one sorted items-tuple per slot.
    slots = [(kind, i) for kind in ("baseline", "filters", "execution", "risk") for i in range(len(mods[kind]))]
    slot_of = {slot: j for j, slot in enumerate(slots)}
    n_filters, b_slot = len(mods["filters"]), slot_of[("baseline", 0)]
    f_slots = [slot_of[("filters", i)] for i in range(n_filters)]
    c_slots = [j for j, (kind, _) in enumerate(slots) if kind in ("execution", "risk")]
    param_cache: dict[tuple[int, tuple], tuple[dict[str, Any], tuple]] = {}

    def module_params(j: int, over: tuple) -> tuple[dict[str, Any], tuple]:
        """(resolved params, their sorted items) of the module in slot j under the overrides `over`."""
        key = (j, over)
        if key not in param_cache:
            kind, i = slots[j]
            m = mods[kind][i]
            res = resolve_params(m.name, m.params, {**base_raw[kind][i], **dict(over)})
            param_cache[key] = (res, tuple(sorted(res.items())))
        return param_cache[key]

    sig_pool = _Pool(np.zeros(n, dtype=np.int8))
    allow_pool = _Pool(np.full(n, ALLOW_LONG | ALLOW_SHORT, dtype=np.int8))
    series_pool = _Pool(np.full(n, np.nan))
    filter_cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    part_cache: dict[Any, KernelPart] = {}
    b_mod = mods["baseline"][0]

    def baseline_row(over: tuple) -> int:
        p, items = module_params(b_slot, over)
        row, new = sig_pool.reserve((b_mod.name, items))
        if new:
            jobs.submit(_candidates, b_mod, bars, p)
        return row

    def allow_row(overs: tuple[tuple, ...]) -> int:
        if not n_filters:
            return 0
        f_keys = []
        for i, (j, over) in enumerate(zip(f_slots, overs, strict=True)):
            m = mods["filters"][i]
            p, items = module_params(j, over)
            key = (m.name, items)
            if key not in filter_cache:
                filter_cache[key] = _filter(m, bars, p)
            f_keys.append(key)
        ks = tuple(f_keys)
        return allow_pool.add(ks, lambda: _combine([filter_cache[x] for x in ks], n))

    def configure(overs: tuple[tuple, ...]) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Slot values (an fparams row) and series pool rows of the execution/risk modules under `overs`."""
        frow = np.full(N_FPARAMS, np.nan)
        series_rows: list[tuple[int, int]] = []
        set_slots: dict[str, float] = {}
        for j, over in zip(c_slots, overs, strict=True):
            kind, i = slots[j]
            m = mods[kind][i]
            p, items = module_params(j, over)
            key = (kind, m.name, items)
            if key not in part_cache:
                part_cache[key] = _part(m, bars, p, kind)
            part = part_cache[key]
            for slot, v in part.values.items():
                if slot in set_slots:
                    raise ValueError(f"{kind} module {m.name!r} sets slot {slot!r} already set by another")
                set_slots[slot] = v
                frow[SLOT_TO_F[slot]] = v
            for s_name, arr in part.series.items():
                series_rows.append((SERIES_TO_I[s_name], series_pool.add(
                    key + (s_name,), lambda a=arr: np.asarray(a, dtype=np.float64))))
        if "fraction" in set_slots and "target_vol" in set_slots:
            raise ValueError("choose one sizing module: fixed fraction or volatility target, not both")
        if "fraction" not in set_slots and "target_vol" not in set_slots:
            frow[F_FRACTION] = 1.0
        return frow, series_rows

    # Sets differ in a few paths: each part of a set (candidates, allow mask, execution/risk slots) is
    # resolved once per distinct value of its own paths, looked up by a C-level pick of those values.
    build = {_PART_BASELINE: lambda overs: baseline_row(overs[0]), _PART_FILTERS: allow_row, _PART_COMBO: configure}
    part_slots = {_PART_BASELINE: (b_slot,), _PART_FILTERS: tuple(f_slots), _PART_COMBO: tuple(c_slots)}
    plans: dict[tuple[str, ...], _Plan] = {}
    resolved: dict[tuple[int, str, Any], Any] = {}
    iparams = np.zeros((len(sets), N_IPARAMS), dtype=np.int64)
    fparams = np.empty((len(sets), N_FPARAMS))
    for k, flat in enumerate(sets):
        paths = tuple(flat)
        if paths not in plans:
            where = []
            for path in paths:
                kind, idx, param = locate_param(spec, path)
                where.append((slot_of[(kind, max(idx, 0))], param))
            plans[paths] = _Plan(len(plans), where, part_slots)
        plan = plans[paths]
        vals = tuple(flat.values())
        got = {}
        for part, make in build.items():
            key = (plan.id, part, plan.pick[part](vals))
            if key not in resolved:
                resolved[key] = make(plan.overrides(part, vals))
            got[part] = resolved[key]
        frow, series_rows = got[_PART_COMBO]
        fparams[k] = frow
        iparams[k, I_SIG] = got[_PART_BASELINE]
        iparams[k, I_ALLOW] = got[_PART_FILTERS]
        for i, r in series_rows:
            iparams[k, i] = r
        if k == 0:
            first_f_over = plan.overrides(_PART_FILTERS, vals)

    # The audit trail of FilterDecisions: each filter's own output under the first set.
    filter_outputs = [(m.name, *filter_cache[(m.name, module_params(j, over)[1])])
                      for m, j, over in zip(mods["filters"], f_slots, first_f_over, strict=True)]

    sig_pool.rows.extend(jobs.results())
    day_id, n_days = days if days is not None else day_index(bars.time_ns)
    e = spec.engine
    return Prepared(bars=bars, day_id=day_id, n_days=n_days, sig_pool=sig_pool.stack(np.int8),
                    allow_pool=allow_pool.stack(np.int8), series_pool=series_pool.stack(np.float64),
                    iparams=iparams, fparams=fparams, fill_mode=FILL_CODES[e.fill],
                    policy=POLICY_CODES[e.intrabar], sides=SIDES_CODES[e.sides], comm=e.commission_bps * 1e-4,
                    slip=e.slippage_bps * 1e-4, initial=float(e.initial_capital), basis=float(e.annualization),
                    filter_outputs=filter_outputs)


def _candidates(module: Any, bars: Bars, params: dict[str, Any]) -> np.ndarray:
    out = np.asarray(module.candidates(bars, params))
    if out.shape != (len(bars),):
        raise ValueError(f"baseline {module.name!r} returned shape {out.shape}, expected ({len(bars)},)")
    valid = (out.size == 0 or (int(out.min()) >= -1 and int(out.max()) <= 1)) if out.dtype.kind in "iu" else bool(
        np.all(np.isin(out, (-1, 0, 1))))
    if not valid:
        raise ValueError(f"baseline {module.name!r} returned values outside -1/0/+1")
    return out.astype(np.int8, copy=False)


def _filter(module: Any, bars: Bars, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    al, ash = module.allow(bars, params)
    al, ash = np.asarray(al, dtype=bool), np.asarray(ash, dtype=bool)
    if al.shape != (len(bars),) or ash.shape != (len(bars),):
        raise ValueError(f"filter {module.name!r} returned arrays of the wrong shape")
    return al, ash


def _combine(outputs: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    long_ok = np.ones(n, dtype=bool)
    short_ok = np.ones(n, dtype=bool)
    for al, ash in outputs:
        long_ok &= al
        short_ok &= ash
    return (long_ok * ALLOW_LONG + short_ok * ALLOW_SHORT).astype(np.int8)


def _part(module: Any, bars: Bars, params: dict[str, Any], kind: str) -> KernelPart:
    part = module.configure(bars, params)
    allowed = EXECUTION_SLOTS if kind == "execution" else RISK_SLOTS
    bad = sorted(set(part.values) - set(allowed))
    if bad:
        raise ValueError(f"{kind} module {module.name!r} sets unknown slots {bad}; allowed: {allowed}")
    for s_name, arr in part.series.items():
        if s_name not in SERIES_TO_I or np.shape(arr) != (len(bars),):
            raise ValueError(f"{kind} module {module.name!r}: bad series {s_name!r}")
    return part
