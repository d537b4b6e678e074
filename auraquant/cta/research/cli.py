"""`auraquant research`, `auraquant chat` and `auraquant demo` (command functions; the root CLI mounts them).

`research` runs the self-directed loop non-interactively: with a configured model profile an LLM drives the
tools; without one (or with `--provider offline`) the offline autopilot does. `demo` is init + the embedded
synthetic data + an offline autopilot run + a summary table, the archived candidate when one qualifies, and
the tearsheet path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from aura.config.models import MissingApiKey
from aura.providers import Provider, build_provider
from aura.runtime.budgets import Budgets
from aura.runtime.events import EngineEvent, Stopped, TextDeltaEvent, ToolEnd, ToolStart
from auraquant.console import cli_errors, console, err_console, fail, print_json, say, table
from auraquant.cta.experiment.gates import load_gates
from auraquant.cta.research.autopilot import no_data_message
from auraquant.cta.research.goal import GoalError, parse_goal
from auraquant.cta.research.loop import (
    ResearchOutcome,
    default_budgets,
    models_profile,
    offline_autopilot,
    run_research,
)
from auraquant.cta.research.tool_summary import summarize_tool_result
from auraquant.cta.sandbox import isolation
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

DEMO_GOAL = "SYNTH/USDT 1h Sharpe >= 1.5, max drawdown >= -15%"
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")]


def key_help(profile_name: str | None, exc: Exception) -> str:
    """How to configure a model, for a profile whose key is missing."""
    return (f"No API key for the model profile {profile_name or '(default)'}: {exc}.\n"
            "To use an LLM, export its key, e.g. `export ANTHROPIC_API_KEY=...` (profile claude) or "
            "`export OPENAI_API_KEY=...` (profile gpt), or point a profile of .aura/config/models.json at a "
            "local OpenAI-compatible server (base_url, api_key_env null) and pass --provider NAME.\n"
            "Keys are read from environment variables only; they are never written to disk.")


def _select(ws: Workspace, provider: str | None, model: str | None) -> tuple[Provider | None, str | None]:
    """The LLM provider to use, or (None, why) when the offline autopilot must run instead."""
    if provider == "offline":
        return None, None
    try:
        prof = models_profile(ws, provider, model)
        if prof.provider == "offline":
            return None, None
        return build_provider(prof), None
    except MissingApiKey as exc:
        return None, key_help(provider, exc)
    except KeyError as exc:  # unknown profile name: a user error, said in one line
        raise ValueError(str(exc.args[0]) if exc.args else str(exc)) from None


class _Printer:
    """Compact live output of a research run for people: a transient status line (spinner, elapsed time, the
    tools running) while tools work, then one line per finished call with a short summary of its result."""

    def __init__(self) -> None:
        self._t: dict[str, float] = {}
        self._names: dict[str, str] = {}
        self._status: Any = None

    def __call__(self, ev: EngineEvent) -> None:
        if isinstance(ev, TextDeltaEvent):
            self._stop()
            console.print(ev.text, markup=False, highlight=False)
        elif isinstance(ev, ToolStart):
            self._t[ev.call_id] = time.perf_counter()
            self._names[ev.call_id] = ev.name
            self._show()
        elif isinstance(ev, ToolEnd):
            dt = time.perf_counter() - self._t.pop(ev.call_id, time.perf_counter())
            self._names.pop(ev.call_id, None)
            self._stop()
            mark = "[green]✓[/]" if ev.ok else "[red]✗[/]"
            text = ev.content if ev.ok else (ev.error.message if ev.error else ev.content)
            gist = escape(summarize_tool_result(text, max(30, console.width - len(ev.name) - 16)))
            console.print(f"  {mark} [dim]{ev.name} {dt:.1f}s · {gist}[/]", highlight=False)
            if self._names:
                self._show()
        elif isinstance(ev, Stopped):
            self._stop()
            console.print(f"[dim]engine stopped: {ev.reason.value} after {ev.turns} turns, "
                          f"{ev.tool_calls} tool calls[/]")

    def _show(self) -> None:
        self._stop()
        started = min(self._t.values(), default=time.perf_counter())
        self._status = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                console=console, transient=True, refresh_per_second=4)
        task = self._status.add_task("running " + ", ".join(dict.fromkeys(self._names.values())), total=None)
        self._status.tasks[0].start_time = self._status.get_time() - (time.perf_counter() - started)
        del task
        self._status.start()

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def outcome_table(out: ResearchOutcome) -> Table:
    """The rounds of a research session, readable at 80 columns: one short row per round (run id whole, never
    cut or wrapped, and the numbers that decide), the label and verdict printed below the table."""
    t = Table(title=f"research {out.session_id}: {out.iterations} / {out.max_iters} rounds", title_justify="left",
              header_style="bold cyan", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("#", justify="right")
    t.add_column("run", no_wrap=True, overflow="fold", min_width=max([3, *(len(r["evaluation_id"])
                                                                          for r in out.tried)]))
    # excess SR = Sharpe - buy-and-hold Sharpe (the B&H figures themselves are in the best-run line below)
    for name in ("sharpe", "max DD", "DSR", "trades", "excess SR"):
        t.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for i, r in enumerate(out.tried, 1):
        t.add_row(str(i), r["evaluation_id"], _f(r.get("sharpe")), _f(r.get("max_drawdown")), _f(r.get("dsr")),
                  _count(r.get("trades")), _f(r.get("excess_sharpe")))
    return t


def show_outcome(out: ResearchOutcome) -> None:
    console.print(outcome_table(out))
    for i, r in enumerate(out.tried, 1):
        verdict = r.get("verdict") or ""
        console.print(f"  #{i} {r.get('label', '')}" + (f" — {verdict}" if verdict else ""), markup=False,
                      highlight=False)
    colour = {"GOAL_MET": "green", "INTERRUPTED": "yellow", "ERROR": "red"}.get(out.status, "cyan")
    console.print(f"[bold {colour}]stop: {out.status}[/] — {escape(str(out.detail))}", highlight=False)
    for n in out.notes:
        console.print(f"  note: {escape(str(n))}", highlight=False)
    if out.best_run_id:
        console.print(f"best run: {out.best_run_id} ({', '.join(f'{k}={_f(v)}' for k, v in (out.best_metrics or {}).items())})")
    sig = out.significance or {}
    if sig:
        console.print(f"significance of {out.record_id}: {sig.get('label')} — DSR {_f(sig.get('dsr'))} with the "
                      f"{sig.get('dsr_scope')} trial count N={sig.get('dsr_n_trials')} and trial Sharpe variance "
                      f"{_f(sig.get('dsr_sharpe_variance'))} (this run alone: {sig.get('run_trials')} trials); "
                      f"gates: {sig.get('gates')}; PBO/SPA over {sig.get('pbo_spa_selection')}"
                      + (f"; failed: {sig.get('failed_gates')}" if sig.get("failed_gates") else ""),
                      markup=False, highlight=False)
    console.print(f"archived candidates: {', '.join(out.candidates) or 'none qualified'}"
                  + (f"; frozen: {out.record_id}" if out.record_id else ""), markup=False, highlight=False)
    for c in out.candidate_significance:
        console.print(f"  {c['record_id']} ({c['state']}): {c['significance']}, DSR {_f(c['dsr'])} "
                      f"({c['dsr_count']})" + (f"; failed gates: {c['failed_gates']}" if c["failed_gates"] else ""),
                      markup=False, highlight=False)
    if out.holdout:
        console.print(table(f"holdout of {out.record_id} (scored once; tolerance {out.holdout_tolerance:g}x each "
                            "goal threshold)", ["metric", "holdout", "goal", "bound with tolerance", "verdict"],
                            [(r["metric"], _count(r["holdout"]) if r["metric"] in _COUNTS else _f(r["holdout"]),
                              r["goal"] or "-", r["bound"] or "-", r["verdict"]) for r in out.holdout]))
    if out.tearsheet and "html" in out.tearsheet:
        say(f"tearsheet: {out.tearsheet['html']}\nequity png: {out.tearsheet['png']}")
    elif out.tearsheet:
        say(f"tearsheet failed: {out.tearsheet.get('error')}")
    say(f"session log (messages + RunTrace of every tool call): {out.session_log}")


_COUNTS = frozenset({"trades", "holdout_bars", "n_days"})


def _count(v: Any) -> str:
    return "-" if v is None else f"{int(v)}"


def _f(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else ("-" if v is None else str(v))


@cli_errors
def research(
    goal: Annotated[str, typer.Option("--goal", "-g", help='e.g. "BTC/USDT 1h Sharpe >= 1.2, max drawdown >= -15%"')],
    max_iters: Annotated[int, typer.Option("--max-iters", min=1, help="Research rounds at most.")] = 20,
    provider: Annotated[str | None, typer.Option("--provider", help="models.json profile; 'offline' = autopilot.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Override the profile's model id.")] = None,
    max_usd: Annotated[float | None, typer.Option("--max-usd", help="Model spend cap for the session.")] = None,
    windows: Annotated[int, typer.Option(help="Autopilot: walk-forward windows per experiment.")] = 4,
    trials: Annotated[int, typer.Option(help="Autopilot: Optuna trials per window.")] = 24,
    seed: Annotated[int, typer.Option(help="Autopilot: experiment seed.")] = 0,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Self-directed research toward a goal, non-interactive, ending with a stated stop reason."""
    ws = Workspace.open(workspace)
    try:
        g = parse_goal(goal)
    except GoalError as exc:
        fail(str(exc), as_json=json_out, kind="GoalError")
    missing = market_gap(ws, g)
    if missing:
        fail(missing, as_json=json_out, kind="NoData")
    llm, why = _select(ws, provider, model)
    out = _run(ws, g, max_iters, llm, why, windows=windows, trials=trials, seed=seed, max_usd=max_usd,
               quiet=json_out)
    if json_out:
        print_json(out.model_dump(mode="json"))
    else:
        show_outcome(out)
    _exit_for(out, json_out)


def market_gap(ws: Workspace, goal: Any) -> str | None:
    """The refusal when the workspace holds no data for the goal's symbol / timeframe (None: it does)."""
    if getattr(goal, "universe", None):  # a universe needs every member's data
        if all(ws.store.list_data_versions(s, goal.timeframe) for s in goal.universe):
            return None
        return no_data_message(goal)
    if goal.symbol is None and goal.timeframe is None:
        return None
    if ws.store.list_data_versions(goal.symbol, goal.timeframe):
        return None
    return no_data_message(goal)


def _exit_for(out: ResearchOutcome, json_out: bool) -> None:
    """Exit 1 on a runtime error and when no experiment ran: a session that tested nothing has no result."""
    if out.status == "ERROR":
        raise typer.Exit(1)
    if out.experiments == 0 and out.status != "INTERRUPTED":
        if not json_out:
            err_console.print(f"[bold red]error:[/] no experiment ran ({escape(out.status)}: {escape(out.detail)})",
                              highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _run(ws: Workspace, goal: Any, max_iters: int, llm: Provider | None, why: str | None, *, windows: int,
         trials: int, seed: int, max_usd: float | None, quiet: bool) -> ResearchOutcome:
    budgets: Budgets = default_budgets(max_iters, max_usd)
    if llm is None:
        if why and not quiet:
            err_console.print(why + "\nRunning the offline autopilot instead.", highlight=False)
        pilot, prov = offline_autopilot(goal, max_iters=max_iters, windows=windows, trials=trials, seed=seed,
                                        holdout_tolerance=load_gates(ws.config).holdout_tolerance)
        return run_research(ws, prov, goal=goal, max_iters=max_iters, autopilot=pilot, budgets=budgets,
                            on_event=None if quiet else _Printer())
    return run_research(ws, llm, goal=goal, max_iters=max_iters, budgets=budgets,
                        on_event=None if quiet else _Printer())


@cli_errors
def demo(
    directory: Annotated[Path, typer.Argument(help="Workspace directory for the demo.")] = Path("demo-workspace"),
    goal: Annotated[str, typer.Option("--goal", help="The demo's research goal.")] = DEMO_GOAL,
    max_iters: Annotated[int, typer.Option("--max-iters", min=1)] = 20,
    windows: Annotated[int, typer.Option(help="Walk-forward windows per experiment.")] = 4,
    trials: Annotated[int, typer.Option(help="Optuna trials per window.")] = 16,
    json_out: JsonOpt = False,
) -> None:
    """The offline demo: a workspace with embedded synthetic data, an autopilot research run, its summary, the
    archived candidate (when one qualifies) and the tearsheet."""
    t0 = time.perf_counter()
    r = init_workspace(directory, force=False)
    ws = Workspace.open(directory)
    g = parse_goal(goal)
    sandbox = isolation.level_summary(ws.runtime_dir)
    if not json_out:
        console.print(f"[bold]AuraQuant demo[/] in {escape(str(ws.root))} — demo data {r.demo_data_version} "
                      "(synthetic, clearly labelled); offline autopilot, no API key needed", soft_wrap=True)
        console.print(f"agent-written modules run in the sandbox worker: {escape(sandbox)}", soft_wrap=True,
                      highlight=False)
    out = _run(ws, g, max_iters, None, None, windows=windows, trials=trials, seed=0, max_usd=None, quiet=json_out)
    elapsed = time.perf_counter() - t0
    if json_out:
        print_json({"workspace": str(ws.root), "data_version": r.demo_data_version, "elapsed_s": round(elapsed, 1),
                    "sandbox": sandbox, **out.model_dump(mode="json")})
    else:
        show_outcome(out)
        console.print(f"demo finished in {elapsed:.0f}s")
    _exit_for(out, json_out)


def chat(
    provider: Annotated[str | None, typer.Option("--provider", help="models.json profile name.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Override the profile's model id.")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Session id to continue ('last' = latest).")] = None,
    goal: Annotated[str | None, typer.Option("--goal", help="Start in self-directed mode toward this goal.")] = None,
    max_iters: Annotated[int, typer.Option("--max-iters", min=1)] = 20,
    max_usd: Annotated[float | None, typer.Option("--max-usd")] = None,
    windows: Annotated[int, typer.Option(help="Offline autopilot: walk-forward windows per experiment.")] = 4,
    trials: Annotated[int, typer.Option(help="Offline autopilot: Optuna trials per window.")] = 24,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Interactive research chat: streaming answers, tool panels, slash commands (/help), Ctrl-C interrupts."""
    from auraquant.cta.research.chat import run_chat

    raise typer.Exit(run_chat(workspace, provider=provider, model=model, resume=resume, goal=goal,
                              max_iters=max_iters, max_usd=max_usd, windows=windows, trials=trials))


def register(app: typer.Typer) -> None:
    """Mount `research`, `chat` and `demo` on the root CLI."""
    app.command("research")(research)
    app.command("chat")(chat)
    app.command("demo")(demo)
