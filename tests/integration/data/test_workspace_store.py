"""Workspace init rules, store schema, concurrency between processes, features cache, and the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.data.service import make_features, make_slice, synth
from auraquant.cta.workspace_init import init_workspace
from auraquant.store import SCHEMA_VERSION, Store, WorkspaceBusy
from auraquant.workspace import Workspace, WorkspaceRefused

ROOT = Path(__file__).resolve().parents[3]


def test_init_is_idempotent_and_keeps_state(tmp_path: Path) -> None:
    first = init_workspace(tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    (ws.root / "AGENTS.md").write_text("my edits\n")
    key = (ws.aura / "keys" / "witness.ed25519").read_bytes()
    assert oct((ws.aura / "keys" / "witness.ed25519").stat().st_mode & 0o777) == "0o600"
    trust = json.loads((ws.aura / "config" / "trust.json").read_text())
    assert len(trust["keys"]) == 1

    second = init_workspace(tmp_path / "ws")
    assert second.created == []
    assert "AGENTS.md" in second.existed and second.demo_data_version == first.demo_data_version
    assert (ws.root / "AGENTS.md").read_text() == "my edits\n"
    assert (ws.aura / "keys" / "witness.ed25519").read_bytes() == key
    assert len(ws.store.list_data_versions()) == 1
    for rel in ("agent/system_prompt.md", "skills/cta-principal-research-loop/SKILL.md", "cta_runtime",
                ".aura/config/models.json", ".aura/store.duckdb"):
        assert (ws.root / rel).exists(), rel


def test_init_refuses_foreign_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(WorkspaceRefused, match="not empty"):
        init_workspace(tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    result = CliRunner().invoke(app, ["init", str(tmp_path / "mine"), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["kind"] == "WorkspaceRefused"


def test_open_finds_the_workspace_from_a_subdirectory(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", demo_data=False)
    (tmp_path / "ws" / "deep" / "er").mkdir(parents=True)
    assert Workspace.open(tmp_path / "ws" / "deep" / "er").root == (tmp_path / "ws").resolve()


def test_schema_version_recorded(workspace: Workspace) -> None:
    assert workspace.store.schema_version() == SCHEMA_VERSION
    with workspace.store.connect() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"schema_meta", "data_versions", "data_slices", "feature_slices", "objects", "memory"} <= tables


_HOLD = """
import sys, time
from auraquant.store import Store
s = Store(sys.argv[1])
with s.connect():
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""

_SYNTH = """
import sys
from auraquant.store import Store
from auraquant.cta.data.service import synth
dv, _ = synth(Store(sys.argv[1]), symbol=sys.argv[2], n=500, seed=int(sys.argv[3]))
print(dv.id)
"""


def test_second_process_waits_then_reports_workspace_busy(workspace: Workspace) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(workspace.aura), "4"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(WorkspaceBusy, match=f"workspace busy.*pid {holder.pid}"):
            with Store(workspace.aura, busy_timeout_s=0.5).connect():
                pass
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0
    with Store(workspace.aura, busy_timeout_s=0.5).connect():  # free again
        pass


def test_two_processes_writing_at_once_both_succeed(workspace: Workspace) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", _SYNTH, str(workspace.aura), f"S{i}/USDT", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    ids = {o[0].strip() for o in outs}
    assert {v.id for v in workspace.store.list_data_versions()} == ids and len(ids) == 2


def test_features_are_cached_by_provenance(workspace: Workspace) -> None:
    dv, _ = synth(workspace.store, n=600, seed=3)
    ds = make_slice(workspace.store, dv.id, role="train")
    fs, values = make_features(workspace.store, ds.id, "ema", {"length": 20})
    path = workspace.store.feature_path(fs.id)
    mtime = path.stat().st_mtime_ns
    fs2, values2 = make_features(workspace.store, ds.id, "ema", {"length": 20})
    assert fs2.id == fs.id and path.stat().st_mtime_ns == mtime
    assert values2.equals(values) and fs.columns == ["EMA_20"] and len(values) == 600
    fs_htf, v_htf = make_features(workspace.store, ds.id, "ema", {"length": 20}, timeframe="4h")
    assert fs_htf.id != fs.id and fs_htf.columns == ["EMA_20@4h"]
    assert v_htf["EMA_20@4h"].iloc[:3].isna().all()


def test_workspace_module_folder_never_shadows_the_builtins(tmp_path: Path) -> None:
    """With the workspace as the working directory it is on sys.path, where its `cta_runtime/` folder is a
    namespace package named like the shipped one; built-ins must still load (regression)."""
    init_workspace(tmp_path / "ws", demo_data=False)
    code = ("from auraquant.cta.strategy.loader import list_modules, load_module; "
            "print(load_module('baselines', 'ema_cross').name, len(list_modules('risks')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "ws", check=True, capture_output=True,
                         text=True).stdout.split()
    assert out[0] == "ema_cross" and int(out[1]) >= 5


@pytest.mark.slow
def test_init_works_from_the_built_wheel(tmp_path: Path) -> None:
    """Templates are package data: a wheel (not the checkout) is enough to create a complete workspace."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("auraquant-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import auraquant, sys; from auraquant.cta.workspace_init import init_workspace; "
            "r = init_workspace(sys.argv[1], demo_data=False); print(auraquant.__file__); print('\\n'.join(r.created))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith(str(site))
    for rel in ("AGENTS.md", "agent/system_prompt.md", "skills/cta-data-operator/SKILL.md"):
        assert rel in out, rel
