"""Keep a workspace's own modules from shadowing the built-in packages under `python -m`.

`python -m auraquant…` puts the current directory first on `sys.path`. Inside a workspace that
directory holds the agent's `cta_runtime/` (and could hold any module name), which would shadow the
built-in `cta_runtime` package and break every command. `drop_cwd_from_path` removes the current
directory from `sys.path` unless it is the directory this package itself was imported from (a
source checkout). The `auraquant` package calls it while `python -m` is still locating the module
(`sys.argv[0] == "-m"`), i.e. before any sub-package imports `cta_runtime`, so every module form
(`python -m auraquant`, `-m auraquant.cta.research`, `-m auraquant.cta.cloud`) is covered. Agent
modules are loaded by path from the workspace, never through `sys.path`, so nothing is lost.
"""

from __future__ import annotations

import sys
from pathlib import Path


def drop_cwd_from_path() -> None:
    cwd = Path.cwd().resolve()
    home = Path(__file__).resolve().parent.parent  # the directory that holds `auraquant/`
    if cwd == home:
        return

    def is_cwd(entry: str) -> bool:
        try:
            return entry in ("", ".") or Path(entry).resolve() == cwd
        except (OSError, ValueError):
            return False

    sys.path[:] = [p for p in sys.path if not is_cwd(p)]


def running_as_module() -> bool:
    """True while `python -m auraquant…` is locating its module (the interpreter sets argv[0] to
    "-m" until the module runs)."""
    return bool(sys.argv) and sys.argv[0] == "-m"
