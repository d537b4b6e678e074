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

Verification (`verify`, `verify_all`, the gates, `export`, and `checked` for every reader) is one function,
`_verified`: trust.json verifies against its approver signature; the record's envelope against a trusted
witness key; the catalog row equals what was signed; the chain witnessed exactly this envelope last; the
whole chain verifies and extends its signed checkpoint (`anchor`); every artifact the record presents still
has its signed sha256 (`evidence`); and a production state carries a decision signed by a trusted approver
key over the frozen envelope (`approver.verify_decision`). Human decisions (approve, reject, deprecating a
production record) need an `ApproverSigner`, which only the approver's passphrase unlocks; an `Actor` that
merely claims to be human is refused. After every committed append, the chain head is checkpointed.

`on_step` (optional, for tests and tracing) is called with the name of each completed step inside the
transaction; an exception it raises aborts the transaction like a crash at that boundary would.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ValidationError

from auraquant.canonical import canonical_json, content_id, sha256_hex
from auraquant.cta.governance import evidence
from auraquant.cta.governance.actors import Actor, require_human
from auraquant.cta.governance.anchor import checkpoint_path, load_checkpoint, renamed_from, write_checkpoint
from auraquant.cta.governance.approval import ApprovalRequest, ApprovalStatus
from auraquant.cta.governance.approver import (
    ApproverSigner,
    Decision,
    approver_key_path,
    sign_decision,
    verify_decision,
)
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
    ApprovalRefused,
    ChainBroken,
    GatesNotMet,
    GovernanceError,
    IllegalTransition,
    KeyManagementError,
    RecordConflict,
    SignatureInvalid,
    SigningUnavailable,
    ThresholdsNotMet,
)
from auraquant.cta.governance.keys import TrustList, seal_trust, witness_key_path
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
from auraquant.cta.governance.userconfig import check_private_file, workspace_id
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


def checkpoint_sidecar(export_path: Path) -> Path:
    """Where `Archive.export` writes the chain checkpoint that travels with an exported artifact."""
    return export_path.with_name(export_path.name.removesuffix(".json") + ".checkpoint.json")


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

    @property
    def root(self) -> Path:
        """The workspace root (artifact references in records are relative to it)."""
        return self.aura_dir.parent

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
        """The record as stored (NOT verified: readers that show it use `checked` or `verify` first)."""
        with self.store.connect() as con:
            _, body, env = self._row(con, record_id)
        return StoredRecord(record=ArchiveRecord.model_validate_json(body),
                            envelope=parse_envelope(env) if env else None)

    def list_records(self, state: LifecycleState | None = None) -> list[StoredRecord]:
        """The records as stored (NOT verified; see `checked`)."""
        q = "SELECT body, envelope FROM archive_records" + (" WHERE state = ?" if state else "")
        with self.store.connect() as con:
            rows = con.execute(q + " ORDER BY created_at, id", [state] if state else []).fetchall()
        return [StoredRecord(record=ArchiveRecord.model_validate_json(b), envelope=parse_envelope(e) if e else None)
                for b, e in rows]

    def checked(self, state: LifecycleState | None = None,
                record_ids: list[str] | None = None) -> list[tuple[StoredRecord | None, RecordCheck]]:
        """Records with their verification, oldest first: what every reader shows (a failed check means the
        row must be refused or shown UNVERIFIED). The stored record is None when its row does not parse."""
        q = "SELECT id, state, body, envelope FROM archive_records" + (" WHERE state = ?" if state else "")
        with self.store.connect() as con:
            rows = con.execute(q + " ORDER BY created_at, id", [state] if state else []).fetchall()
            if record_ids is not None:
                wanted = set(record_ids)
                rows = [r for r in rows if r[0] in wanted]
            chain = self._chain_problem(con)
            cache: dict[str, str | None] = {}  # one pass: records citing one run hash its files once
            out: list[tuple[StoredRecord | None, RecordCheck]] = []
            for rid, _state, body, env in rows:
                check = self._check(con, rid, chain, cache)
                try:
                    stored: StoredRecord | None = StoredRecord(
                        record=ArchiveRecord.model_validate_json(body), envelope=parse_envelope(env) if env else None)
                except (ValueError, SignatureInvalid):
                    stored = None
                out.append((stored, check))
        return out

    def events(self, record_id: str | None = None) -> list[LifecycleEvent]:
        with self.store.connect() as con:
            return read_events(con, record_id)

    def _record_envelope(self, env: Envelope, trust: TrustList, allow_revoked: bool) -> dict[str, Any]:
        """The signed body, verified against a pinned witness key; `allow_revoked` accepts a key revoked since
        (retiring such a record is legitimate) but never an unknown, approver or forged one."""
        try:
            return verify_envelope(env, trust, schema_name=ARCHIVE_RECORD_SCHEMA)
        except SignatureInvalid:
            entry = trust.get(env.key_id)
            if not (allow_revoked and entry is not None and entry.status == "revoked" and entry.role == "witness"):
                raise
        # A revoked witness key: the signature itself must still be valid.
        from cryptography.exceptions import InvalidSignature

        try:
            entry.public().verify(bytes.fromhex(env.signature), env.signed_payload())
        except (ValueError, InvalidSignature):
            raise SignatureInvalid(f"signature INVALID against key {env.key_id}") from None
        return env.body

    def _verified(self, con: duckdb.DuckDBPyConnection, record_id: str, *, allow_revoked: bool = False,
                  cache: dict[str, str | None] | None = None) -> tuple[ArchiveRecord, Envelope, str]:
        """The record, its envelope and the stored envelope text, or `SignatureInvalid` (fail closed).
        Checks the record alone (signature, catalog row, chain witness, artifacts, approval); the whole-chain
        and checkpoint check is `_chain_problem`."""
        state, body, env_text = self._row(con, record_id)
        if env_text is None:
            raise SignatureInvalid(f"record {record_id} is an UNSIGNED degraded-mode candidate; refusing. "
                                   f"Re-run the experiment with a trusted witness key to archive it signed")
        env = parse_envelope(env_text)
        trust = self._trust()
        signed_body = self._record_envelope(env, trust, allow_revoked)
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
        transitions = [e for e in read_events(con, record_id) if e.event_type == "transition"]
        if not transitions or transitions[-1].payload.get("envelope_digest") != envelope_digest(env_text):
            raise SignatureInvalid(f"the artifact of {record_id} is not the one its last lifecycle event "
                                   f"witnessed (an older artifact was restored or one was swapped in)")
        problem = event_problem(transitions[-1], trust)
        if problem is not None and not (allow_revoked and "revoked" in problem):
            raise SignatureInvalid(f"the lifecycle event witnessing {record_id} is not authentic: {problem}")
        self._check_approval(rec, transitions, trust)
        altered = evidence.problems(self.root, self.store, rec.artifacts, cache)
        if altered:
            raise SignatureInvalid(f"record {record_id}: {'; '.join(altered[:3])}")
        return rec, env, env_text

    @staticmethod
    def _check_approval(rec: ArchiveRecord, transitions: list[LifecycleEvent], trust: TrustList) -> None:
        """A record that is or was in production must carry a valid approver decision over its frozen
        envelope, matching the chain's production event."""
        promoted = [i for i, e in enumerate(transitions) if e.to_state == "production"]
        if rec.state == "production" or rec.approval is not None or promoted:
            if rec.approval is None or not promoted or promoted[0] == 0:
                raise SignatureInvalid(f"record {rec.id} claims production without a chained, approver-signed "
                                       f"approval")
            frozen_digest = transitions[promoted[0] - 1].payload.get("envelope_digest")
            body = verify_decision(rec.approval.decision, trust, record_id=rec.id, decision="approved",
                                   approver_name=rec.approval.approved_by, record_envelope_digest=frozen_digest)
            if transitions[promoted[0]].payload.get("approval") != rec.approval.decision:
                raise SignatureInvalid(f"the approval in record {rec.id} is not the one its chain recorded")
            if body.get("request_id") != rec.approval.request_id:
                raise SignatureInvalid(f"the approval of {rec.id} was signed for another request")

    def key_hygiene(self) -> list[str]:
        """Private key files (witness, approver) that group or others can access: whatever they signed may
        have been signed by someone else, so nothing is trusted until the mode is fixed (as ssh refuses)."""
        out = []
        for path, what in ((witness_key_path(self.aura_dir), "witness key"), (approver_key_path(), "approver key")):
            try:
                check_private_file(path, what)
            except FileNotFoundError:
                continue
            except KeyManagementError as e:
                out.append(str(e))
        return out

    def _chain_problem(self, con: duckdb.DuckDBPyConnection) -> str | None:
        """Why the whole chain (incl. its checkpoint and the key files behind it) is not trustworthy, or None."""
        loose = self.key_hygiene()
        if loose:
            return loose[0]
        chain = verify_chain(con, self._trust(), self.aura_dir)
        if chain.ok:
            return None
        return f"the lifecycle chain does not verify ({'; '.join(chain.problems[:3])})"

    def _gate(self, con: duckdb.DuckDBPyConnection, record_id: str, *,
              allow_revoked: bool = False) -> tuple[ArchiveRecord, Envelope, str]:
        """The fail-closed gate of every write and export: the whole lifecycle chain must verify against its
        checkpoint (a compromised audit log stops everything) and so must the record."""
        problem = self._chain_problem(con)
        if problem is not None:
            raise ChainBroken(f"{problem}; refusing until it is repaired (`auraquant archive verify`)")
        return self._verified(con, record_id, allow_revoked=allow_revoked)

    def _check(self, con: duckdb.DuckDBPyConnection, record_id: str, chain_problem: str | None,
               cache: dict[str, str | None] | None = None) -> RecordCheck:
        state, _, env_text = self._row(con, record_id)
        env_kid = None
        if env_text is not None:
            try:
                env_kid = parse_envelope(env_text).key_id
            except SignatureInvalid:
                pass
        try:
            _, env, _ = self._verified(con, record_id, cache=cache)
        except (SignatureInvalid, ValueError) as e:
            return RecordCheck(record_id=record_id, state=state, ok=False, signed=env_text is not None,
                               key_id=env_kid, problem=str(e))
        if chain_problem is not None:
            return RecordCheck(record_id=record_id, state=state, ok=False, signed=True, key_id=env.key_id,
                               signed_at=env.signed_at, problem=chain_problem)
        return RecordCheck(record_id=record_id, state=state, ok=True, signed=True, key_id=env.key_id,
                           signed_at=env.signed_at)

    def verify(self, record_id: str) -> RecordCheck:
        """Verify one record (see `_verified`) and the chain it lives in. Never raises for a bad artifact;
        a trust list that fails verification raises `TrustListInvalid` (nothing can be checked against it)."""
        with self.store.connect() as con:
            return self._check(con, record_id, self._chain_problem(con))

    def verify_artifact(self, text: str | bytes) -> ArchiveRecord:
        """Verify an exported artifact (e.g. one received from elsewhere) against the pinned keys only.

        Checks the signature and schema, not the local lifecycle chain (the artifact may come from another
        workspace). Raises `SignatureInvalid`."""
        body = verify_envelope(parse_envelope(text), self._trust(), schema_name=ARCHIVE_RECORD_SCHEMA)
        try:
            return ArchiveRecord.model_validate(body)
        except ValidationError as e:
            raise SignatureInvalid(f"signed body is not a valid ArchiveRecord: {e}") from None

    def verify_checkpoint_file(self, path: Path) -> dict[str, Any] | None:
        """The body of an exported chain checkpoint (`checkpoint_sidecar`) if present, verified against the
        pinned witness keys; None when there is no such file. Raises `SignatureInvalid`."""
        if not path.is_file():
            return None
        from auraquant.cta.governance.anchor import checkpoint_body

        body, _ = checkpoint_body(parse_envelope(path.read_bytes()), self._trust())
        return body

    def verify_all(self) -> ArchiveVerification:
        """The chain (with its checkpoint and key-file hygiene), every record, and that catalog and chain
        agree (every record and approval request row has its events and every event its record). A degraded
        candidate is reported (not ok) but does not fail the chain."""
        with self.store.connect() as con:
            chain = verify_chain(con, self._trust(), self.aura_dir)
            loose = self.key_hygiene()
            if loose:
                chain = chain.model_copy(update={"ok": False, "problems": [*loose, *chain.problems]})
            rows = con.execute("SELECT id, state FROM archive_records ORDER BY created_at, id").fetchall()
            cache: dict[str, str | None] = {}
            checks = [self._check(con, i, None, cache) for i, _ in rows]
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
        altered = evidence.problems(self.root, self.store, record.artifacts)
        if altered:
            raise GovernanceError(f"record {record.id} cites artifacts that do not match: {'; '.join(altered[:3])}")
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
        with self._writing(signer) as con:
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
               on_step: StepHook | None = None,
               gates: Callable[[ArchiveRecord], list[str]] | None = None) -> ArchiveRecord:
        """candidate -> frozen: verify the candidate (fail closed), check the significance gates, score the
        sealed holdout once, sign.

        `score_holdout(record)` is supplied by the experiment layer and returns holdout metrics. A record
        labelled "not significant" is never frozen; `gates(record)` (the experiment layer's gate check,
        re-evaluated now) returns the failed gates, and any failure refuses before the holdout is read.
        """
        with self.store.connect() as con:
            state, _, _ = self._row(con, record_id)
            check_transition(state, "frozen", actor)  # type: ignore[arg-type]
            rec, _, env_text = self._gate(con, record_id)
        failed = list(gates(rec)) if gates is not None else []
        if not failed and rec.significance.get("label") == "not significant":
            failed = [str(rec.significance.get("failed_gates") or "labelled not significant")]
        if failed:
            raise GatesNotMet(f"refusing to freeze {record_id}: below the significance gates: "
                              + "; ".join(failed), failed)
        signer = self._signer()
        now = self._clock()
        holdout = dict(score_holdout(rec))
        frozen = ArchiveRecord.model_validate({**rec.model_dump(), "state": "frozen", "holdout": holdout,
                                               "frozen_at": now})
        return self._commit(rec, env_text, frozen, actor, signer, now, on_step, {"holdout": frozen.holdout})

    @staticmethod
    def _approver(approver: ApproverSigner | Actor, action: str) -> ApproverSigner:
        """The unlocked approver key a human decision needs; an Actor (even `Actor.human()`) is refused."""
        if isinstance(approver, ApproverSigner):
            require_human(Actor.human(approver.name), action)
            return approver
        require_human(approver, action)
        raise ApprovalRefused(f"{action} refused: a human decision needs the approver key unlocked with its "
                              f"passphrase (`auraquant approve ID` / `auraquant reject ID`); {approver} alone "
                              f"is not enough")

    def _decision(self, approver: ApproverSigner, record_id: str, env_text: str, decision: Decision, note: str,
                  request_id: str | None, now: datetime) -> dict[str, Any]:
        seal_trust(self.aura_dir, approver)  # lists the approver in trust.json and signs it (idempotent)
        env = sign_decision(approver, workspace_id=workspace_id(self.aura_dir), record_id=record_id,
                            record_envelope_digest=envelope_digest(env_text), decision=decision, note=note,
                            request_id=request_id, now=now)
        return env.model_dump(mode="json", exclude_none=True)

    def approve(self, record_id: str, approver: ApproverSigner | Actor, *, note: str = "",
                on_step: StepHook | None = None) -> ArchiveRecord:
        """frozen -> production, by a human with the unlocked approver key only; resolves the pending approval
        request (or records one). The approver's name comes from the key.

        Fails closed: an unsigned or invalid frozen artifact, a chain that does not verify against its
        checkpoint, a missing witness key, an `Actor` without the approver key, or any call from inside an
        agent session is refused before anything is written.
        """
        key = self._approver(approver, f"promotion of {record_id} to production")
        who = Actor.human(key.name)
        with self.store.connect() as con:
            state, _, _ = self._row(con, record_id)
            check_transition(state, "production", who)  # type: ignore[arg-type]
            rec, _, env_text = self._gate(con, record_id)
            pending = self._pending(con, record_id)
        signer = self._signer()
        now = self._clock()
        request = pending or self._new_request(record_id, who, now, "approved directly by a human")
        decision = self._decision(key, record_id, env_text, "approved", note, request.id, now)
        promoted = ArchiveRecord.model_validate({
            **rec.model_dump(), "state": "production",
            "approval": Approval(request_id=request.id, approved_by=key.name, approved_at=now, note=note,
                                 decision=decision)})
        resolved = request.model_copy(update={"status": "approved", "resolved_by": key.name,
                                              "resolved_at": now, "note": note})
        return self._commit(rec, env_text, promoted, actor=who, signer=signer, now=now, on_step=on_step,
                            payload={"request_id": request.id, "decision": "approved", "approval": decision},
                            request=(resolved, pending is None))

    def reject(self, record_id: str, approver: ApproverSigner | Actor, *, note: str = "") -> ApprovalRequest:
        """A human with the unlocked approver key declines promotion: the request is resolved `rejected`
        (signed by the approver); the record stays frozen. Verifies the record and chain first."""
        key = self._approver(approver, f"rejection of {record_id}")
        who = Actor.human(key.name)
        with self.store.connect() as con:
            state, _, env_text = self._row(con, record_id)
            if state != "frozen":
                raise IllegalTransition(f"only a frozen record awaiting approval can be rejected; {record_id} "
                                        f"is {state}")
            self._gate(con, record_id)
            pending = self._pending(con, record_id)
        assert env_text is not None  # a verified frozen record is signed
        signer = self._signer()
        now = self._clock()
        request = pending or self._new_request(record_id, who, now, "rejected directly by a human")
        decision = self._decision(key, record_id, env_text, "rejected", note, request.id, now)
        resolved = request.model_copy(update={"status": "rejected", "resolved_by": key.name,
                                              "resolved_at": now, "note": note})
        with self._writing(signer) as con:
            self._expect_row(con, record_id, state, env_text)
            self._put_request(con, resolved, insert=pending is None)
            self._event(con, record_id, "approval_resolved", state, state, who, signer, now,
                        {"request_id": resolved.id, "decision": "rejected", "note": note, "approval": decision})
        return resolved

    def discard(self, record_id: str, actor: Actor, reason: str) -> ArchiveRecord:
        """candidate -> discarded (verifies the candidate first)."""
        return self._retire(record_id, "discarded", actor, reason)

    def deprecate(self, record_id: str, actor: Actor | ApproverSigner, reason: str) -> ArchiveRecord:
        """frozen -> deprecated (anyone) or production -> deprecated (a human with the approver key)."""
        return self._retire(record_id, "deprecated", actor, reason)

    def _retire(self, record_id: str, target: LifecycleState, actor: Actor | ApproverSigner,
                reason: str) -> ArchiveRecord:
        # Retiring verifies first (a tampered row is never re-signed as if it were genuine), but accepts an
        # artifact whose witness key was revoked since: that is exactly when one retires it.
        with self.store.connect() as con:
            state, _, _ = self._row(con, record_id)
        key: ApproverSigner | None = None
        if state == "production":
            key = self._approver(actor, f"deprecation of production record {record_id}")
            who = Actor.human(key.name)
        else:
            who = Actor.human(actor.name) if isinstance(actor, ApproverSigner) else actor
        check_transition(state, target, who)  # type: ignore[arg-type]
        with self.store.connect() as con:
            rec, _, env_text = self._gate(con, record_id, allow_revoked=True)
        now = self._clock()
        payload: dict[str, Any] = {"reason": reason}
        if key is not None:
            payload["approval"] = self._decision(key, record_id, env_text, "deprecated", reason, None, now)
        retired = ArchiveRecord.model_validate({**rec.model_dump(), "state": target, "closed_at": now})
        return self._commit(rec, env_text, retired, who, self._signer(), now, None, payload)

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
        with self._writing(signer) as con:
            self._expect_row(con, record_id, state, env_text)
            if self._pending(con, record_id) is not None:
                raise RecordConflict(f"an approval request for {record_id} was opened concurrently")
            self._put_request(con, request, insert=True)
            self._event(con, record_id, "approval_requested", state, state, actor, signer, now,
                        {"request_id": request.id, "reason": reason})
        return request

    def approval_status(self, record_or_request_id: str) -> ApprovalStatus:
        """The record's state and latest request, and the next step; a record (or chain) that does not verify
        says so instead of reporting its claimed state as fact."""
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
        check = self.verify(record_id)
        if not check.ok:
            nxt = (f"UNVERIFIED: {check.problem}; nothing proceeds until it verifies (`auraquant archive verify "
                   f"{record_id}`)")
        elif state == "production":
            nxt = "promoted to production by a human; nothing to do"
        elif state != "frozen":
            nxt = f"record is {state}; only a frozen record can be promoted"
        elif request is None or request.status == "rejected":
            nxt = "request approval (approval_request); a human then runs `auraquant approve ID`"
        else:
            nxt = f"waiting for a human: `auraquant approve {record_id}` or `auraquant reject {record_id}`"
        return ApprovalStatus(record_id=record_id, record_state=state, request=request, next_step=nxt)

    def anchor(self, approver: ApproverSigner | Actor) -> int:
        """Checkpoint a chain that has no checkpoint yet (it predates them, or the workspace came from another
        user or machine). A human decision, and the chain must verify in every other respect. It needs the
        unlocked approver key once an approver exists (configured here, or the trust list is signed); a
        workspace in the research bootstrap (no approver anywhere) accepts a human at the CLI. Refuses when a
        checkpoint exists (a mismatch is tampering, never re-anchored). Returns the anchored seq."""
        action = "anchoring the lifecycle chain"
        if isinstance(approver, ApproverSigner) or approver_key_path().exists() or \
                not self._trust().signature_state.startswith("unsigned"):
            seal_trust(self.aura_dir, self._approver(approver, action))
        else:
            require_human(approver, action)
        if load_checkpoint(self.aura_dir) is not None:
            raise GovernanceError(f"this chain already has a checkpoint ({checkpoint_path(self.aura_dir)}); "
                                  f"`auraquant archive verify` says whether the chain still reaches it")
        previous = renamed_from(self.aura_dir)
        if previous is not None:
            raise GovernanceError(f"this workspace was checkpointed under id {previous}; its id was changed. "
                                  f"Restore `workspace_id` in .aura/workspace.json instead of re-anchoring")
        with self.store.connect() as con:
            chain = verify_chain(con, self._trust())
            if not chain.ok:
                raise ChainBroken(f"the lifecycle chain does not verify ({'; '.join(chain.problems[:3])}); "
                                  f"refusing to anchor it")
            row = con.execute("SELECT seq, hash FROM governance_head WHERE id = 1").fetchone()
            if row is None:
                return 0
            write_checkpoint(self.aura_dir, int(row[0]), str(row[1]), self._signer(), now=self._clock())
        return int(row[0])

    # -- export ----------------------------------------------------------------------------------------------------
    def export(self, record_id: str, dest: Path) -> Path:
        """Write the verified signed artifact (canonical JSON) to `dest` (a file, or a directory for
        `<id>.<state>.json`) and, next to it (`<name>.checkpoint.json`), the signed chain checkpoint it was
        verified against. Refuses an unsigned or invalid artifact, or a chain that does not verify against its
        checkpoint. Returns the artifact path (`checkpoint_sidecar(path)` names the checkpoint next to it)."""
        with self.store.connect() as con:
            rec, env, _ = self._gate(con, record_id)
            checkpoint = load_checkpoint(self.aura_dir)
        if checkpoint is None:
            raise ChainBroken(f"no chain checkpoint at {checkpoint_path(self.aura_dir)}; nothing to export with")
        path = dest / f"{record_id}.{rec.state}.json" if dest.is_dir() else dest
        side = checkpoint_sidecar(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, text in ((path, env.to_json()), (side, checkpoint.to_json())):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(text + "\n")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return path

    # -- internals -------------------------------------------------------------------------------------------------
    def _commit(self, before: ArchiveRecord, before_env: str | None, after: ArchiveRecord, actor: Actor,
                signer: Signer, now: datetime, on_step: StepHook | None, payload: dict[str, Any],
                request: tuple[ApprovalRequest, bool] | None = None) -> ArchiveRecord:
        step = on_step or _noop
        env_text = sign_envelope(ARCHIVE_RECORD_SCHEMA, after.model_dump(mode="json"), signer, now=now).to_json()
        with self._writing(signer) as con:
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

    @contextmanager
    def _writing(self, signer: Signer | None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction; after it commits, and still under the store lock, checkpoint the new chain head
        (so the checkpoint never names a rolled-back event and never goes backwards)."""
        with self.store.connect() as con:
            with self.store.transaction() as tx:
                yield tx
            if signer is None:
                return
            row = con.execute("SELECT seq, hash FROM governance_head WHERE id = 1").fetchone()
            if row is None:
                return
            try:
                write_checkpoint(self.aura_dir, int(row[0]), str(row[1]), signer, now=self._clock())
            except OSError as e:
                raise GovernanceError(f"committed, but the chain checkpoint could not be written "
                                      f"({checkpoint_path(self.aura_dir)}): {e}") from None

    def _event(self, con: duckdb.DuckDBPyConnection, record_id: str, etype: EventType, frm: str | None,
               to: str | None, actor: Actor, signer: Signer | None, now: datetime, payload: dict[str, Any]) -> None:
        append_event(con, record_id=record_id, event_type=etype, from_state=frm, to_state=to, actor=actor,
                     payload=payload, signer=signer, now=now, trust=self._trust())

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
