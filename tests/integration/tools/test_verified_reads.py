"""Tool reads verify before they answer: an edited archive row, pattern entry or iteration-state number comes
back marked unverified, without its numbers; a record's signature pins the run's artifacts and data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from auraquant.cta.governance import memory as gmem
from auraquant.cta.governance.archive import Archive
from auraquant.cta.tools import state

from .conftest import Lab


@contextmanager
def _edited(lab: Lab, sql: str, args: list, undo: str, undo_args: list) -> Iterator[None]:
    """Apply an edit to the shared lab store for the duration of the block, then restore it."""
    with lab.ws.store.transaction() as con:
        con.execute(sql, args)
    try:
        yield
    finally:
        with lab.ws.store.transaction() as con:
            con.execute(undo, undo_args)


def _body(lab: Lab, record_id: str) -> str:
    with lab.ws.store.connect() as con:
        return con.execute("SELECT body FROM archive_records WHERE id = ?", [record_id]).fetchone()[0]


def test_candidates_pin_the_run_artifacts_and_the_data(lab: Lab) -> None:
    rec = Archive(lab.ws.store, lab.ws.aura).get(lab.ids["record"]).record
    run = lab.ids["run"]
    assert {f".aura/artifacts/runs/{run}/{n}" for n in ("oos_equity.parquet", "oos_trades.parquet", "result.json",
                                                         "reports.json", "selection.parquet", "trials.parquet")} \
        | {f"store:run/{run}", f"store:run_result/{run}", f"data:{lab.ids['dv']}"} == set(rec.artifacts)
    assert rec.artifacts[f"data:{lab.ids['dv']}"] == rec.data_hash


def test_an_edited_record_row_reaches_the_agent_without_numbers(lab: Lab) -> None:
    rid = lab.ids["record"]
    original = _body(lab, rid)
    edited = json.loads(original)
    edited["metrics"]["sharpe"] = 7.5
    with _edited(lab, "UPDATE archive_records SET body = ? WHERE id = ?", [json.dumps(edited), rid],
                 "UPDATE archive_records SET body = ? WHERE id = ?", [original, rid]):
        row = next(r for r in lab.ok("archive_list", {}) if r.record_id == rid)
        assert (row.verified, row.metrics, row.holdout) == (False, {}, None) and "altered" in row.reason
        detail = lab.ok("archive_show", {"record_id": rid})
        assert detail.verified is False and detail.record is None and "differs" in detail.reason
        stored = lab.ok("pattern_store", {"record_id": rid})
        assert stored.stored is False and stored.reason.startswith("UNVERIFIED")
    row = next(r for r in lab.ok("archive_list", {}) if r.record_id == rid)
    assert row.verified is True and row.metrics["sharpe"] is not None


def test_an_edited_pattern_entry_is_unverified(lab: Lab) -> None:
    rid = lab.ids["record"]
    rec = Archive(lab.ws.store, lab.ws.aura).get(rid).record
    key = gmem.pattern_key(rec.family)
    fake = {"family": rec.family, "best": {"record_id": rid, "sharpe": 3.1},
            "records": {rid: {**json.loads(json.dumps(gmem._entry(rec))), "sharpe": 3.1}}}
    with _edited(lab, "INSERT OR REPLACE INTO memory VALUES (?, ?, ?, now())",
                 [gmem.NS_PATTERNS, key, json.dumps(fake)],
                 "DELETE FROM memory WHERE namespace = ? AND key = ?", [gmem.NS_PATTERNS, key]):
        hits = lab.ok("memory_search", {"namespace": "patterns", "query": rec.family})
        hit = next(h for h in hits if h["key"] == key)
        assert hit["verified"] is False and "differs from the signed record" in hit["reason"] and "value" not in hit
    # A genuine entry (written from the signed record) verifies.
    genuine = {"family": rec.family, "best": {"record_id": rid, "sharpe": rec.metrics["sharpe"]},
               "records": {rid: json.loads(json.dumps(gmem._entry(rec)))}}
    with _edited(lab, "INSERT OR REPLACE INTO memory VALUES (?, ?, ?, now())",
                 [gmem.NS_PATTERNS, key, json.dumps(genuine)],
                 "DELETE FROM memory WHERE namespace = ? AND key = ?", [gmem.NS_PATTERNS, key]):
        hit = next(h for h in lab.ok("memory_search", {"namespace": "patterns"}) if h["key"] == key)
        assert hit["verified"] is True and hit["value"] == genuine


def test_an_edited_iteration_state_number_is_unverified(lab: Lab) -> None:
    lab.ok("iter_state_update", {"iter": 1, "max_iters": 10, "goal": "g",
                                 "tried": [{"label": "ema", "evaluation_id": lab.ids["run"]}]})
    shown = lab.ok("iter_state_show", {})
    assert shown.verified is True and shown.block.startswith("<ITER_STATE>")
    body = lab.ws.store.memory_get(state.ITER_STATE, "current")
    original = json.dumps(body, sort_keys=True)
    body["tried"][0]["sharpe"] = 9.9
    with _edited(lab, "UPDATE memory SET body = ? WHERE namespace = ? AND key = 'current'",
                 [json.dumps(body), state.ITER_STATE],
                 "UPDATE memory SET body = ? WHERE namespace = ? AND key = 'current'", [original, state.ITER_STATE]):
        shown = lab.ok("iter_state_show", {})
        assert shown.verified is False and shown.block.startswith("UNVERIFIED") and "9.9" not in shown.block


@pytest.fixture(autouse=True)
def _lab_stays_verified(lab: Lab) -> Iterator[None]:
    yield
    assert Archive(lab.ws.store, lab.ws.aura).verify(lab.ids["record"]).ok  # every edit above was undone
