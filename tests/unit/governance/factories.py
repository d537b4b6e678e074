"""Record factories shared by the governance tests (plain functions, importable from unit and integration)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auraquant.cta.governance.approver import (
    ApproverSigner,
    approver_key_path,
    init_approver,
    unlock_approver,
)
from auraquant.cta.governance.record import ArchiveRecord, GoalThresholds, Threshold

GOAL = GoalThresholds(thresholds={"sharpe": Threshold(min=1.2), "max_drawdown": Threshold(min=-0.15)})


def record_body(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "spec_id": "spec_0a1b2c", "spec_hash": "5" * 64, "data_version_id": "dv_0123456789",
        "data_hash": "d" * 64, "run_id": "run_42", "family": "donchian_breakout",
        "code_hashes": {"cta_runtime.baselines.donchian_breakout": "c" * 64},
        "params": {"baseline.window": 55, "execution.atr_mult": 2.5, "risk.mode": "vol_target", "short": True},
        "metrics": {"sharpe": 1.62, "max_drawdown": -0.121, "ann_return": 0.31, "profit_factor": None},
        "robustness": {"dsr": 0.97, "pbo": 0.12}, "trial_count": 240, "parents": [],
        "model_id": "claude-sonnet-4-5", "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }
    base.update(over)
    return base


def make_record(**over: Any) -> ArchiveRecord:
    return ArchiveRecord(**record_body(**over))


def record_json(**over: Any) -> dict[str, Any]:
    """The JSON-mode body of a record (what gets signed)."""
    return make_record(**over).model_dump(mode="json")


APPROVER_PASSPHRASE = "correct horse battery staple"


def make_approver(name: str = "ana") -> ApproverSigner:
    """Create the approver key in the (test's own) user config dir and unlock it."""
    if not approver_key_path().exists():
        init_approver(name, APPROVER_PASSPHRASE, now=datetime.now(UTC))
    return unlock_approver(APPROVER_PASSPHRASE)


def passphrase_file(directory: Path, text: str = APPROVER_PASSPHRASE) -> Path:
    """A 0600 file holding `text` (what `--passphrase-file` reads)."""
    path = Path(directory) / "approver.pass"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path
