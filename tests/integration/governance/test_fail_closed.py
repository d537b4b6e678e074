"""Freeze and promotion fail closed: a tampered, replayed, unsigned or revoked artifact is refused and the store
is left byte-for-byte unchanged. Rotation keeps old artifacts valid until their key is revoked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.errors import ChainBroken, GovernanceError, SignatureInvalid, SigningUnavailable
from auraquant.cta.governance.keys import revoke_key, rotate_witness_key, trust_path
from auraquant.cta.governance.record import ARCHIVE_RECORD_SCHEMA
from auraquant.cta.governance.signing import WitnessSigner, sign_envelope
from auraquant.workspace import Workspace
from tests.integration.governance.helpers import AGENT, HUMAN, HoldoutScorer, dump, file_digest, frozen_record
from tests.unit.governance.factories import GOAL, make_approver, make_record


def _sql(archive: Archive, q: str, args: list) -> None:
    with archive.store.transaction() as con:
        con.execute(q, args)


def _envelope(archive: Archive, rid: str) -> dict:
    with archive.store.connect() as con:
        return json.loads(con.execute("SELECT envelope FROM archive_records WHERE id = ?", [rid]).fetchone()[0])


def _set_envelope(archive: Archive, rid: str, env: dict) -> None:
    _sql(archive, "UPDATE archive_records SET envelope = ? WHERE id = ?", [json.dumps(env), rid])


def _edit_body_metric(archive: Archive, rid: str) -> None:
    with archive.store.connect() as con:
        body = json.loads(con.execute("SELECT body FROM archive_records WHERE id = ?", [rid]).fetchone()[0])
    body["metrics"]["sharpe"] = 2.9
    _sql(archive, "UPDATE archive_records SET body = ? WHERE id = ?", [json.dumps(body), rid])


def _edit_envelope_metric(archive: Archive, rid: str) -> None:
    env = _envelope(archive, rid)
    env["body"]["metrics"]["sharpe"] = 2.9
    _set_envelope(archive, rid, env)


def _edit_both_consistently(archive: Archive, rid: str) -> None:
    _edit_body_metric(archive, rid)
    _edit_envelope_metric(archive, rid)


def _attacker_resigns(archive: Archive, rid: str) -> None:
    env = _envelope(archive, rid)
    env["body"]["metrics"]["sharpe"] = 2.9
    forged = sign_envelope(ARCHIVE_RECORD_SCHEMA, env["body"], WitnessSigner(Ed25519PrivateKey.generate()))
    _set_envelope(archive, rid, json.loads(forged.to_json()))


def _unsign(archive: Archive, rid: str) -> None:
    _sql(archive, "UPDATE archive_records SET envelope = NULL WHERE id = ?", [rid])


def _truncate(archive: Archive, rid: str) -> None:
    # The JSON column refuses malformed text, so cut the artifact at a field boundary (byte-level truncation
    # is covered by the envelope tamper suite and `archive verify --file`).
    env = _envelope(archive, rid)
    env["body"] = dict(list(env["body"].items())[: len(env["body"]) // 2])
    _set_envelope(archive, rid, env)


def _drop_trust(archive: Archive, rid: str) -> None:
    trust_path(archive.aura_dir).write_text(json.dumps({"keys": []}))


def _revoke_signer(archive: Archive, rid: str) -> None:
    revoke_key(archive.aura_dir, _envelope(archive, rid)["key_id"])


TAMPERS: dict[str, Callable[[Archive, str], None]] = {
    "catalog body edited": _edit_body_metric,
    "signed body edited": _edit_envelope_metric,
    "both edited consistently": _edit_both_consistently,
    "re-signed by an attacker key": _attacker_resigns,
    "signature stripped": _unsign,
    "artifact truncated": _truncate,
    "trust list emptied": _drop_trust,
    "signing key revoked": _revoke_signer,
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_refused_promotion_leaves_the_store_byte_for_byte_unchanged(archive: Archive, name: str) -> None:
    rec = frozen_record(archive)
    archive.request_approval(rec.id, AGENT, "please")
    TAMPERS[name](archive, rec.id)
    before_bytes, before_rows = file_digest(archive.store), dump(archive.store)
    with pytest.raises((SignatureInvalid, SigningUnavailable, ChainBroken)):
        archive.approve(rec.id, make_approver())
    assert file_digest(archive.store) == before_bytes
    assert dump(archive.store) == before_rows
    assert not archive.verify(rec.id).ok


@pytest.mark.parametrize("name", ["signed body edited", "re-signed by an attacker key", "signing key revoked"])
def test_refused_freeze_never_scores_the_holdout(archive: Archive, name: str) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    TAMPERS[name](archive, rec.id)
    before_bytes = file_digest(archive.store)
    scorer = HoldoutScorer()
    with pytest.raises(SignatureInvalid):
        archive.freeze(rec.id, scorer, AGENT)
    assert scorer.calls == [] and file_digest(archive.store) == before_bytes


def test_replaying_an_older_valid_artifact_is_refused(archive: Archive) -> None:
    rec = frozen_record(archive)
    frozen_env = _envelope(archive, rec.id)
    archive.deprecate(rec.id, AGENT, "superseded")
    # Roll the row back to the (validly signed) frozen artifact to sneak it into production.
    _sql(archive, "UPDATE archive_records SET state = 'frozen', envelope = ?, body = ? WHERE id = ?",
         [json.dumps(frozen_env), json.dumps(frozen_env["body"]), rec.id])
    before = file_digest(archive.store)
    with pytest.raises(SignatureInvalid, match="not the one its last lifecycle event witnessed"):
        archive.approve(rec.id, make_approver())
    assert file_digest(archive.store) == before


def test_state_column_edited_is_refused(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    _sql(archive, "UPDATE archive_records SET state = 'frozen' WHERE id = ?", [rec.id])
    with pytest.raises(SignatureInvalid, match="does not match its signed artifact"):
        archive.approve(rec.id, make_approver())


def test_promotion_without_a_usable_witness_key_is_refused(ws: Workspace, archive: Archive) -> None:
    rec = frozen_record(archive)
    kid = _envelope(archive, rec.id)["key_id"]
    rotate_witness_key(ws.aura)
    revoke_key(ws.aura, [k for k in json.loads(trust_path(ws.aura).read_text())["keys"] if k["key_id"] != kid][0]["key_id"])
    before = file_digest(archive.store)
    with pytest.raises(SigningUnavailable, match="revoked"):
        archive.approve(rec.id, make_approver())
    assert file_digest(archive.store) == before and archive.verify(rec.id).ok


def test_rotation_keeps_old_records_valid_until_their_key_is_revoked(ws: Workspace, archive: Archive) -> None:
    old_frozen = frozen_record(archive)
    old_candidate = archive.submit_candidate(make_record(run_id="r-old"), GOAL, AGENT)
    old_kid, new_kid = rotate_witness_key(ws.aura)
    new = archive.submit_candidate(make_record(run_id="r-new"), GOAL, AGENT)
    assert archive.get(new.id).envelope.key_id == new_kid  # type: ignore[union-attr]
    assert archive.get(old_candidate.id).envelope.key_id == old_kid  # type: ignore[union-attr]
    assert archive.verify_all().ok

    # An old, still trusted artifact can be promoted; the production artifact is signed by the new key.
    promoted = archive.approve(old_frozen.id, make_approver())
    assert promoted.state == "production" and archive.get(old_frozen.id).envelope.key_id == new_kid  # type: ignore[union-attr]

    revoke_key(ws.aura, old_kid, note="rotated out", approver=make_approver())  # the approval signed the list
    assert not archive.verify(old_candidate.id).ok and "revoked" in (archive.verify(old_candidate.id).problem or "")
    assert archive.verify(new.id).ok and archive.verify(old_frozen.id).ok
    before = file_digest(archive.store)
    scorer = HoldoutScorer()
    with pytest.raises(SignatureInvalid, match="revoked"):
        archive.freeze(old_candidate.id, scorer, AGENT)
    assert scorer.calls == [] and file_digest(archive.store) == before
    chain = archive.verify_all().chain
    assert chain.ok and any("revoked" in w for w in chain.warnings)
    # Retiring stays possible for a record whose key was revoked (that is when one retires it).
    assert archive.discard(old_candidate.id, HUMAN, "signed by a revoked key").state == "discarded"
    assert archive.verify(old_candidate.id).ok


def test_export_refuses_an_invalid_artifact(archive: Archive, tmp_path: Path) -> None:
    rec = frozen_record(archive)
    _edit_envelope_metric(archive, rec.id)
    out = tmp_path / "exports"
    out.mkdir()
    with pytest.raises(GovernanceError):
        archive.export(rec.id, out)
    assert list(out.iterdir()) == []
