"""The workspace witness key (Ed25519) and the pinned trust list `.aura/config/trust.json`.

The private key lives in `.aura/keys/witness.ed25519` (PEM PKCS8, mode 0600) unless `AURAQUANT_WITNESS_KEY`
points to another key file. `init` pins the workspace key in trust.json; a key named by the environment
variable must be pinned explicitly (`auraquant keys trust`). Verification anywhere uses only trust.json: a
public key carried inside an artifact is never trusted.

A key id is the first 16 hex chars of sha256(raw public key bytes). Every trust.json entry is checked on
load: an entry whose id does not match its public key is refused (a hand-edited trust list cannot alias a
trusted id to another key). Revocation is permanent: a revoked key cannot be trusted again (make a new one).

Rotation generates a fresh workspace key, pins it, and moves the old private key to
`.aura/keys/retired/<key id>.ed25519` (still 0600, never used for signing again). The old public key stays
trusted, so artifacts it signed keep verifying until it is revoked.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel

from auraquant.canonical import sha256_hex
from auraquant.cta.governance.errors import KeyManagementError, SignatureInvalid

KEY_ENV = "AURAQUANT_WITNESS_KEY"
KeyStatus = Literal["trusted", "revoked"]


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return sha256_hex(public_raw(key))[:16]


def default_key_path(aura_dir: Path) -> Path:
    return Path(aura_dir) / "keys" / "witness.ed25519"


def trust_path(aura_dir: Path) -> Path:
    return Path(aura_dir) / "config" / "trust.json"


def witness_key_path(aura_dir: Path) -> Path:
    return Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else default_key_path(aura_dir)


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_witness_key(aura_dir: Path) -> Ed25519PrivateKey:
    """The active witness private key (the env var's file if set, else the workspace key)."""
    return _load_private(witness_key_path(aura_dir))


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a PEM private key with mode 0600 from the first byte (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from 64 hex chars (raw) or a PEM `PUBLIC KEY` block."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise KeyManagementError("the PEM public key is not an Ed25519 key")
        return key
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise KeyManagementError("a public key must be 64 hex chars (raw Ed25519) or a PEM block") from None
    if len(raw) != 32:
        raise KeyManagementError(f"a raw Ed25519 public key is 32 bytes (64 hex chars), got {len(raw)} bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


class TrustedKey(BaseModel):
    """One pinned public key. `status` revoked means: never accepted again, for any artifact."""

    model_config = {"extra": "forbid"}

    key_id: str
    public_key: str  # raw Ed25519 public key, hex
    algorithm: Literal["ed25519"] = "ed25519"
    status: KeyStatus = "trusted"
    added_at: str
    revoked_at: str | None = None
    note: str = ""

    def public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))


class TrustList(BaseModel):
    """The content of trust.json. Load with `TrustList.load`, which checks every id against its key."""

    model_config = {"extra": "forbid"}

    keys: list[TrustedKey] = []

    @classmethod
    def load(cls, aura_dir: Path) -> TrustList:
        path = trust_path(aura_dir)
        if not path.exists():
            return cls()
        trust = cls.model_validate_json(path.read_text())
        for k in trust.keys:
            if key_id(k.public()) != k.key_id:
                raise SignatureInvalid(f"{path}: entry {k.key_id} does not match its public key; "
                                       f"refusing the whole trust list (restore it from a known-good copy)")
        return trust

    def save(self, aura_dir: Path) -> None:
        path = trust_path(aura_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, kid: str) -> TrustedKey | None:
        return next((k for k in self.keys if k.key_id == kid), None)

    def verifying_key(self, kid: str) -> Ed25519PublicKey:
        """The pinned public key for `kid`; refuses unknown and revoked ids."""
        entry = self.get(kid)
        if entry is None:
            raise SignatureInvalid(f"signing key {kid} is not pinned in trust.json; refusing the artifact "
                                   f"(a key carried inside an artifact is never trusted)")
        if entry.status != "trusted":
            raise SignatureInvalid(f"signing key {kid} was revoked at {entry.revoked_at}; "
                                   f"artifacts it signed are no longer accepted")
        return entry.public()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _pin(aura_dir: Path, pub: Ed25519PublicKey, note: str) -> TrustedKey:
    trust = TrustList.load(aura_dir)
    kid = key_id(pub)
    existing = trust.get(kid)
    if existing is not None:
        if existing.status == "revoked":
            raise KeyManagementError(f"key {kid} was revoked at {existing.revoked_at}; revoked keys are never "
                                     f"trusted again (generate a new key instead)")
        return existing
    entry = TrustedKey(key_id=kid, public_key=public_raw(pub).hex(), added_at=_now_iso(), note=note)
    trust.keys.append(entry)
    trust.save(aura_dir)
    return entry


def ensure_witness_key(aura_dir: Path) -> tuple[str, bool]:
    """Create the workspace witness key and pin it in trust.json if absent. Returns (key id, created).

    Always about the workspace key file, even when `AURAQUANT_WITNESS_KEY` points elsewhere (that key is
    pinned explicitly with `trust_key`).
    """
    path = default_key_path(aura_dir)
    created = False
    if not path.exists():
        _write_private(path, Ed25519PrivateKey.generate())
        created = True
    pub = _load_private(path).public_key()
    trust = TrustList.load(aura_dir)
    existing = trust.get(key_id(pub))
    if existing is None:
        _pin(aura_dir, pub, note="workspace witness key (init)")
    return key_id(pub), created


def trust_key(aura_dir: Path, public_key: str, note: str = "") -> TrustedKey:
    """Pin a public key (hex or PEM) as trusted. Idempotent for a trusted key; refuses a revoked one."""
    return _pin(aura_dir, parse_public_key(public_key), note)


def revoke_key(aura_dir: Path, kid: str, note: str = "") -> TrustedKey:
    """Mark a pinned key revoked. Artifacts it signed fail verification from now on."""
    trust = TrustList.load(aura_dir)
    entry = trust.get(kid)
    if entry is None:
        raise KeyManagementError(f"no key {kid} in trust.json (`auraquant keys show` lists them)")
    if entry.status == "revoked":
        return entry
    revoked = entry.model_copy(update={"status": "revoked", "revoked_at": _now_iso(),
                                       "note": (entry.note + "; " if entry.note else "") + (note or "revoked")})
    trust.keys = [revoked if k.key_id == kid else k for k in trust.keys]
    trust.save(aura_dir)
    return revoked


def rotate_witness_key(aura_dir: Path, *, revoke_old: bool = False) -> tuple[str, str]:
    """Replace the workspace witness key with a new one. Returns (old key id, new key id).

    The new key is written and pinned before the old one is retired, so a failure at any point leaves a
    usable, trusted key in place. Refused when `AURAQUANT_WITNESS_KEY` is set: that key is managed outside.
    """
    if os.environ.get(KEY_ENV):
        raise KeyManagementError(f"{KEY_ENV} points to an externally managed key; rotate it where it is "
                                 f"managed, then `auraquant keys trust` the new public key")
    path = default_key_path(aura_dir)
    old = _load_private(path)
    old_kid = key_id(old.public_key())
    new = Ed25519PrivateKey.generate()
    _pin(aura_dir, new.public_key(), note=f"workspace witness key (rotated from {old_kid})")
    retired = path.parent / "retired" / f"{old_kid}.ed25519"
    _write_private(retired, old)
    _write_private(path, new)
    if revoke_old:
        revoke_key(aura_dir, old_kid, note="revoked at rotation")
    return old_kid, key_id(new.public_key())


class WitnessStatus(BaseModel):
    """What `keys show` reports about the active signing key."""

    path: str
    from_env: bool
    present: bool
    key_id: str | None
    status: KeyStatus | Literal["untrusted"] | None
    error: str | None = None


def witness_status(aura_dir: Path) -> WitnessStatus:
    path = witness_key_path(aura_dir)
    from_env = bool(os.environ.get(KEY_ENV))
    if not path.exists():
        return WitnessStatus(path=str(path), from_env=from_env, present=False, key_id=None, status=None)
    try:
        kid = key_id(_load_private(path).public_key())
    except (ValueError, TypeError, OSError) as e:
        return WitnessStatus(path=str(path), from_env=from_env, present=True, key_id=None, status=None,
                             error=str(e))
    entry = TrustList.load(aura_dir).get(kid)
    return WitnessStatus(path=str(path), from_env=from_env, present=True, key_id=kid,
                         status=entry.status if entry else "untrusted")
