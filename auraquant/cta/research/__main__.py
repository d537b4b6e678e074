"""`python -m auraquant.cta.research research|chat|demo`: the research commands without the root CLI."""

import typer

from auraquant.cta.research.cli import register

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":
    app()
