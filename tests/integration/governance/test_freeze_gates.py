"""The significance gate at freeze (governance side): a record labelled "not significant" is never frozen,
and a failing gate hook refuses before the holdout is read; nothing changes in the store."""

from __future__ import annotations

import pytest

from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.errors import GatesNotMet
from tests.unit.governance.factories import GOAL, make_record

from .helpers import AGENT, HoldoutScorer, dump


def test_a_not_significant_record_is_never_frozen(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(significance={"label": "not significant",
                                                             "failed_gates": "session DSR 0.003 < 0.95"}), GOAL, AGENT)
    before = dump(archive.store)
    scorer = HoldoutScorer()
    with pytest.raises(GatesNotMet, match=r"refusing to freeze rec_\w+: below the significance gates: session DSR"):
        archive.freeze(rec.id, scorer, AGENT)
    assert scorer.calls == [] and dump(archive.store) == before


def test_the_gate_hook_refuses_before_the_holdout_is_read(archive: Archive) -> None:
    rec = archive.submit_candidate(make_record(significance={"label": "significant"}), GOAL, AGENT)
    scorer = HoldoutScorer()
    with pytest.raises(GatesNotMet) as e:
        archive.freeze(rec.id, scorer, AGENT, gates=lambda r: ["session DSR 0.801 < 0.95", "PBO 0.620 > 0.5"])
    assert e.value.failures == ["session DSR 0.801 < 0.95", "PBO 0.620 > 0.5"] and scorer.calls == []
    assert archive.freeze(rec.id, scorer, AGENT, gates=lambda r: []).state == "frozen" and scorer.calls == [rec.id]


def test_records_without_a_significance_block_keep_their_signed_id(archive: Archive) -> None:
    from auraquant.canonical import content_id

    rec = make_record()
    # the body as it was before the ledger (and before buy and hold, absent here as well)
    before = rec.model_dump(mode="json", exclude=set(rec._id_exclude) | {"significance", "buy_and_hold"})
    assert rec.id == content_id("rec", before)
    stored = archive.submit_candidate(rec, GOAL, AGENT)
    assert archive.verify(stored.id).ok and archive.freeze(stored.id, HoldoutScorer(), AGENT).state == "frozen"
