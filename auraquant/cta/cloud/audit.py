"""Which rows of an outside result get re-run locally: drawn with a secret the remote side never sees.

A remote executor that could predict the audited rows could keep them honest and tamper with the rest
(e.g. hide the true best trial by reporting it with worse metrics). So the draw depends on:

- a per-workspace secret: 32 random bytes in `.aura/keys/audit.secret` (mode 0600), created on first use
  and never put in a bundle, a job or an attestation;
- the job id and the digest of the result manifest (which lists the sha256 of every result file), so the
  draw is made only AFTER the results arrived and changes if any byte of them changes.

`audit_seed` = HMAC-SHA256(secret, "<job id>\\0<result digest>\\0<purpose>"); the rows are then drawn without
replacement by a NumPy generator seeded with it. Nothing in the job (its `seed` included) enters the draw.

Detection odds: if m of the n auditable rows were tampered with and k rows are drawn uniformly without
replacement, every tampered row escapes with probability C(n-m, k) / C(n, k) (= 1 - k/n for m = 1).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from auraquant.cta.governance.userconfig import write_private

SECRET_BYTES = 32


def secret_path(aura_dir: Path | str) -> Path:
    return Path(aura_dir) / "keys" / "audit.secret"


def workspace_secret(aura_dir: Path | str) -> bytes:
    """The workspace's audit secret, created (os.urandom, mode 0600 from the first byte) if absent."""
    path = secret_path(aura_dir)
    if path.is_file():
        data = path.read_bytes()
        if len(data) != SECRET_BYTES:
            raise ValueError(f"{path} holds {len(data)} bytes, not {SECRET_BYTES}; delete it to make a new one")
        return data
    write_private(path, os.urandom(SECRET_BYTES), keep_existing=True)
    return path.read_bytes()


def audit_seed(secret: bytes, job_id: str, result_digest: str, purpose: str = "") -> int:
    """A 256-bit seed from the secret, the job and the received results (see the module docstring)."""
    if len(secret) < 16:
        raise ValueError("the audit secret must be at least 16 bytes")
    mac = hmac.new(secret, f"{job_id}\0{result_digest}\0{purpose}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac, "big")


def draw(candidates: Sequence[int], k: int, seed: int) -> list[int]:
    """`min(k, len(candidates))` distinct candidates drawn uniformly without replacement, sorted."""
    pool = list(candidates)
    k = max(0, min(k, len(pool)))
    if k == 0:
        return []
    rng = np.random.default_rng(seed)
    return sorted(int(pool[i]) for i in rng.choice(len(pool), size=k, replace=False))


def escape_probability(n: int, k: int, m: int = 1) -> float:
    """P(no tampered row is drawn) when m of n rows are tampered with and k are audited: C(n-m,k)/C(n,k)."""
    if n <= 0 or m <= 0:
        return 1.0 if m <= 0 else 0.0
    k = max(0, min(k, n))
    m = min(m, n)
    return math.comb(n - m, k) / math.comb(n, k)


def default_audit_count(n: int, fraction: float = 0.1, minimum: int = 2) -> int:
    """The default sample: 10% of the auditable rows (rounded up), at least `minimum`, at most all."""
    return min(n, max(minimum, math.ceil(fraction * n)))


def describe_odds(n: int, k: int) -> str:
    """One line for the verdict: the chance that a hidden-best forgery (one tampered row) escapes."""
    if n == 0:
        return "no row outside the reproduced ones: nothing could be hidden"
    p1 = escape_probability(n, k, 1)
    return (f"{k} of {n} other rows audited with the local secret: a single tampered row (e.g. a hidden true "
            f"best) escapes with probability 1 - k/n = {p1:.3f}; m tampered rows escape with C(n-m,k)/C(n,k)")
