"""Output for people (rich) and scripts (`--json`), and the one place user-facing errors are rendered.

Commands raise domain exceptions; `cli_errors` turns the known ones into a one-line message (or a JSON object
`{"error": ..., "kind": ...}` with `--json`) and exit code 1, so nobody sees a traceback for bad input.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auraquant.jsonsafe import json_safe

#: width of output that goes to a pipe or file (no terminal, no COLUMNS): wide, so that ids, paths and table
#: rows are never cut or wrapped for the program reading them (rich would otherwise assume 80 columns)
PIPE_WIDTH = 240


def _width(stream: Any) -> int | None:
    """None (rich decides: the terminal's width, or COLUMNS) unless `stream` is not a terminal and COLUMNS is
    unset, then `PIPE_WIDTH`."""
    if os.environ.get("COLUMNS"):
        return None
    try:
        return None if stream.isatty() else PIPE_WIDTH
    except (AttributeError, ValueError):
        return PIPE_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

_ID_RE = re.compile(r"^[a-z]{2,6}_[0-9a-f]{8,}$")


def say(text: str) -> None:
    """Print plain text (no markup, no highlighting) that is never hard-wrapped, so paths in it stay
    copyable: the terminal wraps a long line, rich does not break it."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=json_safe, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def is_whole_value(text: str) -> bool:
    """True for an id (`dv_…`, `run_…`) or a path: values a table must show whole (never cut or wrapped)."""
    return bool(_ID_RE.match(text)) or (text.startswith(("/", "./", "~/")) and " " not in text)


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    """A rich table for people. Columns holding ids (`dv_…`, `run_…`) or paths are never wrapped or cut (they
    get the width of their longest value: copied into the next command); other text wraps at word boundaries
    and folds long words rather than ending them with an ellipsis."""
    cols = list(columns)
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    t = Table(title=title, title_justify="left", header_style="bold cyan")
    for i, c in enumerate(cols):
        values = [r[i] for r in cells if i < len(r) and r[i]]
        whole = bool(values) and all(is_whole_value(v) for v in values)
        if whole:
            t.add_column(c, no_wrap=True, overflow="fold", min_width=max(len(v) for v in values))
        else:
            t.add_column(c, overflow="fold")
    for r in cells:
        t.add_row(*r)
    return t


#: Set to 1 to let unexpected errors raise with their traceback (the CLI's `--debug` flag sets it too).
DEBUG_ENV = "AURAQUANT_DEBUG"
DEBUG_HINT = f"re-run with --debug or {DEBUG_ENV}=1 for the traceback"


def one_line(message: str) -> str:
    """`message` as a single line: its non-blank lines, stripped, joined by '; ' (a multi-line domain message such
    as a quality report or a pydantic validation error stays readable without breaking the one-line rule)."""
    parts = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(parts) or "unknown error"


def error_message(exc: BaseException) -> str:
    """What a person needs from `exc`, in one line: pydantic validation errors as `invalid MODEL: field: msg; …`
    (no URLs or input dumps), a missing file as `no such file: PATH`, anything else as its message."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
                 for e in exc.errors(include_url=False)]
        return f"invalid {exc.title}: " + "; ".join(parts)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename}"
    return one_line(str(exc) or type(exc).__name__)


def _known_errors() -> tuple[type[BaseException], ...]:
    """Error types that describe bad input or a refused action, rendered as their message alone (no hint):
    every `UserError` (the domain's refusals subclass it, so this module imports no domain package) plus the
    builtin bad-input and environment errors (`ValueError`, `LookupError`, `OSError` incl. a missing file) and
    pydantic's `ValidationError`. Imported lazily: this runs only on the error path."""
    from pydantic import ValidationError

    from auraquant.errors import UserError

    return (UserError, ValueError, LookupError, OSError, ValidationError)


def fail(message: str, *, as_json: bool, kind: str = "error", extra: dict[str, Any] | None = None,
         code: int = 1) -> NoReturn:
    """Report an error in one line and exit with `code`: `{"error", "kind", ...extra}` as one line of JSON on
    stdout under `--json`, else `error: MESSAGE` on stderr. Never returns (raises `typer.Exit`)."""
    text = one_line(message)
    if as_json:
        sys.stdout.write(json.dumps({"error": text, "kind": kind, **(extra or {})}, default=json_safe,
                                    allow_nan=False) + "\n")
        sys.stdout.flush()
    else:
        # One line (paths stay copyable: the terminal wraps, not rich); the message is text, not markup.
        err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def error_exit_code(exc: BaseException, *, as_json: bool) -> int:
    """Render any exception escaping a command as one line (see `fail`) and return the exit code (1).

    Known error types (bad input, refused actions) show their message; anything else is unexpected and shows
    its type, message and how to get the traceback. Callers that want the traceback re-raise before this."""
    extra: dict[str, Any] = {}
    if isinstance(exc, _known_errors()):
        message, kind = error_message(exc), type(exc).__name__
        report = getattr(exc, "report", None)
        if report is not None and hasattr(report, "summary"):
            extra["quality"] = report.summary()
    else:
        message, kind = f"unexpected {type(exc).__name__}: {exc} ({DEBUG_HINT})", "internal"
    try:
        fail(message, as_json=as_json, kind=kind, extra=extra)
    except typer.Exit as done:
        return done.exit_code


def cli_errors[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Render known domain errors cleanly; `json_out` in the command's kwargs selects the JSON form."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except _known_errors() as e:
            extra = {}
            report = getattr(e, "report", None)
            if report is not None and hasattr(report, "summary"):
                extra["quality"] = report.summary()
            fail(error_message(e), as_json=bool(kwargs.get("json_out")), kind=type(e).__name__, extra=extra)

    return wrapper
