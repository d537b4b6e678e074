"""Higher-timeframe trend agreement, from *closed* higher-timeframe bars only.

Higher-timeframe bucket k spans [k*H, (k+1)*H) in UTC ns (H = `hours` hours); its close is the close of
the last base bar opening inside it. At base bar i (closing at time_ns[i] + bar_ns) only buckets with
(k+1)*H <= close time are visible. Longs are allowed while the last visible HTF close is above the EMA
(`period`) of visible HTF closes, shorts while it is below; nothing is allowed before the first value.
"""

import numpy as np

from auraquant.cta.strategy.indicators import ema
from auraquant.cta.strategy.protocols import Param

_NS_PER_HOUR = 3_600_000_000_000


class HtfTrend:
    name = "htf_trend"
    reject_reason = "direction disagrees with the higher-timeframe trend"
    params = {"hours": Param(24, "int", 1, 24 * 366, "higher-timeframe bar length in hours"),
              "period": Param(20, "int", 1, 10_000, "EMA period on higher-timeframe closes")}

    def allow(self, bars, params):
        h = int(params["hours"]) * _NS_PER_HOUR
        bucket = bars.time_ns // h
        last_in_bucket = np.flatnonzero(np.r_[bucket[1:] != bucket[:-1], True])
        htf_close = bars.close[last_in_bucket]
        htf_ema = ema(htf_close, int(params["period"]))
        # Index of the last HTF bucket fully closed by each base bar's close time.
        visible_bucket = (bars.time_ns + bars.bar_ns) // h - 1
        j = np.searchsorted(bucket[last_in_bucket], visible_bucket, side="right") - 1
        c = np.where(j >= 0, htf_close[np.maximum(j, 0)], np.nan)
        e = np.where(j >= 0, htf_ema[np.maximum(j, 0)], np.nan)
        return c > e, c < e


MODULE = HtfTrend()
