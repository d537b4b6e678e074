"""The workspace witness key (Ed25519) and the pinned trust list `.aura/config/trust.json`.

The private key lives in `.aura/keys/witness.ed25519` (PEM, mode 0600) unless `AURAQUANT_WITNESS_KEY` points to
another key file. Its public key is pinned in trust.json at init; verification elsewhere uses only that list.
A key id is the first 16 hex chars of sha256(raw public key bytes).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auraquant.canonical import sha256_hex

KEY_ENV = "AURAQUANT_WITNESS_KEY"


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return sha256_hex(public_raw(key))[:16]


def witness_key_path(aura_dir: Path) -> Path:
    return Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else aura_dir / "keys" / "witness.ed25519"


def load_witness_key(aura_dir: Path) -> Ed25519PrivateKey:
    path = witness_key_path(aura_dir)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def ensure_witness_key(aura_dir: Path) -> tuple[str, bool]:
    """Create the witness key and pin it in trust.json if absent. Returns (key id, created)."""
    path = aura_dir / "keys" / "witness.ed25519"
    trust = aura_dir / "config" / "trust.json"
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        created = True
    pub = load_witness_key(aura_dir).public_key() if not os.environ.get(KEY_ENV) else \
        serialization.load_pem_private_key(path.read_bytes(), password=None).public_key()
    kid = key_id(pub)  # type: ignore[arg-type]
    doc = json.loads(trust.read_text()) if trust.exists() else {"keys": []}
    if not any(k["key_id"] == kid for k in doc["keys"]):
        doc["keys"].append({"key_id": kid, "public_key": public_raw(pub).hex(), "algorithm": "ed25519",  # type: ignore[arg-type]
                            "status": "trusted", "added_at": datetime.now(UTC).isoformat()})
        trust.parent.mkdir(parents=True, exist_ok=True)
        trust.write_text(json.dumps(doc, indent=2) + "\n")
    return kid, created
