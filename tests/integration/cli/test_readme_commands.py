"""The README's commands run, so the README cannot drift from the CLI.

Every `auraquant …` command in a fenced shell block of README.md is parsed against the real command tree
(unknown commands or options, bad values and missing arguments fail here), and, unless listed in `NOT_RUN`
with the reason, executed in order in a temporary directory (`cd` carries over) with an `auraquant` on PATH
that is this checkout, and must exit 0. `make` lines and environment setup are skipped (they bootstrap the
environment this test already runs in).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup

from auraquant.cli import app

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"

#: commands parsed but not executed, by their leading words, with why
NOT_RUN = {
    "auraquant research": "an autopilot research run on BTC/USDT needs market data fetched from the network",
    "auraquant chat": "interactive (its key-less path is driven in a pty by test_chat_transcript.py)",
}
#: lines that set up the environment, not the CLI
SKIPPED_PREFIXES = ("make ", "source ", "pip ", "python ")


def fenced_shell_lines(text: str) -> list[str]:
    """The command lines of the ```bash / ```sh / ```shell / ```console blocks, comments removed."""
    lines: list[str] = []
    for block in re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, flags=re.S | re.M):
        for raw in block.splitlines():
            line = re.sub(r"\s+#.*$", "", raw).strip()
            if line and not line.startswith("#"):
                lines.append(line.removeprefix("$ "))
    return lines


def _words(line: str) -> list[str]:
    lex = shlex.shlex(line, posix=True, punctuation_chars="&|;><")
    lex.whitespace_split = True
    return list(lex)


def auraquant_argvs(line: str) -> list[list[str]]:
    """The argv (after `auraquant`) of every `auraquant` command in a line (`&&`-chained, redirects dropped)."""
    out: list[list[str]] = []
    current: list[str] = []
    for word in [*_words(line), "&&"]:
        if word in ("&&", "||", ";", "|", ">", ">>", "<"):
            if current and current[0] == "auraquant":
                out.append(current[1:])
            current = [] if word != ">" else ["(redirect)"]
        elif current != ["(redirect)"]:
            current.append(word)
    return out


def parse_only(argv: list[str]) -> None:
    """Resolve `argv` through the real command tree and parse the leaf's parameters (types, choices, required
    ones) without running anything. Raises the CLI's usage error on any mismatch."""
    def rest_of(ctx: ClickContext) -> list[str]:  # what a group left for its sub-command
        return [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]

    cmd = typer.main.get_command(app)
    ctx: ClickContext = cmd.make_context("auraquant", list(argv))
    while isinstance(cmd, TyperGroup):
        args = rest_of(ctx)
        assert args, f"{argv} names a group, not a command"
        name, sub, rest = cmd.resolve_command(ctx, args)
        assert sub is not None and name is not None, argv
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub


LINES = fenced_shell_lines(README.read_text(encoding="utf-8"))
COMMANDS = [argv for line in LINES for argv in auraquant_argvs(line)]


def test_the_readme_has_commands() -> None:
    assert len(COMMANDS) >= 10, COMMANDS
    assert any(a[:1] == ["backtest"] and "--spec" in a for a in COMMANDS)  # the command that once drifted


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a)[:60] for a in COMMANDS])
def test_every_readme_command_parses(argv: list[str]) -> None:
    parse_only(argv)


@pytest.mark.slow
def test_the_readme_commands_run(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "auraquant"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m auraquant "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AURAQUANT_DEBUG"}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT), HOME=str(tmp_path),
               COLUMNS="100")
    cwd = tmp_path / "work"
    cwd.mkdir()
    ran = 0
    for line in LINES:
        if line.startswith(SKIPPED_PREFIXES):
            continue
        for part in (p.strip() for p in line.split("&&")):
            if part.startswith("cd "):
                cwd = cwd / shlex.split(part)[1]
                assert cwd.is_dir(), part
                continue
            if any(part.startswith(prefix) for prefix in NOT_RUN):
                continue
            res = subprocess.run(["bash", "-c", part], cwd=cwd, env=env, capture_output=True, text=True,
                                 timeout=600)
            assert res.returncode == 0, f"README command failed: {part}\n{res.stdout[-2000:]}\n{res.stderr}"
            assert "Traceback" not in res.stderr, part
            ran += 1
    assert ran >= 8


@pytest.mark.parametrize("argv", [["backtest", "--no-such-flag"], ["bactest"], ["data", "show"], ["spec"],
                                  ["experiment", "run", "--trials", "many"]])
def test_parse_only_catches_drift(argv: list[str]) -> None:
    """The check the README commands pass is not vacuous: drifted commands fail it."""
    from typer._click.exceptions import UsageError

    with pytest.raises((UsageError, AssertionError)):
        parse_only(argv)
