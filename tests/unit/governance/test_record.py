"""ArchiveRecord identity and validation, goal thresholds, code hashes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from auraquant.cta.governance.record import ArchiveRecord, GoalThresholds, Threshold, code_hashes
from tests.unit.governance.factories import GOAL, make_record, record_body


def test_id_is_the_research_content_not_the_lifecycle() -> None:
    r = make_record()
    later = ArchiveRecord.model_validate({**r.model_dump(), "state": "frozen", "holdout": {"sharpe": 0.9},
                                          "frozen_at": datetime(2026, 4, 1, tzinfo=UTC),
                                          "created_at": datetime(2027, 1, 1, tzinfo=UTC)})
    assert later.id == r.id and r.id.startswith("rec_")
    for change in ({"metrics": {"sharpe": 1.621}}, {"params": {"baseline.window": 56}}, {"data_hash": "e" * 64},
                   {"trial_count": 241}, {"parents": ["rec_x"]}, {"model_id": "gpt-4.1"},
                   {"code_hashes": {"m": "0" * 64}}, {"robustness": {"dsr": 0.5}}):
        assert make_record(**change).id != r.id, change


@pytest.mark.parametrize("bad", [
    {"metrics": {"sharpe": float("nan")}}, {"robustness": {"pbo": float("inf")}},
    {"params": {"n": 2**53}}, {"trial_count": 0}, {"family": "has space"}, {"holdout": {"x": float("-inf")}},
])
def test_values_that_cannot_be_signed_are_refused_at_construction(bad: dict) -> None:
    with pytest.raises(ValidationError):
        ArchiveRecord(**record_body(**bad))


def test_undefined_metrics_are_none_and_safe_ints_pass() -> None:
    r = make_record(metrics={"sharpe": 1.5, "profit_factor": None}, params={"n": 2**53 - 1})
    assert r.metrics["profit_factor"] is None and r.params["n"] == 2**53 - 1


def test_goal_thresholds_are_inclusive_and_missing_metrics_fail() -> None:
    assert GOAL.failures({"sharpe": 1.2, "max_drawdown": -0.15}) == []
    assert GOAL.failures({"sharpe": 1.19, "max_drawdown": -0.2}) == ["max_drawdown=-0.2 < -0.15", "sharpe=1.19 < 1.2"]
    assert GOAL.failures({"sharpe": None}) == ["max_drawdown is missing or undefined", "sharpe is missing or undefined"]
    assert GoalThresholds(thresholds={"turnover": Threshold(max=50)}).failures({"turnover": 51}) == ["turnover=51 > 50"]


def test_code_hashes_of_modules_and_files(tmp_path: Path) -> None:
    f = tmp_path / "mod.py"
    f.write_text("X = 1\n")
    h = code_hashes(["auraquant.canonical", f])
    assert len(h["auraquant.canonical"]) == 64
    assert h[str(f)] == hashlib.sha256(b"X = 1\n").hexdigest()
    f.write_text("X = 2\n")
    assert code_hashes([f])[str(f)] != h[str(f)]
    with pytest.raises(ValueError):
        code_hashes(["auraquant.no_such_module"])
