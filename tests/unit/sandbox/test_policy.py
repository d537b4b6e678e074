"""Confinement level selection, the workspace requirement, limit overrides and the scrubbed environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auraquant.cta.sandbox import policy
from auraquant.cta.sandbox.client import scrubbed_env
from auraquant.cta.sandbox.errors import ConfinementUnavailable


def _ws(tmp_path: Path, sandbox: dict | None = None) -> Path:
    (tmp_path / ".aura").mkdir()
    body = {"format": 1} | ({"sandbox": sandbox} if sandbox is not None else {})
    (tmp_path / ".aura" / "workspace.json").write_text(json.dumps(body))
    (tmp_path / "cta_runtime").mkdir()
    return tmp_path / "cta_runtime"


def test_forced_fallback_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURAQUANT_SANDBOX", "rlimits-only")
    pol = policy.resolve(_ws(tmp_path))
    assert pol.level == "rlimits-only" and "AURAQUANT_SANDBOX" in pol.reason


def test_missing_bwrap_falls_back_unless_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("AURAQUANT_SANDBOX", raising=False)
    runtime = _ws(tmp_path)
    pol = policy.resolve(runtime)
    # without bwrap: Landlock when the kernel has it, else the rlimits-only fallback; the reason says why
    assert pol.level == ("landlock" if policy.landlock_abi() >= 1 else "rlimits-only")
    assert "bwrap not found" in pol.reason
    monkeypatch.setenv("AURAQUANT_SANDBOX", "bubblewrap")
    with pytest.raises(ConfinementUnavailable, match="bwrap not found"):
        policy.resolve(runtime)
    monkeypatch.setattr(policy, "landlock_abi", lambda: 0)
    monkeypatch.setenv("AURAQUANT_SANDBOX", "auto")
    assert policy.resolve(runtime).level == "rlimits-only"
    monkeypatch.setenv("AURAQUANT_SANDBOX", "landlock")
    with pytest.raises(ConfinementUnavailable, match="no Landlock"):
        policy.resolve(runtime)


def test_workspace_can_require_os_confinement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = _ws(tmp_path, {"require_os_confinement": True})
    monkeypatch.setenv("AURAQUANT_SANDBOX", "rlimits-only")
    with pytest.raises(ConfinementUnavailable, match="require_os_confinement"):
        policy.resolve(runtime)
    if policy.landlock_abi() >= 1:
        monkeypatch.setenv("AURAQUANT_SANDBOX", "landlock")
        assert policy.resolve(runtime).level == "landlock"  # Landlock is OS confinement too
    monkeypatch.delenv("AURAQUANT_SANDBOX")
    if policy.bwrap_path()[0] is None:
        pytest.skip("bubblewrap unavailable here")
    assert policy.resolve(runtime).level == "bubblewrap"


def test_limit_overrides_are_checked(tmp_path: Path) -> None:
    pol = policy.resolve(_ws(tmp_path, {"limits": {"wall_s": 5, "memory_bytes": 2**30}}))
    assert pol.limits.wall_s == 5.0 and pol.limits.memory_bytes == 2**30
    with pytest.raises(ValueError, match="unknown sandbox limits"):
        policy.Limits().merged({"walls": 1})
    with pytest.raises(ValueError, match="positive"):
        policy.Limits().merged({"wall_s": -1})


def test_worker_environment_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("AURAQUANT_WITNESS_KEY", "x")
    monkeypatch.setenv("MY_TOKEN_FILE", "/k")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = scrubbed_env("/scratch", "/scratch/.numba")
    assert env["HOME"] == "/scratch" and env["LANG"] == "C.UTF-8"
    assert not [k for k in env if "KEY" in k or "TOKEN" in k or k.startswith("AURAQUANT")]
    assert "sk-secret" not in env.values()
