"""How values are written on a tearsheet (display only: a percentage is the given fraction x 100)."""

from __future__ import annotations

import math
from datetime import datetime

from auraquant.cta.report.model import Metric


def fmt_pct(x: float | None, digits: int = 2, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"


def fmt_value(value: float | int | str | None, unit: str) -> str:
    """A metric value in its unit; None / NaN / inf are `n/a` (undefined, e.g. Sharpe of a flat curve)."""
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
    if unit == "count":
        return f"{x:,.0f}" if x == int(x) else f"{x:,.2f}"
    if unit == "money":
        return f"{x:,.2f}"
    if unit == "bps":
        return f"{x:g} bps"
    return f"{x:,.3f}" if abs(x) < 1e6 else f"{x:,.0f}"


def fmt_metric(m: Metric) -> str:
    return fmt_value(m.value, m.unit)


def fmt_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def sign_class(value: float | int | str | None, unit: str) -> str:
    """`pos` / `neg` for a value of unit `return`, '' otherwise (colours the cell, not the number)."""
    if unit != "return" or not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return "pos" if value > 0 else "neg" if value < 0 else ""
