"""`archive`, `keys`, `approve` and `reject` through a real typer app mounted with `register`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.cli import register
from auraquant.cta.governance.keys import KEY_ENV, default_key_path, key_id, public_raw
from auraquant.workspace import Workspace
from tests.integration.governance.helpers import AGENT, dump, frozen_record
from tests.unit.governance.factories import (
    APPROVER_PASSPHRASE,
    GOAL,
    make_approver,
    make_record,
    passphrase_file,
)

app = typer.Typer()
register(app)
runner = CliRunner()


def _run(ws: Workspace, *args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "-w", str(ws.root)], input=input)
    assert result.exit_code == code, result.output
    return result.stdout


def _json(ws: Workspace, *args: str, code: int = 0) -> dict | list:
    return json.loads(_run(ws, *args, "--json", code=code))


def test_archive_list_show_verify_export(ws: Workspace, archive: Archive) -> None:
    rec = frozen_record(archive)
    cand = archive.submit_candidate(make_record(run_id="r2"), GOAL, AGENT)
    listed = _json(ws, "archive", "list")
    assert sorted((r["id"], r["state"], r["signed"]) for r in listed) == sorted(
        [(rec.id, "frozen", True), (cand.id, "candidate", True)])
    assert [r["id"] for r in _json(ws, "archive", "list", "--state", "frozen")] == [rec.id]
    shown = _json(ws, "archive", "show", rec.id)
    assert shown["verification"]["ok"] is True and shown["record"]["holdout"]["sharpe"] == 1.31
    assert [e["to_state"] for e in shown["events"]] == ["candidate", "frozen"]
    assert rec.id in _run(ws, "archive", "show", rec.id) and "valid" in _run(ws, "archive", "show", rec.id)
    report = _json(ws, "archive", "verify")
    assert report["ok"] is True and report["chain"]["events"] == 3
    assert "chain intact" in _run(ws, "archive", "verify")

    out = _json(ws, "archive", "export", rec.id)
    path = Path(out["path"])
    assert path.parent == ws.artifacts / "governance" and path.is_file()
    verified = _json(ws, "archive", "verify", "--file", str(path))
    assert verified["record_id"] == rec.id and verified["checkpoint"]["seq"] == 3  # the sidecar checkpoint
    assert Path(out["checkpoint"]).is_file() and Path(out["checkpoint"]).name == f"{rec.id}.frozen.checkpoint.json"
    text = path.read_text()
    path.write_text(text.replace('"sharpe":1.62', '"sharpe":1.72'))
    refused = _json(ws, "archive", "verify", "--file", str(path), code=1)
    assert refused["kind"] == "SignatureInvalid"
    path.write_text(text[:-40])
    assert "REFUSED" in runner.invoke(app, ["archive", "verify", "--file", str(path), "-w", str(ws.root)]).output

    with archive.store.transaction() as con:  # tamper with the catalog: verify exits 1 and says why
        con.execute("UPDATE governance_events SET actor = 'mallory' WHERE seq = 1")
    assert _json(ws, "archive", "verify", code=1)["ok"] is False
    broken = runner.invoke(app, ["archive", "verify", "-w", str(ws.root)])
    assert broken.exit_code == 1 and "CHAIN BROKEN" in broken.output and "event 1" in broken.output


def test_approve_asks_for_confirmation_and_passphrase_and_names_the_key_not_the_login(
        ws: Workspace, archive: Archive, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "mallory")  # the login name is never the approver
    monkeypatch.setenv("LOGNAME", "mallory")
    rec = frozen_record(archive)
    archive.request_approval(rec.id, AGENT, "please")
    before = dump(archive.store)
    unconfigured = runner.invoke(app, ["approve", rec.id, "-w", str(ws.root), "--yes"])
    assert unconfigured.exit_code == 1 and "no approver configured" in unconfigured.output
    make_approver("reviewer7")
    declined = runner.invoke(app, ["approve", rec.id, "-w", str(ws.root)], input="n\n")
    assert declined.exit_code == 1 and "Promote" in declined.output and "nothing changed" in declined.output
    wrong = runner.invoke(app, ["approve", rec.id, "-w", str(ws.root), "--yes", "--passphrase-file",
                                str(passphrase_file(tmp_path, "not the passphrase"))])
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    assert dump(archive.store) == before

    # Interactive: confirm, then the passphrase typed at the (getpass) prompt.
    monkeypatch.setattr("getpass.getpass", lambda prompt="": APPROVER_PASSPHRASE)
    interactive = runner.invoke(app, ["approve", rec.id, "-w", str(ws.root), "--note", "ok"], input="y\n")
    assert interactive.exit_code == 0, interactive.output
    assert "promoted to production" in interactive.output and "reviewer7" in interactive.output
    stored = archive.get(rec.id).record
    assert stored.state == "production" and stored.approval is not None
    assert (stored.approval.approved_by, stored.approval.note) == ("reviewer7", "ok")
    assert archive.events(rec.id)[-1].actor == "reviewer7" and "mallory" not in interactive.output
    assert archive.verify(rec.id).ok


def test_approve_yes_json_reject_and_fail_closed(ws: Workspace, archive: Archive, tmp_path: Path) -> None:
    make_approver("ops-lead")
    pf = str(passphrase_file(tmp_path))
    a = frozen_record(archive)
    b = frozen_record(archive, run_id="r2")
    c = frozen_record(archive, run_id="r3")
    out = _json(ws, "approve", a.id, "--yes", "--passphrase-file", pf)
    assert (out["state"], out["approved_by"]) == ("production", "ops-lead") and out["approved_at"]
    with (tmp_path / "pass").open("w") as fh:
        fh.write(APPROVER_PASSPHRASE + "\n")
    fd = os.open(tmp_path / "pass", os.O_RDONLY)
    try:  # --passphrase-fd: an inherited descriptor, as in `auraquant reject ID --passphrase-fd 3 3<file`
        rej = _json(ws, "reject", b.id, "--yes", "--note", "regime risk", "--passphrase-fd", str(fd))
    finally:
        os.close(fd)
    assert (rej["status"], rej["resolved_by"], rej["note"]) == ("rejected", "ops-lead", "regime risk")
    assert archive.get(b.id).record.state == "frozen"
    assert _json(ws, "approve", a.id, "--yes", "--passphrase-file", pf, code=1)["kind"] == "IllegalTransition"

    with archive.store.transaction() as con:
        env = json.loads(con.execute("SELECT envelope FROM archive_records WHERE id = ?", [c.id]).fetchone()[0])
        env["body"]["holdout"]["sharpe"] = 2.0
        con.execute("UPDATE archive_records SET envelope = ? WHERE id = ?", [json.dumps(env), c.id])
    before = dump(archive.store)
    refused = runner.invoke(app, ["approve", c.id, "--yes", "--passphrase-file", pf, "-w", str(ws.root)])
    assert refused.exit_code == 1 and "signature INVALID" in refused.output
    assert dump(archive.store) == before


def test_keys_show_trust_rotate_revoke(ws: Workspace, archive: Archive) -> None:
    old = archive.submit_candidate(make_record(), GOAL, AGENT)
    shown = _json(ws, "keys", "show")
    kid = shown["witness"]["key_id"]
    assert shown["witness"]["status"] == "trusted" and [k["key_id"] for k in shown["trusted_keys"]] == [kid]
    assert kid in _run(ws, "keys", "show")

    ext = Ed25519PrivateKey.generate().public_key()
    trusted = _json(ws, "keys", "trust", public_raw(ext).hex(), "--note", "ci")
    assert trusted["key_id"] == key_id(ext) and trusted["note"] == "ci"

    rot = _json(ws, "keys", "rotate")
    assert rot["old_key_id"] == kid and rot["new_key_id"] != kid
    assert _json(ws, "archive", "verify", old.id)["ok"] is True  # still trusted after rotation
    declined = runner.invoke(app, ["keys", "revoke", kid, "-w", str(ws.root)], input="n\n")
    assert declined.exit_code == 1
    assert _json(ws, "archive", "verify", old.id)["ok"] is True
    assert _json(ws, "keys", "revoke", kid, "--yes")["status"] == "revoked"
    check = _json(ws, "archive", "verify", old.id, code=1)
    assert check["ok"] is False and "revoked" in check["problem"]


def test_keys_show_says_when_the_key_comes_from_the_environment(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The source is plain text (it was once written as `[from ...]`, which rich took for a style tag and
    dropped)."""
    assert "AURAQUANT_WITNESS_KEY" not in _run(ws, "keys", "show")
    monkeypatch.setenv(KEY_ENV, str(default_key_path(ws.aura)))
    shown = _run(ws, "keys", "show")
    assert f"(from {KEY_ENV})" in shown and str(default_key_path(ws.aura)) in shown


def test_list_and_show_mark_unverified_rows_and_never_print_them_plainly(ws: Workspace, archive: Archive) -> None:
    good = frozen_record(archive)
    bad = archive.submit_candidate(make_record(run_id="r2"), GOAL, AGENT)
    with archive.store.transaction() as con:  # a catalog row edited behind the signature's back
        body = json.loads(con.execute("SELECT body FROM archive_records WHERE id = ?", [bad.id]).fetchone()[0])
        body["metrics"]["sharpe"] = 4.2
        con.execute("UPDATE archive_records SET body = ? WHERE id = ?", [json.dumps(body), bad.id])
    rows = {r["id"]: r for r in _json(ws, "archive", "list")}
    assert rows[good.id]["verified"] is True and rows[good.id]["reason"] is None
    assert rows[bad.id]["verified"] is False and "differs from its signed artifact" in rows[bad.id]["reason"]
    listed = runner.invoke(app, ["archive", "list", "-w", str(ws.root)])
    assert listed.exit_code == 0 and f"UNVERIFIED {bad.id}: catalog body" in listed.output
    assert "4.2" not in listed.stdout and "1.62" in listed.stdout  # the edited number is not in the table
    shown = _json(ws, "archive", "show", bad.id)
    assert shown["verified"] is False and "differs" in shown["reason"]
    text = _run(ws, "archive", "show", bad.id)
    assert "UNVERIFIED sharpe" not in text and "UNVERIFIED" in text and "REFUSED" in text


def test_anchor_a_chain_without_checkpoint(ws: Workspace, archive: Archive, tmp_path: Path) -> None:
    """A workspace from before checkpoints (or moved to another user) fails verification until a human anchors
    it; an existing checkpoint is never replaced, and a broken chain is never anchored."""
    from auraquant.cta.governance.anchor import checkpoint_path

    rec = frozen_record(archive)
    assert _json(ws, "archive", "anchor", "--yes", code=1)["kind"] == "GovernanceError"  # one exists already
    checkpoint_path(ws.aura).unlink()
    refused = _json(ws, "archive", "verify", code=1)
    assert any("no signed checkpoint" in p for p in refused["chain"]["problems"])
    assert not _json(ws, "archive", "verify", rec.id, code=1)["ok"]
    # With an approver on this machine, anchoring is the approver's decision (passphrase).
    make_approver()
    wrong = runner.invoke(app, ["archive", "anchor", "--yes", "--passphrase-file",
                                str(passphrase_file(tmp_path, "wrong passphrase")), "-w", str(ws.root)])
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    with archive.store.transaction() as con:  # a broken chain is not anchored either
        con.execute("UPDATE governance_events SET actor = 'x' WHERE seq = 1")
    pf = str(passphrase_file(tmp_path))
    assert _json(ws, "archive", "anchor", "--yes", "--passphrase-file", pf, code=1)["kind"] == "ChainBroken"
    with archive.store.transaction() as con:
        con.execute("UPDATE governance_events SET actor = ? WHERE seq = 1", [AGENT.name])
    assert _json(ws, "archive", "anchor", "--yes", "--passphrase-file", pf)["anchored_seq"] == 2
    assert _json(ws, "archive", "verify")["ok"] is True


def test_anchor_in_the_research_bootstrap_needs_no_approver(ws: Workspace, archive: Archive) -> None:
    from auraquant.cta.governance.anchor import checkpoint_path

    archive.submit_candidate(make_record(), GOAL, AGENT)
    checkpoint_path(ws.aura).unlink()
    assert _json(ws, "archive", "anchor", "--yes")["anchored_seq"] == 1
    assert _json(ws, "archive", "verify")["ok"] is True


def test_a_changed_workspace_id_is_recognised_and_not_re_anchored(ws: Workspace, archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(), GOAL, AGENT)
    marker = ws.aura / "workspace.json"
    body = json.loads(marker.read_text())
    old, body["workspace_id"] = body["workspace_id"], "f" * 32
    marker.write_text(json.dumps(body))
    problems = _json(ws, "archive", "verify", code=1)["chain"]["problems"]
    assert problems == [f"this workspace's id was changed (it was {old}, whose signed checkpoint is in the user "
                        f"config dir): restore `workspace_id` in .aura/workspace.json; do not re-anchor"]
    assert "id was changed" in _json(ws, "archive", "anchor", "--yes", code=1)["error"]
    body["workspace_id"] = old
    marker.write_text(json.dumps(body))
    assert _json(ws, "archive", "verify", rec.id)["ok"] is True
