"""Fast start: `import auraquant.cli`, `--help` and `data list` do not load the heavy stack, and the lazy
command table is the real command set (same names, same one-line help)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auraquant.cli import LAZY_COMMANDS, app
from auraquant.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numba", "scipy", "duckdb", "pandas", "numpy", "pyarrow", "auraquant.cta.backtest.engine", "mcp")

# Reports which heavy modules were *executed* (a module registered by `auraquant.lazy` but never touched does
# not count: its code has not run).
_PROBE = """
import json, sys, types
{body}
loaded = [m for m in {heavy!r} if isinstance(sys.modules.get(m), types.ModuleType)
          and type(sys.modules[m]).__name__ != "_LazyModule"]
print(json.dumps(loaded))
"""


def _executed_heavy(body: str) -> list[str]:
    code = _PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_cli(args: list[str]) -> str:
    return ("import contextlib, io\nfrom auraquant.cli import app\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        app({args!r})\n    except SystemExit as e:\n        assert not e.code, e.code\n")


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _executed_heavy("import auraquant.cli") == []


def test_help_and_version_load_no_heavy_module() -> None:
    assert _executed_heavy(_run_cli(["--help"])) == []
    assert _executed_heavy(_run_cli(["--version"])) == []


def test_data_list_reads_the_catalog_without_pandas_or_the_engine(workspace: Workspace) -> None:
    from auraquant.cta.data.service import synth

    dv, _ = synth(workspace.store, n=300, seed=1)
    loaded = _executed_heavy(_run_cli(["data", "list", "--workspace", str(workspace.root), "--json"]))
    assert "duckdb" in loaded  # the catalog is read for real ...
    assert not set(loaded) & {"pandas", "numpy", "numba", "scipy", "pyarrow", "auraquant.cta.backtest.engine"}
    res = CliRunner().invoke(app, ["data", "list", "--workspace", str(workspace.root), "--json"])
    assert res.exit_code == 0 and [v["id"] for v in json.loads(res.output)] == [dv.id]  # ... and listed


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


@pytest.mark.parametrize("lazy", LAZY_COMMANDS, ids=lambda c: c.name)
def test_lazy_entry_loads_the_real_command_with_the_same_help(lazy) -> None:
    cmd = lazy.load()
    assert cmd.name == lazy.name
    assert _first_paragraph(cmd.help) == " ".join(lazy.help.split())


def test_every_command_an_area_registers_is_in_the_lazy_table() -> None:
    import importlib

    names = set()
    for lazy in LAZY_COMMANDS:
        if lazy.kind == "register":
            holder = typer.Typer()
            getattr(importlib.import_module(lazy.module), lazy.attr)(holder)
            names |= set(typer.main.get_group(holder).commands)
    assert names <= {c.name for c in LAZY_COMMANDS}


def test_help_lists_every_command_and_runs_them_lazily() -> None:
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for lazy in LAZY_COMMANDS:
        assert f" {lazy.name} " in res.output
    assert "init" in res.output and "--version" in res.output
    sub = CliRunner().invoke(app, ["data", "--help"], env={"COLUMNS": "200"})
    assert sub.exit_code == 0 and "list" in sub.output and "import" in sub.output


def test_a_bare_group_prints_its_help_once() -> None:
    res = CliRunner().invoke(app, ["data"], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and " list " in res.stdout and res.stderr == ""
