"""The lifecycle chain verifier detects every edited, deleted, reordered or re-hashed event."""

from __future__ import annotations

import contextlib
import json

import pytest

from auraquant.canonical import canonical_json
from auraquant.cta.governance.archive import Archive, ArchiveVerification
from auraquant.cta.governance.chain import GENESIS, event_hash, read_events
from auraquant.cta.governance.errors import ChainBroken
from tests.integration.governance.helpers import AGENT, dump, file_digest, frozen_record
from tests.unit.governance.factories import GOAL, make_approver, make_record


def _history(archive: Archive) -> list[str]:
    a = frozen_record(archive)
    archive.request_approval(a.id, AGENT, "please")
    archive.approve(a.id, make_approver())
    b = archive.submit_candidate(make_record(run_id="r2"), GOAL, AGENT)
    archive.discard(b.id, AGENT, "weaker")
    assert archive.verify_all().ok and len(archive.events()) == 6
    return [a.id, b.id]


def _sql(archive: Archive, q: str, args: list) -> None:
    with archive.store.transaction() as con:
        con.execute(q, args)


EDITS = {
    "to_state": ("to_state", "'deprecated'"),
    "actor": ("actor", "'someone-else'"),
    "actor_kind": ("actor_kind", "'system'"),
    "record_id": ("record_id", "'rec_other'"),
    "event_type": ("event_type", "'approval_resolved'"),
    "time": ("event_at", "event_at + INTERVAL 1 SECOND"),
    "payload": ("body", "'{\"reason\": \"edited\"}'"),
}


class _Rollback(Exception):
    pass


def _verify_after(archive: Archive, sql: str, args: list) -> ArchiveVerification:
    """Apply `sql` in a transaction, verify inside it (same connection), then roll the edit back."""
    result: list[ArchiveVerification] = []
    with contextlib.suppress(_Rollback), archive.store.transaction() as con:
        con.execute(sql, args)
        result.append(archive.verify_all())
        raise _Rollback
    return result[0]


def test_any_edited_event_is_detected(archive: Archive) -> None:
    _history(archive)
    for seq in (1, 3, 4, 6):
        for column, (col, expr) in EDITS.items():
            report = _verify_after(archive, f"UPDATE governance_events SET {col} = {expr} WHERE seq = ?", [seq]).chain
            assert not report.ok, (seq, column)
            assert f"event {seq}: content does not match its hash (edited)" in report.problems, (seq, column)
    assert archive.verify_all().ok  # every edit was rolled back: the same chain verifies again


def test_any_deleted_event_is_detected(archive: Archive) -> None:
    _history(archive)
    with archive.store.connect() as con:
        bodies = [r[0] for r in con.execute("SELECT body FROM governance_events ORDER BY seq").fetchall()]
    assert all(canonical_json(json.loads(b)).decode() == b for b in bodies)  # payloads stored canonically
    for seq in range(1, 7):
        report = _verify_after(archive, "DELETE FROM governance_events WHERE seq = ?", [seq]).chain
        assert not report.ok, seq
        expected = "head" if seq == 6 else "missing"
        assert any(expected in p for p in report.problems), (seq, report.problems)


def test_deleting_the_newest_events_is_detected_even_with_the_head_rewound(archive: Archive) -> None:
    _history(archive)
    _sql(archive, "DELETE FROM governance_events WHERE seq = 6", [])
    report = archive.verify_all()
    assert not report.chain.ok and any("head" in p for p in report.chain.problems)
    # A careful attacker also rewinds the head: the chain is now a valid prefix, but it no longer reaches the
    # signed checkpoint kept in the user config dir (and the catalog disagrees).
    with archive.store.connect() as con:
        h5 = con.execute("SELECT hash FROM governance_events WHERE seq = 5").fetchone()[0]
    _sql(archive, "UPDATE governance_head SET seq = 5, hash = ? WHERE id = 1", [h5])
    report = archive.verify_all()
    assert not report.chain.ok and not report.ok
    assert report.chain.problems == ["chain truncated or rewound: the signed checkpoint is at event 6, the chain "
                                     "ends at event 5 (newest events deleted)"]
    assert any("last lifecycle event says candidate" in c for c in report.consistency)


def test_deleted_record_rows_and_forged_approval_rows_are_detected(archive: Archive) -> None:
    a, b = _history(archive)
    report = _verify_after(archive, "DELETE FROM archive_records WHERE id = ?", [b])
    assert not report.ok and any("no catalog row" in c for c in report.consistency)
    # An "approved" request row written straight into the catalog has no lifecycle event behind it.
    report = _verify_after(archive, "INSERT INTO approval_requests VALUES ('apr_forged', ?, 'approved', 'human:x', "
                           "now(), 'r', 'x', now(), NULL, '{}')", [b])
    assert not report.ok and any("apr_forged" in c for c in report.consistency)
    assert archive.verify_all().ok


def test_reordered_events_are_detected(archive: Archive) -> None:
    _history(archive)
    _sql(archive, "UPDATE governance_events SET seq = 100 WHERE seq = 2", [])
    _sql(archive, "UPDATE governance_events SET seq = 2 WHERE seq = 3", [])
    _sql(archive, "UPDATE governance_events SET seq = 3 WHERE seq = 100", [])
    report = archive.verify_all().chain
    assert not report.ok and any("link broken" in p for p in report.problems)


def test_a_rehashed_chain_without_the_key_is_detected(archive: Archive) -> None:
    _history(archive)
    _sql(archive, "UPDATE governance_events SET actor = 'mallory' WHERE seq = 4", [])
    # The attacker recomputes every hash and link from the edit onwards, and the head: only signatures differ.
    with archive.store.connect() as con:
        events = read_events(con)
    prev = GENESIS
    for ev in events:
        content = ev.model_dump(exclude={"hash", "key_id", "signature"}) | {"prev_hash": prev}
        h = event_hash(content)
        _sql(archive, "UPDATE governance_events SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, h, ev.seq])
        prev = h
    _sql(archive, "UPDATE governance_head SET hash = ? WHERE id = 1", [prev])
    report = archive.verify_all().chain
    assert not report.ok
    sig = [f"event {s}: signature invalid against pinned key {events[0].key_id}" for s in (4, 5, 6)]
    assert set(sig) <= set(report.problems)
    # The renamed approval no longer matches its approver signature, and the history no longer reaches the
    # signed checkpoint.
    assert any(p.startswith("event 4: approved of") and "'mallory' is not the signer" in p for p in report.problems)
    assert "chain rewritten: event 6 no longer has the hash of the signed checkpoint (history replaced)" in \
        report.problems


def test_appending_to_a_broken_chain_is_refused(archive: Archive) -> None:
    _history(archive)
    _sql(archive, "DELETE FROM governance_events WHERE seq = 6", [])
    before = (file_digest(archive.store), dump(archive.store))
    with pytest.raises(ChainBroken):
        archive.submit_candidate(make_record(run_id="r3"), GOAL, AGENT)
    assert (file_digest(archive.store), dump(archive.store)) == before


def test_a_broken_chain_stops_every_promotion_and_freeze(archive: Archive) -> None:
    a = frozen_record(archive)
    b = frozen_record(archive, run_id="r2")
    c = archive.submit_candidate(make_record(run_id="r3"), GOAL, AGENT)
    _sql(archive, "UPDATE governance_events SET actor = 'mallory' WHERE seq = 2", [])  # a's freeze event
    before = (file_digest(archive.store), dump(archive.store))
    for op in (lambda: archive.approve(b.id, make_approver()), lambda: archive.request_approval(b.id, AGENT, "please"),
               lambda: archive.freeze(c.id, lambda r: {"sharpe": 1.0}, AGENT)):
        with pytest.raises(ChainBroken, match="does not verify"):
            op()
    assert (file_digest(archive.store), dump(archive.store)) == before
    # Verifying one record checks the chain it lives in too: b's own artifact is intact, but not trusted.
    check = archive.verify(b.id)
    assert not check.ok and "lifecycle chain does not verify" in (check.problem or "")
    assert "witnessing" in (archive.verify(a.id).problem or "")  # a's own witnessing event was edited
