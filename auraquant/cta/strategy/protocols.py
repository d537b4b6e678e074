"""The four swappable strategy-module kinds and their parameter declarations.

A Spec composes one `Baseline`, any number of `Filter`s, and lists of `Execution` and `Risk` modules:

- **Baseline** (vectorized): `candidates(bars, params)` -> int8 array of entry candidates per bar
  (+1 long, -1 short, 0 none), computed from closed bars only. A candidate in the direction of the
  open position is ignored (no pyramiding); an opposite candidate exits (and reverses if the new
  direction is approved). So both event-style (crossovers) and state-style (sign of momentum) baselines
  work: a state-style baseline re-enters on the next bar after a stop.
- **Filter** (vectorized): `allow(bars, params)` -> (allow_long, allow_short) boolean arrays. A candidate
  passes when every filter allows its direction at that bar; rejects are recorded as `FilterDecision`s
  with the filter's `reject_reason`.
- **Execution** and **Risk** (state machines inside the compiled kernel): `configure(bars, params)`
  returns a `KernelPart` that sets named slots of the kernel's post-entry state machine (stops,
  targets, trailing, time stop) or of its approval/sizing machine (fraction, volatility target,
  leverage cap, drawdown breaker, cooldown), plus any per-bar series they need (ATR, volatility).
  The slot names are listed in `EXECUTION_SLOTS`, `RISK_SLOTS`, `SERIES_SLOTS`; a new behaviour that no
  slot expresses needs a kernel change, by design (the kernel stays one audited state machine).

Every module object has a `name` (equal to its file name) and a `params` mapping of `Param`s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from auraquant.cta.strategy.bars import Bars

ParamValue = int | float

EXECUTION_SLOTS = ("sl_pct", "tp_pct", "sl_atr", "tp_atr", "trail_pct", "trail_atr", "time_stop")
RISK_SLOTS = ("fraction", "target_vol", "leverage_cap", "dd_max", "dd_halt", "cooldown")
SERIES_SLOTS = ("stop_atr", "trail_atr", "vol")


@dataclass(frozen=True)
class Param:
    """A module parameter: default, type, and inclusive bounds (None = unbounded)."""

    default: ParamValue
    kind: Literal["int", "float"] = "float"
    low: float | None = None
    high: float | None = None
    doc: str = ""

    def coerce(self, name: str, value: object) -> ParamValue:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"param {name!r} must be a number, got {value!r}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ValueError(f"param {name!r} must be an integer, got {value!r}")
            out: ParamValue = int(value)
        else:
            out = float(value)
        if (self.low is not None and out < self.low) or (self.high is not None and out > self.high):
            raise ValueError(f"param {name!r}={out} outside [{self.low}, {self.high}]")
        return out


def resolve_params(module_name: str, declared: Mapping[str, Param], given: Mapping[str, object]
                   ) -> dict[str, ParamValue]:
    """Defaults overlaid with `given`, each coerced and bounds-checked; unknown names are an error."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"module {module_name!r} has no params {unknown}; known: {sorted(declared)}")
    return {k: p.coerce(k, given.get(k, p.default)) for k, p in declared.items()}


@dataclass(frozen=True)
class KernelPart:
    """What an Execution or Risk module contributes: slot values and per-bar series (len == bars)."""

    values: dict[str, float] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Baseline(Protocol):
    name: str
    params: Mapping[str, Param]

    def candidates(self, bars: Bars, params: Mapping[str, ParamValue]) -> np.ndarray: ...


@runtime_checkable
class Filter(Protocol):
    name: str
    params: Mapping[str, Param]
    reject_reason: str

    def allow(self, bars: Bars, params: Mapping[str, ParamValue]) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class Execution(Protocol):
    name: str
    params: Mapping[str, Param]

    def configure(self, bars: Bars, params: Mapping[str, ParamValue]) -> KernelPart: ...


@runtime_checkable
class Risk(Protocol):
    name: str
    params: Mapping[str, Param]

    def configure(self, bars: Bars, params: Mapping[str, ParamValue]) -> KernelPart: ...


ModuleKind = Literal["baselines", "filters", "executions", "risks"]
KIND_PROTOCOL: dict[str, type] = {"baselines": Baseline, "filters": Filter, "executions": Execution,
                                  "risks": Risk}
