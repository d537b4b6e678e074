"""`AgentEngine`: the async agent loop.

One `run(request)` call: append the request, then repeat {check budgets -> compact if the context
reached the threshold -> one streamed model turn (retried with backoff on retryable failures) ->
execute its tool calls as a batch} until the model answers without tool calls or a budget, guard,
error or cancellation stops it. The last event is always `Stopped` (except on cancellation, where
`CancelledError` propagates after the state is saved and `last_stop` is set).

History invariant: every persisted assistant message with tool calls is followed by one message with
a result for each call — when calls are refused by a budget, cancelled, or were in flight when the
process died (repaired by `resume`), the result is a `ToolError` saying so.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aura.retry import RetryPolicy
from aura.runtime.budgets import Budgets, StopReason, call_key
from aura.runtime.compaction import (
    CompactionPolicy,
    Split,
    context_message,
    header_message,
    latest_request_to_carry,
    plan_split,
    render_transcript,
    stub_candidates,
    stub_message,
    summarize,
)
from aura.runtime.events import (
    Compacted,
    EngineEvent,
    Retrying,
    Stopped,
    TextDeltaEvent,
    ToolEnd,
    ToolStart,
    TurnUsage,
)
from aura.runtime.layers import PromptLayers
from aura.runtime.messages import Message, ToolCallPart, ToolResultPart, user_text
from aura.runtime.provider import Provider, ProviderError, TextDelta, TurnCompleted, TurnRequest
from aura.runtime.sessions import SessionLog
from aura.runtime.tokens import estimate_message_tokens, estimate_text_tokens, estimate_tools_tokens
from aura.runtime.trace import RunTrace, summarize_result
from aura.runtime.usage import Usage
from aura.tools.context import ToolContext
from aura.tools.errors import ToolError
from aura.tools.limits import clip_middle
from aura.tools.registry import ToolOutcome, ToolRegistry

#: characters of a call's arguments kept in its RunTrace (the session's message record has them all)
TRACE_ARGUMENT_CHARS = 4_000


@dataclass
class _RunState:
    turns: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0
    identical: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _TurnInfo:
    turn: int
    usage: Usage
    cost_usd: float


class AgentEngine[DepsT]:
    """The loop. `deps` is handed to every tool as `ctx.deps`; `layers` are the caller's prompt texts;
    `tool_categories` limits which registered tools the model is shown (None = all agent tools)."""

    def __init__(
        self,
        provider: Provider,
        registry: ToolRegistry,
        *,
        deps: DepsT = None,  # type: ignore[assignment]
        layers: PromptLayers | None = None,
        budgets: Budgets | None = None,
        retry: RetryPolicy | None = None,
        compaction: CompactionPolicy | None = None,
        session: SessionLog | None = None,
        history: Sequence[Message] = (),
        tool_categories: Iterable[str] | None = None,
    ) -> None:
        self._provider = provider
        self._registry = registry
        self._deps = deps
        self._layers = layers or PromptLayers()
        self._budgets = budgets or Budgets()
        self._retry = retry or RetryPolicy()
        self._compaction = compaction or CompactionPolicy()
        self._session = session
        if session is not None:
            # Full texts of capped outputs survive the process (a resumed session can still fetch them).
            registry.outputs.persist_to(session.outputs_dir)
        self._categories = None if tool_categories is None else tuple(tool_categories)
        self._messages: list[Message] = list(history)
        self._counts: list[int] = [self._estimate(m) for m in self._messages]
        self._msg_tokens = sum(self._counts)
        # (prompt tokens the provider reported, number of messages it had seen): anchors the estimate.
        self._anchor: tuple[int, int] | None = None
        self._tools_cache: tuple[Any, int] = ((), 0)
        self._system_cache: tuple[str, int] = ("", 0)
        self._pending_events: list[EngineEvent] = []
        self._run = _RunState()
        self.session_cost_usd = 0.0
        self.last_stop: Stopped | None = None

    # -- construction from a saved session ------------------------------------------------------
    @classmethod
    def resume(
        cls, provider: Provider, registry: ToolRegistry, session: SessionLog, **kwargs: Any
    ) -> AgentEngine[Any]:
        """Rebuild an engine from `session`'s log: same history, same accumulated cost. Tool calls
        that were in flight when the previous process died get a `cancelled` result (persisted)."""
        state = session.replay()
        engine: AgentEngine[Any] = cls(provider, registry, session=session, history=state.messages, **kwargs)
        engine.session_cost_usd = state.cost_usd
        engine._close_pending(
            "cancelled", "the session ended before this call finished; re-run it if still needed"
        )
        return engine

    # -- public state -------------------------------------------------------------------------
    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    @property
    def session_id(self) -> str:
        return self._session.session_id if self._session is not None else ""

    @property
    def layers(self) -> PromptLayers:
        return self._layers

    def set_layers(self, layers: PromptLayers) -> None:
        """New layers: the system prompt applies from the next call, AGENTS.md/skill from the next
        compaction (or session start)."""
        self._layers = layers

    def context_tokens(self) -> int:
        """Estimated size of the next request: system + tools + messages, anchored to the last
        prompt size the provider reported when that is larger than the heuristic."""
        heuristic = self._system_tokens() + self._tools_tokens() + self._msg_tokens
        if self._anchor is None:
            return heuristic
        reported, seen = self._anchor
        return max(heuristic, reported + sum(self._counts[seen:]))

    # -- the loop -----------------------------------------------------------------------------
    async def run(self, request: str) -> AsyncIterator[EngineEvent]:
        """Process one user request; yields events, the last one `Stopped`."""
        self._run = _RunState()
        if not self._messages:
            ctx = context_message(self._layers)
            if ctx is not None:
                self._append(ctx)
        self._append(user_text(request))
        stopped = False
        try:
            async for ev in self._loop():
                stopped = isinstance(ev, Stopped)
                yield ev
        except (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt):
            if stopped:  # the consumer left after the final event: nothing was interrupted
                raise
            self._close_pending("cancelled", "interrupted by the user before this call ran")
            self._stop(StopReason.INTERRUPTED, "cancelled by the caller; state saved")
            raise

    async def run_until_stopped(
        self, request: str, on_event: Callable[[EngineEvent], None] | None = None
    ) -> Stopped:
        """`run` for callers that only want the outcome (optionally observing events)."""
        stop: Stopped | None = None
        async for ev in self.run(request):
            if on_event is not None:
                on_event(ev)
            if isinstance(ev, Stopped):
                stop = ev
        assert stop is not None
        return stop

    async def _loop(self) -> AsyncIterator[EngineEvent]:
        b = self._budgets
        run = self._run
        while True:
            if b.max_turns is not None and run.turns >= b.max_turns:
                yield self._stop(StopReason.MAX_TURNS, f"reached max_turns={b.max_turns}")
                return
            if b.max_usd is not None and run.cost_usd >= b.max_usd:
                yield self._stop(StopReason.MAX_USD, f"spent ${run.cost_usd:.4f} >= max_usd=${b.max_usd}")
                return
            info = self._provider.info
            if self.context_tokens() >= self._compaction.threshold(
                info.context_window, info.max_output_tokens
            ):
                stopped = False
                async for ev in self._compact(forced=False):
                    stopped = stopped or isinstance(ev, Stopped)
                    yield ev
                if stopped:
                    return

            turn = run.turns + 1
            completed: TurnCompleted | None = None
            try:
                async for ev in self._call_model(self._turn_request(), turn):
                    if isinstance(ev, TurnCompleted):
                        completed = ev
                    else:
                        yield ev
            except ProviderError as exc:
                yield self._stop(StopReason.PROVIDER_ERROR, str(exc))
                return
            assert completed is not None
            run.turns = turn
            msg = completed.message
            self._append(msg)
            info = self._account(completed.usage, "turn")
            self._anchor = (completed.usage.prompt_tokens, len(self._messages) - 1)
            yield TurnUsage(turn, self._provider.info.model, completed.usage, info, run.cost_usd)
            tinfo = _TurnInfo(turn, completed.usage, info)

            calls = msg.tool_calls
            if not calls:
                yield self._stop(StopReason.COMPLETED, completed.finish_reason, final_text=msg.text)
                return
            refusal = self._refuse_batch(calls)
            if refusal is not None:
                reason, detail = refusal
                self._close_pending(
                    "not_executed", f"not executed: the run stopped ({reason.value}: {detail})", tinfo
                )
                yield self._stop(reason, detail)
                return
            async for ev in self._execute_batch(calls, tinfo):
                yield ev

    def _refuse_batch(self, calls: tuple[ToolCallPart, ...]) -> tuple[StopReason, str] | None:
        b, run = self._budgets, self._run
        if b.max_usd is not None and run.cost_usd >= b.max_usd:
            return StopReason.MAX_USD, f"spent ${run.cost_usd:.4f} >= max_usd=${b.max_usd}"
        if b.max_tool_calls is not None and run.tool_calls + len(calls) > b.max_tool_calls:
            return StopReason.MAX_TOOL_CALLS, (
                f"{run.tool_calls} tool calls made, {len(calls)} more requested, "
                f"max_tool_calls={b.max_tool_calls}"
            )
        if b.max_identical_calls is not None:
            seen = Counter(run.identical)
            for c in calls:
                key = call_key(c.name, c.arguments)
                seen[key] += 1
                if seen[key] > b.max_identical_calls:
                    return StopReason.REPEATED_CALL, (
                        f"{c.name}({c.arguments}) requested {seen[key]} times with identical arguments "
                        f"(max_identical_calls={b.max_identical_calls})"
                    )
        run.tool_calls += len(calls)
        for c in calls:
            run.identical[call_key(c.name, c.arguments)] += 1
        return None

    # -- model calls --------------------------------------------------------------------------
    def _turn_request(self) -> TurnRequest:
        return TurnRequest(
            system=self._layers.system_prompt,
            messages=tuple(self._messages),
            tools=self._schemas(),
            max_call_chars=self._registry.limits.max_call_chars,
        )

    async def _call_model(
        self, request: TurnRequest, turn: int
    ) -> AsyncIterator[EngineEvent | TurnCompleted]:
        """One model call with retries. Text of a failed attempt was already streamed; the `Retrying`
        event tells the consumer to discard it."""
        delays = self._retry.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                async for ev in self._provider.stream_turn(request):
                    if isinstance(ev, TextDelta):
                        yield TextDeltaEvent(turn, ev.text)
                    elif isinstance(ev, TurnCompleted):
                        yield ev
                return
            except ProviderError as exc:
                if not exc.retryable or attempt >= self._retry.max_attempts:
                    raise
                delay = delays.delay(attempt, exc.retry_after_s)
                yield Retrying(attempt, delay, str(exc))
                await asyncio.sleep(delay)

    def _account(self, usage: Usage, purpose: str) -> float:
        cost = usage.cost_usd(self._provider.info.prices)
        self._run.cost_usd += cost
        self.session_cost_usd += cost
        if self._session is not None:
            self._session.append_turn(self._provider.info.model, usage, cost, purpose)
        return cost

    # -- tools --------------------------------------------------------------------------------
    async def _execute_batch(
        self, calls: tuple[ToolCallPart, ...], tinfo: _TurnInfo
    ) -> AsyncIterator[EngineEvent]:
        """Run the batch: consecutive non-exclusive calls concurrently, exclusive calls alone, in the
        model's order. Results are persisted as one message even when cancelled midway."""
        outcomes: dict[str, ToolOutcome] = {}
        # Per call: wall-clock start (ISO, for the trace) and perf_counter start (for the real duration
        # of a call that is cancelled before it returns an outcome).
        starts: dict[str, tuple[str, float]] = {}
        try:
            for group in self._groups(calls):
                for c in group:
                    yield ToolStart(tinfo.turn, c.id, c.name, c.arguments)
                tasks = []
                for c in group:
                    starts[c.id] = (datetime.now(UTC).isoformat(timespec="milliseconds"), time.perf_counter())
                    tasks.append(
                        asyncio.ensure_future(self._registry.call(c.name, c.arguments, self._ctx(c, tinfo.turn)))
                    )
                try:
                    await asyncio.gather(*tasks)
                finally:
                    for c, t in zip(group, tasks, strict=True):
                        if t.done() and not t.cancelled() and t.exception() is None:
                            outcomes[c.id] = t.result()
                        else:
                            t.cancel()
                for c in group:
                    out = outcomes[c.id]
                    trace = self._trace(c, out, tinfo, starts[c.id][0])
                    if self._session is not None:
                        self._session.append_trace(trace)
                    yield ToolEnd(tinfo.turn, c.id, c.name, out.ok, out.content, out.error, trace)
        finally:
            self._append_results(
                calls, outcomes, "cancelled", "interrupted before this call finished", tinfo, starts
            )

    def _groups(self, calls: tuple[ToolCallPart, ...]) -> list[list[ToolCallPart]]:
        groups: list[list[ToolCallPart]] = []
        current: list[ToolCallPart] = []
        for c in calls:
            if self._is_exclusive(c):
                if current:
                    groups.append(current)
                    current = []
                groups.append([c])
            else:
                current.append(c)
        if current:
            groups.append(current)
        return groups

    def _is_exclusive(self, call: ToolCallPart) -> bool:
        t = self._registry.get(call.name)
        return t is not None and t.exclusive

    def _ctx(self, call: ToolCallPart, turn: int) -> ToolContext[DepsT]:
        return ToolContext(
            deps=self._deps, session_id=self.session_id, caller="agent", tool_call_id=call.id, turn=turn
        )

    def _trace(self, call: ToolCallPart, out: ToolOutcome, tinfo: _TurnInfo, started: str) -> RunTrace:
        return RunTrace(
            session_id=self.session_id,
            turn=tinfo.turn,
            tool_call_id=call.id,
            tool=call.name,
            # The message record keeps the arguments whole; a trace only needs to identify them.
            arguments=clip_middle(call.arguments, TRACE_ARGUMENT_CHARS),
            ok=out.ok,
            error_kind=out.error.kind if out.error is not None else None,
            duration_ms=round(out.duration_s * 1000.0, 3),
            result_summary=summarize_result(out.content),
            model=self._provider.info.model,
            input_tokens=tinfo.usage.prompt_tokens,
            output_tokens=tinfo.usage.output_tokens,
            cache_read_tokens=tinfo.usage.cache_read_tokens,
            cost_usd=tinfo.cost_usd,
            started_at=started,
        )

    def _append_results(
        self,
        calls: Sequence[ToolCallPart],
        outcomes: dict[str, ToolOutcome],
        missing_kind: Any,
        missing: str,
        tinfo: _TurnInfo | None = None,
        starts: dict[str, tuple[str, float]] | None = None,
    ) -> None:
        """Append the results message of `calls`; calls without an outcome get a `missing_kind` error
        (and, when the issuing turn is known, a RunTrace, so every call the model made is traced). A
        call that had started carries its real duration up to now; one that never started, 0."""
        parts = []
        now = time.perf_counter()
        for c in calls:
            out = outcomes.get(c.id)
            if out is None:
                err = ToolError(tool=c.name, kind=missing_kind, message=missing)
                began = (starts or {}).get(c.id)
                out = ToolOutcome(
                    tool=c.name,
                    ok=False,
                    content=err.to_model_text(),
                    error=err,
                    duration_s=now - began[1] if began is not None else 0.0,
                )
                if tinfo is not None and self._session is not None:
                    at = began[0] if began is not None else datetime.now(UTC).isoformat(timespec="milliseconds")
                    self._session.append_trace(self._trace(c, out, tinfo, at))
            parts.append(
                ToolResultPart(tool_call_id=c.id, name=c.name, content=out.content, is_error=not out.ok)
            )
        self._append(Message(role="user", parts=tuple(parts), kind="tool_results"))

    def _close_pending(self, kind: str, message: str, tinfo: _TurnInfo | None = None) -> None:
        """Answer the calls of a trailing assistant message that has no results yet."""
        if self._messages and self._messages[-1].role == "assistant" and self._messages[-1].tool_calls:
            self._append_results(self._messages[-1].tool_calls, {}, kind, message, tinfo)

    # -- compaction ---------------------------------------------------------------------------
    def compaction_blocker(self) -> str | None:
        """Why `compact()` would do nothing right now (a sentence for the user), or None if it acts."""
        split = self._forced_split()
        if split is not None or self._stub_candidates(forced=True):
            return None
        n = len(self._messages)
        older = plan_split(self._messages, self._compaction, self._counts)
        if older is not None:
            return (
                f"nothing to compact: the older part of the history holds ~{self._summarizable_tokens(older)} "
                f"tokens of conversation besides the last snapshot, less than a snapshot costs "
                f"(~{self._compaction.min_summarized_tokens}); the context is "
                f"~{self.context_tokens()} tokens and no message is large enough to cut"
            )
        return (
            f"nothing to compact: the history has {n} message{'s' if n != 1 else ''} "
            f"(~{self._msg_tokens} tokens); compaction keeps the latest "
            f"{self._compaction.min_keep_messages} messages and whole tool batches, so there is nothing "
            "older to summarise and no message large enough to cut"
        )

    def _forced_split(self) -> Split | None:
        """The split of a forced compaction, when it is worth it: the older part must hold at least
        `min_summarized_tokens` of conversation (an earlier snapshot and the restated contract do not
        count: they come back in the new header anyway)."""
        split = plan_split(self._messages, self._compaction, self._counts)
        if split is None or self._summarizable_tokens(split) < self._compaction.min_summarized_tokens:
            return None
        return split

    def _summarizable_tokens(self, split: Split) -> int:
        return sum(
            n
            for m, n in zip(self._messages[: split.cut], self._counts[: split.cut], strict=True)
            if m.kind not in ("compaction", "context")
        )

    async def compact(self) -> AsyncIterator[EngineEvent]:
        """Compact now, whatever the context size (the `/compact` command). Yields `Compacted` when it
        acted, nothing when `compaction_blocker()` says why it cannot, and `Stopped` only if the
        summary call failed or the context is still over the window."""
        if self.compaction_blocker() is not None:
            return
        async for ev in self._compact(forced=True):
            yield ev

    async def _compact(self, *, forced: bool = False) -> AsyncIterator[EngineEvent]:
        """Summarise the older part, then stub oversized messages until the context is under the
        threshold (`forced` with nothing to summarise: stub every oversized message). Stops with
        `context_overflow` only when even that leaves the request over the window."""
        info = self._provider.info
        policy = self._compaction
        before = self.context_tokens()
        hard_limit = info.context_window - info.max_output_tokens
        threshold = policy.threshold(info.context_window, info.max_output_tokens)
        split = self._forced_split() if forced else plan_split(self._messages, policy, self._counts)
        cut, calls = 0, 0
        if split is not None:
            latest_text = latest_request_to_carry(self._messages, split.cut)
            entries = render_transcript(self._messages[: split.cut], policy.max_part_chars)
            # The summary call must fit: window minus its own output and a 5% safety margin.
            budget = info.context_window - policy.summary_max_output_tokens - info.context_window // 20
            try:
                snapshot, calls = await summarize(entries, self._summary_call, input_budget_tokens=budget)
            except ProviderError as exc:
                for ev in self._drain_pending():
                    yield ev
                yield self._stop(StopReason.PROVIDER_ERROR, f"compaction summary failed: {exc}")
                return
            for ev in self._drain_pending():
                yield ev
            header = header_message(self._layers, snapshot, latest_text)
            self._messages = [header, *self._messages[split.cut :]]
            self._counts = [self._estimate(header), *self._counts[split.cut :]]
            self._msg_tokens = sum(self._counts)
            self._anchor = None
            cut = split.cut
            if self._session is not None:
                self._session.append_compaction(header, split.cut, before, self.context_tokens())
        # A forced compaction with nothing to summarise cuts every oversized message (it must act).
        stubbed = self._stub_oversized(0 if forced and not cut else threshold, forced)
        after = self.context_tokens()
        if cut or stubbed:
            kept = len(self._messages) - (1 if cut else 0)
            yield Compacted(before, after, threshold, cut, kept, calls, stubbed)
        if after > hard_limit:
            yield self._stop(
                StopReason.CONTEXT_OVERFLOW,
                f"{after} tokens after compaction > {hard_limit}, with nothing left to summarise or cut "
                f"(system prompt ~{self._system_tokens()}, tool definitions ~{self._tools_tokens()} tokens)",
            )

    def _stub_candidates(self, forced: bool) -> list[int]:
        idx = stub_candidates(self._messages, self._counts, self._compaction)
        if forced:
            return idx
        # Automatic compaction leaves the newest message alone when it can (the model has not seen it).
        return [i for i in idx if i != len(self._messages) - 1] + [
            i for i in idx if i == len(self._messages) - 1
        ]

    def _stub_oversized(self, target: int, forced: bool) -> int:
        """Replace oversized messages by stubs, largest first, until the context is at most `target`
        tokens. Returns how many were replaced (each persisted as a `replace` record)."""
        n = 0
        for i in self._stub_candidates(forced):
            if self.context_tokens() <= target:
                break
            stub = stub_message(self._messages[i], self._compaction.stub_keep_chars, self._registry.outputs.put)
            tokens = self._estimate(stub)
            if tokens >= self._counts[i]:
                continue
            self._messages[i] = stub
            self._msg_tokens += tokens - self._counts[i]
            self._counts[i] = tokens
            self._anchor = None  # the provider's last prompt size no longer describes this history
            n += 1
            if self._session is not None:
                self._session.append_replace(i, stub)
        return n

    async def _summary_call(self, system: str, text: str) -> str:
        req = TurnRequest(
            system=system,
            messages=(user_text(text),),
            tools=(),
            max_output_tokens=self._compaction.summary_max_output_tokens,
            purpose="summary",
        )
        completed: TurnCompleted | None = None
        async for ev in self._call_model(req, self._run.turns):
            if isinstance(ev, TurnCompleted):
                completed = ev
            elif isinstance(ev, Retrying):
                self._pending_events.append(ev)
        assert completed is not None
        self._account(completed.usage, "summary")
        return completed.message.text

    def _drain_pending(self) -> list[EngineEvent]:
        out, self._pending_events = self._pending_events, []
        return out

    # -- bookkeeping --------------------------------------------------------------------------
    def _append(self, message: Message) -> None:
        self._messages.append(message)
        n = self._estimate(message)
        self._counts.append(n)
        self._msg_tokens += n
        if self._session is not None:
            self._session.append_message(message)

    def _estimate(self, message: Message) -> int:
        return estimate_message_tokens(message, self._registry.limits.max_call_chars)

    def _schemas(self) -> Any:
        return self._registry.schemas("agent", self._categories)

    def _tools_tokens(self) -> int:
        schemas = self._schemas()
        if self._tools_cache[0] is not schemas:
            self._tools_cache = (schemas, estimate_tools_tokens(schemas))
        return self._tools_cache[1]

    def _system_tokens(self) -> int:
        text = self._layers.system_prompt
        if self._system_cache[0] is not text:
            self._system_cache = (text, estimate_text_tokens(text))
        return self._system_cache[1]

    def _stop(self, reason: StopReason, detail: str, final_text: str = "") -> Stopped:
        run = self._run
        stop = Stopped(reason, detail, run.turns, run.tool_calls, run.cost_usd, final_text)
        self.last_stop = stop
        if self._session is not None:
            self._session.append_stop(reason.value, detail)
        return stop
