"""Typed audit records of the decisions the kernel took (persisted objects, see AGENTS.md §1).

The engine keeps them as columnar DataFrames (millions of bars stay cheap); these models are the
typed row form for the store and the tool surface: `filter_decisions(df)` / `risk_decisions(df)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel

FILTER_COLUMNS = ("bar", "time", "filter", "direction", "passed", "reason")
RISK_COLUMNS = ("bar", "time", "direction", "approved", "size", "reason")


class FilterDecision(BaseModel):
    """One filter's verdict on an entry candidate at the close of `bar`."""

    model_config = {"frozen": True}
    bar: int
    time: datetime
    filter: str
    direction: Literal[-1, 1]
    passed: bool
    reason: str


class RiskDecision(BaseModel):
    """The risk layer's verdict on a candidate that passed every filter; `size` = notional / NAV."""

    model_config = {"frozen": True}
    bar: int
    time: datetime
    direction: Literal[-1, 1]
    approved: bool
    size: float | None
    reason: str


def filter_decisions(frame: pd.DataFrame) -> list[FilterDecision]:
    return [FilterDecision(**{k: (None if pd.isna(v) else v) for k, v in row.items()})
            for row in frame.to_dict("records")]


def risk_decisions(frame: pd.DataFrame) -> list[RiskDecision]:
    return [RiskDecision(**{k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()})
            for row in frame.to_dict("records")]
