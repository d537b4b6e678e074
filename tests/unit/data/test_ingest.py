"""Import of bad and unusual files: each gives a clear error or a listed repair, and never a partial write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.data.ingest import DataInputError
from auraquant.cta.data.service import DataQualityError, import_file
from auraquant.workspace import Workspace

HOUR_MS = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS


def _bars(n: int = 6) -> pd.DataFrame:
    close = 100.0 + np.arange(n, dtype=float)
    return pd.DataFrame({"timestamp": T0 + HOUR_MS * np.arange(n), "open": close - 0.5, "high": close + 1.0,
                         "low": close - 1.0, "close": close, "volume": 10.0 + np.arange(n)})


def _write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "bars.csv") -> Path:
    p = tmp_path / name
    frame.to_csv(p, index=False)
    return p


def _assert_nothing_stored(ws: Workspace) -> None:
    assert ws.store.list_data_versions() == []
    bars_dir = ws.store.data_dir / "bars"
    assert not bars_dir.exists() or list(bars_dir.iterdir()) == []


def test_clean_csv_with_epoch_ms(workspace: Workspace, tmp_path: Path) -> None:
    dv, created = import_file(workspace.store, _write_csv(tmp_path, _bars()), symbol="X/USDT", timeframe="1h")
    assert created and dv.bars == 6 and dv.quality.ok and dv.quality.repairs == []
    assert dv.first == pd.Timestamp(T0, unit="ms", tz="UTC")
    stored = workspace.store.load_bars(dv.id)
    assert stored["close"].tolist() == _bars()["close"].tolist()


def test_newest_first_rows_are_sorted_and_the_repair_listed(workspace: Workspace, tmp_path: Path) -> None:
    frame = _bars().iloc[::-1]
    dv, _ = import_file(workspace.store, _write_csv(tmp_path, frame), symbol="X/USDT", timeframe="1h")
    assert dv.quality.non_monotonic == 5
    assert any("newest-first" in r for r in dv.quality.repairs)
    assert workspace.store.load_bars(dv.id)["time"].is_monotonic_increasing
    # Same bars in the other order are the same data version.
    dv2, created = import_file(workspace.store, _write_csv(tmp_path, _bars(), "sorted.csv"), symbol="X/USDT",
                               timeframe="1h")
    assert dv2.id == dv.id and not created


def test_identical_duplicates_are_dropped_and_listed(workspace: Workspace, tmp_path: Path) -> None:
    frame = pd.concat([_bars(), _bars().iloc[[2]]])
    dv, _ = import_file(workspace.store, _write_csv(tmp_path, frame), symbol="X/USDT", timeframe="1h")
    assert dv.bars == 6 and dv.quality.duplicates_identical == 1
    assert any("identical" in r for r in dv.quality.repairs)


@pytest.mark.parametrize(("mutate", "kind"), [
    (lambda f: pd.concat([f, f.iloc[[3]].assign(close=f["close"].iloc[3] + 0.25)]), "duplicate_conflicting"),
    (lambda f: f.assign(close=f["close"].where(f.index != 2, np.nan)), "nan"),
    (lambda f: f.assign(high=f["high"].where(f.index != 4, f["close"] - 0.1)), "ohlc_inconsistent"),
    (lambda f: f.assign(low=f["low"].where(f.index != 1, -1.0)), "non_positive_price"),
])
def test_broken_rows_refuse_the_import_and_name_examples(workspace: Workspace, tmp_path: Path, mutate, kind) -> None:
    path = _write_csv(tmp_path, mutate(_bars()))
    with pytest.raises(DataQualityError) as err:
        import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
    kinds = {e.kind for e in err.value.report.errors}
    assert kind in kinds
    issue = next(e for e in err.value.report.errors if e.kind == kind)
    assert issue.examples and "row" in issue.examples[0] and "time" in issue.examples[0]
    assert "nothing was stored" in str(err.value)
    _assert_nothing_stored(workspace)


def test_text_in_numeric_column_names_column_and_row(workspace: Workspace, tmp_path: Path) -> None:
    frame = _bars().astype({"volume": object})
    frame.loc[3, "volume"] = "n/a-ish"
    with pytest.raises(DataInputError, match=r"column 'volume'.*row 3: 'n/a-ish'"):
        import_file(workspace.store, _write_csv(tmp_path, frame), symbol="X/USDT", timeframe="1h")
    _assert_nothing_stored(workspace)


def test_empty_file_and_header_only_file(workspace: Workspace, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataInputError, match="empty"):
        import_file(workspace.store, empty, symbol="X/USDT", timeframe="1h")
    header = tmp_path / "header.csv"
    header.write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(DataInputError, match="no rows"):
        import_file(workspace.store, header, symbol="X/USDT", timeframe="1h")
    _assert_nothing_stored(workspace)


def test_missing_column_lists_what_the_file_has(workspace: Workspace, tmp_path: Path) -> None:
    path = _write_csv(tmp_path, _bars().drop(columns=["low"]))
    with pytest.raises(DataInputError, match=r"missing column 'low'.*--map low="):
        import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
    _assert_nothing_stored(workspace)


def test_column_mapping_and_iso_timestamps_with_offsets(workspace: Workspace, tmp_path: Path) -> None:
    frame = _bars()
    utc = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    # The same instants written in +02:00: must land on the same UTC bars.
    frame = frame.assign(timestamp=utc.dt.tz_convert("Europe/Berlin").map(lambda t: t.isoformat()))
    frame = frame.rename(columns={"timestamp": "when", "volume": "qty"})
    dv, _ = import_file(workspace.store, _write_csv(tmp_path, frame), symbol="X/USDT", timeframe="1h",
                        mapping={"time": "when", "volume": "qty"})
    assert workspace.store.load_bars(dv.id)["time"].tolist() == utc.tolist()


def test_parquet_with_naive_timestamps_is_read_as_utc(workspace: Workspace, tmp_path: Path) -> None:
    frame = _bars()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms")  # naive
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    dv, _ = import_file(workspace.store, path, symbol="X/USDT", timeframe="1h")
    assert dv.first == pd.Timestamp(T0, unit="ms", tz="UTC")


def test_wrong_timeframe_is_an_error(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(DataQualityError, match="timeframe_mismatch"):
        import_file(workspace.store, _write_csv(tmp_path, _bars()), symbol="X/USDT", timeframe="4h")
    _assert_nothing_stored(workspace)


def test_failed_file_write_leaves_no_catalog_row(workspace: Workspace, tmp_path: Path) -> None:
    blocker = workspace.store.data_dir / "bars"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")  # the Parquet write must fail, whoever runs the test
    with pytest.raises(OSError):
        import_file(workspace.store, _write_csv(tmp_path, _bars()), symbol="X/USDT", timeframe="1h")
    assert workspace.store.list_data_versions() == []
    blocker.unlink()
    dv, created = import_file(workspace.store, _write_csv(tmp_path, _bars()), symbol="X/USDT", timeframe="1h")
    assert created and workspace.store.load_bars(dv.id).shape[0] == 6
