"""`python -m auraquant.cta.cloud job run BUNDLE --out DIR` (and `cloud ...`): what a remote container runs,
independent of how the top-level `auraquant` CLI mounts these commands."""

import typer

from auraquant.cta.cloud.cli import app, job_app

root = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
root.add_typer(job_app, name="job")
root.add_typer(app, name="cloud")
root()
