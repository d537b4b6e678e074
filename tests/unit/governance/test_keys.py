"""Key management: file modes, trust/revoke/rotate, and what verifies after each."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auraquant.cta.governance.errors import KeyManagementError, SignatureInvalid, SigningUnavailable
from auraquant.cta.governance.keys import (
    TrustList,
    default_key_path,
    ensure_witness_key,
    key_id,
    public_raw,
    revoke_key,
    rotate_witness_key,
    trust_key,
    witness_status,
)
from auraquant.cta.governance.record import ARCHIVE_RECORD_SCHEMA
from auraquant.cta.governance.signing import (
    WitnessSigner,
    parse_envelope,
    sign_envelope,
    verify_envelope,
    witness_signer,
)
from tests.unit.governance.factories import record_json


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_witness_key_is_private_and_pinned(aura_dir: Path) -> None:
    path = default_key_path(aura_dir)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    kid, created = ensure_witness_key(aura_dir)
    assert created is False and witness_status(aura_dir).model_dump() | {"path": ""} == {
        "path": "", "from_env": False, "present": True, "key_id": kid, "status": "trusted", "error": None}
    assert [k.key_id for k in TrustList.load(aura_dir).keys] == [kid]


def test_rotation_keeps_old_artifacts_valid_until_revoked(aura_dir: Path) -> None:
    old_env = sign_envelope(ARCHIVE_RECORD_SCHEMA, record_json(), witness_signer(aura_dir))
    old_kid, new_kid = rotate_witness_key(aura_dir)
    assert old_kid != new_kid and witness_signer(aura_dir).key_id == new_kid
    retired = default_key_path(aura_dir).parent / "retired" / f"{old_kid}.ed25519"
    assert _mode(retired) == 0o600 and _mode(default_key_path(aura_dir)) == 0o600
    new_env = sign_envelope(ARCHIVE_RECORD_SCHEMA, record_json(run_id="r2"), witness_signer(aura_dir))
    trust = TrustList.load(aura_dir)
    assert verify_envelope(parse_envelope(old_env.to_json()), trust)["run_id"] == "run_42"
    assert verify_envelope(parse_envelope(new_env.to_json()), trust)["run_id"] == "r2"

    revoke_key(aura_dir, old_kid, note="laptop lost")
    trust = TrustList.load(aura_dir)
    with pytest.raises(SignatureInvalid, match="revoked"):
        verify_envelope(parse_envelope(old_env.to_json()), trust)
    assert verify_envelope(parse_envelope(new_env.to_json()), trust)["run_id"] == "r2"
    with pytest.raises(KeyManagementError, match="never trusted again"):
        trust_key(aura_dir, public_raw(trust.get(old_kid).public()).hex())  # type: ignore[union-attr]


def test_rotate_with_revoke_old_and_a_revoked_active_key_cannot_sign(aura_dir: Path) -> None:
    old_kid, new_kid = rotate_witness_key(aura_dir, revoke_old=True)
    assert TrustList.load(aura_dir).get(old_kid).status == "revoked"  # type: ignore[union-attr]
    revoke_key(aura_dir, new_kid)
    with pytest.raises(SigningUnavailable, match="revoked"):
        witness_signer(aura_dir)


def test_trust_accepts_hex_and_pem_and_refuses_garbage(aura_dir: Path) -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    e1 = trust_key(aura_dir, public_raw(a.public_key()).hex(), note="ci runner")
    pem = b.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    e2 = trust_key(aura_dir, pem.decode())
    assert (e1.key_id, e2.key_id) == (key_id(a.public_key()), key_id(b.public_key()))
    assert trust_key(aura_dir, public_raw(a.public_key()).hex()) == e1  # idempotent
    for bad in ("zz", "ab" * 31, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"):
        with pytest.raises((KeyManagementError, ValueError)):
            trust_key(aura_dir, bad)
    env = sign_envelope("x/v1", {"a": 1}, WitnessSigner(a))
    assert verify_envelope(env, TrustList.load(aura_dir)) == {"a": 1}
    with pytest.raises(KeyManagementError):
        revoke_key(aura_dir, "0" * 16)


def test_externally_managed_key_is_not_rotated(aura_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ext = tmp_path / "ext.pem"
    key = Ed25519PrivateKey.generate()
    ext.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    monkeypatch.setenv("AURAQUANT_WITNESS_KEY", str(ext))
    # Written with the umask (0644 here): refused like ssh refuses it, with the chmod to run.
    assert f"chmod 600 {ext}" in (witness_status(aura_dir).error or "")
    with pytest.raises(SigningUnavailable, match="chmod 600"):
        witness_signer(aura_dir)
    ext.chmod(0o600)
    with pytest.raises(KeyManagementError, match="externally managed"):
        rotate_witness_key(aura_dir)
    assert witness_status(aura_dir).status == "untrusted"
    trust_key(aura_dir, public_raw(key.public_key()).hex())
    assert witness_signer(aura_dir).key_id == key_id(key.public_key())
    assert json.loads((aura_dir / "config" / "trust.json").read_text())["keys"][-1]["status"] == "trusted"
