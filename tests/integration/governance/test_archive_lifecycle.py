"""The archive end to end: candidate -> frozen -> (agent asks, human approves) -> production, and refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from auraquant.cta.governance.actors import Actor, agent_session
from auraquant.cta.governance.approval import approval_request, approval_status
from auraquant.cta.governance.archive import Archive, DegradedModeWarning
from auraquant.cta.governance.errors import (
    ApprovalRefused,
    GovernanceError,
    IllegalTransition,
    SignatureInvalid,
    SigningUnavailable,
    ThresholdsNotMet,
)
from auraquant.cta.governance.keys import default_key_path
from auraquant.cta.governance.memory import patterns
from auraquant.cta.governance.record import ArchiveRecord
from auraquant.workspace import Workspace
from tests.integration.governance.helpers import AGENT, HUMAN, HoldoutScorer, dump, frozen_record
from tests.unit.governance.factories import GOAL, make_approver, make_record


def test_full_lifecycle_with_human_gate(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    assert archive.verify(rec.id).ok
    scorer = HoldoutScorer()
    frozen = archive.freeze(rec.id, scorer, AGENT)
    assert scorer.calls == [rec.id] and frozen.state == "frozen" and frozen.holdout == scorer.metrics
    assert frozen.id == rec.id and archive.get(rec.id).record == frozen

    req = approval_request(archive, rec.id, "claude-sonnet-4-5", "holdout Sharpe 1.31 confirms")
    assert req.status == "pending" and req.requested_by == "agent:claude-sonnet-4-5"
    assert approval_request(archive, rec.id, "claude-sonnet-4-5", "again") == req  # idempotent while pending
    status = approval_status(archive, req.id)
    assert status.record_state == "frozen" and "auraquant approve" in status.next_step

    promoted = archive.approve(rec.id, make_approver(), note="reviewed tearsheet")
    assert promoted.state == "production" and promoted.approval is not None
    assert (promoted.approval.approved_by, promoted.approval.request_id) == ("ana", req.id)
    done = approval_status(archive, rec.id)
    assert done.request is not None and done.request.status == "approved" and done.request.resolved_by == "ana"
    assert done.request.resolved_at == promoted.approval.approved_at

    events = archive.events(rec.id)
    assert [(e.event_type, e.from_state, e.to_state, e.actor_kind) for e in events] == [
        ("transition", None, "candidate", "agent"), ("transition", "candidate", "frozen", "agent"),
        ("approval_requested", "frozen", "frozen", "agent"), ("transition", "frozen", "production", "human")]
    result = archive.verify_all()
    assert result.ok and result.chain.events == 4 and result.chain.warnings == []
    # Production records can be retired by a human only.
    with pytest.raises(ApprovalRefused):
        archive.deprecate(rec.id, AGENT, "decayed")
    assert archive.deprecate(rec.id, make_approver(), "decayed").state == "deprecated"
    assert archive.verify(rec.id).ok


def test_agent_approval_attempts_are_refused_and_change_nothing(archive: Archive) -> None:
    rec = frozen_record(archive)
    archive.request_approval(rec.id, AGENT, "please")
    before = dump(archive.store)
    with pytest.raises(ApprovalRefused):
        archive.approve(rec.id, AGENT)
    with pytest.raises(ApprovalRefused):
        archive.approve(rec.id, Actor.system())
    with pytest.raises(ApprovalRefused):
        archive.reject(rec.id, AGENT)
    with agent_session("claude-sonnet-4-5"):  # the agent claiming to be a human
        with pytest.raises(ApprovalRefused, match="agent session"):
            archive.approve(rec.id, Actor.human("ana"))
        with pytest.raises(ApprovalRefused):
            archive.reject(rec.id, Actor.human("ana"))
    assert dump(archive.store) == before and archive.get(rec.id).record.state == "frozen"


def test_reject_records_who_and_when_and_keeps_the_record_frozen(archive: Archive) -> None:
    rec = frozen_record(archive)
    archive.request_approval(rec.id, AGENT, "please")
    rejected = archive.reject(rec.id, make_approver(), note="holdout too short")
    assert (rejected.status, rejected.resolved_by, rejected.note) == ("rejected", "ana", "holdout too short")
    assert rejected.resolved_at is not None
    assert archive.get(rec.id).record.state == "frozen"
    assert "request approval" in archive.approval_status(rec.id).next_step
    again = archive.request_approval(rec.id, AGENT, "new evidence")  # a fresh request after a rejection
    assert again.id != rejected.id and again.status == "pending"
    assert archive.verify_all().ok


def test_illegal_transitions_are_refused(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    with pytest.raises(IllegalTransition, match="candidate -> production"):
        archive.approve(rec.id, make_approver())
    with pytest.raises(IllegalTransition):
        archive.request_approval(rec.id, AGENT, "too early")
    with pytest.raises(IllegalTransition):
        archive.deprecate(rec.id, HUMAN, "x")
    archive.discard(rec.id, AGENT, "dominated by a sibling")
    for op in (lambda: archive.freeze(rec.id, HoldoutScorer(), AGENT), lambda: archive.discard(rec.id, AGENT, "x"),
               lambda: archive.approve(rec.id, make_approver())):
        with pytest.raises(IllegalTransition, match="terminal"):
            op()
    other = frozen_record(archive, run_id="r2")
    scorer = HoldoutScorer()
    with pytest.raises(IllegalTransition, match="frozen -> frozen"):
        archive.freeze(other.id, scorer, AGENT)
    assert scorer.calls == []  # the holdout is scored once, at the one freeze
    with pytest.raises(IllegalTransition):
        archive.discard(other.id, AGENT, "x")
    assert archive.verify_all().ok


def test_candidates_need_the_goal_lineage_and_are_idempotent(archive: Archive) -> None:
    with pytest.raises(ThresholdsNotMet) as e:
        archive.submit_candidate(make_record(metrics={"sharpe": 1.1, "max_drawdown": -0.2}), GOAL, AGENT)
    assert e.value.failures == ["max_drawdown=-0.2 < -0.15", "sharpe=1.1 < 1.2"]
    with pytest.raises(GovernanceError, match="unknown parent"):
        archive.submit_candidate(make_record(parents=["rec_missing"]), GOAL, AGENT)
    parent = archive.submit_candidate(make_record(), GOAL, AGENT)
    assert archive.submit_candidate(make_record(), GOAL, AGENT) == parent
    child = archive.submit_candidate(make_record(parents=[parent.id], run_id="r2"), GOAL, AGENT)
    assert archive.get(child.id).record.parents == [parent.id]
    assert len(archive.events()) == 2
    assert set(patterns(archive.store)["profitable-donchian_breakout"]["records"]) == {parent.id, child.id}
    with pytest.raises(GovernanceError, match="bare candidate"):
        archive.submit_candidate(make_record(run_id="r3").model_copy(update={"state": "frozen"}), GOAL, AGENT)


def test_degraded_mode_is_explicit_loud_and_never_promotable(ws: Workspace, archive: Archive,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    default_key_path(ws.aura).rename(ws.aura / "keys" / "moved-away")
    rec = make_record()
    with pytest.raises(SigningUnavailable, match="degraded mode"):
        archive.submit_candidate(rec, GOAL, AGENT)
    assert archive.list_records() == []
    with caplog.at_level(logging.WARNING, "auraquant.governance"), \
            pytest.warns(DegradedModeWarning, match="UNSIGNED"):
        archive.submit_candidate(rec, GOAL, AGENT, degraded=True)
    assert "DEGRADED MODE" in caplog.text
    stored = archive.get(rec.id)
    assert stored.envelope is None and not archive.verify(rec.id).ok
    assert patterns(archive.store) == {}  # only verified artifacts become patterns
    report = archive.verify_all()
    assert report.chain.ok and report.chain.warnings == ["event 1: degraded-mode candidate, unsigned"]
    assert not report.ok

    (ws.aura / "keys" / "moved-away").rename(default_key_path(ws.aura))  # even with the key back:
    scorer = HoldoutScorer()
    with pytest.raises(SignatureInvalid, match="UNSIGNED"):
        archive.freeze(rec.id, scorer, AGENT)
    assert scorer.calls == []


def test_export_writes_the_verified_artifact(ws: Workspace, archive: Archive, tmp_path: Path) -> None:
    rec = frozen_record(archive)
    path = archive.export(rec.id, tmp_path)
    assert path.name == f"{rec.id}.frozen.json"
    from auraquant.cta.governance.keys import TrustList
    from auraquant.cta.governance.signing import parse_envelope, verify_envelope
    body = verify_envelope(parse_envelope(path.read_text()), TrustList.load(ws.aura))
    assert body["state"] == "frozen" and body["holdout"] == {"sharpe": 1.31, "max_drawdown": -0.09}


def test_a_holdout_score_that_cannot_be_signed_is_refused_before_any_write(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    before = dump(archive.store)
    with pytest.raises(ValueError, match="not finite"):
        archive.freeze(rec.id, HoldoutScorer({"sharpe": float("nan")}), AGENT)
    assert dump(archive.store) == before


def test_a_concurrent_transition_wins_and_the_late_freeze_writes_nothing(archive: Archive) -> None:
    from auraquant.cta.governance.errors import RecordConflict

    rec = archive.submit_candidate(make_record(), GOAL, AGENT)

    def scorer_racing_a_discard(r: ArchiveRecord) -> dict[str, float]:  # another actor discards meanwhile
        archive.discard(r.id, HUMAN, "discarded while the holdout was being scored")
        return {"sharpe": 1.0}

    with pytest.raises(RecordConflict, match="changed while this operation ran"):
        archive.freeze(rec.id, scorer_racing_a_discard, AGENT)
    assert archive.get(rec.id).record.state == "discarded"
    assert [e.to_state for e in archive.events(rec.id)] == ["candidate", "discarded"]
    assert archive.verify_all().ok
