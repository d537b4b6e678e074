"""How values are written on a tearsheet (display only: a percentage is the given fraction x 100).

Units: `return` / `pct` -> percent with 2 decimals (returns, drawdowns, volatility, win rate, exposure);
`ratio` -> plain number with 2 decimals (Sharpe, Sortino, Calmar, profit factor); `prob` -> a probability or
p-value with 3 decimals, written `< 0.001` / `> 0.999` beyond them (a DSR of 1.9e-40 means "no evidence",
never a number in scientific notation); `count` -> thousands separators; `money` -> 2 decimals with
separators; `raw` (the appendix) -> 6 significant digits. None, NaN and inf are `n/a` (undefined, e.g. the Sharpe of a flat curve).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from auraquant.cta.report.model import Metric


def fmt_pct(x: float | None, digits: int = 2, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"


def fmt_prob(x: float | None) -> str:
    """A probability in [0, 1]: 3 decimals, `< 0.001` and `> 0.999` at the ends."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x < 0.001:
        return "< 0.001"
    if x > 0.999:
        return "> 0.999"
    return f"{x:.3f}"


def fmt_ratio(x: float | None, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:,.{digits}f}" if abs(x) < 1e6 else f"{x:,.0f}"


def fmt_value(value: float | int | str | None, unit: str) -> str:
    """A metric value in its unit (see the module docstring)."""
    if value is None:
        return "n/a"
    if isinstance(value, str) or unit == "text":
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    x = float(value)
    if not math.isfinite(x):
        return "n/a"
    if unit in ("pct", "return"):
        return fmt_pct(x)
    if unit == "prob":
        return fmt_prob(x)
    if unit == "count":
        return f"{x:,.0f}" if x == int(x) else f"{x:,.2f}"
    if unit == "money":
        return f"{x:,.2f}"
    if unit == "bps":
        return f"{x:g} bps"
    if unit == "raw":  # the appendix: the stored value at full useful precision
        return str(value) if isinstance(value, int) else f"{x:.6g}"
    return fmt_ratio(x)


def fmt_metric(m: Metric) -> str:
    return fmt_value(m.value, m.unit)


def fmt_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def fmt_duration(d: timedelta) -> str:
    """A holding or drawdown length for people: `3d 4h`, `5h`, `45m`, `12d`."""
    minutes = int(round(d.total_seconds() / 60))
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    if days >= 10:
        return f"{days + (1 if hours >= 12 else 0):,}d"
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def sign_class(value: float | int | str | None, unit: str) -> str:
    """`pos` / `neg` for a value of unit `return`, '' otherwise (colours the cell, not the number)."""
    if unit != "return" or not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return "pos" if value > 0 else "neg" if value < 0 else ""
