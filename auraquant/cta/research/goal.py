"""A research goal as the human writes it, parsed into a market and metric thresholds.

Grammar (case-insensitive, clauses separated by commas, semicolons or " and "):

    [SYMBOL] [TIMEFRAME] METRIC OP NUMBER[%], METRIC OP NUMBER[%], ...

- SYMBOL: `BASE/QUOTE` (e.g. `BTC/USDT`); TIMEFRAME: `1m 5m 15m 30m 1h 4h 1d ...`. Both optional.
- UNIVERSE: bases joined by `/` whose last part is not a quote currency (`BTC/ETH`, `BTC/ETH/SOL`: each
  quoted in USDT), or several pairs (`BTC/USDT and ETH/USDT`). `ETH/BTC` stays a pair (BTC is a quote).
  The goal's thresholds then apply to the portfolio of the universe's members.
- `on each` / `on each of them` / `on every instrument` after a clause (or `on each of BTC/ETH`) puts that
  threshold on every member's own out-of-sample result (`Goal.each`) instead of the portfolio's.
- METRIC: sharpe, sortino, calmar, dsr, trades, win rate, total return, annual return, max drawdown
  (aliases: maxdd, max dd, dd, mdd, drawdown), excess sharpe, excess return (the strategy's minus buy and
  hold's over the same span, `auraquant.cta.backtest.metrics.BuyAndHold`; also written `sharpe over buy
  and hold`, `excess return vs B&H`).
- `beats buy and hold` (also beat/beating/outperforms, `B&H`, `buy-and-hold`) without a number means
  `excess_return >= 0` and `excess_sharpe >= 0`; `beats buy and hold on sharpe` / `on return` requires only
  that one. An explicit `excess ... OP NUMBER` clause overrides the bound it names.
- OP: `>=`, `>`, `=>`, `≥`, `<=`, `<`, `=<`, `≤`. Strict and inclusive comparisons are treated alike
  (thresholds are inclusive, as the archive applies them).
- NUMBER: a `%` suffix divides by 100 (`-15%` -> -0.15).

Drawdown is a negative number, and a drawdown bound always means "no worse than": `max drawdown >= -15%`,
`MaxDD <= -15%` (the seed README's wording) and `max drawdown 15%` all give `max_drawdown >= -0.15`.
A clause naming a metric no tool computes is kept in `unknown` (the loop reports it as a structural gap).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, Field

from auraquant.cta.governance.record import Threshold
from auraquant.errors import UserError

_METRICS: dict[str, str] = {
    "sharpe": "sharpe", "sharpe ratio": "sharpe", "sortino": "sortino", "calmar": "calmar", "dsr": "dsr",
    "deflated sharpe": "dsr", "trades": "trades", "win rate": "win_rate", "winrate": "win_rate",
    "total return": "total_return", "return": "total_return", "annual return": "ann_return",
    "annualized return": "ann_return", "cagr": "ann_return", "max drawdown": "max_drawdown",
    "maximum drawdown": "max_drawdown", "max dd": "max_drawdown", "maxdd": "max_drawdown",
    "mdd": "max_drawdown", "dd": "max_drawdown", "drawdown": "max_drawdown", "max_drawdown": "max_drawdown",
    "excess sharpe": "excess_sharpe", "sharpe excess": "excess_sharpe", "excess sharpe ratio": "excess_sharpe",
    "excess return": "excess_return", "excess total return": "excess_return", "return excess": "excess_return",
}
# "buy and hold" contains " and ", the clause separator: the phrase becomes one token before splitting.
_BUY_AND_HOLD = re.compile(r"\bbuy[\s_-]*(?:and|&|n)[\s_-]*hold\b|\bb\s*&\s*h\b", re.IGNORECASE)
_BNH = "bnh"
_VERSUS_BNH = re.compile(r"^(?:(?P<pre>.*?)\s+)?(?:over|vs\.?|versus|against|relative to|than)\s+bnh$")
_BEATS = re.compile(r"\b(?:beats?|beating|outperforms?|outperforming)\s+(?:the\s+)?bnh\b"
                    r"(?:\s+(?:on|in)\s+(?P<on>[a-z ]+?))?\s*(?=[,;·]|\band\b|$)", re.IGNORECASE)
_BEATS_ON = {"sharpe": ("excess_sharpe",), "sharpe ratio": ("excess_sharpe",), "return": ("excess_return",),
             "returns": ("excess_return",), "total return": ("excess_return",), None: ("excess_return",
                                                                                      "excess_sharpe")}
_SYMBOL = re.compile(r"\b([A-Za-z0-9]{2,12}(?:/[A-Za-z0-9]{2,12})+)\b")
# Quote currencies: `X/<quote>` is one market; a `/`-list ending in anything else is a list of bases.
QUOTES = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD", "DAI", "EUR", "GBP", "TRY", "BTC", "BNB"})
DEFAULT_QUOTE = "USDT"
_EACH = re.compile(r"\s+on\s+(?:each|every|all)(?:\s+of)?(?:\s+(?:them|the\s+(?:instruments|members|symbols|"
                   r"markets)|instruments?|members?|symbols?|markets?|assets?|coins?))?\s*$", re.IGNORECASE)
_TIMEFRAME = re.compile(r"(?<![\w.])(\d{1,3}[mhdw])\b", re.IGNORECASE)
_CLAUSE = re.compile(r"^\s*(?P<metric>[a-z_ ]+?)\s*(?P<op>>=|=>|≥|>|<=|=<|≤|<)?\s*(?P<num>[-+]?\d+(?:\.\d+)?)"
                     r"\s*(?P<pct>%)?\s*$", re.IGNORECASE)


class GoalError(UserError, ValueError):
    """The goal text has no threshold this parser understands."""


class Goal(BaseModel):
    """Where to research (`symbol`, `timeframe`; None = not stated) and the OOS thresholds to meet."""

    model_config = {"frozen": True}
    text: str
    symbol: str | None = None
    timeframe: str | None = None
    universe: list[str] | None = Field(None, description="members' symbols when the goal names several markets")
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    each: dict[str, Threshold] = Field(default_factory=dict, description="thresholds every member must meet")
    unknown: list[str] = Field(default_factory=list, description="clauses naming no computed metric")

    def as_archive_goal(self) -> dict[str, dict[str, float]]:
        """The `goal` argument of the `archive_candidate` tool."""
        return {k: t.model_dump(exclude_none=True) for k, t in self.thresholds.items()}

    def failures(self, metrics: dict[str, Any]) -> list[str]:
        """Which thresholds `metrics` misses (a missing or non-finite metric misses); [] = goal met.
        `each` thresholds are checked on `metrics["members"]` ({symbol: metrics}), every member."""
        out = _misses(self.thresholds, metrics)
        if self.each:
            members = metrics.get("members")
            if not isinstance(members, dict) or not members:
                out.append("per-member results are not available")
            else:
                for sym, mm in members.items():
                    out.extend(f"{sym}: {x}" for x in _misses(self.each, mm if isinstance(mm, dict) else {}))
        return out

    def met(self, metrics: dict[str, Any]) -> bool:
        return bool(self.thresholds or self.each) and not self.failures(metrics)

    @property
    def market(self) -> str | None:
        """The goal's market as written in messages: `BTC/USDT`, or a universe's members joined by `+`."""
        return "+".join(self.universe) if self.universe else self.symbol

    def describe(self) -> str:
        """One line: `BTC/USDT 1h · sharpe >= 1.2 · max_drawdown >= -0.15`."""
        market = self.market
        parts = [" ".join(p for p in (market, self.timeframe) if p)] if (market or self.timeframe) else []
        parts += _describe(self.thresholds)
        parts += [f"each {x}" for x in _describe(self.each)]
        return " · ".join(parts)


def _describe(thresholds: dict[str, Threshold]) -> list[str]:
    parts = []
    for name, t in thresholds.items():
        if t.min is not None:
            parts.append(f"{name} >= {t.min:g}")
        if t.max is not None:
            parts.append(f"{name} <= {t.max:g}")
    return parts


def _misses(thresholds: dict[str, Threshold], metrics: dict[str, Any]) -> list[str]:
    out = []
    for name, t in thresholds.items():
        v = metrics.get(name)
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            out.append(f"{name} is not available")
        elif t.min is not None and v < t.min:
            out.append(f"{name}={v:.4g} < {t.min:.4g}")
        elif t.max is not None and v > t.max:
            out.append(f"{name}={v:.4g} > {t.max:.4g}")
    return out


def parse_goal(text: str) -> Goal:
    """Parse `text` (see the module docstring). Raises `GoalError` when no threshold is found."""
    rest = text
    symbol = None
    markets: list[str] = []
    for m in reversed(list(_SYMBOL.finditer(rest))):
        parts = m.group(1).upper().split("/")
        if len(parts) == 2 and parts[1] in QUOTES:
            markets.insert(0, "/".join(parts))
        else:
            markets[:0] = [f"{p}/{DEFAULT_QUOTE}" for p in parts]
        rest = rest[: m.start()] + " " + rest[m.end():]
    markets = list(dict.fromkeys(markets))
    universe = markets if len(markets) > 1 else None
    if len(markets) == 1:
        symbol = markets[0]
    timeframe = None
    m = _TIMEFRAME.search(rest)
    if m:
        timeframe = m.group(1).lower()
        rest = rest[: m.start()] + " " + rest[m.end():]
    thresholds: dict[str, Threshold] = {}
    each: dict[str, Threshold] = {}
    unknown: list[str] = []
    rest = _BUY_AND_HOLD.sub(_BNH, rest)
    for bm in _BEATS.finditer(rest):
        on = " ".join(bm.group("on").lower().split()) if bm.group("on") else None
        if on not in _BEATS_ON:
            unknown.append(bm.group(0).strip())
            continue
        for name in _BEATS_ON[on]:
            thresholds[name] = _merge(thresholds.get(name), Threshold(min=0.0))
    rest = _BEATS.sub(" ", rest)
    for raw in re.split(r"[,;·]|\band\b", rest, flags=re.IGNORECASE):
        clause = raw.strip()
        if not clause:
            continue
        em = _EACH.search(" " + clause)
        target = thresholds
        if em is not None:
            clause = (" " + clause)[: em.start()].strip()
            target = each
        cm = _CLAUSE.match(clause)
        if cm is None:
            if re.search(r"\d", clause):
                unknown.append(clause)
            continue
        name = _metric_name(cm.group("metric"))
        if name is None:
            name = _METRICS.get(cm.group("metric").strip().lower())
        if name is None:
            unknown.append(clause)
            continue
        value = float(cm.group("num")) / (100.0 if cm.group("pct") else 1.0)
        target[name] = _merge(target.get(name), _bound(name, cm.group("op") or ">=", value))
    if not thresholds and not each:
        raise GoalError(f"no metric threshold in {text!r}; write e.g. 'BTC/USDT 1h Sharpe >= 1.2, "
                        "max drawdown >= -15%'")
    unknown = [u.replace(_BNH, "buy and hold") for u in unknown]
    return Goal(text=text.strip(), symbol=symbol, timeframe=timeframe, universe=universe, thresholds=thresholds,
                each=each, unknown=unknown)


def _metric_name(text: str) -> str | None:
    """The metric a clause names (None: unknown). `X over buy and hold` names the excess of X."""
    words = " ".join(text.lower().replace("_", " ").split())
    vm = _VERSUS_BNH.match(words)
    if vm is None:
        return _METRICS.get(words)
    base = _METRICS.get(vm.group("pre") or "")
    if base in ("sharpe", "total_return"):
        return "excess_sharpe" if base == "sharpe" else "excess_return"
    return base if base in ("excess_sharpe", "excess_return") else None


def _bound(name: str, op: str, value: float) -> Threshold:
    if name == "max_drawdown":  # "no worse than", whatever the operator's direction
        return Threshold(min=-abs(value))
    if op in (">=", "=>", "≥", ">"):
        return Threshold(min=value)
    return Threshold(max=value)


def _merge(old: Threshold | None, new: Threshold) -> Threshold:
    if old is None:
        return new
    return Threshold(min=new.min if new.min is not None else old.min,
                     max=new.max if new.max is not None else old.max)
