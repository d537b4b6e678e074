"""Fuzz-like defects: every bad value refuses the import, and the error names exactly the offending rows.

Each case injects one kind of defect at seeded random rows of an otherwise clean hourly file (written in
newest-first order, so row numbers must survive the sort) and checks the reported rows are those rows: never
a valid neighbour. Nothing may be stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.data.ingest import DataInputError
from auraquant.cta.data.service import DataQualityError, import_file, synth
from auraquant.workspace import Workspace

HOUR_MS = 3_600_000
T0 = 1_650_000_000_000 - 1_650_000_000_000 % HOUR_MS
N = 48


def _clean() -> pd.DataFrame:
    """Data rows as strings, newest first (file row r holds bar N-1-r)."""
    close = 100.0 + np.sin(np.arange(N)) * 3
    f = pd.DataFrame({"timestamp": T0 + HOUR_MS * np.arange(N), "open": close - 0.5, "high": close + 1.0,
                      "low": close - 1.5, "close": close, "volume": 10.0 + np.arange(N)})
    return f.iloc[::-1].reset_index(drop=True).astype(str)


Defect = Callable[[pd.DataFrame, int], None]


def _set(col: str, value: str) -> Defect:
    def apply(f: pd.DataFrame, r: int) -> None:
        f.loc[r, col] = value
    return apply


def _shift_time(f: pd.DataFrame, r: int) -> None:
    f.loc[r, "timestamp"] = str(int(f.loc[r, "timestamp"]) + HOUR_MS // 4)


def _seconds_before_2009(f: pd.DataFrame, r: int) -> None:
    f.loc[r, "timestamp"] = str(1_000_000_000 + r * 3600)  # 2001, in seconds


def _far_future_ms(f: pd.DataFrame, r: int) -> None:
    f.loc[r, "timestamp"] = str(4_102_444_800_000 + r * HOUR_MS)  # 2100


# (defect, expected error kind; "input" = refused while parsing, rows named in the message)
CASES: dict[str, tuple[Defect, str]] = {
    "inf_close": (_set("close", "inf"), "non_finite"),
    "neg_inf_low": (_set("low", "-inf"), "non_finite"),
    "Infinity_high": (_set("high", "Infinity"), "non_finite"),
    "nan_open": (_set("open", "NaN"), "nan"),
    "blank_volume": (_set("volume", ""), "nan"),
    "blank_time": (_set("timestamp", ""), "nan"),
    "negative_volume": (_set("volume", "-5"), "negative_volume"),
    "zero_price": (_set("open", "0"), "non_positive_price"),
    "high_below_close": (_set("high", "1"), "ohlc_inconsistent"),
    "epoch_zero": (_set("timestamp", "0"), "time_out_of_range"),
    "negative_epoch": (_set("timestamp", "-86400"), "time_out_of_range"),
    "seconds_before_2009": (_seconds_before_2009, "time_out_of_range"),
    "future_epoch": (_far_future_ms, "time_out_of_range"),
    "shifted_bar": (_shift_time, "irregular_spacing"),
    "inf_epoch": (_set("timestamp", "inf"), "input"),
    "huge_epoch": (_set("timestamp", "1e30"), "input"),
    "text_price": (_set("close", "12,5"), "input"),
    "garbage_time": (_set("timestamp", "yesterday"), "input"),
}


def _error_rows(message: str) -> set[int]:
    return {int(m) for m in re.findall(r"\brows? (\d+)", message)} | {
        int(m) for m in re.findall(r"(?:, |\[)(\d+) \(line \d+\)", message)}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_defect_refused_naming_the_offending_rows(workspace: Workspace, tmp_path: Path, case: str,
                                                   seed: int) -> None:
    defect, kind = CASES[case]
    rng = np.random.default_rng(seed)
    # Interior rows only: a shifted first/last bar is indistinguishable from a gap at the edge.
    bad_rows = sorted(int(r) for r in rng.choice(np.arange(2, N - 2), size=1 + seed, replace=False))
    if case == "shifted_bar":  # adjacent shifted bars would be on a grid of their own
        bad_rows = [r for i, r in enumerate(bad_rows) if all(abs(r - q) > 1 for q in bad_rows[:i])]
    frame = _clean()
    for r in bad_rows:
        defect(frame, r)
    path = tmp_path / "bars.csv"
    frame.to_csv(path, index=False)

    if kind == "input":
        with pytest.raises(DataInputError) as err:
            import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
        message = str(err.value)
        assert _error_rows(message) == set(bad_rows), message
        for r in bad_rows:
            assert f"line {r + 2}" in message, message  # header is line 1
    else:
        with pytest.raises(DataQualityError) as qerr:
            import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
        issues = {e.kind: e for e in qerr.value.report.errors}
        assert kind in issues, issues
        issue = issues[kind]
        assert issue.count == len(bad_rows)
        assert {ex["row"] for ex in issue.examples} == set(bad_rows)
        assert "nothing was stored" in str(qerr.value)
        json.dumps(qerr.value.report.model_dump(mode="json"), allow_nan=False)  # --json output stays valid JSON
    assert workspace.store.list_data_versions() == []


def test_zero_volume_and_mixed_iso_stay_accepted(workspace: Workspace, tmp_path: Path) -> None:
    """The checks refuse defects only: zero volume is a warning and ISO times with offsets are fine."""
    frame = _clean()
    frame.loc[5, "volume"] = "0"
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype(np.int64), unit="ms", utc=True).dt.tz_convert(
        "Asia/Tokyo").astype(str)
    path = tmp_path / "ok.csv"
    frame.to_csv(path, index=False)
    dv, _ = import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
    assert dv.bars == N and [w.kind for w in dv.quality.warnings] == ["zero_volume"]


def _long_clean(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame({"timestamp": T0 + HOUR_MS * np.arange(n), "open": open_,
                         "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998,
                         "close": close, "volume": 10.0})


@pytest.mark.parametrize("kind", ["bad_close", "high_spike", "low_spike"])
def test_outlier_bars_are_warnings_naming_the_bar(workspace: Workspace, tmp_path: Path, kind: str) -> None:
    frame = _long_clean()
    r = 123
    if kind == "bad_close":  # a fat-finger print: close x10 for one bar, next bar back to normal
        frame.loc[r, ["close", "high"]] = frame.loc[r, "close"] * 10
        frame.loc[r + 1, ["open", "high"]] = frame.loc[r + 1, ["open", "high"]] * 10
    elif kind == "high_spike":
        frame.loc[r, "high"] = frame.loc[r, "high"] * 3
    else:
        frame.loc[r, "low"] = frame.loc[r, "low"] / 3
    path = tmp_path / "bars.csv"
    frame.to_csv(path, index=False)
    dv, _ = import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
    assert dv.quality.ok and dv.bars == len(frame)  # kept: a warning, not a refusal
    warned = {w.kind: w for w in dv.quality.warnings}
    expected = "return_outlier" if kind == "bad_close" else "wick_spike"
    assert expected in warned, dv.quality.warnings
    assert [ex["row"] for ex in warned[expected].examples] == [r]  # not the valid bar after it
    assert "robust sigmas" in warned[expected].message


def test_ordinary_volatility_raises_no_outlier_warning(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    _long_clean().to_csv(path, index=False)
    dv, _ = import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
    assert dv.quality.warnings == []


def test_synthetic_bars_may_lie_outside_market_time(workspace: Workspace) -> None:
    """Only market data is held to 2009..now; generated bars can be placed anywhere."""
    dv, _ = synth(workspace.store, n=100, seed=1, start="2099-01-01")
    assert dv.bars == 100 and dv.quality.ok
