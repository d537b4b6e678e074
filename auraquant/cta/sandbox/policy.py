"""Sandbox policy: resource limits, the confinement level in force, and the workspace's requirement.

Levels, strongest first:
- `bubblewrap`: the worker runs under `bwrap` (Debian package `bubblewrap`) in fresh namespaces (no
  network, own PID/IPC/UTS), sees read-only binds of only the Python install, the venv and the AuraQuant
  code plus the module directory, and writes only to a size-capped tmpfs scratch;
- `landlock`: when `bwrap` is unavailable but the kernel offers Landlock: the worker confines itself
  (`landlock.py`) to reading the same code paths and writing only its scratch directory, with TCP refused;
  it keeps the host's namespaces (it can see other processes' ids, not their files);
- `rlimits-only`: the fallback without either. Scrubbed environment, resource limits and (on x86-64) the
  seccomp filter still apply, but the filesystem view is the host's.

`AURAQUANT_SANDBOX` (read in the research process only) forces a level: `auto` (default: the strongest
that works), `bubblewrap` or `landlock` (fail when it does not work), `rlimits-only` (simulates a machine
without OS confinement). A workspace sets `"sandbox": {"require_os_confinement": true}` in
`.aura/workspace.json` to refuse agent modules unless `bubblewrap` or `landlock` is in force, and may
override `"limits"` (field names of `Limits`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from auraquant.cta.sandbox.errors import ConfinementUnavailable

Level = Literal["bubblewrap", "landlock", "rlimits-only"]
BWRAP = "bubblewrap"
LANDLOCK = "landlock"
RLIMITS_ONLY = "rlimits-only"
OS_LEVELS = (BWRAP, LANDLOCK)
ENV_LEVEL = "AURAQUANT_SANDBOX"


@dataclass(frozen=True)
class Limits:
    """Limits of one worker. `wall_s` bounds each request; `cpu_s` the worker's whole life (so a request may
    use at least half of it: a worker past half is replaced before its next request)."""

    wall_s: float = 600.0  # one request, wall clock, enforced by the parent (kill on expiry)
    cpu_s: int = 1200  # RLIMIT_CPU of one worker's life; the parent recycles it past half of that
    memory_bytes: int = 4 * 2**30  # RLIMIT_AS
    file_bytes: int = 16 * 2**20  # RLIMIT_FSIZE (scratch files)
    open_files: int = 64  # RLIMIT_NOFILE
    output_bytes: int = 256 * 2**10  # stdout+stderr of the worker over its life
    reply_bytes: int = 512 * 2**20  # one reply's arrays (the parent also checks exact sizes)
    scratch_bytes: int = 64 * 2**20  # tmpfs size under bubblewrap

    def merged(self, overrides: dict[str, Any]) -> Limits:
        """These limits with the known numeric fields of `overrides` applied (unknown keys are an error)."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown sandbox limits {unknown}; known: {sorted(names)}")
        for k, v in overrides.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise ValueError(f"sandbox limit {k} must be a positive number, got {v!r}")
        return replace(self, **{k: type(getattr(self, k))(v) for k, v in overrides.items()})


@dataclass(frozen=True)
class Policy:
    """What a worker for one workspace must look like."""

    level: Level
    limits: Limits
    require_os_confinement: bool
    reason: str  # why this level (e.g. "bwrap not found on PATH")


def workspace_config(modules_dir: Path | None) -> dict[str, Any]:
    """The `sandbox` section of the workspace owning `modules_dir` (`<root>/cta_runtime`), {} if none."""
    if modules_dir is None:
        return {}
    marker = Path(modules_dir).resolve().parent / ".aura" / "workspace.json"
    if not marker.is_file():
        return {}
    try:
        body = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{marker}: unreadable workspace config ({exc})") from None
    section = body.get("sandbox", {}) if isinstance(body, dict) else {}
    if not isinstance(section, dict):
        raise ValueError(f"{marker}: 'sandbox' must be an object")
    return section


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 = none), probed once."""
    from auraquant.cta.sandbox.landlock import abi_version
    return abi_version() if os.uname().sysname == "Linux" else 0


@functools.cache
def _bwrap_probe(path: str) -> str | None:
    """None when `bwrap` can create the namespaces we use on this host, else the reason it cannot."""
    try:
        r = subprocess.run([path, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
                            "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, timeout=20,
                           env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start ({exc})"
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap cannot create namespaces here ({err[-1] if err else f'exit {r.returncode}'})"
    return None


def bwrap_path() -> tuple[str | None, str]:
    """(path to a working bwrap or None, reason)."""
    path = shutil.which("bwrap")
    if path is None:
        return None, "bwrap not found on PATH (install Debian package 'bubblewrap')"
    problem = _bwrap_probe(path)
    return (None, problem) if problem else (path, f"bubblewrap at {path}")


def resolve(modules_dir: Path | None) -> Policy:
    """The policy for running the agent modules in `modules_dir` (a workspace's `cta_runtime/`)."""
    cfg = workspace_config(modules_dir)
    require = bool(cfg.get("require_os_confinement", False))
    limits = Limits().merged(cfg.get("limits", {}) or {})
    forced = os.environ.get(ENV_LEVEL, "auto").strip().lower() or "auto"
    if forced not in ("auto", BWRAP, LANDLOCK, RLIMITS_ONLY):
        raise ValueError(f"{ENV_LEVEL}={forced!r}; use auto, {BWRAP}, {LANDLOCK} or {RLIMITS_ONLY}")
    level: str = RLIMITS_ONLY
    if forced == RLIMITS_ONLY:
        reason = f"{ENV_LEVEL}={RLIMITS_ONLY}"
    else:
        path, reason = bwrap_path() if forced in ("auto", BWRAP) else (None, f"{ENV_LEVEL}={forced}")
        if path is not None:
            level = BWRAP
        elif forced == BWRAP:
            raise ConfinementUnavailable(f"{ENV_LEVEL}={BWRAP} but {reason}")
        elif landlock_abi() >= 1:
            level, reason = LANDLOCK, f"{reason}; Landlock ABI {landlock_abi()}"
        else:
            if forced == LANDLOCK:
                raise ConfinementUnavailable(f"{ENV_LEVEL}={LANDLOCK} but the kernel offers no Landlock")
            reason = f"{reason}; no Landlock in this kernel"
    if require and level not in OS_LEVELS:
        raise ConfinementUnavailable(
            f"agent modules refused: this workspace requires OS confinement (sandbox.require_os_confinement"
            f" in .aura/workspace.json) but only {RLIMITS_ONLY} is available: {reason}")
    return Policy(level=level, limits=limits, require_os_confinement=require, reason=reason)  # type: ignore[arg-type]
