"""Must-show 2 (governance half): code running as the agent — a tool, a thread, a subprocess, direct store or
trust-list writes — cannot produce a valid production approval, a trusted key, or a chain that verifies after
tampering. What the agent lacks is the approver's passphrase; every path below either is refused outright or
leaves something that `archive verify` refuses."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auraquant.cta.governance.actors import Actor, agent_session
from auraquant.cta.governance.approver import ApproverSigner
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.errors import ApprovalRefused, GovernanceError, KeyManagementError
from auraquant.cta.governance.keys import TrustList, key_id, public_raw, seal_trust, trust_key, trust_path
from auraquant.cta.governance.record import Approval, ArchiveRecord
from auraquant.cta.governance.signing import witness_signer
from auraquant.workspace import Workspace
from tests.integration.governance.helpers import AGENT, dump, frozen_record
from tests.integration.governance.tamper_lab import Lab, decision_by, forge_promotion
from tests.unit.governance.factories import make_approver

ROOT = Path(__file__).resolve().parents[3]


def _in_thread(fn: Callable[[], Any]) -> BaseException | None:
    caught: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:
            caught.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return caught[0] if caught else None


@pytest.fixture
def frozen(archive: Archive) -> str:
    make_approver("ana")  # a human approver exists on this machine; the agent just does not know the passphrase
    rec = frozen_record(archive)
    archive.request_approval(rec.id, AGENT, "holdout confirms")
    return rec.id


def _lab(ws: Workspace) -> Lab:
    return Lab(ws=ws, ids={}, config=Path(os.environ["AURAQUANT_CONFIG_DIR"]), passphrase=Path("/nonexistent"),
               run_id="", template=Path("/nonexistent"))


def test_approve_from_a_thread_claiming_to_be_human_is_refused(archive: Archive, frozen: str) -> None:
    before = dump(archive.store)
    for who in (Actor.human("ana"), Actor.human(), Actor.system(), AGENT):
        err = _in_thread(lambda who=who: archive.approve(frozen, who))
        assert isinstance(err, ApprovalRefused), who
        err = _in_thread(lambda who=who: archive.reject(frozen, who))
        assert isinstance(err, ApprovalRefused), who
    assert dump(archive.store) == before


def test_the_agent_session_refuses_even_a_real_approver_key(archive: Archive, frozen: str) -> None:
    """Inside a tool call (and any task or thread started from it) human decisions are refused outright."""
    key = make_approver()

    async def as_tool() -> None:
        with agent_session("claude-sonnet-4-5"):
            await asyncio.to_thread(archive.approve, frozen, key)

    with pytest.raises(ApprovalRefused, match="agent session"):
        asyncio.run(as_tool())
    assert archive.get(frozen).record.state == "frozen"


def test_an_approver_key_the_agent_made_itself_is_refused(archive: Archive, frozen: str) -> None:
    """A fresh Ed25519 key wrapped as an ApproverSigner: not a pinned approver root, so it cannot even sign
    the trust list, and nothing is written."""
    forged = ApproverSigner(Ed25519PrivateKey.generate(), "ana")
    before = dump(archive.store)
    trust_before = trust_path(archive.aura_dir).read_bytes()
    err = _in_thread(lambda: archive.approve(frozen, forged))
    assert isinstance(err, KeyManagementError) and "not a pinned approver" in str(err)
    assert dump(archive.store) == before and trust_path(archive.aura_dir).read_bytes() == trust_before
    with pytest.raises(KeyManagementError, match="not a pinned approver"):
        seal_trust(archive.aura_dir, forged)


def test_the_witness_key_signing_as_approver_is_refused(archive: Archive, frozen: str) -> None:
    from auraquant.cta.governance.keys import load_witness_key

    as_approver = ApproverSigner(load_witness_key(archive.aura_dir), "ana")
    with pytest.raises(KeyManagementError):
        archive.approve(frozen, as_approver)
    assert archive.get(frozen).record.state == "frozen"


def test_commit_called_directly_from_a_thread_leaves_an_unverifiable_record(archive: Archive, frozen: str) -> None:
    """Bypassing every check by calling the private `_commit` with a hand-made production record writes rows,
    but they never verify: there is no approver signature to put in them."""
    rec = archive.get(frozen).record
    with archive.store.connect() as con:
        env_text = con.execute("SELECT envelope FROM archive_records WHERE id = ?", [frozen]).fetchone()[0]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    promoted = ArchiveRecord.model_validate({**rec.model_dump(), "state": "production", "approval": Approval(
        request_id="apr_x", approved_by="ana", approved_at=now, note="")})
    err = _in_thread(lambda: archive._commit(rec, env_text, promoted, Actor.human("ana"),
                                             witness_signer(archive.aura_dir), now, None,
                                             {"request_id": "apr_x", "decision": "approved"}))
    assert err is None  # the private method itself does not check; verification does
    check = archive.verify(frozen)
    assert not check.ok and "approver signature" in (check.problem or "")
    result = archive.verify_all()
    assert not result.ok and any("approver signature" in p for p in result.chain.problems)
    with pytest.raises(GovernanceError):
        archive.export(frozen, archive.aura_dir)


def test_forged_rows_written_straight_into_the_store_do_not_verify(ws: Workspace, archive: Archive,
                                                                   frozen: str) -> None:
    lab = _lab(ws)
    forge_promotion(lab, frozen, decision_by(lab, Ed25519PrivateKey.generate(), frozen))
    assert archive.get(frozen).record.state == "production"
    check = archive.verify(frozen)
    assert not check.ok and "not a pinned approver key" in (check.problem or "")
    assert not archive.verify_all().ok
    # What the agent's approval_status tool reads does not take the claimed state as fact either.
    assert archive.approval_status(frozen).next_step.startswith("UNVERIFIED: ")


def test_adding_a_key_to_the_trust_list_does_not_make_an_approver(ws: Workspace, archive: Archive) -> None:
    """In a workspace no approver has signed yet (trust.json unsigned: the research bootstrap), the agent
    lists its own key as an approver and signs an approval with it: still refused, because approver keys
    must also be pinned in the user config dir, which the workspace does not control."""
    rec = frozen_record(archive)
    mine = Ed25519PrivateKey.generate()
    doc = json.loads(trust_path(ws.aura).read_text())
    doc["keys"].append({"key_id": key_id(mine.public_key()), "public_key": public_raw(mine.public_key()).hex(),
                        "role": "approver", "status": "trusted", "added_at": "2026-01-01T00:00:00+00:00",
                        "note": "agent"})
    trust_path(ws.aura).write_text(json.dumps(doc))
    assert TrustList.load(ws.aura).signature_state.startswith("unsigned")
    lab = _lab(ws)
    forge_promotion(lab, rec.id, decision_by(lab, mine, rec.id, name="agent"), name="agent")
    check = archive.verify(rec.id)
    assert not check.ok and "not a pinned approver key in the user config dir" in (check.problem or "")
    # Once an approver has signed the list, adding a key (even a witness key) needs the approver key.
    make_approver()
    doc["keys"].pop()
    trust_path(ws.aura).write_text(json.dumps(doc))
    seal_trust(ws.aura, make_approver())
    with pytest.raises(KeyManagementError, match="needs the approver key"):
        trust_key(ws.aura, public_raw(Ed25519PrivateKey.generate().public_key()).hex())


_CHILD = textwrap.dedent("""
    import sys
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from auraquant.cta.governance.actors import Actor
    from auraquant.cta.governance.approver import ApproverSigner, unlock_approver
    from auraquant.cta.governance.archive import Archive
    from auraquant.workspace import Workspace

    ws = Workspace.open(sys.argv[1])
    archive = Archive(ws.store, ws.aura)
    for attempt in (lambda: archive.approve(sys.argv[2], Actor.human("ana")),
                    lambda: archive.approve(sys.argv[2], ApproverSigner(Ed25519PrivateKey.generate(), "ana")),
                    lambda: archive.approve(sys.argv[2], unlock_approver("guess-1234")),
                    lambda: archive.approve(sys.argv[2], unlock_approver(""))):
        try:
            attempt()
            print("APPROVED")
        except Exception as e:
            print("refused:", type(e).__name__)
""")


def test_a_subprocess_started_as_the_agent_cannot_approve(ws: Workspace, archive: Archive, frozen: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ws.root), frozen], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["refused: ApprovalRefused", "refused: KeyManagementError",
                                       "refused: KeyManagementError", "refused: KeyManagementError"]
    assert archive.get(frozen).record.state == "frozen" and archive.verify_all().ok
