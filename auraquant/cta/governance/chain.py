"""The append-only, hash-chained lifecycle event log (one chain for the whole workspace).

Event n stores `prev_hash` = hash of event n-1 (64 zeros for the first) and
`hash = sha256(canonical_json({seq, record_id, event_type, from_state, to_state, actor_kind, actor, at,
payload, prev_hash}))`. The witness key signs each hash (schema `auraquant.lifecycle_event/v1`), so rewriting
the chain needs the key, not just database access. `governance_head` holds the last seq and hash: deleting
the newest events is detected too.

`verify_chain` reports:
- problems (the chain is not trustworthy): an edited event (hash mismatch), a deleted or reordered event
  (seq gap or broken link), a head that does not match the last event, an invalid signature or one by a
  key that was never pinned, an unsigned event other than a degraded-mode candidate;
- warnings: degraded (unsigned) candidate events and events signed by a key revoked since.

Human decisions are checked too: a transition to production, a production record's deprecation and an
approval resolution are problems unless the payload carries (`approval`) a decision signed by a trusted
approver key for that record, that decision, the named approver and (for transitions) the record envelope
the chain witnessed just before (`approver.verify_decision`). The witness key can sign events, never these.

Appending refuses to extend a chain whose head does not match its last event, and refuses a signer that is
not a trusted witness key at that moment (a revoked key appends nothing). Given the workspace `.aura`
directory, `verify_chain` also checks the chain against its signed checkpoint in the user config dir
(`anchor.anchor_problems`), which detects truncation and rewinding by someone who can rewrite the database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.errors import ChainBroken, SignatureInvalid, SigningUnavailable
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.signing import Signer, signed_payload

GENESIS = "0" * 64
EVENT_SCHEMA = "auraquant.lifecycle_event/v1"
EventType = Literal["transition", "approval_requested", "approval_resolved"]


def iso_utc(dt: datetime) -> str:
    """The one timestamp form hashed into events (UTC, microseconds, `Z`)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class LifecycleEvent(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}

    seq: int
    record_id: str
    event_type: EventType
    from_state: str | None
    to_state: str | None
    actor_kind: str
    actor: str
    at: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    key_id: str | None = None
    signature: str | None = None

    def computed_hash(self) -> str:
        return event_hash(self.model_dump(exclude={"hash", "key_id", "signature"}))


def event_hash(content: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(content))


_COLUMNS = ("seq, record_id, event_type, from_state, to_state, actor_kind, actor, event_at, body, prev_hash, "
            "hash, key_id, signature")


def _row_to_event(row: tuple[Any, ...]) -> LifecycleEvent:
    seq, rid, etype, frm, to, akind, actor, at, body, prev, h, kid, sig = row
    return LifecycleEvent(seq=seq, record_id=rid, event_type=etype, from_state=frm, to_state=to, actor_kind=akind,
                          actor=actor, at=iso_utc(at), payload=json.loads(body), prev_hash=prev, hash=h,
                          key_id=kid, signature=sig)


def read_events(con: duckdb.DuckDBPyConnection, record_id: str | None = None) -> list[LifecycleEvent]:
    q = f"SELECT {_COLUMNS} FROM governance_events"
    rows = con.execute(q + (" WHERE record_id = ?" if record_id else "") + " ORDER BY seq",
                       [record_id] if record_id else []).fetchall()
    return [_row_to_event(r) for r in rows]


def _head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    row = con.execute("SELECT seq, hash FROM governance_head WHERE id = 1").fetchone()
    last = con.execute("SELECT seq, hash FROM governance_events ORDER BY seq DESC LIMIT 1").fetchone()
    head = (int(row[0]), str(row[1])) if row else (0, GENESIS)
    tail = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    if head != tail:
        raise ChainBroken(f"lifecycle chain head {head} does not match its last event {tail}; refusing to "
                          f"append (run `auraquant archive verify` to see what was altered)")
    return head


def append_event(con: duckdb.DuckDBPyConnection, *, record_id: str, event_type: EventType,
                 from_state: str | None, to_state: str | None, actor: Actor, payload: dict[str, Any],
                 signer: Signer | None, now: datetime, trust: TrustList | None = None) -> LifecycleEvent:
    """Append one event inside the caller's open transaction (so it commits or rolls back with it).

    With `trust`, the signer must be a trusted witness key in it right now (checked at append time, so a key
    revoked after the signer was made appends nothing)."""
    if signer is not None and trust is not None:
        try:
            trust.verifying_key(signer.key_id)
        except SignatureInvalid as e:
            raise SigningUnavailable(f"refusing to append a lifecycle event: {e}") from None
    seq, prev = _head(con)
    content = {"seq": seq + 1, "record_id": record_id, "event_type": event_type, "from_state": from_state,
               "to_state": to_state, "actor_kind": actor.kind, "actor": actor.name, "at": iso_utc(now),
               "payload": json.loads(canonical_json(payload)), "prev_hash": prev}
    h = event_hash(content)
    kid = sig = None
    if signer is not None:
        kid = signer.key_id
        sig = signer.sign(signed_payload(EVENT_SCHEMA, {"hash": h}, kid, content["at"])).hex()
    ev = LifecycleEvent(**content, hash=h, key_id=kid, signature=sig)
    con.execute(f"INSERT INTO governance_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ev.seq, record_id, event_type, from_state, to_state, actor.kind, actor.name, now,
                 canonical_json(ev.payload).decode(), prev, h, kid, sig])
    con.execute("INSERT OR REPLACE INTO governance_head VALUES (1, ?, ?)", [ev.seq, h])
    return ev


class ChainReport(BaseModel):
    ok: bool
    events: int
    head_seq: int | None
    problems: list[str]
    warnings: list[str]


def event_problem(ev: LifecycleEvent, trust: TrustList) -> str | None:
    """Why one event is not authentic on its own (content vs hash, signature by a trusted key), or None.
    Links to its neighbours are checked by `verify_chain`."""
    if ev.computed_hash() != ev.hash:
        return f"event {ev.seq}: content does not match its hash (edited)"
    problems: list[str] = []
    warnings: list[str] = []
    _check_signature(ev, trust, problems, warnings)
    revoked = [w for w in warnings if "revoked" in w]
    return (problems + revoked)[0] if problems or revoked else None


def _check_signature(ev: LifecycleEvent, trust: TrustList, problems: list[str], warnings: list[str]) -> None:
    if ev.signature is None or ev.key_id is None:
        if ev.event_type == "transition" and ev.to_state == "candidate" and ev.payload.get("degraded") is True:
            warnings.append(f"event {ev.seq}: degraded-mode candidate, unsigned")
        else:
            problems.append(f"event {ev.seq}: unsigned (only a degraded-mode candidate may be)")
        return
    entry = trust.get(ev.key_id)
    if entry is None or entry.role != "witness":
        problems.append(f"event {ev.seq}: signed by key {ev.key_id}, which is not a witness key pinned in "
                        f"trust.json")
        return
    try:
        entry.public().verify(bytes.fromhex(ev.signature), signed_payload(EVENT_SCHEMA, {"hash": ev.hash},
                                                                           ev.key_id, ev.at))
    except (ValueError, InvalidSignature):
        problems.append(f"event {ev.seq}: signature invalid against pinned key {ev.key_id}")
        return
    if entry.status != "trusted":
        if entry.revoked_at is not None and ev.at > _iso_z(entry.revoked_at):
            # Appending checks the key at append time, so this event was not written by auraquant.
            problems.append(f"event {ev.seq}: signed at {ev.at} by key {ev.key_id}, which was revoked at "
                            f"{entry.revoked_at} (a revoked key appends nothing)")
        else:
            warnings.append(f"event {ev.seq}: signed by key {ev.key_id}, revoked at {entry.revoked_at}")


def _iso_z(text: str) -> str:
    """A trust-list timestamp in the event form (UTC, microseconds, `Z`) so the two compare as strings."""
    try:
        return iso_utc(datetime.fromisoformat(text))
    except ValueError:
        return ""  # an unparsable revocation time: every event counts as signed after it


def decision_required(ev: LifecycleEvent) -> str | None:
    """The human decision an event stands for (approved / rejected / deprecated), or None if it needs none."""
    if ev.event_type == "approval_resolved":
        return "rejected" if ev.payload.get("decision") == "rejected" else "approved"
    if ev.event_type == "transition" and ev.to_state == "production":
        return "approved"
    if ev.event_type == "transition" and ev.from_state == "production":
        return "deprecated"
    return None


def decision_problem(ev: LifecycleEvent, trust: TrustList, witnessed_digest: str | None) -> str | None:
    """Why a human-decision event is not backed by a valid approver signature (None when it is)."""
    from auraquant.cta.governance.approver import verify_decision

    decision = decision_required(ev)
    if decision is None:
        return None
    digest = witnessed_digest if ev.event_type == "transition" else None
    try:
        verify_decision(ev.payload.get("approval"), trust, record_id=ev.record_id, decision=decision,  # type: ignore[arg-type]
                        approver_name=ev.actor, record_envelope_digest=digest)
    except SignatureInvalid as e:
        return f"event {ev.seq}: {e}"
    if ev.actor_kind != "human":
        return f"event {ev.seq}: a human decision recorded for a {ev.actor_kind} actor"
    return None


def verify_chain(con: duckdb.DuckDBPyConnection, trust: TrustList, aura_dir: Path | None = None) -> ChainReport:
    """Check the whole chain (see the module docstring for what is a problem and what a warning); with
    `aura_dir`, also against the workspace's signed checkpoint."""
    from auraquant.cta.governance.anchor import anchor_problems

    problems: list[str] = []
    warnings: list[str] = []
    try:
        events = read_events(con)
    except (ValueError, SignatureInvalid) as e:  # an unreadable row is itself tampering
        return ChainReport(ok=False, events=0, head_seq=None, problems=[f"unreadable event row: {e}"], warnings=[])
    prev_hash, prev_seq = GENESIS, 0
    witnessed: dict[str, str | None] = {}
    for ev in events:
        problem = decision_problem(ev, trust, witnessed.get(ev.record_id))
        if problem is not None:
            problems.append(problem)
        if ev.event_type == "transition":
            witnessed[ev.record_id] = ev.payload.get("envelope_digest")
        if ev.seq != prev_seq + 1:
            problems.append(f"event(s) missing between seq {prev_seq} and {ev.seq} (deleted)")
        if ev.prev_hash != prev_hash:
            problems.append(f"event {ev.seq}: link broken (prev_hash does not match event {prev_seq}'s hash)")
        if ev.computed_hash() != ev.hash:
            problems.append(f"event {ev.seq}: content does not match its hash (edited)")
        _check_signature(ev, trust, problems, warnings)
        prev_hash, prev_seq = ev.hash, ev.seq
    row = con.execute("SELECT seq, hash FROM governance_head WHERE id = 1").fetchone()
    head = (int(row[0]), str(row[1])) if row else None
    tail = (prev_seq, prev_hash) if events else None
    if head != tail:
        problems.append(f"chain head {head} does not match the last event {tail} (events deleted or head edited)")
    if aura_dir is not None:
        a_problems, a_warnings = anchor_problems(aura_dir, {e.seq: e.hash for e in events},
                                                 any(e.signature is not None for e in events), trust,
                                                 {e.seq: e.key_id for e in events})
        problems += a_problems
        warnings += a_warnings
    return ChainReport(ok=not problems, events=len(events), head_seq=head[0] if head else None,
                       problems=problems, warnings=warnings)
