"""A laboratory for hostile agent modules: a workspace with planted secrets, a canary directory outside it,
a fake user config dir, secrets in the parent environment and a TCP listener on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auraquant.cta.data import synthetic
from auraquant.cta.sandbox.client import POOL
from auraquant.cta.sandbox.policy import bwrap_path, landlock_abi
from auraquant.cta.strategy.bars import Bars, bars_from_frame

SECRETS = {"key": "SECRET-WITNESS-7f3a", "trust": "SECRET-TRUST-91bc", "store": "SECRET-STORE-55de",
           "approver": "SECRET-APPROVER-0c11", "env": "sk-ant-FAKE-SECRET-c0ffee",
           "env2": "AQ-ENV-SECRET-4242", "token": "ghp-FAKE-TOKEN-abcd"}
CLEAN = '''import numpy as np
from auraquant.cta.strategy.protocols import Param


class Clean:
    name = "clean"
    params = {"n": Param(3, "int", 1, 100)}

    def candidates(self, bars, params):
        out = np.zeros(len(bars), dtype=np.int8)
        out[int(params["n"])::50] = 1
        return out


MODULE = Clean()
'''


@dataclass
class Lab:
    root: Path
    ws: Path
    runtime: Path
    key: Path
    trust: Path
    store: Path
    approver: Path
    outside: Path
    listener: socket.socket
    port: int
    bars: Bars
    level: str = ""
    snapshot: dict[str, bytes] = field(default_factory=dict)

    def set_limits(self, **limits: float) -> None:
        marker = self.ws / ".aura" / "workspace.json"
        body = json.loads(marker.read_text())
        body["sandbox"] = {"limits": {"wall_s": 8, "output_bytes": 65536, "file_bytes": 1 << 20,
                                      "memory_bytes": 3 << 30, **limits}}
        marker.write_text(json.dumps(body))

    def protected(self) -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in (self.key, self.trust, self.store, self.approver)}


@pytest.fixture(scope="module")
def lab_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("hostile")
    ws = root / "ws"
    (ws / ".aura" / "keys").mkdir(parents=True)
    (ws / ".aura" / "config").mkdir(parents=True)
    (ws / ".aura" / "workspace.json").write_text(json.dumps({"format": 1}))
    runtime = ws / "cta_runtime"
    for kind in ("baselines", "filters", "executions", "risks"):
        (runtime / kind).mkdir(parents=True)
    (runtime / "baselines" / "clean.py").write_text(CLEAN)
    key = ws / ".aura" / "keys" / "witness.ed25519"
    key.write_text(SECRETS["key"])
    trust = ws / ".aura" / "config" / "trust.json"
    trust.write_text(json.dumps({"keys": [SECRETS["trust"]]}))
    store = ws / ".aura" / "store.duckdb"
    store.write_text(SECRETS["store"])
    approver = root / "userconfig" / "auraquant" / "approver.ed25519"
    approver.parent.mkdir(parents=True)
    approver.write_text(SECRETS["approver"])
    outside = root / "outside"
    outside.mkdir()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    lst.setblocking(False)
    bars = bars_from_frame(synthetic.generate(300, seed=5, timeframe="1h", start="2024-01-01"))
    lab = Lab(root, ws, runtime, key, trust, store, approver, outside, lst, lst.getsockname()[1], bars)
    yield lab
    lst.close()
    POOL.close()


LEVELS = ["bubblewrap", "landlock", "rlimits-only"]


@pytest.fixture(params=LEVELS)
def lab(request: pytest.FixtureRequest, lab_base: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The lab at one confinement level (bubblewrap / landlock skipped with the reason where they cannot
    run), with secrets in the parent's environment that the worker must never see."""
    if request.param == "bubblewrap":
        path, reason = bwrap_path()
        if path is None:
            pytest.skip(f"bubblewrap unavailable: {reason}")
    if request.param == "landlock" and landlock_abi() < 1:
        pytest.skip("Landlock unavailable in this kernel")
    monkeypatch.setenv("AURAQUANT_SANDBOX", request.param)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRETS["env"])
    monkeypatch.setenv("AURAQUANT_WITNESS_KEY", SECRETS["env2"])
    monkeypatch.setenv("GITHUB_TOKEN", SECRETS["token"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(lab_base.approver.parents[1]))
    lab_base.level = request.param
    lab_base.set_limits()
    lab_base.snapshot = lab_base.protected()
    assert not any(k.startswith("_aq_ws_") for k in sys.modules)
    assert os.environ["ANTHROPIC_API_KEY"] == SECRETS["env"]
    return lab_base
