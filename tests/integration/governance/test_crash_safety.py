"""A crash in the middle of a freeze or a promotion leaves the record fully before or fully after.

Crashes are injected at every step boundary inside the transaction (`on_step`), at the signer (a boundary:
the key may live in an HSM), and for real: a child process SIGKILLs itself mid-transaction.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.signing import witness_signer
from auraquant.workspace import Workspace
from tests.integration.governance.helpers import AGENT, HoldoutScorer, dump, file_digest, frozen_record
from tests.unit.governance.factories import APPROVER_PASSPHRASE, GOAL, make_approver, make_record

ROOT = Path(__file__).resolve().parents[3]


class Crash(Exception):
    pass


def _crash_at(name: str):
    def hook(step: str) -> None:
        if step == name:
            raise Crash(step)
    return hook


@pytest.mark.parametrize("step", ["record_updated", "event_appended"])
def test_freeze_crash_at_each_step_leaves_the_candidate_untouched(archive: Archive, step: str) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    before = (file_digest(archive.store), dump(archive.store))
    with pytest.raises(Crash):
        archive.freeze(rec.id, HoldoutScorer(), AGENT, on_step=_crash_at(step))
    assert (file_digest(archive.store), dump(archive.store)) == before
    assert archive.get(rec.id).record.state == "candidate" and archive.verify_all().ok
    assert archive.freeze(rec.id, HoldoutScorer(), AGENT).state == "frozen"  # and the retry completes
    assert archive.verify_all().ok


@pytest.mark.parametrize("step", ["record_updated", "approval_resolved", "event_appended"])
def test_promotion_crash_at_each_step_leaves_the_record_frozen_and_the_request_pending(
        archive: Archive, step: str) -> None:
    rec = frozen_record(archive)
    req = archive.request_approval(rec.id, AGENT, "please")
    before = (file_digest(archive.store), dump(archive.store))
    with pytest.raises(Crash):
        archive.approve(rec.id, make_approver(), on_step=_crash_at(step))
    assert (file_digest(archive.store), dump(archive.store)) == before
    assert archive.approval_status(rec.id).request == req and archive.verify_all().ok
    assert archive.approve(rec.id, make_approver()).state == "production" and archive.verify_all().ok


class _FailingSigner:
    """The workspace signer that fails on its n-th signature (a signer/HSM fault at a boundary)."""

    def __init__(self, inner: object, fail_on: int) -> None:
        self._inner, self._fail_on, self.calls = inner, fail_on, 0

    @property
    def key_id(self) -> str:
        return self._inner.key_id  # type: ignore[attr-defined]

    @property
    def public_key_hex(self) -> str:
        return self._inner.public_key_hex  # type: ignore[attr-defined]

    def sign(self, payload: bytes) -> bytes:
        self.calls += 1
        if self.calls == self._fail_on:
            raise Crash("signer unavailable")
        return self._inner.sign(payload)  # type: ignore[attr-defined]


@pytest.mark.parametrize("fail_on", [1, 2])  # 1: the artifact signature (before the tx); 2: the event (inside)
def test_signer_failure_mid_promotion_changes_nothing(ws: Workspace, archive: Archive, fail_on: int) -> None:
    rec = frozen_record(archive)
    before = (file_digest(archive.store), dump(archive.store))
    flaky = Archive(ws.store, ws.aura, signer=_FailingSigner(witness_signer(ws.aura), fail_on))
    with pytest.raises(Crash):
        flaky.approve(rec.id, make_approver())
    assert (file_digest(archive.store), dump(archive.store)) == before
    assert archive.get(rec.id).record.state == "frozen" and archive.verify_all().ok


_CHILD = textwrap.dedent("""
    import os, signal, sys
    from auraquant.cta.governance.actors import Actor
    from auraquant.cta.governance.approver import unlock_approver
    from auraquant.cta.governance.archive import Archive
    from auraquant.workspace import Workspace

    ws = Workspace.open(sys.argv[1])
    op, record_id, kill_at = sys.argv[2], sys.argv[3], sys.argv[4]

    def hook(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no rollback: a real crash

    archive = Archive(ws.store, ws.aura)
    if op == "freeze":
        archive.freeze(record_id, lambda r: {"sharpe": 1.3}, Actor.system(), on_step=hook)
    else:
        archive.approve(record_id, unlock_approver(sys.argv[5]), on_step=hook)
    print("completed")
""")


def _run_child(ws: Workspace, op: str, record_id: str, kill_at: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AURAQUANT_WITNESS_KEY", None)
    make_approver()  # the child unlocks it from the same (inherited) user config dir
    return subprocess.run([sys.executable, "-c", _CHILD, str(ws.root), op, record_id, kill_at, APPROVER_PASSPHRASE],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_process_killed_mid_transaction_is_all_or_nothing(ws: Workspace, archive: Archive) -> None:
    cand = archive.submit_candidate(make_record(), GOAL, AGENT)
    froz = frozen_record(archive, run_id="r2")
    before = dump(archive.store)

    killed = _run_child(ws, "freeze", cand.id, "event_appended")  # every write done, commit not reached
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    killed = _run_child(ws, "approve", froz.id, "approval_resolved")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert dump(archive.store) == before  # fully before: the uncommitted WAL was discarded on reopen
    assert archive.verify_all().ok

    done = _run_child(ws, "freeze", cand.id, "never")
    assert done.returncode == 0 and "completed" in done.stdout, done.stderr
    assert archive.get(cand.id).record.state == "frozen" and archive.verify_all().ok  # fully after
