"""A workspace: a directory holding `.aura/` (config, keys, store, data, artifacts, sessions) and the agent's
editable layers (`cta_runtime/`, `agent/`, `skills/`, `AGENTS.md`).

`Workspace.open` finds one; creating one is `auraquant.cta.workspace_init.init_workspace`, which sits above the
domain packages it seeds (gates, witness key, demo data), so this module, imported by every layer, imports none.
"""

from __future__ import annotations

from pathlib import Path

from auraquant.errors import UserError
from auraquant.store import Store

MARKER = "workspace.json"


class NotAWorkspace(FileNotFoundError):
    pass


class WorkspaceRefused(UserError, RuntimeError):
    pass


class Workspace:
    """An opened workspace. `store` is the catalog; paths below are derived, nothing is cached."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.aura = root / ".aura"
        self.store = Store(self.aura)

    @classmethod
    def open(cls, path: str | Path = ".") -> Workspace:
        """Open the workspace at `path` or the nearest parent directory that is one."""
        start = Path(path).resolve()
        for d in (start, *start.parents):
            if (d / ".aura" / MARKER).is_file():
                return cls(d)
        raise NotAWorkspace(f"{start} is not inside an AuraQuant workspace; run `auraquant init DIR` first")

    @property
    def artifacts(self) -> Path:
        return self.aura / "artifacts"

    @property
    def sessions(self) -> Path:
        return self.aura / "sessions"

    @property
    def config(self) -> Path:
        return self.aura / "config"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "cta_runtime"
