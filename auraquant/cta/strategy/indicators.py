"""Causal indicator kernels shared by the built-in modules (and allowed in agent-written ones).

Every function returns an array aligned with its inputs where value i depends on inputs 0..i only,
NaN during warm-up. Recursions are seeded with the simple mean of the first `period` values (the
TA-Lib / pandas-ta convention), so a prefix of the data yields exactly the prefix of the output.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def ema(x: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average, alpha = 2/(period+1), seeded with the SMA of the first `period` values."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n < period:
        return out
    alpha = 2.0 / (period + 1.0)
    s = 0.0
    for i in range(period):
        s += x[i]
    v = s / period
    out[period - 1] = v
    for i in range(period, n):
        v = v + alpha * (x[i] - v)
        out[i] = v
    return out


@njit(cache=True, nogil=True)
def momentum_signs(x: np.ndarray, lookback: int, threshold: float) -> np.ndarray:
    """int8 sign of the momentum m = x[i] / x[i - lookback] - 1 where |m| exceeds `threshold`: -1 when
    m < -threshold, else +1 when m > threshold, else 0 (0 for the first `lookback` bars; NaN never counts).
    One pass and one output array: no temporaries of the input's size (10 million bars would allocate
    hundreds of MB per call with array expressions)."""
    n = x.shape[0]
    out = np.zeros(n, dtype=np.int8)
    if lookback < 1:
        return out
    for i in range(lookback, n):
        m = x[i] / x[i - lookback] - 1.0
        if m < -threshold:
            out[i] = -1
        elif m > threshold:
            out[i] = 1
    return out


@njit(cache=True, nogil=True)
def crossings(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int8 events of line `a` crossing line `b`: +1 at bar i when a[i-1] < b[i-1] and a[i] > b[i], -1
    when a[i-1] > b[i-1] and a[i] < b[i] (strict on both sides: touching is no cross; NaN never
    crosses), else 0. Bar 0 is always 0."""
    n = a.shape[0]
    out = np.zeros(n, dtype=np.int8)
    for i in range(1, n):
        # Branch-free: crossings are rare but unpredictable.
        up = (a[i - 1] < b[i - 1]) & (a[i] > b[i])
        down = (a[i - 1] > b[i - 1]) & (a[i] < b[i])
        out[i] = np.int8(up) - np.int8(down)
    return out


@njit(cache=True, nogil=True)
def equal_run(x: np.ndarray) -> np.ndarray:
    """Length of the run of identical values ending at each index (1 where x[i] != x[i-1]; NaN never
    equals anything, so a NaN has run 1). A window of `period` values ending at i is constant exactly
    when equal_run(x)[i] >= period: the exact test the window statistics use for constant windows."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.int64)
    run = 0
    for i in range(n):
        run = run + 1 if i > 0 and x[i] == x[i - 1] else 1
        out[i] = run
    return out


@njit(cache=True, nogil=True)
def sma(x: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average over the last `period` values (recomputed per window: no drift). A constant
    window returns its value exactly (a sum of p copies divided by p can be off in the last bit, which
    would put a flat close above or below its own average)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 1:
        return out
    run = equal_run(x)
    for i in range(period - 1, n):
        if run[i] >= period:
            out[i] = x[i]
            continue
        s = 0.0
        for j in range(i - period + 1, i + 1):
            s += x[j]
        out[i] = s / period
    return out


# Sliding sums lose at most a few ulps of the largest sum of squares seen since the last re-anchor per
# update; a window whose centred sum of squares is within this many ulps per window value of that scale
# is recomputed exactly (two passes over the window).
_CANCEL_ULPS = 4.0 * np.finfo(np.float64).eps


@njit(cache=True, nogil=True)
def _window_m2(x: np.ndarray, a: int, b: int) -> float:
    """Sum of squared deviations from the mean of x[a:b], two passes on values shifted by x[a]."""
    k = x[a]
    s = 0.0
    for j in range(a, b):
        s += x[j] - k
    m = s / (b - a)
    m2 = 0.0
    for j in range(a, b):
        d = (x[j] - k) - m
        m2 += d * d
    return m2


@njit(cache=True, nogil=True)
def rolling_std(x: np.ndarray, period: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the last `period` values; NaN if any of them is NaN.

    O(n): sliding sums of (x - K), where the shift K and the sums are re-anchored exactly every `period`
    bars (bounding rounding drift and cancellation). Re-anchoring points depend only on the index, so a
    prefix of the input gives exactly the prefix of the output.

    Exact where rounding would matter: a constant window (`equal_run` >= period) is exactly 0, and a
    window whose sliding sum of squared deviations is within the sums' rounding error (near-constant
    windows, e.g. zero returns of a flat price after moves left the window) is recomputed by two passes
    over the window, so flat data never shows a spurious 1e-8 volatility.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 2 or n < period:
        return out
    run = equal_run(x)
    tol = _CANCEL_ULPS * period
    s = 0.0
    ss = 0.0
    scale = 0.0
    nan_count = 0
    k = 0.0
    for i in range(period - 1, n):
        if (i - (period - 1)) % period == 0:
            k = x[i] if x[i] == x[i] else 0.0
            s = 0.0
            ss = 0.0
            nan_count = 0
            for j in range(i - period + 1, i + 1):
                v = x[j]
                if v == v:
                    s += v - k
                    ss += (v - k) * (v - k)
                else:
                    nan_count += 1
            scale = ss
        else:
            v_in = x[i]
            v_out = x[i - period]
            if v_in == v_in:
                s += v_in - k
                ss += (v_in - k) * (v_in - k)
                if ss > scale:
                    scale = ss
            else:
                nan_count += 1
            if v_out == v_out:
                s -= v_out - k
                ss -= (v_out - k) * (v_out - k)
            else:
                nan_count -= 1
        if nan_count == 0:
            if run[i] >= period:
                out[i] = 0.0
                continue
            m2 = ss - s * s / period
            if m2 <= tol * scale:
                m2 = _window_m2(x, i - period + 1, i + 1)
            var = m2 / (period - 1)
            out[i] = np.sqrt(var) if var > 0 else 0.0
    return out


@njit(cache=True, nogil=True)
def prior_max(x: np.ndarray, period: int) -> np.ndarray:
    """Max of the `period` values *before* i (excludes i itself): the classic Donchian upper channel."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(period, n):
        m = x[i - period]
        for j in range(i - period + 1, i):
            if x[j] > m:
                m = x[j]
        out[i] = m
    return out


@njit(cache=True, nogil=True)
def prior_min(x: np.ndarray, period: int) -> np.ndarray:
    """Min of the `period` values before i (excludes i itself)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(period, n):
        m = x[i - period]
        for j in range(i - period + 1, i):
            if x[j] < m:
                m = x[j]
        out[i] = m
    return out


@njit(cache=True, nogil=True)
def _wilder(x: np.ndarray, period: int, start: int) -> np.ndarray:
    """Wilder smoothing (RMA) of x from index `start`, seeded with the mean of x[start:start+period]."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n < start + period:
        return out
    s = 0.0
    for i in range(start, start + period):
        s += x[i]
    v = s / period
    out[start + period - 1] = v
    for i in range(start + period, n):
        v = (v * (period - 1) + x[i]) / period
        out[i] = v
    return out


@njit(cache=True, nogil=True)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range; bar 0 (no previous close) is high - low."""
    n = close.shape[0]
    out = np.empty(n)
    out[0] = high[0] - low[0]
    for i in range(1, n):
        out[i] = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    return out


@njit(cache=True, nogil=True)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Average true range with Wilder smoothing (first value at index period-1)."""
    return _wilder(true_range(high, low, close), period, 0)


@njit(cache=True, nogil=True)
def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's ADX: RMA of DX, where DX = 100 |+DI - -DI| / (+DI + -DI) (first value at 2*period-1)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n < 2 * period:
        return out
    pdm = np.zeros(n)
    mdm = np.zeros(n)
    for i in range(1, n):
        up = high[i] - high[i - 1]
        dn = low[i - 1] - low[i]
        if up > dn and up > 0:
            pdm[i] = up
        if dn > up and dn > 0:
            mdm[i] = dn
    tr = true_range(high, low, close)
    # +DM/-DM/TR are smoothed from bar 1 (bar 0 has no previous bar).
    s_tr = _wilder(tr, period, 1)
    s_p = _wilder(pdm, period, 1)
    s_m = _wilder(mdm, period, 1)
    dx = np.full(n, np.nan)
    for i in range(period, n):
        if s_tr[i] > 0:
            pdi = s_p[i] / s_tr[i]
            mdi = s_m[i] / s_tr[i]
            den = pdi + mdi
            dx[i] = 100.0 * abs(pdi - mdi) / den if den > 0 else 0.0
        else:
            dx[i] = 0.0
    sm = _wilder(dx, period, period)
    for i in range(n):
        out[i] = sm[i]
    return out


@njit(cache=True, nogil=True)
def log_returns(close: np.ndarray) -> np.ndarray:
    """log(close[i] / close[i-1]); NaN at 0."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(1, n):
        out[i] = np.log(close[i] / close[i - 1])
    return out
