"""Helpers for the governance integration tests: actors, a counting holdout scorer, store dumps."""

from __future__ import annotations

import hashlib
from typing import Any

from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.record import ArchiveRecord
from auraquant.store import Store
from tests.unit.governance.factories import GOAL, make_record

AGENT = Actor.agent("claude-sonnet-4-5")
HUMAN = Actor.human("ana")  # a human label only: decisions need `make_approver()` (the unlocked key)


class HoldoutScorer:
    """A stand-in for the experiment layer's sealed-holdout scorer that counts its calls."""

    def __init__(self, metrics: dict[str, float | None] | None = None) -> None:
        self.calls: list[str] = []
        self.metrics = metrics or {"sharpe": 1.31, "max_drawdown": -0.09}

    def __call__(self, record: ArchiveRecord) -> dict[str, float | None]:
        self.calls.append(record.id)
        return dict(self.metrics)


def frozen_record(archive: Archive, **over: Any) -> ArchiveRecord:
    rec = archive.submit_candidate(make_record(**over), GOAL, AGENT)
    return archive.freeze(rec.id, HoldoutScorer(), AGENT)


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal dumps mean nothing changed."""
    with store.connect() as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables}


def file_digest(store: Store) -> str:
    return hashlib.sha256(store.db_path.read_bytes()).hexdigest()
