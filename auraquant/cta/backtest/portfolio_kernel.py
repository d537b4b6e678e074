"""The compiled portfolio kernel (numba): one Spec on every member of a universe, combined into one NAV.

Private module: call it through `auraquant.cta.backtest.portfolio`. Semantics (stated there in full):
each member runs the single-instrument kernel (`kernel.simulate`) on its own bars only, with its own
costs and initial capital C; its NAV curve E_i is marked on the common calendar (C before its first bar,
its last NAV after its last bar). The portfolio holds u_i units of each member's curve plus cash K:
P(t) = K + sum_i u_i E_i(t). Units change only at rebalance bars (and when the gross exposure cap binds),
at a cost of |delta u_i| x X_i(t) x (commission_i + slippage_i), X_i the member's position notional.

Inputs are flat arrays: the members' bars concatenated (`offs[i]:offs[i+1]`), their module outputs as
pools of rows (row r of member i starts at `*_start[*_base[i] + r]` and has that member's length).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.layout import (
    I_ALLOW,
    I_SIG,
    I_STOP_ATR,
    I_TRAIL_ATR,
    I_VOL,
    M_FINAL_NAV,
    M_FINAL_POSITION,
    N_METRICS,
    N_SINK_STATS,
    S_GROSS_LOSS,
    S_GROSS_PROFIT,
    S_OPEN,
    S_PNL,
    S_RET,
    S_TRADED,
    S_TRADES,
    S_WINS,
    T_EXIT_BAR,
    T_EXIT_PRICE,
    T_NOTIONAL,
    T_PNL,
    T_QTY,
)

# Portfolio per-bar outputs when recording: NAV, cash, gross exposure (columns of `pbar`).
P_NAV, P_CASH, P_GROSS = 0, 1, 2
N_PBAR = 3
# Per-member per-bar outputs when recording (third axis of `mbar`): units, sleeve value u*E, cumulative
# contribution to portfolio P&L (sleeve moves minus its rebalance costs), the member's own NAV E (marked
# at its last close) and position notional X.
MB_UNITS, MB_VALUE, MB_CONTRIB, MB_NAV, MB_NOTIONAL = 0, 1, 2, 3, 4
N_MBAR = 5


@njit(cache=True, nogil=True)
def _member(i, k, o, h, lo, c, day_id, day_end, offs, n_days, sig_flat, sig_start, sig_base, allow_flat, allow_start,
            allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy, sides, comm, slip, initial,
            basis, record, nav_sink, held_sink, trade_sink, w):
    """`kernel._simulate` of parameter set k on member i: recording its equity and position (`record`; no
    sinks), or adding w x its NAV per bar, its held bars and its w-scaled trades into the sinks (one slot per
    member bar; None: no sinks). Each branch passes `record` as a constant: the kernel is then compiled for that
    literal value, its recording code compiled out of the sink runs (a runtime flag cost the fixed-sizing sweep
    about 15%)."""
    a = offs[i]
    b = offs[i + 1]
    n = b - a
    ip = iparams[i, k]
    s0 = sig_start[sig_base[i] + ip[I_SIG]]
    a0 = allow_start[allow_base[i] + ip[I_ALLOW]]
    st0 = ser_start[ser_base[i] + ip[I_STOP_ATR]]
    tr0 = ser_start[ser_base[i] + ip[I_TRAIL_ATR]]
    v0 = ser_start[ser_base[i] + ip[I_VOL]]
    bo, bh, bl, bc, bd, be = o[a:b], h[a:b], lo[a:b], c[a:b], day_id[a:b], day_end[a:b]
    sig, allow, stop_atr = sig_flat[s0:s0 + n], allow_flat[a0:a0 + n], ser_flat[st0:st0 + n]
    trail_atr, vol, fp = ser_flat[tr0:tr0 + n], ser_flat[v0:v0 + n], fparams[i, k]
    if record:
        return kernel._simulate(bo, bh, bl, bc, bd, be, n_days[i], sig, allow, stop_atr, trail_atr, vol, fp, fill_mode,
                                policy, sides, comm[i], slip[i], initial, basis, True, None, None, None, 0.0)
    return kernel._simulate(bo, bh, bl, bc, bd, be, n_days[i], sig, allow, stop_atr, trail_atr, vol, fp, fill_mode,
                            policy, sides, comm[i], slip[i], initial, basis, False, nav_sink, held_sink, trade_sink, w)


@njit(cache=True, nogil=True)
def _finish_metrics(m, daily, n_days, initial, nav, basis, mdd, n_tr, wins, gp, gl, s_pnl, s_ret, bars_in_pos, n,
                    traded, sum_nav, final_qty, ruin_bar):
    """The engine's metric vector (`kernel._finalize`) from the portfolio's pooled trade statistics."""
    acc = np.zeros(8)
    acc[kernel._A_NTR] = n_tr
    acc[kernel._A_WINS] = wins
    acc[kernel._A_GP] = gp
    acc[kernel._A_GL] = gl
    acc[kernel._A_PNL] = s_pnl
    acc[kernel._A_RET] = s_ret
    acc[kernel._A_TRADED] = traded
    acc[kernel._A_LOSS_BAR] = -1e18
    kernel._finalize(m, daily, n_days, initial, nav, basis, mdd, acc, bars_in_pos, n, sum_nav, final_qty, ruin_bar)


@njit(cache=True, nogil=True)
def _path_start(capital, n_cal_days):
    """The portfolio path's ledger before its first bar: (daily returns, day-start NAV, peak NAV, segment
    minimum, max drawdown, NAV sum, ruin bar, bars in a position)."""
    return np.empty(n_cal_days), capital, capital, capital, 0.0, 0.0, -1, 0


@njit(cache=True, nogil=True, inline="always")
def _close_bar(t, nav, in_pos_t, ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd):
    """The portfolio NAV at bar t's close, booked: ruin (NAV <= 0 ends the path at 0 from then on), the NAV
    sum, bars in a position and the drawdown (the engine kernel's own rule); the caller books the day's
    return at a day end (`_day_return`). Scalars only: an array argument of an inlined helper is reference-
    counted on every bar (measured: the fixed-sizing sweep's path judging 6x slower). Returns the updated
    (nav, ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd)."""
    if ruin_bar >= 0:
        nav = 0.0
    elif nav <= 0.0:
        nav = 0.0
        ruin_bar = t
    sum_nav += nav
    if in_pos_t:
        bars_in_pos += 1
    peak_nav, seg_min, mdd = kernel._drawdown(nav, peak_nav, seg_min, mdd)
    return nav, ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd


@njit(cache=True, nogil=True, inline="always")
def _day_return(nav, day_nav):
    """The return of a day that closes at NAV `nav` after closing the previous one at `day_nav`."""
    return nav / day_nav - 1.0 if day_nav > 0.0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def _end_path(seg_min, peak_nav, mdd, ruin_bar, cal_day_id, n_cal_days, daily):
    """Close the path: the last peak segment's drawdown, and no daily return after the day of ruin.
    Returns the final max drawdown."""
    dd = seg_min / peak_nav - 1.0
    if dd < mdd:
        mdd = dd
    if ruin_bar >= 0:
        for d in range(cal_day_id[ruin_bar] + 1, n_cal_days):
            daily[d] = 0.0
    return mdd


@njit(cache=True, nogil=True)
def _rolling_std(buf, count, size):
    """Sample std (ddof=1) of the last min(count, size) values of ring buffer `buf` (two-pass)."""
    m = count if count < size else size
    if m < 2:
        return np.nan
    s = 0.0
    for j in range(m):
        s += buf[j]
    mean = s / m
    ss = 0.0
    for j in range(m):
        x = buf[j] - mean
        ss += x * x
    return np.sqrt(ss / (m - 1))


@njit(cache=True, nogil=True, error_model="numpy")
def run_set(k, o, h, lo, c, day_id, day_end, offs, n_days, cal_ix, sig_flat, sig_start, sig_base, allow_flat, allow_start,
            allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy, sides, comm, slip, initial,
            basis, n_cal, cal_day_id, cal_day_end, n_cal_days, static_w, base_w, reb, dynamic, target_vol, tv_len,
            bars_per_year, gross_cap, record):
    """Parameter set k on every member, combined. Returns (portfolio metrics, member metrics (n_mem x
    N_METRICS), pbar (n_cal x N_PBAR or 1 x N_PBAR), mbar (n_cal x n_mem x N_MBAR or 1 x 1 x N_MBAR),
    member trades (list of the members' own trade arrays when recording), per-trade units held at the exit
    (list of arrays: the factor from a member's pnl to portfolio currency))."""
    n_mem = offs.shape[0] - 1
    nan = np.nan
    m_metrics = np.empty((n_mem, N_METRICS))
    nr = n_cal if record else 1
    pbar = np.zeros((nr, N_PBAR))
    mbar = np.zeros((nr, n_mem if record else 1, N_MBAR))
    trades_out = []
    scales_out = []
    # Member curves on the calendar: E (NAV, forward-filled; C before listing) and X (position notional
    # at the last close seen; 0 before listing). Only the dynamic path needs them as matrices.
    nav_sum = np.zeros(n_cal)
    in_pos = np.zeros(n_cal, dtype=np.uint8)
    mat = dynamic or record
    E = np.empty((n_cal if mat else 1, n_mem))
    X = np.zeros((n_cal if mat else 1, n_mem))
    A = np.zeros((n_cal if mat else 1, n_mem), dtype=np.uint8)
    mem_trades = []
    for i in range(n_mem):
        res = _member(i, k, o, h, lo, c, day_id, day_end, offs, n_days, sig_flat, sig_start, sig_base, allow_flat,
                      allow_start, allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy,
                      sides, comm, slip, initial, basis, True, None, None, None, 0.0)
        m_metrics[i, :] = res[0]
        eq = res[1]
        pos = res[2]
        mem_trades.append(res[6])
        a = offs[i]
        ix = cal_ix[a:offs[i + 1]]
        nb = ix.shape[0]
        w = static_w[i]
        t = 0
        last_e = initial
        last_x = 0.0
        held = False
        for j in range(nb):
            tj = ix[j]
            # bars of the calendar the member does not have: its last mark carries over
            while t < tj:
                if mat:
                    E[t, i] = last_e
                    X[t, i] = last_x
                if not dynamic:
                    nav_sum[t] += w * last_e
                if held:
                    in_pos[t] = 1
                t += 1
            last_e = eq[j]
            last_x = abs(pos[j] * c[a + j])
            held = pos[j] != 0.0
            if mat:
                E[t, i] = last_e
                X[t, i] = last_x
                A[t, i] = 1
            if not dynamic:
                nav_sum[t] += w * last_e
            if held:
                in_pos[t] = 1
            t += 1
        while t < n_cal:  # after the member's last bar: delisted, its sleeve is closed or frozen (no exposure)
            if mat:
                E[t, i] = last_e
                X[t, i] = last_x
            if not dynamic:
                nav_sum[t] += w * last_e
            t += 1

    capital = initial
    daily, day_nav, peak_nav, seg_min, mdd, sum_nav, ruin_bar, bars_in_pos = _path_start(capital, n_cal_days)
    traded = 0.0
    units = static_w.copy()
    units_at = np.empty((n_cal if dynamic else 1, n_mem))
    cash = capital
    for i in range(n_mem):
        cash -= static_w[i] * initial
    contrib = np.zeros(n_mem)
    rb_buf = np.zeros(max(tv_len, 1))
    rb_count = 0
    nav = capital
    for t in range(n_cal):
        if dynamic:
            nav = cash
            for i in range(n_mem):
                nav += units[i] * E[t, i]
            if t > 0:
                # base basket bar return (the vol target's estimator) and each member's P&L contribution
                rb = 0.0
                for i in range(n_mem):
                    e0 = E[t - 1, i]
                    e1 = E[t, i]
                    contrib[i] += units[i] * (e1 - e0)
                    if e0 > 0.0:
                        rb += base_w[t - 1, i] * (e1 / e0 - 1.0)
                rb_buf[rb_count % rb_buf.shape[0]] = rb
                rb_count += 1
            for i in range(n_mem):
                units_at[t, i] = units[i]
            if nav > 0.0 and ruin_bar < 0:
                # Only members with a bar at t trade (a missing bar is never a price to trade at): the
                # others keep their units and their exposure counts against the cap as it stands.
                cost = 0.0
                if reb[t]:
                    s = 1.0
                    if target_vol == target_vol:
                        sd = _rolling_std(rb_buf, rb_count, tv_len) if rb_count >= tv_len else nan
                        s = target_vol / (sd * np.sqrt(bars_per_year)) if sd == sd and sd > 0.0 else 0.0
                    tgt = 0.0  # gross exposure / NAV of the available members' targets per unit of s
                    frozen = 0.0  # gross notional of members without a bar at t
                    for i in range(n_mem):
                        if A[t, i]:
                            if E[t, i] > 0.0:
                                tgt += base_w[t, i] * X[t, i] / E[t, i]
                        else:
                            frozen += units[i] * X[t, i]
                    f = s
                    if gross_cap == gross_cap and (s * tgt * nav + frozen > gross_cap * nav):
                        room = gross_cap * nav - frozen
                        f = room / (tgt * nav) if room > 0.0 else 0.0
                    for i in range(n_mem):
                        if not A[t, i]:
                            continue
                        e = E[t, i]
                        u_new = base_w[t, i] * f * nav / e if e > 0.0 else 0.0
                        d = abs(u_new - units[i]) * X[t, i]
                        ci = d * (comm[i] + slip[i])
                        traded += d
                        cost += ci
                        contrib[i] -= ci
                        units[i] = u_new
                elif gross_cap == gross_cap:
                    gross_now = 0.0
                    g_av = 0.0
                    for i in range(n_mem):
                        g = units[i] * X[t, i]
                        gross_now += g
                        if A[t, i]:
                            g_av += g
                    excess = gross_now - gross_cap * nav
                    if excess > 0.0 and g_av > 0.0:
                        scale = (g_av - excess) / g_av if g_av > excess else 0.0
                        for i in range(n_mem):
                            if not A[t, i]:
                                continue
                            d = units[i] * (1.0 - scale) * X[t, i]
                            ci = d * (comm[i] + slip[i])
                            traded += d
                            cost += ci
                            contrib[i] -= ci
                            units[i] *= scale
                nav -= cost
                cash = nav
                for i in range(n_mem):
                    cash -= units[i] * E[t, i]
        else:
            nav = cash + nav_sum[t]
        nav, ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd = _close_bar(
            t, nav, in_pos[t], ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd)
        if cal_day_end[t]:
            daily[cal_day_id[t]] = _day_return(nav, day_nav)
            day_nav = nav
        if record:
            pbar[t, P_NAV] = nav
            if dynamic:
                g = 0.0
                for i in range(n_mem):
                    g += units[i] * X[t, i]
                    mbar[t, i, MB_UNITS] = units[i]
                    mbar[t, i, MB_VALUE] = units[i] * E[t, i]
                    mbar[t, i, MB_CONTRIB] = contrib[i]
                    mbar[t, i, MB_NAV] = E[t, i]
                    mbar[t, i, MB_NOTIONAL] = X[t, i]
                pbar[t, P_CASH] = cash
                pbar[t, P_GROSS] = g / nav if nav > 0.0 else 0.0
            else:
                g = 0.0
                for i in range(n_mem):
                    g += units[i] * X[t, i]
                    mbar[t, i, MB_UNITS] = units[i]
                    mbar[t, i, MB_VALUE] = units[i] * E[t, i]
                    mbar[t, i, MB_CONTRIB] = units[i] * (E[t, i] - initial)
                    mbar[t, i, MB_NAV] = E[t, i]
                    mbar[t, i, MB_NOTIONAL] = X[t, i]
                pbar[t, P_CASH] = cash
                pbar[t, P_GROSS] = g / nav if nav > 0.0 else 0.0
    # trade statistics over every member's closed trades, pnl in portfolio currency (units at the exit bar)
    n_tr = 0
    wins = 0.0
    gp = 0.0
    gl = 0.0
    s_pnl = 0.0
    s_ret = 0.0
    final_open = 0.0
    for i in range(n_mem):
        tr = mem_trades[i]
        a = offs[i]
        if m_metrics[i, M_FINAL_POSITION] != 0.0:
            final_open += 1.0
        for r in range(tr.shape[0]):
            xb = int(tr[r, T_EXIT_BAR])
            u = units_at[cal_ix[a + xb], i] if dynamic else static_w[i]
            pnl = tr[r, T_PNL] * u
            n_tr += 1
            s_ret += tr[r, T_PNL] / tr[r, T_NOTIONAL]
            s_pnl += pnl
            traded += (tr[r, T_NOTIONAL] + tr[r, T_QTY] * tr[r, T_EXIT_PRICE]) * u
            if pnl > 0:
                wins += 1.0
                gp += pnl
            elif pnl < 0:
                gl -= pnl
        if record:
            scale = np.empty(tr.shape[0])
            for r in range(tr.shape[0]):
                xb = int(tr[r, T_EXIT_BAR])
                scale[r] = units_at[cal_ix[a + xb], i] if dynamic else static_w[i]
            trades_out.append(tr)
            scales_out.append(scale)
    mdd = _end_path(seg_min, peak_nav, mdd, ruin_bar, cal_day_id, n_cal_days, daily)
    metrics = np.empty(N_METRICS)
    _finish_metrics(metrics, daily, n_cal_days, capital, nav, basis, mdd, n_tr, wins, gp, gl, s_pnl, s_ret,
                    bars_in_pos, n_cal, traded, sum_nav, final_open, ruin_bar)
    return metrics, m_metrics, pbar, mbar, trades_out, scales_out


@njit(cache=True, nogil=True, parallel=True)
def sweep(o, h, lo, c, day_id, day_end, offs, n_days, cal_ix, sig_flat, sig_start, sig_base, allow_flat, allow_start,
          allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy, sides, comm, slip, initial,
          basis, n_cal, cal_day_id, cal_day_end, n_cal_days, static_w, base_w, reb, dynamic, target_vol, tv_len,
          bars_per_year, gross_cap):
    """Portfolio metrics (n_sets x N_METRICS) and member metrics (n_sets x n_mem x N_METRICS) of many
    parameter sets, parallel over sets (each set independent: results do not depend on the thread count)."""
    n_sets = iparams.shape[1]
    n_mem = offs.shape[0] - 1
    out = np.empty((n_sets, N_METRICS))
    out_m = np.empty((n_sets, n_mem, N_METRICS))
    for k in prange(n_sets):
        res = run_set(k, o, h, lo, c, day_id, day_end, offs, n_days, cal_ix, sig_flat, sig_start, sig_base,
                      allow_flat, allow_start, allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy,
                      sides, comm, slip, initial, basis, n_cal, cal_day_id, cal_day_end, n_cal_days, static_w,
                      base_w, reb, dynamic, target_vol, tv_len, bars_per_year, gross_cap, False)
        out[k, :] = res[0]
        out_m[k, :, :] = res[1]
    return out, out_m


# -- fixed sizing sweeps: member-major rounds ------------------------------------------------------------------
# Under fixed sizing the portfolio NAV is cash + sum_i w_i E_i(t): members can be run one after another into a
# per-set accumulator. Sets run in rounds (NAV rows of about a last-level cache): member by member, the threads
# run blocks of the round's sets on the same member at the same time, so a member's bars and candidates come
# from memory once per round and stay in cache across a block (a set-major loop streams every member's data
# through once per set); the kernel adds each run straight into the set's NAV row (its sinks: nothing recorded,
# nothing re-read). Then each set's NAV path is judged. The arithmetic is `run_set`'s, in the same order:
# results are identical.


@njit(cache=True, nogil=True, error_model="numpy")
def _block_members(i, k0, kn, o, h, lo, c, day_id, day_end, offs, n_days, cal_ix, sig_flat, sig_start, sig_base,
                   allow_flat, allow_start, allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode,
                   policy, sides, comm, slip, initial, basis, static_w, nav_acc, inpos_acc, stats, out_m):
    """Member i of sets k0..k0+kn-1 added into rows 0..kn-1 of the accumulators (NAV, held flags, trades)."""
    n_cal = nav_acc.shape[1]
    a = offs[i]
    ix = cal_ix[a:offs[i + 1]]
    nb = ix.shape[0]
    w = static_w[i]
    contiguous = ix[nb - 1] - ix[0] + 1 == nb
    for kk in range(kn):
        k = k0 + kk
        acc = nav_acc[kk]
        inp = inpos_acc[kk]
        st = stats[kk]
        if contiguous:
            # no gap between the member's first and last bar: the kernel adds into the set's row itself
            t0 = ix[0]
            for t in range(t0):
                acc[t] += w * initial
            m = _member(i, k, o, h, lo, c, day_id, day_end, offs, n_days, sig_flat, sig_start, sig_base, allow_flat,
                        allow_start, allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy,
                        sides, comm, slip, initial, basis, False, acc[t0:t0 + nb], inp[t0:t0 + nb], st, w)[0]
            out_m[k, i, :] = m
            last_e = m[M_FINAL_NAV]  # the NAV of the member's last bar, bit for bit
            for t in range(t0 + nb, n_cal):
                acc[t] += w * last_e
        else:
            # gaps: record the member's curve, carry its last mark over the bars it does not have
            res = _member(i, k, o, h, lo, c, day_id, day_end, offs, n_days, sig_flat, sig_start, sig_base, allow_flat,
                          allow_start, allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy,
                          sides, comm, slip, initial, basis, True, None, None, None, 0.0)
            out_m[k, i, :] = res[0]
            eq = res[1]
            pos = res[2]
            t = 0
            last_e = initial
            held = False
            for j in range(nb):
                tj = ix[j]
                while t < tj:
                    acc[t] += w * last_e
                    if held:
                        inp[t] = 1
                    t += 1
                last_e = eq[j]
                held = pos[j] != 0.0
                acc[t] += w * last_e
                if held:
                    inp[t] = 1
                t += 1
            while t < n_cal:
                acc[t] += w * last_e
                t += 1
            tr = res[6]
            for r in range(tr.shape[0]):  # as the kernel's trade sink would have added them
                kernel.add_trade_stats(st, w, tr[r, T_PNL], tr[r, T_PNL] / tr[r, T_NOTIONAL],
                                       tr[r, T_NOTIONAL] + tr[r, T_QTY] * tr[r, T_EXIT_PRICE])
        if out_m[k, i, M_FINAL_POSITION] != 0.0:
            st[S_OPEN] += 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def _finish_set(acc, inp, st, cash, capital, basis, cal_day_id, cal_day_end, n_cal_days, out):
    """Judge one set's portfolio NAV path (cash + its members' summed NAV row `acc`, held flags `inp`, trade
    statistics `st`) on the calendar, as `run_set` does, into the metric vector `out`."""
    n_cal = acc.shape[0]
    daily, day_nav, peak_nav, seg_min, mdd, sum_nav, ruin_bar, bars_in_pos = _path_start(capital, n_cal_days)
    nav = capital
    for t in range(n_cal):
        nav = cash + acc[t]
        nav, ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd = _close_bar(
            t, nav, inp[t], ruin_bar, sum_nav, bars_in_pos, peak_nav, seg_min, mdd)
        if cal_day_end[t]:
            daily[cal_day_id[t]] = _day_return(nav, day_nav)
            day_nav = nav
    mdd = _end_path(seg_min, peak_nav, mdd, ruin_bar, cal_day_id, n_cal_days, daily)
    _finish_metrics(out, daily, n_cal_days, capital, nav, basis, mdd, int(st[S_TRADES]), st[S_WINS], st[S_GROSS_PROFIT],
                    st[S_GROSS_LOSS], st[S_PNL], st[S_RET], bars_in_pos, n_cal, st[S_TRADED], sum_nav, st[S_OPEN],
                    ruin_bar)


@njit(cache=True, nogil=True, parallel=True)
def sweep_fixed(o, h, lo, c, day_id, day_end, offs, n_days, cal_ix, sig_flat, sig_start, sig_base, allow_flat, allow_start,
                allow_base, ser_flat, ser_start, ser_base, iparams, fparams, fill_mode, policy, sides, comm, slip,
                initial, basis, n_cal, cal_day_id, cal_day_end, n_cal_days, static_w, round_sets, block):
    """`sweep` under fixed sizing (no rebalance, no cap), in member-major rounds of `round_sets` sets, each
    member's turn split into blocks of `block` sets that the threads take as they come (see above; sizes from
    `portfolio.fixed_rounds`); the same numbers as `run_set` of each set, whatever the sizes or threads."""
    n_sets = iparams.shape[1]
    n_mem = offs.shape[0] - 1
    out = np.empty((n_sets, N_METRICS))
    out_m = np.empty((n_sets, n_mem, N_METRICS))
    cash = initial
    for i in range(n_mem):
        cash -= static_w[i] * initial
    per_round = max(round_sets, 1)
    nav_acc = np.empty((min(per_round, n_sets), n_cal))
    inpos_acc = np.empty((min(per_round, n_sets), n_cal), dtype=np.uint8)
    stats = np.empty((min(per_round, n_sets), N_SINK_STATS))
    for k0 in range(0, n_sets, per_round):
        kn = min(per_round, n_sets - k0)
        n_blocks = (kn + block - 1) // block
        for i in range(n_mem):
            for b in prange(n_blocks):
                a = b * block
                m = min(block, kn - a)
                if i == 0:  # zeroed by the thread that fills them first: they start in its cache
                    nav_acc[a:a + m] = 0.0
                    inpos_acc[a:a + m] = 0
                    stats[a:a + m] = 0.0
                _block_members(i, k0 + a, m, o, h, lo, c, day_id, day_end, offs, n_days, cal_ix, sig_flat, sig_start,
                               sig_base, allow_flat, allow_start, allow_base, ser_flat, ser_start, ser_base, iparams,
                               fparams, fill_mode, policy, sides, comm, slip, initial, basis, static_w,
                               nav_acc[a:a + m], inpos_acc[a:a + m], stats[a:a + m], out_m)
        for kk in prange(kn):
            _finish_set(nav_acc[kk], inpos_acc[kk], stats[kk], cash, initial, basis, cal_day_id, cal_day_end,
                        n_cal_days, out[k0 + kk])
    return out, out_m
