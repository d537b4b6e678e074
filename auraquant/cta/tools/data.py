"""Data tools: versions, ingest (file, exchange, synthetic), slices with roles, features, timeframe alignment.

All of them go through `auraquant.cta.data.service` (the one owner of ingest and slicing); they only
shape compact, id-citing outputs. A stored DataVersion is qualified when its quality report has no errors
(ingest refuses errors, so every stored version qualifies; gaps and warnings are reported).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.cta.data import service
from auraquant.cta.data.access import HoldoutSealed, bar_times, visible_quality
from auraquant.cta.data.features import FeatureError, available_indicators
from auraquant.cta.data.models import DataSlice, DataVersion, FeatureSlice, SliceRole
from auraquant.cta.data.timeframes import TimeframeError
from auraquant.cta.tools import state
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.tools.preflight import qualified_data

CAT = "data"


class DataVersionSummary(BaseModel):
    id: str
    symbol: str
    timeframe: str
    bars: int
    first: datetime
    last: datetime
    source: str
    synthetic: bool
    qualified: bool
    gaps: int
    missing_bars: int
    warnings: list[str]


class SliceSummary(BaseModel):
    id: str
    data_version_id: str
    role: SliceRole
    start: datetime
    end: datetime
    bars: int


class DataVersionDetail(BaseModel):
    version: DataVersionSummary
    quality: dict[str, object]
    slices: list[SliceSummary]
    holdout_from: datetime | None = Field(description="bars from here on are sealed (None: no holdout)")
    holdout_bars: int = Field(0, description="how many bars are sealed (0: no holdout)")


class IngestResult(BaseModel):
    version: DataVersionSummary
    created: bool = Field(description="False when identical bars were already stored (same id)")


class FeatureSummary(BaseModel):
    id: str
    data_slice_id: str
    indicator: str
    params: dict[str, float | int | str | bool]
    timeframe: str | None
    columns: list[str]
    rows: int
    valid_rows: dict[str, int] = Field(description="non-NaN values per column (warm-up shows as NaN)")
    first_valid_time: dict[str, datetime | None]


def _summary(dv: DataVersion) -> DataVersionSummary:
    q = dv.quality
    return DataVersionSummary(id=dv.id, symbol=dv.symbol, timeframe=dv.timeframe, bars=dv.bars, first=dv.first,
                              last=dv.last, source=dv.source, synthetic=dv.source.startswith("synthetic"),
                              qualified=q.ok, gaps=q.gaps, missing_bars=q.missing_bars,
                              warnings=[f"{w.kind}: {w.count}" for w in q.warnings])


def _slice(ds: DataSlice) -> SliceSummary:
    return SliceSummary(id=ds.id, data_version_id=ds.data_version_id, role=ds.role, start=ds.start, end=ds.end,
                        bars=ds.bars)


def _feature(fs: FeatureSlice, values: pd.DataFrame) -> FeatureSummary:
    valid: dict[str, int] = {}
    first: dict[str, datetime | None] = {}
    for c in fs.columns:
        ok = values[c].notna().to_numpy()
        valid[c] = int(ok.sum())
        first[c] = pd.Timestamp(values["time"].iloc[int(np.argmax(ok))]).to_pydatetime() if ok.any() else None
    return FeatureSummary(id=fs.id, data_slice_id=fs.data_slice_id, indicator=fs.indicator, params=fs.params,
                          timeframe=fs.timeframe, columns=fs.columns, rows=len(values), valid_rows=valid,
                          first_valid_time=first)


@tool(category=CAT, timeout_s=30)
def data_version_list(ctx: Ctx, symbol: str | None = None, timeframe: str | None = None) -> list[DataVersionSummary]:
    """List stored data versions (optionally one symbol/timeframe), oldest first.

    Each entry is compact: id, span, bar count, source (synthetic data is flagged), whether it is
    qualified (no quality errors) and its gap count. Use data_version_show for the full quality report."""
    return [_summary(v) for v in ctx.deps.workspace.store.list_data_versions(symbol, timeframe)]


@tool(category=CAT, timeout_s=30)
def data_version_show(ctx: Ctx, data_version_id: str) -> DataVersionDetail:
    """One data version: summary, quality report (no example rows from the holdout), its slices, where the
    sealed holdout starts and how many bars it seals (a seal can come from the same bars imported before)."""
    store = ctx.deps.workspace.store
    dv = state.data_version(store, data_version_id)
    hold = state.holdout_start(store, dv.id)
    sealed = 0 if hold is None else int((bar_times(store, dv.id) >= hold).sum())
    return DataVersionDetail(version=_summary(dv), quality=visible_quality(store, dv).summary(),
                             slices=[_slice(s) for s in store.list_data_slices(dv.id)],
                             holdout_from=hold.to_pydatetime() if hold is not None else None, holdout_bars=sealed)


def _inside_workspace(ctx: Ctx, path: str) -> Path:
    root = ctx.deps.workspace.root.resolve()
    p = (root / path).resolve()
    if not p.is_relative_to(root):
        raise ToolFailure(f"{path} is outside the workspace {root}; copy the file into the workspace first")
    if not p.is_file():
        raise ToolFailure(f"no file {path} in the workspace")
    return p


@tool(category=CAT, timeout_s=300, exclusive=True)
def data_import(ctx: Ctx, path: str, symbol: str, timeframe: str,
                mapping: dict[str, str] | None = None) -> IngestResult:
    """Import a CSV or Parquet file of OHLCV bars (path relative to the workspace) as a DataVersion.

    `mapping` renames source columns to time/open/high/low/close/volume. The quality report is computed;
    data with errors is refused and nothing is stored. Identical bars always get the same id."""
    p = _inside_workspace(ctx, path)
    try:
        dv, created = service.import_file(ctx.deps.workspace.store, p, symbol=symbol, timeframe=timeframe,
                                          mapping=mapping)
    except (service.DataQualityError, TimeframeError, ValueError, KeyError) as exc:
        raise ToolFailure(str(exc)) from None
    return IngestResult(version=_summary(dv), created=created)


@tool(category=CAT, timeout_s=1800, exclusive=True)
def data_fetch(ctx: Ctx, exchange: str, symbol: str, timeframe: str, since: datetime | None = None,
               until: datetime | None = None) -> IngestResult:
    """Fetch closed bars from an exchange via CCXT (public endpoints, no keys) into a new DataVersion.

    Resumable: an interrupted fetch continues from its checkpoint; a repeated fetch only asks for bars
    after the last stored one and extends it. The first fetch of a symbol/timeframe needs `since`."""
    from auraquant.cta.data.ccxt_source import FetchError  # ccxt is slow to import: only when fetching

    try:
        dv, created = service.fetch(ctx.deps.workspace.store, exchange=exchange, symbol=symbol,
                                    timeframe=timeframe, since=since, until=until,
                                    exchange_options=ctx.deps.exchange_options, max_retries=2, backoff_s=0.5)
    except (service.DataQualityError, TimeframeError, ValueError, FetchError) as exc:
        raise ToolFailure(str(exc)) from None
    return IngestResult(version=_summary(dv), created=created)


@tool(category=CAT, timeout_s=120, exclusive=True)
def data_synth(ctx: Ctx, symbol: str = "SYNTH/USDT", timeframe: str = "1h",
               n: int = Field(17_520, ge=100, le=2_000_000), seed: int = 7) -> IngestResult:
    """Generate a clearly labelled synthetic DataVersion (regime-switching GARCH bars), seeded.

    Use it for smoke tests and demos only; never archive a strategy researched on synthetic data as if
    it were real. The source field says `synthetic:...`."""
    try:
        dv, created = service.synth(ctx.deps.workspace.store, symbol=symbol, timeframe=timeframe, n=n, seed=seed)
    except (TimeframeError, ValueError) as exc:
        raise ToolFailure(str(exc)) from None
    return IngestResult(version=_summary(dv), created=created)


@tool(category=CAT, timeout_s=60, preflight=[qualified_data()])
def data_slice_create(ctx: Ctx, data_version_id: str, role: SliceRole = "full", start: datetime | None = None,
                      end: datetime | None = None) -> SliceSummary:
    """Create (or find) a slice `[start, end)` of a data version with a research role.

    Roles: train, validation, target, holdout, full. A `holdout` slice must be the final segment of the
    data (leave `end` empty); from its start on, the data is sealed: backtests, sweeps and searches refuse
    to read it, and it is scored once, at freeze. The seal is declared on the data content, so a re-import of
    the same bars (any symbol, inside a larger file) is sealed too. Other slices may not reach into a declared
    holdout (pass an `end` at or before its start)."""
    store = ctx.deps.workspace.store
    dv = state.data_version(store, data_version_id)
    try:
        ds = service.make_slice(store, dv.id, start=start, end=end, role=role, declared_by="data_slice_create")
    except (ValueError, HoldoutSealed) as exc:
        raise ToolFailure(str(exc)) from None
    return _slice(ds)


@tool(category=CAT, timeout_s=30)
def data_slice_list(ctx: Ctx, data_version_id: str | None = None) -> list[SliceSummary]:
    """List data slices (optionally of one data version) with role, range and bar count."""
    store = ctx.deps.workspace.store
    if data_version_id is not None:
        state.data_version(store, data_version_id)
    return [_slice(s) for s in store.list_data_slices(data_version_id)]


def _features(ctx: Ctx, data_slice_id: str, indicator: str, params: dict[str, float | int | str | bool] | None,
              timeframe: str | None) -> FeatureSummary:
    store = ctx.deps.workspace.store
    ds = state.data_slice(store, data_slice_id)
    try:
        fs, values = service.make_features(store, ds.id, indicator, params, timeframe)
    except (FeatureError, TimeframeError, ValueError, HoldoutSealed) as exc:
        raise ToolFailure(str(exc)) from None
    return _feature(fs, values)


@tool(category=CAT, timeout_s=120)
def feature_slice_create(ctx: Ctx, data_slice_id: str, indicator: str,
                         params: dict[str, float | int | str | bool] | None = None) -> FeatureSummary:
    """Compute a pandas-ta indicator over a data slice as a cached, provenance-hashed FeatureSlice.

    Row i uses bars 0..i only. The result cites its id, columns and warm-up (first valid time per column);
    indicator_list shows the available indicator names."""
    return _features(ctx, data_slice_id, indicator, params, None)


@tool(category=CAT, timeout_s=120)
def timeframe_align(ctx: Ctx, data_slice_id: str, higher_timeframe: str, indicator: str = "ema",
                    params: dict[str, float | int | str | bool] | None = None) -> FeatureSummary:
    """An indicator computed on a higher timeframe and aligned onto the slice's bars on closed bars only.

    A higher bar opening at T is visible to a lower bar opening at t only once T + higher_tf <= t + lower_tf,
    so no value is ever seen before its higher-timeframe bar closes. Stored as a FeatureSlice."""
    return _features(ctx, data_slice_id, indicator, params, higher_timeframe)


@tool(category=CAT, timeout_s=10)
def indicator_list(contains: str | None = None) -> list[str]:
    """Names of the indicators feature_slice_create and timeframe_align accept (pandas-ta), optionally filtered."""
    names = available_indicators()
    return [n for n in names if contains is None or contains.lower() in n]


TOOLS = [data_version_list, data_version_show, data_import, data_fetch, data_synth, data_slice_create,
         data_slice_list, feature_slice_create, timeframe_align, indicator_list]
