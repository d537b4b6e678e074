"""The approver key, the signed trust list and its bootstrap, the user config dir, and artifact digests."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auraquant.cta.governance import evidence
from auraquant.cta.governance.approver import (
    DECISION_SCHEMA,
    approver_key_path,
    approver_roots,
    init_approver,
    sign_decision,
    unlock_approver,
    verify_decision,
)
from auraquant.cta.governance.errors import KeyManagementError, SignatureInvalid, TrustListInvalid
from auraquant.cta.governance.keys import (
    TrustList,
    public_raw,
    repair_trust,
    seal_trust,
    trust_key,
    trust_path,
    trust_pin_path,
    trust_sig_path,
)
from auraquant.cta.governance.userconfig import CONFIG_ENV, config_dir, workspace_id
from auraquant.store import Store
from tests.unit.governance.factories import APPROVER_PASSPHRASE, make_approver

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_config_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "explicit"))
    assert config_dir() == tmp_path / "explicit"
    monkeypatch.delenv(CONFIG_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "auraquant"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home" / ".config" / "auraquant"


def test_workspace_id_is_created_once_and_kept(aura_dir: Path) -> None:
    wid = workspace_id(aura_dir)
    assert len(wid) == 32 and workspace_id(aura_dir) == wid
    assert json.loads((aura_dir / "workspace.json").read_text())["workspace_id"] == wid


def test_approver_key_is_encrypted_private_and_named(aura_dir: Path) -> None:
    root = init_approver("ana", APPROVER_PASSPHRASE, now=NOW)
    path = approver_key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(config_dir().stat().st_mode) == 0o700
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert approver_roots() == {root.key_id: root}
    key = unlock_approver(APPROVER_PASSPHRASE)
    assert (key.key_id, key.name) == (root.key_id, "ana")
    with pytest.raises(KeyManagementError, match="wrong passphrase"):
        unlock_approver("not it at all")
    with pytest.raises(KeyManagementError, match="already exists"):
        init_approver("eve", APPROVER_PASSPHRASE, now=NOW)
    os.chmod(path, 0o640)
    with pytest.raises(KeyManagementError, match=f"chmod 600 {path}"):
        unlock_approver(APPROVER_PASSPHRASE)


def test_short_passphrases_and_empty_names_are_refused(aura_dir: Path) -> None:
    with pytest.raises(KeyManagementError, match="at least 8"):
        init_approver("ana", "short", now=NOW)
    with pytest.raises(KeyManagementError, match="name"):
        init_approver("  ", APPROVER_PASSPHRASE, now=NOW)
    assert not approver_key_path().exists()


def test_trust_list_bootstrap_then_signed_and_pinned(aura_dir: Path) -> None:
    assert TrustList.load(aura_dir).signature_state == "unsigned (no approver configured)"
    approver = make_approver()
    assert "no approver has signed" in TrustList.load(aura_dir).signature_state
    trust = seal_trust(aura_dir, approver)
    assert trust.signature_state == f"signed by approver ana ({approver.key_id})"
    assert trust.get(approver.key_id).role == "approver"  # type: ignore[union-attr]
    assert trust_sig_path(aura_dir).is_file() and trust_pin_path(aura_dir).is_file()
    # Changes now need the approver key; with it they are signed and re-pinned.
    other = public_raw(Ed25519PrivateKey.generate().public_key()).hex()
    with pytest.raises(KeyManagementError, match="needs the approver key"):
        trust_key(aura_dir, other)
    trust_key(aura_dir, other, approver=approver)
    assert len(TrustList.load(aura_dir).keys) == 3
    # Deleting both the signature and the trust list does not downgrade to the bootstrap: the pin remains.
    trust_sig_path(aura_dir).unlink()
    trust_path(aura_dir).unlink()
    with pytest.raises(TrustListInvalid, match="keys trust --repair"):
        TrustList.load(aura_dir)


def test_repair_re_signs_what_the_human_reviewed(aura_dir: Path) -> None:
    approver = make_approver()
    seal_trust(aura_dir, approver)
    doc = json.loads(trust_path(aura_dir).read_text())
    doc["keys"][0]["note"] = "edited by hand"
    trust_path(aura_dir).write_text(json.dumps(doc))
    with pytest.raises(TrustListInvalid, match="edited after the approver signed it"):
        TrustList.load(aura_dir)
    assert TrustList.load(aura_dir, verify_signature=False).keys[0].note == "edited by hand"
    assert repair_trust(aura_dir, approver).keys[0].note == "edited by hand"
    assert TrustList.load(aura_dir).signature_state.startswith("signed by approver")


def test_decisions_bind_record_digest_decision_and_workspace(aura_dir: Path) -> None:
    approver = make_approver()
    trust = seal_trust(aura_dir, approver)
    env = sign_decision(approver, workspace_id=workspace_id(aura_dir), record_id="rec_1",
                        record_envelope_digest="a" * 64, decision="approved", note="ok", request_id="apr_1",
                        now=NOW).model_dump(mode="json", exclude_none=True)
    assert env["schema_name"] == DECISION_SCHEMA
    body = verify_decision(env, trust, record_id="rec_1", decision="approved", approver_name="ana",
                           record_envelope_digest="a" * 64)
    assert body["approver"] == {"name": "ana", "key_id": approver.key_id}
    for kwargs, phrase in (({"record_id": "rec_2"}, "replayed"), ({"decision": "rejected"}, "signed 'approved'"),
                           ({"approver_name": "eve"}, "is not the signer"),
                           ({"record_envelope_digest": "b" * 64}, "another artifact")):
        args = {"record_id": "rec_1", "decision": "approved", **kwargs}
        with pytest.raises(SignatureInvalid, match=phrase):
            verify_decision(env, trust, **args)  # type: ignore[arg-type]
    tampered = {**env, "body": {**env["body"], "note": "edited"}}
    with pytest.raises(SignatureInvalid, match="INVALID"):
        verify_decision(tampered, trust, record_id="rec_1", decision="approved")


def test_evidence_pins_files_rows_and_data(tmp_path: Path) -> None:
    from auraquant.cta.data.service import synth

    (tmp_path / ".aura").mkdir()
    store = Store(tmp_path / ".aura")
    dv, _ = synth(store, n=300, seed=1)
    f = tmp_path / "out" / "equity.bin"
    f.parent.mkdir()
    f.write_bytes(b"equity")
    pinned = evidence.collect(tmp_path, store, [f, tmp_path / "missing.bin"], data_version_id=dv.id)
    assert set(pinned) == {"out/equity.bin", f"data:{dv.id}"} and pinned[f"data:{dv.id}"] == dv.content_hash
    assert evidence.problems(tmp_path, store, pinned) == []
    f.write_bytes(b"EQUITY")
    assert evidence.problems(tmp_path, store, pinned) == [
        f"artifact out/equity.bin was altered after signing (sha256 {evidence.digest(tmp_path, store, 'out/equity.bin')[:12]}, "  # type: ignore[index]
        f"signed {pinned['out/equity.bin'][:12]})"]
    f.unlink()
    assert evidence.problems(tmp_path, store, pinned) == ["artifact out/equity.bin is missing"]
    assert evidence.covers(tmp_path, pinned, [f, tmp_path / "other"]) == [str(tmp_path / "other")]
