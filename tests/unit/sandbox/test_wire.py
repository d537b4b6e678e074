"""The parent's frame reader refuses every malformed or oversized frame before allocating or decoding it,
and round-trips allowed arrays exactly (no pickle anywhere)."""

from __future__ import annotations

import json
import os
import struct
import threading

import numpy as np
import pytest

from auraquant.cta.sandbox import wire
from auraquant.cta.sandbox.errors import SandboxProtocolViolation


def _through_pipe(raw: bytes, **kw: object) -> tuple[dict, dict]:
    r, w = os.pipe()
    t = threading.Thread(target=lambda: (os.write(w, raw), os.close(w)))
    t.start()
    try:
        return wire.receive(r, **kw)  # type: ignore[arg-type]
    finally:
        t.join()
        os.close(r)


def _frame(header: dict, payload: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return b"AQSB" + struct.pack("<I", len(body)) + body + payload


def test_round_trip_is_exact() -> None:
    arrays = {"a": np.arange(5, dtype=np.int64), "b": np.array([1.5, np.nan, -0.0]), "c": np.array([True, False]),
              "d": np.array([[1, -1], [0, 1]], dtype=np.int8)}
    raw = b"".join(bytes(p) for p in wire.encode({"ok": True, "x": [1, 2]}, arrays))
    header, got = _through_pipe(raw)
    assert header == {"ok": True, "x": [1, 2]}
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        assert np.array_equal(got[k], v, equal_nan=True)


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"NOPE" + b"\0" * 8, "magic"),
    (b"AQSB" + struct.pack("<I", wire.MAX_HEADER + 1), "exceeds"),
    (b"AQSB" + struct.pack("<I", 5) + b"{bad}", "not JSON"),
    (_frame({"arrays": [{"name": "x", "dtype": "|O", "shape": [1]}]}), "bad array"),
    (_frame({"arrays": [{"name": "x", "dtype": "<f8", "shape": [-1]}]}), "bad shape"),
    (_frame({"arrays": [{"name": "x", "dtype": "<f8", "shape": [1, 1, 1]}]}), "bad shape"),
    (_frame({"arrays": [{"name": "x", "dtype": "<f8", "shape": [2**20, 2**19]}]}), "exceed"),
    (_frame({"arrays": [{"name": "x", "dtype": "<f8", "shape": [1]}, {"name": "x", "dtype": "<f8", "shape": [1]}]},
            b"\0" * 16), "duplicate"),
    (_frame({"arrays": [{"name": "x", "dtype": "|b1", "shape": [2]}]}, b"\x01\x07"), "bool"),
    (_frame({"arrays": "x"}), "arrays"),
    (_frame([1]), "object"),  # type: ignore[arg-type]
])
def test_malformed_frames_are_protocol_violations(raw: bytes, fragment: str) -> None:
    with pytest.raises(SandboxProtocolViolation, match=fragment):
        _through_pipe(raw, max_array_bytes=2**20)


def test_truncated_frame_and_deadline() -> None:
    with pytest.raises(wire.PeerClosed):
        _through_pipe(_frame({"arrays": [{"name": "x", "dtype": "<f8", "shape": [4]}]}, b"\0" * 8))
    r, w = os.pipe()
    try:
        import time
        with pytest.raises(wire.Deadline):
            wire.receive(r, deadline=time.monotonic() + 0.2)
    finally:
        os.close(r)
        os.close(w)


def test_encode_refuses_object_arrays() -> None:
    with pytest.raises(TypeError):
        wire.encode({}, {"x": np.array([object()])})
