"""Create (or complete) a workspace: `.aura/` (config, keys, store, data), the agent's editable layers and
the demo data.

`init_workspace` is idempotent: a second run keeps every file and all state and reports what already existed.
It refuses a non-empty directory that is not already a workspace (unless `force`), so it never scatters files
into a directory it did not create. Templates come from package data, so it works from an installed wheel.
It seeds domain state (significance gates, the witness key, demo bars), so it lives in `auraquant.cta` above the
data, experiment and governance packages, apart from `auraquant.workspace`, which every layer imports.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from auraquant import __version__
from auraquant.workspace import MARKER, Workspace, WorkspaceRefused

DEMO_SYMBOL = "SYNTH/USDT"
DEMO_TIMEFRAME = "1h"
DEMO_BARS = 17_520  # two years of hourly bars
DEMO_SEED = 7

_DEFAULT_MODELS = {
    "default": "offline",
    "profiles": {
        "offline": {"provider": "offline", "model": "autopilot"},
        "claude": {"provider": "anthropic", "model": "claude-sonnet-4-5", "api_key_env": "ANTHROPIC_API_KEY"},
        "openai": {"provider": "openai", "model": "gpt-4.1", "api_key_env": "OPENAI_API_KEY"},
    },
}


@dataclass
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    existed: list[str] = field(default_factory=list)
    demo_data_version: str | None = None


def _copy_tree(src: Traversable, dst: Path, rel: str, result: InitResult) -> None:
    """Copy a template tree, never overwriting a file that exists (the user's edits win)."""
    if src.is_dir():
        for child in sorted(src.iterdir(), key=lambda c: c.name):
            _copy_tree(child, dst / child.name, f"{rel}/{child.name}", result)
        return
    if dst.exists():
        result.existed.append(rel)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fh, open(dst, "wb") as out:
        shutil.copyfileobj(fh, out)
    result.created.append(rel)


_RUNTIME_README = """# cta_runtime/ — this workspace's own strategy modules

Agent-written (or hand-written) modules live here, one file per module: `baselines/`, `filters/`,
`executions/`, `risks/`. They are validated before they run (AST allow-list, look-ahead check).
The built-in modules ship inside the `auraquant` package and are not copied here, so an upgrade never
leaves stale copies behind; `module_list` / `module_show` (or `auraquant backtest --help`) list them.
A module here may not reuse a built-in's name.
"""


def _write_once(path: Path, rel: str, text: Callable[[], str], result: InitResult) -> None:
    """Write `text()` to `path` unless it exists (the user's edits win); record it under `rel`."""
    if path.exists():
        result.existed.append(rel)
        return
    path.write_text(text())
    result.created.append(rel)


def _make_runtime_dirs(runtime: Path, result: InitResult) -> None:
    """Empty module folders plus a README; built-ins stay in the package (see _RUNTIME_README)."""
    for kind in ("baselines", "filters", "executions", "risks"):
        d = runtime / kind
        (result.existed if d.is_dir() else result.created).append(f"cta_runtime/{kind}/")
        d.mkdir(parents=True, exist_ok=True)
    _write_once(runtime / "README.md", "cta_runtime/README.md", lambda: _RUNTIME_README, result)


def _models_example() -> str:
    """The runtime's example profiles, found without importing `aura` (init must not depend on it loading)."""
    spec = importlib.util.find_spec("aura")
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            example = Path(base) / "config" / "models.json.example"
            if example.is_file():
                return example.read_text()
    return json.dumps(_DEFAULT_MODELS, indent=2) + "\n"


def init_workspace(path: str | Path, *, force: bool = False, demo_data: bool = True) -> InitResult:
    """Create (or complete) a workspace at `path`. See the module docstring for the rules."""
    root = Path(path).resolve()
    marker = root / ".aura" / MARKER
    if root.exists() and not root.is_dir():
        raise WorkspaceRefused(f"{root} exists and is not a directory")
    if root.exists() and not marker.exists() and any(root.iterdir()) and not force:
        raise WorkspaceRefused(
            f"{root} is not empty and not an AuraQuant workspace; choose an empty or new directory "
            f"(or pass --force to add a workspace to it)")
    result = InitResult(root=root)
    for d in ("config", "keys", "data", "artifacts", "sessions"):
        p = root / ".aura" / d
        (result.existed if p.is_dir() else result.created).append(f".aura/{d}/")
        p.mkdir(parents=True, exist_ok=True)
    if marker.exists():
        result.existed.append(f".aura/{MARKER}")
    else:
        # `workspace_id` keys this workspace's entries in the user config dir (governance.userconfig).
        marker.write_text(json.dumps({"format": 1, "created_at": datetime.now(UTC).isoformat(),
                                      "created_by": f"auraquant {__version__}",
                                      "workspace_id": uuid.uuid4().hex}, indent=2) + "\n")
        result.created.append(f".aura/{MARKER}")

    _write_once(root / ".aura" / "config" / "models.json", ".aura/config/models.json", _models_example, result)

    def gates_json() -> str:  # significance gates; edit to change them (gates.py)
        # Domain modules load inside the function: `auraquant init` should not pay for what it does not use.
        from auraquant.cta.experiment.gates import default_gates_json
        return default_gates_json()

    _write_once(root / ".aura" / "config" / "gates.json", ".aura/config/gates.json", gates_json, result)

    from auraquant.cta.governance.keys import ensure_witness_key
    _, key_created = ensure_witness_key(root / ".aura")
    (result.created if key_created else result.existed).append(".aura/keys/witness.ed25519")

    templates = resources.files("auraquant.templates")
    _copy_tree(templates.joinpath("AGENTS.md"), root / "AGENTS.md", "AGENTS.md", result)
    _copy_tree(templates.joinpath("agent"), root / "agent", "agent", result)
    _copy_tree(templates.joinpath("skills"), root / "skills", "skills", result)
    _make_runtime_dirs(root / "cta_runtime", result)

    ws = Workspace(root)
    existed_db = ws.store.db_path.exists()
    ws.store.schema_version()
    (result.existed if existed_db else result.created).append(".aura/store.duckdb")
    if demo_data:
        from auraquant.cta.data.service import synth
        dv, created = synth(ws.store, symbol=DEMO_SYMBOL, timeframe=DEMO_TIMEFRAME, n=DEMO_BARS, seed=DEMO_SEED)
        result.demo_data_version = dv.id
        (result.created if created else result.existed).append(f"demo data {dv.id}")
    return result
