"""Fixtures shared by every test: the shared market data folder and fresh workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraquant.workspace import Workspace, init_workspace

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (real Binance bars); tests using it skip cleanly when it is absent."""
    if not (SHARED_DATA / "binance_BTCUSDT_1h_2017-2026.parquet").is_file():
        pytest.skip(f"shared market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def user_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty user config dir (approver key, trust pins, chain checkpoints), so no
    test reads or writes the real ~/.config/auraquant. Subprocesses inherit it through the environment."""
    d = tmp_path_factory.mktemp("user-config")
    monkeypatch.setenv("AURAQUANT_CONFIG_DIR", str(d))
    return d


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace (no demo data: faster, and tests choose their own bars)."""
    init_workspace(tmp_path / "ws", demo_data=False)
    return Workspace.open(tmp_path / "ws")
