"""Portfolio backtests: one Spec on every member of a universe, sized into one NAV.

Semantics (the one statement of them; the compiled kernel is `portfolio_kernel`, the readable reference
is in the tests):

1. **Members.** Each member runs the single-instrument engine (every rule of `engine`) on its *own* bars
   only, with the Spec's parameters (plus `member_params[symbol]` where given), its own costs
   (`member_costs[symbol]`, else the Spec's) and the Spec's initial capital C. A bar missing on a member
   (`align`) does not exist for it: no signal, no fill, no return; its NAV curve E_i is marked on the
   common calendar at its last close (C before its first bar).
2. **Portfolio.** Cash K plus u_i units of each member's curve: P(t) = K + sum_i u_i E_i(t), P(0-) = C.
   A unit of a member is its whole account: a member's position notional per unit is X_i (its |qty| x
   last close), so the portfolio's gross exposure is sum_i u_i X_i / P.
3. **Sizing rules** (`Sizing`):
   - `equal_weight` / `fixed` with `rebalance="none"` (fixed sizing): u_i = w_i at the start (w_i = 1/n,
     or the given weights, sum <= 1), never traded again, K = C (1 - sum w). Then P = sum_i w_i E_i +
     K exactly: the weighted sum of the members' own backtests. A delisted member's sleeve keeps its
     last value.
   - `rebalance="day"` / `"bar"`: at the close of every rebalance bar (the last calendar bar of each UTC
     day, or every bar; also the first bar and a member's delisting bar) the units are reset to target
     weights: u_i = w_i(t) s(t) P(t) / E_i(t). Base weights w_i(t): `equal_weight` = 1 / (members live at
     t), `fixed` = the given weights of live members, `inverse_vol` = 1/sigma_i normalized over live
     members with a defined sigma_i (sample std of the member's last `vol_lookback` close-to-close
     returns on its own closed bars). Live at t: listed (t >= its first bar) and not delisted (t < its
     last bar, or its last bar is the calendar's last). A delisted member's sleeve is sold at the close
     of its last bar. Only members with a bar at t trade at a rebalance: a member without one keeps its
     units (a missing bar is never a price to trade at).
   - Portfolio volatility target (`target_vol`, annualized): s(t) = target_vol / (sample std of the last
     `target_lookback` bar returns of the base basket sum_i w_i(t-1) (E_i(t)/E_i(t-1) - 1), times
     sqrt(bars per year)); s = 0 until `target_lookback` returns exist; without a target s = 1.
   - Gross exposure cap (`gross_cap`): at a rebalance the available members' targets are scaled down so
     that sum_i u_i X_i <= gross_cap x P (the units of members without a bar count as they are); between
     rebalances (and under fixed sizing), a close where the held units exceed it scales the available
     members' units down by the excess (to 0 at most). P here is before that rebalance's costs.
   Every unit change trades |delta u_i| X_i of member i's position, paying its commission + slippage;
   the cost leaves the NAV and is charged to that member's contribution.
4. **Ruin.** P <= 0 at a close ends the portfolio at 0 (as the engine's rule 10); metrics by the same
   definitions (`metrics`), on the UTC daily returns of P over the common calendar.
5. **Trade statistics** pool every member's closed trades, pnl in portfolio currency (the member's pnl
   times the units held at the exit bar); `avg_trade_return` is unit free; `exposure` is the share of
   calendar bars with any member in a position; `turnover` counts closed trades' fills and rebalances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from auraquant.cta.backtest import portfolio_kernel as pk
from auraquant.cta.backtest.engine import _SWEEP_CHUNK, SEMANTICS, trades_frame
from auraquant.cta.backtest.kernel import day_ends
from auraquant.cta.backtest.layout import (
    METRIC_NAMES,
    N_IPARAMS,
    T_PNL,
    M,
)
from auraquant.cta.backtest.metrics import (
    Report,
    add_trial_statistics,
    build_report,
    buy_and_hold_from_nav,
    buy_and_hold_nav,
    metrics_dict,
)
from auraquant.cta.backtest.prepare import Prepared, day_index, prepare
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.universe.align import AlignedUniverse

PORTFOLIO_SEMANTICS = ("portfolio: each member runs the engine on its own bars (no bar filled), NAV = cash + "
                       "units x member NAV on the union calendar; sizing rule, rebalance costs and gross cap "
                       "as in auraquant.cta.backtest.portfolio; " + SEMANTICS)

REBALANCE_CODES = {"none": 0, "day": 1, "bar": 2}
FIXED_BLOCK = 32  # at most this many parameter sets per thread in a round of a fixed-sizing sweep
# The NAV rows and held flags of a round's sets (calendar bars x 9 bytes each) are kept within about a last-level
# cache: past it every member's run streams its sets' rows from memory (measured: 2.5x slower).
_ROUND_BYTES = 24 * 2**20
_TASKS_PER_THREAD = 8  # blocks per thread and member in a round: dynamic scheduling evens out unequal sets


def fixed_rounds(n_cal: int, threads: int) -> tuple[int, int]:
    """(sets per round, sets per block) of `portfolio_kernel.sweep_fixed` (the results do not depend on them)."""
    threads = max(threads, 1)
    per_round = max(threads, min(threads * FIXED_BLOCK, _ROUND_BYTES // (max(n_cal, 1) * 9)))
    return per_round, max(1, per_round // (threads * _TASKS_PER_THREAD))


class Sizing(BaseModel):
    """How a portfolio sizes its members (see the module docstring, rule 3)."""

    model_config = {"frozen": True, "extra": "forbid"}

    rule: Literal["equal_weight", "fixed", "inverse_vol"] = "equal_weight"
    weights: dict[str, float] | None = Field(None, description="fixed: weight per symbol (>= 0, sum <= 1)")
    rebalance: Literal["none", "day", "bar"] = "none"
    vol_lookback: int = Field(720, ge=2, description="inverse_vol: member returns in the trailing std")
    target_vol: float | None = Field(None, gt=0, le=5, description="annualized portfolio volatility target")
    target_lookback: int = Field(720, ge=2, description="bar returns behind the portfolio volatility estimate")
    gross_cap: float | None = Field(None, gt=0, le=20, description="max sum of |position notional| / NAV")

    @model_validator(mode="after")
    def _coherent(self) -> Sizing:
        if self.rule == "fixed":
            if not self.weights:
                raise ValueError("rule 'fixed' needs weights per symbol")
            if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) > 1 + 1e-12:
                raise ValueError("fixed weights must be >= 0 and sum to at most 1")
        elif self.weights is not None:
            raise ValueError(f"weights are only for rule 'fixed', not {self.rule!r}")
        if self.rebalance == "none" and (self.rule == "inverse_vol" or self.target_vol is not None):
            raise ValueError("inverse_vol and target_vol resize over time: choose rebalance 'day' or 'bar'")
        return self

    @property
    def dynamic(self) -> bool:
        """Whether units can change after the start (a rebalance schedule or a gross cap)."""
        return self.rebalance != "none" or self.gross_cap is not None


# -- the rules' inputs, computed in numpy from closed bars --------------------------------------------------------
def live_mask(au: AlignedUniverse) -> np.ndarray:
    """(n_cal, n_mem) bool: member listed at t and not delisted (module docstring, rule 3)."""
    n_cal = len(au)
    t = np.arange(n_cal)[:, None]
    first, last = au.first[None, :], au.last[None, :]
    return (t >= first) & ((t < last) | (last == n_cal - 1))


def on_calendar(au: AlignedUniverse, i: int, own: np.ndarray, *, before: float) -> np.ndarray:
    """Member i's per-bar series `own` on the calendar: its last value carried over the bars it does not have
    (never a later one), `before` before its first bar."""
    col = np.full(len(au), np.nan)
    col[au.cal_index[i]] = own
    return pd.Series(col).ffill().fillna(before).to_numpy()


def member_vol(au: AlignedUniverse, lookback: int) -> np.ndarray:
    """(n_cal, n_mem) sample std of each member's last `lookback` close-to-close returns on its own bars
    up to calendar bar t (NaN until it has that many; carried over its gaps, never using a later bar)."""
    out = np.full((len(au), au.n), np.nan)
    for i, b in enumerate(au.bars):
        r = pd.Series(b.close[1:] / b.close[:-1] - 1.0)
        sd = r.rolling(lookback, min_periods=lookback).std(ddof=1).to_numpy()
        per_bar = np.concatenate([[np.nan], sd])  # bar j's estimate uses returns up to bar j
        out[:, i] = on_calendar(au, i, per_bar, before=np.nan)
    return out


def fixed_weights(au: AlignedUniverse, sizing: Sizing) -> np.ndarray:
    """The weights of rule 'fixed', in member order (0 for a member not named); a named symbol outside the
    universe is an error, whether or not the portfolio rebalances."""
    weights = sizing.weights or {}
    unknown = sorted(set(weights) - set(au.symbols))
    if unknown:
        raise ValueError(f"fixed weights name symbols outside the universe: {unknown}")
    return np.array([float(weights.get(s, 0.0)) for s in au.symbols])


def base_weights(au: AlignedUniverse, sizing: Sizing) -> np.ndarray:
    """(n_cal, n_mem) base target weights w_i(t) of a rebalancing rule (module docstring, rule 3)."""
    live = live_mask(au)
    if sizing.rule == "equal_weight":
        cnt = live.sum(axis=1, keepdims=True)
        return np.where(live, 1.0 / np.maximum(cnt, 1), 0.0)
    if sizing.rule == "fixed":
        return np.where(live, fixed_weights(au, sizing)[None, :], 0.0)
    sd = member_vol(au, sizing.vol_lookback)
    ok = live & np.isfinite(sd) & (sd > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(ok, 1.0 / np.where(ok, sd, 1.0), 0.0)
    tot = inv.sum(axis=1, keepdims=True)
    return np.where(tot > 0, inv / np.where(tot > 0, tot, 1.0), 0.0)


def static_weights(au: AlignedUniverse, sizing: Sizing) -> np.ndarray:
    """Units held from the start under fixed sizing (rebalance 'none'); zeros for a rebalancing rule."""
    if sizing.rebalance != "none":
        return np.zeros(au.n)
    if sizing.rule == "fixed":
        return fixed_weights(au, sizing)
    return np.full(au.n, 1.0 / au.n)


def rebalance_bars(au: AlignedUniverse, sizing: Sizing, cal_day_end: np.ndarray) -> np.ndarray:
    """uint8 per calendar bar: 1 where the units are reset to targets (module docstring, rule 3)."""
    n_cal = len(au)
    if sizing.rebalance == "none":
        return np.zeros(n_cal, dtype=np.uint8)
    reb = np.ones(n_cal, dtype=np.uint8) if sizing.rebalance == "bar" else cal_day_end.astype(np.uint8).copy()
    reb[0] = 1
    last = au.last
    reb[last[last < n_cal - 1]] = 1
    return reb


# -- packing every member's prepared kernel inputs into flat arrays -----------------------------------------------
@dataclass
class _Packed:
    au: AlignedUniverse
    preps: list[Prepared]
    args: tuple  # the inputs of `portfolio_kernel.run_set` / `sweep`, in their order
    fixed_args: tuple  # their head, up to the static weights: the inputs of `sweep_fixed` (no rebalancing)
    n_sets: int
    engine: Any
    sizing: Sizing
    costs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def _pool_flat(pools: list[np.ndarray], dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = np.concatenate([p.reshape(-1) for p in pools]).astype(dtype, copy=False)
    starts, base, off = [], [], 0
    for p in pools:
        base.append(len(starts))
        for _ in range(p.shape[0]):
            starts.append(off)
            off += p.shape[1]
    return np.ascontiguousarray(flat), np.asarray(starts, dtype=np.int64), np.asarray(base, dtype=np.int64)


def _member_sets(spec: Spec, sym: str, sets: Sequence[Mapping[str, Any]] | None,
                 member_params: Mapping[str, Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    over = dict((member_params or {}).get(sym, {}))
    if not over:
        return None if sets is None else [dict(s) for s in sets]
    return [{**dict(s), **over} for s in (sets or [{}])]


def pack(au: AlignedUniverse, spec: Spec, sizing: Sizing, param_sets: Sequence[Mapping[str, Any]] | None = None,
         *, member_costs: Mapping[str, Mapping[str, float]] | None = None,
         member_params: Mapping[str, Mapping[str, Any]] | None = None, extra_dir: Path | str | None = None,
         workers: int = 1) -> _Packed:
    """Prepare every member (`prepare`, module outputs computed once per distinct parameter value) and
    lay the results out as the portfolio kernel's flat inputs."""
    unknown = sorted((set(member_costs or {}) | set(member_params or {})) - set(au.symbols))
    if unknown:
        raise ValueError(f"per-member settings name symbols outside the universe: {unknown}")
    preps = [prepare(b, spec, _member_sets(spec, s, param_sets, member_params), extra_dir, workers=workers)
             for s, b in zip(au.symbols, au.bars, strict=True)]
    e = spec.engine
    costs = np.array([[float((member_costs or {}).get(s, {}).get("commission_bps", e.commission_bps)),
                       float((member_costs or {}).get(s, {}).get("slippage_bps", e.slippage_bps))]
                      for s in au.symbols])
    n_sets = preps[0].iparams.shape[0]
    offs = np.zeros(au.n + 1, dtype=np.int64)
    offs[1:] = np.cumsum([len(b) for b in au.bars])
    cat = lambda name: np.ascontiguousarray(np.concatenate([getattr(b, name) for b in au.bars]))  # noqa: E731
    sig = _pool_flat([p.sig_pool for p in preps], np.int8)
    allow = _pool_flat([p.allow_pool for p in preps], np.int8)
    ser = _pool_flat([p.series_pool for p in preps], np.float64)
    iparams = np.ascontiguousarray(np.stack([p.iparams for p in preps]).astype(np.int64))
    fparams = np.ascontiguousarray(np.stack([p.fparams for p in preps]))
    assert iparams.shape == (au.n, n_sets, N_IPARAMS)
    cal_day_id, n_cal_days = day_index(au.times_ns)
    cal_day_end = day_ends(cal_day_id)
    n_days = np.array([p.n_days for p in preps], dtype=np.int64)
    day_id = np.ascontiguousarray(np.concatenate([p.day_id for p in preps]).astype(np.int64))
    day_end = np.ascontiguousarray(np.concatenate([day_ends(p.day_id) for p in preps]))
    cal_ix = np.ascontiguousarray(np.concatenate(au.cal_index).astype(np.int64))
    dynamic = sizing.dynamic
    base_w = np.ascontiguousarray(base_weights(au, sizing) if sizing.rebalance != "none"
                                  else np.zeros((len(au) if dynamic else 1, au.n)))
    reb = rebalance_bars(au, sizing, cal_day_end)
    bars_per_year = float(e.annualization) * au.bars[0].bars_per_day()
    p0 = preps[0]
    fixed = (cat("open"), cat("high"), cat("low"), cat("close"), day_id, day_end, offs, n_days, cal_ix, *sig, *allow,
             *ser, iparams, fparams, p0.fill_mode, p0.policy, p0.sides, np.ascontiguousarray(costs[:, 0] * 1e-4),
             np.ascontiguousarray(costs[:, 1] * 1e-4), p0.initial, p0.basis, len(au), cal_day_id, cal_day_end,
             n_cal_days, static_weights(au, sizing))
    args = (*fixed, base_w, reb, dynamic, float(sizing.target_vol) if sizing.target_vol is not None else np.nan,
            int(sizing.target_lookback), bars_per_year,
            float(sizing.gross_cap) if sizing.gross_cap is not None else np.nan)
    return _Packed(au=au, preps=preps, args=args, fixed_args=fixed, n_sets=n_sets, engine=e, sizing=sizing,
                   costs=costs)


# -- results ---------------------------------------------------------------------------------------------------
@dataclass
class PortfolioResult:
    """A portfolio backtest: its Report, each member's Report (identical to `run_backtest` of that member
    alone, on its own bars), and (when recorded) the artifacts."""

    report: Report
    metrics: dict[str, float]
    members: dict[str, Report]
    member_metrics: dict[str, dict[str, float]]
    consistency: dict[str, Any]
    correlation: dict[str, dict[str, float | None]]
    basket: dict[str, Any]
    equity: pd.DataFrame | None = None
    trades: pd.DataFrame | None = None
    attribution: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: portfolio, members, consistency, correlation, equal-weight basket buy and hold."""
        return {"portfolio": self.report.model_dump(mode="json"), "report_id": self.report.id,
                "members": {s: {"report_id": r.id, **_headline(r)} for s, r in self.members.items()},
                "consistency": self.consistency, "correlation": self.correlation, "basket_buy_and_hold": self.basket,
                "attribution": (self.attribution.to_dict(orient="records") if self.attribution is not None else None)}


def save_portfolio_artifacts(res: PortfolioResult, out_dir: Path) -> dict[str, str]:
    """Write a recorded portfolio result: `equity.parquet` (portfolio NAV, cash, gross exposure, the basket's
    buy and hold, and per member its NAV, units, sleeve value, contribution, notional and availability),
    `trades.parquet` (every member's trades), `attribution.parquet` and `summary.json` (portfolio, members,
    consistency, correlation, basket). Returns {name: file name}."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, frame in (("equity", res.equity), ("trades", res.trades), ("attribution", res.attribution)):
        if frame is not None:
            frame.to_parquet(out_dir / f"{name}.parquet", index=False)
            files[name] = f"{name}.parquet"
    (out_dir / "summary.json").write_text(json.dumps(res.summary(), indent=2, sort_keys=True, default=str))
    files["summary"] = "summary.json"
    return files


def _headline(r: Report) -> dict[str, Any]:
    bh = r.buy_and_hold
    return {"total_return": r.total_return, "sharpe": r.sharpe, "max_drawdown": r.max_drawdown, "trades": r.trades,
            "bh_total_return": bh.total_return if bh else None, "bh_sharpe": bh.sharpe if bh else None}


def consistency(member_metrics: Mapping[str, Mapping[str, float]], *, metric: str = "sharpe",
                threshold: float = 0.0) -> dict[str, Any]:
    """How many members carry the edge: members whose `metric` is > `threshold` (NaN counts as not)."""
    vals = {s: float(v) if isinstance(v := m.get(metric), int | float) else np.nan for s, m in member_metrics.items()}
    carriers = sorted(s for s, v in vals.items() if np.isfinite(v) and v > threshold)
    n = len(vals)
    return {"metric": metric, "threshold": threshold, "members": n, "carriers": len(carriers),
            "share": (len(carriers) / n) if n else None, "carrier_symbols": carriers,
            "min": _fin(min(vals.values())) if vals and not any(np.isnan(v) for v in vals.values()) else None}


def _fin(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _report(vec: np.ndarray, spec: Spec, times_ns: np.ndarray, costs: tuple[float, float], semantics: str) -> Report:
    e = spec.engine
    t = pd.to_datetime(times_ns, unit="ns", utc=True)
    return build_report(
        vec, spec_id=spec.id, data_from=str(t[0]), data_to=str(t[-1]), bars=len(times_ns),
        annualization_basis=e.annualization, fill=e.fill, fill_optimistic=e.fill == "same_close",
        intrabar_policy=e.intrabar, commission_bps=costs[0], slippage_bps=costs[1],
        initial_capital=e.initial_capital, open_position_at_end=bool(vec[M["final_position"]] != 0),
        semantics=semantics,
        ruin_time=str(t[int(vec[M["ruin_bar"]])]) if vec[M["ruined"]] > 0 else None)


def member_buy_and_hold(au: AlignedUniverse, spec: Spec, costs: np.ndarray) -> list[np.ndarray]:
    """Each member's buy-and-hold NAV on its own bars (`metrics.buy_and_hold_nav`, its own costs)."""
    e = spec.engine
    return [buy_and_hold_nav(b.open, b.close, fill=e.fill, commission_bps=float(costs[i, 0]),
                             slippage_bps=float(costs[i, 1]), initial=e.initial_capital)
            for i, b in enumerate(au.bars)]


def basket_buy_and_hold(au: AlignedUniverse, spec: Spec, member_navs: list[np.ndarray]) -> tuple[np.ndarray, Any]:
    """NAV on the calendar of the equal-weight basket: 1/n of the capital in each member's buy and hold
    (`member_navs`, from `member_buy_and_hold`), never rebalanced; a member not yet listed holds its share in
    cash. Returns (nav, BuyAndHold)."""
    e = spec.engine
    total = np.zeros(len(au))
    for i, nav in enumerate(member_navs):
        total += on_calendar(au, i, nav, before=e.initial_capital) / au.n
    bh = buy_and_hold_from_nav(au.times_ns.view("datetime64[ns]"), total, e.initial_capital, e.annualization)
    return total, bh


def member_return_correlation(au: AlignedUniverse, equity: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Pearson correlation of the members' UTC daily strategy returns (their NAV curves on the calendar)."""
    cols = [f"nav_{s}" for s in au.symbols]
    daily = equity.set_index("time")[cols].resample("1D").last().dropna(how="all").pct_change().iloc[1:]
    daily.columns = list(au.symbols)
    corr = daily.corr()
    return {a: {b: _fin(float(corr.loc[a, b])) for b in au.symbols} for a in au.symbols}


def run_portfolio_backtest(au: AlignedUniverse, spec: Spec, sizing: Sizing | None = None, *, record: bool = True,
                           member_costs: Mapping[str, Mapping[str, float]] | None = None,
                           member_params: Mapping[str, Mapping[str, Any]] | None = None,
                           extra_dir: Path | str | None = None) -> PortfolioResult:
    """Backtest `spec` on every member of `au` and size them into one portfolio (module docstring)."""
    sizing = sizing or Sizing()
    pkd = pack(au, spec, sizing, None, member_costs=member_costs, member_params=member_params, extra_dir=extra_dir)
    vec, mvec, pbar, mbar, trades, scales = pk.run_set(0, *pkd.args, True)
    e = spec.engine
    report = _report(vec, spec, au.times_ns, (e.commission_bps, e.slippage_bps), PORTFOLIO_SEMANTICS)
    bh_navs = member_buy_and_hold(au, spec, pkd.costs)
    basket_nav, basket = basket_buy_and_hold(au, spec, bh_navs)
    report = report.model_copy(update={"buy_and_hold": basket.versus(report)})
    members: dict[str, Report] = {}
    mmetrics: dict[str, dict[str, float]] = {}
    for i, (s, b) in enumerate(zip(au.symbols, au.bars, strict=True)):
        r = _report(mvec[i], spec, b.time_ns, (float(pkd.costs[i, 0]), float(pkd.costs[i, 1])), SEMANTICS)
        bh = buy_and_hold_from_nav(b.time_ns.view("datetime64[ns]"), bh_navs[i], e.initial_capital, e.annualization,
                                   versus=r)
        members[s] = r.model_copy(update={"buy_and_hold": bh})
        mmetrics[s] = metrics_dict(mvec[i])
    out = PortfolioResult(report=report, metrics=metrics_dict(vec), members=members, member_metrics=mmetrics,
                          consistency=consistency(mmetrics), correlation={}, basket=basket.numbers())
    if record:
        times = au.times()
        eq = {"time": times, "equity": pbar[:, pk.P_NAV], "cash": pbar[:, pk.P_CASH], "gross": pbar[:, pk.P_GROSS],
              "basket_buy_and_hold": basket_nav}
        for i, s in enumerate(au.symbols):
            eq[f"value_{s}"] = mbar[:, i, pk.MB_VALUE]
            eq[f"units_{s}"] = mbar[:, i, pk.MB_UNITS]
            eq[f"contrib_{s}"] = mbar[:, i, pk.MB_CONTRIB]
            eq[f"nav_{s}"] = mbar[:, i, pk.MB_NAV]
            eq[f"notional_{s}"] = mbar[:, i, pk.MB_NOTIONAL]
            eq[f"available_{s}"] = au.mask[i]
        out.equity = pd.DataFrame(eq)
        out.trades = _trades_frame(au, trades, scales)
        out.correlation = member_return_correlation(au, out.equity)
        final = out.equity.iloc[-1]
        out.attribution = pd.DataFrame({
            "symbol": list(au.symbols),
            "contribution": [float(final[f"contrib_{s}"]) for s in au.symbols],
            "final_value": [float(final[f"value_{s}"]) for s in au.symbols],
            "trades": [int(mmetrics[s]["trades"]) for s in au.symbols],
            "sharpe": [_fin(mmetrics[s]["sharpe"]) for s in au.symbols]})
    else:
        out.correlation = {}
    return out


def _trades_frame(au: AlignedUniverse, trades: list[np.ndarray], scales: list[np.ndarray]) -> pd.DataFrame:
    """Every member's closed trades (`engine.trades_frame`: the member's own numbers; bars here are calendar
    positions) with `pnl_portfolio` = pnl x the units held at the exit (portfolio currency)."""
    rows = []
    for s, b, ix, tr, sc in zip(au.symbols, au.bars, au.cal_index, trades, scales, strict=True):
        f = trades_frame(tr, b.time_ns)
        f["entry_bar"] = ix[f["entry_bar"].to_numpy()]
        f["exit_bar"] = ix[f["exit_bar"].to_numpy()]
        f.insert(0, "symbol", s)
        f.insert(f.columns.get_loc("exit_reason"), "pnl_portfolio", tr[:, T_PNL] * sc)
        rows.append(f)
    return pd.concat(rows, ignore_index=True).sort_values(["exit_bar", "symbol"], kind="stable").reset_index(drop=True)


def run_portfolio_sweep(au: AlignedUniverse, spec: Spec, param_sets: Sequence[Mapping[str, Any]],
                        sizing: Sizing | None = None, *, threads: int | None = None,
                        member_costs: Mapping[str, Mapping[str, float]] | None = None,
                        member_params: Mapping[str, Mapping[str, Any]] | None = None,
                        extra_dir: Path | str | None = None) -> pd.DataFrame:
    """Portfolio metrics of every parameter set (parameter sets x members in one compiled, parallel call).

    One row per set, in input order: the set's parameters, every portfolio metric, `psr`, `dsr` (n_trials =
    number of sets) and per member `sharpe__<symbol>`, `total_return__<symbol>`, `trades__<symbol>`, plus
    `carriers` (members with a positive Sharpe). Each row equals `run_portfolio_backtest` of that set."""
    if not param_sets:
        raise ValueError("param_sets is empty")
    sizing = sizing or Sizing()
    mat, mmat = sweep_matrices(au, spec, param_sets, sizing, threads=threads, member_costs=member_costs,
                               member_params=member_params, extra_dir=extra_dir)
    table = add_trial_statistics(pd.DataFrame(mat, columns=list(METRIC_NAMES)))
    per = {}
    for i, s in enumerate(au.symbols):
        per[f"sharpe__{s}"] = mmat[:, i, M["sharpe"]]
        per[f"total_return__{s}"] = mmat[:, i, M["total_return"]]
        per[f"trades__{s}"] = mmat[:, i, M["trades"]]
    sh = mmat[:, :, M["sharpe"]]
    per["carriers"] = np.sum(np.where(np.isfinite(sh), sh, -np.inf) > 0, axis=1)
    return pd.concat([pd.DataFrame([dict(p) for p in param_sets]), table, pd.DataFrame(per)], axis=1)


def sweep_matrices(au: AlignedUniverse, spec: Spec, param_sets: Sequence[Mapping[str, Any]], sizing: Sizing, *,
                   threads: int | None = None, member_costs: Mapping[str, Mapping[str, float]] | None = None,
                   member_params: Mapping[str, Mapping[str, Any]] | None = None,
                   extra_dir: Path | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(portfolio metrics n_sets x N_METRICS, member metrics n_sets x n_mem x N_METRICS) of the sweep."""
    pkd = pack(au, spec, sizing, param_sets, member_costs=member_costs, member_params=member_params,
               extra_dir=extra_dir, workers=threads or numba.get_num_threads())
    prev = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        if not sizing.dynamic:  # fixed sizing: member-major rounds (same numbers, bars stay in cache)
            with numba.parallel_chunksize(1):
                return pk.sweep_fixed(*pkd.fixed_args, *fixed_rounds(len(au), numba.get_num_threads()))
        with numba.parallel_chunksize(max(1, _SWEEP_CHUNK // max(1, au.n // 4))):
            return pk.sweep(*pkd.args)
    finally:
        numba.set_num_threads(prev)
