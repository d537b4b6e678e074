"""Data operations on a workspace store: ingest (file, synthetic, exchange), slices, features.

Bars are read through `auraquant.cta.data.access` (the sealed holdout is enforced there); every ingest goes
through `ingest_frame`: parse -> quality assessment -> refuse on errors (nothing written) ->
content-addressed DataVersion (same bars => same id, stored once).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from auraquant.canonical import content_id
from auraquant.content_hash import bars_content_hash
from auraquant.cta.data import access, synthetic
from auraquant.cta.data.ingest import normalize, read_table
from auraquant.cta.data.models import DataSlice, DataVersion, FeatureSlice, QualityReport, SliceRole
from auraquant.cta.data.quality import ROW, assess
from auraquant.cta.data.staging import checkpoint_dir, remove_stale_temp_files, server_of
from auraquant.cta.data.timeframes import timeframe_delta, timeframe_ms, to_utc
from auraquant.errors import UserError
from auraquant.store import NotFound, Store, write_parquet_atomic


class DataQualityError(UserError, ValueError):
    """The bars have errors that no safe repair fixes. Carries the full report; nothing was stored."""

    def __init__(self, report: QualityReport) -> None:
        self.report = report
        lines = [f"{e.kind}: {e.message} ({e.count}); e.g. {e.examples[:2]}" for e in report.errors]
        super().__init__("refused: the data has errors, nothing was stored\n  " + "\n  ".join(lines))


def ingest_frame(store: Store, frame: pd.DataFrame, *, symbol: str, timeframe: str, source: str,
                 exchange: str | None = None) -> tuple[DataVersion, bool]:
    """Assess and store a normalized frame. Returns (version, created); raises DataQualityError on errors."""
    timeframe_ms(timeframe)
    if ROW not in frame.columns:
        frame = frame.assign(**{ROW: range(len(frame))})
    if frame.empty:
        raise ValueError(f"no bars to store for {symbol} {timeframe}")
    bars, report = assess(frame, timeframe, market_time_range=not source.startswith("synthetic:"))
    if report.errors:
        raise DataQualityError(report)
    dv = DataVersion(
        symbol=symbol, timeframe=timeframe, content_hash=bars_content_hash(bars), bars=len(bars),
        first=bars["time"].iloc[0].to_pydatetime(), last=bars["time"].iloc[-1].to_pydatetime(),
        source=source, exchange=exchange, quality=report, created_at=datetime.now(UTC))
    return store.put_data_version(dv, bars)


def import_file(store: Store, path: str | Path, *, symbol: str, timeframe: str,
                mapping: Mapping[str, str] | None = None) -> tuple[DataVersion, bool]:
    frame = normalize(read_table(path), mapping, symbol=symbol)
    return ingest_frame(store, frame, symbol=symbol, timeframe=timeframe, source=f"file:{Path(path).name}")


def synth(store: Store, *, symbol: str = "SYNTH/USDT", timeframe: str = "1h", n: int = 17_520, seed: int = 7,
          start: str = "2022-01-01") -> tuple[DataVersion, bool]:
    bars = synthetic.generate(n, seed=seed, timeframe=timeframe, start=start)
    return ingest_frame(store, bars, symbol=symbol, timeframe=timeframe,
                        source=f"synthetic:regime-garch(seed={seed},n={n})")


def synth_universe(store: Store, *, n_instruments: int = 4, timeframe: str = "1h", n: int = 17_520, seed: int = 7,
                   correlation: float = 0.5, start: str = "2022-01-01") -> list[DataVersion]:
    """Ingest `n_instruments` correlated SYNTHETIC series (`synthetic.generate_correlated`, symbols
    `SYNnn/USDT`, source `synthetic:correlated(...)`): data for a universe in tests and the demo."""
    frames = synthetic.generate_correlated(n_instruments, n, seed=seed, timeframe=timeframe, start=start,
                                           correlation=correlation)
    source = f"synthetic:correlated(seed={seed},n={n},k={n_instruments},rho={correlation:g})"
    return [ingest_frame(store, f, symbol=sym, timeframe=timeframe, source=source)[0] for sym, f in frames.items()]


def fetch(store: Store, *, exchange: str, symbol: str, timeframe: str, since: datetime | None,
          until: datetime | None = None, exchange_options: dict[str, Any] | None = None,
          progress: Callable[[int, int | None], None] | None = None, max_retries: int = 5,
          backoff_s: float = 1.0) -> tuple[DataVersion, bool]:
    """Fetch closed bars from an exchange via CCXT into a new DataVersion.

    Resumable twice over: pages are checkpointed to `.aura/data/staging/` as they arrive (an interrupted fetch
    continues after its last checkpointed bar when repeated with the same server, symbol, timeframe and
    `since`, see `staging.checkpoint_dir`; temp files of dead writers are removed first), and when an earlier
    version of the same exchange/server/symbol/timeframe exists, only bars after its last bar are requested
    and the result extends it. The version's source is `ccxt:<exchange>`, with `@<server>` appended when the
    API root is overridden, so bars of a mirror or testnet never extend the real exchange's (or each other's).
    """
    from auraquant.cta.data.ccxt_source import fetch_ohlcv  # ccxt is slow to import; only load it when used

    step = timeframe_ms(timeframe)
    server = server_of(exchange, exchange_options)
    source = f"ccxt:{exchange}" if server == server_of(exchange, None) else f"ccxt:{exchange}@{server}"
    # A Parquet dataset directory: one file per page, each written once (atomically), read back as one table.
    # Keyed by server and `since` too, so a resume never mixes two servers' or two start dates' bars.
    remove_stale_temp_files(store.data_dir)
    staging = checkpoint_dir(store.data_dir / "staging", exchange=exchange, server=server,
                             symbol=symbol, timeframe=timeframe,
                             since_ms=None if since is None else int(to_utc(since).value // 1_000_000))
    previous = [v for v in store.list_data_versions(symbol, timeframe) if v.source == source]
    base = store.load_bars(previous[-1].id) if previous else None
    staged = pd.read_parquet(staging) if staging.is_dir() and any(staging.glob("*.parquet")) else None
    last = [f["time"].max() for f in (base, staged) if f is not None and not f.empty]
    if last:
        start_ms = int(max(last).value // 1_000_000) + step
    elif since is not None:
        start_ms = int(to_utc(since).value // 1_000_000)
    else:
        raise ValueError("first fetch of this symbol/timeframe needs --since")
    until_ms = int(to_utc(until).value // 1_000_000) if until is not None else None

    fetched: list[pd.DataFrame] = [staged] if staged is not None else []

    def checkpoint(page: pd.DataFrame) -> None:
        fetched.append(page)
        if not page.empty:
            first_ms = int(page["time"].iloc[0].value // 1_000_000)
            write_parquet_atomic(page, staging / f"page-{first_ms:015d}.parquet")

    options = dict(exchange_options or {})
    if exchange == "binance":  # spot only: spares two futures endpoints in load_markets
        options.setdefault("options", {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}})
    fetch_ohlcv(exchange, symbol, timeframe, since_ms=start_ms, until_ms=until_ms, on_page=checkpoint,
                exchange_options=options, progress=progress, max_retries=max_retries, backoff_s=backoff_s)
    frames = ([base] if base is not None else []) + fetched
    if not frames:
        raise ValueError(f"{exchange} returned no closed bars for {symbol} {timeframe} from {pd.Timestamp(start_ms, unit='ms', tz='UTC')}")
    allbars = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["time"], keep="first")
    allbars = allbars.sort_values("time").reset_index(drop=True)
    dv, created = ingest_frame(store, allbars, symbol=symbol, timeframe=timeframe, source=source, exchange=exchange)
    shutil.rmtree(staging, ignore_errors=True)
    return dv, created


def make_slice(store: Store, dv_id: str, *, start: datetime | None = None, end: datetime | None = None,
               role: SliceRole = "full", declared_by: str = "data slice") -> DataSlice:
    """A slice `[start, end)` of a version; bounds default to the version's span (end exclusive past last).

    `role="holdout"` declares the sealed holdout on the version's content (`access.declare_holdout`): it must be
    the final segment (no end, or the end of the data) and leave bars before it. Any other role must end at or
    before the seal: reaching past it (an open end included) raises `HoldoutSealed`, naming the end to pass."""
    dv = store.get_data_version(dv_id)
    data_end = pd.Timestamp(dv.last) + timeframe_delta(dv.timeframe)
    lo = to_utc(pd.Timestamp(start if start is not None else dv.first))
    hi = to_utc(pd.Timestamp(end)) if end is not None else data_end
    if role == "holdout":
        if hi < data_end:
            raise ValueError(f"a holdout must be the final segment: leave end empty (data ends {data_end})")
        if start is None:
            raise ValueError("a holdout needs a start (e.g. the last 20% of the data)")
        if lo <= pd.Timestamp(dv.first):
            raise ValueError(f"a holdout from {lo} would seal all the data (it starts {dv.first}); "
                             "start it later, e.g. at the last 20% of the bars")
    else:
        seal = access.holdout_start(store, dv_id)
        if seal is not None and (hi > seal or lo >= seal):
            raise access.HoldoutSealed(f"holdout sealed: a {role} slice [{lo}, {hi}) would reach into the holdout "
                                       f"of {dv_id} sealed from {seal}; pass end <= {seal}")
    if hi <= lo:
        raise ValueError(f"empty slice: end {hi} is not after start {lo}")
    times = access.bar_times(store, dv_id)  # counting needs the times only, never the sealed prices
    n = int(((times >= lo) & (times < hi)).sum())
    if n == 0:
        raise ValueError(f"slice [{lo}, {hi}) holds no bars of {dv_id} ({dv.first} .. {dv.last})")
    if role == "holdout":
        access.declare_holdout(store, dv_id, lo, declared_by=declared_by)
    ds = DataSlice(data_version_id=dv_id, start=lo.to_pydatetime(), end=hi.to_pydatetime(), role=role, bars=n,
                   created_at=datetime.now(UTC))
    return store.put_data_slice(ds)


def slice_bars(store: Store, ds: DataSlice) -> pd.DataFrame:
    """The bars of a slice through the data access layer: a holdout slice, or one made before a seal that now
    covers part of it, raises `HoldoutSealed`."""
    if ds.role == "holdout":
        raise access.HoldoutSealed(f"holdout sealed: slice {ds.id} is the holdout of {ds.data_version_id}; it is "
                                   "scored once, at freeze, and never read before")
    return access.research_bars(store, ds.data_version_id, ds.start, ds.end)


def make_features(store: Store, ds_id: str, indicator: str, params: dict[str, Any] | None = None,
                  timeframe: str | None = None) -> tuple[FeatureSlice, pd.DataFrame]:
    """Compute (or fetch from cache) an indicator over a slice. Cached by provenance id."""
    from auraquant.cta.data import features as feat  # pandas-ta is slow to import; only load it when used

    ds = store.get_data_slice(ds_id)
    dv = store.get_data_version(ds.data_version_id)
    bars = slice_bars(store, ds)  # before the cache: a cached feature over now-sealed bars is sealed too
    params = dict(params or {})
    probe = {"data_slice_id": ds_id, "indicator": indicator, "params": params,
             "timeframe": timeframe if timeframe != dv.timeframe else None, "library": feat.LIBRARY}
    cached = store.get_feature_slice(content_id("fs", probe))
    if cached is not None:
        return cached
    values = feat.compute_aligned(bars, dv.timeframe, indicator, params, probe["timeframe"])
    values.insert(0, "time", bars["time"].to_numpy())
    fs = FeatureSlice(**probe, columns=[c for c in values.columns if c != "time"], created_at=datetime.now(UTC))
    assert fs.id == content_id("fs", probe), "FeatureSlice identity drifted from its cache key"
    return store.put_feature_slice(fs, values), values


__all__ = ["DataQualityError", "NotFound", "fetch", "import_file", "ingest_frame", "make_features",
           "make_slice", "slice_bars", "synth"]
