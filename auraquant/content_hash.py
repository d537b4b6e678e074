"""Content hashes of data frames: the one owner of how a table's values become the bytes that get hashed.

Two digests, each pinned by ids and signatures that already exist, so their bytes never change:

- `bars_content_hash(bars)`: the identity of a bar series (`DataVersion.content_hash`, holdout seals, job
  bundles, look-ahead verdict keys). sha256 over the times as little-endian int64 milliseconds, then open,
  high, low, close, volume as little-endian float64, with no column names or dtypes: the same bars hash the
  same whatever dtype or column order they were loaded with.
- `frame_digest(frame)`: the identity of a result table (cloud job manifests). sha256 over, per column in
  order, `name NUL dtype NUL` and the raw values (datetimes as little-endian int64 nanoseconds, text and
  objects as canonical JSON of their `str` with None kept, everything else as its native bytes): two frames
  with the same digest hold bit-identical values, whatever Parquet writer stored them.
"""

from __future__ import annotations

import hashlib

from auraquant.canonical import canonical_json
from auraquant.lazy import lazy_module

# numpy and pandas load on first use: importing this module (the store does) stays cheap.
np = lazy_module("numpy")
pd = lazy_module("pandas")

OHLCV = ("open", "high", "low", "close", "volume")


def _time_bytes(values: pd.Series, unit: str) -> bytes:
    """Times (naive or tz-aware) as little-endian int64 counts of `unit` since the epoch."""
    return values.to_numpy(dtype=f"datetime64[{unit}]").astype("<i8").tobytes()


def bars_content_hash(bars: pd.DataFrame) -> str:
    """sha256 over the canonical binary form of the bars (int64 ms times, float64 OHLCV, little-endian)."""
    h = hashlib.sha256()
    h.update(_time_bytes(bars["time"], "ms"))
    for c in OHLCV:
        h.update(bars[c].to_numpy(dtype="<f8").tobytes())
    return h.hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and raw values (datetimes as int64 ns; objects as canonical JSON).

    Two frames with the same digest hold bit-identical values, whatever Parquet writer stored them.
    """
    h = hashlib.sha256()
    for col in frame.columns:
        s = frame[col]
        h.update(f"{col}\0{s.dtype}\0".encode())
        if isinstance(s.dtype, pd.DatetimeTZDtype) or np.issubdtype(s.dtype, np.datetime64):
            h.update(_time_bytes(s, "ns"))
        elif s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            h.update(canonical_json([None if v is None else str(v) for v in s]))
        else:
            h.update(np.ascontiguousarray(s.to_numpy()).tobytes())
    return h.hexdigest()
