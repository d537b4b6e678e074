"""The compiled bar-by-bar kernel (numba). Semantics are documented in `auraquant.cta.backtest.engine`.

Private module: call it through `engine.run_backtest` / `engine.run_sweep`. The kernel reads prepared
arrays only (candidates, allow masks, per-bar series) so every strategy composition shares one compiled
function; `record` switches the per-bar artifacts on or off without changing any number.

Speed without a change of semantics: runs of idle flat bars and of quiet bars in a position (no order,
no candidate that acts, no level touched) take shortcuts; any other bar goes through the full state
machine. An idle run is found by scanning the candidates alone, eight per word, and booked at once
(NAV = cash on every bar; its days one by one; its NAV sum as cash x length, the only number that may
differ from a bar-by-bar sum, in the last bits). A quiet run performs the full machine's arithmetic in
the same order, except that a percent trail without a fixed stop is the pure function of the best price
it provably is. The quiet-run touch test relies on the `Bars` invariant low <= open, close <= high (a
gap through a level is also a touch of it). The parity tests against the pure-Python reference cover
all of it.

Structure: `_simulate` is the bar loop of one parameter set; each step of a bar is a small function.
Shortcuts: `_idle_run_end` + `_book_idle_run` (idle flat bars), `_quiet_run` (quiet bars in a position).
Full state machine: (a) pending market fills, the exit `_book_exit` (then the ruin checkpoint `_settle`)
before the entry `_open_position`; (b) intrabar exits, `_intrabar_exit`; (c) trailing state, `_trail`; ruin at the
close and the drawdown breaker, `_breaker`; (d) the decision, `_exit_decision` and the risk layer `_risk`;
then the bookkeeping of the close, `_mark`. `_finalize` writes the metric vector by the named indices
`M_*` of `auraquant.cta.backtest.layout`.
Sinks (`_sink_mark`, `_sink_run`, `_sink_trade`, `_sink_open`): a portfolio member's run may add its
weighted NAV, trades and held bars straight into its portfolio's accumulators; without sinks (None, every
other caller) they compile to nothing.

Which helpers are inlined and which are called is a measured choice (`benchmarks/kernel_split.py`):
numba inlines `inline="always"` functions into the caller's IR, where every array argument becomes an
alias that is reference-counted on each pass; so helpers that run on every bar and take arrays (`_mark`,
the shortcut runs) are plain compiled functions, and only helpers on the per-event path (fills, exits,
levels) or taking scalars alone are inlined at IR level (a fill helper wrapping `_book_exit` and
`_open_position` cost 20% of a sweep: nested inlining aliases their arrays once more).
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

# numba runs `sweep` on OpenMP threads (libgomp), which by default spin 300,000 times after every parallel
# region before sleeping: measured ~9 ms of a core burnt per sweep call, a fixed cost as large as sweeping
# 30 sets over 100,000 bars, taken from the next chunk's preparation on a 2-core machine. A short spin
# keeps back-to-back regions fast. Read once, when libgomp loads (at the first sweep); a value set by the
# user wins.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from auraquant.cta.backtest.layout import (
    ALLOW_LONG,
    ALLOW_SHORT,
    EXIT_RUIN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TIME,
    EXIT_TRAILING,
    F_COOLDOWN,
    F_DD_HALT,
    F_DD_MAX,
    F_FRACTION,
    F_LEV_CAP,
    F_SL_ATR,
    F_SL_PCT,
    F_TARGET_VOL,
    F_TIME_STOP,
    F_TP_ATR,
    F_TP_PCT,
    F_TRAIL_ATR,
    F_TRAIL_PCT,
    FILL_NEXT_OPEN,
    I_ALLOW,
    I_SIG,
    I_STOP_ATR,
    I_TRAIL_ATR,
    I_VOL,
    M_ANN_RETURN,
    M_ANN_VOLATILITY,
    M_AVG_TRADE_RETURN,
    M_CALMAR,
    M_CVAR_95,
    M_DAILY_MEAN,
    M_DAILY_STD,
    M_EXPECTANCY,
    M_EXPOSURE,
    M_FINAL_NAV,
    M_FINAL_POSITION,
    M_KURTOSIS,
    M_MAX_DRAWDOWN,
    M_N_DAYS,
    M_PROFIT_FACTOR,
    M_RUIN_BAR,
    M_RUINED,
    M_SHARPE,
    M_SKEW,
    M_SORTINO,
    M_TOTAL_RETURN,
    M_TRADES,
    M_TURNOVER,
    M_VAR_95,
    M_WIN_RATE,
    M_YEARS,
    N_METRICS,
    N_TRADE_FIELDS,
    POLICY_CANDLE_COLOR,
    POLICY_OHLC_PATH,
    POLICY_STOP_FIRST,
    RISK_APPROVED,
    RISK_COOLDOWN,
    RISK_DD_HALT,
    RISK_NAV,
    RISK_NO_VOL,
    RISK_ZERO_SIZE,
    S_GROSS_LOSS,
    S_GROSS_PROFIT,
    S_PNL,
    S_RET,
    S_TRADED,
    S_TRADES,
    S_WINS,
)
from auraquant.cta.backtest.sharpe import sharpe_value

# The one Sharpe definition, compiled into `_finalize`.
_sharpe = njit(nogil=True, inline="always")(sharpe_value)


# -- sinks: a portfolio member's run adding into its portfolio's accumulators -----------------------------------
# A run given sinks adds w x its NAV at every bar into `nav_sink`, adds its w-scaled trade statistics (`S_*`) into
# `trade_sink` and flags in `held_sink` the bars it closes holding a position, so a fixed-sizing portfolio sweep
# never records and re-reads a member's curve. Held bars are flagged per trade, as the range from its entry bar to
# the bar before its exit (the marks in between carry its quantity; the exit bar's mark is flat unless a new
# trade starts there), and for a position still open at the end from its entry on: per-bar flags would cost the
# bar loop a store per held bar. Without sinks (None: every other caller) each hook compiles to nothing: the
# sink is chosen by type at compile time, so the single-instrument paths keep their code (no runtime flag).
def _sink_mark(nav_sink, w, i, nav):
    """Add bar i's NAV into the NAV sink."""


def _sink_run(nav_sink, w, t, u, cash):
    """Add a flat run's NAV (cash on bars t..u) into the NAV sink."""


def _sink_trade(trade_sink, held_sink, w, pnl, ret, traded, e_bar, t):
    """Add one trade closed at bar t (pnl and turnover in the member's currency) into the trade sink, scaled by
    w; flag its held bars e_bar..t-1."""


def _sink_open(held_sink, e_bar, n, qty):
    """Flag the held bars e_bar..n-1 of a position `qty` still open after the last bar."""


@overload(_sink_mark)
def _sink_mark_impl(nav_sink, w, i, nav):
    if isinstance(nav_sink, types.NoneType):
        return lambda nav_sink, w, i, nav: None

    def impl(nav_sink, w, i, nav):
        nav_sink[i] += w * nav
    return impl


@overload(_sink_run)
def _sink_run_impl(nav_sink, w, t, u, cash):
    if isinstance(nav_sink, types.NoneType):
        return lambda nav_sink, w, t, u, cash: None

    def impl(nav_sink, w, t, u, cash):
        v = w * cash
        for j in range(t, u + 1):
            nav_sink[j] += v
    return impl


@overload(_sink_trade)
def _sink_trade_impl(trade_sink, held_sink, w, pnl, ret, traded, e_bar, t):
    if isinstance(trade_sink, types.NoneType):
        return lambda trade_sink, held_sink, w, pnl, ret, traded, e_bar, t: None

    def impl(trade_sink, held_sink, w, pnl, ret, traded, e_bar, t):
        held_sink[e_bar:t] = 1
        add_trade_stats(trade_sink, w, pnl, ret, traded)
    return impl


@njit(cache=True, nogil=True)
def add_trade_stats(st, w, pnl, ret, traded):
    """Add one closed trade into portfolio trade statistics `st` (`S_*`): its pnl and turnover (in the member's
    currency) scaled by the member's weight w, its return as is."""
    p = pnl * w
    st[S_TRADES] += 1.0
    st[S_RET] += ret
    st[S_PNL] += p
    st[S_TRADED] += traded * w
    if p > 0:
        st[S_WINS] += 1.0
        st[S_GROSS_PROFIT] += p
    elif p < 0:
        st[S_GROSS_LOSS] -= p


@overload(_sink_open)
def _sink_open_impl(held_sink, e_bar, n, qty):
    if isinstance(held_sink, types.NoneType):
        return lambda held_sink, e_bar, n, qty: None

    def impl(held_sink, e_bar, n, qty):
        if qty != 0.0:
            held_sink[e_bar:n] = 1
    return impl


@njit(cache=True, nogil=True, inline="always")
def _tighter(side, a, b):
    """The tighter of two stop levels for `side` (higher for longs, lower for shorts); NaN = absent."""
    if a != a:
        return b
    if b != b:
        return a
    if side > 0:
        return a if a >= b else b
    return a if a <= b else b


@njit(cache=True, nogil=True, inline="always")
def _nearer(side, a, b):
    """The nearer of two targets for `side` (lower for longs, higher for shorts); NaN = absent."""
    if a != a:
        return b
    if b != b:
        return a
    if side > 0:
        return a if a <= b else b
    return a if a >= b else b


@njit(cache=True, nogil=True)
def _quantile_linear(sorted_x, pos, hi):
    lo = int(np.floor(pos))
    frac = pos - lo
    return sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * frac


@njit(cache=True, nogil=True)
def _lower_tail(daily, n_days, q):
    """(q-quantile with linear interpolation, sum and count of the values <= it) of daily[:n_days].

    Bit-identical to sorting all values and summing the sorted ones <= the quantile, at a fraction of
    the cost: a partition puts the values up to the quantile's upper neighbour first, only those are
    sorted, and any later value <= the quantile equals that neighbour (so the same numbers are added
    in the same order). NaNs, or a later value that is not that neighbour, fall back to the full sort.
    """
    x = daily[:n_days]
    pos = q * (n_days - 1)
    hi = min(int(np.floor(pos)) + 1, n_days - 1)
    neg = np.empty(n_days)
    n_neg = 0
    for d in range(n_days):
        v = x[d]
        if v != v:
            return _tail_sum(np.sort(x), pos, hi)
        neg[n_neg] = v
        n_neg += v < 0
    if n_neg > hi:
        # The hi+1 smallest values are all negative (a trend system is flat, at 0, on most days): the
        # quantile and every value <= it are among the negatives, so only those need ordering.
        x = neg[:n_neg]
    part = np.partition(x, hi)
    part[: hi + 1] = np.sort(part[: hi + 1])
    var = _quantile_linear(part, pos, hi)
    for d in range(hi + 1, x.shape[0]):
        if part[d] <= var and part[d] != part[hi]:
            return _tail_sum(np.sort(x), pos, hi)
    return _tail_sum(part, pos, hi)


@njit(cache=True, nogil=True)
def _tail_sum(srt, pos, hi):
    var = _quantile_linear(srt, pos, hi)
    cs = 0.0
    cn = 0
    for d in range(srt.shape[0]):
        if srt[d] <= var:
            cs += srt[d]
            cn += 1
    return var, cs, cn


# Trade accumulators (the `acc` vector): closed trades, winners, gross profit, gross loss, net pnl sum, sum
# of trade returns, traded notional, the bar of the last losing exit (for the cooldown).
_A_NTR, _A_WINS, _A_GP, _A_GL, _A_PNL, _A_RET, _A_TRADED, _A_LOSS_BAR = range(8)
N_ACC = 8


@njit(cache=True, nogil=True)
def _finalize(m, daily, n_days, initial, nav, basis, mdd, acc, bars_in_pos, n, sum_nav, final_qty, ruin_bar):
    """Fill the metric vector `m` (definitions in `auraquant.cta.backtest.metrics`) from the daily returns
    `daily[:n_days]`, the final NAV, max drawdown, the trade accumulators `acc` (`_A_*`), bars held, bar
    count, NAV sum and final position. `ruin_bar` >= 0 marks a ruined run: its Sharpe (the one definition,
    `auraquant.cta.backtest.sharpe`) and Sortino are capped at 0 (a run that lost everything never scores a
    positive risk-adjusted return, whatever its earlier days did)."""
    nan = np.nan
    ruined = ruin_bar >= 0
    years = n_days / basis
    m[M_TOTAL_RETURN] = nav / initial - 1.0
    if nav > 0 and years > 0:
        m[M_ANN_RETURN] = (nav / initial) ** (1.0 / years) - 1.0
    else:
        m[M_ANN_RETURN] = -1.0
    mean = 0.0
    for d in range(n_days):
        mean += daily[d]
    mean /= n_days
    ss = 0.0
    dn = 0.0
    m3 = 0.0
    m4 = 0.0
    for d in range(n_days):
        x = daily[d] - mean
        ss += x * x
        m3 += x * x * x
        m4 += x * x * x * x
        if daily[d] < 0:
            dn += daily[d] * daily[d]
    std = np.sqrt(ss / (n_days - 1)) if n_days > 1 else nan
    down = np.sqrt(dn / n_days)
    sq = np.sqrt(basis)
    m[M_ANN_VOLATILITY] = std * sq
    m[M_SHARPE] = _sharpe(mean, std, n_days, ruined, sq)
    m[M_SORTINO] = mean / down * sq if down > 0 else nan
    if ruined and m[M_SORTINO] > 0:
        m[M_SORTINO] = 0.0  # the ruin cap, as for the Sharpe (NaN stays NaN)
    m[M_CALMAR] = m[M_ANN_RETURN] / -mdd if mdd < 0 else nan
    m[M_MAX_DRAWDOWN] = mdd
    n_tr = int(acc[_A_NTR])
    m[M_TRADES] = n_tr
    m[M_WIN_RATE] = acc[_A_WINS] / n_tr if n_tr > 0 else nan
    m[M_PROFIT_FACTOR] = acc[_A_GP] / acc[_A_GL] if acc[_A_GL] > 0 else nan
    m[M_EXPECTANCY] = acc[_A_PNL] / n_tr if n_tr > 0 else nan
    m[M_AVG_TRADE_RETURN] = acc[_A_RET] / n_tr if n_tr > 0 else nan
    m[M_EXPOSURE] = bars_in_pos / n
    mean_nav = sum_nav / n
    m[M_TURNOVER] = acc[_A_TRADED] / mean_nav / years if mean_nav > 0 and years > 0 else nan
    var, cs, cn = _lower_tail(daily, n_days, 0.05)
    m[M_VAR_95] = var
    m[M_CVAR_95] = cs / cn
    m[M_DAILY_MEAN] = mean
    m[M_DAILY_STD] = std
    m2 = ss / n_days
    m[M_SKEW] = (m3 / n_days) / m2 ** 1.5 if m2 > 0 else nan
    m[M_KURTOSIS] = (m4 / n_days) / (m2 * m2) if m2 > 0 else nan
    m[M_N_DAYS] = n_days
    m[M_YEARS] = years
    m[M_FINAL_NAV] = nav
    m[M_FINAL_POSITION] = final_qty
    m[M_RUINED] = 1.0 if ruined else 0.0
    m[M_RUIN_BAR] = ruin_bar if ruined else -1.0


# Hot loops index with unsigned integers: numba emits negative-index wraparound code for signed ones
# (measured: ~10% of a sweep).
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)
_BYTE_BIT0 = np.uint64(0x0101010101010101)
_BYTE_BIT1 = np.uint64(0x0202020202020202)


@njit(cache=True, nogil=True, inline="always")
def _book_exit(t, qty, side, fill, comm, e_bar, e_fill, e_fee, reason, acc, record, trades, trade_sink, held_sink, w):
    """Close the position at `fill`: book the trade (appended to the list `trades` when recording);
    return the cash delta. `trades` is never rebound inside the bar loop: rebinding an array there
    makes numba refcount it every iteration (4x slower kernel)."""
    aq = abs(qty)
    notional = aq * fill
    fee = notional * comm
    pnl = qty * (fill - e_fill) - e_fee - fee
    if record:
        trades.append((float(e_bar), float(t), float(side), aq, e_fill, fill, pnl, e_fee + fee, float(reason),
                       aq * e_fill))
    acc[_A_NTR] += 1.0
    acc[_A_TRADED] += notional
    acc[_A_PNL] += pnl
    ret = pnl / (aq * e_fill)
    acc[_A_RET] += ret
    _sink_trade(trade_sink, held_sink, w, pnl, ret, aq * e_fill + notional, e_bar, t)
    if pnl > 0:
        acc[_A_WINS] += 1.0
        acc[_A_GP] += pnl
    elif pnl < 0:
        acc[_A_GL] -= pnl
        acc[_A_LOSS_BAR] = t
    return qty * fill - fee


@njit(cache=True, nogil=True, inline="always")
def _effective_stop(side, sl_lvl, tr_lvl):
    """The binding stop (the tighter of fixed and trailing; a tie is the fixed stop) and its exit reason."""
    if tr_lvl == tr_lvl and (sl_lvl != sl_lvl or (side > 0 and tr_lvl > sl_lvl) or (side < 0 and tr_lvl < sl_lvl)):
        return tr_lvl, EXIT_TRAILING
    return sl_lvl, EXIT_STOP_LOSS


@njit(cache=True, nogil=True, inline="always")
def _pct_trail(side, ht, lt, peak, tr_pct):
    """(best price including a bar with high `ht` and low `lt`, the percent trailing level from it).
    Selects, not branches: whether a bar makes a new best price is unpredictable."""
    if side > 0:
        peak = ht if ht > peak else peak
        return peak, peak * (1.0 - tr_pct)
    peak = lt if lt < peak else peak
    return peak, peak * (1.0 + tr_pct)


@njit(cache=True, nogil=True, inline="always")
def _trail(side, t, ht, lt, peak, tr_lvl, sl_lvl, stop, s_reason, trail_atr, tr_pct, tr_k):
    """Step (c) for a trailing stop: best price including bar t, the tightened trailing level and the
    resulting (peak, trailing level, effective stop, its exit reason)."""
    if tr_k != tr_k:
        # Percent-only trail (tr_pct and the entry's trailing level are numbers).
        peak, lvl = _pct_trail(side, ht, lt, peak, tr_pct)
        if side > 0:
            tr_lvl = tr_lvl if tr_lvl >= lvl else lvl
        else:
            tr_lvl = tr_lvl if tr_lvl <= lvl else lvl
        stop, s_reason = _effective_stop(side, sl_lvl, tr_lvl)
        return peak, tr_lvl, stop, s_reason
    if side > 0:
        if ht > peak:
            peak = ht
    elif lt < peak:
        peak = lt
    lvl = peak * (1.0 - side * tr_pct) if tr_pct == tr_pct else np.nan
    if tr_k == tr_k:
        a = trail_atr[t]
        if a == a:
            lvl = _tighter(side, lvl, peak - side * tr_k * a)
    tr_lvl = _tighter(side, tr_lvl, lvl)
    stop, s_reason = _effective_stop(side, sl_lvl, tr_lvl)
    return peak, tr_lvl, stop, s_reason


@njit(cache=True, nogil=True, inline="always")
def _drawdown(nav, peak_nav, seg_min, mdd):
    """Max drawdown per peak segment: min(nav) / peak - 1 equals the min of nav / peak - 1 over the
    segment (division by a positive constant is monotone, also after rounding) at one division per new
    peak instead of one per bar. Returns the new (peak_nav, seg_min, mdd).

    The segment minimum is a select, not a branch (whether a bar makes a new low is unpredictable); a
    new peak is above the segment's minimum, so taking the min first leaves that minimum unchanged."""
    seg_min = nav if nav < seg_min else seg_min
    if nav > peak_nav:
        dd = seg_min / peak_nav - 1.0
        if dd < mdd:
            mdd = dd
        peak_nav = nav
        seg_min = nav
    return peak_nav, seg_min, mdd


@njit(cache=True, nogil=True, inline="always")
def _entry_levels(px, side, sbar, stop_atr, trail_atr, sl_pct, tp_pct, sl_k, tp_k, tr_pct, tr_k):
    """(stop, target, trailing stop) of a position opened at market price `px`, from signal bar `sbar`."""
    nan = np.nan
    sl_lvl = px * (1.0 - side * sl_pct) if sl_pct == sl_pct else nan
    tp_lvl = px * (1.0 + side * tp_pct) if tp_pct == tp_pct else nan
    a = stop_atr[sbar]
    if a == a:
        if sl_k == sl_k:
            sl_lvl = _tighter(side, sl_lvl, px - side * sl_k * a)
        if tp_k == tp_k:
            tp_lvl = _nearer(side, tp_lvl, px + side * tp_k * a)
    tr_lvl = px * (1.0 - side * tr_pct) if tr_pct == tr_pct else nan
    if tr_k == tr_k:
        a = trail_atr[sbar]
        if a == a:
            tr_lvl = _tighter(side, tr_lvl, px - side * tr_k * a)
    return sl_lvl, tp_lvl, tr_lvl


@njit(cache=True, nogil=True)
def day_ends(day_id):
    """1 at the last bar of each day (and at the last bar), else 0: where a daily return is booked."""
    n = day_id.shape[0]
    out = np.zeros(n, dtype=np.uint8)
    for t in range(n - 1):
        if day_id[t + 1] != day_id[t]:
            out[t] = 1
    if n > 0:
        out[n - 1] = 1
    return out


@njit(cache=True, nogil=True, inline="always")
def _open_position(px, side, size, sbar, cash, slip, comm, acc, stop_atr, trail_atr, sl_pct, tp_pct, sl_k, tp_k,
                   tr_pct, tr_k):
    """Market entry of `side` at `px` for `size` x cash (signal at bar `sbar`): returns (fill price, qty, entry
    fee, cash after the entry, SL level, TP level, trailing level, effective stop, its reason)."""
    e_fill = px * (1.0 + side * slip)
    qty = side * size * cash / e_fill
    e_fee = abs(qty) * e_fill * comm
    cash -= qty * e_fill + e_fee
    acc[_A_TRADED] += abs(qty) * e_fill
    sl_lvl, tp_lvl, tr_lvl = _entry_levels(px, side, sbar, stop_atr, trail_atr, sl_pct, tp_pct, sl_k, tp_k,
                                           tr_pct, tr_k)
    stop, s_reason = _effective_stop(side, sl_lvl, tr_lvl)
    return e_fill, qty, e_fee, cash, sl_lvl, tp_lvl, tr_lvl, stop, s_reason


# ---- step functions of one bar (inlined into `_simulate`; each states which part of rule 3 it is) --------------

@njit(cache=True, nogil=True, inline="always")
def _scan_masks(sides):
    """(act_a, act_b) of the idle scan: a uint64 word of eight int8 candidates (little-endian bytes 0x00,
    0x01, 0xFF) holds a candidate that acts while flat iff (w & act_a) & ~((w >> 1) & act_b) != 0, i.e. any
    nonzero byte (both sides), a 0x01 byte (long only: bit 0 set, bit 1 clear), a 0xFF byte (short only)."""
    if sides == 0:
        return _ALL_BITS, _U0
    if sides > 0:
        return _BYTE_BIT0, _BYTE_BIT0
    return _BYTE_BIT1, _U0


@njit(cache=True, nogil=True, inline="always")
def _quiet_held_limit(t_stop):
    """Quiet bars may run while held + 1 < t_stop (the time stop is due once held >= t_stop), i.e. while
    held < ceil(t_stop) - 1: the integer bound of that compare (no time stop: never reached)."""
    if t_stop != t_stop or t_stop > 4e18:
        return np.int64(2**62)
    if t_stop <= 1.0:
        return np.int64(0)
    return np.int64(np.ceil(t_stop)) - 1


@njit(cache=True, nogil=True, error_model="numpy")
def _idle_run_end(t, n, sig, sig_words, n_words8, act_a, act_b, off_side):
    """The last bar u >= t of the run of idle flat bars starting at t (no candidate that acts while flat),
    found by scanning the candidates alone, eight per word where aligned."""
    u = t
    while u + 1 < n:
        v = u + 1
        if (v & 7) == 0 and v < n_words8:
            w = sig_words[np.uint64(v >> 3)]
            if (w & act_a) & ~((w >> _U1) & act_b) == _U0:
                u += 8  # eight idle candidates at once
                continue
        s_next = sig[np.uint64(v)]
        if s_next != 0 and s_next != off_side:
            break
        u += 1
    return u


@njit(cache=True, nogil=True, error_model="numpy")
def _book_idle_run(t, u, cash, sum_nav, day_nav, day_id, day_end, daily, record, equity, position, nav_sink, w):
    """Bookkeeping of flat bars t..u at once: NAV = cash on each (no new peak or drawdown), the NAV sum as
    cash x length, each day one by one (a day's last bar in t..u-1 closes that day; u closes its own day
    if it is a day end). Returns (sum_nav, day_nav)."""
    sum_nav += cash * (u - t + 1)
    d_last = day_id[u]
    for d in range(day_id[t], d_last):
        daily[d] = cash / day_nav - 1.0
        day_nav = cash
    if day_end[u]:
        daily[d_last] = cash / day_nav - 1.0
        day_nav = cash
    if record:
        equity[t:u + 1] = cash
        position[t:u + 1] = 0.0
    _sink_run(nav_sink, w, t, u, cash)
    return sum_nav, day_nav


@njit(cache=True, nogil=True, error_model="numpy")
def _mark(i, nav, qty, in_pos, ledger, day_id, day_end, daily, record, equity, position):
    """Bookkeeping at the close of bar i (NAV `nav`, position `qty`): NAV sum, exposure, drawdown, the day's
    return if i ends a day, and the recorded marks. `ledger` = (sum_nav, bars_in_pos, peak_nav, seg_min,
    mdd, day_nav), returned updated. (Arrays are passed one by one: unpacking them from a tuple inside the
    bar loop makes numba reference-count them on every bar, several times slower.)"""
    sum_nav, bars_in_pos, peak_nav, seg_min, mdd, day_nav = ledger
    sum_nav += nav
    if in_pos:
        bars_in_pos += 1
    peak_nav, seg_min, mdd = _drawdown(nav, peak_nav, seg_min, mdd)
    if day_end[i]:
        daily[day_id[i]] = nav / day_nav - 1.0
        day_nav = nav
    if record:
        equity[i] = nav
        position[i] = qty
    return sum_nav, bars_in_pos, peak_nav, seg_min, mdd, day_nav


@njit(cache=True, nogil=True, error_model="numpy")
def _quiet_run(t, n, h, lo, c, sig, side, cash, qty, stop, tp_lvl, s_reason, sl_lvl, tr_lvl, peak, held,
               quiet_held_max, trailing, trail_atr, ledger, day_id, day_end, daily, record, equity, position,
               nav_sink, w):
    """Run of quiet bars in a position from bar t: nothing pending, no candidate that acts, no breaker, and
    (checked per bar) no stop or target touched, no time stop due, no ruin at the close. Such a bar is only
    step (c) plus the mark to market. Stops at the first bar that is not quiet, which is left unconsumed
    for the full state machine, or after a quiet bar followed by an acting candidate.

    Returns (t, consumed, held, peak, tr_lvl, stop, s_reason, ledger): `consumed` says bar t went through the run (the caller moves on to t + 1). `trailing` =
    (simple_trail, has_trail, trail_pct, trail_atr multiple) of `_simulate`."""
    simple_trail, has_trail, tr_pct, tr_k = trailing
    consumed = False
    while True:
        ut = np.uint64(t)
        ht = h[ut]
        lt = lo[ut]
        # low <= open <= high (a `Bars` invariant): a gap through a level is also a touch.
        if side > 0:
            if lt <= stop or ht >= tp_lvl:
                break
        elif ht >= stop or lt <= tp_lvl:
            break
        if held >= quiet_held_max:
            break
        if cash + qty * c[ut] <= 0.0:
            break  # ruin at this close: the full machine liquidates
        held += 1
        if simple_trail:
            # The trailing level as a pure function of the best price (see `simple_trail` in `_simulate`).
            peak, stop = _pct_trail(side, ht, lt, peak, tr_pct)
            tr_lvl = stop
        elif has_trail:
            peak, tr_lvl, stop, s_reason = _trail(side, ut, ht, lt, peak, tr_lvl, sl_lvl, stop, s_reason,
                                                  trail_atr, tr_pct, tr_k)
        nav = cash + qty * c[ut]
        ledger = _mark(ut, nav, qty, True, ledger, day_id, day_end, daily, record, equity, position)
        _sink_mark(nav_sink, w, ut, nav)
        consumed = True
        if t + 1 == n:
            break
        s_next = sig[ut + _U1]
        if s_next != 0 and s_next != side:
            break
        consumed = False
        t += 1
    return t, consumed, held, peak, tr_lvl, stop, s_reason, ledger


@njit(cache=True, nogil=True, inline="always")
def _settle(t, cash, ruin_bar):
    """The ruin checkpoint right after an exit fill (the account is flat, NAV = cash): cash <= 0 closes the
    account at 0, ruined at bar t. Returns (cash, ruin_bar)."""
    if cash <= 0.0:
        return 0.0, t
    return cash, ruin_bar


@njit(cache=True, nogil=True, inline="always")
def _intrabar_exit(side, ot, ht, lt, ct, stop, tp_lvl, s_reason, policy):
    """Step (b): (exit price before slippage, exit reason; 0 = none) of a `side` position whose effective
    stop is `stop` (reason `s_reason`) and target `tp_lvl` in a bar (ot, ht, lt, ct). A level the open is
    through fills at the open (gap rule); both touched inside the bar -> `policy` (rule 5). Comparisons
    with a NaN level are False: no level."""
    if side > 0:
        if ot <= stop:
            return ot, s_reason
        if ot >= tp_lvl:
            return ot, EXIT_TAKE_PROFIT
        sl_hit = lt <= stop
        tp_hit = ht >= tp_lvl
        if sl_hit and tp_hit and policy != POLICY_STOP_FIRST:
            # high leg first -> the long's target first
            if policy == POLICY_OHLC_PATH:
                up = ht - ot
                dnm = ot - lt
                if up != dnm:
                    sl_hit = not (up < dnm)
            elif policy == POLICY_CANDLE_COLOR:
                sl_hit = not (ct < ot)
    else:
        if ot >= stop:
            return ot, s_reason
        if ot <= tp_lvl:
            return ot, EXIT_TAKE_PROFIT
        sl_hit = ht >= stop
        tp_hit = lt <= tp_lvl
        if sl_hit and tp_hit and policy != POLICY_STOP_FIRST:
            # high leg first -> the short's stop first
            if policy == POLICY_OHLC_PATH:
                up = ht - ot
                dnm = ot - lt
                if up != dnm:
                    sl_hit = up < dnm
            elif policy == POLICY_CANDLE_COLOR:
                sl_hit = ct < ot
    if sl_hit:
        return stop, s_reason
    if tp_hit:
        return tp_lvl, EXIT_TAKE_PROFIT
    return np.nan, 0


@njit(cache=True, nogil=True, inline="always")
def _breaker(t, nav_c, halt_end, b_peak, dd_max, dd_halt):
    """Drawdown breaker state at the close of bar t (mark-to-market NAV `nav_c`, before any close fill):
    a finished halt resets the peak to this NAV; NAV <= peak (1 - dd_max) halts entries for `dd_halt`
    bars. Returns (halt_end; -1 = not halted, b_peak)."""
    if halt_end >= 0 and t >= halt_end:
        halt_end = -1
        b_peak = nav_c
    if nav_c > b_peak:
        b_peak = nav_c
    if halt_end < 0 and nav_c <= b_peak * (1.0 - dd_max):
        halt_end = t + dd_halt
    return halt_end, b_peak


@njit(cache=True, nogil=True, inline="always")
def _exit_decision(cand, side, held, t_stop):
    """Exit reason decided at a close for a `side` position (0 = none): an opposite candidate (signal)
    wins over a due time stop (held >= t_stop; NaN = none)."""
    if side != 0:
        if cand == -side:
            return EXIT_SIGNAL
        if t_stop == t_stop and held >= t_stop:
            return EXIT_TIME
    return 0


@njit(cache=True, nogil=True, inline="always")
def _risk(t, nav_c, last_loss_bar, cooldown, halt_end, fraction, tvol, vol_t, lev_cap):
    """The risk layer (rule 7) on an entry that passed the filters: (risk code, size as a multiple of NAV;
    NaN unless approved). In order: NAV <= 0, cooldown after a losing exit, breaker halt, size = fraction
    or target vol / realized vol (undefined -> reject), capped at the leverage cap, size <= 0."""
    if nav_c <= 0:
        return RISK_NAV, np.nan
    if t - last_loss_bar < cooldown:
        return RISK_COOLDOWN, np.nan
    if halt_end >= 0:
        return RISK_DD_HALT, np.nan
    if fraction == fraction:
        sz = fraction
    else:
        sz = tvol / vol_t if vol_t == vol_t and vol_t > 0 else np.nan
    if sz != sz:
        return RISK_NO_VOL, np.nan
    if lev_cap == lev_cap and sz > lev_cap:
        sz = lev_cap
    if sz > 0:
        return RISK_APPROVED, sz
    return RISK_ZERO_SIZE, np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _close_ruined(t, nav, day_nav, n_days, day_id, day_end, daily, record, equity, position):
    """After ruin at bar t: NAV is 0 from its close on, nothing trades. Its day (if t does not end it)
    returns -1 at that day's end; later days return 0 (no capital is left to gain or lose)."""
    d_ruin = day_id[t]
    if not day_end[t]:
        daily[d_ruin] = nav / day_nav - 1.0
    for d in range(d_ruin + 1, n_days):
        daily[d] = 0.0
    if record:
        equity[t + 1:] = 0.0
        position[t + 1:] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _trades_array(trades):
    out = np.empty((len(trades), N_TRADE_FIELDS))
    for i in range(len(trades)):
        for j in range(N_TRADE_FIELDS):
            out[i, j] = trades[i][j]
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def simulate(o, h, lo, c, day_id, n_days, sig, allow, stop_atr, trail_atr, vol, fp, fill_mode, policy, sides,
             comm, slip, initial, basis, record):
    """Run one parameter set; returns (metrics, equity, position, filter_code, risk_code, size, trades)."""
    return _simulate(o, h, lo, c, day_id, day_ends(day_id), n_days, sig, allow, stop_atr, trail_atr, vol, fp,
                     fill_mode, policy, sides, comm, slip, initial, basis, record, None, None, None, 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _simulate(o, h, lo, c, day_id, day_end, n_days, sig, allow, stop_atr, trail_atr, vol, fp, fill_mode, policy,
              sides, comm, slip, initial, basis, record, nav_sink, held_sink, trade_sink, w):
    """The bar loop: per bar either a shortcut run (idle flat bars, quiet bars in a position) or the full
    state machine (a) pending fills, (b) intrabar exits, (c) trailing state, ruin and breaker at the
    close, (d) decision and risk, then the bookkeeping; finally the metric vector. The sinks (None, or a
    portfolio member's accumulators: see `_sink_mark`) receive w x NAV per bar and the w-scaled trades."""
    n = c.shape[0]
    nan = np.nan
    sl_pct = fp[F_SL_PCT]
    tp_pct = fp[F_TP_PCT]
    sl_k = fp[F_SL_ATR]
    tp_k = fp[F_TP_ATR]
    tr_pct = fp[F_TRAIL_PCT]
    tr_k = fp[F_TRAIL_ATR]
    t_stop = fp[F_TIME_STOP]
    fraction = fp[F_FRACTION]
    tvol = fp[F_TARGET_VOL]
    lev_cap = fp[F_LEV_CAP]
    dd_max = fp[F_DD_MAX]
    dd_on = dd_max == dd_max
    dd_halt = int(fp[F_DD_HALT]) if dd_on else 0
    cooldown = fp[F_COOLDOWN]
    has_trail = tr_pct == tr_pct or tr_k == tr_k
    # A percent trail with 0 < pct < 1 and no fixed stop: the level peak * (1 -/+ pct) never loosens as
    # the best price improves (rounding is monotone), so the running max of levels that `_trail` keeps
    # is the latest level itself (the entry sets level and best price from the same fill), and it is
    # the effective stop (reason: trailing, set at entry). The quiet-bar loop uses that shortcut.
    simple_trail = tr_k != tr_k and 0.0 < tr_pct < 1.0 and sl_pct != sl_pct and sl_k != sl_k
    off_side = -sides  # with one side enabled, the other side's candidates never act while flat (0: none)
    n_words8 = n - n % 8
    sig_words = sig[:n_words8].view(np.uint64)
    act_a, act_b = _scan_masks(sides)
    next_open = fill_mode == FILL_NEXT_OPEN
    quiet_held_max = _quiet_held_limit(t_stop)

    nr = n if record else 1
    equity = np.empty(nr)
    position = np.empty(nr)
    fcode = np.full(nr, -1, dtype=np.int8)
    rcode = np.full(nr, -1, dtype=np.int8)
    size_rec = np.full(nr, nan)
    trades = [(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0) for _ in range(0)]
    daily = np.empty(n_days)
    metrics = np.empty(N_METRICS)
    acc = np.zeros(N_ACC)
    acc[_A_LOSS_BAR] = -1e18
    trailing = (simple_trail, has_trail, tr_pct, tr_k)

    # position state
    cash = initial
    qty = 0.0
    side = 0
    e_fill = 0.0
    e_bar = -1
    e_fee = 0.0
    sl_lvl = nan
    tp_lvl = nan
    tr_lvl = nan
    stop = nan
    s_reason = EXIT_STOP_LOSS
    peak = nan
    held = 0
    # orders decided at the previous close (next_open)
    pend_exit = 0
    pend_dir = 0
    pend_size = 0.0
    pend_bar = -1
    # bookkeeping
    sum_nav = 0.0
    bars_in_pos = 0
    peak_nav = initial
    seg_min = initial
    mdd = 0.0
    day_nav = initial
    b_peak = initial
    halt_end = -1
    ruin_bar = -1

    t = -1
    while t < n - 1:
        t += 1
        if side == 0 and pend_exit == 0 and pend_dir == 0 and (sig[t] == 0 or sig[t] == off_side) and not dd_on:
            # Shortcut: a run of idle flat bars (nothing to fill, nothing to decide). Keeps the ~70% of bars
            # a trend system spends flat nearly free.
            u = _idle_run_end(t, n, sig, sig_words, n_words8, act_a, act_b, off_side)
            sum_nav, day_nav = _book_idle_run(t, u, cash, sum_nav, day_nav, day_id, day_end, daily, record, equity,
                                              position, nav_sink, w)
            t = u
            continue
        if side != 0 and pend_exit == 0 and pend_dir == 0 and (sig[t] == 0 or sig[t] == side) and not dd_on:
            # Shortcut: a run of quiet bars in a position (fewer live values keep the run in registers).
            t, consumed, held, peak, tr_lvl, stop, s_reason, ledger = _quiet_run(
                t, n, h, lo, c, sig, side, cash, qty, stop, tp_lvl, s_reason, sl_lvl, tr_lvl, peak, held, quiet_held_max,
                trailing, trail_atr, (sum_nav, bars_in_pos, peak_nav, seg_min, mdd, day_nav), day_id, day_end, daily,
                record, equity, position, nav_sink, w)
            sum_nav, bars_in_pos, peak_nav, seg_min, mdd, day_nav = ledger
            if consumed:
                continue
        ot = o[t]
        ct = c[t]

        # ---- (a) next_open: market orders decided at the previous close fill at this open
        if pend_exit != 0 or pend_dir != 0:
            # Exit first, then the entry (a reversal is both, at the same open).
            if pend_exit != 0 and side != 0:
                cash, ruin_bar = _settle(t, cash + _book_exit(t, qty, side, ot * (1.0 - side * slip), comm, e_bar,
                                                              e_fill, e_fee, pend_exit, acc, record, trades, trade_sink,
                                                              held_sink, w), ruin_bar)
                qty = 0.0
                side = 0
            if pend_dir != 0 and side == 0 and cash > 0:
                side = pend_dir
                e_fill, qty, e_fee, cash, sl_lvl, tp_lvl, tr_lvl, stop, s_reason = _open_position(
                    ot, side, pend_size, pend_bar, cash, slip, comm, acc, stop_atr, trail_atr, sl_pct, tp_pct,
                    sl_k, tp_k, tr_pct, tr_k)
                e_bar = t
                held = 0
                peak = ot
            pend_exit = 0
            pend_dir = 0

        if side != 0:
            ht = h[t]
            lt = lo[t]
            # ---- (b) stops and targets inside this bar
            x_px, x_reason = _intrabar_exit(side, ot, ht, lt, ct, stop, tp_lvl, s_reason, policy)
            if x_reason != 0:
                fill = x_px if x_reason == EXIT_TAKE_PROFIT else x_px * (1.0 - side * slip)
                cash, ruin_bar = _settle(t, cash + _book_exit(t, qty, side, fill, comm, e_bar, e_fill, e_fee, x_reason,
                                                              acc, record, trades, trade_sink, held_sink, w), ruin_bar)
                qty = 0.0
                side = 0
            else:
                # ---- (c) the position lived through the bar: trailing state at the close
                held += 1
                if has_trail:
                    peak, tr_lvl, stop, s_reason = _trail(side, t, ht, lt, peak, tr_lvl, sl_lvl, stop, s_reason,
                                                          trail_atr, tr_pct, tr_k)

        nav_c = cash + qty * ct
        if nav_c <= 0.0 and side != 0:
            # ---- ruin at the close: liquidate at the close (a market order: slippage and commission)
            # The booked trade carries the full loss; the account is closed at 0 (losses beyond the
            # capital are not carried: NAV stays 0, total return -100%).
            _book_exit(t, qty, side, ct * (1.0 - side * slip), comm, e_bar, e_fill, e_fee, EXIT_RUIN, acc, record,
                       trades, trade_sink, held_sink, w)
            qty = 0.0
            side = 0
            cash = 0.0
            nav_c = 0.0
            ruin_bar = t
        if dd_on:
            halt_end, b_peak = _breaker(t, nav_c, halt_end, b_peak, dd_max, dd_halt)

        # ---- (d) the decision at the close of bar t: exit, then an entry through filters and risk
        cand = np.int64(sig[t])
        x_reason = _exit_decision(cand, side, held, t_stop)
        e_dir = 0
        e_size = 0.0
        if cand != 0 and cand != side and (sides == 0 or sides == cand) and ruin_bar < 0:
            passed = (allow[t] & (ALLOW_LONG if cand > 0 else ALLOW_SHORT)) != 0
            rc = -1
            if passed:
                rc, sz = _risk(t, nav_c, acc[_A_LOSS_BAR], cooldown, halt_end, fraction, tvol, vol[t], lev_cap)
                if rc == RISK_APPROVED:
                    e_dir = cand
                    e_size = sz
            if record:
                fcode[t] = 1 if passed else 0
                rcode[t] = rc
                if rc == RISK_APPROVED:
                    size_rec[t] = e_size
        if next_open:
            pend_exit = x_reason
            pend_dir = e_dir
            pend_size = e_size
            pend_bar = t
        else:
            # ---- same_close: the decision fills at this close
            if x_reason != 0:
                cash, ruin_bar = _settle(t, cash + _book_exit(t, qty, side, ct * (1.0 - side * slip), comm, e_bar,
                                                              e_fill, e_fee, x_reason, acc, record, trades, trade_sink,
                                                              held_sink, w), ruin_bar)
                qty = 0.0
                side = 0
            if e_dir != 0 and side == 0 and cash > 0:
                side = e_dir
                e_fill, qty, e_fee, cash, sl_lvl, tp_lvl, tr_lvl, stop, s_reason = _open_position(
                    ct, side, e_size, t, cash, slip, comm, acc, stop_atr, trail_atr, sl_pct, tp_pct, sl_k, tp_k,
                    tr_pct, tr_k)
                e_bar = t
                held = 0
                peak = ct

        # ---- end of bar t: mark to market
        nav = cash + qty * ct
        sum_nav, bars_in_pos, peak_nav, seg_min, mdd, day_nav = _mark(
            t, nav, qty, side != 0, (sum_nav, bars_in_pos, peak_nav, seg_min, mdd, day_nav), day_id, day_end, daily,
            record, equity, position)
        _sink_mark(nav_sink, w, t, nav)
        if ruin_bar >= 0:
            break

    if ruin_bar >= 0:
        _close_ruined(t, nav, day_nav, n_days, day_id, day_end, daily, record, equity, position)
    _sink_open(held_sink, e_bar, n, qty)
    dd = seg_min / peak_nav - 1.0
    if dd < mdd:
        mdd = dd
    _finalize(metrics, daily, n_days, initial, cash + qty * c[n - 1], basis, mdd, acc, bars_in_pos, n, sum_nav, qty,
              ruin_bar)
    return metrics, equity, position, fcode, rcode, size_rec, _trades_array(trades)


@njit(cache=True, nogil=True, parallel=True)
def sweep(o, h, lo, c, day_id, n_days, sig_pool, allow_pool, series_pool, iparams, fparams, fill_mode, policy,
          sides, comm, slip, initial, basis):
    """Metrics (n_sets x N_METRICS) of many parameter sets, parallel over sets; each set is independent,
    so the result does not depend on the thread count."""
    n_sets = iparams.shape[0]
    out = np.empty((n_sets, N_METRICS))
    day_end = day_ends(day_id)
    for k in prange(n_sets):
        res = _simulate(o, h, lo, c, day_id, day_end, n_days, sig_pool[iparams[k, I_SIG]],
                        allow_pool[iparams[k, I_ALLOW]], series_pool[iparams[k, I_STOP_ATR]],
                        series_pool[iparams[k, I_TRAIL_ATR]], series_pool[iparams[k, I_VOL]], fparams[k],
                        fill_mode, policy, sides, comm, slip, initial, basis, False, None, None, None, 0.0)
        out[k, :] = res[0]
    return out
