"""Must-show 3: every tamper case is refused by `archive verify`, `archive verify ID`, `export`, `approve` and
`report`, run through the real `auraquant` CLI; refusals change nothing and write no file.

The attacker here has file access to the workspace (the witness key and the database included) but not to
the user config dir, nor the approver's passphrase. Each case is applied to a fresh copy of one governed
workspace (`tamper_lab`); an untouched copy passes all five commands, so every refusal below is caused by
the tampering.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.governance.approver import approver_key_path, roots_path
from auraquant.cta.governance.errors import ChainBroken, SignatureInvalid, SigningUnavailable
from auraquant.cta.governance.keys import (
    TrustList,
    default_key_path,
    key_id,
    public_raw,
    trust_path,
    trust_sig_path,
)
from auraquant.cta.governance.signing import WitnessSigner
from tests.integration.governance.helpers import AGENT, dump
from tests.integration.governance.tamper_lab import (
    Lab,
    build_template,
    copy_lab,
    decision_by,
    forge_promotion,
    revoked_witness_append,
    row,
    sql,
    witness_private,
)
from tests.unit.governance.factories import GOAL, make_approver, make_record

runner = CliRunner()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp("tamper-template")
    return base, build_template(base)


@pytest.fixture
def lab(template: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    return copy_lab(template[0], template[1], tmp_path, monkeypatch)


# -- the tamper cases ----------------------------------------------------------------------------------------------
def _trust_doc(lab: Lab) -> dict[str, Any]:
    return json.loads(trust_path(lab.ws.aura).read_text())


def _write_trust(lab: Lab, doc: dict[str, Any]) -> None:
    trust_path(lab.ws.aura).write_text(json.dumps(doc, indent=2))


def trust_key_added(lab: Lab) -> None:
    doc = _trust_doc(lab)
    pub = Ed25519PrivateKey.generate().public_key()
    doc["keys"].append({"key_id": key_id(pub), "public_key": public_raw(pub).hex(), "role": "approver",
                        "status": "trusted", "added_at": "2026-01-01T00:00:00+00:00", "note": "mallory"})
    _write_trust(lab, doc)


def witness_made_approver(lab: Lab) -> None:
    doc = _trust_doc(lab)
    for k in doc["keys"]:
        k["role"] = "approver"
    _write_trust(lab, doc)


def trust_signature_deleted(lab: Lab) -> None:
    trust_key_added(lab)
    trust_sig_path(lab.ws.aura).unlink()


def trust_rolled_back(lab: Lab) -> None:
    """An older list, validly signed by the approver, put back (it lacks a key trusted since)."""
    shutil.copy2(lab.template / "trust_v1" / "trust.json", trust_path(lab.ws.aura))
    shutil.copy2(lab.template / "trust_v1" / "trust.json.sig", trust_sig_path(lab.ws.aura))


def chain_truncated(lab: Lab) -> None:
    """The human rejection of C (the newest event) erased: event deleted, head rewound, request reopened."""
    with lab.ws.store.connect() as con:
        seq, = con.execute("SELECT max(seq) FROM governance_events").fetchone()
        prev, = con.execute("SELECT hash FROM governance_events WHERE seq = ?", [seq - 1]).fetchone()
    sql(lab, "DELETE FROM governance_events WHERE seq = ?", [seq])
    sql(lab, "UPDATE governance_head SET seq = ?, hash = ? WHERE id = 1", [seq - 1, prev])
    sql(lab, "UPDATE approval_requests SET status = 'pending', resolved_by = NULL WHERE record_id = ?",
        [lab.ids["C"]])


def approval_by_witness_key(lab: Lab) -> None:
    forge_promotion(lab, lab.ids["A"], decision_by(lab, witness_private(lab), lab.ids["A"]))


def approval_by_untrusted_key(lab: Lab) -> None:
    forge_promotion(lab, lab.ids["A"], decision_by(lab, Ed25519PrivateKey.generate(), lab.ids["A"]))


def approval_by_revoked_approver(lab: Lab) -> None:
    """A second approver (pinned by the user, listed in the workspace) was revoked; its old key still signs."""
    old = Ed25519PrivateKey.generate()
    roots = json.loads(roots_path().read_text())
    roots["approvers"].append({"key_id": key_id(old.public_key()), "public_key": public_raw(old.public_key()).hex(),
                               "name": "bob", "added_at": "2026-01-01T00:00:00+00:00"})
    roots_path().write_text(json.dumps(roots))
    trust = TrustList.load(lab.ws.aura)
    from auraquant.cta.governance.keys import TrustedKey

    trust.keys.append(TrustedKey(key_id=key_id(old.public_key()), public_key=public_raw(old.public_key()).hex(),
                                 role="approver", status="revoked", added_at="2026-01-01T00:00:00+00:00",
                                 revoked_at="2026-02-01T00:00:00+00:00", note="bob left"))
    trust.save(lab.ws.aura, make_approver())  # the legitimate approver signs the revocation
    forge_promotion(lab, lab.ids["A"], decision_by(lab, old, lab.ids["A"], name="bob"), name="bob")


def approval_replayed(lab: Lab) -> None:
    """B's genuine approval (signed by the trusted approver) replayed for A."""
    decision = json.loads(row(lab, lab.ids["B"])[0])["approval"]["decision"]
    forge_promotion(lab, lab.ids["A"], decision)


def approval_missing(lab: Lab) -> None:
    """A production state with no approver signature at all (what `Archive.approve(..., Actor.human())` from
    an agent thread used to write)."""
    forge_promotion(lab, lab.ids["A"], None)


def _edit_parquet(path: Path, column: str) -> None:
    frame = pd.read_parquet(path)
    frame[column] = frame[column] * 1.5
    frame.to_parquet(path, index=False)


def equity_edited(lab: Lab) -> None:
    _edit_parquet(lab.run_dir / "oos_equity.parquet", "equity")


def trades_edited(lab: Lab) -> None:
    _edit_parquet(lab.run_dir / "oos_trades.parquet", "pnl")


def result_file_edited(lab: Lab) -> None:
    path = lab.run_dir / "result.json"
    body = json.loads(path.read_text())
    body["oos"]["sharpe"] = 9.99
    path.write_text(json.dumps(body, indent=2))


def result_row_edited(lab: Lab) -> None:
    with lab.ws.store.connect() as con:
        body, = con.execute("SELECT body FROM objects WHERE kind = 'run_result' AND id = ?", [lab.run_id]).fetchone()
    doc = json.loads(body)
    doc["oos"]["sharpe"] = 9.99
    sql(lab, "UPDATE objects SET body = ? WHERE kind = 'run_result' AND id = ?", [json.dumps(doc), lab.run_id])


def bars_edited(lab: Lab) -> None:
    dv = json.loads(row(lab, lab.ids["A"])[0])["data_version_id"]
    _edit_parquet(lab.ws.store.bars_path(dv), "close")


def record_row_edited(lab: Lab) -> None:
    body = json.loads(row(lab, lab.ids["A"])[0])
    body["metrics"]["sharpe"] = 3.0
    sql(lab, "UPDATE archive_records SET body = ? WHERE id = ?", [json.dumps(body), lab.ids["A"]])


def workspace_id_changed(lab: Lab) -> None:
    """A new id in workspace.json, to escape the checkpoint and trust pin kept under the old one."""
    marker = lab.ws.aura / "workspace.json"
    body = json.loads(marker.read_text())
    body["workspace_id"] = "0" * 32
    marker.write_text(json.dumps(body))


def witness_key_loose(lab: Lab) -> None:
    os.chmod(default_key_path(lab.ws.aura), 0o644)


def approver_key_loose(lab: Lab) -> None:
    os.chmod(approver_key_path(), 0o644)


CASES: dict[str, tuple[Callable[[Lab], None], str]] = {
    # name: (tampering, a phrase every refusal of it must contain)
    "trust list: key added by hand": (trust_key_added, "edited after the approver signed it"),
    "trust list: witness key made approver": (witness_made_approver, "edited after the approver signed it"),
    "trust list: signature deleted": (trust_signature_deleted, "approver signature trust.json.sig is missing"),
    "trust list: rolled back to an older signed list": (trust_rolled_back, "rolled back or replaced"),
    "chain: newest events deleted, head rewound": (chain_truncated, "chain truncated or rewound"),
    "approval: signed by the witness key": (approval_by_witness_key, "witness key"),
    "approval: signed by an untrusted key": (approval_by_untrusted_key, "not a pinned approver key"),
    "approval: signed by a revoked approver key": (approval_by_revoked_approver, "revoked"),
    "approval: replayed from another record": (approval_replayed, "replayed approval"),
    "approval: none, production claimed": (approval_missing, "carries no approver signature"),
    "artifact: equity edited": (equity_edited, "oos_equity.parquet was altered"),
    "artifact: trades edited": (trades_edited, "oos_trades.parquet was altered"),
    "artifact: result file edited": (result_file_edited, "result.json was altered"),
    "artifact: result row edited": (result_row_edited, "store:run_result"),
    "artifact: market data edited": (bars_edited, "data:"),
    "catalog: record row edited": (record_row_edited, "differs from its signed artifact"),
    "keys: revoked witness key appends": (revoked_witness_append, "revoked"),
    "workspace: id changed to escape its checkpoint": (workspace_id_changed, "made for another workspace"),
    "keys: witness key file 0644": (witness_key_loose, "chmod 600"),
    "keys: approver key file 0644": (approver_key_loose, "chmod 600"),
}


def _cli(lab: Lab, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, [*args, "--workspace", str(lab.ws.root), "--json"])
    return res.exit_code, res.output


def _commands(lab: Lab, out: Path) -> dict[str, list[str]]:
    a = lab.ids["A"]
    (out / "export").mkdir(exist_ok=True)
    return {
        "archive verify": ["archive", "verify"],
        "archive verify ID": ["archive", "verify", a],
        "export": ["archive", "export", a, "--out", str(out / "export")],
        "approve": ["approve", a, "--yes", "--passphrase-file", str(lab.passphrase)],
        "report": ["report", a, "--out", str(out / "report")],
        "report of the run": ["report", lab.run_id, "--out", str(out / "report")],  # cited by the records
    }


def test_an_untouched_copy_passes_every_command(lab: Lab, tmp_path: Path) -> None:
    """The control: without tampering every command succeeds (approve before the reports, which still pass
    after it)."""
    for name, args in _commands(lab, tmp_path).items():
        code, output = _cli(lab, *args)
        assert code == 0, (name, output)
    assert (tmp_path / "report" / "tearsheet.html").is_file()
    exported = next((tmp_path / "export").glob("*.frozen.json"))
    assert exported.with_name(exported.name.replace(".json", ".checkpoint.json")).is_file()
    assert lab.archive.get(lab.ids["A"]).record.state == "production" and lab.archive.verify_all().ok


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_refused_by_every_command(lab: Lab, tmp_path: Path, case: str) -> None:
    tamper, phrase = CASES[case]
    tamper(lab)
    before = dump(lab.ws.store)
    for name, args in _commands(lab, tmp_path).items():
        code, output = _cli(lab, *args)
        assert code == 1, (case, name, output)
        assert phrase in output, (case, name, output)
        body = json.loads(output)
        assert body.get("ok") is False or "error" in body, (case, name, output)
    assert dump(lab.ws.store) == before  # approve refused before writing anything
    assert not any((tmp_path / "export").iterdir())
    assert not (tmp_path / "report" / "tearsheet.html").exists()
    assert lab.archive.get(lab.ids["A"]).record.state in ("frozen", "production")  # never promoted by us


@pytest.mark.parametrize("case", ["catalog: record row edited", "artifact: equity edited",
                                  "approval: signed by the witness key", "chain: newest events deleted, head rewound"])
def test_deprecating_a_tampered_row_is_refused(lab: Lab, case: str) -> None:
    """Deprecate verifies before it signs: a tampered row is never re-signed as if it were genuine."""
    CASES[case][0](lab)
    before = dump(lab.ws.store)
    record = lab.ids["A"]
    retire_as = make_approver() if lab.archive.get(record).record.state == "production" else AGENT
    with pytest.raises((SignatureInvalid, ChainBroken)):
        lab.archive.deprecate(record, retire_as, "retire it")
    assert dump(lab.ws.store) == before


@pytest.mark.parametrize("case", ["row", "equity"])
def test_discarding_a_tampered_candidate_is_refused(lab: Lab, case: str) -> None:
    candidate = lab.ids["D"]
    if case == "row":
        body = json.loads(row(lab, candidate)[0])
        body["metrics"]["sharpe"] = 3.0
        sql(lab, "UPDATE archive_records SET body = ? WHERE id = ?", [json.dumps(body), candidate])
    else:
        equity_edited(lab)
    before = dump(lab.ws.store)
    with pytest.raises(SignatureInvalid, match="differs from its signed|was altered"):
        lab.archive.discard(candidate, AGENT, "retire it")
    assert dump(lab.ws.store) == before


def test_a_revoked_key_appends_nothing(lab: Lab) -> None:
    old = WitnessSigner(witness_private(lab))
    from auraquant.cta.governance.archive import Archive
    from auraquant.cta.governance.keys import rotate_witness_key

    stale = Archive(lab.ws.store, lab.ws.aura, signer=old)  # made while the key was still trusted
    rotate_witness_key(lab.ws.aura, revoke_old=True, approver=make_approver())
    before = dump(lab.ws.store)
    with pytest.raises(SigningUnavailable, match="revoked"):
        stale.discard(lab.ids["D"], AGENT, "with a revoked key")
    with pytest.raises(SigningUnavailable, match="revoked"):
        stale.submit_candidate(make_record(run_id="r-stale"), GOAL, AGENT)
    assert dump(lab.ws.store) == before
    assert lab.archive.discard(lab.ids["D"], AGENT, "with the new key").state == "discarded"
    # The chain stays intact (old events are warnings: signed before the revocation); D is re-signed by the
    # new key, while A, B, C, signed by the revoked key only, no longer verify.
    result = lab.archive.verify_all()
    assert result.chain.ok and lab.archive.verify(lab.ids["D"]).ok
    assert [c.ok for c in result.records if c.record_id != lab.ids["D"]] == [False, False, False]


def test_a_hand_edited_trust_list_fails_closed_with_a_way_back(lab: Lab) -> None:
    trust_key_added(lab)
    code, output = _cli(lab, "keys", "show")
    assert code == 1 and "keys trust --repair" in output and len(json.loads(output)["error"].splitlines()) == 1
    code, output = _cli(lab, "keys", "show", "--unverified")
    assert code == 0 and "NOT VERIFIED" in json.loads(output)["trust_list"]
    # The human reviews the list, removes the stranger, and re-signs it with the approver key.
    doc = _trust_doc(lab)
    doc["keys"] = [k for k in doc["keys"] if k["note"] != "mallory"]
    _write_trust(lab, doc)
    code, output = _cli(lab, "keys", "trust", "--repair", "--yes", "--passphrase-file", str(lab.passphrase))
    assert code == 0, output
    assert lab.archive.verify_all().ok
