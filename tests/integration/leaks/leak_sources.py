'''Planted leaks for the leak suite: each entry is the source of a would-be agent module (kind, name,
source, and the Spec params / search space that exercise it). Every one reads the future in a different
way; the dynamic look-ahead check must catch all of them. `HINDSIGHT` holds causal modules with hard-coded
knowledge of the data, which only the static check (`auraquant.cta.tools.hindsight`) can flag.'''

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_HEAD = '''import numpy as np
import pandas as pd

from auraquant.cta.strategy.protocols import KernelPart, Param
'''


def _baseline(name: str, body: str, params: str = "{}", init: str = "") -> str:
    return _HEAD + f'''

class Leak:
    name = "{name}"
    params = {params}
{init}
    def candidates(self, bars, params):
        c = pd.Series(bars.close)
{body}
        return np.where(up, 1, np.where(dn, -1, 0)).astype(np.int8)


MODULE = Leak()
'''


@dataclass(frozen=True)
class Leak:
    kind: str
    name: str
    source: str
    what: str
    params: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, Any] = field(default_factory=dict)


LEAKS = [
    Leak("baselines", "leak_shift_neg1", _baseline("leak_shift_neg1", '''        nxt = c.shift(-1)
        up = (nxt > c).to_numpy()
        dn = (nxt < c).to_numpy()'''), "shift(-1): tomorrow's close"),
    Leak("baselines", "leak_future_max", _baseline("leak_future_max", '''        fut = c[::-1].rolling(24, min_periods=1).max()[::-1]
        up = (fut > c * 1.01).to_numpy()
        dn = (fut <= c).to_numpy()'''), "max of the next 24 bars"),
    Leak("baselines", "leak_future_min", _baseline("leak_future_min", '''        fut = c[::-1].rolling(24, min_periods=1).min()[::-1]
        up = (fut >= c).to_numpy()
        dn = (fut < c * 0.99).to_numpy()'''), "min of the next 24 bars"),
    Leak("baselines", "leak_bfill", _baseline("leak_bfill", '''        idx = np.arange(len(c))
        anchor = c.where(idx % 24 == 23).bfill()
        up = (anchor > c).to_numpy()
        dn = (anchor < c).to_numpy()'''), "bfill of a sparse series (the end of each block)"),
    Leak("baselines", "leak_resample", _baseline("leak_resample", '''        t = pd.to_datetime(bars.time_ns, unit="ns", utc=True)
        s = pd.Series(bars.close, index=t)
        daily = s.resample("1D").last()
        day_close = daily.reindex(t.floor("1D")).to_numpy()
        up = day_close > bars.close
        dn = day_close < bars.close'''), "resample to the day's last close, reindexed back without shift"),
    Leak("baselines", "leak_interpolate", _baseline("leak_interpolate", '''        idx = np.arange(len(c))
        sparse = c.where(idx % 10 == 0)
        smooth = sparse.interpolate()
        up = (smooth > c).to_numpy()
        dn = (smooth < c).to_numpy()'''), "linear interpolation between later anchors"),
    Leak("baselines", "leak_global_rank", _baseline("leak_global_rank", '''        r = c.rank(pct=True)
        up = (r < 0.2).to_numpy()
        dn = (r > 0.8).to_numpy()'''), "percentile rank over the whole series"),
    Leak("baselines", "leak_global_quantile", _baseline("leak_global_quantile", '''        lo_q, hi_q = np.quantile(bars.close, [0.1, 0.9])
        up = bars.close < lo_q
        dn = bars.close > hi_q'''), "quantiles of the whole series"),
    Leak("baselines", "leak_fft", _baseline("leak_fft", '''        spec = np.fft.rfft(bars.close - bars.close[0])
        spec[8:] = 0
        trend = np.fft.irfft(spec, n=len(bars.close))
        slope = np.diff(trend, prepend=trend[0])
        up = slope > 0
        dn = slope < 0'''), "low-pass filter by FFT over the whole series"),
    Leak("baselines", "leak_future_cummax", _baseline("leak_future_cummax", '''        peak_ahead = np.maximum.accumulate(bars.close[::-1])[::-1]
        up = peak_ahead > bars.close * 1.05
        dn = peak_ahead <= bars.close'''), "cumulative max of the future (reversed accumulate)"),
    Leak("baselines", "leak_sorted", _baseline("leak_sorted", '''        srt = np.sort(bars.close)
        median = srt[len(srt) // 2]
        up = bars.close < median
        dn = bars.close > median'''), "median by sorting the whole series"),
    Leak("baselines", "leak_centered", _baseline("leak_centered", '''        mid = c.rolling(21, center=True, min_periods=1).mean()
        up = (c > mid).to_numpy()
        dn = (c < mid).to_numpy()'''), "centered rolling window"),
    Leak("baselines", "leak_centered_long", _baseline("leak_centered_long", '''        mid = c.rolling(1500, center=True).mean()
        up = (c > mid).to_numpy()
        dn = (c < mid).to_numpy()'''), "centered window longer than a short sample (all NaN on 720 bars)"),
    Leak("baselines", "leak_full_normaliser", _baseline("leak_full_normaliser", '''        z = (c - c.mean()) / c.std()
        up = (z > 1.0).to_numpy()
        dn = (z < -1.0).to_numpy()'''), "z-score with the whole series' mean and std"),
    Leak("baselines", "leak_first_call_cache", _baseline("leak_first_call_cache", '''        if self.mu is None:
            self.mu = float(c.mean())  # cached on the first call, reused on every later one
        up = (c > self.mu * 1.02).to_numpy()
        dn = (c < self.mu * 0.98).to_numpy()''', init='''
    def __init__(self):
        self.mu = None
'''), "normaliser cached on the first call (a stateful instance)"),
    Leak("baselines", "leak_global_memo", _baseline("leak_global_memo", '''        if "mu" not in MEMO:
            MEMO["mu"] = float(c.mean())  # module-level memo filled by the first call
        up = (c > MEMO["mu"]).to_numpy()
        dn = (c < MEMO["mu"]).to_numpy()''').replace("class Leak:", "MEMO = {}\n\n\nclass Leak:"),
        "module-global memo filled on the first call"),
    Leak("baselines", "leak_nondefault", _baseline("leak_nondefault", '''        ref = c.shift(-1) if int(params["mode"]) == 1 else c.shift(1)
        up = (ref > c).to_numpy()
        dn = (ref < c).to_numpy()''', params='{"mode": Param(0, "int", 0, 1, "0: causal, 1: peeks")}'),
        "leaks only with a non-default parameter (found through the search-space corners)",
        search_space={"baseline.mode": {"kind": "int", "low": 0, "high": 1}}),
    Leak("baselines", "leak_long_data_only", _baseline("leak_long_data_only", '''        ref = c.shift(-1) if len(c) > 1000 else c.shift(1)
        up = (ref > c).to_numpy()
        dn = (ref < c).to_numpy()'''), "leaks only on more bars than the 720-bar sample (the real data length)"),
    Leak("filters", "leak_future_vol_filter", _HEAD + '''

class Leak:
    name = "leak_future_vol_filter"
    reject_reason = "volatility too high"
    params = {}

    def allow(self, bars, params):
        r = np.abs(np.diff(np.log(bars.close), prepend=np.log(bars.close[0])))
        ok = r < np.quantile(r, 0.9)
        return ok, ok.copy()


MODULE = Leak()
''', "filter on a full-sample quantile of absolute returns"),
    Leak("risks", "leak_full_vol_size", _HEAD + '''

class Leak:
    name = "leak_full_vol_size"
    params = {"target": Param(0.02, "float", 0.0001, 1.0, "target bar volatility")}

    def configure(self, bars, params):
        r = np.diff(np.log(bars.close))
        return KernelPart(values={"fraction": float(params["target"]) / max(float(np.std(r)), 1e-4)})


MODULE = Leak()
''', "size scaled by the full sample's volatility (a scalar slot)"),
    Leak("executions", "leak_full_spread_stop", _HEAD + '''

class Leak:
    name = "leak_full_spread_stop"
    params = {"k": Param(3.0, "float", 0.1, 10.0, "stop in return spreads")}

    def configure(self, bars, params):
        r = np.diff(bars.close) / bars.close[:-1]
        spread = float(np.percentile(r, 95) - np.percentile(r, 5))
        return KernelPart(values={"sl_pct": float(params["k"]) * spread})


MODULE = Leak()
''', "stop set from the full sample's return spread (a scalar slot)"),
    Leak("executions", "leak_centered_atr", _HEAD + '''

class Leak:
    name = "leak_centered_atr"
    params = {"mult": Param(2.0, "float", 0.1, 10.0, "ATR multiple")}

    def configure(self, bars, params):
        tr = pd.Series(bars.high - bars.low)
        atr = tr.rolling(14, center=True).mean().to_numpy()
        return KernelPart(values={"sl_atr": float(params["mult"])}, series={"stop_atr": atr})


MODULE = Leak()
''', "ATR series from a centered window (a series slot)"),
]

#: Causal modules with hard-coded hindsight: the static check must flag each (rule `hindsight`).
HINDSIGHT = [
    Leak("baselines", "hind_dates", _baseline("hind_dates", '''        t = pd.to_datetime(bars.time_ns, unit="ns", utc=True).strftime("%Y-%m-%d")
        tops = {"2021-04-14", "2021-11-10"}
        bottoms = {"2022-11-21", "2020-03-13"}
        up = np.isin(t, list(bottoms))
        dn = np.isin(t, list(tops))'''), "dates of past tops and bottoms"),
    Leak("baselines", "hind_prices", _baseline("hind_prices", '''        levels = np.array([64863.1, 69000.0, 15476.0, 3782.13, 28805.0, 41002.5, 19181.4, 73750.07])
        near = np.abs(c.to_numpy()[:, None] / levels[None, :] - 1).min(axis=1) < 0.01
        up = near & (c.to_numpy() < 30000)
        dn = near & (c.to_numpy() >= 30000)'''), "a table of past turning-point prices"),
    Leak("baselines", "hind_epochs", _baseline("hind_epochs", '''        crash = 1584057600000
        top = 1636502400000
        t = bars.time_ns // 1000000
        up = t == crash
        dn = t == top'''), "epoch milliseconds of a crash and a top"),
    Leak("baselines", "hind_scattered_prices", _baseline("hind_scattered_prices", '''        x = c.to_numpy()
        up = (x < 3867.5) | ((x > 9123.4) & (x < 10512.3)) | ((x > 28765.2) & (x < 29345.7))
        dn = (x > 64321.9) | ((x > 47312.6) & (x < 48444.4))'''), "price thresholds fitted to past turning points"),
]
