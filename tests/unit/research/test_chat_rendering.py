"""The chat view prints model- and tool-written text literally: square brackets in arguments, results or
errors are text, not rich markup (a stray closing tag such as `[/x]` used to crash the session)."""

from __future__ import annotations

import io

from rich.console import Console

from aura.runtime.budgets import StopReason
from aura.runtime.events import Retrying, Stopped, ToolEnd, ToolStart
from aura.runtime.trace import RunTrace
from aura.tools.errors import ToolError
from auraquant.cta.research.chat import ChatUI

HOSTILE = "[/x] [bold]not bold[/bold] [red]"


def _trace(ok: bool) -> RunTrace:
    return RunTrace(session_id="s", turn=1, tool_call_id="c1", tool="run_backtest", arguments="{}", ok=ok,
                    duration_ms=1.0, result_summary=f"summary {HOSTILE}", model="m", input_tokens=1,
                    output_tokens=1, cost_usd=0.0, started_at="2026-11-29T00:00:00Z")


def test_tool_panels_retries_and_stops_render_brackets_literally() -> None:
    out = io.StringIO()
    ui = ChatUI(Console(file=out, width=200, force_terminal=False, color_system=None))
    ui(ToolStart(turn=1, call_id="c1", name="run_backtest", arguments=f'{{"note": "{HOSTILE}"}}'))
    ui(ToolEnd(turn=1, call_id="c1", name="run_backtest", ok=True, content="", error=None, trace=_trace(True)))
    ui(ToolStart(turn=1, call_id="c2", name="run_backtest", arguments="{}"))
    err = ToolError(tool="run_backtest", kind="invalid_arguments", message=f"bad {HOSTILE}")
    ui(ToolEnd(turn=1, call_id="c2", name="run_backtest", ok=False, content="", error=err, trace=_trace(False)))
    ui(Retrying(attempt=1, delay_s=0.5, error=f"overloaded {HOSTILE}"))
    ui(Stopped(reason=StopReason.PROVIDER_ERROR, detail=f"gave up {HOSTILE}", turns=1, tool_calls=2, cost_usd=0.0))
    text = out.getvalue()
    for expected in (f'"note": "{HOSTILE}"', f"summary {HOSTILE}", f"bad {HOSTILE}", f"overloaded {HOSTILE}",
                     f"gave up {HOSTILE}"):
        assert expected in text, (expected, text)


def test_outcome_paths_print_whole_on_a_narrow_terminal(monkeypatch) -> None:
    """Paths in the research summary are never hard-wrapped (they are copied into a browser or shell)."""
    from datetime import UTC, datetime

    from auraquant import console as console_mod
    from auraquant.cta.research import cli as research_cli
    from auraquant.cta.research.loop import ResearchOutcome

    out = io.StringIO()
    narrow = Console(file=out, width=60, force_terminal=False, color_system=None)
    monkeypatch.setattr(research_cli, "console", narrow)
    monkeypatch.setattr(console_mod, "console", narrow)  # `say`, which prints the path lines
    deep = "/tmp/" + "d" * 90 + "/[run]"
    research_cli.show_outcome(ResearchOutcome(
        session_id="s1", status="GOAL_MET", detail="done", engine_stop="completed", iterations=1, max_iters=3,
        goal=None, iter_state=None, best_run_id=None, best_metrics=None, record_id=None, candidates=[],
        tearsheet={"html": f"{deep}/tearsheet.html", "png": f"{deep}/equity.png"}, tried=[], notes=[],
        cost_usd=0.0, turns=1, tool_calls=1, session_log=f"{deep}/session.jsonl", finished_at=datetime.now(UTC)))
    lines = out.getvalue().splitlines()
    for path in (f"{deep}/tearsheet.html", f"{deep}/equity.png", f"{deep}/session.jsonl"):
        assert any(line.endswith(path) for line in lines), (path, lines)
