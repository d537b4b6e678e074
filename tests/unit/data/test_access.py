"""The data access layer: content seals, the reader rules, quality examples and the audited holdout read."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.data import access
from auraquant.cta.data.models import DataSlice
from auraquant.cta.data.service import ingest_frame, make_slice
from auraquant.cta.data.synthetic import generate
from auraquant.workspace import Workspace

N = 600


def _bars(seed: int = 1, n: int = N, start: str = "2022-01-01") -> pd.DataFrame:
    return generate(n, seed=seed, start=start)


def _ingest(ws: Workspace, bars: pd.DataFrame, symbol: str = "A/USDT") -> str:
    return ingest_frame(ws.store, bars, symbol=symbol, timeframe="1h", source="test")[0].id


def test_fingerprints_hash_prices_not_time_and_skip_flat_bars() -> None:
    bars = _bars()
    keys, usable = access.bar_fingerprints(bars)
    shifted, _ = access.bar_fingerprints(bars.assign(time=bars["time"] + pd.Timedelta(days=3), volume=1.0))
    assert np.array_equal(keys, shifted) and usable.all()
    assert len(np.unique(keys)) == len(bars)
    nudged = bars.copy()
    nudged.loc[5, "close"] = np.nextafter(nudged.loc[5, "close"], np.inf)  # one ulp is another bar
    assert (access.bar_fingerprints(nudged)[0] != keys).sum() == 1
    flat = bars.copy()
    flat.loc[7, ["open", "high", "low", "close"]] = 100.0
    assert not access.bar_fingerprints(flat)[1][7]


def test_research_bars_rules(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    store = workspace.store
    assert len(access.research_bars(store, dv)) == N and access.holdout_of(store, dv) is None
    hs = bars["time"].iloc[500]
    access.declare_holdout(store, dv, hs, declared_by="test")
    assert access.holdout_start(store, dv) == hs
    assert access.research_bars(store, dv)["time"].max() < hs and len(access.research_bars(store, dv)) == 500
    assert len(access.research_bars(store, dv, end=hs)) == 500
    with pytest.raises(access.HoldoutSealed, match="holdout sealed"):
        access.research_bars(store, dv, end=hs + pd.Timedelta(hours=1))
    with pytest.raises(access.HoldoutSealed):
        access.research_bars(store, dv, start=hs)
    assert "\n" not in str(pytest.raises(access.HoldoutSealed, access.research_bars, store, dv, hs).value)



@pytest.mark.parametrize("via", ["declaration", "slice"])
def test_a_start_inside_a_bar_seals_from_the_next_bar_open(workspace: Workspace, via: str) -> None:
    """A holdout declared at a time inside a bar (e.g. 80% of the time span) starts at the first bar opening at
    or after it: the bars before that one are all readable, with an exclusive end at the first sealed bar."""
    bars = _bars()
    dv = _ingest(workspace, bars)
    store = workspace.store
    first_sealed = bars["time"].iloc[500]
    inside = bars["time"].iloc[499] + pd.Timedelta(minutes=48, seconds=8)
    if via == "declaration":
        access.declare_holdout(store, dv, inside, declared_by="test")
    else:
        make_slice(store, dv, start=inside.to_pydatetime(), role="holdout")
    assert access.holdout_start(store, dv) == first_sealed
    assert len(access.research_bars(store, dv, end=first_sealed)) == 500
    with pytest.raises(access.HoldoutSealed):
        access.research_bars(store, dv, end=first_sealed + pd.Timedelta(minutes=1))

def test_declaration_is_idempotent_and_must_leave_bars_on_both_sides(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    a = access.declare_holdout(workspace.store, dv, bars["time"].iloc[450], declared_by="x")
    b = access.declare_holdout(workspace.store, dv, bars["time"].iloc[450], declared_by="y")
    assert a == b and a.sealed_bars == 150 and len(workspace.store.list_holdouts()) == 1
    with pytest.raises(ValueError, match="seal all the data"):
        access.declare_holdout(workspace.store, dv, bars["time"].iloc[0], declared_by="x")
    with pytest.raises(ValueError, match="holds no bar"):
        access.declare_holdout(workspace.store, dv, bars["time"].iloc[-1] + pd.Timedelta(hours=1), declared_by="x")
    # a later declaration does not unseal anything; an earlier one extends the seal
    access.declare_holdout(workspace.store, dv, bars["time"].iloc[550], declared_by="x")
    assert access.holdout_start(workspace.store, dv) == bars["time"].iloc[450]
    access.declare_holdout(workspace.store, dv, bars["time"].iloc[400], declared_by="x")
    assert access.holdout_start(workspace.store, dv) == bars["time"].iloc[400]


def test_seal_follows_the_content(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    hs = bars["time"].iloc[480]
    access.declare_holdout(workspace.store, dv, hs, declared_by="test")
    same = _ingest(workspace, bars, "B/USDT")
    assert access.holdout_of(workspace.store, same).reason == "declared"  # type: ignore[union-attr]
    superset = _ingest(workspace, pd.concat([bars, _bars(9, 50, str(bars["time"].iloc[-1] + pd.Timedelta(hours=1)))],
                                            ignore_index=True), "C/USDT")
    assert access.holdout_start(workspace.store, superset) == hs
    tail = _ingest(workspace, bars.iloc[520:].reset_index(drop=True), "D/USDT")  # holdout bars only
    assert access.holdout_start(workspace.store, tail) == bars["time"].iloc[520]
    with pytest.raises(access.HoldoutSealed):
        access.research_bars(workspace.store, tail)
    unrelated = _ingest(workspace, _bars(seed=2), "E/USDT")
    assert access.holdout_of(workspace.store, unrelated) is None


def test_a_legacy_holdout_slice_still_seals(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    hs = bars["time"].iloc[500].to_pydatetime()
    end = (bars["time"].iloc[-1] + pd.Timedelta(hours=1)).to_pydatetime()
    workspace.store.put_data_slice(DataSlice(data_version_id=dv, start=hs, end=end, role="holdout", bars=100,
                                             created_at=datetime.now(UTC)))
    seal = access.holdout_of(workspace.store, dv)
    assert seal is not None and seal.start == pd.Timestamp(hs)
    assert [h.declared_by for h in workspace.store.list_holdouts()] == ["holdout slice (migrated)"]
    assert access.holdout_start(workspace.store, _ingest(workspace, bars, "B/USDT")) == pd.Timestamp(hs)


def test_make_slice_declares_and_refuses(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    hs = bars["time"].iloc[500].to_pydatetime()
    with pytest.raises(ValueError, match="final segment"):
        make_slice(workspace.store, dv, start=hs, end=bars["time"].iloc[550].to_pydatetime(), role="holdout")
    ds = make_slice(workspace.store, dv, start=hs, role="holdout")
    assert ds.bars == 100 and workspace.store.list_holdouts()[0].declared_by == "data slice"
    with pytest.raises(access.HoldoutSealed):
        make_slice(workspace.store, dv, role="full")
    assert make_slice(workspace.store, dv, end=hs, role="full").bars == 500


def test_unsealed_frame(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    assert access.unsealed_frame(workspace.store, bars, "f") is bars  # nothing declared yet
    access.declare_holdout(workspace.store, dv, bars["time"].iloc[500], declared_by="t")
    assert len(access.unsealed_frame(workspace.store, bars, "f")) == 500
    assert len(access.unsealed_frame(None, bars, "f")) == N
    with pytest.raises(access.HoldoutSealed, match="file.csv"):
        access.unsealed_frame(workspace.store, bars, "file.csv", refuse=True)
    with pytest.raises(access.HoldoutSealed):
        access.unsealed_frame(workspace.store, bars.iloc[500:], "f")
    other = _bars(seed=3)
    assert access.unsealed_frame(workspace.store, other, "f") is other


def test_visible_quality_drops_holdout_examples(workspace: Workspace) -> None:
    bars = _bars()
    bars.loc[[10, 520, 590], "volume"] = 0.0
    dv_id = _ingest(workspace, bars)
    dv = workspace.store.get_data_version(dv_id)
    rows = [e["row"] for e in dv.quality.warnings[0].examples]
    assert rows == [10, 520, 590]
    access.declare_holdout(workspace.store, dv_id, bars["time"].iloc[500], declared_by="t")
    q = access.visible_quality(workspace.store, dv)
    assert [e["row"] for e in q.warnings[0].examples] == [10] and q.warnings[0].count == 3


def test_read_holdout_is_audited_and_counts_looks_per_content(workspace: Workspace) -> None:
    bars = _bars()
    dv = _ingest(workspace, bars)
    hs = bars["time"].iloc[500]
    access.declare_holdout(workspace.store, dv, hs, declared_by="t")
    got, first = access.read_holdout(workspace.store, dv, hs, reader="test", run_id="run_a")
    assert len(got) == 100 and got["time"].min() == hs and first.look == 1 and first.seq == 1
    again = _ingest(workspace, bars, "Z/USDT")  # the same bars under another symbol: the same holdout content
    _, second = access.read_holdout(workspace.store, again, hs, reader="test", run_id="run_b")
    assert second.look == 2 and second.holdout_ids == first.holdout_ids
    other = _bars(seed=4)
    dv2 = _ingest(workspace, other, "O/USDT")
    access.declare_holdout(workspace.store, dv2, other["time"].iloc[500], declared_by="t")
    _, fresh = access.read_holdout(workspace.store, dv2, other["time"].iloc[500], reader="test")
    assert fresh.look == 1
    assert [r.seq for r in access.holdout_reads(workspace.store)] == [1, 2, 3]


def _resample(bars: pd.DataFrame, rule: str) -> pd.DataFrame:
    g = bars.set_index("time").resample(rule, origin="epoch")
    out = pd.DataFrame({"open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(),
                        "close": g["close"].last(), "volume": g["volume"].sum()}).dropna()
    return out.reset_index()


def test_the_same_market_at_another_timeframe_is_sealed(workspace: Workspace) -> None:
    bars = _bars(n=1200)
    dv = _ingest(workspace, bars)
    hs = bars["time"].iloc[1001]  # 17:00: inside a 4h bucket and a day
    access.declare_holdout(workspace.store, dv, hs, declared_by="t")
    assert access.holdout_start(workspace.store, dv) == hs  # coarser views never move the version's own seal
    coarse = ingest_frame(workspace.store, _resample(bars, "4h"), symbol="A/USDT", timeframe="4h", source="t")[0]
    assert access.holdout_start(workspace.store, coarse.id) == hs.ceil("4h")
    daily = ingest_frame(workspace.store, _resample(bars, "1D"), symbol="A/USDT", timeframe="1d", source="t")[0]
    assert access.holdout_start(workspace.store, daily.id) == hs.ceil("1D")
    # the other way round: a 4h holdout seals the 1h bars it was made of
    other = _bars(seed=6, n=1200)
    dv4 = ingest_frame(workspace.store, _resample(other, "4h"), symbol="B/USDT", timeframe="4h", source="t")[0]
    hs4 = _resample(other, "4h")["time"].iloc[250]
    access.declare_holdout(workspace.store, dv4.id, hs4, declared_by="t")
    fine = _ingest(workspace, other, "B/USDT")
    assert access.holdout_start(workspace.store, fine) == hs4


def test_a_workspace_recreated_at_the_same_path_gets_no_stale_seal(tmp_path) -> None:
    import shutil

    from auraquant.cta.workspace_init import init_workspace

    bars = _bars()
    starts = []
    for cut in (500, 450):
        shutil.rmtree(tmp_path / "ws", ignore_errors=True)
        init_workspace(tmp_path / "ws", demo_data=False)
        ws = Workspace.open(tmp_path / "ws")
        dv = _ingest(ws, bars)  # the same id both times: ids are content addresses
        access.declare_holdout(ws.store, dv, bars["time"].iloc[cut], declared_by="t")
        starts.append(access.holdout_start(ws.store, dv))
    assert starts == [bars["time"].iloc[500], bars["time"].iloc[450]]
