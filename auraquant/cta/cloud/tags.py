"""How remote resources are tagged as this workspace's, so `cloud doctor` can find what a crash left behind.

Every environment and session AuraQuant creates carries metadata:

- `aq_workspace`: the workspace tag (`workspace_tag`): sha256 of the workspace marker file (which holds the
  creation time), so two workspaces never share a tag and one workspace keeps its tag across moves;
- `aq_role`: `job-env` (an environment) or `job-session` (a session);
- `aq_keep`: on environments, `true` when kept for reuse (not an orphan), else `false`;
- `aq_packages`: on environments, a hash of the pinned packages, so a reused environment always matches;
- `aq_job`: on sessions, the job id; `aq_run`: on sessions, the run id (`<job id>-<8 hex>`, one per attempt).

Uploaded files cannot carry metadata; the backend records them (with their expiry, the session and environment
ids, and its host and pid) in the workspace memory namespace `cloud` under `inflight:<run id>` until cleanup
succeeds. Records are per run, not per job: two runs of one job (concurrent, or one crashed and one retried)
never overwrite each other's list of uploads.
A session whose in-flight record belongs to a live process on this host is `active`, not an orphan.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from auraquant.canonical import sha256_hex

WORKSPACE = "aq_workspace"
ROLE = "aq_role"
KEEP = "aq_keep"
PACKAGES = "aq_packages"
JOB = "aq_job"
RUN = "aq_run"
ROLE_ENV = "job-env"
ROLE_SESSION = "job-session"
MEMORY_NAMESPACE = "cloud"
COST_NAMESPACE = "cost"


def workspace_tag(root: Path | str) -> str:
    """`ws_` + 16 hex chars identifying the workspace at `root` (from its `.aura/workspace.json`)."""
    marker = Path(root) / ".aura" / "workspace.json"
    return "ws_" + sha256_hex(marker.read_bytes())[:16]


def inflight_key(run_id: str) -> str:
    """The memory key (namespace `MEMORY_NAMESPACE`) of one run's in-flight record."""
    return f"inflight:{run_id}"


def owner() -> dict[str, Any]:
    """Who is running a job: this host and process (stored in the in-flight record)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def owner_alive(record: dict[str, Any]) -> bool:
    """True when the process that wrote an in-flight record still runs on this host (then it is not orphaned)."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
