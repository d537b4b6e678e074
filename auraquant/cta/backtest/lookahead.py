"""Look-ahead check: recompute a module on truncated prefixes of the bars and compare with the full run.

A causal module's output on bars[:k] equals the first k values of its output on all bars. Any
difference means the value at some bar used later bars. What is compared ("slots"):
- baselines: `candidates`; filters: `allow_long`, `allow_short`;
- executions and risks: every per-bar series of the KernelPart (`series:<name>`) *and* every scalar slot
  value (`value:<name>`). A scalar applies to every bar, so a scalar that changes when later bars are
  removed (e.g. a size scaled by the full sample's volatility) is a leak at bar 0;
- the set of slots itself (a module returning other slots on a prefix fails at bar 0).

Each evaluation (the full run and every prefix) uses a FRESH module instance when a factory is given
(`module_factory` re-executes the module's source: new module globals, new class, new instance), so no
state (a normaliser cached on the first call, a memo keyed on anything) carries across evaluations; each
prefix is a new `Bars` object with its own cache. The prefix lengths (`prefix_lengths`) include short
ones (2, 3, 5, 8, ...), lengths around every integer parameter (p - 1, p, p + 1, 2p: windows longer than
the sample), evenly spaced ones and the last two. At the first failing prefix a bisection over the
lengths since the last passing one finds the earliest failing prefix; the finding names the module, the
slot, the first differing bar (index and UTC time), the prefix length and the parameters.

Float outputs compare with a relative tolerance of 1e-9 and identical NaN positions. A module that
raises on a prefix fails too (a module must accept any number of bars >= 2 and return warm-up values):
otherwise raising on short samples would hide a leak. Everything here is a pure function of (kind,
module or module factory, bars, params): it reads no file, no workspace and no global state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.strategy.bars import Bars, bars_from_frame
from auraquant.cta.strategy.loader import check_module_object, list_modules, load_module
from auraquant.cta.strategy.protocols import KernelPart, resolve_params
from auraquant.cta.strategy.spec import Spec

ModuleFactory = Callable[[], Any]


@dataclass(frozen=True)
class LookaheadFinding:
    """Outcome for one module and parameter set: `ok`, or the first slot and bar whose value changes once
    later bars are removed (`prefix_len`: the shortest failing prefix found)."""

    kind: str
    module: str
    ok: bool
    output: str | None = None
    first_bad_bar: int | None = None
    first_bad_time: str | None = None
    prefixes_checked: int = 0
    prefix_len: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"{self.kind}/{self.module}: no look-ahead ({self.prefixes_checked} prefixes)"
        where = f" on a {self.prefix_len}-bar prefix" if self.prefix_len is not None else ""
        extra = f"; {self.detail}" if self.detail else ""
        return (f"{self.kind}/{self.module}: LOOK-AHEAD in output {self.output!r} at bar {self.first_bad_bar}"
                f" ({self.first_bad_time}){where} with params {self.params}{extra}")


class LookaheadError(ValueError):
    """A module failed the look-ahead check: the experiment or backtest using it is refused."""

    def __init__(self, finding: LookaheadFinding) -> None:
        self.finding = finding
        super().__init__(f"look-ahead check failed: {finding.describe()}")


def module_factory(kind: str, name: str, source: str) -> ModuleFactory:
    """A factory returning a fresh `MODULE` from `source` at every call: the source is compiled once and
    executed into a new namespace each time (new globals, classes and instance), then checked like the
    loader does (Protocol, `MODULE.name == name`). Only for sources that passed the code guard."""
    code = compile(source, f"<{kind}/{name}>", "exec")

    def fresh() -> Any:
        ns: dict[str, Any] = {"__name__": f"_aq_lookahead_{kind}_{name}"}
        exec(code, ns)  # a guard-checked module source, run as the loader would run it
        return check_module_object(kind, name, ns.get("MODULE"), f"{kind}/{name}")

    return fresh


def slot_values(kind: str, module: Any, bars: Bars, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every slot a module contributes on `bars`, as arrays (scalar slot values as 0-d arrays)."""
    if kind == "baselines":
        return {"candidates": np.asarray(module.candidates(bars, params))}
    if kind == "filters":
        al, ash = module.allow(bars, params)
        return {"allow_long": np.asarray(al), "allow_short": np.asarray(ash)}
    part = module.configure(bars, params)
    if not isinstance(part, KernelPart):
        raise TypeError(f"configure() returned {type(part).__name__}, not a KernelPart")
    out = {f"series:{k}": np.asarray(v) for k, v in part.series.items()}
    out.update({f"value:{k}": np.asarray(v, dtype=float) for k, v in part.values.items()})
    return out


def _first_diff(a: np.ndarray, b: np.ndarray) -> int | None:
    """First index where `a` and `b` differ (0 for scalars or shape mismatches)."""
    if a.ndim == 0 or b.ndim == 0:
        if a.ndim != b.ndim:
            return 0
        a, b = a.reshape(1), b.reshape(1)
    if a.shape != b.shape:
        return 0
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        a = a.astype(float)
        b = b.astype(float)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        close = np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)
        bad = (nan_a != nan_b) | ~close
    else:
        bad = a != b
    idx = np.flatnonzero(bad)
    return int(idx[0]) if idx.size else None


def prefix_lengths(n: int, params: Mapping[str, Any] | None = None, *, n_checks: int = 40,
                   min_bars: int = 2) -> list[int]:
    """The prefix lengths checked on `n` bars (each in [min_bars, n - 1]): short ones (a Fibonacci-like
    ladder 2, 3, 5, 8, ...), p // 2, p - 1, p, p + 1 and 2p for every integer parameter p >= 2 (windows
    longer than the sample, centred windows), `n_checks` evenly spaced ones and n - 2, n - 1."""
    ks: set[int] = set()
    a, b = 2, 3
    while a < n:
        ks.add(a)
        a, b = b, a + b
    for v in (params or {}).values():
        if isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 2:
            p = int(v)
            ks.update((p // 2, p - 1, p, p + 1, 2 * p))
    if n - min_bars > 0:
        ks.update(int(k) for k in np.linspace(min_bars, n - 1, num=min(n_checks, n - min_bars)))
    ks.update((n - 2, n - 1))
    return sorted(k for k in ks if min_bars <= k < n)


def check_module(kind: str, module: Any, bars: pd.DataFrame | Bars, params: Mapping[str, Any] | None = None,
                 *, n_checks: int = 40, min_bars: int = 2, fresh: ModuleFactory | None = None,
                 lengths: Sequence[int] | None = None) -> LookaheadFinding:
    """Check one module (`kind` in baselines/filters/executions/risks) with `params` (over its defaults).

    `fresh`, when given, makes a new module instance for every evaluation (see `module_factory`); then
    `module` is only used for its name and declared params. Without it the one instance is reused (fine
    for stateless built-ins). `lengths` overrides `prefix_lengths(len(bars), params)`.
    """
    b = bars if isinstance(bars, Bars) else bars_from_frame(bars)
    p = resolve_params(module.name, module.params, params or {})
    n = len(b)
    make = fresh if fresh is not None else (lambda: module)

    def fail(slot: str, bar: int, k: int | None, checked: int, detail: str | None = None) -> LookaheadFinding:
        t = str(pd.Timestamp(int(b.time_ns[min(bar, n - 1)]), unit="ns", tz="UTC"))
        return LookaheadFinding(kind, module.name, False, slot, bar, t, checked, k, dict(p), detail)

    try:
        full = slot_values(kind, make(), b.head(n), p)
    except Exception as exc:  # the module's own error is the verdict
        return fail("error", 0, n, 0, f"raised {type(exc).__name__}: {exc}")
    ks = sorted(set(lengths)) if lengths is not None else prefix_lengths(n, p, n_checks=n_checks,
                                                                         min_bars=min_bars)
    ks = [k for k in ks if min_bars <= k < n]

    def failure(k: int) -> tuple[str, int, str | None] | None:
        try:
            part = slot_values(kind, make(), b.head(k), p)
        except Exception as exc:  # a module must accept any prefix
            return "error", 0, f"raised {type(exc).__name__}: {exc} on a {k}-bar prefix"
        if set(part) != set(full):
            return "slots", 0, f"slots {sorted(part)} on a {k}-bar prefix, {sorted(full)} on all bars"
        for name, arr in full.items():
            d = _first_diff(part[name], arr if arr.ndim == 0 else arr[:k])
            if d is not None:
                return name, d, None
        return None

    checked = 0
    prev_ok = min_bars - 1
    for k in ks:
        checked += 1
        bad = failure(k)
        if bad is None:
            prev_ok = k
            continue
        # Earliest failing prefix in (prev_ok, k]: bisection (failures are monotone for the usual leaks;
        # for others this still returns a failing prefix, and its first differing bar).
        lo_k, hi_k, best, best_k = prev_ok, k, bad, k
        while hi_k - lo_k > 1:
            mid = (lo_k + hi_k) // 2
            checked += 1
            bad_mid = failure(mid)
            if bad_mid is None:
                lo_k = mid
            else:
                hi_k, best, best_k = mid, bad_mid, mid
        if bad[0] == best[0] and bad[1] < best[1]:
            best, best_k = bad, k
        return fail(best[0], best[1], best_k, checked, best[2])
    return LookaheadFinding(kind, module.name, True, prefixes_checked=checked, params=dict(p))


def check_module_source(kind: str, name: str, source: str, bars: pd.DataFrame | Bars,
                        param_sets: Sequence[Mapping[str, Any]], *, n_checks: int = 40) -> list[LookaheadFinding]:
    """`check_module` of the module defined by `source` for each parameter set in order, with a fresh
    instance per evaluation (`module_factory`); stops after the first failing set (its finding is last).
    A pure function of its arguments: the unit of work a sandboxed worker can run for agent-written code."""
    b = bars if isinstance(bars, Bars) else bars_from_frame(bars)
    fresh = module_factory(kind, name, source)
    proto = fresh()
    out = []
    for params in param_sets:
        finding = check_module(kind, proto, b, params, n_checks=n_checks, fresh=fresh)
        out.append(finding)
        if not finding.ok:
            break
    return out


def check_spec(bars: pd.DataFrame | Bars, spec: Spec, *, extra_dir: Path | str | None = None,
               n_checks: int = 40) -> list[LookaheadFinding]:
    """Check every module a Spec uses, with the Spec's parameters."""
    b = bars if isinstance(bars, Bars) else bars_from_frame(bars)
    refs = ([("baselines", spec.baseline)] + [("filters", r) for r in spec.filters]
            + [("executions", r) for r in spec.execution] + [("risks", r) for r in spec.risk])
    return [_check_one(kind, r.name, b, r.params, extra_dir, n_checks) for kind, r in refs]


def check_all_modules(bars: pd.DataFrame | Bars, *, extra_dir: Path | str | None = None, n_checks: int = 40,
                      params: Callable[[str, str], Mapping[str, Any]] | None = None) -> list[LookaheadFinding]:
    """Check every available module (built-ins and `extra_dir`) with default (or `params(kind, name)`) params."""
    b = bars if isinstance(bars, Bars) else bars_from_frame(bars)
    out = []
    for kind in ("baselines", "filters", "executions", "risks"):
        for name in list_modules(kind, extra_dir):
            out.append(_check_one(kind, name, b, params(kind, name) if params else {}, extra_dir, n_checks))
    return out


def corner_param_sets(base: Mapping[str, Any], space: Mapping[str, Any], *, limit: int = 12
                      ) -> list[dict[str, Any]]:
    """Parameter sets of one module to check: `base` (its Spec params), then for each searched parameter its
    low and high (every choice of a categorical, up to 4), then all-low and all-high; duplicates dropped,
    at most `limit`. `space` maps a parameter name to an object with `low`/`high` or `choices`."""
    def ends(sp: Any) -> list[Any]:
        if hasattr(sp, "choices"):
            return list(sp.choices)[:4]
        return [sp.low, sp.high]

    sets: list[dict[str, Any]] = [dict(base)]
    for name, sp in space.items():
        sets.extend({**base, name: v} for v in ends(sp))
    if len(space) > 1:
        sets.append({**base, **{k: ends(sp)[0] for k, sp in space.items()}})
        sets.append({**base, **{k: ends(sp)[-1] for k, sp in space.items()}})
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for s in sets:
        key = repr(sorted((k, float(v) if isinstance(v, int | float) and not math.isnan(float(v)) else v)
                          for k, v in s.items()))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out[:limit]


def _check_one(kind: str, name: str, bars: Bars, params: Mapping[str, Any], extra_dir: Path | str | None,
               n_checks: int) -> LookaheadFinding:
    """`check_module` of a built-in here, of an agent-written module inside the sandbox worker."""
    from auraquant.cta.strategy.loader import _untrusted_ok, is_builtin
    if extra_dir is not None and not is_builtin(kind, name) and not _untrusted_ok:
        from auraquant.cta.sandbox import isolation
        return isolation.lookahead(bars, [(kind, name, params)], extra_dir, n_checks=n_checks)[0]
    return check_module(kind, load_module(kind, name, extra_dir), bars, params, n_checks=n_checks)
