"""`TearsheetData`: everything a tearsheet shows, as typed input. The page renders it; it computes nothing.

Every number on the page is either a value given here (metrics are displayed as given) or a presentation
transform of the given equity curve (drawdown curve, monthly returns table; see
`auraquant.cta.report.transforms`). Times are timezone-aware UTC; naive datetimes are read as UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

MetricUnit = Literal["return", "pct", "ratio", "prob", "count", "money", "bps", "text", "raw"]
# The metric groups of the page, in display order (`raw` entries go to the collapsed appendix only).
MetricGroup = Literal["return", "risk", "trades", "benchmark", "robustness", "holdout", "other"]
VerdictLevel = Literal["good", "weak", "bad", "none"]
TearsheetKind = Literal["backtest", "run", "record", "universe_run"]


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class _Frozen(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}


class EquityCurve(_Frozen):
    """NAV at each time (bar close marks), strictly increasing times, at least two points.

    `initial` is the capital before the first mark: drawdowns measure from running max(initial, NAV) and the
    first month's return from `initial` (as the engine's metrics do). None means the first NAV.
    """

    times: list[datetime]
    nav: list[float]
    initial: float | None = Field(None, gt=0)

    _utc_times = field_validator("times")(lambda v: [_utc(t) for t in v])

    @model_validator(mode="after")
    def _consistent(self) -> EquityCurve:
        if len(self.times) != len(self.nav):
            raise ValueError(f"equity has {len(self.times)} times but {len(self.nav)} NAV values")
        if len(self.times) < 2:
            raise ValueError("an equity curve needs at least two points")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError("equity times must be strictly increasing")
        if not all(math.isfinite(x) for x in self.nav):
            raise ValueError("equity NAV contains NaN or inf")
        return self


class OOSWindow(_Frozen):
    """An out-of-sample (target) segment [start, end), shaded on the equity and drawdown charts.

    For a walk-forward window: `params` are the parameters the search chose on its train segment (they
    traded this target segment), `train_score` / `validation_score` the objective's values there and
    `n_trials` the trials the window's search evaluated."""

    start: datetime
    end: datetime
    label: str = ""
    params: dict[str, int | float] = Field(default_factory=dict)
    train_score: float | None = None
    validation_score: float | None = None
    n_trials: int | None = None

    _utc_bounds = field_validator("start", "end")(lambda v: _utc(v))

    @model_validator(mode="after")
    def _ordered(self) -> OOSWindow:
        if self.end <= self.start:
            raise ValueError(f"OOS window {self.label!r} ends before it starts")
        return self


class Trade(_Frozen):
    """A closed trade: side +1 long / -1 short, net pnl (quote), `ret` = net pnl / entry notional.

    `mae` / `mfe` (maximum adverse / favourable excursion, fractions of the entry price, `mae` <= 0 <= `mfe`)
    are derived from the bars by `transforms.trade_excursions`; None when no bars were available."""

    entry_time: datetime
    exit_time: datetime
    side: Literal[-1, 1]
    pnl: float
    ret: float
    exit_reason: str
    entry_price: float | None = None
    exit_price: float | None = None
    mae: float | None = None
    mfe: float | None = None

    _utc_times = field_validator("entry_time", "exit_time")(lambda v: _utc(v))


class MonteCarloFan(_Frozen):
    """Quantile paths of simulated equity (1.0 = start) over `x` (step index or times), one path per quantile.

    `quantiles` maps a probability in (0, 1) to its path; symmetric pairs (q, 1 - q) are drawn as bands and
    0.5 as the median line. `observed` is the realised path on the same x, if any.
    """

    method: str
    n_sims: int = Field(gt=0)
    seed: int
    x: list[int] | list[datetime]
    x_label: str = "trade #"
    quantiles: dict[float, list[float]]
    observed: list[float] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> MonteCarloFan:
        n = len(self.x)
        if n < 2:
            raise ValueError("a Monte Carlo fan needs at least two steps")
        for q, path in self.quantiles.items():
            if not 0.0 < q < 1.0:
                raise ValueError(f"quantile {q} is not in (0, 1)")
            if len(path) != n:
                raise ValueError(f"quantile {q} path has {len(path)} values for {n} steps")
        if not self.quantiles:
            raise ValueError("a Monte Carlo fan needs at least one quantile path")
        if self.observed is not None and len(self.observed) != n:
            raise ValueError(f"observed path has {len(self.observed)} values for {n} steps")
        return self


class Metric(_Frozen):
    """A metric as computed elsewhere. `unit` only chooses the display: `return` and `pct` show a fraction as a
    percentage (0.153 -> 15.30%), `return` also colours it by sign (gains green, losses red); `prob` is a
    probability or p-value (3 decimals, `< 0.001` below that). `group` is the metrics card it is listed in;
    `verdict`, when set, is a plain sentence on what the value means (`auraquant.cta.report.verdicts`)."""

    name: str
    value: float | int | str | None
    unit: MetricUnit = "ratio"
    group: MetricGroup = "other"
    verdict: str | None = None
    level: VerdictLevel = "none"
    key: str = Field("", description="stable machine name (DOM `data-metric`); defaults to the name")


class Overlay(_Frozen):
    """An indicator line drawn on the price chart: one value per price bar (None where undefined)."""

    name: str
    values: list[float | None]


class PriceChart(_Frozen):
    """Close prices over the equity span with the Spec's price-scale indicators (`overlays`), computed from
    the stored bars (`caption` says how). Trades' entries and exits are drawn from `TearsheetData.trades`."""

    symbol: str = ""
    times: list[datetime]
    close: list[float]
    overlays: list[Overlay] = Field(default_factory=list)
    caption: str = ""

    _utc_times = field_validator("times")(lambda v: [_utc(t) for t in v])

    @model_validator(mode="after")
    def _aligned(self) -> PriceChart:
        n = len(self.times)
        if len(self.close) != n or any(len(o.values) != n for o in self.overlays):
            raise ValueError("price chart: close and every overlay need one value per time")
        return self


class HoldoutSegment(_Frozen):
    """The sealed holdout at the end of the data [start, end]: drawn as a labelled band after the equity.

    `scored` is False while it is sealed (nothing about its bars is shown); once a frozen record scored it,
    `label` carries the result and `metrics` its numbers (the curve itself is never redrawn: reading the
    holdout bars is the one audited read at freeze)."""

    start: datetime
    end: datetime
    scored: bool = False
    label: str = "sealed holdout"
    metrics: list[Metric] = Field(default_factory=list)

    _utc_bounds = field_validator("start", "end")(lambda v: _utc(v))


class InstrumentRow(_Frozen):
    """One row of the per-instrument table: an instrument's (or the portfolio's) out-of-sample figures as the
    run stored them. `bh_total_return` is buy and hold of that instrument (the equal-weight basket for the
    portfolio row) over the same span; None where the source did not store it."""

    symbol: str
    sharpe: float | None = None
    total_return: float | None = None
    max_drawdown: float | None = None
    trades: int | None = None
    bh_total_return: float | None = None


class UniverseView(_Frozen):
    """The cross-instrument part of a universe tearsheet: each member beside the portfolio, how many members
    carry the edge (`carriers` of `members` with `metric` > `threshold`), and the correlation of the members'
    daily returns (`correlation[a][b]`, None where undefined; symmetric, in `members` order)."""

    members: list[InstrumentRow]
    portfolio: InstrumentRow
    carriers: int = Field(ge=0)
    carrier_symbols: list[str] = Field(default_factory=list)
    metric: str = "sharpe"
    threshold: float = 0.0
    correlation: dict[str, dict[str, float | None]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> UniverseView:
        names = [m.symbol for m in self.members]
        if self.carriers > len(names) or any(s not in names for s in self.carrier_symbols):
            raise ValueError("carriers must be members of the universe")
        if any(a not in names or set(row) - set(names) for a, row in self.correlation.items()):
            raise ValueError("the correlation matrix names an instrument that is not a member")
        return self


class TearsheetData(_Frozen):
    """The complete input of one tearsheet (see the module docstring for what the page may derive)."""

    title: str
    subtitle: str = ""
    ids: dict[str, str] = Field(default_factory=dict, description="cited ids, e.g. run / spec / data version")
    equity: EquityCurve
    benchmark: EquityCurve | None = Field(None, description="buy and hold of the same instrument, marked at "
                                          "the very times of `equity` (drawn beside it)")
    benchmark_label: str = "buy and hold"
    oos_windows: list[OOSWindow] = Field(default_factory=list)
    trades: list[Trade] = Field(default_factory=list)
    monte_carlo: MonteCarloFan | None = None
    metrics: list[Metric] = Field(default_factory=list)
    headline: list[str] = Field(default_factory=list, description="metric names shown as cards on top; "
                                "empty = the first six metrics")
    kind: TearsheetKind = "backtest"
    holdout: HoldoutSegment | None = None
    price: PriceChart | None = None
    param_space: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="search-space bounds per parameter (scales the stability heatmap)")
    raw: list[Metric] = Field(default_factory=list, description="every raw value, for the collapsed appendix")
    annualization_basis: int | None = None
    fill_policy: str = ""
    intrabar_policy: str = ""
    context: dict[str, str] = Field(default_factory=dict, description="further settings stated on the page")
    notes: list[str] = Field(default_factory=list)
    universe: UniverseView | None = Field(None, description="per-instrument results, consistency and correlation "
                                          "of a multi-instrument run")

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_from_mapping(cls, v: object) -> object:
        """Also accept an ordered mapping name -> value (unit `ratio`) or name -> (value, unit)."""
        if isinstance(v, dict):
            return [{"name": k, "value": x[0], "unit": x[1]} if isinstance(x, tuple)
                    else {"name": k, "value": x} for k, x in v.items()]
        return v

    @model_validator(mode="after")
    def _benchmark_on_the_same_marks(self) -> TearsheetData:
        if self.benchmark is not None and self.benchmark.times != self.equity.times:
            raise ValueError("the benchmark curve must be marked at the same times as the equity curve")
        return self

    @model_validator(mode="after")
    def _headline_known(self) -> TearsheetData:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate metric names: {names}")
        missing = [h for h in self.headline if h not in names]
        if missing:
            raise ValueError(f"headline metrics not in metrics: {missing}")
        return self

    def headline_metrics(self) -> list[Metric]:
        by_name = {m.name: m for m in self.metrics}
        return [by_name[h] for h in self.headline] if self.headline else self.metrics[:6]
