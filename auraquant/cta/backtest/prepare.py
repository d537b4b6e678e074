"""Turn (bars, Spec, parameter sets) into the kernel's flat inputs, computing each distinct module
output once (a sweep over stop distances reuses one candidate array)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from auraquant.cta.strategy.bars import Bars
from auraquant.cta.strategy.loader import load_module
from auraquant.cta.strategy.protocols import EXECUTION_SLOTS, RISK_SLOTS, KernelPart, resolve_params
from auraquant.cta.strategy.spec import Spec, _locate

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
    resolved: list[dict[str, Any]] = field(default_factory=list)

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

    def stack(self, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(np.vstack(self.rows).astype(dtype, copy=False))


def _module_params(spec: Spec, flat: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Raw params per kind (lists aligned with the spec's refs) with `flat` overrides applied."""
    out = {"baseline": [dict(spec.baseline.params)],
           "filters": [dict(r.params) for r in spec.filters],
           "execution": [dict(r.params) for r in spec.execution],
           "risk": [dict(r.params) for r in spec.risk]}
    for path, value in flat.items():
        kind, idx, param = _locate(spec, path)
        out[kind][max(idx, 0)][param] = value
    return out


def prepare(bars: Bars, spec: Spec, param_sets: Sequence[Mapping[str, Any]] | None = None,
            extra_dir: Path | str | None = None) -> Prepared:
    """Kernel inputs for `spec` with each of `param_sets` applied (default: the spec as written)."""
    sets = list(param_sets) if param_sets else [{}]
    n = len(bars)
    names = {"baseline": [spec.baseline.name], "filters": [r.name for r in spec.filters],
             "execution": [r.name for r in spec.execution], "risk": [r.name for r in spec.risk]}
    mods = {kind: [load_module(_KIND_DIR[kind], nm, extra_dir) for nm in lst] for kind, lst in names.items()}
    sig_pool = _Pool(np.zeros(n, dtype=np.int8))
    allow_pool = _Pool(np.full(n, ALLOW_LONG | ALLOW_SHORT, dtype=np.int8))
    series_pool = _Pool(np.full(n, np.nan))
    filter_cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    part_cache: dict[Any, KernelPart] = {}
    iparams = np.zeros((len(sets), N_IPARAMS), dtype=np.int64)
    fparams = np.full((len(sets), N_FPARAMS), np.nan)
    filter_outputs: list[tuple[str, np.ndarray, np.ndarray]] = []
    resolved_all: list[dict[str, Any]] = []
    resolve_cache: dict[Any, dict[str, Any]] = {}

    for k, flat in enumerate(sets):
        raw = _module_params(spec, flat)
        res = {kind: [_resolved(resolve_cache, m, p) for m, p in zip(mods[kind], raw[kind], strict=True)]
               for kind in mods}
        resolved_all.append(res)
        b_mod, b_par = mods["baseline"][0], res["baseline"][0]
        b_key = (b_mod.name, tuple(sorted(b_par.items())))
        iparams[k, I_SIG] = sig_pool.add(b_key, lambda m=b_mod, p=b_par: _candidates(m, bars, p))

        f_keys = []
        for m, p in zip(mods["filters"], res["filters"], strict=True):
            key = (m.name, tuple(sorted(p.items())))
            if key not in filter_cache:
                filter_cache[key] = _filter(m, bars, p)
            f_keys.append(key)
            if k == 0:
                filter_outputs.append((m.name, *filter_cache[key]))
        if f_keys:
            iparams[k, I_ALLOW] = allow_pool.add(tuple(f_keys), lambda ks=tuple(f_keys): _combine(
                [filter_cache[x] for x in ks], n))

        slots: dict[str, float] = {}
        for kind in ("execution", "risk"):
            for m, p in zip(mods[kind], res[kind], strict=True):
                key = (kind, m.name, tuple(sorted(p.items())))
                if key not in part_cache:
                    part_cache[key] = _part(m, bars, p, kind)
                part = part_cache[key]
                for slot, v in part.values.items():
                    if slot in slots:
                        raise ValueError(f"{kind} module {m.name!r} sets slot {slot!r} already set by another")
                    slots[slot] = v
                    fparams[k, SLOT_TO_F[slot]] = v
                for s_name, arr in part.series.items():
                    iparams[k, SERIES_TO_I[s_name]] = series_pool.add(
                        key + (s_name,), lambda a=arr: np.asarray(a, dtype=np.float64))
        if "fraction" in slots and "target_vol" in slots:
            raise ValueError("choose one sizing module: fixed fraction or volatility target, not both")
        if "fraction" not in slots and "target_vol" not in slots:
            fparams[k, F_FRACTION] = 1.0

    day_id, n_days = day_index(bars.time_ns)
    e = spec.engine
    return Prepared(bars=bars, day_id=day_id, n_days=n_days, sig_pool=sig_pool.stack(np.int8),
                    allow_pool=allow_pool.stack(np.int8), series_pool=series_pool.stack(np.float64),
                    iparams=iparams, fparams=fparams, fill_mode=FILL_CODES[e.fill],
                    policy=POLICY_CODES[e.intrabar], sides=SIDES_CODES[e.sides], comm=e.commission_bps * 1e-4,
                    slip=e.slippage_bps * 1e-4, initial=float(e.initial_capital), basis=float(e.annualization),
                    filter_outputs=filter_outputs, resolved=resolved_all)


def _resolved(cache: dict[Any, dict[str, Any]], module: Any, raw: dict[str, Any]) -> dict[str, Any]:
    key = (id(module), tuple(sorted(raw.items())))
    if key not in cache:
        cache[key] = resolve_params(module.name, module.params, raw)
    return cache[key]


def _candidates(module: Any, bars: Bars, params: dict[str, Any]) -> np.ndarray:
    out = np.asarray(module.candidates(bars, params))
    if out.shape != (len(bars),):
        raise ValueError(f"baseline {module.name!r} returned shape {out.shape}, expected ({len(bars)},)")
    valid = (out.size == 0 or (int(out.min()) >= -1 and int(out.max()) <= 1)) if out.dtype.kind in "iu" else bool(
        np.all(np.isin(out, (-1, 0, 1))))
    if not valid:
        raise ValueError(f"baseline {module.name!r} returned values outside -1/0/+1")
    return out.astype(np.int8)


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
