"""The strategy SDK as the agent learns it on demand (progressive disclosure): per-topic reference texts
with performance notes and pitfalls, and one scaffold template per module kind.

Templates are valid modules once their placeholders are filled: they pass the code guard, the Protocol
check and the look-ahead check as written (a test proves it), so the agent starts from working code.
"""

from __future__ import annotations

from typing import Literal

Topic = Literal["overview", "baselines", "filters", "executions", "risks", "indicators", "bars", "spec",
                "performance", "rules"]

_COMMON_RULES = """\
Code rules (enforced by module_write; every violation is listed with its line):
- imports: numpy, pandas, pandas_ta, math, typing, numpy.lib.stride_tricks, `from numba import njit`,
  and the SDK: auraquant.cta.strategy.protocols (Param, KernelPart), auraquant.cta.strategy.indicators,
  auraquant.cta.strategy.bars (Bars), auraquant.cta.strategy.learned_baseline (LearnedBaseline).
  Nothing else (no os, sys, pathlib, subprocess, pickle ...).
- no open/eval/exec/compile/getattr/globals/vars/print/__import__; no dunder names or attributes
  (`x.__class__`), no `_private` attributes except on self, no strings containing '__'.
- no I/O or global state through the libraries: pd.read_*, DataFrame.to_csv-like to_*, np.load/save,
  np.random (modules must be deterministic), pd.set_option, DataFrame.eval/query.
- decorators: only staticmethod, classmethod, property(.setter) and njit; no metaclass= or other class
  keywords; annotations are plain types (no strings or calls); dunder methods only __init__, __call__,
  __repr__ and the comparison/container ones; modules only as `np.x` (never `m = np`); from typing only
  plain type names; pass `.agg/.apply/.transform/.pipe` a lambda or function, never a method name.
- at most 32,000 bytes / 600 lines; file name == MODULE.name == a lowercase identifier.
- no hard-coded hindsight: no date/time strings, epoch timestamps, literal tables (8+ constants) or
  sets of price-like numbers; numbers belong in Param declarations, data comes from the bars.
- your module runs in a sandbox worker (no files, network or processes; time, memory and output
  limits): a module that hangs, forks, floods output or exhausts memory is refused with the cause.
- causality: the value at bar i may use bars 0..i only, on any number of bars >= 2 (return warm-up
  values, never raise on short samples). module_write recomputes your module on truncated prefixes of
  sample data; every experiment, sweep and backtest does it again on its own bars at full length, with
  a fresh module instance per prefix (no state survives between calls), for the Spec's params and the
  search-space corners, comparing every output including scalar slot values. The first bar whose value
  changes refuses the module.
"""

_TEXT: dict[str, str] = {
    "overview": """\
A Spec composes four orthogonal module kinds, each a file cta_runtime/<kind>/<name>.py defining
`MODULE`:
- baselines: `candidates(bars, params) -> int8[n]` (+1 long, -1 short, 0 none), vectorized.
- filters: `allow(bars, params) -> (allow_long bool[n], allow_short bool[n])` + `reject_reason` str.
- executions: `configure(bars, params) -> KernelPart` setting stop/target/trailing/time-stop slots.
- risks: `configure(bars, params) -> KernelPart` setting sizing/approval slots.
Every MODULE has `name` (== file name) and `params: dict[str, Param]`.
Topics: baselines, filters, executions, risks, indicators, bars, spec, performance, rules.
Prefer built-ins (module_list); write a module only for a new hypothesis.""",
    "baselines": """\
Baseline: entry candidates per bar, from closed bars only.
    class X:
        name = "x"; params = {"period": Param(20, "int", 2, 10_000, "lookback")}
        def candidates(self, bars, params) -> np.ndarray  # int8, len(bars), values in {-1, 0, 1}
Semantics (engine): a candidate equal to the open side is ignored (no pyramiding); an opposite one exits
and, if approved, reverses in one step. Event-style (crossovers: a candidate only on the cross bar) and
state-style (sign of momentum every bar; re-enters the bar after a stop) both work.
Pitfalls: NaN during warm-up must yield 0, not a signal (compare with np.nan -> False, use nan_to_num);
never shift by -1 (that reads the next bar); `np.roll` wraps the end to the start: look-ahead.""",
    "filters": """\
Filter: pass/reject each candidate direction per bar; rejects become FilterDecision records.
    class X:
        name = "x"; reject_reason = "why a candidate is rejected"; params = {...}
        def allow(self, bars, params) -> tuple[np.ndarray, np.ndarray]  # bool allow_long, allow_short
A candidate passes when every filter allows its direction at that bar. Return False during warm-up.
Higher timeframes: only use higher-timeframe bars that have closed by the base bar's close
(see cta_runtime/filters/htf_trend.py for the exact rule).""",
    "executions": """\
Execution: the post-entry state machine lives in the compiled kernel; a module only sets its slots.
    def configure(self, bars, params) -> KernelPart(values={...}, series={...})
values slots: sl_pct, tp_pct (fractions of the entry price), sl_atr, tp_atr (ATR multiples of the
signal-bar ATR), trail_pct, trail_atr, time_stop (bars). series slots: stop_atr, trail_atr (per-bar ATR
arrays, len(bars)). Omit a slot to disable it. Levels are set from the market fill price; the tighter
stop and nearer target win when several modules are combined. A behaviour no slot expresses needs a
kernel change (by design), not a module.""",
    "risks": """\
Risk: final approval and sizing, also kernel slots.
    def configure(self, bars, params) -> KernelPart(values={...}, series={...})
values slots: fraction (notional / NAV), target_vol (annualized; needs series 'vol'), leverage_cap,
dd_max + dd_halt (drawdown breaker: halt entries for dd_halt bars once NAV <= peak*(1-dd_max)),
cooldown (bars after a losing exit). series slot: vol (annualized realized volatility per bar).
Order in the kernel: NAV<=0 -> cooldown -> breaker -> size (fraction or target_vol/vol) -> cap.""",
    "indicators": """\
auraquant.cta.strategy.indicators (numba-compiled, causal, NaN warm-up, prefix-stable):
ema(x, period), sma(x, period), rolling_std(x, period), prior_max(x, period) / prior_min(x, period)
(max/min of the previous `period` values, excluding bar i), true_range(h, l, c), atr(h, l, c, period),
adx(h, l, c, period), log_returns(close), equal_run(x) (length of the run of equal values ending at i).
sma and rolling_std are exact on constant windows (value itself, exactly 0). pandas_ta indicators also
work on pd.Series(bars.close) but are slower; check that the ones you use are causal (most are; `dpo`
with centered=True is not). Every module is re-checked for look-ahead on the run's own data before each
experiment, sweep and backtest (fresh instance per prefix, every output incl. scalar slot values).""",
    "bars": """\
Bars (frozen): time_ns int64 (UTC bar OPEN time, ns), open, high, low, close, volume float64 arrays,
bar_ns (nominal bar length), len(bars), bars.bars_per_day(). Row i closes at time_ns[i] + bar_ns; a
decision at bar i is taken at that close and fills at the next open (default).
bars.cached(fn, *args) returns fn(*args) computed once per bars object (read-only result), for pure
indicator functions whose array arguments are columns of these bars: bars.cached(ema, bars.close, 20).""",
    "spec": """\
Spec (call spec_schema for the JSON schema): name, description, baseline {name, params},
filters [...], execution [...], risk [...], search_space {path: range}, engine {fill, intrabar,
commission_bps, slippage_bps, initial_capital, annualization, sides}.
Parameter paths: baseline.<p>, filters.<module>.<p>, execution.<module>.<p>, risk.<module>.<p>.
Ranges: {"kind": "int", "low", "high", "step"}, {"kind": "float", "low", "high"}, {"kind":
"categorical", "choices": [...]}. The Spec id is a hash of its content (description excluded), so the
same strategy always gets the same id. Keep search spaces small: every trial deflates the Sharpe.""",
    "performance": """\
Performance notes:
- Vectorize over the whole array; a Python loop over 50k bars costs ~10-50 ms per call and a sweep calls
  a baseline once per distinct parameter set. If you need a recursion, reuse the SDK indicators (numba)
  or decorate a small kernel with `@njit(cache=True, nogil=True)` (from numba import njit).
- Use np.ascontiguousarray float64 arrays; avoid pandas inside hot paths (pd.Series(...).rolling is fine
  once per call, not per bar).
- Return exact dtypes: int8 candidates, bool masks; the engine copies otherwise.
- Parameters that only change stops/sizing reuse the same candidate array in sweeps: put cheap knobs in
  execution/risk modules, not in the baseline.
- A sweep calls the baseline once per distinct parameter set; an indicator shared by many sets (the
  slow EMA of many (fast, slow) pairs) is computed once with bars.cached(ema, bars.close, period).""",
    "rules": _COMMON_RULES,
}

_TEMPLATES: dict[str, str] = {
    "baselines": '''"""{title}: <hypothesis in one sentence: why this rule should catch trends>.

Candidate at bar i: +1 when <condition>, -1 when <opposite>, else 0; uses bars 0..i only.
"""

import numpy as np

from auraquant.cta.strategy.indicators import ema
from auraquant.cta.strategy.protocols import Param


class {cls}:
    name = "{name}"
    params = {{"period": Param(20, "int", 2, 10_000, "lookback in bars")}}

    def candidates(self, bars, params):
        trend = ema(bars.close, int(params["period"]))
        above = np.nan_to_num(bars.close - trend) > 0
        below = np.nan_to_num(bars.close - trend) < 0
        out = np.zeros(len(bars), dtype=np.int8)
        out[1:][above[1:] & ~above[:-1]] = 1
        out[1:][below[1:] & ~below[:-1]] = -1
        return out


MODULE = {cls}()
''',
    "filters": '''"""{title}: <what market state this filter requires, and why>."""

import numpy as np

from auraquant.cta.strategy.indicators import atr
from auraquant.cta.strategy.protocols import Param


class {cls}:
    name = "{name}"
    reject_reason = "<why a candidate is rejected>"
    params = {{"period": Param(14, "int", 1, 10_000, "ATR period"),
              "min_atr_pct": Param(0.002, "float", 0.0, 1.0, "minimum ATR / close")}}

    def allow(self, bars, params):
        ratio = atr(bars.high, bars.low, bars.close, int(params["period"])) / bars.close
        ok = np.nan_to_num(ratio) >= float(params["min_atr_pct"])
        return ok, ok.copy()


MODULE = {cls}()
''',
    "executions": '''"""{title}: <how positions are exited once open>."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class {cls}:
    name = "{name}"
    params = {{"sl_pct": Param(0.03, "float", 0.0, 1.0, "stop distance, fraction of entry (0 = off)"),
              "trail_pct": Param(0.05, "float", 0.0, 1.0, "trailing distance from the best price (0 = off)")}}

    def configure(self, bars, params):
        values = {{}}
        if params["sl_pct"] > 0:
            values["sl_pct"] = float(params["sl_pct"])
        if params["trail_pct"] > 0:
            values["trail_pct"] = float(params["trail_pct"])
        return KernelPart(values=values)


MODULE = {cls}()
''',
    "risks": '''"""{title}: <how entries are sized and when they are refused>."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class {cls}:
    name = "{name}"
    params = {{"fraction": Param(0.5, "float", 0.0, 10.0, "notional / NAV per entry"),
              "cooldown": Param(0, "int", 0, 100_000, "bars without entries after a losing exit")}}

    def configure(self, bars, params):
        values = {{"fraction": float(params["fraction"])}}
        if params["cooldown"] > 0:
            values["cooldown"] = float(params["cooldown"])
        return KernelPart(values=values)


MODULE = {cls}()
''',
}


def reference(topic: str) -> str:
    """The reference text of `topic` (module kinds append the code rules)."""
    text = _TEXT[topic]
    if topic in ("baselines", "filters", "executions", "risks"):
        text = f"{text}\n\n{_COMMON_RULES}\n{_TEXT['performance']}"
    return text


def scaffold(kind: str, name: str) -> str:
    """A working template of `kind` named `name` (placeholders in the docstring describe what to change)."""
    cls = "".join(p.capitalize() for p in name.split("_")) or "Module"
    return _TEMPLATES[kind].format(name=name, cls=cls, title=name.replace("_", " ").capitalize())
