"""Governance integration fixtures: a real workspace (no demo data) and its archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraquant.cta.governance.archive import Archive
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("AURAQUANT_WITNESS_KEY", raising=False)
    init_workspace(tmp_path / "ws", demo_data=False)
    return Workspace.open(tmp_path / "ws")


@pytest.fixture
def archive(ws: Workspace) -> Archive:
    return Archive(ws.store, ws.aura)


@pytest.fixture(autouse=True)
def _own_user_config(fresh_user_config: Path) -> Path:
    """Governance tests each get an empty user config dir (approver keys, pins and checkpoints)."""
    return fresh_user_config
