"""Architecture boundary: `aura` is a general runtime and never imports the trading domain."""

from __future__ import annotations

import ast
from pathlib import Path

AURA = Path(__file__).resolve().parents[3] / "aura"


def test_aura_never_imports_auraquant() -> None:
    offenders = []
    for path in AURA.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.relative_to(AURA)}: {n}" for n in names if n.split(".")[0] == "auraquant"]
    assert list(AURA.rglob("*.py")), "aura package not found"
    assert offenders == []
