"""The one door to stored bars: every reader gets only the bars before the sealed holdout.

The holdout is declared on the DATA CONTENT, not on a run or a DataVersion id (`declare_holdout`): it records
the content hash of the version, the start, and one fingerprint per sealed bar (`bar_fingerprints`, a hash of
the bar's open/high/low/close; prices themselves are never stored twice). The seal of any DataVersion
(`holdout_of`) is the earliest of
- a holdout declared on its content hash (the same bars, imported again under any symbol or file name),
- its first bar whose fingerprint is sealed (a superset file with rows appended or prepended, a subset that
  reaches into the sealed span, the same series under another symbol or with shifted times), also compared
  at coarser timeframes (`LADDER_MS`): the same market fetched at 4h when 1h was sealed, or at 1h when 4h
  was sealed, is the same data (a coarser copy is sealed from its first bar made of sealed bars only: the
  one bar straddling the holdout start stays visible),
- a holdout slice of that version (workspaces made before the content seal existed; such a slice is declared
  on the content the first time the version's seal is asked for).
Flat bars (open = high = low = close) are not fingerprinted: such bars repeat across unrelated series, so a
match on one would seal data that shares nothing with the holdout.

Readers:
- `research_bars(store, dv_id, start, end)`: bars `[start, end)` before the seal. An open end stops at the seal;
  an explicit end past it, or a start at or after it, raises `HoldoutSealed` (one line, names the seal).
- `unsealed_frame(store, frame, what)`: the same rule for bars that come from outside the store (a file given
  to `backtest --data`, a job bundle): rows from the first sealed bar on are cut, or refused with `refuse=True`.
- `visible_quality(store, dv)`: the quality report without example rows at or after the seal.
- `read_holdout(...)`: the ONE audited read of sealed bars (governance's freeze, through
  `auraquant.cta.experiment.holdout.score_holdout`). Each call appends a `HoldoutRead` to the store's audit log
  with `look` = 1 + the earlier reads of any of the same sealed bars, across runs and DataVersions.

Limits: matching is on exact values. A copy whose prices were transformed (rescaled, rounded, another
exchange's prints) or aggregated off the ladder's epoch-aligned buckets is not recognised; a file read with
no workspace (`backtest --data` outside one, `job run` on another machine) has no seal to check against.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from auraquant.content_hash import bars_content_hash
from auraquant.cta.data.models import DataVersion, Holdout, HoldoutRead, QualityIssue, QualityReport
from auraquant.errors import UserError
from auraquant.lazy import lazy_module
from auraquant.store import Store

# numpy and pandas load on first use: `data list` asks every version for its seal and most have none.
np = lazy_module("numpy")
pd = lazy_module("pandas")
_tf = lazy_module("auraquant.cta.data.timeframes")

_PRICES = ("open", "high", "low", "close")
_COLUMNS = ["time", "open", "high", "low", "close", "volume"]


class HoldoutSealed(UserError, PermissionError):
    """A reader asked for bars at or after the sealed holdout start. The message is one line."""


@dataclass(frozen=True)
class Seal:
    """Where the holdout of one DataVersion starts and which declarations seal it."""

    start: pd.Timestamp
    holdout_ids: tuple[str, ...]
    reason: str  # "declared" | "fingerprint" | "slice"


# -- fingerprints ---------------------------------------------------------------------------------------------
def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (vectorised); uint64 arithmetic wraps by design."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def bar_fingerprints(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(fingerprint per bar as int64, mask of bars that carry one).

    The fingerprint hashes the exact float64 bits of open, high, low and close, not the time or volume: a
    re-import with shifted timestamps or volume in other units is still the same market data. Flat bars are
    masked out (see the module docstring)."""
    acc = np.full(len(bars), 0x9E3779B97F4A7C15, dtype=np.uint64)
    cols = [bars[c].to_numpy(dtype="<f8") for c in _PRICES]
    for v in cols:
        acc = _mix(acc ^ np.ascontiguousarray(v).view(np.uint64))
    flat = (cols[0] == cols[1]) & (cols[1] == cols[2]) & (cols[2] == cols[3])
    return acc.view(np.int64), ~flat


#: Coarser timeframes the sealed bars are also fingerprinted at (and every probed version is also viewed at),
#: so the same market data fetched at another timeframe is recognised: an exchange's 4h bar is the exact
#: first/max/min/last of its 1h bars. Buckets are aligned to the epoch, as exchanges align them.
_H = 3_600_000
LADDER_MS = (_H // 4, _H // 2, _H, 2 * _H, 4 * _H, 6 * _H, 8 * _H, 12 * _H, 24 * _H, 72 * _H)  # 15m .. 3d


def coarser_views(bars: pd.DataFrame, step_ms: int) -> list[tuple[int, pd.DataFrame]]:
    """(bucket ms, OHLC bars) of `bars` (timeframe `step_ms`) aggregated to each coarser ladder timeframe; each
    aggregated bar's `time` is the open time of its first bar."""
    if bars.empty:
        return []
    t = bars["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    out = []
    for bucket in LADDER_MS:
        if bucket <= step_ms or bucket % step_ms:
            continue
        g = bars[["time", *_PRICES]].groupby((t // bucket) * bucket, sort=True)
        # `time` is the bucket's first bar, not its label: a partial bucket can equal a finer full one, and
        # the seal must start at the data actually matched
        agg = pd.DataFrame({"time": g["time"].first(), "open": g["open"].first(), "high": g["high"].max(),
                            "low": g["low"].min(), "close": g["close"].last()})
        out.append((bucket, agg.reset_index(drop=True)))
    return out


def _first_sealed(store: Store, views: list[pd.DataFrame]) -> tuple[pd.Timestamp | None, list[str]]:
    """Earliest bar time, over all views of one series, whose fingerprint is sealed; and the holdouts hit."""
    first: pd.Timestamp | None = None
    ids: set[str] = set()
    for view in views:
        keys, usable = bar_fingerprints(view)
        idx = np.flatnonzero(usable)
        pos, hit = store.sealed_key_hits(keys[idx])
        if pos is not None:
            t = pd.Timestamp(view["time"].iloc[int(idx[pos])])
            first = t if first is None or t < first else first
            ids.update(hit)
    return first, sorted(ids)


# -- seals ----------------------------------------------------------------------------------------------------
_cache: dict[tuple[str, str], tuple[str, Seal | None]] = {}
_cache_lock = threading.Lock()


def _raw_bars(store: Store, dv_id: str) -> pd.DataFrame:
    """All stored bars of a version, for the seal computation only (never returned to a reader)."""
    store.get_data_version(dv_id)
    return pd.read_parquet(store.bars_path(dv_id), columns=_COLUMNS)


def _content_seal(store: Store, dv: DataVersion) -> Seal | None:
    """The seal from declarations: by content hash and by fingerprints (cached per declaration count)."""
    generation = store.holdouts_generation()
    if not generation:
        return None
    key = (str(store.db_path), dv.id)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == generation:
        return hit[1]
    candidates: list[Seal] = []
    declared = store.list_holdouts(dv.content_hash)
    if declared:
        first = min(declared, key=lambda h: h.holdout_start)
        candidates.append(Seal(pd.Timestamp(first.holdout_start), tuple(h.id for h in declared), "declared"))
    bars = _raw_bars(store, dv.id)
    views = [bars, *(v for _, v in coarser_views(bars, _tf.timeframe_ms(dv.timeframe)))]
    first, ids = _first_sealed(store, views)
    if first is not None:
        candidates.append(Seal(first, tuple(ids), "fingerprint"))
    seal = _earliest(candidates)
    with _cache_lock:
        _cache[key] = (generation, seal)
    return seal


def _earliest(candidates: list[Seal]) -> Seal | None:
    if not candidates:
        return None
    start = min(c.start for c in candidates)
    ids = tuple(sorted({i for c in candidates for i in c.holdout_ids}))
    return Seal(start, ids, next(c.reason for c in candidates if c.start == start))


def holdout_of(store: Store, dv_id: str) -> Seal | None:
    """The seal of `dv_id` (see the module docstring), or None when none of its bars is sealed."""
    with store.connect():  # one connection (and one lock round-trip) for every lookup below
        return _holdout_of(store, dv_id)


def _holdout_of(store: Store, dv_id: str) -> Seal | None:
    dv = store.get_data_version(dv_id)
    slices = [pd.Timestamp(s.start) for s in store.list_data_slices(dv_id) if s.role == "holdout"]
    declared = {pd.Timestamp(h.holdout_start) for h in store.list_holdouts(dv.content_hash)}
    if slices and min(slices) not in declared:
        # A holdout slice from before content seals existed: declare it now, so the same bars imported
        # under another name are sealed as well (the slice alone would only seal this version id).
        try:
            declare_holdout(store, dv_id, min(slices), declared_by="holdout slice (migrated)")
        except ValueError:
            pass  # a slice sealing everything (old CLI allowed it): the slice rule below still seals this id
    candidates = [s for s in (_content_seal(store, dv),) if s is not None]
    if slices:
        candidates.append(Seal(min(slices), (), "slice"))
    seal = _earliest(candidates)
    if seal is None:
        return None
    # A declared start may fall inside a bar (e.g. 80% of the time span): the seal starts at the first bar
    # opening at or after it, so a reader asking for "every bar before the holdout" (an exclusive end at
    # that bar) is served exactly the bars before the first sealed one.
    times = bar_times(store, dv_id)
    at = times.searchsorted(seal.start, side="left")
    return replace(seal, start=pd.Timestamp(times[at])) if at < len(times) else seal


def holdout_start(store: Store, dv_id: str) -> pd.Timestamp | None:
    """Start of the sealed holdout of `dv_id` (None when it has none)."""
    seal = holdout_of(store, dv_id)
    return None if seal is None else seal.start


def declare_holdout(store: Store, dv_id: str, start: datetime | pd.Timestamp, *, declared_by: str) -> Holdout:
    """Seal the bars of `dv_id`'s content from `start` on (idempotent for the same content and start).

    The start must leave bars on both sides. A later start than an existing seal changes nothing a reader
    sees (the earliest seal wins); an earlier one extends the seal."""
    dv = store.get_data_version(dv_id)
    hs = _tf.to_utc(pd.Timestamp(start))
    bars = _raw_bars(store, dv_id)
    sealed = bars[bars["time"] >= hs].reset_index(drop=True)
    if sealed.empty:
        raise ValueError(f"a holdout from {hs} holds no bar of {dv_id} (data ends {dv.last})")
    if len(sealed) == len(bars):
        raise ValueError(f"a holdout from {hs} would seal all the data (it starts {dv.first}); start it later, "
                         "e.g. at the last 20% of the bars")
    keys, usable = bar_fingerprints(sealed)
    keys = [keys[usable]]
    step = _tf.timeframe_ms(dv.timeframe)
    for _, view in coarser_views(bars, step):
        # coarser bars made of sealed bars only: one straddling the start would also match this very version
        # and move its seal before `hs` (a coarser copy's straddling bar stays visible; see module docstring)
        k, ok = bar_fingerprints(view[view["time"] >= hs])
        keys.append(k[ok])
    ho = Holdout(content_hash=dv.content_hash, holdout_start=hs.to_pydatetime(),
                 sealed_hash=bars_content_hash(sealed), sealed_bars=len(sealed), data_version_id=dv.id,
                 declared_at=datetime.now(UTC), declared_by=declared_by)
    stored, _ = store.put_holdout(ho, np.concatenate(keys))
    return stored


def _sealed_message(dv_id: str, seal: Seal, what: str) -> str:
    return (f"holdout sealed: {what} reaches the holdout of {dv_id}, sealed from {seal.start.isoformat()}; "
            f"only the bars before it can be read (it is scored once, at freeze)")


# -- readers --------------------------------------------------------------------------------------------------
def research_bars(store: Store, dv_id: str, start: datetime | pd.Timestamp | str | None = None,
                  end: datetime | pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Bars of `dv_id` with `start <= time < end`, never at or after its seal (see the module docstring).

    A version whose every bar is sealed (e.g. the holdout bars imported on their own) raises too."""
    lo = None if start is None else _tf.to_utc(pd.Timestamp(start))
    hi = None if end is None else _tf.to_utc(pd.Timestamp(end))
    seal = holdout_of(store, dv_id)
    if seal is not None:
        if hi is not None and hi > seal.start:
            raise HoldoutSealed(_sealed_message(dv_id, seal, f"the range ending {hi.isoformat()}"))
        if lo is not None and lo >= seal.start:
            raise HoldoutSealed(_sealed_message(dv_id, seal, f"the range starting {lo.isoformat()}"))
        hi = seal.start if hi is None else hi
        if hi <= pd.Timestamp(store.get_data_version(dv_id).first):
            raise HoldoutSealed(_sealed_message(dv_id, seal, "every bar of it"))
    return store.load_bars(dv_id, lo, hi)


def bar_times(store: Store, dv_id: str) -> pd.DatetimeIndex:
    """Open times of every bar of a version, sealed ones included (times only: where the holdout starts and
    how many bars it has are public; its prices are not)."""
    store.get_data_version(dv_id)
    return pd.DatetimeIndex(pd.read_parquet(Path(store.bars_path(dv_id)), columns=["time"])["time"])


def unsealed_frame(store: Store | None, frame: pd.DataFrame, what: str, *, refuse: bool = False) -> pd.DataFrame:
    """`frame` without its rows from the first sealed bar on (by fingerprint against every declared holdout).

    For bars that do not come from the store (files, bundles). `refuse=True` raises `HoldoutSealed` instead of
    cutting; so does a frame whose very first row is sealed. `store=None` (no workspace) passes it through."""
    if store is None or not store.holdouts_generation() or frame.empty:
        return frame
    ordered = frame.sort_values("time", kind="stable").reset_index(drop=True)
    step = int(ordered["time"].diff().dropna().min().value // 1_000_000) if len(ordered) > 1 else 0
    views = [ordered, *(v for _, v in coarser_views(ordered, step))] if step > 0 else [ordered]
    when, _ = _first_sealed(store, views)
    if when is None:
        return frame
    cut = int((ordered["time"] < when).sum())
    if refuse or cut == 0:
        raise HoldoutSealed(f"holdout sealed: {what} holds sealed holdout bars (from {when}); only bars before "
                            "a declared holdout can be read")
    return ordered.iloc[:cut].reset_index(drop=True)


def visible_quality(store: Store, dv: DataVersion) -> QualityReport:
    """`dv.quality` with every example row at or after the seal removed (the counts are kept: they are
    totals, not rows), and the largest gap's start hidden when it lies in the holdout."""
    seal = holdout_of(store, dv.id)
    q = dv.quality
    if seal is None:
        return q

    def sealed(t: object) -> bool:
        return t is not None and pd.Timestamp(str(t)) >= seal.start

    def clean(issues: list[QualityIssue]) -> list[QualityIssue]:
        return [i.model_copy(update={"examples": [e for e in i.examples if not sealed(e.get("time"))]})
                for i in issues]

    return q.model_copy(update={"errors": clean(q.errors), "warnings": clean(q.warnings),
                                "largest_gap_start": None if sealed(q.largest_gap_start) else q.largest_gap_start})


def read_holdout(store: Store, dv_id: str, start: datetime | pd.Timestamp, *, reader: str,
                 run_id: str | None = None) -> tuple[pd.DataFrame, HoldoutRead]:
    """THE audited read of sealed bars: `[start, end of data)` of `dv_id`, recorded before it is returned.

    The record's `look` is 1 + every earlier read that shares a sealed holdout or the exact bars with this one
    (so a second run on the same content, or on a re-import of it, is the 2nd look)."""
    hs = _tf.to_utc(pd.Timestamp(start))
    bars = store.load_bars(dv_id, hs)
    if bars.empty:
        raise ValueError(f"no bars of {dv_id} from {hs}: nothing to score")
    dv = store.get_data_version(dv_id)
    _, ids = _first_sealed(store, [bars, *(v for _, v in coarser_views(bars, _tf.timeframe_ms(dv.timeframe)))])
    seal = holdout_of(store, dv_id)
    all_ids = sorted(set(ids) | set(seal.holdout_ids if seal else ()))
    content = bars_content_hash(bars)

    def make(seq: int, prior: list[HoldoutRead]) -> HoldoutRead:
        seen = sum(1 for r in prior if r.content_hash == content or set(r.holdout_ids) & set(all_ids))
        return HoldoutRead(seq=seq, look=seen + 1, content_hash=content, holdout_ids=all_ids, data_version_id=dv_id,
                           start=hs.to_pydatetime(), bars=len(bars), reader=reader, run_id=run_id,
                           read_at=datetime.now(UTC))

    return bars, store.append_holdout_read(make)


def stored_content_hash(store: Store, dv_id: str) -> str:
    """`bars_content_hash` of every stored bar of `dv_id`, sealed ones included, for integrity checks (does the
    file still hold the bars the catalog names?). Only the hash leaves this function, never a bar."""
    return bars_content_hash(_raw_bars(store, dv_id))


def holdout_reads(store: Store) -> list[HoldoutRead]:
    """The audit log of holdout reads, oldest first."""
    return store.list_holdout_reads()


__all__ = ["HoldoutSealed", "Seal", "bar_fingerprints", "bar_times", "declare_holdout", "holdout_of",
           "holdout_reads", "holdout_start", "read_holdout", "research_bars", "stored_content_hash", "unsealed_frame",
           "visible_quality"]
