"""Helpers for the research-loop tests: the CLI entry (the root `auraquant` once it mounts the research
commands, `python -m auraquant.cta.research` before) and an initialised workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def research_cli() -> list[str]:
    """argv prefix that runs `research` / `chat` / `demo`."""
    from auraquant import cli

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in cli.app.registered_commands}
    if {"research", "chat"} <= names:
        return [sys.executable, "-m", "auraquant"]
    return [sys.executable, "-m", "auraquant.cta.research"]


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["COLUMNS"] = "200"
    e["PROMPT_TOOLKIT_NO_CPR"] = "1"  # pexpect does not answer cursor-position requests
    return e


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    out = run([sys.executable, "-m", "auraquant", "init", str(ws), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    return ws
