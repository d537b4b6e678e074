"""The tamper suite on signed envelopes: every altered artifact is refused, every re-serialised one verifies."""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auraquant.cta.governance.errors import SignatureInvalid, SigningUnavailable
from auraquant.cta.governance.keys import TrustList, key_id, public_raw, trust_path
from auraquant.cta.governance.record import ARCHIVE_RECORD_SCHEMA
from auraquant.cta.governance.signing import (
    Envelope,
    WitnessSigner,
    parse_envelope,
    sign_envelope,
    signed_payload,
    verify_envelope,
    witness_signer,
)
from tests.unit.governance.factories import record_json


def _signed(aura_dir: Path, body: dict[str, Any] | None = None) -> tuple[str, TrustList]:
    body = body if body is not None else record_json()
    env = sign_envelope(ARCHIVE_RECORD_SCHEMA, body, witness_signer(aura_dir),
                        now=datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    return env.to_json(), TrustList.load(aura_dir)


def _check(text: str | bytes, trust: TrustList) -> dict[str, Any]:
    return verify_envelope(parse_envelope(text), trust, schema_name=ARCHIVE_RECORD_SCHEMA)


def _edit(text: str, fn: Callable[[dict[str, Any]], None]) -> str:
    doc = json.loads(text)
    fn(doc)
    return json.dumps(doc)


def test_valid_artifact_verifies_and_returns_the_signed_body(aura_dir: Path) -> None:
    text, trust = _signed(aura_dir)
    body = _check(text, trust)
    assert body["metrics"]["sharpe"] == 1.62 and body["params"]["baseline.window"] == 55


def test_reordered_keys_and_whitespace_still_verify(aura_dir: Path) -> None:
    text, trust = _signed(aura_dir)

    def reverse(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: reverse(o[k]) for k in reversed(list(o))}
        return [reverse(v) for v in o] if isinstance(o, list) else o

    reordered = json.dumps(reverse(json.loads(text)), indent=4, ensure_ascii=True)
    assert reordered != text
    assert _check(reordered, trust) == _check(text, trust)
    # The same number written differently is the same value: still valid.
    assert _check(text.replace('"sharpe":1.62', '"sharpe":1.620e0'), trust)["metrics"]["sharpe"] == 1.62


TAMPERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "metric": lambda d: d["body"]["metrics"].__setitem__("sharpe", 1.63),
    "metric made undefined": lambda d: d["body"]["metrics"].__setitem__("max_drawdown", None),
    "metric added": lambda d: d["body"]["metrics"].__setitem__("sortino", 2.0),
    "param": lambda d: d["body"]["params"].__setitem__("baseline.window", 56),
    "param type (int -> string)": lambda d: d["body"]["params"].__setitem__("baseline.window", "55"),
    "bool param": lambda d: d["body"]["params"].__setitem__("short", False),
    "data hash": lambda d: d["body"].__setitem__("data_hash", "e" + "d" * 63),
    "data version": lambda d: d["body"].__setitem__("data_version_id", "dv_9999999999"),
    "trial count": lambda d: d["body"].__setitem__("trial_count", 1),
    "lineage": lambda d: d["body"]["parents"].append("rec_0000"),
    "state": lambda d: d["body"].__setitem__("state", "production"),
    "schema name": lambda d: d.__setitem__("schema_name", "auraquant.archive_record/v2"),
    "timestamp": lambda d: d.__setitem__("signed_at", "2026-03-02T09:30:00.000001Z"),
    "key id": lambda d: d.__setitem__("key_id", "0" * 16),
    "signature bit flip": lambda d: d.__setitem__("signature", ("1" if d["signature"][0] == "0" else "0")
                                                  + d["signature"][1:]),
    "signature removed": lambda d: d.__setitem__("signature", ""),
    "extra top-level field": lambda d: d.__setitem__("approved", True),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_every_tampered_field_is_refused(aura_dir: Path, name: str) -> None:
    text, trust = _signed(aura_dir)
    with pytest.raises(SignatureInvalid):
        _check(_edit(text, TAMPERS[name]), trust)


def test_schema_name_is_covered_by_the_signature_not_only_by_the_expected_schema(aura_dir: Path) -> None:
    text, trust = _signed(aura_dir)
    env = parse_envelope(_edit(text, TAMPERS["schema name"]))
    with pytest.raises(SignatureInvalid, match="signature INVALID"):
        verify_envelope(env, trust)  # no expected schema given: the signature alone must refuse it


def test_swapped_signature_from_another_valid_artifact_is_refused(aura_dir: Path) -> None:
    a, trust = _signed(aura_dir)
    b, _ = _signed(aura_dir, record_json(run_id="run_43"))
    _check(b, trust)
    swapped = _edit(a, lambda d: d.__setitem__("signature", json.loads(b)["signature"]))
    with pytest.raises(SignatureInvalid):
        _check(swapped, trust)


def test_attacker_key_carried_in_the_artifact_is_never_trusted(aura_dir: Path) -> None:
    text, trust = _signed(aura_dir)
    attacker = WitnessSigner(Ed25519PrivateKey.generate())
    forged_body = json.loads(text)["body"]
    forged_body["metrics"]["sharpe"] = 3.5

    # 1. A self-consistent artifact under the attacker's own key id and public key: the key is not pinned.
    own = sign_envelope(ARCHIVE_RECORD_SCHEMA, forged_body, attacker)
    assert own.public_key == attacker.public_key_hex
    with pytest.raises(SignatureInvalid, match="not pinned"):
        _check(own.to_json(), trust)

    # 2. Claiming the trusted key id while carrying the attacker's public key and a matching signature.
    trusted_kid = json.loads(text)["key_id"]
    payload = signed_payload(ARCHIVE_RECORD_SCHEMA, forged_body, trusted_kid, own.signed_at)
    claimed = Envelope(schema_name=ARCHIVE_RECORD_SCHEMA, body=forged_body, key_id=trusted_kid,
                       signed_at=own.signed_at, signature=attacker.sign(payload).hex(),
                       public_key=attacker.public_key_hex)
    with pytest.raises(SignatureInvalid, match="not the pinned key"):
        _check(claimed.to_json(), trust)

    # 3. The same without the carried key: verified against the pinned key, the signature fails.
    with pytest.raises(SignatureInvalid, match="signature INVALID"):
        _check(claimed.model_copy(update={"public_key": None}).to_json(), trust)


def test_every_truncation_is_refused(aura_dir: Path) -> None:
    text, trust = _signed(aura_dir)
    raw = text.encode()
    cuts = sorted({*range(0, len(raw), 7), len(raw) - 1, len(raw) - 2})
    for cut in cuts:
        with pytest.raises(SignatureInvalid):
            _check(raw[:cut], trust)


def test_duplicate_keys_and_non_finite_numbers_are_refused(aura_dir: Path) -> None:
    text, trust = _signed(aura_dir)
    # A second "sharpe" later in the object: parsers disagree on which wins, so the artifact is ambiguous.
    dup = text.replace('"sharpe":1.62', '"sharpe":1.62,"sharpe":9.99')
    with pytest.raises(SignatureInvalid, match="duplicate key"):
        _check(dup, trust)
    for bad in ("NaN", "Infinity", "-Infinity", "1e400"):
        with pytest.raises(SignatureInvalid):
            _check(text.replace('"sharpe":1.62', f'"sharpe":{bad}'), trust)


UNICODE = {
    "combining": unicodedata.normalize("NFC", "Café-Ω-Å"),
    "astral": "\U0001f680 trend \U0001d11e",
    "separators": "line\u2028para\u2029end",
    "controls": "tab\tnl\nnul\u0000",
    "rtl": "\u05e9\u05dc\u05d5\u05dd",
    "lone bmp": "\ufeff\uffff",
}


def test_unicode_bodies_round_trip_and_normalisation_is_a_tamper(aura_dir: Path) -> None:
    body = record_json()
    body["params"].update({f"note.{k}": v for k, v in UNICODE.items()})
    body["metrics"]["\u00e9cart"] = 0.5
    text, trust = _signed(aura_dir, body)
    assert _check(text, trust)["params"]["note.astral"] == UNICODE["astral"]
    # Escaped (\uXXXX) or raw UTF-8: the same strings, still valid.
    assert _check(json.dumps(json.loads(text), ensure_ascii=True), trust) == _check(text, trust)
    # NFD looks identical on screen but is different text: refused.
    nfd = _edit(text, lambda d: d["body"]["params"].__setitem__(
        "note.combining", unicodedata.normalize("NFD", UNICODE["combining"])))
    assert json.loads(nfd)["body"]["params"]["note.combining"] != UNICODE["combining"]
    with pytest.raises(SignatureInvalid):
        _check(nfd, trust)
    # A key differing only in normalisation is a different key.
    with pytest.raises(SignatureInvalid):
        _check(_edit(text, lambda d: d["body"]["metrics"].__setitem__(
            unicodedata.normalize("NFD", "\u00e9cart"), d["body"]["metrics"].pop("\u00e9cart"))), trust)


FLOATS = {"tiny": 5e-324, "max": 1.7976931348623157e308, "third": 0.1 + 0.2, "big": 1e21, "small": 1e-7,
          "neg_zero": -0.0, "neg": -123456.789e-12, "int_like": 2.0, "safe_int_edge": 9007199254740991.0}


def test_float_edge_cases_round_trip_exactly(aura_dir: Path) -> None:
    body = record_json()
    body["metrics"].update(FLOATS)
    text, trust = _signed(aura_dir, body)
    got = _check(json.dumps(json.loads(text)), trust)["metrics"]
    for k, v in FLOATS.items():
        assert got[k] == v, k
    # The last digit of a float is part of the signed value.
    with pytest.raises(SignatureInvalid):
        _check(_edit(text, lambda d: d["body"]["metrics"].__setitem__("third", math.nextafter(0.1 + 0.2, 1.0))), trust)
    with pytest.raises(SignatureInvalid):
        _check(_edit(text, lambda d: d["body"]["metrics"].__setitem__("tiny", 1e-323)), trust)


def test_values_without_a_canonical_form_cannot_be_signed(aura_dir: Path) -> None:
    signer = witness_signer(aura_dir)
    for bad in (2**53, float("nan"), float("inf")):
        with pytest.raises(SignatureInvalid, match="not canonical"):
            sign_envelope(ARCHIVE_RECORD_SCHEMA, {"x": bad}, signer)


def test_hand_edited_trust_list_aliasing_a_key_id_is_refused(aura_dir: Path) -> None:
    text, _ = _signed(aura_dir)
    doc = json.loads(trust_path(aura_dir).read_text())
    attacker = Ed25519PrivateKey.generate().public_key()
    doc["keys"][0]["public_key"] = public_raw(attacker).hex()  # keep the trusted id, swap the key
    trust_path(aura_dir).write_text(json.dumps(doc))
    with pytest.raises(SignatureInvalid, match="does not match its public key"):
        _check(text, TrustList.load(aura_dir))
    assert key_id(attacker) != doc["keys"][0]["key_id"]


def test_signer_refuses_a_missing_or_unpinned_key(aura_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURAQUANT_WITNESS_KEY", str(tmp_path / "nope.pem"))
    with pytest.raises(SigningUnavailable, match="no witness key"):
        witness_signer(aura_dir)
    from cryptography.hazmat.primitives import serialization
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    other.chmod(0o600)  # a group/other-readable key file is refused before anything else (test_keys)
    monkeypatch.setenv("AURAQUANT_WITNESS_KEY", str(other))
    with pytest.raises(SigningUnavailable, match="not pinned"):
        witness_signer(aura_dir)
