"""Quality assessment of a parsed bar set: what is wrong, what was safely repaired, what blocks the ingest.

Safe repairs (applied and listed in `repairs`): sorting rows into time order (newest-first files), and
dropping duplicate rows that are identical in every column. Everything else that is wrong is an error naming
example rows: conflicting duplicates (same time, different values), NaN, infinite values, bar times before
2009 or in the future, high below open/close, low above open/close, non-positive prices, negative volume, spacing that is not a whole number of bars, or a timeframe
that does not match the data. Gaps, zero volume and outlier bars (`outliers.py`) are reported as warnings, not
errors: real exchanges have outages and crashes.
Nothing is ever dropped silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auraquant.cta.data.models import QualityIssue, QualityReport
from auraquant.cta.data.outliers import OUTLIER_SIGMAS, outlier_masks
from auraquant.cta.data.timeframes import OHLCV, timeframe_ms

ROW = "_row"  # original 0-based data-row position, carried so errors can name the rows in the user's file
# `frame.attrs` key: repairs made while reading the file (skipped preamble, mapped columns, per-row epoch
# units); `assess` lists them first in the report's repairs.
INPUT_REPAIRS = "aura_input_repairs"
# Bars before this are not crypto market data (Bitcoin's genesis block is 2009-01-03): a unit or parse error.
EARLIEST_BAR = pd.Timestamp("2009-01-01", tz="UTC")
_MAX_EXAMPLES = 5


def _examples(frame: pd.DataFrame, mask: np.ndarray) -> list[dict[str, str | float | int | None]]:
    rows = []
    for _, r in frame.loc[mask].head(_MAX_EXAMPLES).iterrows():
        ex: dict[str, str | float | int | None] = {"row": int(r[ROW]), "time": None if pd.isna(r["time"]) else r["time"].isoformat()}
        for c in OHLCV:
            v = r[c]
            # inf as text: examples travel as JSON, which has no infinity
            ex[c] = None if pd.isna(v) else float(v) if np.isfinite(v) else str(float(v))
        rows.append(ex)
    return rows


def _issue(kind: str, frame: pd.DataFrame, mask: np.ndarray, message: str) -> QualityIssue:
    return QualityIssue(kind=kind, count=int(mask.sum()), message=message, examples=_examples(frame, mask))


def assess(frame: pd.DataFrame, timeframe: str, *, market_time_range: bool = True) -> tuple[pd.DataFrame, QualityReport]:
    """Check `frame` (columns time (UTC), open, high, low, close, volume, and `_row`) against `timeframe`.

    `market_time_range` refuses bars before `EARLIEST_BAR` or after now; generated (synthetic) bars, which
    may be placed anywhere in time, turn it off.

    Returns the repaired frame (sorted, identical duplicates dropped, `_row` removed) and the report. The caller
    must refuse to store the frame when `report.errors` is non-empty.
    """
    step_ms = timeframe_ms(timeframe)
    rows_in = len(frame)
    errors: list[QualityIssue] = []
    warnings: list[QualityIssue] = []
    repairs: list[str] = list(frame.attrs.get(INPUT_REPAIRS, []))

    nan_mask = frame[["time", *OHLCV]].isna()
    nan = {c: int(n) for c, n in nan_mask.sum().items() if n}
    if nan:
        errors.append(_issue("nan", frame, nan_mask.any(axis=1).to_numpy(),
                             f"missing values in {', '.join(f'{c} ({n})' for c, n in nan.items())}"))
    inf_mask = np.isinf(frame[OHLCV].to_numpy(dtype=np.float64))
    if inf_mask.any():
        cols = [f"{c} ({int(n)})" for c, n in zip(OHLCV, inf_mask.sum(axis=0), strict=True) if n]
        errors.append(_issue("non_finite", frame, inf_mask.any(axis=1), f"infinite values in {', '.join(cols)}"))
    # "Future" is judged against the wall clock: a bar cannot open after now (a unit or clock error).
    now = pd.Timestamp.now(tz="UTC")
    out_of_range = (frame["time"].notna() & ((frame["time"] < EARLIEST_BAR) | (frame["time"] > now))).to_numpy()
    if market_time_range and out_of_range.any():
        errors.append(_issue("time_out_of_range", frame, out_of_range,
                             f"bar times before {EARLIEST_BAR.date()} or in the future (after {now:%Y-%m-%d %H:%M} UTC)"))

    t = frame["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    back = np.diff(t) < 0
    non_monotonic = int(back.sum())
    if non_monotonic:
        newest_first = bool(np.all(np.diff(t) <= 0))
        frame = frame.sort_values(["time", ROW], kind="stable").reset_index(drop=True)
        repairs.append(f"sorted {rows_in} rows into time order ({'file was newest-first' if newest_first else f'{non_monotonic} rows out of order'})")

    dup_time = frame["time"].duplicated(keep=False).to_numpy()
    dup_identical = 0
    dup_conflicting = 0
    if dup_time.any():
        identical_extra = frame.duplicated(subset=["time", *OHLCV], keep="first").to_numpy()
        frame_wo = frame.loc[~identical_extra]
        conflicting = frame_wo["time"].duplicated(keep=False).to_numpy()
        dup_identical = int(identical_extra.sum())
        dup_conflicting = int(frame_wo.loc[conflicting, "time"].nunique())
        if dup_identical:
            repairs.append(f"dropped {dup_identical} duplicate rows identical to an earlier row")
        if dup_conflicting:
            errors.append(_issue("duplicate_conflicting", frame_wo, conflicting,
                                 f"{dup_conflicting} timestamps appear more than once with different values"))
        frame = frame_wo.reset_index(drop=True)

    o, h, lo, c, v = (frame[k].to_numpy(dtype=np.float64) for k in OHLCV)
    with np.errstate(invalid="ignore"):
        bad_ohlc = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo)
        non_pos = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        neg_vol = v < 0
        zero_vol = v == 0
    if bad_ohlc.any():
        errors.append(_issue("ohlc_inconsistent", frame, bad_ohlc,
                             "high below open/close or low above open/close"))
    if non_pos.any():
        errors.append(_issue("non_positive_price", frame, non_pos, "prices must be positive"))
    if neg_vol.any():
        errors.append(_issue("negative_volume", frame, neg_vol, "volume must not be negative"))
    if zero_vol.any():
        warnings.append(_issue("zero_volume", frame, zero_vol, "bars with zero volume (kept)"))
    if not (errors or nan):  # outliers are judged on otherwise clean, sorted bars only
        ret_out, spike, sigma = outlier_masks(o, h, lo, c)
        if ret_out.any():
            warnings.append(_issue("return_outlier", frame, ret_out,
                                   f"close-to-close moves beyond {OUTLIER_SIGMAS:g} robust sigmas "
                                   f"(sigma {sigma:.3g} log) (kept: check for bad prints)"))
        if spike.any():
            warnings.append(_issue("wick_spike", frame, spike,
                                   f"high/low wicks beyond {OUTLIER_SIGMAS:g} robust sigmas of the close moves "
                                   "(kept: check for bad prints)"))

    t = frame["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    diffs = np.diff(t)
    gaps = missing = largest = 0
    largest_start: str | None = None
    if len(diffs) and not nan:
        off_grid = (diffs % step_ms) != 0
        median = float(np.median(diffs))
        if median != step_ms:
            errors.append(QualityIssue(kind="timeframe_mismatch", count=len(diffs), message=(
                f"bars are {pd.Timedelta(milliseconds=median)} apart, not {timeframe}")))
        elif off_grid.any():
            # Blame the rows off the file's own grid (the most common phase), not their on-grid neighbours:
            # one shifted bar makes two spacings wrong but only itself is wrong.
            phase = t % step_ms
            values, counts = np.unique(phase, return_counts=True)
            mask = phase != values[np.argmax(counts)]
            errors.append(_issue("irregular_spacing", frame, mask,
                                 f"{int(off_grid.sum())} bar spacings are not a whole number of {timeframe}"))
        else:
            gap_bars = diffs // step_ms - 1
            is_gap = gap_bars > 0
            gaps, missing = int(is_gap.sum()), int(gap_bars[is_gap].sum())
            if gaps:
                i = int(np.argmax(gap_bars))
                largest = int(gap_bars[i])
                largest_start = (frame["time"].iloc[i] + pd.Timedelta(milliseconds=step_ms)).isoformat()

    report = QualityReport(
        rows_in=rows_in, bars=len(frame), gaps=gaps, missing_bars=missing, largest_gap_bars=largest,
        largest_gap_start=largest_start, duplicates_identical=dup_identical,
        duplicates_conflicting=dup_conflicting, nan=nan, non_monotonic=non_monotonic,
        ohlc_inconsistent=int(bad_ohlc.sum()), non_positive_prices=int(non_pos.sum()),
        zero_volume=int(zero_vol.sum()), repairs=repairs, errors=errors, warnings=warnings,
    )
    return frame.drop(columns=[ROW]).reset_index(drop=True), report
