"""Where the tool surface keeps its research objects in the workspace store (kinds and namespaces), and the
small typed lookups every tool group shares. One owner for these names: tools never spell them inline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from aura.tools import ToolFailure
from auraquant.cta.data import access
from auraquant.cta.data.models import DataSlice, DataVersion
from auraquant.cta.data.timeframes import to_utc
from auraquant.cta.experiment.gates import GateConfig, GatesConfigError, load_gates
from auraquant.cta.strategy.spec import Spec
from auraquant.store import NotFound, Store

SPEC = "spec"
REPORT = "report"
BACKTEST = "backtest"
#: memory namespaces
SPEC_DATA = "spec_data"  # spec id -> the qualified data version it was written for
AGENT_STATE = "agent_state"
ITER_STATE = "iter_state"
RESEARCH_MEMORY = "research"
PATTERNS = "patterns"


def data_version(store: Store, dv_id: str) -> DataVersion:
    try:
        return store.get_data_version(dv_id)
    except NotFound:
        raise ToolFailure(f"no data version {dv_id!r}; call data_version_list to see what exists") from None


def data_slice(store: Store, ds_id: str) -> DataSlice:
    try:
        return store.get_data_slice(ds_id)
    except NotFound:
        raise ToolFailure(f"no data slice {ds_id!r}; call data_slice_list or data_slice_create") from None


def spec(store: Store, spec_id: str) -> Spec:
    try:
        return store.get_object(SPEC, spec_id, Spec)
    except NotFound:
        raise ToolFailure(f"no persisted Spec {spec_id!r}; call spec_put first (spec_list shows stored ones)") \
            from None


def has_spec(store: Store, spec_id: str) -> bool:
    try:
        store.get_object(SPEC, spec_id, Spec)
    except NotFound:
        return False
    return True


def spec_data_version(store: Store, spec_id: str) -> str | None:
    body: Any = store.memory_get(SPEC_DATA, spec_id)
    return body["data_version_id"] if body else None


def holdout_start(store: Store, dv_id: str) -> pd.Timestamp | None:
    """Start of the sealed holdout of `dv_id` (None when there is none); see `auraquant.cta.data.access`.

    Everything from there on is sealed: search, backtests and selection never read it."""
    return access.holdout_start(store, dv_id)


utc = to_utc


def gates(config_dir: Path) -> GateConfig:
    """The workspace's significance gates (`.aura/config/gates.json`); an invalid file is a tool error."""
    try:
        return load_gates(config_dir)
    except GatesConfigError as exc:
        raise ToolFailure(f"{exc}; fix or delete the file (defaults apply without it)") from None


def research_bars(store: Store, dv_id: str, start: datetime | str | None = None,
                  end: datetime | str | None = None) -> pd.DataFrame:
    """Bars of `dv_id` in `[start, end)` through the data access layer: an open end stops at the sealed
    holdout, a range reaching into it is refused (the `holdout_untouched` pre-flight says so earlier)."""
    try:
        bars = access.research_bars(store, dv_id, utc(start), utc(end))
    except access.HoldoutSealed as exc:
        raise ToolFailure(str(exc)) from None
    if len(bars) < 2:
        raise ToolFailure(f"fewer than 2 bars of {dv_id} in [{start}, {end}); widen the range")
    return bars
