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

Roles: an entry is a `witness` key (signs records, events, checkpoints) or an `approver` key (signs human
decisions and trust-list changes). A witness key never counts as an approver, and an approver entry counts
only when the user config dir also pins that key (`approver.approver_roots`).

The trust list is signed. Once an approver has signed a workspace's list (`trust.json.sig`, an envelope
over the list's canonical sha256 and the workspace id), the digest is also pinned in the user config dir
(`trust-pin.json`), and from then on `TrustList.load` refuses, before any use, a list that is unsigned,
signed by a key that is not a pinned approver, edited after signing, or rolled back to an older signed
version. Until then (no approver ever signed it: a fresh research workspace, the demo) the list is used
unsigned and says so (`TrustList.signature_state`); approver entries still need the config-dir root, so an
unsigned list can add witness keys but never an approver. Every change to a signed list (trust, revoke,
rotate) needs the unlocked approver key. Private key files readable by group or others are refused.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, PrivateAttr

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.governance.errors import KeyManagementError, SignatureInvalid, TrustListInvalid
from auraquant.cta.governance.userconfig import check_private_file, read_json, workspace_config, workspace_id

if TYPE_CHECKING:
    from auraquant.cta.governance.approver import ApproverRoot, ApproverSigner

KEY_ENV = "AURAQUANT_WITNESS_KEY"
TRUST_LIST_SCHEMA = "auraquant.trust_list/v1"
KeyStatus = Literal["trusted", "revoked"]
KeyRole = Literal["witness", "approver"]


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


def trust_sig_path(aura_dir: Path) -> Path:
    return Path(aura_dir) / "config" / "trust.json.sig"


def trust_pin_path(aura_dir: Path) -> Path:
    return workspace_config(aura_dir) / "trust-pin.json"


def _load_private(path: Path) -> Ed25519PrivateKey:
    check_private_file(path, "key file")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_witness_key(aura_dir: Path) -> Ed25519PrivateKey:
    """The active witness private key (the env var's file if set, else the workspace key)."""
    return _load_private(witness_key_path(aura_dir))


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a PEM private key with mode 0600 from the first byte (never briefly world-readable)."""
    from auraquant.cta.governance.userconfig import write_private

    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


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
    role: KeyRole = "witness"
    status: KeyStatus = "trusted"
    added_at: str
    revoked_at: str | None = None
    note: str = ""

    def public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))


def _refuse_list(path: Path, reason: str) -> TrustListInvalid:
    return TrustListInvalid(f"{path}: {reason}; refusing the whole trust list. Restore it: review it with "
                            f"`auraquant keys show --unverified` and re-sign it with `auraquant keys trust "
                            f"--repair` (needs the approver passphrase), or put back a known-good copy")


def list_digest(keys: list[TrustedKey]) -> str:
    """sha256 of the canonical JSON of a trust list's entries (what an approver signs)."""
    return sha256_hex(canonical_json({"keys": [k.model_dump(mode="json") for k in keys]}))


class TrustList(BaseModel):
    """The content of trust.json. Load with `TrustList.load`, which checks every id against its key and the
    approver signature (see the module docstring) before the list can be used."""

    model_config = {"extra": "forbid"}

    keys: list[TrustedKey] = []
    _roots: dict[str, ApproverRoot] = PrivateAttr(default_factory=dict)
    _workspace_id: str = PrivateAttr(default="")
    _signature_state: str = PrivateAttr(default="unsigned")

    @property
    def workspace_id(self) -> str:
        return self._workspace_id

    @property
    def signature_state(self) -> str:
        """`signed by approver NAME (KEY ID)`, or `unsigned (...)` for a never-signed bootstrap list."""
        return self._signature_state

    @classmethod
    def load(cls, aura_dir: Path, *, verify_signature: bool = True) -> TrustList:
        """Parse and check trust.json. `verify_signature=False` is only for showing a broken list to the
        human who is about to re-sign it (`keys trust --repair`)."""
        from auraquant.cta.governance.approver import approver_roots

        path = trust_path(aura_dir)
        wid = workspace_id(aura_dir)
        pin = read_json(trust_pin_path(aura_dir))
        if not path.exists():
            if pin is not None and verify_signature:
                raise _refuse_list(path, "missing, but an approver signed this workspace's trust list")
            trust = cls()
        else:
            try:
                trust = cls.model_validate_json(path.read_text())
            except ValueError as e:
                raise _refuse_list(path, f"not a valid trust list ({str(e).splitlines()[0]})") from None
            for k in trust.keys:
                if key_id(k.public()) != k.key_id:
                    raise _refuse_list(path, f"entry {k.key_id} does not match its public key")
        trust._roots = approver_roots()
        trust._workspace_id = wid
        sig_path = trust_sig_path(aura_dir)
        if pin is None and not sig_path.exists():
            trust._signature_state = ("unsigned (no approver configured)" if not trust._roots else
                                      "unsigned (no approver has signed this workspace's list yet)")
            return trust
        if not verify_signature:
            trust._signature_state = "NOT VERIFIED (loaded for repair)"
            return trust
        trust._signature_state = trust._check_signature(path, sig_path, pin)
        return trust

    def _check_signature(self, path: Path, sig_path: Path, pin: dict[str, str] | None) -> str:
        from cryptography.exceptions import InvalidSignature

        from auraquant.cta.governance.signing import parse_envelope

        if not sig_path.exists():
            raise _refuse_list(path, f"its approver signature {sig_path.name} is missing")
        try:
            env = parse_envelope(sig_path.read_bytes())
        except SignatureInvalid as e:
            raise _refuse_list(path, f"{sig_path.name} is not a valid signature ({e})") from None
        root = self._roots.get(env.key_id)
        if root is None or env.schema_name != TRUST_LIST_SCHEMA:
            raise _refuse_list(path, f"signed by key {env.key_id}, which is not a pinned approver in the user "
                                     f"config dir")
        try:
            root.public().verify(bytes.fromhex(env.signature), env.signed_payload())
        except (ValueError, InvalidSignature):
            raise _refuse_list(path, "its approver signature is INVALID") from None
        digest = list_digest(self.keys)
        if env.body.get("workspace_id") != self._workspace_id:
            raise _refuse_list(path, "its signature was made for another workspace")
        if env.body.get("trust_sha256") != digest:
            raise _refuse_list(path, "edited after the approver signed it")
        if pin is not None and pin.get("trust_sha256") != digest:
            raise _refuse_list(path, "not the list an approver last signed here (rolled back or replaced)")
        return f"signed by approver {root.name} ({root.key_id})"

    def save(self, aura_dir: Path, approver: ApproverSigner | None = None) -> None:
        """Write trust.json; with `approver`, also sign it and pin its digest in the user config dir.

        A list that an approver has signed can only be changed with the approver key (`approver`)."""
        path = trust_path(aura_dir)
        sealed = trust_sig_path(aura_dir).exists() or trust_pin_path(aura_dir).exists()
        if approver is None and sealed:
            raise KeyManagementError("this workspace's trust list is signed by an approver; changing it needs "
                                     "the approver key (the command asks for its passphrase when an approver is "
                                     "configured: `auraquant keys approver init`)")
        if approver is not None:
            self._ensure_approver_entry(approver)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_text(path, json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
        if approver is not None:
            self._sign(aura_dir, approver)

    def _ensure_approver_entry(self, approver: ApproverSigner) -> None:
        if approver.key_id not in self._roots:
            raise KeyManagementError(f"key {approver.key_id} is not a pinned approver in the user config dir; "
                                     f"it cannot sign this trust list")
        entry = self.get(approver.key_id)
        if entry is None:
            self.keys.append(TrustedKey(key_id=approver.key_id, public_key=approver.public_key_hex, role="approver",
                                        added_at=_now_iso(), note=f"approver {approver.name}"))
        elif entry.role != "approver" or entry.status != "trusted":
            raise KeyManagementError(f"key {approver.key_id} is listed as a {entry.status} {entry.role} key in "
                                     f"trust.json; it cannot sign as an approver here")

    def _sign(self, aura_dir: Path, approver: ApproverSigner) -> None:
        from auraquant.cta.governance.signing import sign_envelope
        from auraquant.cta.governance.userconfig import write_private

        digest = list_digest(self.keys)
        env = sign_envelope(TRUST_LIST_SCHEMA, {"workspace_id": workspace_id(aura_dir), "trust_sha256": digest},
                            approver)
        _atomic_text(trust_sig_path(aura_dir), env.to_json() + "\n")
        write_private(trust_pin_path(aura_dir), json.dumps({"trust_sha256": digest, "signed_by": approver.key_id,
                                                            "signed_at": env.signed_at}).encode())

    def get(self, kid: str) -> TrustedKey | None:
        return next((k for k in self.keys if k.key_id == kid), None)

    def verifying_key(self, kid: str) -> Ed25519PublicKey:
        """The pinned witness public key for `kid`; refuses unknown and revoked ids and approver keys."""
        entry = self.get(kid)
        if entry is None:
            raise SignatureInvalid(f"signing key {kid} is not pinned in trust.json; refusing the artifact "
                                   f"(a key carried inside an artifact is never trusted)")
        if entry.status != "trusted":
            raise SignatureInvalid(f"signing key {kid} was revoked at {entry.revoked_at}; "
                                   f"artifacts it signed are no longer accepted")
        if entry.role != "witness":
            raise SignatureInvalid(f"key {kid} is an approver key; it never signs research artifacts")
        return entry.public()

    def approver_key(self, kid: str) -> Ed25519PublicKey:
        """The public key of a trusted approver `kid`: pinned as an approver root in the user config dir AND
        listed in trust.json as a trusted approver. A witness key never qualifies."""
        entry = self.get(kid)
        root = self._roots.get(kid)
        if entry is not None and entry.role == "witness":
            raise SignatureInvalid(f"key {kid} is a witness key; it can never sign as an approver")
        if root is None:
            raise SignatureInvalid(f"key {kid} is not a pinned approver key in the user config dir; its "
                                   f"signature cannot make a human decision")
        if entry is None or entry.status != "trusted":
            state = "not listed" if entry is None else f"revoked at {entry.revoked_at}"
            raise SignatureInvalid(f"approver key {kid} is {state} in this workspace's trust list")
        return root.public()


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _pin(aura_dir: Path, pub: Ed25519PublicKey, note: str, approver: ApproverSigner | None = None) -> TrustedKey:
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
    trust.save(aura_dir, approver)
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


def trust_key(aura_dir: Path, public_key: str, note: str = "", approver: ApproverSigner | None = None) -> TrustedKey:
    """Pin a public key (hex or PEM) as a trusted witness key. Idempotent for a trusted key; refuses a revoked
    one. A signed trust list needs `approver` (see `TrustList.save`)."""
    return _pin(aura_dir, parse_public_key(public_key), note, approver)


def revoke_key(aura_dir: Path, kid: str, note: str = "", approver: ApproverSigner | None = None) -> TrustedKey:
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
    trust.save(aura_dir, approver)
    return revoked


def rotate_witness_key(aura_dir: Path, *, revoke_old: bool = False,
                       approver: ApproverSigner | None = None) -> tuple[str, str]:
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
    _pin(aura_dir, new.public_key(), note=f"workspace witness key (rotated from {old_kid})", approver=approver)
    retired = path.parent / "retired" / f"{old_kid}.ed25519"
    _write_private(retired, old)
    _write_private(path, new)
    if revoke_old:
        revoke_key(aura_dir, old_kid, note="revoked at rotation", approver=approver)
    return old_kid, key_id(new.public_key())


def seal_trust(aura_dir: Path, approver: ApproverSigner) -> TrustList:
    """Sign the (verified) trust list with `approver`, listing it as an approver first if needed. Idempotent;
    from then on the list of this workspace is verified against the signature and the config-dir pin."""
    trust = TrustList.load(aura_dir)
    entry = trust.get(approver.key_id)
    pin = read_json(trust_pin_path(aura_dir))
    if entry is None or pin is None or pin.get("trust_sha256") != list_digest(trust.keys):
        trust.save(aura_dir, approver)
        trust = TrustList.load(aura_dir)
    return trust


def repair_trust(aura_dir: Path, approver: ApproverSigner) -> TrustList:
    """Re-sign the trust list as it is now (a human decision, after reviewing it): the way back from a list
    that fails verification. Entry ids are still checked against their keys."""
    trust = TrustList.load(aura_dir, verify_signature=False)
    trust.save(aura_dir, approver)
    return TrustList.load(aura_dir)


class WitnessStatus(BaseModel):
    """What `keys show` reports about the active signing key."""

    path: str
    from_env: bool
    present: bool
    key_id: str | None
    status: KeyStatus | Literal["untrusted"] | None
    error: str | None = None


def witness_status(aura_dir: Path, trust: TrustList | None = None) -> WitnessStatus:
    """The active witness key's state in `trust` (default: the verified trust list)."""
    path = witness_key_path(aura_dir)
    from_env = bool(os.environ.get(KEY_ENV))
    if not path.exists():
        return WitnessStatus(path=str(path), from_env=from_env, present=False, key_id=None, status=None)
    try:
        kid = key_id(_load_private(path).public_key())
    except (ValueError, TypeError, OSError, KeyManagementError) as e:
        return WitnessStatus(path=str(path), from_env=from_env, present=True, key_id=None, status=None,
                             error=str(e))
    entry = (trust or TrustList.load(aura_dir)).get(kid)
    return WitnessStatus(path=str(path), from_env=from_env, present=True, key_id=kid,
                         status=entry.status if entry else "untrusted")
