"""The `auraquant` command line. Each domain area contributes a typer sub-app; this module only wires them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auraquant.console import cli_errors, console, print_json, say
from auraquant.cta.backtest.cli import register as register_backtest
from auraquant.cta.cloud.cli import app as cloud_app
from auraquant.cta.cloud.cli import job_app
from auraquant.cta.data.cli import app as data_app
from auraquant.cta.experiment.cli import app as experiment_app
from auraquant.cta.governance.cli import register as register_governance
from auraquant.cta.report.cli import report
from auraquant.cta.research.cli import register as register_research
from auraquant.workspace import init_workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="AuraQuant: agentic research for systematic trend-following strategies.")
app.add_typer(data_app, name="data")

# Each area owns its commands; this module only mounts them.
register_backtest(app)  # backtest
app.command("report")(report)
app.add_typer(experiment_app, name="experiment")
register_governance(app)  # archive …, keys …, approve, reject
register_research(app)  # research, chat, demo
app.add_typer(cloud_app, name="cloud")
app.add_typer(job_app, name="job")


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
