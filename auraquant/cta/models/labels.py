"""Labels of a learned baseline, and purging: no training sample may have a label that reaches into the
window it is evaluated against.

Sample i is decided at the close of bar i; its label is about bars i+1 .. i+horizon (the label window).
- `sign`: 1 if close[i + horizon] > close[i], else 0.
- `triple_barrier`: barriers at close[i] * (1 +/- k * sigma_i * sqrt(horizon)) with sigma_i the std of
  the last `vol_bars` one-bar log returns (known at i): 1 if the upper barrier is touched first (by a
  high), 0 if the lower one is (by a low; both in one bar counts as the lower: pessimistic), otherwise
  the sign of the return at i + horizon.
The last `horizon` samples have no label (NaN).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

LabelKind = Literal["sign", "triple_barrier"]
LABEL_CODES: dict[int, LabelKind] = {0: "sign", 1: "triple_barrier"}


class PurgeError(ValueError):
    """A training sample's label window overlaps the evaluation window (or its embargo)."""


def sign_label(close: np.ndarray, horizon: int) -> np.ndarray:
    c = np.asarray(close, dtype=np.float64)
    out = np.full(c.shape[0], np.nan)
    if c.shape[0] > horizon:
        out[:-horizon] = (c[horizon:] > c[:-horizon]).astype(np.float64)
    return out


def triple_barrier_label(high: np.ndarray, low: np.ndarray, close: np.ndarray, horizon: int, *,
                         k: float = 1.0, vol_bars: int = 24) -> np.ndarray:
    c = np.asarray(close, dtype=np.float64)
    h, lo = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    n = c.shape[0]
    out = sign_label(c, horizon)
    r = np.full(n, np.nan)
    r[1:] = np.log(c[1:] / c[:-1])
    sig = np.full(n, np.nan)
    if n > vol_bars:
        from numpy.lib.stride_tricks import sliding_window_view

        sig[vol_bars:] = sliding_window_view(r[1:], vol_bars).std(axis=1, ddof=1)[: n - vol_bars]
    width = k * sig * np.sqrt(horizon)
    for i in range(n - horizon):
        if not np.isfinite(width[i]):
            out[i] = np.nan
            continue
        up, dn = c[i] * (1 + width[i]), c[i] * (1 - width[i])
        for j in range(i + 1, i + horizon + 1):
            if lo[j] <= dn:
                out[i] = 0.0
                break
            if h[j] >= up:
                out[i] = 1.0
                break
    return out


def make_label(kind: LabelKind, high: np.ndarray, low: np.ndarray, close: np.ndarray, horizon: int) -> np.ndarray:
    if horizon < 1:
        raise ValueError("label horizon must be >= 1")
    if kind == "sign":
        return sign_label(close, horizon)
    if kind == "triple_barrier":
        return triple_barrier_label(high, low, close, horizon)
    raise ValueError(f"unknown label {kind!r}")


def purge_mask(decision_idx: np.ndarray, horizon: int, test_start: int, embargo: int) -> np.ndarray:
    """Which training samples to keep before an evaluation window starting at bar `test_start`.

    Sample i's label window is bars i+1 .. i+horizon. It overlaps the evaluation window when
    i + horizon >= test_start; the embargo extends the forbidden zone by `embargo` bars before it. Kept:
    i + horizon < test_start - embargo. Samples after the evaluation window (i >= test_start) are dropped
    too (a rolling walk-forward never trains on them). Indices are absolute bar numbers.
    """
    if horizon < 1 or embargo < 0:
        raise ValueError("horizon must be >= 1 and embargo >= 0")
    i = np.asarray(decision_idx, dtype=np.int64)
    return i + horizon < test_start - embargo


def assert_purged(decision_idx: np.ndarray, horizon: int, test_start: int, embargo: int) -> None:
    """Raise `PurgeError` naming the first training sample whose label window reaches the evaluation
    window or its embargo (the check run on every training set before a model is fitted)."""
    i = np.asarray(decision_idx, dtype=np.int64)
    bad = ~purge_mask(i, horizon, test_start, embargo)
    if bad.any():
        k = int(i[bad][0])
        raise PurgeError(f"training sample at bar {k} has a label window up to bar {k + horizon}, which "
                         f"reaches the evaluation window at bar {test_start} (embargo {embargo})")
