"""Universe operations on a workspace store: create, show, research bars, one holdout for every member.

The holdout of a universe is one time: `declare_holdout` seals every member from the same start (each
through `auraquant.cta.data.access.declare_holdout`, so the seal is on the members' content), and
`research_frames` cuts every member at the universe's seal = the earliest seal among its members, so no
member is researched on a bar that another member holds out. `holdout_frames` is the audited read of the
sealed bars of every member (`access.read_holdout`, one logged look per member).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import ValidationError

from auraquant.cta.data import access
from auraquant.cta.data.models import HoldoutRead
from auraquant.cta.data.timeframes import to_utc
from auraquant.cta.universe.align import AlignedUniverse, align
from auraquant.cta.universe.model import Universe, UniverseMember
from auraquant.store import NotFound, Store


class UniverseError(ValueError):
    """A universe cannot be made or used as asked (one line, names the fix)."""


def create(store: Store, name: str, data_version_ids: Sequence[str]) -> tuple[Universe, bool]:
    """Persist a universe of the given data versions (in order). All must exist and share one timeframe;
    symbols must differ. Returns (universe, created); the same members and name give the same `uv_…` id."""
    if not data_version_ids:
        raise UniverseError("a universe needs at least one data version")
    members = []
    timeframes = set()
    for dv_id in data_version_ids:
        try:
            dv = store.get_data_version(dv_id)
        except NotFound:
            raise UniverseError(f"no data version {dv_id!r}; data_version_list shows them") from None
        if dv.quality.errors:
            raise UniverseError(f"{dv_id} is not qualified (its quality report has errors)")
        timeframes.add(dv.timeframe)
        members.append(UniverseMember(symbol=dv.symbol, data_version_id=dv.id))
    if len(timeframes) != 1:
        raise UniverseError(f"members have different timeframes {sorted(timeframes)}: a universe has one")
    try:
        uv = Universe(name=name, timeframe=timeframes.pop(), members=members)
    except ValidationError as exc:
        raise UniverseError("; ".join(e["msg"] for e in exc.errors())) from None
    created = store.put_universe(uv.id, uv.name, uv.timeframe, [(m.symbol, m.data_version_id) for m in members],
                                 uv.model_dump_json())
    return uv, created


def get(store: Store, uv_id: str) -> Universe:
    try:
        return Universe.model_validate_json(store.get_universe_body(uv_id))
    except NotFound:
        raise UniverseError(f"no universe {uv_id!r}; universe_create makes one") from None


def list_all(store: Store) -> list[Universe]:
    return [Universe.model_validate_json(b) for b in store.list_universe_bodies()]


def holdout_start(store: Store, uv: Universe) -> pd.Timestamp | None:
    """The universe's seal: the earliest holdout start among its members (None when no member is sealed)."""
    starts = [access.holdout_start(store, m.data_version_id) for m in uv.members]
    known = [s for s in starts if s is not None]
    return min(known) if known else None


def declare_holdout(store: Store, uv: Universe, start: datetime | pd.Timestamp, *, declared_by: str) -> pd.Timestamp:
    """Seal every member from `start` (one time for all). Every member must have bars on both sides."""
    for m in uv.members:
        dv = store.get_data_version(m.data_version_id)
        if not pd.Timestamp(dv.first) < pd.Timestamp(start) <= pd.Timestamp(dv.last):
            raise UniverseError(f"a holdout from {start} leaves no bars on one side for {m.symbol} "
                                f"({dv.first} .. {dv.last}); choose a start inside every member's span")
    for m in uv.members:
        access.declare_holdout(store, m.data_version_id, start, declared_by=declared_by)
    hs = holdout_start(store, uv)
    assert hs is not None
    return hs


def research_frames(store: Store, uv: Universe, start: Any = None, end: Any = None) -> dict[str, pd.DataFrame]:
    """Every member's bars in [start, end), cut at the universe's seal (never a sealed bar of any member)."""
    hs = holdout_start(store, uv)
    stop = to_utc(pd.Timestamp(end)) if end is not None else None
    if hs is not None:
        if stop is not None and stop > hs:
            raise access.HoldoutSealed(f"holdout sealed: the range ending {stop.isoformat()} reaches the holdout "
                                       f"of universe {uv.id}, sealed from {hs.isoformat()}")
        stop = hs if stop is None else stop
    out = {}
    for m in uv.members:
        f = access.research_bars(store, m.data_version_id, start, stop)
        if len(f) >= 2:
            out[m.symbol] = f
    if not out:
        raise UniverseError(f"no member of {uv.id} has bars in that range")
    return out


def research_aligned(store: Store, uv: Universe, start: Any = None, end: Any = None) -> AlignedUniverse:
    """`research_frames` aligned on their common calendar."""
    return align(research_frames(store, uv, start, end))


def holdout_frames(store: Store, uv: Universe, *, reader: str, run_id: str | None = None
                   ) -> tuple[dict[str, pd.DataFrame], list[HoldoutRead]]:
    """THE audited read of every member's sealed bars from the universe's seal (one logged read each)."""
    hs = holdout_start(store, uv)
    if hs is None:
        raise UniverseError(f"universe {uv.id} has no holdout; declare one first")
    frames, reads = {}, []
    for m in uv.members:
        bars, read = access.read_holdout(store, m.data_version_id, hs, reader=reader, run_id=run_id)
        frames[m.symbol] = bars
        reads.append(read)
    return frames, reads


def describe(store: Store, uv: Universe) -> dict[str, Any]:
    """JSON-able view: members (span, bars, bars missing on the common research calendar), seal, calendar."""
    hs = holdout_start(store, uv)
    members = []
    for m in uv.members:
        dv = store.get_data_version(m.data_version_id)
        members.append({"symbol": m.symbol, "data_version_id": dv.id, "bars": dv.bars, "first": dv.first.isoformat(),
                        "last": dv.last.isoformat(), "synthetic": dv.source.startswith("synthetic:"),
                        "holdout_from": None if (s := access.holdout_start(store, dv.id)) is None else s.isoformat()})
    out: dict[str, Any] = {"id": uv.id, "name": uv.name, "timeframe": uv.timeframe, "members": members,
                           "holdout_from": None if hs is None else hs.isoformat()}
    try:
        au = research_aligned(store, uv)
    except (UniverseError, access.HoldoutSealed):
        out["research_calendar"] = None
        return out
    times, first, last = au.times(), au.first, au.last
    out["research_calendar"] = {
        "bars": len(au), "first": str(times[0]), "last": str(times[-1]),
        "missing_bars": {s: int((~au.mask[i]).sum()) for i, s in enumerate(au.symbols)},
        "listed_at": {s: str(times[int(first[i])]) for i, s in enumerate(au.symbols)},
        "last_bar": {s: str(times[int(last[i])]) for i, s in enumerate(au.symbols)}}
    return out
