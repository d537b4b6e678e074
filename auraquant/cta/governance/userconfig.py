"""The per-user configuration directory: where governance keeps what the workspace must not control.

Location: `$AURAQUANT_CONFIG_DIR`, else `$XDG_CONFIG_HOME/auraquant`, else `~/.config/auraquant` (mode 0700).
It holds, outside any workspace:
- `approver.ed25519` / `approvers.json`: the human approver key (passphrase-encrypted) and the pinned approver
  public keys, the trust root every workspace's trust list is verified against (`governance.approver`);
- `workspaces/<workspace id>/`: per workspace, the signed chain-head checkpoint (`checkpoint.json`,
  `governance.anchor`) and the digest of the last approver-signed trust list (`trust-pin.json`,
  `governance.keys`).

A process that can only write inside a workspace therefore cannot move the trust root, rewind the checkpoint
or roll the trust list back. Private files here are written 0600 from their first byte; key files readable by
group or others are refused (`check_private_file`), as ssh refuses them.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

from auraquant.cta.governance.errors import KeyManagementError

CONFIG_ENV = "AURAQUANT_CONFIG_DIR"


def config_dir() -> Path:
    """The user config directory (see the module docstring); not created here."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "auraquant"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it 0700: nobody else may list or replace what is inside."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def check_private_file(path: Path, what: str) -> None:
    """Refuse a secret file that group or others can read or write (one line, with the chmod to run)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyManagementError(f"{what} {path} is accessible by group/others (mode {mode:04o}); refusing to "
                                 f"use it. Run `chmod 600 {path}`")


def write_private(path: Path, data: bytes, *, keep_existing: bool = False) -> None:
    """Atomically write `data` with mode 0600 from the first byte (never briefly world-readable).

    `keep_existing`: create only; when `path` already exists (e.g. another process won a race to create the
    same secret) it is left as it is, so every racer ends up reading the one file that won."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if not keep_existing:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Any | None:
    """The parsed JSON at `path`, or None when absent."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def workspace_id(aura_dir: Path) -> str:
    """The workspace's stable id (`workspace_id` in `.aura/workspace.json`), created on first use.

    It keys the workspace's entries in the user config dir. Changing it in workspace.json does not escape
    them: a chain with events but no checkpoint under the new id fails verification.
    """
    marker = Path(aura_dir) / "workspace.json"
    body = read_json(marker) or {}
    wid = body.get("workspace_id")
    if isinstance(wid, str) and wid:
        return wid
    body["workspace_id"] = uuid.uuid4().hex
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        os.replace(tmp, marker)
    finally:
        tmp.unlink(missing_ok=True)
    return str(body["workspace_id"])


def workspace_config(aura_dir: Path) -> Path:
    """`<config dir>/workspaces/<workspace id>/` (not created here)."""
    return config_dir() / "workspaces" / workspace_id(aura_dir)
