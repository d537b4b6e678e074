"""The workspace store: one DuckDB catalog (`.aura/store.duckdb`) plus Parquet files under `.aura/data/`.

This module is the single owner of the SQL schema and its migrations (`_MIGRATIONS`; the applied version is
recorded in `schema_meta`). Other packages persist through its methods, never with their own DDL.

Concurrency: every connection is taken under an exclusive advisory lock on `.aura/store.lock`. A second
process waits up to `busy_timeout_s` and then gets `WorkspaceBusy`; DuckDB itself never sees two writers, so
the catalog cannot be corrupted. Connections are short-lived (one operation), so a long `chat` session does
not starve a `data import` run beside it.

Atomicity: files are written to a temporary name and renamed into place before the catalog row is committed;
a failure before the commit removes the file. Bars and features are content-addressed, so a retried ingest
reuses what is already there and never stores anything twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from pydantic import BaseModel

from auraquant.catalog import DataSlice, DataVersion, FeatureSlice, Holdout, HoldoutRead
from auraquant.content_hash import bars_content_hash as bars_content_hash  # re-export; owner: content_hash
from auraquant.errors import UserError
from auraquant.lazy import lazy_module

# numpy and pandas load on first use: opening a workspace and reading the catalog (`data list`) need neither.
np = lazy_module("numpy")
pd = lazy_module("pandas")

SCHEMA_VERSION = 5

_MIGRATIONS: list[tuple[int, str]] = [
    (1, """
    CREATE TABLE data_versions (
        id VARCHAR PRIMARY KEY, symbol VARCHAR NOT NULL, timeframe VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL, bars BIGINT NOT NULL, first_time TIMESTAMPTZ NOT NULL,
        last_time TIMESTAMPTZ NOT NULL, source VARCHAR NOT NULL, path VARCHAR NOT NULL,
        body JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE data_slices (
        id VARCHAR PRIMARY KEY, data_version_id VARCHAR NOT NULL REFERENCES data_versions(id),
        role VARCHAR NOT NULL, start_time TIMESTAMPTZ NOT NULL, end_time TIMESTAMPTZ NOT NULL,
        body JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE feature_slices (
        id VARCHAR PRIMARY KEY, data_slice_id VARCHAR NOT NULL REFERENCES data_slices(id),
        indicator VARCHAR NOT NULL, path VARCHAR NOT NULL, body JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL);
    -- Typed research objects (Spec, Run, Report, RunTrace, ...): kind + content id + canonical body.
    CREATE TABLE objects (
        kind VARCHAR NOT NULL, id VARCHAR NOT NULL, body JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, id));
    -- Free-form namespaced memory (research memory, patterns, cost tracking).
    CREATE TABLE memory (
        namespace VARCHAR NOT NULL, key VARCHAR NOT NULL, body JSON NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (namespace, key));
    """),
    (2, """
    -- Governance (auraquant.cta.governance): archive records with their signed envelope (NULL only for a
    -- candidate stored in degraded unsigned mode), the append-only hash-chained lifecycle event log and its
    -- head (the last seq and hash, so a truncated tail is detected), and human approval requests.
    CREATE TABLE archive_records (
        id VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, family VARCHAR NOT NULL, spec_id VARCHAR NOT NULL,
        data_version_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL, body JSON NOT NULL, envelope JSON,
        created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE governance_events (
        seq BIGINT PRIMARY KEY, record_id VARCHAR NOT NULL, event_type VARCHAR NOT NULL,
        from_state VARCHAR, to_state VARCHAR, actor_kind VARCHAR NOT NULL, actor VARCHAR NOT NULL,
        event_at TIMESTAMPTZ NOT NULL, body JSON NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL,
        key_id VARCHAR, signature VARCHAR);
    CREATE TABLE governance_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash VARCHAR NOT NULL);
    CREATE TABLE approval_requests (
        id VARCHAR PRIMARY KEY, record_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
        requested_by VARCHAR NOT NULL, requested_at TIMESTAMPTZ NOT NULL, reason VARCHAR NOT NULL,
        resolved_by VARCHAR, resolved_at TIMESTAMPTZ, note VARCHAR, body JSON NOT NULL);
    """),
    (3, """
    -- The trial ledger (auraquant.cta.experiment.ledger): every trial evaluated on a data content, by the
    -- research session that evaluated it. A trial is (source_kind, source_id, trial_key): one Optuna trial
    -- of a walk-forward window, one parameter set of a sweep, one backtest. `sharpe` is its per-day Sharpe
    -- ratio (NULL when undefined), `n_obs` the number of daily returns behind it.
    CREATE TABLE trial_ledger (
        content_hash VARCHAR NOT NULL, session_id VARCHAR NOT NULL, source_kind VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL, trial_key VARCHAR NOT NULL, sharpe DOUBLE, n_obs BIGINT NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (session_id, content_hash, source_kind, source_id, trial_key));
    """),
    (4, """
    -- The sealed holdout, declared on data content (auraquant.cta.data.access): `holdouts` says which content
    -- is sealed from when; `holdout_keys` holds one fingerprint per sealed bar (a hash of its prices, never the
    -- prices) so a re-import of the same bars under another name or inside a larger file inherits the seal;
    -- `holdout_reads` is the audit log of the one function that reads sealed bars (look = k-th look).
    CREATE TABLE holdouts (
        id VARCHAR PRIMARY KEY, content_hash VARCHAR NOT NULL, holdout_start TIMESTAMPTZ NOT NULL,
        sealed_hash VARCHAR NOT NULL, sealed_bars BIGINT NOT NULL, data_version_id VARCHAR NOT NULL,
        declared_at TIMESTAMPTZ NOT NULL, declared_by VARCHAR NOT NULL, body JSON NOT NULL);
    CREATE TABLE holdout_keys (holdout_id VARCHAR NOT NULL, key BIGINT NOT NULL);
    CREATE TABLE holdout_reads (
        seq BIGINT PRIMARY KEY, content_hash VARCHAR NOT NULL, look INTEGER NOT NULL, reader VARCHAR NOT NULL,
        run_id VARCHAR, data_version_id VARCHAR NOT NULL, read_at TIMESTAMPTZ NOT NULL, body JSON NOT NULL);
    """),
    (5, """
    -- Universes (auraquant.cta.universe): a named set of data versions of one timeframe, content-addressed
    -- (`uv_…`); `universe_members` lists them in order (position = column order of per-member tables).
    CREATE TABLE universes (
        id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, timeframe VARCHAR NOT NULL, body JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE universe_members (
        universe_id VARCHAR NOT NULL REFERENCES universes(id), position INTEGER NOT NULL, symbol VARCHAR NOT NULL,
        data_version_id VARCHAR NOT NULL REFERENCES data_versions(id), PRIMARY KEY (universe_id, position));
    """),
]

M = TypeVar("M", bound=BaseModel)


class StoreError(UserError, RuntimeError):
    pass


class WorkspaceBusy(StoreError):
    """Another process holds the workspace store longer than we were willing to wait."""


class NotFound(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "not found"


def _now() -> datetime:
    return datetime.now(UTC)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write to a hidden temporary name, fsync, then rename: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_parquet(tmp, index=False, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Store:
    """The catalog of one workspace. Cheap to construct; opens DuckDB only inside `connect()`."""

    def __init__(self, aura_dir: str | Path, *, busy_timeout_s: float = 15.0) -> None:
        self.aura_dir = Path(aura_dir)
        self.db_path = self.aura_dir / "store.duckdb"
        self.lock_path = self.aura_dir / "store.lock"
        self.data_dir = self.aura_dir / "data"
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._thread_lock = threading.RLock()

    # -- connections -------------------------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An exclusive connection; re-entrant within a thread, serialised across threads and processes."""
        con = getattr(self._local, "con", None)
        if con is not None:
            yield con
            return
        with self._thread_lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._acquire(fd)
                con = duckdb.connect(str(self.db_path))
                self._local.con = con
                try:
                    self._migrate(con)
                    yield con
                finally:
                    self._local.con = None
                    con.close()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _acquire(self, fd: int) -> None:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise WorkspaceBusy(
                        f"workspace busy: another auraquant process (pid {holder}) is using "
                        f"{self.db_path}; waited {self.busy_timeout_s:.0f}s. Retry when it finishes.") from None
                time.sleep(0.05)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_meta (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
        # fetchall: a half-read result would block `register` (DataFrame joins) later on this connection
        current = con.execute("SELECT coalesce(max(version), 0) FROM schema_meta").fetchall()[0][0]
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.db_path} has schema v{current}, newer than this auraquant (v{SCHEMA_VERSION}); upgrade auraquant")
        for version, ddl in _MIGRATIONS:
            if version > current:
                con.execute("BEGIN TRANSACTION")
                con.execute(ddl)
                con.execute("INSERT INTO schema_meta VALUES (?, ?)", [version, _now()])
                con.execute("COMMIT")

    def schema_version(self) -> int:
        with self.connect() as con:
            return int(con.execute("SELECT max(version) FROM schema_meta").fetchone()[0])

    # -- bars ----------------------------------------------------------------------------------------------
    def bars_path(self, dv_id: str) -> Path:
        return self.data_dir / "bars" / f"{dv_id}.parquet"

    def put_data_version(self, dv: DataVersion, bars: pd.DataFrame) -> tuple[DataVersion, bool]:
        """Store bars + catalog row atomically. Returns (stored version, created). An existing id is reused."""
        with self.transaction() as con:
            row = con.execute("SELECT body FROM data_versions WHERE id = ?", [dv.id]).fetchone()
            if row:
                return DataVersion.model_validate_json(row[0]), False
            path = self.bars_path(dv.id)
            existed = path.exists()
            write_parquet_atomic(bars[["time", "open", "high", "low", "close", "volume"]], path)
            try:
                con.execute(
                    "INSERT INTO data_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [dv.id, dv.symbol, dv.timeframe, dv.content_hash, dv.bars, dv.first, dv.last, dv.source,
                     str(path.relative_to(self.aura_dir)), dv.model_dump_json(), dv.created_at])
            except BaseException:
                if not existed:
                    path.unlink(missing_ok=True)
                raise
        return dv, True

    def get_data_version(self, dv_id: str) -> DataVersion:
        with self.connect() as con:
            row = con.execute("SELECT body FROM data_versions WHERE id = ?", [dv_id]).fetchone()
        if not row:
            raise NotFound(f"no data version {dv_id!r}; `auraquant data list` shows what exists")
        return DataVersion.model_validate_json(row[0])

    def list_data_versions(self, symbol: str | None = None, timeframe: str | None = None) -> list[DataVersion]:
        q, args = "SELECT body FROM data_versions WHERE 1=1", []
        if symbol:
            q, args = q + " AND symbol = ?", [*args, symbol]
        if timeframe:
            q, args = q + " AND timeframe = ?", [*args, timeframe]
        with self.connect() as con:
            rows = con.execute(q + " ORDER BY created_at, id", args).fetchall()
        return [DataVersion.model_validate_json(r[0]) for r in rows]

    def load_bars(self, dv_id: str, start: datetime | pd.Timestamp | None = None,
                  end: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
        """Bars of a version with `start <= time < end` (either bound optional), time as UTC timestamps."""
        self.get_data_version(dv_id)
        bars = pd.read_parquet(self.bars_path(dv_id))
        if start is not None:
            bars = bars[bars["time"] >= pd.Timestamp(start)]
        if end is not None:
            bars = bars[bars["time"] < pd.Timestamp(end)]
        return bars.reset_index(drop=True)

    # -- slices and features ----------------------------------------------------------------------------------
    def put_data_slice(self, ds: DataSlice) -> DataSlice:
        with self.transaction() as con:
            row = con.execute("SELECT body FROM data_slices WHERE id = ?", [ds.id]).fetchone()
            if row:
                return DataSlice.model_validate_json(row[0])
            con.execute("INSERT INTO data_slices VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [ds.id, ds.data_version_id, ds.role, ds.start, ds.end, ds.model_dump_json(), ds.created_at])
        return ds

    def get_data_slice(self, ds_id: str) -> DataSlice:
        with self.connect() as con:
            row = con.execute("SELECT body FROM data_slices WHERE id = ?", [ds_id]).fetchone()
        if not row:
            raise NotFound(f"no data slice {ds_id!r}")
        return DataSlice.model_validate_json(row[0])

    def list_data_slices(self, dv_id: str | None = None) -> list[DataSlice]:
        q = "SELECT body FROM data_slices" + (" WHERE data_version_id = ?" if dv_id else "") + " ORDER BY created_at, id"
        with self.connect() as con:
            rows = con.execute(q, [dv_id] if dv_id else []).fetchall()
        return [DataSlice.model_validate_json(r[0]) for r in rows]

    def feature_path(self, fs_id: str) -> Path:
        return self.data_dir / "features" / f"{fs_id}.parquet"

    def put_feature_slice(self, fs: FeatureSlice, values: pd.DataFrame) -> FeatureSlice:
        with self.transaction() as con:
            row = con.execute("SELECT body FROM feature_slices WHERE id = ?", [fs.id]).fetchone()
            if row:
                return FeatureSlice.model_validate_json(row[0])
            path = self.feature_path(fs.id)
            write_parquet_atomic(values, path)
            try:
                con.execute("INSERT INTO feature_slices VALUES (?, ?, ?, ?, ?, ?)",
                            [fs.id, fs.data_slice_id, fs.indicator, str(path.relative_to(self.aura_dir)),
                             fs.model_dump_json(), fs.created_at])
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        return fs

    def get_feature_slice(self, fs_id: str) -> tuple[FeatureSlice, pd.DataFrame] | None:
        with self.connect() as con:
            row = con.execute("SELECT body FROM feature_slices WHERE id = ?", [fs_id]).fetchone()
        if not row:
            return None
        return FeatureSlice.model_validate_json(row[0]), pd.read_parquet(self.feature_path(fs_id))

    # -- the sealed holdout (policy in auraquant.cta.data.access) --------------------------------------------
    def put_holdout(self, ho: Holdout, keys: np.ndarray) -> tuple[Holdout, bool]:
        """Store a holdout declaration and its sealed bars' fingerprints (idempotent by id)."""
        with self.transaction() as con:
            row = con.execute("SELECT body FROM holdouts WHERE id = ?", [ho.id]).fetchone()
            if row:
                return Holdout.model_validate_json(row[0]), False
            con.execute("INSERT INTO holdouts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [ho.id, ho.content_hash, ho.holdout_start, ho.sealed_hash, ho.sealed_bars,
                         ho.data_version_id, ho.declared_at, ho.declared_by, ho.model_dump_json()]).fetchall()
            frame = pd.DataFrame({"holdout_id": ho.id, "key": np.unique(keys.astype(np.int64))})
            con.register("_new_keys", frame)
            try:
                con.execute("INSERT INTO holdout_keys SELECT holdout_id, key FROM _new_keys")
            finally:
                con.unregister("_new_keys")
        return ho, True

    def list_holdouts(self, content_hash: str | None = None) -> list[Holdout]:
        q = "SELECT body FROM holdouts" + (" WHERE content_hash = ?" if content_hash else "")
        with self.connect() as con:
            rows = con.execute(q + " ORDER BY holdout_start, id", [content_hash] if content_hash else []).fetchall()
        return [Holdout.model_validate_json(r[0]) for r in rows]

    def holdouts_generation(self) -> str:
        """Changes whenever a holdout is declared (cache key for derived seals); "" while none is. The newest
        declaration time is part of it, so a workspace re-created at the same path never matches a stale key."""
        with self.connect() as con:
            n, last = con.execute("SELECT count(*), max(declared_at) FROM holdouts").fetchall()[0]
        return "" if not n else f"{n}:{last.isoformat()}"

    def sealed_key_hits(self, keys: np.ndarray) -> tuple[int | None, list[str]]:
        """(smallest position i with keys[i] sealed, ids of every holdout any key belongs to); (None, []) if none."""
        if len(keys) == 0:
            return None, []
        probe = pd.DataFrame({"i": np.arange(len(keys), dtype=np.int64), "key": keys.astype(np.int64)})
        with self.connect() as con:
            cur = con.cursor()  # its own result set: a caller's half-read result on `con` cannot block the join
            try:
                cur.register("_probe", probe)
                rows = cur.execute("SELECT min(p.i), h.holdout_id FROM _probe p JOIN holdout_keys h ON p.key = h.key "
                                   "GROUP BY h.holdout_id ORDER BY 1, 2").fetchall()
            finally:
                cur.close()
        if not rows:
            return None, []
        return int(rows[0][0]), [r[1] for r in rows]

    def append_holdout_read(self, make: Any) -> HoldoutRead:
        """Append one audited holdout read. `make(seq, prior_reads) -> HoldoutRead` builds it under the lock,
        so the look count and the sequence number cannot race with another reader."""
        with self.transaction() as con:
            prior = [HoldoutRead.model_validate_json(r[0])
                     for r in con.execute("SELECT body FROM holdout_reads ORDER BY seq").fetchall()]
            read: HoldoutRead = make(len(prior) + 1, prior)
            con.execute("INSERT INTO holdout_reads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [read.seq, read.content_hash, read.look, read.reader, read.run_id, read.data_version_id,
                         read.read_at, read.model_dump_json()])
        return read

    def list_holdout_reads(self) -> list[HoldoutRead]:
        with self.connect() as con:
            rows = con.execute("SELECT body FROM holdout_reads ORDER BY seq").fetchall()
        return [HoldoutRead.model_validate_json(r[0]) for r in rows]

    # -- universes --------------------------------------------------------------------------------------------
    def put_universe(self, uv_id: str, name: str, timeframe: str, members: list[tuple[str, str]], body: str) -> bool:
        """Insert a universe (id, name, timeframe, ordered (symbol, data_version_id) members, JSON body) unless
        it exists. Returns whether it was created."""
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM universes WHERE id = ?", [uv_id]).fetchone():
                return False
            con.execute("INSERT INTO universes VALUES (?, ?, ?, ?, ?)", [uv_id, name, timeframe, body, _now()])
            for pos, (symbol, dv_id) in enumerate(members):
                con.execute("INSERT INTO universe_members VALUES (?, ?, ?, ?)", [uv_id, pos, symbol, dv_id])
        return True

    def get_universe_body(self, uv_id: str) -> str:
        with self.connect() as con:
            row = con.execute("SELECT body FROM universes WHERE id = ?", [uv_id]).fetchone()
        if not row:
            raise NotFound(f"no universe {uv_id!r}")
        return str(row[0])

    def list_universe_bodies(self) -> list[str]:
        with self.connect() as con:
            rows = con.execute("SELECT body FROM universes ORDER BY created_at, id").fetchall()
        return [str(r[0]) for r in rows]

    # -- typed objects and memory -------------------------------------------------------------------------------
    def put_object(self, kind: str, obj: BaseModel, obj_id: str | None = None) -> str:
        """Insert a typed research object by content id (idempotent). Returns the id."""
        oid = obj_id or obj.id  # type: ignore[attr-defined]
        with self.transaction() as con:
            if not con.execute("SELECT 1 FROM objects WHERE kind = ? AND id = ?", [kind, oid]).fetchone():
                con.execute("INSERT INTO objects VALUES (?, ?, ?, ?)", [kind, oid, obj.model_dump_json(), _now()])
        return oid

    def get_object(self, kind: str, obj_id: str, model: type[M]) -> M:
        with self.connect() as con:
            row = con.execute("SELECT body FROM objects WHERE kind = ? AND id = ?", [kind, obj_id]).fetchone()
        if not row:
            raise NotFound(f"no {kind} {obj_id!r}")
        return model.model_validate_json(row[0])

    def list_objects(self, kind: str, model: type[M]) -> list[M]:
        with self.connect() as con:
            rows = con.execute("SELECT body FROM objects WHERE kind = ? ORDER BY created_at, id", [kind]).fetchall()
        return [model.model_validate_json(r[0]) for r in rows]

    def memory_put(self, namespace: str, key: str, body: Any) -> None:
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO memory VALUES (?, ?, ?, ?)",
                        [namespace, key, json.dumps(body, sort_keys=True, default=str), _now()])

    def memory_get(self, namespace: str, key: str) -> Any | None:
        with self.connect() as con:
            row = con.execute("SELECT body FROM memory WHERE namespace = ? AND key = ?", [namespace, key]).fetchone()
        return json.loads(row[0]) if row else None

    def memory_list(self, namespace: str) -> dict[str, Any]:
        with self.connect() as con:
            rows = con.execute("SELECT key, body FROM memory WHERE namespace = ? ORDER BY key", [namespace]).fetchall()
        return {k: json.loads(b) for k, b in rows}


    # -- trial ledger -------------------------------------------------------------------------------------------
    def ledger_add(self, content_hash: str, session_id: str, source_kind: str, source_id: str,
                   trials: list[tuple[str, float | None, int]]) -> int:
        """Record `trials` ((trial_key, per-day Sharpe or None, n_obs) each) of one source as evaluated by
        `session_id` on the data content `content_hash`. Idempotent: a trial already recorded for this session
        is kept as it is. Returns how many rows were new."""
        now = _now()
        with self.transaction() as con:
            before = con.execute("SELECT count(*) FROM trial_ledger WHERE session_id = ? AND content_hash = ? "
                                 "AND source_kind = ? AND source_id = ?",
                                 [session_id, content_hash, source_kind, source_id]).fetchone()[0]
            rows = [[content_hash, session_id, source_kind, source_id, key,
                     None if sr is None or not np.isfinite(sr) else float(sr), int(n), now]
                    for key, sr, n in trials]
            if rows:
                con.executemany("INSERT OR IGNORE INTO trial_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            after = con.execute("SELECT count(*) FROM trial_ledger WHERE session_id = ? AND content_hash = ? "
                                "AND source_kind = ? AND source_id = ?",
                                [session_id, content_hash, source_kind, source_id]).fetchone()[0]
        return int(after - before)

    def ledger_has(self, content_hash: str, session_id: str, source_kind: str, source_id: str) -> bool:
        """Whether `session_id` already recorded trials of this source (a source is recorded in one
        transaction, so present means complete)."""
        with self.connect() as con:
            return con.execute("SELECT 1 FROM trial_ledger WHERE session_id = ? AND content_hash = ? AND "
                               "source_kind = ? AND source_id = ? LIMIT 1",
                               [session_id, content_hash, source_kind, source_id]).fetchone() is not None

    def ledger_trials(self, content_hash: str, session_id: str | None = None) -> pd.DataFrame:
        """The distinct trials evaluated on `content_hash`: by one session, or (None) in the whole workspace.

        A trial evaluated by several sessions appears once (columns source_kind, source_id, trial_key,
        sharpe, n_obs), ordered by source and key so the result is deterministic."""
        q = ("SELECT source_kind, source_id, trial_key, min(sharpe) AS sharpe, min(n_obs) AS n_obs "
             "FROM trial_ledger WHERE content_hash = ?")
        args: list[Any] = [content_hash]
        if session_id is not None:
            q, args = q + " AND session_id = ?", [*args, session_id]
        q += " GROUP BY source_kind, source_id, trial_key ORDER BY source_kind, source_id, trial_key"
        with self.connect() as con:
            return con.execute(q, args).df()


def frame_from_arrays(time_ms: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                      v: np.ndarray) -> pd.DataFrame:
    """Build a canonical bar frame from arrays (time in epoch ms)."""
    return pd.DataFrame({"time": pd.to_datetime(time_ms, unit="ms", utc=True), "open": o, "high": h,
                         "low": lo, "close": c, "volume": v})
