"""The k-th look travels from the holdout score into the record's holdout map and its one-line text."""

from __future__ import annotations

from datetime import UTC, datetime

from auraquant.cta.experiment.holdout import HoldoutScore, holdout_metrics
from auraquant.cta.governance.record import holdout_look_text


def _score(look: int) -> HoldoutScore:
    return HoldoutScore(run_id="run_x", params={"baseline.fast": 5}, holdout_start=datetime(2024, 1, 1, tzinfo=UTC),
                        bars=300, report={"sharpe": 0.4, "trades": 12}, scored_at=datetime.now(UTC), look=look,
                        read_seq=look + 3)


def test_look_in_the_metrics_and_the_text() -> None:
    first, third = holdout_metrics(_score(1)), holdout_metrics(_score(3))
    assert first["holdout_look"] == 1.0 and third["holdout_look"] == 3.0 and third["holdout_read_seq"] == 6.0
    assert holdout_look_text(first) == "holdout look 1: the first read of these sealed bars"
    assert holdout_look_text(third).startswith("holdout look 3: these sealed bars were scored 2 time(s) before")
    assert holdout_look_text(None) == "holdout not scored"
    assert "not recorded" in holdout_look_text({"sharpe": 0.4})  # frozen before looks were counted


def test_a_stored_score_without_look_reads_as_first_look() -> None:
    legacy = {"run_id": "run_x", "params": {}, "holdout_start": "2024-01-01T00:00:00Z", "bars": 3, "report": {},
              "scored_at": "2024-02-01T00:00:00Z"}
    assert HoldoutScore.model_validate(legacy).look == 1
