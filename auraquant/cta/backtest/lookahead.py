"""Look-ahead check: recompute a module on truncated prefixes of the bars and compare with the full run.

A causal module's output on bars[:k] equals the first k values of its output on all bars. Any
difference means the value at some bar used later bars. The check samples `n_checks` prefix lengths;
at the first failing prefix it scans the prefixes in between to find the earliest one that fails, and
reports the module, the output, and the first differing bar (index and UTC time) of that prefix.
Float outputs compare with a relative tolerance of 1e-9 and identical NaN positions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.strategy.bars import Bars, bars_from_frame
from auraquant.cta.strategy.loader import list_modules, load_module
from auraquant.cta.strategy.protocols import resolve_params
from auraquant.cta.strategy.spec import Spec


@dataclass(frozen=True)
class LookaheadFinding:
    """Outcome for one module: `ok` or the first bar whose value changes once later bars are removed."""

    kind: str
    module: str
    ok: bool
    output: str | None = None
    first_bad_bar: int | None = None
    first_bad_time: str | None = None
    prefixes_checked: int = 0

    def describe(self) -> str:
        if self.ok:
            return f"{self.kind}/{self.module}: no look-ahead ({self.prefixes_checked} prefixes)"
        return (f"{self.kind}/{self.module}: LOOK-AHEAD in output {self.output!r} at bar {self.first_bad_bar}"
                f" ({self.first_bad_time})")


def _outputs(kind: str, module: Any, bars: Bars, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if kind == "baselines":
        return {"candidates": np.asarray(module.candidates(bars, params))}
    if kind == "filters":
        al, ash = module.allow(bars, params)
        return {"allow_long": np.asarray(al), "allow_short": np.asarray(ash)}
    return {f"series:{k}": np.asarray(v) for k, v in module.configure(bars, params).series.items()}


def _first_diff(a: np.ndarray, b: np.ndarray) -> int | None:
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a = a.astype(float)
        b = b.astype(float)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        close = np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)
        bad = (nan_a != nan_b) | ~close
    else:
        bad = a != b
    idx = np.flatnonzero(bad)
    return int(idx[0]) if idx.size else None


def check_module(kind: str, module: Any, bars: pd.DataFrame | Bars, params: Mapping[str, Any] | None = None,
                 *, n_checks: int = 40, min_bars: int = 2) -> LookaheadFinding:
    """Check one module instance (`kind` in baselines/filters/executions/risks) with `params` (defaults)."""
    b = bars if isinstance(bars, Bars) else bars_from_frame(bars)
    p = resolve_params(module.name, module.params, params or {})
    full = _outputs(kind, module, b, p)
    n = len(b)
    ks = sorted({int(k) for k in np.linspace(min_bars, n - 1, num=min(n_checks, n - min_bars))})

    def failure(k: int) -> tuple[str, int] | None:
        part = _outputs(kind, module, b.head(k), p)
        for name, arr in full.items():
            d = _first_diff(part[name], arr[:k])
            if d is not None:
                return name, d
        return None

    checked = 0
    prev_ok = min_bars - 1
    for k in ks:
        checked += 1
        bad = failure(k)
        if bad is None:
            prev_ok = k
            continue
        best = bad
        for k2 in range(prev_ok + 1, k):  # earliest failing prefix between the last pass and this failure
            checked += 1
            bad2 = failure(k2)
            if bad2 is not None:
                best = bad2
                break
        bar = best[1]
        t = str(pd.Timestamp(int(b.time_ns[bar]), unit="ns", tz="UTC"))
        return LookaheadFinding(kind, module.name, False, best[0], bar, t, checked)
    return LookaheadFinding(kind, module.name, True, prefixes_checked=checked)


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


def _check_one(kind: str, name: str, bars: Bars, params: Mapping[str, Any], extra_dir: Path | str | None,
               n_checks: int) -> LookaheadFinding:
    """`check_module` of a built-in here, of an agent-written module inside the sandbox worker."""
    from auraquant.cta.strategy.loader import _untrusted_ok, is_builtin
    if extra_dir is not None and not is_builtin(kind, name) and not _untrusted_ok:
        from auraquant.cta.sandbox import isolation
        return isolation.lookahead(bars, [(kind, name, params)], extra_dir, n_checks=n_checks)[0]
    return check_module(kind, load_module(kind, name, extra_dir), bars, params, n_checks=n_checks)
