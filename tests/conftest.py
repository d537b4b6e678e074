"""Fixtures shared by every test: the shared market data folder and fresh workspaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (real Binance bars); tests using it skip cleanly when it is absent."""
    if not (SHARED_DATA / "binance_BTCUSDT_1h_2017-2026.parquet").is_file():
        pytest.skip(f"shared market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def user_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary user config dir (approver key, trust pins, chain checkpoints) for the whole run, so no test
    reads or writes the real ~/.config/auraquant. Session scope, because session- and module-scoped
    workspaces must find their checkpoints in every test that uses them; entries are per workspace id, so
    workspaces do not interfere. Subprocesses inherit it through the environment. Tests that need an empty
    one (e.g. no approver key yet) use `fresh_user_config`."""
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("user-config")
        mp.setenv("AURAQUANT_CONFIG_DIR", str(d))
        yield d


@pytest.fixture
def fresh_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user config dir for this test alone (no approver key yet)."""
    d = tmp_path_factory.mktemp("user-config")
    monkeypatch.setenv("AURAQUANT_CONFIG_DIR", str(d))
    return d


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace (no demo data: faster, and tests choose their own bars)."""
    init_workspace(tmp_path / "ws", demo_data=False)
    return Workspace.open(tmp_path / "ws")
