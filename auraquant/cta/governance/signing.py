"""Signed envelopes: Ed25519 over the RFC 8785 canonical JSON of `{schema, body, key_id, signed_at}`.

Everything that gives an artifact its meaning is covered by the signature: the schema name (so a body
cannot be replayed as another kind of artifact), the body, the id of the signing key and the signing time.
Because the signed bytes are canonical, re-serialising the envelope (key order, whitespace, escapes,
`1.50` vs `1.5`) does not invalidate it; changing any value does.

Verification uses only the pinned keys of trust.json (`TrustList`): `key_id` selects a pinned key, and a
`public_key` carried in the envelope is informational — if present it must equal the pinned key, and it is
never used to verify. Parsing is strict: duplicate object keys, NaN/Infinity and non-finite numbers are
refused (two parsers must never disagree about what was signed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ValidationError

from auraquant.canonical import canonical_json
from auraquant.cta.governance.errors import KeyManagementError, SignatureInvalid, SigningUnavailable
from auraquant.cta.governance.keys import TrustList, key_id, load_witness_key, public_raw, witness_key_path


class Envelope(BaseModel):
    """A signed artifact. `signature` is hex Ed25519 over `signed_payload()`."""

    model_config = {"frozen": True, "extra": "forbid"}

    schema_name: str
    body: dict[str, Any]
    key_id: str
    signed_at: str  # ISO-8601 UTC, as signed (a string, so no datetime round-trip can alter the bytes)
    signature: str
    public_key: str | None = None  # informational only; never used for verification

    def signed_payload(self) -> bytes:
        return signed_payload(self.schema_name, self.body, self.key_id, self.signed_at)

    def to_json(self) -> str:
        """Canonical JSON text of the whole envelope (what `archive export` writes)."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True)).decode()


def signed_payload(schema_name: str, body: dict[str, Any], kid: str, signed_at: str) -> bytes:
    try:
        return canonical_json({"schema": schema_name, "body": body, "key_id": kid, "signed_at": signed_at})
    except (rfc8785.CanonicalizationError, TypeError) as e:
        raise SignatureInvalid(f"artifact body is not canonical JSON: {e}") from None


class Signer(Protocol):
    """Something that signs bytes with an Ed25519 key (the workspace witness key, or an HSM adapter)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_key_hex(self) -> str: ...

    def sign(self, payload: bytes) -> bytes: ...


class Ed25519Signer:
    """A Signer over an in-memory Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._kid = key_id(key.public_key())

    @property
    def key_id(self) -> str:
        return self._kid

    @property
    def public_key_hex(self) -> str:
        return public_raw(self._key.public_key()).hex()

    def sign(self, payload: bytes) -> bytes:
        return self._key.sign(payload)


class WitnessSigner(Ed25519Signer):
    """The workspace's witness key as a Signer (research artifacts and lifecycle events; never approvals)."""


def witness_signer(aura_dir: Any) -> WitnessSigner:
    """The workspace's active signer. Refuses a missing/unreadable key or one not trusted in trust.json:
    signing with it would only produce artifacts that every gate refuses."""
    path = witness_key_path(aura_dir)
    try:
        key = load_witness_key(aura_dir)
    except FileNotFoundError:
        raise SigningUnavailable(f"no witness key at {path}; run `auraquant init` or set "
                                 f"AURAQUANT_WITNESS_KEY to an Ed25519 PEM key file") from None
    except (ValueError, TypeError, OSError, KeyManagementError) as e:
        raise SigningUnavailable(f"cannot load the witness key {path}: {e}") from None
    signer = WitnessSigner(key)
    entry = TrustList.load(aura_dir).get(signer.key_id)
    if entry is None or entry.status != "trusted" or entry.role != "witness":
        state = "not pinned" if entry is None else "revoked" if entry.status != "trusted" else "an approver key"
        raise SigningUnavailable(f"the witness key {signer.key_id} ({path}) is {state} in trust.json; "
                                 f"`auraquant keys rotate` or `auraquant keys trust` first")
    return signer


def _utc_iso(now: datetime | None) -> str:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("signing time must be timezone-aware")
    return now.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def sign_envelope(schema_name: str, body: dict[str, Any], signer: Signer, *, now: datetime | None = None) -> Envelope:
    """Sign `body` under `schema_name`. The body must be canonical-JSON-able (finite floats, safe ints)."""
    signed_at = _utc_iso(now)
    payload = signed_payload(schema_name, body, signer.key_id, signed_at)
    # Round-trip the body through canonical JSON so the stored body is exactly what was signed.
    body = json.loads(canonical_json(body))
    return Envelope(schema_name=schema_name, body=body, key_id=signer.key_id, signed_at=signed_at,
                    signature=signer.sign(payload).hex(), public_key=signer.public_key_hex)


def verify_envelope(env: Envelope, trust: TrustList, *, schema_name: str | None = None) -> dict[str, Any]:
    """The body of a valid envelope, or `SignatureInvalid` saying exactly why not."""
    if schema_name is not None and env.schema_name != schema_name:
        raise SignatureInvalid(f"artifact schema is {env.schema_name!r}, expected {schema_name!r}")
    pub = trust.verifying_key(env.key_id)
    pinned_hex = public_raw(pub).hex()
    if env.public_key is not None and env.public_key.lower() != pinned_hex:
        raise SignatureInvalid(f"artifact carries a public key that is not the pinned key {env.key_id}; "
                               f"refusing it (only trust.json decides which keys are trusted)")
    try:
        pub.verify(bytes.fromhex(env.signature), env.signed_payload())
    except (ValueError, InvalidSignature):
        raise SignatureInvalid(f"signature INVALID against trusted key {env.key_id} for schema "
                               f"{env.schema_name!r}: the artifact was altered or not signed by that key") from None
    return env.body


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise SignatureInvalid(f"duplicate key {k!r} in artifact JSON; refusing an ambiguous artifact")
        out[k] = v
    return out


def _refuse_constant(name: str) -> Any:
    raise SignatureInvalid(f"non-finite number {name} in artifact JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise SignatureInvalid(f"number {text} overflows a double in artifact JSON")
    return value


def parse_envelope(text: str | bytes) -> Envelope:
    """Strictly parse an envelope from JSON text (truncated, duplicate-keyed or malformed -> SignatureInvalid)."""
    try:
        raw = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant,
                         parse_float=_finite_float)
        return Envelope.model_validate(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as e:
        raise SignatureInvalid(f"not a valid signed envelope: {e.__class__.__name__}: {str(e).splitlines()[0]}") from None
