"""The chain-head checkpoint: the lifecycle chain's latest (seq, hash), signed and kept outside the workspace.

After every append the archive writes `<config dir>/workspaces/<workspace id>/checkpoint.json`: an envelope
(schema `auraquant.chain_checkpoint/v1`) over `{workspace_id, seq, head_hash, at}` signed by the witness key.
It is written after the transaction commits, while the store lock is still held, so it never names an event
that was rolled back, and concurrent writers cannot make it go backwards.

`anchor_problems` compares a chain with its checkpoint. The chain must EXTEND the checkpoint: the event at the
checkpoint's seq exists and has the checkpoint's hash (the hash links pin every earlier event). So deleting
the newest events (truncation), rewinding the head, or rewriting any event at or before the checkpoint is
detected, even by someone who can rewrite the whole database and holds the witness key, as long as they
cannot write the user config dir. Events appended after the checkpoint (a crash between commit and checkpoint
write) are accepted; the next append re-anchors. A chain with signed events but no checkpoint is refused:
the workspace id was changed, the config dir lost, or the workspace predates checkpoints (`auraquant archive
anchor` re-anchors it after a human has reviewed `archive verify`). Exports carry the checkpoint.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from auraquant.cta.governance.errors import SignatureInvalid
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.signing import Envelope, Signer, parse_envelope, sign_envelope
from auraquant.cta.governance.userconfig import (
    config_dir,
    read_json,
    workspace_config,
    workspace_id,
    write_private,
)

CHECKPOINT_SCHEMA = "auraquant.chain_checkpoint/v1"


def checkpoint_path(aura_dir: Path) -> Path:
    return workspace_config(aura_dir) / "checkpoint.json"


def write_checkpoint(aura_dir: Path, seq: int, head_hash: str, signer: Signer, *, now: datetime) -> Envelope:
    """Sign and store the checkpoint of chain head (`seq`, `head_hash`), and record where the workspace
    lives (`root`), so a workspace whose id was changed is recognised (`renamed_from`)."""
    body = {"workspace_id": workspace_id(aura_dir), "seq": seq, "head_hash": head_hash}
    env = sign_envelope(CHECKPOINT_SCHEMA, body, signer, now=now)
    write_private(checkpoint_path(aura_dir), (env.to_json() + "\n").encode())
    root = str(Path(aura_dir).resolve())
    meta = checkpoint_path(aura_dir).with_name("meta.json")
    if (read_json(meta) or {}).get("aura_dir") != root:
        write_private(meta, json.dumps({"aura_dir": root}).encode())
    return env


def renamed_from(aura_dir: Path) -> str | None:
    """Another workspace id that has a checkpoint for this very `.aura` directory (its id was changed in
    workspace.json, e.g. to escape its checkpoint), or None."""
    root, wid = str(Path(aura_dir).resolve()), workspace_id(aura_dir)
    base = config_dir() / "workspaces"
    if not base.is_dir():
        return None
    for meta in sorted(base.glob("*/meta.json")):
        other = meta.parent.name
        if other != wid and (read_json(meta) or {}).get("aura_dir") == root and (meta.parent / "checkpoint.json").exists():
            return other
    return None


def load_checkpoint(aura_dir: Path) -> Envelope | None:
    """The stored checkpoint envelope (unverified), None when there is none; a damaged file raises."""
    path = checkpoint_path(aura_dir)
    if not path.exists():
        return None
    return parse_envelope(path.read_bytes())


def checkpoint_body(env: Envelope, trust: TrustList) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint's body if its signature is valid against a pinned witness key (revoked keys give a
    warning: the file's location, not the key, is what protects it), else `SignatureInvalid`."""
    entry = trust.get(env.key_id)
    if env.schema_name != CHECKPOINT_SCHEMA or entry is None or entry.role != "witness":
        raise SignatureInvalid(f"chain checkpoint is not signed by a pinned witness key ({env.key_id})")
    try:
        entry.public().verify(bytes.fromhex(env.signature), env.signed_payload())
    except (ValueError, InvalidSignature):
        raise SignatureInvalid("chain checkpoint signature INVALID (the checkpoint file was edited)") from None
    warnings = [f"chain checkpoint signed by key {env.key_id}, revoked since"] if entry.status != "trusted" else []
    return env.body, warnings


def anchor_problems(aura_dir: Path, hashes: dict[int, str], any_signed: bool, trust: TrustList,
                    signers: dict[int, str | None] | None = None) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a chain (`hashes`: seq -> stored hash; `signers`: seq -> key id) against the
    workspace checkpoint. Events past the checkpoint must be signed by a currently trusted witness key: a
    legitimate append re-anchors at once, so only a crash leaves such events, and never with a revoked key."""
    try:
        env = load_checkpoint(aura_dir)
    except (SignatureInvalid, OSError) as e:
        return [f"chain checkpoint unreadable: {e}"], []
    if env is None:
        previous = renamed_from(aura_dir)
        if previous is not None:
            return [f"this workspace's id was changed (it was {previous}, whose signed checkpoint is in the user "
                    f"config dir): restore `workspace_id` in .aura/workspace.json; do not re-anchor"], []
        if any_signed:
            return [f"no signed checkpoint of this chain in {checkpoint_path(aura_dir)} (the workspace id was "
                    f"changed, the user config dir lost, or the workspace predates checkpoints): truncation "
                    f"cannot be ruled out; review `auraquant archive verify`, then `auraquant archive anchor`"], []
        return [], []
    try:
        body, warnings = checkpoint_body(env, trust)
    except SignatureInvalid as e:
        return [str(e)], []
    if body.get("workspace_id") != trust.workspace_id:
        return ["chain checkpoint belongs to another workspace"], warnings
    try:
        seq, head = int(body["seq"]), str(body["head_hash"])
    except (KeyError, TypeError, ValueError):
        return ["chain checkpoint is malformed"], warnings
    last = max(hashes, default=0)
    if seq > last:
        return [f"chain truncated or rewound: the signed checkpoint is at event {seq}, the chain ends at event "
                f"{last} (newest events deleted)"], warnings
    if hashes.get(seq) != head:
        return [f"chain rewritten: event {seq} no longer has the hash of the signed checkpoint (history "
                f"replaced)"], warnings
    problems = []
    for s, kid in sorted((signers or {}).items()):
        entry = trust.get(kid) if kid else None
        if s > seq and kid is not None and (entry is None or entry.status != "trusted"):
            problems.append(f"event {s} was appended after the last checkpoint with key {kid}, which is not "
                            f"trusted now (a revoked key appends nothing)")
    return problems, warnings
