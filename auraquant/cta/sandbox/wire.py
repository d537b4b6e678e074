"""The parent <-> worker wire format: one frame per message, never pickle.

Frame = `MAGIC` (4 bytes) + header length (u32 little-endian) + header (UTF-8 JSON object) + the raw bytes
of each array listed in `header["arrays"]` ({"name", "dtype", "shape"}), C order, in that order.
Only the dtypes in `DTYPES` travel. The reader checks the header size, the dtype allow-list, shapes
(non-negative ints), and the total array bytes against the caller's cap before reading any payload, so
a hostile worker can neither make the parent unpickle anything nor allocate without bound.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

from auraquant.cta.sandbox.errors import SandboxProtocolViolation

MAGIC = b"AQSB"
MAX_HEADER = 4 * 2**20
DTYPES = frozenset({"|i1", "|b1", "<i8", "<f8"})
_LEN = struct.Struct("<I")


class PeerClosed(EOFError):
    """The other side closed the channel (or died) before a whole frame arrived."""


class Deadline(TimeoutError):
    """The wall-clock deadline passed while waiting for the other side."""


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> list[bytes | memoryview]:
    """The frame for `header` plus `arrays` (each sent as raw C-order bytes of an allowed dtype)."""
    arrays = arrays or {}
    specs, payload = [], []
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.str not in DTYPES:
            raise TypeError(f"array {name!r} has dtype {a.dtype.str}, not one of {sorted(DTYPES)}")
        specs.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape)})
        payload.append(memoryview(a).cast("B"))
    body = json.dumps({**header, "arrays": specs}, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return [MAGIC, _LEN.pack(len(body)), body, *payload]


def send(fd: int, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write one whole frame to `fd` (blocking)."""
    for part in encode(header, arrays):
        view = memoryview(part)
        while view.nbytes:
            n = os.write(fd, view)
            view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline("deadline passed")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise Deadline("deadline passed")
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise PeerClosed("channel closed")
        got += k
    return buf


def receive(fd: int, *, deadline: float | None = None, max_array_bytes: int = 2**31
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read one frame from `fd`: (header without "arrays", {name: array}). Raises `SandboxProtocolViolation`
    on any malformed frame, `PeerClosed` at EOF and `Deadline` when `deadline` (time.monotonic) passes."""
    head = _read_exact(fd, 8, deadline)
    if bytes(head[:4]) != MAGIC:
        raise SandboxProtocolViolation(f"bad frame magic {bytes(head[:4])!r} (something else wrote on the channel)")
    size = _LEN.unpack(head[4:])[0]
    if size > MAX_HEADER:
        raise SandboxProtocolViolation(f"frame header of {size} bytes exceeds {MAX_HEADER}")
    try:
        header = json.loads(bytes(_read_exact(fd, size, deadline)).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SandboxProtocolViolation(f"frame header is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise SandboxProtocolViolation("frame header must be an object with an 'arrays' list")
    specs = header.pop("arrays", [])
    plan = []
    total = 0
    for s in specs:
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or s.get("dtype") not in DTYPES:
            raise SandboxProtocolViolation(f"bad array declaration {str(s)[:200]}")
        shape = s.get("shape")
        if (not isinstance(shape, list) or len(shape) > 2
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape)):
            raise SandboxProtocolViolation(f"bad shape for array {s['name']!r}: {str(shape)[:100]}")
        dt = np.dtype(s["dtype"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        total += nbytes
        if total > max_array_bytes:
            raise SandboxProtocolViolation(f"reply arrays exceed {max_array_bytes} bytes")
        plan.append((s["name"], dt, tuple(shape), nbytes))
    if len({p[0] for p in plan}) != len(plan):
        raise SandboxProtocolViolation("duplicate array names in a frame")
    arrays = {}
    for name, dt, shape, nbytes in plan:
        raw = _read_exact(fd, nbytes, deadline)
        arr = np.frombuffer(raw, dtype=dt).reshape(shape)
        if dt == np.bool_ and arr.size and int(arr.view(np.uint8).max()) > 1:
            raise SandboxProtocolViolation(f"array {name!r}: bool bytes other than 0/1")
        arrays[name] = arr
    return header, arrays
