"""A slow, readable pure-Python portfolio: the rules of `auraquant.cta.backtest.portfolio`, written as loops.

Members come from the single-instrument engine (`run_backtest`, each on its own bars and with its own
costs); everything after that (marks on the calendar, sizing rules, rebalancing, costs, the cap) is plain
Python lists and `statistics.stdev`, with no code shared with the compiled portfolio kernel.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.portfolio import Sizing
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.universe.align import AlignedUniverse


@dataclass
class RefPortfolio:
    nav: list[float]
    units: list[list[float]]
    member_nav: list[list[float]]


def reference_portfolio(au: AlignedUniverse, spec: Spec, sizing: Sizing,
                        member_costs: Mapping[str, Mapping[str, float]] | None = None) -> RefPortfolio:
    C = spec.engine.initial_capital
    n_cal, n = len(au), au.n
    costs = []
    E = [[C] * n for _ in range(n_cal)]
    X = [[0.0] * n for _ in range(n_cal)]
    A = [[False] * n for _ in range(n_cal)]
    closes: list[list[float]] = []
    own_pos: list[list[int]] = []  # calendar position -> last own bar index at or before it (-1 before)
    for i, sym in enumerate(au.symbols):
        c = dict((member_costs or {}).get(sym, {}))
        comm = c.get("commission_bps", spec.engine.commission_bps)
        slip = c.get("slippage_bps", spec.engine.slippage_bps)
        costs.append((comm + slip) * 1e-4)
        sp = spec.model_copy(update={"engine": spec.engine.model_copy(update={"commission_bps": comm,
                                                                             "slippage_bps": slip})})
        frame = pd.DataFrame({"time": pd.to_datetime(au.bars[i].time_ns, unit="ns", utc=True),
                              "open": au.bars[i].open, "high": au.bars[i].high, "low": au.bars[i].low,
                              "close": au.bars[i].close, "volume": au.bars[i].volume})
        res = run_backtest(frame, sp)
        eq = res.equity["equity"].tolist()
        pos = res.steps["position"].tolist()
        cl = frame["close"].tolist()
        closes.append(cl)
        where = {int(t): j for j, t in enumerate(au.cal_index[i])}
        last_e, last_x, j_last = C, 0.0, -1
        col = []
        for t in range(n_cal):
            if t in where:
                j = where[t]
                last_e, last_x, j_last = eq[j], abs(pos[j] * cl[j]), j
                A[t][i] = True
            E[t][i] = last_e
            X[t][i] = last_x
            col.append(j_last)
        own_pos.append(col)
    first = [int(ix[0]) for ix in au.cal_index]
    last = [int(ix[-1]) for ix in au.cal_index]

    def live(t: int, i: int) -> bool:
        return t >= first[i] and (t < last[i] or last[i] == n_cal - 1)

    def sigma(t: int, i: int) -> float:
        j = own_pos[i][t]
        L = sizing.vol_lookback
        if j < L or not live(t, i):
            return math.nan
        cl = closes[i]
        rets = [cl[k] / cl[k - 1] - 1.0 for k in range(j - L + 1, j + 1)]
        return statistics.stdev(rets)

    def weights(t: int) -> list[float]:
        if sizing.rule == "equal_weight":
            k = sum(live(t, i) for i in range(n))
            return [1.0 / k if live(t, i) else 0.0 for i in range(n)]
        if sizing.rule == "fixed":
            return [float((sizing.weights or {}).get(s, 0.0)) if live(t, i) else 0.0
                    for i, s in enumerate(au.symbols)]
        inv = []
        for i in range(n):
            sd = sigma(t, i)
            inv.append(1.0 / sd if sd == sd and sd > 0 else 0.0)
        tot = sum(inv)
        return [x / tot if tot > 0 else 0.0 for x in inv]

    days = [pd.Timestamp(int(x), unit="ns").floor("D") for x in au.times_ns]
    if sizing.rebalance == "none":
        reb = [False] * n_cal
        if sizing.rule == "fixed":
            units = [float((sizing.weights or {}).get(s, 0.0)) for s in au.symbols]
        else:
            units = [1.0 / n] * n
    else:
        reb = [sizing.rebalance == "bar" or t == n_cal - 1 or days[t + 1] != days[t] for t in range(n_cal)]
        reb[0] = True
        for i in range(n):
            if last[i] < n_cal - 1:
                reb[last[i]] = True
        units = [0.0] * n
    cash = C - sum(u * C for u in units)
    W = [weights(t) for t in range(n_cal)] if sizing.rebalance != "none" else None
    bpy = spec.engine.annualization * au.bars[0].bars_per_day()
    basket: list[float] = []
    navs, unit_hist = [], []
    ruined = False
    for t in range(n_cal):
        nav = cash + sum(units[i] * E[t][i] for i in range(n))
        if t > 0 and W is not None:
            basket.append(sum(W[t - 1][i] * (E[t][i] / E[t - 1][i] - 1.0) for i in range(n) if E[t - 1][i] > 0))
        if nav > 0 and not ruined and (sizing.rebalance != "none" or sizing.gross_cap is not None):
            cost = 0.0
            if reb[t]:
                assert W is not None
                s = 1.0
                if sizing.target_vol is not None:
                    L = sizing.target_lookback
                    if len(basket) >= L:
                        sd = statistics.stdev(basket[-L:])
                        s = sizing.target_vol / (sd * math.sqrt(bpy)) if sd > 0 else 0.0
                    else:
                        s = 0.0
                tgt = sum(W[t][i] * X[t][i] / E[t][i] for i in range(n) if A[t][i] and E[t][i] > 0)
                frozen = sum(units[i] * X[t][i] for i in range(n) if not A[t][i])
                f = s
                if sizing.gross_cap is not None and s * tgt * nav + frozen > sizing.gross_cap * nav:
                    room = sizing.gross_cap * nav - frozen
                    f = room / (tgt * nav) if room > 0 else 0.0
                for i in range(n):
                    if A[t][i]:
                        new = W[t][i] * f * nav / E[t][i] if E[t][i] > 0 else 0.0
                        cost += abs(new - units[i]) * X[t][i] * costs[i]
                        units[i] = new
            elif sizing.gross_cap is not None:
                gross = sum(units[i] * X[t][i] for i in range(n))
                avail = sum(units[i] * X[t][i] for i in range(n) if A[t][i])
                excess = gross - sizing.gross_cap * nav
                if excess > 0 and avail > 0:
                    scale = (avail - excess) / avail if avail > excess else 0.0
                    for i in range(n):
                        if A[t][i]:
                            cost += units[i] * (1 - scale) * X[t][i] * costs[i]
                            units[i] *= scale
            nav -= cost
            cash = nav - sum(units[i] * E[t][i] for i in range(n))
        if ruined or nav <= 0:
            ruined, nav = True, 0.0
        navs.append(nav)
        unit_hist.append(list(units))
    return RefPortfolio(nav=navs, units=unit_hist, member_nav=[[E[t][i] for t in range(n_cal)] for i in range(n)])
