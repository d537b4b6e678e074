"""`auraquant chat`: the interactive research session in a terminal.

- input with history (prompt_toolkit, `.aura/chat_history`; plain `input()` when stdin is not a terminal);
- the model's answer streams as markdown (rich Live); while a tool runs a live status line shows a spinner, the
  elapsed time and the tool's name; each finished call is one line with a short summary of its result
  (`tool_summary.py`); `/verbose` shows the raw JSON arguments and results as panels instead;
- slash commands: /status /iter /compact /cost /budget /approve /save /resume /verbose /help /quit;
- Ctrl-C during a turn cancels it (the engine saves the session: calls in flight get a `cancelled` result);
  a second Ctrl-C within 2 s, or Ctrl-C twice at the prompt, exits. `--resume [ID|last]` continues, and
  first shows where the session was: the goal, the ITER_STATE, the budget used and the last turns;
- verbose panels are previews: arguments, results and errors are cut to a few lines (the model reads the
  full, size-capped result; `run_trace_query` and `tool_output_get` reach the rest);
- without a configured key it says how to add one and offers the offline autopilot; "n" exits (status 0)
  with one line; otherwise it asks for the research goal unless --goal gave one (it never starts on a
  default goal; an empty answer exits).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown, TableElement
from rich.markup import escape
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from aura.providers import Provider
from aura.runtime.compaction import CompactionPolicy
from aura.runtime.events import Compacted, EngineEvent, Retrying, Stopped, TextDeltaEvent, ToolEnd, ToolStart
from aura.runtime.messages import Message
from aura.runtime.sessions import SessionState, SessionStore
from aura.tools import ToolContext
from aura.tools.limits import clip_middle
from auraquant.console import error_message, fail, is_whole_value, one_line
from auraquant.cta.experiment.gates import load_gates
from auraquant.cta.research import iter_state
from auraquant.cta.research.cli import DEMO_GOAL, _select, show_outcome
from auraquant.cta.research.goal import Goal, GoalError, parse_goal
from auraquant.cta.research.loop import (
    ResearchSession,
    conclude,
    default_budgets,
    drive,
    goal_request,
    offline_autopilot,
)
from auraquant.cta.research.tool_summary import summarize_tool_result
from auraquant.workspace import Workspace

HELP = """\
/status            session, model, turns, cost, context size, ITER_STATE status
/iter              the current <ITER_STATE>
/compact           summarise older history now (or say why there is nothing to compact)
/cost              tokens and USD spent in this session
/budget            spend against the session's limits (budget_status)
/approve [ID]      promote a frozen record to production (you are the human gate; asks to confirm)
/save [NAME]       save the agent state (agent_state_save) and print how to resume
/resume [ID]       switch to another saved session (default: the latest other one)
/verbose           show tool calls as raw JSON panels (again: short summaries)
/help              this list
/quit              leave (the session is saved; `auraquant chat --resume last` continues)
Ctrl-C interrupts a running turn (state is saved); twice exits."""


#: a tool panel shows at most this many characters / lines of arguments, results or errors
PREVIEW_CHARS = 400
PREVIEW_LINES = 6
ARGS_PREVIEW_CHARS = 160


def preview(text: str, max_chars: int = PREVIEW_CHARS, max_lines: int = PREVIEW_LINES) -> str:
    """A short, literal preview of tool traffic for the terminal: at most `max_lines` lines and about
    `max_chars` characters, with a note of what was left out."""
    lines = text.splitlines() or [""]
    out = "\n".join(lines[:max_lines])
    if len(out) > max_chars:
        out = out[: max_chars - 1] + "…"
    cut = len(text) - len(out)
    if len(lines) > max_lines or cut > 0:
        out += f"\n… ({len(text)} characters, {len(lines)} lines in all)"
    return out


class _IdSafeTable(TableElement):
    """A Markdown table whose id and path columns are never cut or wrapped (rich's default ends a word that
    does not fit with `…`, which turns `run_defeafc7b5ea4aae5f4f` into `run_def…`)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for table in super().__rich_console__(console, options):
            if isinstance(table, Table):
                for col in table.columns:
                    cells = [str(c) for c in col.cells]
                    if cells and all(is_whole_value(c) for c in cells if c):
                        col.no_wrap, col.overflow = True, "fold"
                        col.min_width = max(len(c) for c in cells)
                    else:
                        col.overflow = "fold"
            yield table


class ChatMarkdown(Markdown):
    """Markdown for the chat: tables keep ids and paths whole (see `_IdSafeTable`)."""

    elements = {**Markdown.elements, "table_open": _IdSafeTable}


class ChatUI:
    """Renders engine events: streamed markdown, a live status line per running tool (spinner, elapsed time,
    the tool's name), then one line per finished call with a short human summary of its result. With
    `verbose` (the `/verbose` chat command) each call is shown as panels with its raw JSON arguments and
    result instead."""

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.c = console
        self.verbose = verbose
        self._buf = ""
        self._live: Live | None = None
        self._status: Any = None
        self._started: dict[str, float] = {}
        self._names: dict[str, str] = {}

    def __call__(self, ev: EngineEvent) -> None:
        if isinstance(ev, TextDeltaEvent):
            self._stop_status()
            self._buf += ev.text
            if self._live is None:
                self._live = Live(ChatMarkdown(self._buf), console=self.c, refresh_per_second=12,
                                  vertical_overflow="visible")
                self._live.start()
            else:
                self._live.update(ChatMarkdown(self._buf))
        elif isinstance(ev, Retrying):
            self._end_text()
            self.c.print(f"[yellow]model call failed ({escape(str(ev.error))}); retry {ev.attempt} in {ev.delay_s:.1f}s[/]")
        elif isinstance(ev, ToolStart):
            self._end_text()
            if self.verbose:
                args = ev.arguments if len(ev.arguments) <= ARGS_PREVIEW_CHARS else (
                    ev.arguments[: ARGS_PREVIEW_CHARS - 1] + f"… ({len(ev.arguments)} characters)")
                self.c.print(Panel(Text(args), title=Text(f"⚙ {ev.name}"), title_align="left", border_style="blue",
                                   expand=False))
            self._started[ev.call_id] = time.perf_counter()
            self._names[ev.call_id] = ev.name
            self._spin()
        elif isinstance(ev, ToolEnd):
            self._started.pop(ev.call_id, None)
            # The call's own duration (the registry timed it), not the batch's: calls of a batch run together.
            dt = ev.trace.duration_ms / 1000.0
            self._stop_status()
            style, mark = ("green", "✓") if ev.ok else ("red", "✗")
            if self.verbose:
                body = ev.trace.result_summary if ev.ok else (ev.error.message if ev.error else ev.content)
                self.c.print(Panel(Text(preview(str(body))), title=Text(f"{mark} {ev.name} · {_seconds(dt)}"),
                                   title_align="left", border_style=style, expand=False))
            else:
                head = f"{ev.name} {_seconds(dt)}"
                room = max(30, self.c.width - len(head) - 7)  # "  ✓ " before, " · " after the head
                self.c.print(Text.assemble((f"  {mark} ", style), (head, "bold"),
                                           (" · " + self._summary(ev, room), "" if ev.ok else "red")))
            if self._started:
                self._spin()
            else:
                self.thinking()
        elif isinstance(ev, Compacted):
            self._end_text()
            self._stop_status()
            stubbed = f", {ev.stubbed_messages} oversized cut to stubs" if ev.stubbed_messages else ""
            self.c.print(f"[magenta]context compacted: {ev.tokens_before} -> {ev.tokens_after} tokens "
                         f"({ev.summarized_messages} messages summarised{stubbed})[/]")
        elif isinstance(ev, Stopped):
            self._end_text()
            self._stop_status()
            if ev.reason.value != "completed":
                self.c.print(f"[yellow]stopped: {ev.reason.value} — {escape(str(ev.detail))}[/]")

    @staticmethod
    def _summary(ev: ToolEnd, room: int) -> str:
        """The one-line gist of a finished call in at most `room` characters."""
        if not ev.ok:
            return summarize_tool_result(ev.error.message if ev.error else ev.content, room)
        return summarize_tool_result(ev.content or ev.trace.result_summary, room)

    def thinking(self) -> None:
        """A spinner while the model works on its next turn (until its first token or tool call)."""
        self._stop_status()
        self._status = self.c.status("thinking…", spinner="dots")
        self._status.start()

    def _spin(self) -> None:
        """A transient progress line per running tool with its elapsed time (experiments take a while)."""
        self._stop_status()
        prog = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=self.c,
                        transient=True, refresh_per_second=4)
        for call_id, name in self._names.items():
            if call_id in self._started:
                prog.add_task(f"running {name}", total=None)
        prog.start()
        self._status = prog

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _end_text(self) -> None:
        if self._live is not None:
            self._live.update(ChatMarkdown(self._buf))
            self._live.stop()
            self._live = None
        self._buf = ""

    def close(self) -> None:
        self._end_text()
        self._stop_status()
        self._started.clear()


class _Input:
    """prompt_toolkit with persistent history on a terminal, `input()` otherwise."""

    def __init__(self, history: Path) -> None:
        self._session: Any = None
        if sys.stdin.isatty():
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            history.parent.mkdir(parents=True, exist_ok=True)
            self._session = PromptSession(history=FileHistory(str(history)))

    async def read(self, prompt: str) -> str:
        if self._session is not None:
            return await self._session.prompt_async(prompt)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            raise EOFError
        return line.rstrip("\n")


class Chat:
    def __init__(self, ws: Workspace, console: Console, provider: Provider, *, goal: Goal | None, max_iters: int,
                 max_usd: float | None, autopilot: Any = None, resume: str | None = None) -> None:
        self.ws, self.c, self.provider = ws, console, provider
        self.goal, self.max_iters, self.max_usd, self.autopilot = goal, max_iters, max_usd, autopilot
        self.ui = ChatUI(console)
        self.session = self._open(resume)
        self.resumed = resume is not None
        self._last_interrupt = 0.0

    def show_resumed(self) -> None:
        """Where a resumed session was: goal, ITER_STATE, budget used, the last turns."""
        state = self.session.log.replay()
        goal = self.goal.text if self.goal else state.meta.get("goal")
        self.c.print(Text(f"resumed session {self.session.session_id}", style="bold"))
        for line in resume_overview(state, goal, iter_state.current(self.ws.store), self.max_usd):
            self.c.print(Text(line))
        entries = last_turns(self.session.engine.messages)
        if entries:
            self.c.print(Text("last turns:", style="bold"))
        for who, text in entries:
            self.c.print(Text.assemble((f"{who:>6} ", _WHO_STYLE.get(who, "")), text))

    def _open(self, resume: str | None, compaction: CompactionPolicy | None = None) -> ResearchSession:
        return ResearchSession.start(self.ws, self.provider, goal=self.goal, max_iters=self.max_iters,
                                     budgets=default_budgets(self.max_iters, self.max_usd), autopilot=self.autopilot,
                                     resume=resume, compaction=compaction)

    # -- a turn -------------------------------------------------------------------------------
    async def turn(self, text: str) -> bool:
        """Run one request; False when the user asked to exit with a second Ctrl-C."""
        loop = asyncio.get_running_loop()
        self.ui.thinking()
        task = asyncio.ensure_future(drive(self.session, text, self.ui))
        exit_requested = False

        def on_sigint() -> None:
            nonlocal exit_requested
            now = time.monotonic()
            if now - self._last_interrupt < 2.0:
                exit_requested = True
            self._last_interrupt = now
            task.cancel()

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            await task
        except asyncio.CancelledError:
            self.ui.close()
            self.c.print(f"[yellow]interrupted — state saved (session {self.session.session_id}); "
                         "Ctrl-C again to exit[/]")
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self.ui.close()
        return not exit_requested

    async def _compact(self) -> None:
        """`/compact`: compact now and say what changed, or say why there is nothing to compact."""
        eng = self.session.engine
        why_not = eng.compaction_blocker()
        if why_not is not None:
            self.c.print(why_not, markup=False, highlight=False)
            return
        self.ui.thinking()
        acted = False

        async def consume() -> None:
            nonlocal acted
            async for ev in eng.compact():
                acted = acted or isinstance(ev, Compacted)
                self.ui(ev)

        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(consume())
        # Ctrl-C cancels the summary call; the history is only replaced once the summary is in.
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            self.ui.close()
            self.c.print("[yellow]compaction interrupted; the history is unchanged[/]")
            return
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self.ui.close()
        if not acted:
            self.c.print("nothing was compacted", highlight=False)

    # -- slash commands -----------------------------------------------------------------------
    async def command(self, line: str) -> bool:
        """Handle a slash command; False means quit."""
        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.c.print(HELP, markup=False)
        elif name == "verbose":
            self.ui.verbose = not self.ui.verbose
            self.c.print("verbose: tool calls shown as raw JSON panels" if self.ui.verbose
                         else "verbose off: tool calls shown as one-line summaries", highlight=False)
        elif name == "status":
            st = iter_state.current(self.ws.store)
            eng = self.session.engine
            self.c.print(f"session {self.session.session_id} · model {self.provider.info.provider}/"
                         f"{self.provider.info.model} · messages {len(eng.messages)} · context ~{eng.context_tokens()} "
                         f"tokens · cost ${eng.session_cost_usd:.4f} · ITER_STATE "
                         f"{(st.status + f' iter {st.iter}/{st.max_iters}') if st else 'none'}", highlight=False)
        elif name == "iter":
            st = iter_state.current(self.ws.store)
            self.c.print(st.render() if st else "no ITER_STATE recorded yet", markup=False)
        elif name == "compact":
            await self._compact()
        elif name == "cost":
            rep = self.session.log.replay()
            u = rep.usage
            self.c.print(f"${rep.cost_usd:.4f} over {rep.model_turns} model turns · input {u.input_tokens} · "
                         f"output {u.output_tokens} · cache read {u.cache_read_tokens} tokens", highlight=False)
        elif name == "budget":
            out = await self._tool("budget_status", {})
            if self.ui.verbose:
                self.c.print_json(json.dumps(out, default=str))
            else:
                self.c.print(_key_values(out), markup=False, highlight=False)
        elif name == "approve":
            await self._approve(arg)
        elif name == "save":
            st = iter_state.current(self.ws.store)
            key = arg or f"chat-{self.session.session_id}"
            out = await self._tool("agent_state_save", {"name": key, "state_body": {
                "session_id": self.session.session_id, "goal": self.goal.text if self.goal else None,
                "iter_state": st.model_dump(mode="json") if st else None}})
            self.c.print(f"saved {out}; continue later with `auraquant chat --resume {self.session.session_id}`",
                         highlight=False, markup=False)
        elif name == "resume":
            ids = [i for i in SessionStore(self.ws.sessions).ids() if i != self.session.session_id]
            target = arg or (ids[-1] if ids else None)
            if target is None:
                self.c.print("no other session to resume")
            else:
                self.session.close()
                self.session = self._open(target)
                self.show_resumed()
        else:
            self.c.print(f"unknown command /{name}; /help lists them")
        return True

    async def _tool(self, name: str, args: dict[str, Any]) -> Any:
        ctx = ToolContext(deps=self.session.deps, session_id=self.session.session_id, caller="human")
        out = await self.session.registry.call(name, args, ctx)
        # A human command reads the whole result, not the size-capped text meant for the model.
        text = (self.session.registry.outputs.get(out.output_id) if out.output_id else None) or out.content
        return json.loads(text) if text.startswith(("{", "[")) else text

    async def _approve(self, record_id: str) -> None:
        import typer

        if not record_id:
            frozen = await self._tool("archive_list", {"state_filter": "frozen"})
            if not frozen:
                self.c.print("no frozen record awaits approval")
            for r in frozen or []:
                self.c.print(f"{r['record_id']} {r['family']} sharpe={r['metrics'].get('sharpe')} "
                             f"holdout={r.get('holdout')} -> /approve {r['record_id']}")
            return
        from auraquant.cta.governance.cli import approve

        try:
            await asyncio.to_thread(approve, record_id, yes=False, note="approved in chat",
                                    workspace=self.ws.root, json_out=False)
        except typer.Exit:
            pass

    # -- the REPL -----------------------------------------------------------------------------
    async def repl(self, first: str | None) -> int:
        inp = _Input(self.ws.aura / "chat_history")
        self.c.print(f"[bold]AuraQuant chat[/] · session {self.session.session_id} · "
                     f"{self.provider.info.provider}/{self.provider.info.model} · /help for commands")
        if self.resumed:
            self.show_resumed()
        if first is not None:
            if not await self.turn(first):
                return self._close()
            await self._outcome()
        while True:
            try:
                line = (await inp.read("research> ")).strip()
            except KeyboardInterrupt:
                now = time.monotonic()
                if now - self._last_interrupt < 2.0:
                    break
                self._last_interrupt = now
                self.c.print("[dim](Ctrl-C again or /quit to exit)[/]")
                continue
            except EOFError:
                break
            if not line:
                continue
            if line.startswith("/"):
                if not await self.command(line):
                    break
                continue
            if self.autopilot is not None:
                try:
                    self.goal = parse_goal(line)
                except GoalError as exc:
                    self.c.print(f"the offline autopilot needs a research goal: {escape(str(exc))}")
                    continue
                self.autopilot.restart(self.goal)
                self.session.goal = self.goal
                line = goal_request(self.goal, self.max_iters)
            if not await self.turn(line):
                break
            await self._outcome()
        return self._close()

    async def _outcome(self) -> None:
        if self.autopilot is not None and self.autopilot.termination is not None:
            show_outcome(await conclude(self.session, self.session.last_stop))

    def _close(self) -> int:
        self.session.close()
        self.c.print(f"session saved: {self.session.session_id} (auraquant chat --resume {self.session.session_id})")
        return 0


_WHO_STYLE = {"you": "bold cyan", "model": "green", "tools": "blue", "note": "dim"}
#: how many entries `last_turns` shows, and how much of each
RESUME_ENTRIES = 8
RESUME_TEXT_CHARS = 300


def last_turns(messages: tuple[Message, ...] | list[Message], limit: int = RESUME_ENTRIES) -> list[tuple[str, str]]:
    """The tail of a history as (who, text) lines for the terminal: user requests, the model's text,
    its tool calls with their outcome (✓/✗), and a note where older history was compacted."""
    out: list[tuple[str, str]] = []
    results: dict[str, bool] = {}
    for m in messages:
        for r in m.tool_results:
            results[r.tool_call_id] = not r.is_error
    for m in messages:
        if m.kind == "compaction":
            out.append(("note", "(older history was compacted into a snapshot)"))
        elif m.kind == "request" and m.role == "user" and m.text.strip():
            out.append(("you", _one_line(m.text)))
        elif m.role == "assistant":
            if m.text.strip():
                out.append(("model", _one_line(m.text)))
            if m.tool_calls:
                calls = ", ".join(
                    f"{c.name} {'✓' if results.get(c.id) else '✗' if c.id in results else '…'}" for c in m.tool_calls
                )
                out.append(("tools", calls))
    return out[-limit:]


def resume_overview(state: SessionState, goal: str | None, it: Any, max_usd: float | None) -> list[str]:
    """Goal, ITER_STATE and budget lines of a resumed session."""
    lines = [f"goal: {goal}" if goal else "goal: none (free chat)"]
    if it is not None:
        lines.append(f"ITER_STATE: {it.status} · iteration {it.iter}/{it.max_iters} · next: {_one_line(it.next_action)}")
    else:
        lines.append("ITER_STATE: none recorded yet")
    u = state.usage
    limit = f" of ${max_usd:.2f}" if max_usd is not None else ""
    lines.append(f"budget used: ${state.cost_usd:.4f}{limit} · {state.model_turns} model turns · "
                 f"{len(state.traces)} tool calls · {u.input_tokens + u.cache_read_tokens} input / "
                 f"{u.output_tokens} output tokens · {state.compactions} compactions")
    return lines


def _one_line(text: str) -> str:
    return clip_middle(" ".join(text.split()), RESUME_TEXT_CHARS)


def _key_values(obj: Any) -> str:
    """A tool's JSON result as `key: value` lines for people (nested objects one level deep, flattened)."""
    if not isinstance(obj, dict):
        return summarize_tool_result(json.dumps(obj, default=str))
    lines = []
    for k, v in obj.items():
        if isinstance(v, dict):
            v = ", ".join(f"{ik}={iv}" for ik, iv in v.items())
        lines.append(f"{k}: {v}")
    return "\n".join(lines)


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f}ms" if s < 1.0 else f"{s:.1f}s"


GOAL_EXAMPLE = "BTC/USDT 1h Sharpe >= 1.2, max drawdown >= -15%"


def _ask(question: str) -> str | None:
    """One line typed by the user (terminal or pipe); None at end of input."""
    try:
        return input(question)
    except EOFError:
        return None


def _ask_goal(console: Console) -> Goal | None:
    """Ask for a research goal until one parses; None when the user gives none (empty line or end of input).
    The offline autopilot never starts on a goal the user did not state."""
    console.print(f'What should the research aim for? e.g. "{GOAL_EXAMPLE}" (empty line to quit)',
                  markup=False, highlight=False)
    while True:
        text = _ask("goal> ")
        if text is None or not text.strip():
            return None
        try:
            return parse_goal(text)
        except GoalError as exc:
            console.print(f"not a goal: {one_line(str(exc))}", markup=False, highlight=False)


def run_chat(workspace: Path, *, provider: str | None, model: str | None, resume: str | None, goal: str | None,
             max_iters: int, max_usd: float | None, windows: int = 4, trials: int = 24) -> int:
    console = Console(highlight=False)
    try:
        ws = Workspace.open(workspace)
    except FileNotFoundError as exc:
        fail(error_message(exc), as_json=False)  # one line on stderr, exit 1 (the CLI's one error format)
    g = None
    if goal:
        try:
            g = parse_goal(goal)
        except GoalError as exc:
            fail(error_message(exc), as_json=False)
    if resume == "last":
        resume = SessionStore(ws.sessions).latest()
        if resume is None:
            fail("no session to resume in this workspace", as_json=False)
    elif resume is not None and resume not in SessionStore(ws.sessions).ids():
        fail(f"no session {resume} in this workspace (`auraquant chat --resume last` continues the latest)",
             as_json=False)
    try:
        llm, why = _select(ws, provider, model)
    except (ValueError, FileNotFoundError) as exc:
        fail(error_message(exc), as_json=False)  # one line on stderr, exit 1 (the CLI's one error format)
    autopilot = None
    if llm is None:
        if why:
            console.print(why, markup=False)
            answer = _ask("Run the offline autopilot instead? [Y/n] ")
            if answer is None or answer.strip().lower() not in ("", "y", "yes"):
                console.print("nothing started: no model key and the offline autopilot was declined", markup=False)
                return 0
        if g is None and resume is None:
            g = _ask_goal(console)
            if g is None:
                console.print("nothing started: no research goal given", markup=False)
                return 0
        g = g or parse_goal(DEMO_GOAL)  # a resumed session keeps researching; its own goal is shown on resume
        autopilot, llm = offline_autopilot(g, max_iters=max_iters, windows=windows, trials=trials,
                                           holdout_tolerance=load_gates(ws.config).holdout_tolerance)
        console.print(f"offline autopilot: researching toward '{escape(g.text)}' (type another goal afterwards)")
    chat = Chat(ws, console, llm, goal=g, max_iters=max_iters, max_usd=max_usd, autopilot=autopilot, resume=resume)
    first = goal_request(g, max_iters) if g is not None and resume is None else None
    return asyncio.run(chat.repl(first))
