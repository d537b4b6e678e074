"""Backtest engine: `run_backtest` (one Spec, optional artifacts) and `run_sweep` (many parameter sets).

Kernel semantics (one bar-by-bar state machine, compiled with numba; stated in every Report):

1. **Closed bars only.** Baselines, filters and module series at bar i use bars 0..i. The decision at
   the close of bar i sees the candidate, filter masks and series at i.
2. **Fill timing.** `next_open` (default): a decision at the close of bar i fills at the open of bar
   i+1. `same_close` (optimistic, flagged): it fills at the close of bar i. Decisions at the last bar
   in next_open mode never fill.
3. **Order of events in a bar** (next_open): (a) pending market orders fill at the open: first the
   exit, then the entry (a reversal is both, at the same price, in one step); (b) stops/targets of the
   position, including one opened at this open, are checked against the bar; (c) at the close the
   trailing state updates (best price includes this bar's high/low, `held` += 1); (d) the decision.
   In same_close mode (a) is absent and the decision's fills happen at the close after (c); a position
   opened at a close is first checked against the next bar.
4. **Stops and targets.** Levels are set from the *market* fill price (before slippage): fixed
   percent, or ATR multiples of the ATR at the signal bar; the tighter stop and the nearer target win.
   Trailing stops (percent of, or ATR below, the best price since entry) start from the entry price
   and only tighten; the effective stop is the tighter of fixed and trailing (a tie counts as the
   fixed stop-loss). A bar whose open is already through the stop (or target) fills at the open
   (gap rule); otherwise a touched stop fills at the stop price and a touched target at the target.
5. **SL and TP both touched in one bar** (neither at the open): `stop_first` -> the stop (default,
   pessimistic, as vectorbt and backtesting.py); `ohlc_path` -> the path visits first the extreme
   nearer to the open (O-H-L-C if high - open < open - low, O-L-H-C if greater; a tie -> the stop);
   `candle_color` -> red candle (close < open) O-H-L-C, otherwise O-L-H-C (jesse's rule).
6. **Candidates and same-bar conflicts.** A candidate equal to the open position's side is ignored (no
   pyramiding). An opposite candidate exits at the next fill (reason `signal`) and, if its side is
   enabled (`sides`), passes the filters and the risk layer, reverses; if rejected the position just
   closes. A time stop (held >= N bars at a close) exits at the next fill unless an opposite candidate
   already does (reason `signal` wins). A stop hit inside bar i does not prevent an entry decided at
   the close of bar i. A pending signal exit at the open takes precedence over a stop gapped at that
   open (same price, reason `signal`).
7. **Risk layer**, in order: NAV <= 0 -> reject; cooldown (t - last losing exit bar < N) -> reject;
   drawdown breaker halted -> reject; size = fraction, or target_vol / realized vol (undefined, 0 or not finite ->
   reject); capped at leverage_cap; size <= 0 -> reject. The breaker state updates at every close on
   the mark-to-market NAV: once NAV <= peak (1 - max_dd) it halts entries for `halt_bars` bars, then
   the peak resets to the NAV at the bar the halt ends.
8. **Costs and sizing.** Entry notional = size x NAV at the fill (after the exit of a reversal); qty =
   notional / fill price (fractional). Slippage moves market and stop fills against the trade by
   slippage_bps (take-profit limit fills get none); commission is commission_bps of each fill's
   notional, per side. Cash funds the notional (longs may borrow cash, shorts receive it); NAV = cash
   + qty x close. Positions open at the end stay open (marked to market, not in the trade list).
9. **Determinism.** No randomness; each parameter set of a sweep is computed independently, so results
   are bit-identical across runs and thread counts; `record=False` computes the very same numbers.
10. **Ruin.** NAV <= 0 at a checkpoint ruins the run. Checkpoints: right after every fill (exit at the
   open, stop/target fill inside the bar, exit at the close in same_close mode: the account is flat,
   NAV = cash) and the mark to market at each close before the decision (NAV = cash + qty x close; an
   intrabar excursion that recovers by the close is not ruin). A position still open at a ruinous
   close is liquidated at that close as a market order (slippage and commission; exit reason `ruin`);
   its trade books the whole loss. The account is then closed at NAV 0: no decision at that bar, no
   fill or position afterwards, NAV 0 on every later bar (losses beyond the capital are not carried,
   so total return is -100%). The run is flagged (`ruined`, `ruin_bar`, `ruin_time`); its Sharpe and
   Sortino are capped at 0 (definitions in `auraquant.cta.backtest.metrics`). Runs that never reach
   ruin are unaffected by this rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.layout import (
    EXIT_REASONS,
    M_FINAL_POSITION,
    M_RUIN_BAR,
    M_RUINED,
    METRIC_NAMES,
    RISK_APPROVED,
    RISK_REASONS,
    T_ENTRY_BAR,
    T_ENTRY_PRICE,
    T_EXIT_BAR,
    T_EXIT_PRICE,
    T_FEES,
    T_NOTIONAL,
    T_PNL,
    T_QTY,
    T_REASON,
    T_SIDE,
)
from auraquant.cta.backtest.metrics import (
    BuyAndHold,
    Report,
    add_trial_statistics,
    build_report,
    buy_and_hold_from_nav,
    buy_and_hold_nav,
    metrics_dict,
)
from auraquant.cta.backtest.prepare import Prepared, day_index, prepare
from auraquant.cta.sandbox import isolation
from auraquant.cta.strategy.bars import Bars, bars_from_frame
from auraquant.cta.strategy.loader import load_module
from auraquant.cta.strategy.spec import Spec

_SWEEP_CHUNK = 16
# Prepared module outputs held at once by a sweep (the bars themselves and the indicator cache aside).
_POOL_BYTES = 256 * 2**20
_POOL_BYTES_PER_BAR = 10

SEMANTICS = ("signal at bar close; stops/targets intrabar vs high/low, gap through a level fills at the open; "
             "opposite candidate exits and reverses in one step; commission and slippage per side; "
             "metrics on UTC daily NAV returns (see auraquant.cta.backtest.engine)")


@dataclass
class BacktestResult:
    """A backtest's Report plus, when recorded, its artifacts as DataFrames (None otherwise)."""

    report: Report
    metrics: dict[str, float]
    equity: pd.DataFrame | None = None
    trades: pd.DataFrame | None = None
    steps: pd.DataFrame | None = None
    filter_decisions: pd.DataFrame | None = None
    risk_decisions: pd.DataFrame | None = None


def _as_bars(bars: pd.DataFrame | Bars) -> Bars:
    return bars if isinstance(bars, Bars) else bars_from_frame(bars)


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ns, dtype=np.int64), unit="ns", utc=True)


def run_backtest(bars: pd.DataFrame | Bars, spec: Spec, *, record: bool = True,
                 extra_dir: Path | str | None = None) -> BacktestResult:
    """Backtest `spec` on `bars` (columns time [UTC bar open], open, high, low, close, volume).

    `record=False` returns only the report/metrics (identical numbers, no per-bar artifacts).
    The report carries buy and hold over the same bars (`metrics.BuyAndHold`) and the excess over it; the
    recorded equity table has its NAV in the column `buy_and_hold`.
    `extra_dir` is an additional module root (`<dir>/<kind>/<name>.py`) for workspace modules.
    """
    b = _as_bars(bars)
    prep = prepare(b, spec, None, extra_dir)
    res = kernel.simulate(*prep.kernel_args(0), record)
    vec = res[0]
    e = spec.engine
    bh_nav = _buy_and_hold_nav(b, spec)
    report = build_report(
        vec, spec_id=spec.id, data_from=str(_utc(b.time_ns[:1])[0]), data_to=str(_utc(b.time_ns[-1:])[0]),
        bars=len(b), annualization_basis=e.annualization, fill=e.fill, fill_optimistic=e.fill == "same_close",
        intrabar_policy=e.intrabar, commission_bps=e.commission_bps, slippage_bps=e.slippage_bps,
        initial_capital=e.initial_capital, open_position_at_end=bool(vec[M_FINAL_POSITION] != 0),
        semantics=SEMANTICS,
        ruin_time=str(_utc(b.time_ns[int(vec[M_RUIN_BAR]):][:1])[0]) if vec[M_RUINED] > 0 else None)
    bh = buy_and_hold_from_nav(b.time_ns.view("datetime64[ns]"), bh_nav, e.initial_capital, e.annualization, versus=report)
    report = report.model_copy(update={"buy_and_hold": bh})
    out = BacktestResult(report=report, metrics=metrics_dict(vec))
    if record:
        _attach_artifacts(out, prep, res, spec, extra_dir)
        assert out.equity is not None
        out.equity["buy_and_hold"] = bh_nav
    return out


def buy_and_hold_of(bars: pd.DataFrame | Bars, spec: Spec, versus: object = None) -> BuyAndHold:
    """Buy and hold over `bars` under `spec`'s engine settings (fill, costs, capital, basis): the very
    benchmark `run_backtest` attaches to its report; `versus` (a result's metrics) fills the excess."""
    b = _as_bars(bars)
    e = spec.engine
    return buy_and_hold_from_nav(b.time_ns.view("datetime64[ns]"), _buy_and_hold_nav(b, spec), e.initial_capital,
                                 e.annualization, versus=versus)


def _buy_and_hold_nav(b: Bars, spec: Spec) -> np.ndarray:
    e = spec.engine
    return buy_and_hold_nav(b.open, b.close, fill=e.fill, commission_bps=e.commission_bps,
                            slippage_bps=e.slippage_bps, initial=e.initial_capital)


def trades_frame(trades: np.ndarray, time_ns: np.ndarray) -> pd.DataFrame:
    """The trade table of a kernel trade array (`T_*` columns) on bars stamped `time_ns`: one row per closed
    trade, bars as positions in those bars."""
    entry_bar = trades[:, T_ENTRY_BAR].astype(np.int64)
    exit_bar = trades[:, T_EXIT_BAR].astype(np.int64)
    return pd.DataFrame({
        "entry_bar": entry_bar, "exit_bar": exit_bar,
        "entry_time": _utc(time_ns[entry_bar]), "exit_time": _utc(time_ns[exit_bar]),
        "side": trades[:, T_SIDE].astype(np.int8), "qty": trades[:, T_QTY], "entry_price": trades[:, T_ENTRY_PRICE],
        "exit_price": trades[:, T_EXIT_PRICE], "pnl": trades[:, T_PNL], "fees": trades[:, T_FEES],
        "return": trades[:, T_PNL] / trades[:, T_NOTIONAL],
        "exit_reason": [EXIT_REASONS[int(r)] for r in trades[:, T_REASON]]})


def _attach_artifacts(out: BacktestResult, prep: Prepared, res: tuple, spec: Spec,
                      extra_dir: Path | str | None) -> None:
    _, equity, position, fcode, rcode, size, trades = res
    b = prep.bars
    times = _utc(b.time_ns)
    out.equity = pd.DataFrame({"time": times, "equity": equity})
    cand = prep.sig_pool[prep.iparams[0, 0]]
    out.steps = pd.DataFrame({"time": times, "candidate": cand, "filter_pass": fcode, "risk_code": rcode,
                              "size": size, "position": position})
    out.trades = trades_frame(trades, b.time_ns)
    evaluated = np.flatnonzero(fcode >= 0)
    direction = cand[evaluated].astype(np.int8)
    f_rows = []
    for name, al, ash in prep.filter_outputs:
        # An agent-written filter's reason came back from the sandbox worker; never load it here.
        reason = prep.filter_reasons[name] if name in prep.filter_reasons else load_module(
            "filters", name, extra_dir).reject_reason
        passed = np.where(direction > 0, al[evaluated], ash[evaluated])
        f_rows.append(pd.DataFrame({"bar": evaluated, "time": times[evaluated], "filter": name,
                                    "direction": direction, "passed": passed,
                                    "reason": np.where(passed, "", reason)}))
    out.filter_decisions = (pd.concat(f_rows, ignore_index=True).sort_values(["bar", "filter"], kind="stable")
                            .reset_index(drop=True) if f_rows else pd.DataFrame(
                                {"bar": [], "time": [], "filter": [], "direction": [], "passed": [], "reason": []}))
    r_bars = np.flatnonzero(rcode >= 0)
    codes = rcode[r_bars]
    out.risk_decisions = pd.DataFrame({
        "bar": r_bars, "time": times[r_bars], "direction": cand[r_bars].astype(np.int8),
        "approved": codes == RISK_APPROVED, "size": size[r_bars],
        "reason": [RISK_REASONS[int(c)] for c in codes]})


def run_sweep(bars: pd.DataFrame | Bars, spec: Spec, param_sets: Sequence[Mapping[str, Any]], *,
              threads: int | None = None, extra_dir: Path | str | None = None) -> pd.DataFrame:
    """Metrics of `spec` under each flat parameter dict in `param_sets`, in one parallel compiled call.

    Returns one row per set (in input order): the set's parameters, every metric of `METRIC_NAMES`, `psr`,
    and `dsr` (deflated Sharpe with n_trials = len(param_sets) and the variance of the sets' daily
    Sharpe ratios). Numbers equal `run_backtest(...).metrics` of the same set exactly.
    """
    if not param_sets:
        raise ValueError("param_sets is empty")
    b = _as_bars(bars)
    if isolation.needed(spec, extra_dir):
        mat = isolation.sweep(b, spec, param_sets, threads=threads, extra_dir=extra_dir)
    else:
        mat = sweep_matrix(b, spec, param_sets, threads=threads, extra_dir=extra_dir)
    metrics = add_trial_statistics(pd.DataFrame(mat, columns=list(METRIC_NAMES)))
    return pd.concat([pd.DataFrame(list(param_sets)), metrics], axis=1)


def sweep_matrix(b: Bars, spec: Spec, param_sets: Sequence[Mapping[str, Any]], *, threads: int | None = None,
                 extra_dir: Path | str | None = None) -> np.ndarray:
    """The kernel's metric matrix (one row per set, columns `METRIC_NAMES`) computed in this process.

    `run_sweep` calls it for built-in modules; the sandbox worker calls it for agent-written ones. The sets
    are prepared and swept in consecutive chunks (`sweep_chunk_sets`) so the prepared arrays held at once
    stay bounded (a 100,000-set sweep would otherwise hold one candidate array per distinct set); every set
    is computed independently, so the rows do not depend on the chunking."""
    workers = threads or numba.get_num_threads()
    step = sweep_chunk_sets(len(b), workers)
    days = day_index(b.time_ns)  # once: each chunk's preparation would allocate it anew (80 MB at 10M bars)
    prev = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        parts = []
        for start in range(0, len(param_sets), step):
            prep = prepare(b, spec, param_sets[start:start + step], extra_dir, workers=workers, days=days)
            # Dynamic scheduling in chunks: sets differ in cost (trade counts) and the cores may be shared,
            # so a static half-and-half split leaves one thread idle. Results do not depend on it.
            with numba.parallel_chunksize(_SWEEP_CHUNK):
                parts.append(kernel.sweep(b.open, b.high, b.low, b.close, prep.day_id, prep.n_days, prep.sig_pool,
                                          prep.allow_pool, prep.series_pool, prep.iparams, prep.fparams,
                                          prep.fill_mode, prep.policy, prep.sides, prep.comm, prep.slip,
                                          prep.initial, prep.basis))
            del prep  # free this chunk's pools before the next one is prepared
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    finally:
        numba.set_num_threads(prev)


def sweep_chunk_sets(n_bars: int, threads: int) -> int:
    """Parameter sets prepared and swept at once over `n_bars` bars: as many as fit `_POOL_BYTES` at
    `_POOL_BYTES_PER_BAR` bytes per set and bar (a candidate array, an allow mask and one float series),
    and never fewer than `_SWEEP_CHUNK` per thread, so a chunk still feeds every thread."""
    return max(_SWEEP_CHUNK * max(threads, 1), _POOL_BYTES // (max(n_bars, 1) * _POOL_BYTES_PER_BAR))


def sweep_equity(bars: pd.DataFrame | Bars, spec: Spec, param_sets: Sequence[Mapping[str, Any]], *,
                 threads: int | None = None, extra_dir: Path | str | None = None) -> np.ndarray:
    """Bar NAV curves (one row per set, in input order; columns = bars) of `spec` under each parameter set.

    Row k equals `run_backtest(bars, apply_params(spec, param_sets[k])).equity["equity"]` exactly: the same
    compiled simulation, without the per-bar artifact tables. The sets run on `threads` threads (default:
    numba's thread count); each set is computed independently, so the result does not depend on it."""
    if not param_sets:
        raise ValueError("param_sets is empty")
    b = _as_bars(bars)
    prep = prepare(b, spec, param_sets, extra_dir, workers=threads or numba.get_num_threads())
    out = np.empty((len(param_sets), len(b)))

    def one(k: int) -> None:
        out[k] = kernel.simulate(*prep.kernel_args(k), True)[1]

    n = max(1, min(threads or numba.get_num_threads(), len(param_sets)))
    if n == 1:
        for k in range(len(param_sets)):
            one(k)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="equity") as pool:
            list(pool.map(one, range(len(param_sets))))
    return out
