"""`python -m auraquant …`: the same CLI as the `auraquant` command.

`python -m` puts the current directory first on `sys.path`. Inside a workspace that directory holds
the agent's own `cta_runtime/` (and could hold any module name), which would shadow the built-in
packages. So the current directory is dropped from `sys.path` before anything else is imported,
unless it is the directory this package itself was imported from (a source checkout).
"""

import sys
from pathlib import Path


def _drop_cwd_from_path() -> None:
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


_drop_cwd_from_path()

from auraquant.cli import main  # noqa: E402  (after the path fix, on purpose)

main()
