"""What every research tool receives as `ctx.deps`: the workspace plus the run's identity and limits.

The tools read and write research state only through the workspace store (principle 1); the limits are
what `budget_status` reports against (the runtime enforces its own `Budgets`).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aura.tools import ToolContext, ToolFailure
from auraquant.store import NotFound
from auraquant.workspace import Workspace


@dataclass(frozen=True)
class ResearchLimits:
    """Caps of one research session as the agent should see them (None = not limited)."""

    max_usd: float | None = None
    max_iters: int | None = None
    max_tool_calls: int | None = None
    max_turns: int | None = None


class JobBoard:
    """Background experiment jobs of one session: one worker (experiments already use every core), futures
    by run id. `close()` cancels queued jobs; a running one finishes its current window (it is resumable)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, fn: Any) -> Future[Any]:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (not job.done() or job.exception() is None):
                return job  # same run already running or finished in this session: never start it twice
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aq-experiment")
            job = self._pool.submit(fn)
            self._jobs[key] = job
            return job

    def get(self, key: str) -> Future[Any] | None:
        return self._jobs.get(key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@dataclass
class ResearchDeps:
    """`ctx.deps` of the CTA tool surface. `model_id` is recorded as the proposer in archive records.

    `exchange_options` is host configuration for `data_fetch` (e.g. a private API root); the agent can
    never set it, so a tool call cannot point the fetcher at an arbitrary host."""

    workspace: Workspace
    model_id: str = "unknown"
    limits: ResearchLimits = field(default_factory=ResearchLimits)
    extras: dict[str, Any] = field(default_factory=dict)
    exchange_options: dict[str, Any] | None = None
    jobs: JobBoard = field(default_factory=JobBoard)

    @property
    def runtime_dir(self) -> Path:
        return self.workspace.runtime_dir


Ctx = ToolContext[ResearchDeps]


def research_context(workspace: Workspace, *, session_id: str = "", caller: str = "agent",
                     model_id: str = "unknown", limits: ResearchLimits | None = None) -> Ctx:
    """A ready `ToolContext` for calling CTA tools outside the agent engine (CLI, tests, autopilot)."""
    deps = ResearchDeps(workspace=workspace, model_id=model_id, limits=limits or ResearchLimits())
    return ToolContext(deps=deps, session_id=session_id, caller=caller)  # type: ignore[arg-type]


def get_or_fail[T](fn: Any, *args: Any, hint: str) -> T:
    """Call a store getter; a missing object becomes a `ToolFailure` that says which tool finds it."""
    try:
        return fn(*args)
    except NotFound as exc:
        raise ToolFailure(f"{exc}; {hint}") from None
