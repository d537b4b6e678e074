"""Outlier bars: moves so far outside the series' own typical move that they are more likely bad prints.

Scale: the robust sigma of one-bar log returns of the close, `1.4826 * MAD` (the standard deviation for
normal returns, unmoved by the outliers themselves). Two checks, both against `OUTLIER_SIGMAS` of that scale:
- return outlier: `|log(close_i / close_{i-1}) - median| > k * sigma`, blamed on bar i. A lone bad close makes
  two extreme returns (there and back); the second, when of opposite sign, is not blamed on the valid bar
  after it.
- wick spike: `log(high / max(open, close))` or `log(min(open, close) / low)` above `k * sigma`.
Crypto returns are fat-tailed, so real crashes also trip these; the quality report lists them as warnings
(kept, never a refusal). Series under `MIN_BARS` bars, or with no typical move (MAD 0), are not judged.
"""

from __future__ import annotations

import numpy as np

OUTLIER_SIGMAS = 20.0
MIN_BARS = 30
_MAD_TO_SIGMA = 1.4826


def outlier_masks(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, *,
                  k: float = OUTLIER_SIGMAS) -> tuple[np.ndarray, np.ndarray, float]:
    """(return-outlier mask, wick-spike mask, robust sigma) for time-sorted, finite, positive OHLC arrays."""
    n = len(c)
    none = np.zeros(n, dtype=bool)
    if n < MIN_BARS:
        return none, none.copy(), float("nan")
    r = np.diff(np.log(c))
    med = float(np.median(r))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(r - med)))
    if not sigma > 0:
        return none, none.copy(), sigma
    dev = r - med
    flagged = np.abs(dev) > k * sigma
    # Bar i+1 only brings the price back from a bad bar i: its return is extreme but the bar is fine.
    returns_back = flagged[1:] & flagged[:-1] & (np.sign(dev[1:]) != np.sign(dev[:-1]))
    flagged[1:] &= ~returns_back
    ret_mask = np.concatenate([[False], flagged])
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.log(h / np.maximum(o, c))
        down = np.log(np.minimum(o, c) / lo)
    spike = (up > k * sigma) | (down > k * sigma)
    return ret_mask, spike, sigma


__all__ = ["MIN_BARS", "OUTLIER_SIGMAS", "outlier_masks"]
