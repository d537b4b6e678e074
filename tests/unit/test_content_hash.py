"""The one owner of frame hashes keeps the exact digests that data-version ids, holdout seals, job bundles and
job manifests already carry (golden values computed with the implementations this module replaced)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auraquant.content_hash import bars_content_hash, frame_digest
from auraquant.cta.cloud import runner
from auraquant.store import bars_content_hash as store_bars_content_hash


def _bars() -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    return pd.DataFrame({"time": t, "open": [1.0, 2.0, 3.5, 4.25, 5.0], "high": [1.5, 2.5, 4.0, 4.5, 5.5],
                         "low": [0.5, 1.5, 3.0, 4.0, 4.5], "close": [1.25, 2.25, 3.75, 4.4, 5.1],
                         "volume": [10, 20, 30, 40, 50]})


def _mixed() -> pd.DataFrame:
    return pd.DataFrame({"trial": np.arange(4, dtype=np.int64), "sharpe": [1.5, np.nan, -0.25, np.inf],
                         "time": pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC"),
                         "params": ['{"a":1}', None, '{"a":3}', "x"], "ok": [True, False, True, True],
                         "naive": pd.date_range("2024-01-01", periods=4, freq="min"),
                         "f32": np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)})


BARS_HASH = "c4c6ea23be26f0b20b3f360752fe29bc4124dccdb26229ff544af2d7076ab35a"
MIXED_DIGEST = "28ea5243a697dd4b2d5a50bd11b77a6214f219ff19b10506dc6b9bcf916084a9"
BARS_DIGEST = "0812f088f2c7ecae408da83c8adb3f34076c741488dd3d61bb8119206faea7c9"


def test_digests_are_unchanged() -> None:
    assert bars_content_hash(_bars()) == BARS_HASH
    assert frame_digest(_mixed()) == MIXED_DIGEST
    assert frame_digest(_bars()) == BARS_DIGEST


def test_old_import_paths_are_the_owner() -> None:
    assert store_bars_content_hash is bars_content_hash
    assert runner.frame_digest is frame_digest


def test_bars_hash_ignores_representation_but_not_values() -> None:
    b = _bars()
    # Column order, extra columns, float volume and a non-UTC view of the same instants: same bars, same hash.
    same = b[["volume", "close", "low", "high", "open", "time"]].assign(volume=b["volume"].astype(float), extra=1)
    same["time"] = same["time"].dt.tz_convert("Asia/Tokyo")
    assert bars_content_hash(same) == BARS_HASH
    changed = b.copy()
    changed.loc[2, "close"] = np.nextafter(changed.loc[2, "close"], np.inf)  # one ulp
    assert bars_content_hash(changed) != BARS_HASH
    shifted = b.assign(time=b["time"] + pd.Timedelta(milliseconds=1))
    assert bars_content_hash(shifted) != BARS_HASH


def test_frame_digest_sees_names_dtypes_and_values() -> None:
    m = _mixed()
    assert frame_digest(m.rename(columns={"sharpe": "sortino"})) != MIXED_DIGEST
    assert frame_digest(m.assign(trial=m["trial"].astype(np.int32))) != MIXED_DIGEST
    assert frame_digest(m.assign(params=['{"a":1}', "None", '{"a":3}', "x"])) != MIXED_DIGEST  # None is not "None"
    assert frame_digest(m.assign(time=m["time"] + pd.Timedelta(1, "ns"))) != MIXED_DIGEST
