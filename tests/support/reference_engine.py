"""A slow, readable pure-Python implementation of the engine's semantics, used only by tests.

It is written from the rules in `auraquant.cta.backtest.engine`'s docstring and the metric definitions
in `auraquant.cta.backtest.metrics`, with plain objects and per-bar events, to check the compiled
kernel. It consumes the same prepared module outputs (candidates, allow masks, series), because what
it verifies is the state machine and the metrics, not the vectorized modules.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from auraquant.cta.backtest import layout as L
from auraquant.cta.backtest.prepare import Prepared


@dataclass
class Position:
    side: int
    qty: float  # signed
    entry_bar: int
    entry_fill: float
    entry_fee: float
    best: float  # best price since entry (high for longs, low for shorts)
    stop: float | None = None
    target: float | None = None
    trail: float | None = None
    held: int = 0


@dataclass
class Trade:
    entry_bar: int
    exit_bar: int
    side: int
    qty: float
    entry_price: float
    exit_price: float
    pnl: float
    fees: float
    reason: int


@dataclass
class Pending:
    exit_reason: int = 0  # 0: no exit
    entry_dir: int = 0
    size: float = 0.0
    signal_bar: int = -1


@dataclass
class RefResult:
    metrics: dict[str, float]
    equity: list[float]
    position: list[float]
    filter_code: list[int]
    risk_code: list[int]
    size: list[float]
    trades: list[Trade] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)


def _p(fp: np.ndarray, idx: int) -> float | None:
    v = float(fp[idx])
    return None if math.isnan(v) else v


def tighter_stop(side: int, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b) if side > 0 else min(a, b)


def nearer_target(side: int, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b) if side > 0 else max(a, b)


class ReferenceEngine:
    def __init__(self, prep: Prepared, k: int = 0) -> None:
        b = prep.bars
        self.o, self.h, self.lo, self.c = (list(map(float, x)) for x in (b.open, b.high, b.low, b.close))
        ip = prep.iparams[k]
        self.cand = [int(x) for x in prep.sig_pool[ip[L.I_SIG]]]
        self.allow = [int(x) for x in prep.allow_pool[ip[L.I_ALLOW]]]
        self.stop_atr = [float(x) for x in prep.series_pool[ip[L.I_STOP_ATR]]]
        self.trail_atr = [float(x) for x in prep.series_pool[ip[L.I_TRAIL_ATR]]]
        self.vol = [float(x) for x in prep.series_pool[ip[L.I_VOL]]]
        fp = prep.fparams[k]
        self.sl_pct, self.tp_pct = _p(fp, L.F_SL_PCT), _p(fp, L.F_TP_PCT)
        self.sl_atr, self.tp_atr = _p(fp, L.F_SL_ATR), _p(fp, L.F_TP_ATR)
        self.trail_pct, self.trail_k = _p(fp, L.F_TRAIL_PCT), _p(fp, L.F_TRAIL_ATR)
        self.time_stop = _p(fp, L.F_TIME_STOP)
        self.fraction, self.target_vol = _p(fp, L.F_FRACTION), _p(fp, L.F_TARGET_VOL)
        self.lev_cap, self.dd_max = _p(fp, L.F_LEV_CAP), _p(fp, L.F_DD_MAX)
        self.dd_halt, self.cooldown = _p(fp, L.F_DD_HALT), _p(fp, L.F_COOLDOWN)
        self.next_open = prep.fill_mode == L.FILL_NEXT_OPEN
        self.policy = prep.policy
        self.sides = prep.sides
        self.comm, self.slip = prep.comm, prep.slip
        self.initial, self.basis = prep.initial, prep.basis
        self.day = [int(x) for x in prep.day_id]
        self.events: Counter[str] = Counter()
        self.n_days = prep.n_days

    # ---- fills ---------------------------------------------------------------------------------
    def _exit(self, bar: int, price: float, reason: int, slippage: bool) -> None:
        pos = self.pos
        assert pos is not None
        fill = price * (1 - pos.side * self.slip) if slippage else price
        fee = abs(pos.qty) * fill * self.comm
        self.cash += pos.qty * fill - fee
        self.traded += abs(pos.qty) * fill
        pnl = pos.qty * (fill - pos.entry_fill) - pos.entry_fee - fee
        self.trades.append(Trade(pos.entry_bar, bar, pos.side, abs(pos.qty), pos.entry_fill, fill, pnl,
                                 pos.entry_fee + fee, reason))
        if pnl < 0:
            self.last_loss_bar = bar
        self.pos = None

    def _enter(self, bar: int, price: float, side: int, size: float, signal_bar: int) -> None:
        nav = self.cash
        if nav <= 0:
            return
        fill = price * (1 + side * self.slip)
        qty = side * size * nav / fill
        fee = abs(qty) * fill * self.comm
        self.cash -= qty * fill + fee
        self.traded += abs(qty) * fill
        pos = Position(side, qty, bar, fill, fee, best=price)
        if self.sl_pct is not None:
            pos.stop = price * (1 - side * self.sl_pct)
        if self.tp_pct is not None:
            pos.target = price * (1 + side * self.tp_pct)
        a = self.stop_atr[signal_bar]
        if not math.isnan(a):
            if self.sl_atr is not None:
                pos.stop = tighter_stop(side, pos.stop, price - side * self.sl_atr * a)
            if self.tp_atr is not None:
                pos.target = nearer_target(side, pos.target, price + side * self.tp_atr * a)
        if self.trail_pct is not None:
            pos.trail = price * (1 - side * self.trail_pct)
        if self.trail_k is not None and not math.isnan(self.trail_atr[signal_bar]):
            pos.trail = tighter_stop(side, pos.trail, price - side * self.trail_k * self.trail_atr[signal_bar])
        self.pos = pos

    # ---- intrabar --------------------------------------------------------------------------------
    def _stop_first(self, bar: int, side: int) -> bool:
        o, h, lo, c = self.o[bar], self.h[bar], self.lo[bar], self.c[bar]
        if self.policy == L.POLICY_STOP_FIRST:
            return True
        if self.policy == L.POLICY_OHLC_PATH:
            if h - o == o - lo:
                return True
            path_high_first = (h - o) < (o - lo)
        else:
            path_high_first = c < o
        # a long's stop is below (reached on the low leg); a short's stop is above (high leg)
        return path_high_first if side < 0 else not path_high_first

    def _intrabar(self, bar: int) -> None:
        pos = self.pos
        if pos is None:
            return
        s = pos.side
        stop, reason = pos.stop, L.EXIT_STOP_LOSS
        if pos.trail is not None and (stop is None or (s > 0 and pos.trail > stop) or (s < 0 and pos.trail < stop)):
            stop, reason = pos.trail, L.EXIT_TRAILING
        o, h, lo = self.o[bar], self.h[bar], self.lo[bar]

        def through(level: float | None, price: float, adverse: bool) -> bool:
            if level is None:
                return False
            below = price <= level
            above = price >= level
            if adverse:  # stop: longs fall through it, shorts rise through it
                return below if s > 0 else above
            return above if s > 0 else below

        if through(stop, o, True):
            self.events["gap_through_stop"] += 1
            self._exit(bar, o, reason, True)
            return
        if through(pos.target, o, False):
            self._exit(bar, o, L.EXIT_TAKE_PROFIT, False)
            return
        stop_hit = through(stop, lo if s > 0 else h, True)
        target_hit = through(pos.target, h if s > 0 else lo, False)
        if stop_hit and target_hit:
            first = self._stop_first(bar, s)
            self.events[f"sl_tp_same_bar:{self.policy}:{'stop' if first else 'target'}"] += 1
            if first:
                self._exit(bar, stop, reason, True)
            else:
                self._exit(bar, pos.target, L.EXIT_TAKE_PROFIT, False)
        elif stop_hit:
            self._exit(bar, stop, reason, True)
        elif target_hit:
            self._exit(bar, pos.target, L.EXIT_TAKE_PROFIT, False)

    def _update_trailing(self, bar: int) -> None:
        pos = self.pos
        if pos is None:
            return
        pos.held += 1
        pos.best = max(pos.best, self.h[bar]) if pos.side > 0 else min(pos.best, self.lo[bar])
        level = None
        if self.trail_pct is not None:
            level = pos.best * (1 - pos.side * self.trail_pct)
        if self.trail_k is not None and not math.isnan(self.trail_atr[bar]):
            level = tighter_stop(pos.side, level, pos.best - pos.side * self.trail_k * self.trail_atr[bar])
        pos.trail = tighter_stop(pos.side, pos.trail, level)

    # ---- decisions -------------------------------------------------------------------------------
    def _risk(self, bar: int, nav: float) -> tuple[int, float]:
        if nav <= 0:
            return L.RISK_NAV, math.nan
        if self.cooldown is not None and bar - self.last_loss_bar < self.cooldown:
            return L.RISK_COOLDOWN, math.nan
        if self.halt_end is not None:
            return L.RISK_DD_HALT, math.nan
        if self.fraction is not None:
            size = self.fraction
        else:
            v = self.vol[bar]
            if math.isnan(v) or v <= 0:
                return L.RISK_NO_VOL, math.nan
            size = self.target_vol / v
        if self.lev_cap is not None:
            size = min(size, self.lev_cap)
        if size <= 0:
            return L.RISK_ZERO_SIZE, math.nan
        return L.RISK_APPROVED, size

    def _breaker(self, bar: int, nav: float) -> None:
        if self.dd_max is None:
            return
        if self.halt_end is not None and bar >= self.halt_end:
            self.halt_end = None
            self.breaker_peak = nav
        self.breaker_peak = max(self.breaker_peak, nav)
        if self.halt_end is None and nav <= self.breaker_peak * (1 - self.dd_max):
            self.halt_end = bar + int(self.dd_halt)

    def _decide(self, bar: int) -> Pending:
        pos = self.pos
        side = pos.side if pos else 0
        nav = self.cash + (pos.qty if pos else 0.0) * self.c[bar]
        self._breaker(bar, nav)
        cand = self.cand[bar]
        dec = Pending(signal_bar=bar)
        if pos and cand == -side:
            dec.exit_reason = L.EXIT_SIGNAL
        elif pos and self.time_stop is not None and pos.held >= self.time_stop:
            dec.exit_reason = L.EXIT_TIME
        side_enabled = self.sides == 0 or self.sides == cand
        if cand != 0 and cand != side and side_enabled:
            bit = L.ALLOW_LONG if cand > 0 else L.ALLOW_SHORT
            passed = bool(self.allow[bar] & bit)
            self.fcode[bar] = int(passed)
            if passed:
                code, size = self._risk(bar, nav)
                self.rcode[bar] = code
                if code == L.RISK_APPROVED:
                    self.size[bar] = size
                    dec.entry_dir, dec.size = cand, size
        return dec

    def _execute(self, bar: int, price: float, dec: Pending) -> None:
        if dec.exit_reason and self.pos is not None and dec.entry_dir:
            self.events["reversal"] += 1
        if dec.exit_reason and self.pos is not None:
            self._exit(bar, price, dec.exit_reason, True)
        if dec.entry_dir and self.pos is None:
            self._enter(bar, price, dec.entry_dir, dec.size, dec.signal_bar)

    # ---- main loop -------------------------------------------------------------------------------
    def run(self) -> RefResult:
        n = len(self.c)
        self.cash = self.initial
        self.pos: Position | None = None
        self.trades: list[Trade] = []
        self.traded = 0.0
        self.last_loss_bar = -(1 << 60)
        self.halt_end: int | None = None
        self.breaker_peak = self.initial
        self.fcode = [-1] * n
        self.rcode = [-1] * n
        self.size = [math.nan] * n
        equity, position = [], []
        pending = Pending()
        day_end_nav: dict[int, float] = {}
        self.ruin_bar: int | None = None
        for t in range(n):
            if self.ruin_bar is not None:
                # ruined: the account is closed at 0, nothing trades (engine rule 10)
                equity.append(0.0)
                position.append(0.0)
                day_end_nav[self.day[t]] = 0.0
                continue
            if self.next_open:
                self._execute(t, self.o[t], pending)
                pending = Pending()
                self._ruin_if_broke(t)
            if self.ruin_bar is None:
                self._intrabar(t)
                self._ruin_if_broke(t)
            if self.ruin_bar is None:
                self._update_trailing(t)
                if self.pos is not None and self.cash + self.pos.qty * self.c[t] <= 0:
                    self.events["ruin_at_close"] += 1
                    self._exit(t, self.c[t], L.EXIT_RUIN, True)
                    self._ruin_if_broke(t)
            if self.ruin_bar is None:
                dec = self._decide(t)
                if self.next_open:
                    pending = dec
                else:
                    self._execute(t, self.c[t], dec)
                    self._ruin_if_broke(t)
            qty = self.pos.qty if self.pos else 0.0
            equity.append(self.cash + qty * self.c[t])
            position.append(qty)
            day_end_nav[self.day[t]] = equity[-1]
        metrics = self._metrics(equity, position, day_end_nav)
        return RefResult(metrics, equity, position, self.fcode, self.rcode, self.size, self.trades, self.events)

    def _ruin_if_broke(self, bar: int) -> None:
        """Ruin check after fills: a flat account with cash <= 0 is closed at NAV 0."""
        if self.pos is None and self.cash <= 0 and self.ruin_bar is None:
            self.events["ruin"] += 1
            self.cash = 0.0
            self.ruin_bar = bar

    def _metrics(self, equity: list[float], position: list[float], day_end: dict[int, float]) -> dict[str, float]:
        navs = [day_end[d] for d in sorted(day_end)]
        daily = np.array([navs[0] / self.initial - 1] + [navs[i] / navs[i - 1] - 1 if navs[i - 1] > 0 else 0.0
                                                           for i in range(1, len(navs))])
        D = len(daily)
        B = self.basis
        years = D / B
        final = equity[-1]
        out: dict[str, float] = {}
        out["total_return"] = final / self.initial - 1
        out["ann_return"] = (final / self.initial) ** (1 / years) - 1 if final > 0 else -1.0
        mean = float(np.mean(daily))
        std = float(np.std(daily, ddof=1)) if D > 1 else math.nan
        down = math.sqrt(float(np.mean(np.minimum(daily, 0.0) ** 2)))
        out["ann_volatility"] = std * math.sqrt(B)
        out["sharpe"] = mean / std * math.sqrt(B) if std > 0 else math.nan
        out["sortino"] = mean / down * math.sqrt(B) if down > 0 else math.nan
        peak, mdd = self.initial, 0.0
        for v in equity:
            peak = max(peak, v)
            mdd = min(mdd, v / peak - 1)
        out["max_drawdown"] = mdd
        out["calmar"] = out["ann_return"] / abs(mdd) if mdd < 0 else math.nan
        pnls = [tr.pnl for tr in self.trades]
        nt = len(pnls)
        out["trades"] = nt
        out["win_rate"] = sum(p > 0 for p in pnls) / nt if nt else math.nan
        gl = -sum(p for p in pnls if p < 0)
        out["profit_factor"] = sum(p for p in pnls if p > 0) / gl if gl > 0 else math.nan
        out["expectancy"] = sum(pnls) / nt if nt else math.nan
        out["avg_trade_return"] = (sum(tr.pnl / (tr.qty * tr.entry_price) for tr in self.trades) / nt
                                   if nt else math.nan)
        out["exposure"] = sum(q != 0 for q in position) / len(position)
        mean_nav = sum(equity) / len(equity)
        out["turnover"] = self.traded / mean_nav / years if mean_nav > 0 else math.nan
        var = float(np.quantile(daily, 0.05))
        out["var_95"] = var
        out["cvar_95"] = float(np.mean(daily[daily <= var]))
        out["daily_mean"] = mean
        out["daily_std"] = std
        m2 = float(np.mean((daily - mean) ** 2))
        out["skew"] = float(np.mean((daily - mean) ** 3)) / m2**1.5 if m2 > 0 else math.nan
        out["kurtosis"] = float(np.mean((daily - mean) ** 4)) / m2**2 if m2 > 0 else math.nan
        out["n_days"] = D
        out["years"] = years
        out["final_nav"] = final
        out["final_position"] = position[-1]
        ruined = self.ruin_bar is not None
        out["ruined"] = float(ruined)
        out["ruin_bar"] = float(self.ruin_bar) if self.ruin_bar is not None else -1.0
        if ruined:  # capped at 0, NaN stays NaN
            out["sharpe"] = min(out["sharpe"], 0.0) if not math.isnan(out["sharpe"]) else math.nan
            out["sortino"] = min(out["sortino"], 0.0) if not math.isnan(out["sortino"]) else math.nan
        return out
