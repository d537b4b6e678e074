"""Timeframes: parsing, resampling to a higher timeframe, and closed-bar alignment back onto a lower one.

Bar convention everywhere in AuraQuant: `time` is the bar's *open* time (UTC); a bar covering
`[time, time + tf)` is closed, and so usable, only at `time + tf`.

Bucket grid (`floor_to_bar`): minute, hour and day timeframes are anchored at the Unix epoch, as exchanges do;
week timeframes start on Monday 00:00 UTC (ISO weeks, as Binance's `1w` klines), not on the epoch's Thursday.

Alignment rule (the multi-timeframe look-ahead guard): a lower-timeframe bar opening at `t` is decided at its
close `t + lower_tf`. A higher bar opening at `T` is visible to it only if `T + higher_tf <= t + lower_tf`.
The value shown is that of the latest such higher bar; before the first one closes, NaN.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from auraquant.errors import UserError

OHLCV = ["open", "high", "low", "close", "volume"]

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_TF_RE = re.compile(r"^(\d+)([mhdw])$")
# 1970-01-01 was a Thursday; the first Monday 00:00 UTC is four days later.
_WEEK_ORIGIN_MS = 4 * 86_400_000


class TimeframeError(UserError, ValueError):
    pass


def timeframe_ms(tf: str) -> int:
    """Milliseconds in a timeframe such as `5m`, `1h`, `4h`, `1d`, `1w`."""
    m = _TF_RE.match(tf.strip())
    if not m or int(m.group(1)) <= 0:
        raise TimeframeError(f"unknown timeframe {tf!r}: use <n>m, <n>h, <n>d or <n>w (e.g. 5m, 1h, 4h, 1d)")
    return int(m.group(1)) * _UNITS_MS[m.group(2)]


def bar_origin_ms(tf: str) -> int:
    """Epoch ms of one bar boundary of `tf`: 0 for m/h/d, the first Monday (1970-01-05) for weeks."""
    timeframe_ms(tf)
    return _WEEK_ORIGIN_MS if tf.strip().endswith("w") else 0


def floor_to_bar(t_ms: np.ndarray, tf: str) -> np.ndarray:
    """Open time (epoch ms) of the `tf` bar containing each epoch-ms time in `t_ms` (see the bucket grid)."""
    step, origin = timeframe_ms(tf), bar_origin_ms(tf)
    return ((np.asarray(t_ms, dtype=np.int64) - origin) // step) * step + origin


def to_utc(ts: object) -> pd.Timestamp | None:
    """A timestamp in UTC; naive input is taken to be UTC already (the convention everywhere in AuraQuant)."""
    if ts is None:
        return None
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def timeframe_delta(tf: str) -> pd.Timedelta:
    return pd.Timedelta(milliseconds=timeframe_ms(tf))


def _check_higher(lower_tf: str, higher_tf: str) -> None:
    lo, hi = timeframe_ms(lower_tf), timeframe_ms(higher_tf)
    if hi <= lo or hi % lo:
        raise TimeframeError(f"{higher_tf} is not a whole multiple of {lower_tf}")


def resample(bars: pd.DataFrame, to_tf: str, *, from_tf: str | None = None,
             drop_incomplete: bool = False) -> pd.DataFrame:
    """Aggregate bars into `to_tf` buckets on the module's bucket grid (weeks start Monday 00:00 UTC).

    open=first, high=max, low=min, close=last, volume=sum. A bucket exists when at least one input bar falls
    in it; `n_bars` says how many did. With `drop_incomplete` (needs `from_tf`) only buckets with every
    constituent bar are kept, which also drops a still-forming last bucket.
    """
    if from_tf is not None:
        _check_higher(from_tf, to_tf)
    step = timeframe_ms(to_tf)
    t_ms = bars["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    bucket = floor_to_bar(t_ms, to_tf)
    g = bars.assign(_bucket=bucket).groupby("_bucket", sort=True)
    out = pd.DataFrame({
        "open": g["open"].first(),
        "high": g["high"].max(),
        "low": g["low"].min(),
        "close": g["close"].last(),
        "volume": g["volume"].sum(),
        "n_bars": g["open"].size().astype(np.int64),
    })
    out.insert(0, "time", pd.to_datetime(out.index.to_numpy(), unit="ms", utc=True))
    out = out.reset_index(drop=True)
    if drop_incomplete:
        if from_tf is None:
            raise TimeframeError("drop_incomplete needs from_tf to know how many bars make a bucket")
        out = out[out["n_bars"] == step // timeframe_ms(from_tf)].reset_index(drop=True)
    return out


def align_to_lower(higher: pd.DataFrame, higher_tf: str, lower_times: pd.Series | pd.DatetimeIndex,
                   lower_tf: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Values of `higher` (time = open time) as seen at the close of each lower bar; see the module rule."""
    _check_higher(lower_tf, higher_tf)
    cols = columns if columns is not None else [c for c in higher.columns if c != "time"]
    h_close = higher["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64) + timeframe_ms(higher_tf)
    if np.any(np.diff(h_close) <= 0):
        raise TimeframeError("higher-timeframe bars must be strictly increasing in time")
    l_close = pd.DatetimeIndex(lower_times).to_numpy(dtype="datetime64[ms]").astype(np.int64) + timeframe_ms(lower_tf)
    idx = np.searchsorted(h_close, l_close, side="right") - 1
    visible = idx >= 0
    out = pd.DataFrame(index=range(len(l_close)))
    for c in cols:
        src = higher[c].to_numpy(dtype=np.float64)
        vals = np.full(len(l_close), np.nan)
        vals[visible] = src[idx[visible]]
        out[c] = vals
    return out
