"""Metric definitions: the one owner of what every reported number means.

All return statistics are computed on **daily returns**: the NAV at the close of the last bar of each
UTC calendar day (by bar open time) over the previous such NAV (the first day over the initial
capital). Days without bars produce no return. With `basis` B (365 for 24/7 markets, 252 for exchange
calendars) and D daily returns, `years = D / B`.

- total_return = final NAV / initial - 1;  ann_return = (1 + total_return) ** (1 / years) - 1
  (-1 if NAV <= 0)
- ann_volatility = std(daily, ddof=1) * sqrt(B);  sharpe = mean(daily) / std(daily, ddof=1) * sqrt(B)
  (risk-free rate 0; the one definition and its degenerate cases: `auraquant.cta.backtest.sharpe`)
- sortino = mean(daily) / sqrt(mean(min(daily, 0)^2)) * sqrt(B)
- max_drawdown = min over bars of NAV_close / running max(initial, NAV_close) - 1 (<= 0)
- calmar = ann_return / |max_drawdown|
- trades = closed trades; win_rate = share with net pnl > 0; profit_factor = gross profit / gross loss
  (net of fees); expectancy = mean net pnl per trade (quote currency); avg_trade_return = mean of net
  pnl / entry notional
- exposure = share of bars holding a position at the close
- turnover = traded notional / mean NAV / years (NAV-multiples per year)
- var_95 = 5% quantile of daily returns (linear interpolation); cvar_95 = mean of daily returns <= var_95
- skew, kurtosis: population moments of daily returns (kurtosis is *not* excess; normal = 3)
- psr = probabilistic_sharpe_ratio of the daily Sharpe against 0.

Buy and hold (`BuyAndHold`, `buy_and_hold`): the same instrument held over the same bars with the strategy's
fill convention and costs, measured by the definitions above; every Report carries it and the excess.

**Ruin.** A run is ruined at the first checkpoint where its NAV is <= 0: after any fill (the account is
flat, NAV = cash) or at a bar's close (mark to market, before the decision); an excursion inside a bar
that recovers by its close is not ruin. The engine then liquidates at that close, closes the account at
NAV 0 and trades no more (see `auraquant.cta.backtest.engine`, rule 10). For a ruined run:
- ruined = 1 (else 0); ruin_bar = index of the ruin bar (else -1; the Report adds its UTC time);
- every later bar has NAV 0; the ruin day's daily return is 0 / previous day's NAV - 1 = -1, each later
  day returns 0 (no capital is left to gain or lose), so n_days is unchanged;
- total_return = -1, ann_return = -1, max_drawdown = -1, calmar = -1 / 1 = -1;
- sharpe and sortino are computed as above and then capped: min(value, 0) (NaN stays NaN). The daily
  Sharpe behind psr and dsr is capped the same way. A cap, not -inf: the number stays finite and
  comparable, never positive; searches rank ruined runs below every other run
  (`auraquant.cta.experiment.search.score`).

Undefined values (e.g. Sharpe with zero variance, profit factor without losses) are None in `Report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, Field
from scipy.special import ndtr, ndtri

from auraquant.canonical import ContentModel
from auraquant.cta.backtest.layout import (
    M_DAILY_MEAN,
    M_DAILY_STD,
    M_KURTOSIS,
    M_N_DAYS,
    M_RUINED,
    M_SKEW,
    METRIC_NAMES,
    M,
)
from auraquant.cta.backtest.sharpe import sharpe_ratio

_EULER_GAMMA = 0.5772156649015329


def probabilistic_sharpe_ratio(sharpe: ArrayLike, n_obs: ArrayLike, skew: ArrayLike, kurtosis: ArrayLike,
                               benchmark_sharpe: ArrayLike = 0.0) -> Any:
    """PSR (Bailey & Lopez de Prado 2012/2014): P[true SR > benchmark] given the observed SR.

    `sharpe` and `benchmark_sharpe` are per-observation (not annualized) Sharpe ratios over `n_obs`
    returns; `kurtosis` is the non-excess kurtosis (3 for a normal distribution).
    PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)).
    Accepts scalars (returns a float) or arrays (elementwise); undefined inputs give NaN.
    """
    sr, n, sk, ku, b = (np.asarray(x, dtype=float) for x in (sharpe, n_obs, skew, kurtosis, benchmark_sharpe))
    with np.errstate(invalid="ignore", divide="ignore"):
        den = 1.0 - sk * sr + (ku - 1.0) / 4.0 * sr**2
        z = (sr - b) * np.sqrt(n - 1.0) / np.sqrt(den)
        out = np.where((n >= 2) & (den > 0), ndtr(z), np.nan)
    return float(out) if out.ndim == 0 else out


def expected_max_sharpe(n_trials: int, trial_sharpe_variance: float) -> float:
    """E[max SR] of `n_trials` unskilled trials whose Sharpe ratios have variance `trial_sharpe_variance`:
    sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))), gamma = Euler-Mascheroni."""
    if n_trials < 2:
        return 0.0
    return float(math.sqrt(trial_sharpe_variance) * ((1 - _EULER_GAMMA) * ndtri(1 - 1 / n_trials)
                                                     + _EULER_GAMMA * ndtri(1 - 1 / (n_trials * math.e))))


def deflated_sharpe_ratio(sharpe: ArrayLike, n_obs: ArrayLike, skew: ArrayLike, kurtosis: ArrayLike,
                          n_trials: int, trial_sharpe_variance: float) -> Any:
    """DSR (Bailey & Lopez de Prado 2014): PSR against the expected maximum Sharpe of `n_trials` trials.

    All Sharpe ratios (observed and the variance across trials) are per-observation, not annualized.
    With one trial the DSR equals the PSR against 0. Scalars or arrays, like the PSR.
    """
    return probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis,
                                      expected_max_sharpe(n_trials, trial_sharpe_variance))


def _opt(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# -- buy and hold: the benchmark every result is shown beside -------------------------------------------------
BUY_AND_HOLD_SEMANTICS = (
    "buy and hold: long 1.0 x NAV of the same instrument over the same bars; entry with the strategy's fill "
    "convention (next_open: the open of the span's 2nd bar; same_close: the close of its 1st bar), exit at the "
    "close of its last bar; one entry and one exit, each with the strategy's commission and slippage; NAV "
    "marked at every close; metrics by the same code and daily basis as the strategy's")


class BuyAndHold(BaseModel):
    """Buy and hold of the strategy's instrument over the strategy's span, and the strategy's excess over it.

    Position: long, notional 1.0 x NAV at the entry (fully invested, no leverage), whatever the strategy's
    own sizing. Entry follows the strategy's fill convention: `next_open` (default) buys at the open of the
    span's second bar (the first fill a signal at the first close could get; a one-bar span never enters),
    `same_close` buys at the close of the first bar. The fill price is moved against the trade by the
    strategy's slippage and charged its commission, exactly as the engine fills a market entry (qty = NAV /
    fill price; the commission is paid from cash). The position is sold at the close of the last bar (close
    x (1 - slippage), minus commission), so the final NAV is net of both sides' costs, unlike a strategy
    position still open at the end (marked to market, no exit fee). Before the last bar the NAV is cash +
    qty x close, as the engine marks it.

    All return metrics come from that NAV curve through `nav_metrics` (UTC daily returns, the strategy's
    annualization basis): `sharpe` is the very statistic a backtest reports. Walk-forward runs buy and hold
    each target segment separately (an entry and an exit per segment) and stitch the segments exactly as
    the strategy's are stitched (`segments` > 1).

    Excess = strategy - buy and hold: `excess_return` (total return), `excess_sharpe` (annualized Sharpe)
    and `excess_max_drawdown` (> 0: the strategy's drawdown is shallower). None when either side is
    undefined (e.g. a zero-variance Sharpe) or the strategy was not given.
    """

    model_config = {"frozen": True, "extra": "forbid"}

    total_return: float | None
    ann_return: float | None
    ann_volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    n_days: int
    segments: int = Field(description="entries: 1 for a backtest, one per target segment of a walk-forward")
    excess_return: float | None = None
    excess_sharpe: float | None = None
    excess_max_drawdown: float | None = None

    def numbers(self) -> dict[str, float | None]:
        """The flat `{name: number}` form (archive records keep it inside the signed body)."""
        return {k: (float(v) if v is not None else None) for k, v in self.model_dump().items()}

    def versus(self, strategy: Any) -> BuyAndHold:
        """A copy with the excess of `strategy` (a mapping or model with total_return, sharpe, max_drawdown)."""
        get = strategy.get if hasattr(strategy, "get") else (lambda k: getattr(strategy, k, None))

        def diff(name: str) -> float | None:
            a, b = get(name), getattr(self, name)
            if a is None or b is None or not math.isfinite(float(a)) or not math.isfinite(b):
                return None
            return float(a) - b

        return self.model_copy(update={"excess_return": diff("total_return"), "excess_sharpe": diff("sharpe"),
                                       "excess_max_drawdown": diff("max_drawdown")})


class Report(ContentModel):
    """EvalReport: the metrics of one backtest plus the semantics they were computed under."""

    _id_prefix = "report"

    spec_id: str
    data_from: str
    data_to: str
    bars: int
    annualization_basis: int = Field(description="daily returns per year (365: 24/7, 252: exchange)")
    fill: str
    fill_optimistic: bool = Field(description="True for same-close fills (signal and fill at one price)")
    intrabar_policy: str
    commission_bps: float
    slippage_bps: float
    initial_capital: float
    open_position_at_end: bool
    semantics: str
    total_return: float | None
    ann_return: float | None
    ann_volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float | None
    trades: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    avg_trade_return: float | None
    exposure: float | None
    turnover: float | None
    var_95: float | None
    cvar_95: float | None
    daily_mean: float | None
    daily_std: float | None
    skew: float | None
    kurtosis: float | None
    n_days: int
    years: float | None
    final_nav: float | None
    final_position: float | None
    psr: float | None
    buy_and_hold: BuyAndHold | None = Field(None, description="the same instrument bought and held over the "
                                                              "same bars, and the strategy's excess over it")

    ruined: bool = Field(False, description="NAV reached <= 0: liquidated, NAV 0 afterwards (see metrics.py)")
    ruin_bar: int | None = Field(None, description="index of the ruin bar (None unless ruined)")
    ruin_time: str | None = Field(None, description="UTC open time of the ruin bar (None unless ruined)")


def metrics_dict(vec: np.ndarray) -> dict[str, float]:
    """Kernel metric vector -> {name: value} plus psr (against a zero Sharpe)."""
    out = {name: float(vec[i]) for i, name in enumerate(METRIC_NAMES)}
    out["psr"] = psr_from_vector(vec)
    return out


def daily_sharpe(vec: np.ndarray) -> float:
    """The per-day (non-annualized) Sharpe ratio behind a metric vector (`auraquant.cta.backtest.sharpe`:
    NaN when undefined, capped at 0 for a ruined run)."""
    return sharpe_ratio(vec[M_DAILY_MEAN], vec[M_DAILY_STD], vec[M_N_DAYS], ruined=vec[M_RUINED] > 0)


def psr_from_vector(vec: np.ndarray) -> float:
    return probabilistic_sharpe_ratio(daily_sharpe(vec), int(vec[M_N_DAYS]), float(vec[M_SKEW]),
                                      float(vec[M_KURTOSIS]))


def build_report(vec: np.ndarray, **context: object) -> Report:
    """A `Report` from a kernel metric vector and the run context (spec id, data span, engine settings)."""
    vals = metrics_dict(vec)
    body: dict[str, object] = {k: _opt(v) for k, v in vals.items()}
    body["trades"] = int(vals["trades"])
    body["n_days"] = int(vals["n_days"])
    body["ruined"] = bool(vals["ruined"] > 0)
    body["ruin_bar"] = int(vals["ruin_bar"]) if body["ruined"] else None
    body.update(context)
    return Report.model_validate(body)


EvalReport = Report
"""The design's name (EvalReport) for the same model."""

def table_daily_sharpe(table: Any) -> np.ndarray:
    """The per-day Sharpe ratio of each row of a metric table (columns daily_mean, daily_std, n_days and,
    when present, ruined): `auraquant.cta.backtest.sharpe`, NaN where undefined, capped at 0 for ruined rows.
    The trial Sharpe ratios every DSR variance, trial ledger and walk-forward summary are built from."""
    ruined = np.asarray(table["ruined"], dtype=np.float64) > 0 if "ruined" in table else False
    return np.asarray(sharpe_ratio(table["daily_mean"], table["daily_std"], table["n_days"], ruined=ruined),
                      dtype=np.float64)


def add_trial_statistics(table: Any) -> Any:
    """Add `psr` and `dsr` columns to a table of metric rows (one row per trial, e.g. a sweep): PSR against a
    zero Sharpe; DSR with n_trials = the number of rows and the variance of their daily Sharpe ratios."""
    mean, std, n_days, skew, kurt = (np.asarray(table[c], dtype=np.float64)
                                     for c in ("daily_mean", "daily_std", "n_days", "skew", "kurtosis"))
    daily_sr = table_daily_sharpe(table)
    table["psr"] = probabilistic_sharpe_ratio(daily_sr, n_days, skew, kurt)
    finite = daily_sr[np.isfinite(daily_sr)]
    var = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    table["dsr"] = deflated_sharpe_ratio(daily_sr, n_days, skew, kurt, len(table), var)
    return table


def rank_rows(table: Any, by: str) -> Any:
    """`table` (one metric row per run/trial) ordered best first: non-ruined rows by `by` descending (NaN
    last, ties in input order), then every ruined row (if the table has a `ruined` column) in the same
    order. The one ranking rule for tables of runs: ruin ranks last whatever the metric says."""
    keyed = table.assign(_ruined=(np.asarray(table["ruined"], dtype=np.float64) > 0) if "ruined" in table
                         else False)
    parts = [keyed[keyed["_ruined"] == r].sort_values(by, ascending=False, na_position="last", kind="stable")
             for r in (False, True)]
    return pd.concat(parts).drop(columns="_ruined")


RETURN_METRICS = ("total_return", "ann_return", "ann_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                  "var_95", "cvar_95", "daily_mean", "daily_std", "skew", "kurtosis", "n_days", "years", "final_nav",
                  "ruined")


def nav_metrics(times: ArrayLike, nav: ArrayLike, initial: float, basis: int) -> dict[str, float]:
    """The return metrics of this module's definitions for any NAV curve sampled at bar closes (e.g. a
    stitched out-of-sample curve), computed by the same compiled code as a backtest's. `times` are the bars'
    open times (UTC); trade-based metrics are not defined for a bare curve and are not returned."""
    from auraquant.cta.backtest.kernel import N_ACC, _finalize

    nav = np.asarray(nav, dtype=np.float64)
    if nav.size == 0:
        raise ValueError("nav_metrics needs at least one bar")
    day = np.asarray(times, dtype="datetime64[ns]").astype("datetime64[D]")
    last_of_day = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    closes = nav[last_of_day]
    prev = np.concatenate([[initial], closes[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        # after a ruin (NAV 0) a day returns 0, as in the kernel
        daily = np.where(prev > 0.0, closes / prev - 1.0, 0.0)
    peak = np.maximum.accumulate(np.concatenate([[initial], nav]))[1:]
    mdd = float(np.min(nav / peak - 1.0))
    broke = np.flatnonzero(nav <= 0.0)
    m = np.full(len(METRIC_NAMES), np.nan)
    # No trades on a bare curve: all-zero trade accumulators (the trade metrics are not returned).
    _finalize(m, daily, daily.size, float(initial), float(nav[-1]), float(basis), mdd, np.zeros(N_ACC), 0, nav.size,
              float(nav.sum()), 0.0, int(broke[0]) if broke.size else -1)
    return {name: float(m[M[name]]) for name in RETURN_METRICS}


EXCESS_METRICS = ("excess_return", "excess_sharpe")
"""The excess numbers offered to goals (`beats buy and hold`) next to a result's own metrics."""


def buy_and_hold_metrics(bh: BuyAndHold | Mapping[str, Any] | None) -> dict[str, float | None]:
    """The flat form shown beside a result's metrics (tool outputs, records' metrics, holdout scores):
    `bh_total_return`, `bh_sharpe`, `bh_max_drawdown`, `excess_return`, `excess_sharpe` (all None when there
    is no buy and hold). `bh` is a `BuyAndHold` or its dumped dict."""
    d: Mapping[str, Any] = {} if bh is None else (bh.model_dump() if isinstance(bh, BuyAndHold) else bh)
    out: dict[str, float | None] = {f"bh_{k}": d.get(k) for k in ("total_return", "sharpe", "max_drawdown")}
    out.update({k: d.get(k) for k in EXCESS_METRICS})
    return out


def buy_and_hold_nav(open_: ArrayLike, close: ArrayLike, *, fill: str, commission_bps: float,
                     slippage_bps: float, initial: float) -> np.ndarray:
    """The NAV at every bar close of buy and hold over these bars (see `BuyAndHold` for the convention)."""
    o = np.asarray(open_, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    n = c.size
    if n == 0 or o.size != n:
        raise ValueError("buy and hold needs open and close prices of the same, non-zero length")
    if fill not in ("next_open", "same_close"):
        raise ValueError(f"unknown fill convention {fill!r}")
    nav = np.full(n, float(initial))
    first = 1 if fill == "next_open" else 0
    if first >= n:  # next_open on one bar: no fill is possible inside the span
        return nav
    comm, slip = commission_bps * 1e-4, slippage_bps * 1e-4  # as `prepare` converts the engine settings
    # Same arithmetic, in the same order, as the kernel's market entry (`_open_position`, size 1.0): the
    # marks before the exit are bit-identical to an always-long Spec run through the engine.
    px = o[first] if fill == "next_open" else c[0]
    e_fill = px * (1.0 + slip)
    qty = 1.0 * initial / e_fill
    cash = initial - (qty * e_fill + qty * e_fill * comm)
    nav[first:] = cash + qty * c[first:]
    x_fill = c[-1] * (1.0 - slip)
    nav[-1] = cash + qty * x_fill - qty * x_fill * comm
    return nav


def buy_and_hold_from_nav(times: ArrayLike, nav: ArrayLike, initial: float, basis: int, *, segments: int = 1,
                          versus: Any = None) -> BuyAndHold:
    """`BuyAndHold` of a buy-and-hold NAV curve (one span, or stitched segments), with the excess of
    `versus` (the strategy's metrics) when given."""
    m = nav_metrics(times, nav, initial, basis)
    bh = BuyAndHold(total_return=_opt(m["total_return"]), ann_return=_opt(m["ann_return"]),
                    ann_volatility=_opt(m["ann_volatility"]), sharpe=_opt(m["sharpe"]), sortino=_opt(m["sortino"]),
                    max_drawdown=_opt(m["max_drawdown"]), n_days=int(m["n_days"]), segments=segments)
    return bh if versus is None else bh.versus(versus)


def buy_and_hold(times: ArrayLike, open_: ArrayLike, close: ArrayLike, *, fill: str = "next_open",
                 commission_bps: float = 0.0, slippage_bps: float = 0.0, initial: float = 10_000.0,
                 basis: int = 365, versus: Any = None) -> BuyAndHold:
    """Buy and hold over the bars `times` (UTC bar open times), `open_`, `close` with the strategy's engine
    settings; `versus` (the strategy's metrics) fills the excess. See `BuyAndHold`."""
    nav = buy_and_hold_nav(open_, close, fill=fill, commission_bps=commission_bps, slippage_bps=slippage_bps,
                           initial=initial)
    return buy_and_hold_from_nav(times, nav, initial, basis, versus=versus)
