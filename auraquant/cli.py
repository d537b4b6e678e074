"""The `auraquant` command line. Each domain area contributes a typer sub-app; this module only wires them.

Two properties are owned here:
- **Fast start.** The areas' CLI modules import pandas, numba, scipy and the engine. They are mounted lazily
  (`LAZY_COMMANDS`): `auraquant --help` lists them from the static table below and a command's module is
  imported only when that command runs, so `--help` and `data list` do not pay for the engine.
  `tests/unit/test_cli_lazy.py` checks the table against the real commands and that the import stays light.
- **One-line errors.** `AuraQuantGroup.main` is the single error boundary of every command: usage errors,
  domain errors and unexpected exceptions all end as one line on stderr (or one JSON object on stdout when
  `--json` is on the command line), never a traceback. `--debug` (anywhere on the line) or
  `AURAQUANT_DEBUG=1` lets unexpected errors raise with their traceback instead.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

# typer >= 0.20 vendors click as `typer._click`; its exception classes are the ones commands raise.
from typer._click import exceptions as click_errors
from typer._click.core import Command as ClickCommand
from typer._click.core import Context as ClickContext
from typer._click.formatting import HelpFormatter
from typer.core import TyperCommand, TyperGroup

from auraquant import __version__
from auraquant.console import DEBUG_ENV, cli_errors, console, error_exit_code, fail, print_json, say


@dataclass(frozen=True)
class LazyCommand:
    """A top-level command whose module is imported only when the command runs.

    `kind` says what `module:attr` is: a typer sub-app ("app"), a `register(root)` function that mounts this
    command among others ("register"), or a plain command function ("command"). `help` is the one-line
    summary `--help` shows without importing the module (kept equal to the real one by a unit test)."""

    name: str
    module: str
    attr: str
    kind: Literal["app", "register", "command"]
    help: str

    def load(self) -> ClickCommand:
        obj = getattr(importlib.import_module(self.module), self.attr)
        if self.kind == "app":
            group = typer.main.get_group(obj)
            group.name = self.name
            return group
        holder = typer.Typer()
        if self.kind == "register":
            obj(holder)
        else:
            holder.command(self.name)(obj)
        # get_group always builds a group (get_command would collapse a single command into itself).
        cmd = typer.main.get_group(holder).commands.get(self.name)
        if cmd is None:
            raise RuntimeError(f"{self.module}.{self.attr} does not define the command {self.name!r}")
        return cmd


#: Every area's top-level command in `--help` order (init is defined below, eagerly: it is light).
LAZY_COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("backtest", "auraquant.cta.backtest.cli", "register", "register",
                "Run a backtest. Data from --data FILE, --data-version ID or --slice ID (--workspace DIR), or on "
                "every member of a universe (--universe ID)."),
    LazyCommand("report", "auraquant.cta.report.cli", "report", "command",
                "Write a self-contained HTML tearsheet and a PNG of the equity curve."),
    LazyCommand("approve", "auraquant.cta.governance.cli", "register", "register",
                "Promote a frozen record to production (a human with the approver key; everything is verified "
                "first, fail closed, and the decision is signed with the approver key)."),
    LazyCommand("reject", "auraquant.cta.governance.cli", "register", "register",
                "Decline promotion of a frozen record (it stays frozen; the decision is signed with the approver "
                "key and chained)."),
    LazyCommand("research", "auraquant.cta.research.cli", "register", "register",
                "Self-directed research toward a goal, non-interactive, ending with a stated stop reason."),
    LazyCommand("chat", "auraquant.cta.research.cli", "register", "register",
                "Interactive research chat: streaming answers, tool panels, slash commands (/help), Ctrl-C "
                "interrupts."),
    LazyCommand("demo", "auraquant.cta.research.cli", "register", "register",
                "The offline demo: a workspace with embedded synthetic data, an autopilot research run, its "
                "summary, the archived candidate (when one qualifies) and the tearsheet."),
    LazyCommand("data", "auraquant.cta.data.cli", "app", "app", "Market data: versions, slices, features."),
    LazyCommand("modules", "auraquant.cta.tools.cli", "modules_app", "app",
                "Strategy modules: built-in and workspace, kinds, params."),
    LazyCommand("spec", "auraquant.cta.tools.cli", "spec_app", "app",
                "Strategy Specs: an example, the JSON schema, validation."),
    LazyCommand("experiment", "auraquant.cta.experiment.cli", "app", "app",
                "Walk-forward experiments: Optuna search, sealed holdout, robustness."),
    LazyCommand("archive", "auraquant.cta.governance.cli", "archive_app", "app",
                "Signed research records: list, show, verify, export."),
    LazyCommand("keys", "auraquant.cta.governance.cli", "keys_app", "app",
                "Witness key and pinned trust list (.aura/config/trust.json)."),
    LazyCommand("cloud", "auraquant.cta.cloud.cli", "app", "app",
                "Offload heavy jobs: estimate, run, verify, status, doctor."),
    LazyCommand("job", "auraquant.cta.cloud.cli", "job_app", "app", "Portable job bundles."),
    LazyCommand("model", "auraquant.cta.models.cli", "app", "app",
                "Learned baselines: fitted models, training, feature sets."),
    LazyCommand("tools", "auraquant.cta.tools.cli", "tools_app", "app",
                "The research tools the agent calls (the real registry)."),
    LazyCommand("mcp", "auraquant.mcp_server", "mcp_command", "command",
                "Serve the research tools over the Model Context Protocol (stdio) for Claude Code, Claude "
                "Desktop, Cursor or Codex."),
)
_LAZY = {c.name: c for c in LAZY_COMMANDS}


class AuraQuantGroup(TyperGroup):
    """The root group: lazy sub-commands and the one error boundary of the CLI (see the module docstring)."""

    _listing = False  # True while --help is rendered: lazy commands answer with their static summary

    def list_commands(self, ctx: ClickContext) -> list[str]:
        eager = [n for n in self.commands if n not in _LAZY]
        return [*(c.name for c in LAZY_COMMANDS), *eager]

    def get_command(self, ctx: ClickContext, cmd_name: str) -> ClickCommand | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        lazy = _LAZY.get(cmd_name)
        if lazy is None:
            return None
        if self._listing:
            return TyperCommand(name=cmd_name, help=lazy.help, short_help=lazy.help)
        cmd = lazy.load()
        self.commands[cmd_name] = cmd
        return cmd

    def format_help(self, ctx: ClickContext, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: ClickContext, args: list[str]) -> tuple[str | None, ClickCommand | None,
                                                                            list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click_errors.UsageError as e:
            # typer suggests only among loaded commands; suggest among every command name instead.
            if args and "Did you mean" not in e.message:
                close = difflib.get_close_matches(args[0], self.list_commands(ctx))
                if close:
                    e.message = e.message.rstrip(".") + ". Did you mean " + ", ".join(map(repr, close)) + "?"
            raise

    def invoke(self, ctx: ClickContext) -> None:
        # A command's return value is never an exit status (only `typer.Exit` sets one), so it is dropped here.
        super().invoke(ctx)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        head = argv[: argv.index("--")] if "--" in argv else argv
        debug = "--debug" in head or os.environ.get(DEBUG_ENV, "") not in ("", "0")
        argv = [a for a in head if a != "--debug"] + argv[len(head):]
        as_json = "--json" in head
        try:
            # The program is always called `auraquant` in messages (also under `python -m` and test runners).
            code = super().main(args=argv, prog_name="auraquant", complete_var=complete_var,
                                standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except click_errors.NoArgsIsHelpError as e:
            if e.format_message().strip():  # typer's rich help is already printed (stdout); plain help is not
                e.show()
            code = e.exit_code
        except click_errors.UsageError as e:
            where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            code = _fail_code(e.format_message() + where, as_json=as_json, kind="usage", code=e.exit_code)
        except click_errors.ClickException as e:
            code = _fail_code(e.format_message(), as_json=as_json, kind="usage", code=e.exit_code)
        except (typer.Abort, KeyboardInterrupt, EOFError):
            code = _fail_code("interrupted", as_json=as_json, kind="interrupted", code=130)
        except Exception as e:
            if debug:
                raise
            code = error_exit_code(e, as_json=as_json)
        if not standalone_mode:
            return code
        sys.exit(code)


def _fail_code(message: str, *, as_json: bool, kind: str, code: int) -> int:
    """`fail`, returning the exit code instead of raising it (the boundary decides how to exit)."""
    try:
        fail(message, as_json=as_json, kind=kind, code=code)
    except typer.Exit as done:
        return done.exit_code


app = typer.Typer(cls=AuraQuantGroup, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="AuraQuant: agentic research for systematic trend-following strategies.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auraquant {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of unexpected errors (also "
                                        f"{DEBUG_ENV}=1); accepted anywhere on the command line.")] = False,
) -> None:
    """AuraQuant: agentic research for systematic trend-following strategies."""


@app.command()
@cli_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Workspace directory (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option(help="Add a workspace to a non-empty directory.")] = False,
    no_demo_data: Annotated[bool, typer.Option("--no-demo-data", help="Skip the synthetic demo data.")] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a workspace (idempotent: a second run keeps all state and says what exists)."""
    from auraquant.cta.governance.approver import approver_configured
    from auraquant.cta.workspace_init import init_workspace  # the store (duckdb, pandas) loads only when used

    r = init_workspace(directory, force=force, demo_data=not no_demo_data)
    approver = approver_configured()
    if json_out:
        print_json({"root": str(r.root), "created": r.created, "existed": r.existed,
                    "demo_data_version": r.demo_data_version, "approver_configured": approver})
        return
    state = "created" if r.created else "already complete"
    say(f"workspace {r.root}: {state}")
    if r.created:
        console.print("  created: " + ", ".join(r.created))
    if r.existed:
        console.print("  kept as it was: " + ", ".join(r.existed))
    if r.demo_data_version:
        console.print(f"  demo data: {r.demo_data_version} (synthetic, clearly labelled)")
    if not approver:  # research works without one; promotion to production does not
        console.print("  approver: none configured (`auraquant keys approver init` before approving anything)")


def main() -> None:
    app()
