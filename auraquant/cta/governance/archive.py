"""The governance archive: signed research records moving through the lifecycle with a human gate.

Every write follows one pattern, which is what makes the gates fail closed and the writes crash-safe:
1. read and check (no write, no lock held afterwards): the transition is legal for this actor, and for
   freeze and promotion the current artifact verifies against the pinned keys of trust.json, matches the
   catalog row, and is the artifact the lifecycle chain witnessed last. Any failure raises before anything
   is written, so a refused operation leaves the store byte-for-byte unchanged.
2. compute and sign outside any transaction (the holdout scorer may use the store from other threads).
3. one DuckDB transaction: check the row is still exactly what step 1 verified (else `RecordConflict`),
   update the record, resolve the approval, append the hash-chained event. A crash anywhere in it rolls
   everything back: a record is fully before or fully after a transition, never between.

`on_step` (optional, for tests and tracing) is called with the name of each completed step inside the
transaction; an exception it raises aborts the transaction like a crash at that boundary would.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ValidationError

from auraquant.canonical import canonical_json, content_id, sha256_hex
from auraquant.cta.governance.actors import Actor, require_human
from auraquant.cta.governance.approval import ApprovalRequest, ApprovalStatus
from auraquant.cta.governance.chain import (
    ChainReport,
    EventType,
    LifecycleEvent,
    append_event,
    event_problem,
    read_events,
    verify_chain,
)
from auraquant.cta.governance.errors import (
    ChainBroken,
    GovernanceError,
    IllegalTransition,
    RecordConflict,
    SignatureInvalid,
    SigningUnavailable,
    ThresholdsNotMet,
)
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.lifecycle import check_transition
from auraquant.cta.governance.memory import record_pattern
from auraquant.cta.governance.record import (
    ARCHIVE_RECORD_SCHEMA,
    Approval,
    ArchiveRecord,
    GoalThresholds,
    LifecycleState,
)
from auraquant.cta.governance.signing import (
    Envelope,
    Signer,
    parse_envelope,
    sign_envelope,
    verify_envelope,
    witness_signer,
)
from auraquant.store import NotFound, Store

StepHook = Callable[[str], None]
HoldoutScorer = Callable[[ArchiveRecord], Mapping[str, float | None]]

_log = logging.getLogger("auraquant.governance")


class DegradedModeWarning(UserWarning):
    """An unsigned candidate was stored: it can never be frozen or promoted until re-submitted signed."""


class StoredRecord(BaseModel):
    record: ArchiveRecord
    envelope: Envelope | None

    @property
    def signed(self) -> bool:
        return self.envelope is not None


class RecordCheck(BaseModel):
    record_id: str
    state: str
    ok: bool
    signed: bool
    key_id: str | None = None
    signed_at: str | None = None
    problem: str | None = None


class ArchiveVerification(BaseModel):
    ok: bool
    chain: ChainReport
    records: list[RecordCheck]
    consistency: list[str]  # catalog rows and chain disagree (a record or request row added or deleted)


def envelope_digest(envelope_text: str) -> str:
    """sha256 of the canonical envelope JSON: how a lifecycle event names the artifact it witnessed."""
    return sha256_hex(canonical_json(json.loads(envelope_text)))


def _noop(_: str) -> None:
    return None


def _consistency(states: dict[str, str], requests: list[tuple[str, str, str]],
                 events: list[LifecycleEvent]) -> list[str]:
    out = []
    last: dict[str, str | None] = {}
    by_request: dict[str, set[str]] = {}
    for e in events:
        if e.event_type == "transition":
            last[e.record_id] = e.to_state
        if "request_id" in e.payload:
            by_request.setdefault(str(e.payload["request_id"]), set()).add(str(e.payload.get("decision", "pending")))
    for rid in sorted(set(last) - set(states)):
        out.append(f"record {rid} has lifecycle events but no catalog row (deleted)")
    for rid, state in states.items():
        if last.get(rid) != state:
            out.append(f"record {rid} is {state} in the catalog but its last lifecycle event says {last.get(rid)}")
    for req_id, rid, status in requests:
        if status not in by_request.get(req_id, set()):
            out.append(f"approval request {req_id} ({rid}, {status}) has no matching lifecycle event")
    return out


class Archive:
    """Governance operations over one workspace store. `signer` overrides the workspace witness key."""

    def __init__(self, store: Store, aura_dir: Path | None = None, *, signer: Signer | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.aura_dir = Path(aura_dir) if aura_dir is not None else store.aura_dir
        self._signer_override = signer
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- keys and trust -----------------------------------------------------------------------------------------
    def _signer(self) -> Signer:
        return self._signer_override if self._signer_override is not None else witness_signer(self.aura_dir)

    def _trust(self) -> TrustList:
        return TrustList.load(self.aura_dir)

    # -- reads ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _row(con: duckdb.DuckDBPyConnection, record_id: str) -> tuple[str, str, str | None]:
        row = con.execute("SELECT state, body, envelope FROM archive_records WHERE id = ?", [record_id]).fetchone()
        if not row:
            raise NotFound(f"no archive record {record_id!r}; `auraquant archive list` shows what exists")
        return str(row[0]), str(row[1]), row[2]

    def get(self, record_id: str) -> StoredRecord:
        """The record as stored (not verified: use `verify` before trusting it)."""
        with self.store.connect() as con:
            _, body, env = self._row(con, record_id)
        return StoredRecord(record=ArchiveRecord.model_validate_json(body),
                            envelope=parse_envelope(env) if env else None)

    def list_records(self, state: LifecycleState | None = None) -> list[StoredRecord]:
        q = "SELECT body, envelope FROM archive_records" + (" WHERE state = ?" if state else "")
        with self.store.connect() as con:
            rows = con.execute(q + " ORDER BY created_at, id", [state] if state else []).fetchall()
        return [StoredRecord(record=ArchiveRecord.model_validate_json(b), envelope=parse_envelope(e) if e else None)
                for b, e in rows]

    def events(self, record_id: str | None = None) -> list[LifecycleEvent]:
        with self.store.connect() as con:
            return read_events(con, record_id)

    def _verified(self, con: duckdb.DuckDBPyConnection, record_id: str) -> tuple[ArchiveRecord, Envelope, str]:
        """The record, its envelope and the stored envelope text, or `SignatureInvalid` (fail closed)."""
        state, body, env_text = self._row(con, record_id)
        if env_text is None:
            raise SignatureInvalid(f"record {record_id} is an UNSIGNED degraded-mode candidate; refusing. "
                                   f"Re-run the experiment with a trusted witness key to archive it signed")
        env = parse_envelope(env_text)
        trust = self._trust()
        signed_body = verify_envelope(env, trust, schema_name=ARCHIVE_RECORD_SCHEMA)
        try:
            rec = ArchiveRecord.model_validate(signed_body)
        except ValidationError as e:
            raise SignatureInvalid(f"signed body of {record_id} is not a valid ArchiveRecord: {e}") from None
        if rec.id != record_id or rec.state != state:
            raise SignatureInvalid(f"catalog row {record_id} ({state}) does not match its signed artifact "
                                   f"({rec.id}, {rec.state}); the catalog was altered")
        if canonical_json(json.loads(body)) != canonical_json(signed_body):
            raise SignatureInvalid(f"catalog body of {record_id} differs from its signed artifact; the catalog "
                                   f"was altered")
        last = [e for e in read_events(con, record_id) if e.event_type == "transition"]
        if not last or last[-1].payload.get("envelope_digest") != envelope_digest(env_text):
            raise SignatureInvalid(f"the artifact of {record_id} is not the one its last lifecycle event "
                                   f"witnessed (an older artifact was restored or one was swapped in)")
        problem = event_problem(last[-1], trust)
        if problem is not None:
            raise SignatureInvalid(f"the lifecycle event witnessing {record_id} is not authentic: {problem}")
        return rec, env, env_text

    def _gate(self, con: duckdb.DuckDBPyConnection, record_id: str) -> tuple[ArchiveRecord, Envelope, str]:
        """The fail-closed gate of freeze, promotion and approval requests: the whole lifecycle chain must
        verify (a compromised audit log stops every promotion) and so must the record's artifact."""
        chain = verify_chain(con, self._trust())
        if not chain.ok:
            raise ChainBroken(f"the lifecycle chain does not verify ({'; '.join(chain.problems[:3])}); "
                              f"refusing until it is repaired (`auraquant archive verify`)")
        return self._verified(con, record_id)

    def verify(self, record_id: str) -> RecordCheck:
        """Verify one record's artifact against trust.json and the chain. Never raises for a bad artifact."""
        with self.store.connect() as con:
            state, _, env_text = self._row(con, record_id)
            try:
                _, env, _ = self._verified(con, record_id)
            except (SignatureInvalid, ValueError) as e:
                env_kid = None
                if env_text is not None:
                    try:
                        env_kid = parse_envelope(env_text).key_id
                    except SignatureInvalid:
                        pass
                return RecordCheck(record_id=record_id, state=state, ok=False, signed=env_text is not None,
                                   key_id=env_kid, problem=str(e))
        return RecordCheck(record_id=record_id, state=state, ok=True, signed=True, key_id=env.key_id,
                           signed_at=env.signed_at)

    def verify_artifact(self, text: str | bytes) -> ArchiveRecord:
        """Verify an exported artifact (e.g. one received from elsewhere) against the pinned keys only.

        Checks the signature and schema, not the local lifecycle chain (the artifact may come from another
        workspace). Raises `SignatureInvalid`."""
        body = verify_envelope(parse_envelope(text), self._trust(), schema_name=ARCHIVE_RECORD_SCHEMA)
        try:
            return ArchiveRecord.model_validate(body)
        except ValidationError as e:
            raise SignatureInvalid(f"signed body is not a valid ArchiveRecord: {e}") from None

    def verify_all(self) -> ArchiveVerification:
        """The chain, every record, and that catalog and chain agree (every record and approval request row
        has its events and every event its record). A degraded candidate is reported (not ok) but does not
        fail the chain."""
        with self.store.connect() as con:
            chain = verify_chain(con, self._trust())
            rows = con.execute("SELECT id, state FROM archive_records ORDER BY created_at, id").fetchall()
            checks = [self.verify(i) for i, _ in rows]
            requests = con.execute("SELECT id, record_id, status FROM approval_requests ORDER BY id").fetchall()
            events = read_events(con)
        consistency = _consistency(dict(rows), requests, events)
        return ArchiveVerification(ok=chain.ok and not consistency and all(c.ok for c in checks), chain=chain,
                                   records=checks, consistency=consistency)

    # -- transitions --------------------------------------------------------------------------------------------
    def submit_candidate(self, record: ArchiveRecord, goal: GoalThresholds, actor: Actor, *,
                         degraded: bool = False, on_step: StepHook | None = None) -> ArchiveRecord:
        """Archive a new candidate whose metrics meet `goal`, signed by the witness key.

        Idempotent: a record with the same id returns the stored one. Without a usable witness key this
        refuses unless `degraded` is set, in which case the candidate is stored UNSIGNED with a loud
        `DegradedModeWarning`; such a candidate can never be frozen or promoted.
        """
        step = on_step or _noop
        if (record.state, record.holdout, record.frozen_at, record.approval, record.closed_at) != \
                ("candidate", None, None, None, None):
            raise GovernanceError("a new archive record must be a bare candidate (no holdout, approval or "
                                  "lifecycle timestamps)")
        failures = goal.failures(record.metrics)
        if failures:
            raise ThresholdsNotMet(f"record {record.id} does not meet the goal: " + "; ".join(failures), failures)
        check_transition(None, "candidate", actor)
        with self.store.connect() as con:
            row = con.execute("SELECT body FROM archive_records WHERE id = ?", [record.id]).fetchone()
            if row:
                return ArchiveRecord.model_validate_json(row[0])
            known = {r[0] for r in con.execute("SELECT id FROM archive_records").fetchall()}
        missing = sorted(set(record.parents) - known)
        if missing:
            raise GovernanceError(f"unknown parent record(s) {', '.join(missing)}: lineage must point to "
                                  f"archived records")
        signer: Signer | None
        try:
            signer = self._signer()
        except SigningUnavailable as e:
            if not degraded:
                raise SigningUnavailable(f"{e}. Refusing to store an unsigned candidate; degraded mode "
                                         f"(unsigned, never promotable) must be asked for explicitly") from None
            signer = None
            msg = (f"DEGRADED MODE: storing candidate {record.id} UNSIGNED ({e}). It cannot be frozen or "
                   f"promoted; fix the witness key and re-run to archive it signed.")
            _log.warning(msg)
            warnings.warn(msg, DegradedModeWarning, stacklevel=2)
        now = self._clock()
        env_text = None
        if signer is not None:
            env_text = sign_envelope(ARCHIVE_RECORD_SCHEMA, record.model_dump(mode="json"), signer, now=now).to_json()
        with self.store.transaction() as con:
            if con.execute("SELECT 1 FROM archive_records WHERE id = ?", [record.id]).fetchone():
                raise RecordConflict(f"record {record.id} was archived concurrently; nothing written")
            con.execute("INSERT INTO archive_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [record.id, "candidate", record.family, record.spec_id, record.data_version_id,
                         record.model_id, canonical_json(record).decode(), env_text, record.created_at, now])
            step("record_written")
            self._event(con, record.id, "transition", None, "candidate", actor, signer, now,
                        {"envelope_digest": envelope_digest(env_text) if env_text else None,
                         "degraded": signer is None, "goal": goal.model_dump(mode="json")})
            step("event_appended")
        if signer is not None:
            record_pattern(self.store, record)
        return record

    def freeze(self, record_id: str, score_holdout: HoldoutScorer, actor: Actor, *,
               on_step: StepHook | None = None) -> ArchiveRecord:
        """candidate -> frozen: verify the candidate (fail closed), score the sealed holdout once, sign.

        `score_holdout(record)` is supplied by the experiment layer and returns holdout metrics.
        """
        with self.store.connect() as con:
            state, _, _ = self._row(con, record_id)
            check_transition(state, "frozen", actor)  # type: ignore[arg-type]
            rec, _, env_text = self._gate(con, record_id)
        signer = self._signer()
        now = self._clock()
        holdout = dict(score_holdout(rec))
        frozen = ArchiveRecord.model_validate({**rec.model_dump(), "state": "frozen", "holdout": holdout,
                                               "frozen_at": now})
        return self._commit(rec, env_text, frozen, actor, signer, now, on_step, {"holdout": frozen.holdout})

    def approve(self, record_id: str, approver: Actor, *, note: str = "",
                on_step: StepHook | None = None) -> ArchiveRecord:
        """frozen -> production, by a human only; resolves the pending approval request (or records one).

        Fails closed: an unsigned or invalid frozen artifact, a missing witness key, or any non-human caller
        is refused before anything is written.
        """
        require_human(approver, f"promotion of {record_id} to production")
        with self.store.connect() as con:
            state, _, _ = self._row(con, record_id)
            check_transition(state, "production", approver)  # type: ignore[arg-type]
            rec, _, env_text = self._gate(con, record_id)
            pending = self._pending(con, record_id)
        signer = self._signer()
        now = self._clock()
        request = pending or self._new_request(record_id, approver, now, "approved directly by a human")
        promoted = ArchiveRecord.model_validate({
            **rec.model_dump(), "state": "production",
            "approval": Approval(request_id=request.id, approved_by=approver.name, approved_at=now, note=note)})
        resolved = request.model_copy(update={"status": "approved", "resolved_by": approver.name,
                                              "resolved_at": now, "note": note})
        return self._commit(rec, env_text, promoted, actor=approver, signer=signer, now=now, on_step=on_step,
                            payload={"request_id": request.id, "decision": "approved"},
                            request=(resolved, pending is None))

    def reject(self, record_id: str, approver: Actor, *, note: str = "") -> ApprovalRequest:
        """A human declines promotion: the request is resolved `rejected`; the record stays frozen."""
        require_human(approver, f"rejection of {record_id}")
        with self.store.connect() as con:
            state, _, env_text = self._row(con, record_id)
            if state != "frozen":
                raise IllegalTransition(f"only a frozen record awaiting approval can be rejected; {record_id} "
                                        f"is {state}")
            pending = self._pending(con, record_id)
        signer = self._signer()
        now = self._clock()
        request = pending or self._new_request(record_id, approver, now, "rejected directly by a human")
        resolved = request.model_copy(update={"status": "rejected", "resolved_by": approver.name,
                                              "resolved_at": now, "note": note})
        with self.store.transaction() as con:
            self._expect_row(con, record_id, state, env_text)
            self._put_request(con, resolved, insert=pending is None)
            self._event(con, record_id, "approval_resolved", state, state, approver, signer, now,
                        {"request_id": resolved.id, "decision": "rejected", "note": note})
        return resolved

    def discard(self, record_id: str, actor: Actor, reason: str) -> ArchiveRecord:
        """candidate -> discarded."""
        return self._retire(record_id, "discarded", actor, reason)

    def deprecate(self, record_id: str, actor: Actor, reason: str) -> ArchiveRecord:
        """frozen -> deprecated (anyone) or production -> deprecated (human only)."""
        return self._retire(record_id, "deprecated", actor, reason)

    def _retire(self, record_id: str, target: LifecycleState, actor: Actor, reason: str) -> ArchiveRecord:
        # Retiring must work even when the current artifact no longer verifies (e.g. its key was revoked):
        # that is exactly when one retires it. The new state is still signed and chained.
        with self.store.connect() as con:
            state, body, env_text = self._row(con, record_id)
        check_transition(state, target, actor)  # type: ignore[arg-type]
        rec = ArchiveRecord.model_validate_json(body)
        now = self._clock()
        retired = ArchiveRecord.model_validate({**rec.model_dump(), "state": target, "closed_at": now})
        return self._commit(rec, env_text, retired, actor, self._signer(), now, None, {"reason": reason})

    # -- approval requests (agent-facing reads and requests) -------------------------------------------------------
    def request_approval(self, record_id: str, actor: Actor, reason: str) -> ApprovalRequest:
        """Open an approval request for a frozen, verified record (idempotent while one is pending).

        Anyone, the agent included, may request; nobody can resolve through this method.
        """
        with self.store.connect() as con:
            state, _, env_text = self._row(con, record_id)
            if state != "frozen":
                raise IllegalTransition(f"approval can be requested only for a frozen record; {record_id} is "
                                        f"{state}")
            self._gate(con, record_id)
            pending = self._pending(con, record_id)
        if pending is not None:
            return pending
        signer = self._signer()
        now = self._clock()
        request = self._new_request(record_id, actor, now, reason)
        with self.store.transaction() as con:
            self._expect_row(con, record_id, state, env_text)
            if self._pending(con, record_id) is not None:
                raise RecordConflict(f"an approval request for {record_id} was opened concurrently")
            self._put_request(con, request, insert=True)
            self._event(con, record_id, "approval_requested", state, state, actor, signer, now,
                        {"request_id": request.id, "reason": reason})
        return request

    def approval_status(self, record_or_request_id: str) -> ApprovalStatus:
        with self.store.connect() as con:
            record_id = record_or_request_id
            if record_or_request_id.startswith("apr_"):
                row = con.execute("SELECT record_id FROM approval_requests WHERE id = ?",
                                  [record_or_request_id]).fetchone()
                if not row:
                    raise NotFound(f"no approval request {record_or_request_id!r}")
                record_id = row[0]
            state, _, _ = self._row(con, record_id)
            row = con.execute("SELECT body FROM approval_requests WHERE record_id = ? "
                              "ORDER BY requested_at DESC, id DESC LIMIT 1", [record_id]).fetchone()
        request = ApprovalRequest.model_validate_json(row[0]) if row else None
        if state == "production":
            nxt = "promoted to production by a human; nothing to do"
        elif state != "frozen":
            nxt = f"record is {state}; only a frozen record can be promoted"
        elif request is None or request.status == "rejected":
            nxt = "request approval (approval_request); a human then runs `auraquant approve ID`"
        else:
            nxt = f"waiting for a human: `auraquant approve {record_id}` or `auraquant reject {record_id}`"
        return ApprovalStatus(record_id=record_id, record_state=state, request=request, next_step=nxt)

    # -- export ----------------------------------------------------------------------------------------------------
    def export(self, record_id: str, dest: Path) -> Path:
        """Write the verified signed artifact (canonical JSON) to `dest` (a file, or a directory for
        `<id>.<state>.json`). Refuses an unsigned or invalid artifact."""
        with self.store.connect() as con:
            rec, env, _ = self._verified(con, record_id)
        path = dest / f"{record_id}.{rec.state}.json" if dest.is_dir() else dest
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(env.to_json() + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # -- internals -------------------------------------------------------------------------------------------------
    def _commit(self, before: ArchiveRecord, before_env: str | None, after: ArchiveRecord, actor: Actor,
                signer: Signer, now: datetime, on_step: StepHook | None, payload: dict[str, Any],
                request: tuple[ApprovalRequest, bool] | None = None) -> ArchiveRecord:
        step = on_step or _noop
        env_text = sign_envelope(ARCHIVE_RECORD_SCHEMA, after.model_dump(mode="json"), signer, now=now).to_json()
        with self.store.transaction() as con:
            self._expect_row(con, before.id, before.state, before_env)
            con.execute("UPDATE archive_records SET state = ?, body = ?, envelope = ?, updated_at = ? WHERE id = ?",
                        [after.state, canonical_json(after).decode(), env_text, now, before.id])
            step("record_updated")
            if request is not None:
                self._put_request(con, request[0], insert=request[1])
                step("approval_resolved")
            self._event(con, before.id, "transition", before.state, after.state, actor, signer, now,
                        {"envelope_digest": envelope_digest(env_text), **payload})
            step("event_appended")
        return after

    def _expect_row(self, con: duckdb.DuckDBPyConnection, record_id: str, state: str, env_text: str | None) -> None:
        now_state, _, now_env = self._row(con, record_id)
        if (now_state, now_env) != (state, env_text):
            raise RecordConflict(f"record {record_id} changed while this operation ran (now {now_state}); "
                                 f"nothing written, retry")

    @staticmethod
    def _event(con: duckdb.DuckDBPyConnection, record_id: str, etype: EventType, frm: str | None, to: str | None,
               actor: Actor, signer: Signer | None, now: datetime, payload: dict[str, Any]) -> None:
        append_event(con, record_id=record_id, event_type=etype, from_state=frm, to_state=to, actor=actor,
                     payload=payload, signer=signer, now=now)

    @staticmethod
    def _pending(con: duckdb.DuckDBPyConnection, record_id: str) -> ApprovalRequest | None:
        row = con.execute("SELECT body FROM approval_requests WHERE record_id = ? AND status = 'pending'",
                          [record_id]).fetchone()
        return ApprovalRequest.model_validate_json(row[0]) if row else None

    @staticmethod
    def _new_request(record_id: str, actor: Actor, now: datetime, reason: str) -> ApprovalRequest:
        rid = content_id("apr", {"record_id": record_id, "requested_by": str(actor), "at": now.isoformat()})
        return ApprovalRequest(id=rid, record_id=record_id, status="pending", requested_by=str(actor),
                               requested_at=now, reason=reason)

    @staticmethod
    def _put_request(con: duckdb.DuckDBPyConnection, req: ApprovalRequest, *, insert: bool) -> None:
        body = req.model_dump_json()
        if insert:
            con.execute("INSERT INTO approval_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [req.id, req.record_id, req.status, req.requested_by, req.requested_at, req.reason,
                         req.resolved_by, req.resolved_at, req.note, body])
        else:
            con.execute("UPDATE approval_requests SET status = ?, resolved_by = ?, resolved_at = ?, note = ?, "
                        "body = ? WHERE id = ? AND status = 'pending'",
                        [req.status, req.resolved_by, req.resolved_at, req.note, body, req.id])
