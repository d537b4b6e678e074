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
    ui = ChatUI(Console(file=out, width=200, force_terminal=False, color_system=None), verbose=True)
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


def test_tool_panels_show_the_calls_own_duration_and_a_short_preview() -> None:
    """Calls of one batch end together; each panel shows the duration the registry measured for it, and
    a result or error of any size as a few lines with a note of what was left out."""
    out = io.StringIO()
    ui = ChatUI(Console(file=out, width=120, force_terminal=False, color_system=None), verbose=True)
    ui(ToolStart(turn=1, call_id="c1", name="slow_tool", arguments='{"source": "' + "s" * 300_000 + '"}'))
    fast = _trace(True).model_copy(update={"duration_ms": 12.0})
    huge = ToolError(tool="slow_tool", kind="tool_failed", message="line\n" * 50_000)
    ui(ToolEnd(turn=1, call_id="c1", name="slow_tool", ok=False, content="", error=huge,
               trace=_trace(False).model_copy(update={"duration_ms": 2_500.0})))
    ui(ToolEnd(turn=1, call_id="c2", name="fast_tool", ok=True, content="", error=None, trace=fast))
    text = out.getvalue()
    assert "slow_tool · 2.5s" in text and "fast_tool · 12ms" in text
    assert len(text.splitlines()) < 30  # not 50,000 lines of error, not 300 KB of arguments
    assert "(250000 characters, 50000 lines in all)" in text and "(300014 characters)" in text


def test_last_turns_lists_requests_answers_and_call_outcomes() -> None:
    from aura.runtime.messages import Message, ToolCallPart, ToolResultPart, assistant_message, user_text
    from auraquant.cta.research.chat import last_turns

    msgs = [
        Message(role="user", kind="compaction", parts=(user_text("snapshot").parts[0],)),
        user_text("find a trend filter"),
        assistant_message("trying two", [ToolCallPart(id="a", name="spec_put", arguments="{}"),
                                         ToolCallPart(id="b", name="backtest_run", arguments="{}")]),
        Message(role="user", kind="tool_results", parts=(
            ToolResultPart(tool_call_id="a", name="spec_put", content="{}"),
            ToolResultPart(tool_call_id="b", name="backtest_run", content="{}", is_error=True))),
        assistant_message("done " + "x" * 1_000),
    ]
    rows = last_turns(msgs)
    assert rows[0] == ("note", "(older history was compacted into a snapshot)")
    assert rows[1:4] == [("you", "find a trend filter"), ("model", "trying two"),
                         ("tools", "spec_put ✓, backtest_run ✗")]
    assert rows[4][0] == "model" and len(rows[4][1]) < 400
    assert last_turns(msgs, limit=2) == rows[-2:]


def test_by_default_a_call_is_one_summary_line_without_raw_json() -> None:
    """Without /verbose: no argument panel, and the result as `✓ name time · ids · status · headline numbers`
    on one line that fits the terminal; an error as its message."""
    out = io.StringIO()
    ui = ChatUI(Console(file=out, width=80, force_terminal=False, color_system=None))
    result = ('{"run_id": "run_0123456789abcdef0123", "status": "finished", "oos": {"sharpe": 0.44512, '
              '"max_drawdown": -0.2519, "trades": 55}, "windows": [1, 2, 3, 4], "note": "' + "n" * 500 + '"}')
    ui(ToolStart(turn=1, call_id="c1", name="experiment_run", arguments='{"spec_id": "spec_1", "trials": 4}'))
    ui(ToolEnd(turn=1, call_id="c1", name="experiment_run", ok=True, content=result, error=None,
               trace=_trace(True).model_copy(update={"duration_ms": 6_700.0})))
    ui(ToolStart(turn=1, call_id="c2", name="spec_get", arguments="{}"))
    err = ToolError(tool="spec_get", kind="tool_failed", message="no spec 'spec_x' in the store\nsecond line")
    ui(ToolEnd(turn=1, call_id="c2", name="spec_get", ok=False, content="", error=err, trace=_trace(False)))
    ui.close()
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    # what does not fit is dropped as whole parts (`sharpe 0.4451` here), never cut inside an id or a number
    assert lines[0] == "  ✓ experiment_run 6.7s · run_0123456789abcdef0123 · status finished …"
    assert lines[1].startswith("  ✗ spec_get 1ms · no spec 'spec_x' in the store")
    assert all(len(ln) <= 80 for ln in lines) and '{"' not in out.getvalue()


def test_summaries_of_lists_plain_text_and_unknown_objects() -> None:
    from auraquant.cta.research.tool_summary import summarize_tool_result

    assert summarize_tool_result('[{"id": "dv_1", "bars": 10}, {"id": "dv_2"}]') == "2 items (first: dv_1)"
    assert summarize_tool_result("[]") == "0 items"
    assert summarize_tool_result("\n  stored the note\nmore") == "stored the note"
    assert summarize_tool_result('{"name": "ema", "kind": "baseline"}') == "name ema · kind baseline"
    assert summarize_tool_result('{"created": true, "spec_id": "spec_9"}') == "spec_9 · created yes"
    assert summarize_tool_result('{"x": "' + "y" * 500 + '"}', limit=40).endswith("…")
    assert len(summarize_tool_result('{"x": "' + "y" * 500 + '"}', limit=40)) == 40
    # ids are never cut: whole trailing parts are dropped instead, and ids alone may exceed the room
    long_ids = '{"run_id": "run_' + "a" * 40 + '", "spec_id": "spec_' + "b" * 40 + '", "status": "done", "sharpe": 1.5}'
    line = summarize_tool_result(long_ids, limit=60)
    assert "run_" + "a" * 40 in line and "spec_" + "b" * 40 in line and line.endswith("…")
    assert "status" not in line
    fits = summarize_tool_result('{"id": "dv_1", "status": "ok", "sharpe": 1.25, "trades": 31}', limit=24)
    assert fits == "dv_1 · status ok …"
    words = summarize_tool_result("wrote /very/long/path/" + "d" * 80 + "/file.csv and more", limit=30)
    assert words == "wrote …"  # the path is dropped whole, never cut
