"""The import contracts of `.importlinter` hold on the repo, and each one fails on a real forbidden import.

The forbidden-import cases copy the three packages into a temporary directory, add one import line to one
module of the copy, and run the real `lint-imports` on the copy: the contract that forbids that import must
fail, and the untouched copy must pass (so a failure is the injected line's doing, not the copy's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aura", "auraquant", "cta_runtime")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` on the tree at `root` (its packages first on the path, nothing else of ours)."""
    args = [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache", "--no-logo"]
    for c in contracts:
        args += ["--contract", c]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(root)
    env["COLUMNS"] = "200"  # contract names on one line each
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=60)


def test_the_repo_keeps_every_contract() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
    # Every contract of the file was checked (a contract id typo or a parse error would drop one silently).
    ids = [line.split(":")[-1].rstrip("]") for line in (ROOT / ".importlinter").read_text().splitlines()
           if line.startswith("[importlinter:contract:")]
    assert len(ids) >= 5
    assert f"Contracts: {len(ids)} kept, 0 broken." in out.stdout


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and the contract file (source only) that keeps every contract."""
    root = tmp_path_factory.mktemp("layers")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    clean = _lint(root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    return root


# (module file to add the import to, the import line, the contract it must break)
FORBIDDEN = [
    ("aura/runtime/usage.py", "import auraquant.errors", "aura-standalone"),
    ("aura/tools/registry.py", "from auraquant.cta import tools", "aura-standalone"),
    ("auraquant/cta/data/quality.py", "import auraquant.cta.experiment.gates", "engines-below-research"),
    ("auraquant/cta/backtest/metrics.py", "from auraquant.cta.tools import registry", "engines-below-research"),
    ("auraquant/cta/strategy/spec.py", "import aura.runtime.messages", "engines-below-research"),
    ("auraquant/cta/data/ccxt_source.py", "from aura.providers import build_provider", "engines-below-research"),
    ("auraquant/console.py", "from auraquant.cta.data.ingest import DataInputError", "console-knows-no-domain"),
    ("auraquant/console.py", "import auraquant.store", "console-knows-no-domain"),
    ("auraquant/cta/governance/record.py", "import auraquant.cta.experiment.gates", "cta-layers"),
    ("auraquant/cta/experiment/gates.py", "import auraquant.cta.cloud.errors", "cta-layers"),
    ("auraquant/cta/data/quality.py", "import auraquant.cta.strategy.spec", "cta-layers"),  # `data | strategy`
    ("auraquant/cta/sandbox/wire.py", "import auraquant.cta.governance.errors", "cta-layers"),
    ("auraquant/store.py", "import auraquant.cta.data.models", "acyclic"),
    ("auraquant/workspace.py", "import auraquant.cta.workspace_init", "acyclic"),
    ("aura/runtime/engine.py", "import aura.providers.factory", "acyclic"),
]


@pytest.mark.parametrize(("module", "line", "contract"), FORBIDDEN, ids=[f"{c}:{m}" for m, _, c in FORBIDDEN])
def test_a_forbidden_import_breaks_its_contract(tree: Path, module: str, line: str, contract: str) -> None:
    target = tree / module
    original = target.read_text()
    injected = original + f"\n{line}  # injected by the test\n"
    line_no = injected.splitlines().index(f"{line}  # injected by the test") + 1
    try:
        # Appended at module level, after the module's own code: a real top-level import statement.
        target.write_text(injected)
        broken = _lint(tree, contract)
    finally:
        target.write_text(original)  # the copy keeps every contract again for the next case
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Contracts: 0 kept, 1 broken." in broken.stdout
    if contract == "acyclic":
        assert "No cycles are allowed in" in broken.stdout
    else:  # the report points at the injected line
        assert f"(l.{line_no})" in broken.stdout


def test_aura_runtime_has_no_lazy_exports_and_imports_in_any_order() -> None:
    """The runtime package re-exports eagerly (no module `__getattr__` hiding a cycle), and importing a
    provider first, or the runtime first, both work in a fresh interpreter."""
    import aura.runtime

    assert "__getattr__" not in vars(aura.runtime)
    assert all(name in vars(aura.runtime) for name in aura.runtime.__all__)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for first in ("aura.providers", "aura.runtime.provider", "aura.config"):
        code = f"import {first}\nfrom aura.runtime import AgentEngine\nfrom aura.providers import build_provider"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"import {first} first: {done.stderr}"
