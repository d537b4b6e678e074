"""Governance unit fixtures: a bare `.aura` directory with a pinned witness key."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraquant.cta.governance.keys import ensure_witness_key


@pytest.fixture
def aura_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AURAQUANT_WITNESS_KEY", raising=False)
    d = tmp_path / ".aura"
    ensure_witness_key(d)
    return d


@pytest.fixture(autouse=True)
def _own_user_config(fresh_user_config: Path) -> Path:
    """Governance tests each get an empty user config dir (approver keys, pins and checkpoints)."""
    return fresh_user_config
