"""The human approver key: the secret behind every production decision and every trust-list change.

- `approver.ed25519` in the user config dir (`userconfig.config_dir()`, never inside a workspace): an Ed25519
  private key, PEM PKCS8 encrypted with the approver's passphrase (`BestAvailableEncryption`), mode 0600.
  `init_approver` creates it (`auraquant keys approver init`); `unlock_approver(passphrase)` decrypts it.
- `approvers.json` next to it: the pinned approver public keys (key id, public key, name). This is the trust
  root: a workspace's trust.json is accepted only with a signature by one of these keys
  (`keys.TrustList.load`), and a decision counts only when signed by one of them that the workspace's trust
  list also lists as an approver (`keys.TrustList.approver_key`).

A decision (`sign_decision`) signs the record id, the digest of the record envelope it decides on, the
decision (approved / rejected / deprecated), the note, the time, the request id, the workspace id and the
approver's name and key id. The name comes from the pinned key, never from the login name, and a decision
is bound to one record and one envelope, so it cannot be replayed for another record or artifact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, Field

from auraquant.cta.governance.errors import KeyManagementError, SignatureInvalid
from auraquant.cta.governance.keys import TrustList, key_id, public_raw
from auraquant.cta.governance.signing import Ed25519Signer, Envelope, parse_envelope, sign_envelope
from auraquant.cta.governance.userconfig import (
    check_private_file,
    config_dir,
    ensure_private_dir,
    read_json,
    write_private,
)

DECISION_SCHEMA = "auraquant.approval_decision/v1"
MIN_PASSPHRASE = 8
Decision = Literal["approved", "rejected", "deprecated"]


class ApproverRoot(BaseModel):
    """One pinned approver public key (an entry of `approvers.json`)."""

    model_config = {"frozen": True, "extra": "forbid"}

    key_id: str
    public_key: str  # raw Ed25519, hex
    name: str = Field(min_length=1, max_length=100)
    added_at: str

    def public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))


def approver_key_path() -> Any:
    return config_dir() / "approver.ed25519"


def roots_path() -> Any:
    return config_dir() / "approvers.json"


def approver_roots() -> dict[str, ApproverRoot]:
    """The pinned approver public keys by key id ({} when no approver is configured). Entries whose id does
    not match their key are refused (an edited root cannot alias a trusted id)."""
    body = read_json(roots_path()) or {"approvers": []}
    roots = {}
    for raw in body.get("approvers", []):
        root = ApproverRoot.model_validate(raw)
        if key_id(root.public()) != root.key_id:
            raise KeyManagementError(f"{roots_path()}: approver {root.key_id} does not match its public key")
        roots[root.key_id] = root
    return roots


def approver_configured() -> bool:
    """True when this user has an approver key (so trust-list changes get signed)."""
    return approver_key_path().exists()


class ApproverSigner(Ed25519Signer):
    """An unlocked approver key. Only `unlock_approver` (which needs the passphrase) makes a trusted one."""

    def __init__(self, key: Ed25519PrivateKey, name: str) -> None:
        super().__init__(key)
        self.name = name


def init_approver(name: str, passphrase: str, *, now: datetime) -> ApproverRoot:
    """Create the approver key (encrypted with `passphrase`) and pin its public key. Refuses to replace one."""
    path = approver_key_path()
    if path.exists():
        raise KeyManagementError(f"an approver key already exists at {path}; refusing to replace it")
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyManagementError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    name = name.strip()
    if not name:
        raise KeyManagementError("the approver needs a name (`--name`)")
    key = Ed25519PrivateKey.generate()
    ensure_private_dir(config_dir())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode()))
    root = ApproverRoot(key_id=key_id(key.public_key()), public_key=public_raw(key.public_key()).hex(), name=name,
                        added_at=now.isoformat())
    roots = approver_roots()
    roots[root.key_id] = root
    # The root is pinned before the key exists, so a crash leaves no key that nothing trusts.
    write_private(roots_path(), _roots_json(roots))
    write_private(path, pem)
    return root


def _roots_json(roots: dict[str, ApproverRoot]) -> bytes:
    import json

    return (json.dumps({"approvers": [r.model_dump() for r in roots.values()]}, indent=2) + "\n").encode()


def unlock_approver(passphrase: str) -> ApproverSigner:
    """Decrypt the approver key. Refuses a missing key, a loose file mode, a wrong passphrase, or a key whose
    public half is not pinned in approvers.json."""
    path = approver_key_path()
    if not path.exists():
        raise KeyManagementError(f"no approver key at {path}; create one with `auraquant keys approver init`")
    check_private_file(path, "approver key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase.encode())
    except (ValueError, TypeError):
        raise KeyManagementError("wrong passphrase for the approver key (or the key file is damaged)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyManagementError(f"{path} is not an Ed25519 private key")
    root = approver_roots().get(key_id(key.public_key()))
    if root is None:
        raise KeyManagementError(f"the approver key {key_id(key.public_key())} is not pinned in {roots_path()}")
    return ApproverSigner(key, root.name)


def sign_decision(signer: ApproverSigner, *, workspace_id: str, record_id: str, record_envelope_digest: str,
                  decision: Decision, note: str, request_id: str | None, now: datetime) -> Envelope:
    """The approver's signed decision on one record artifact (see the module docstring)."""
    body = {"workspace_id": workspace_id, "record_id": record_id, "record_envelope_digest": record_envelope_digest,
            "decision": decision, "note": note, "request_id": request_id,
            "approver": {"name": signer.name, "key_id": signer.key_id}}
    return sign_envelope(DECISION_SCHEMA, body, signer, now=now)


def verify_decision(raw: Any, trust: TrustList, *, record_id: str, decision: Decision,
                    approver_name: str | None = None, record_envelope_digest: str | None = None) -> dict[str, Any]:
    """The body of a valid approver decision on `record_id`, or `SignatureInvalid` saying why not.

    Valid means: signed by a key that the user config dir pins as an approver and the workspace trust list
    lists as a trusted approver (never a witness key), for this record and decision, by the named approver,
    and (when given) over this record envelope digest."""
    if not isinstance(raw, dict):
        raise SignatureInvalid(f"{decision} of {record_id} carries no approver signature (only an approver key, "
                               f"unlocked with its passphrase, can make this decision)")
    from auraquant.canonical import canonical_json

    try:
        text = canonical_json(raw)
    except Exception as e:  # any value without a canonical form is a malformed signature
        raise SignatureInvalid(f"{decision} of {record_id}: malformed approver signature ({e})") from None
    env = parse_envelope(text)
    if env.schema_name != DECISION_SCHEMA:
        raise SignatureInvalid(f"{decision} of {record_id}: approval schema is {env.schema_name!r}")
    pub = trust.approver_key(env.key_id)
    if env.public_key is not None and env.public_key.lower() != public_raw(pub).hex():
        raise SignatureInvalid(f"{decision} of {record_id}: carried public key is not the pinned approver key")
    from cryptography.exceptions import InvalidSignature

    try:
        pub.verify(bytes.fromhex(env.signature), env.signed_payload())
    except (ValueError, InvalidSignature):
        raise SignatureInvalid(f"{decision} of {record_id}: approver signature INVALID (altered or forged)") from None
    body = env.body
    if body.get("record_id") != record_id:
        raise SignatureInvalid(f"{decision} of {record_id}: the approver signed a decision on "
                               f"{body.get('record_id')!r}, not this record (replayed approval)")
    if body.get("decision") != decision:
        raise SignatureInvalid(f"{decision} of {record_id}: the approver signed {body.get('decision')!r}")
    if body.get("workspace_id") != trust.workspace_id:
        raise SignatureInvalid(f"{decision} of {record_id}: the decision was signed for another workspace")
    signed_name = (body.get("approver") or {}).get("name")
    if approver_name is not None and signed_name != approver_name:
        raise SignatureInvalid(f"{decision} of {record_id}: recorded approver {approver_name!r} is not the signer "
                               f"{signed_name!r}")
    if record_envelope_digest is not None and body.get("record_envelope_digest") != record_envelope_digest:
        raise SignatureInvalid(f"{decision} of {record_id}: the approver signed another artifact of this record")
    return body
