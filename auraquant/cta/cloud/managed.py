"""The Claude Managed Agents backend: run a job bundle in a cloud container through the `anthropic` SDK.

One run (`ManagedAgentsBackend.run`), identified by a fresh run id (`<job id>-<8 hex>`), so two runs of the same
job never share a record:

1. reuse this workspace's environment whose pinned pip packages match (metadata `aq_packages`), or create
   one. Environment names are unique on the service (a second create answers 409): the first free name of
   `auraquant-<workspace tag>`, `...-2`, `...-3` is used, and a 409 from a concurrent creator moves on to the next
   (after checking whether that creator's environment is now reusable). Reuse (or create) one orchestration agent
   (agents cannot be deleted, only archived);
2. upload the bundle, a smoke bundle and the auraquant wheel, each with an expiry (`ManagedConfig.upload_expiry_s`,
   covering both turns), so even a run nobody cleans up leaves no upload behind for long; they are mounted at
   the documented relative paths (`"/<name>"`, read by the agent at `/mnt/session/uploads/<name>`);
3. create ONE session with a hard `budget`, tagged with the workspace (see `tags`); record the run as in flight
   in the workspace memory (`cloud`/`inflight:<run id>`: session, environment, uploads and their expiry);
4. turn 1, the smoke job: install the wheel and run the smoke bundle; its result must come back and
   reproduce locally (`trust.verify_results`), else the batch is never started;
5. turn 2, the batch: run the real bundle; the result tar comes back as a session output file;
6. always, in `finally` (also on Ctrl-C, and on SIGTERM, which the CLI turns into the same interrupt): interrupt
   the session if it is still running, record its container time and tokens (prompt-cache reads and writes
   included) in the memory namespace `cost`, delete it, delete the uploaded and output files, and delete the
   environment unless it is kept for reuse; mark the in-flight record cleaned only when all of that succeeded.

Files API calls send the beta headers the Managed Agents files docs show (`FILES_BETAS`); the SDK adds none to
them by itself.

Each turn opens the event stream BEFORE sending the message, then reads until the first terminal event
after our own `user.message` (`session.status_idle` / `status_terminated` / `deleted`). A dropped stream is
not an error: the turn continues by paging `events.list` (all pages) from our message onwards; so does a
stream on which a terminal event arrives without our message's echo before it (a stream that started late).
Errors in the session (`session.error`), a failed command, `budget_reached`, or a missing result all raise
(`RemoteJobFailed` / `BudgetReached`) after cleanup. Returned results are hash-checked but NOT trusted:
`trust.accept_results` decides that.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.cloud import tags
from auraquant.cta.cloud.bundle import open_bundle, smoke_job, write_bundle
from auraquant.cta.cloud.cost import DEFAULT_MODEL, session_cost_usd
from auraquant.cta.cloud.errors import BudgetReached, RemoteJobFailed
from auraquant.cta.cloud.interrupts import checkpoint, deferred_signals
from auraquant.cta.cloud.runner import JobResult, open_results
from auraquant.store import Store

UPLOADS = "/mnt/session/uploads"
OUTPUTS = "/mnt/session/outputs"
FILES_BETAS = ["files-api-2025-04-14", "managed-agents-2026-04-01"]
MIN_UPLOAD_EXPIRY_S, MAX_UPLOAD_EXPIRY_S = 3600, 7_776_000  # the Files API's accepted range
MAX_NAME_ATTEMPTS = 20
SYSTEM_PROMPT = ("You operate the `auraquant` CLI in this container. Run exactly the commands you are given, in "
                 "order, each as one bash tool call. Stop at the first command that fails and report its "
                 "output. Do not edit files, do not retry with changed arguments, do not install anything "
                 "else. When done, reply with one line and stop.")
TERMINAL = {"session.status_idle", "session.status_terminated", "session.deleted"}


def pinned_packages(dist: str = "auraquant") -> list[str]:
    """`name==version` for each runtime requirement of `dist`, at the versions installed here."""
    pins = []
    for req in metadata.requires(dist) or []:
        if "extra ==" in req:
            continue
        name = req.split(";")[0]
        for sep in "[<>=!~ ":
            name = name.split(sep)[0]
        pins.append(f"{name}=={metadata.version(name)}")
    return sorted(pins)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default) if not isinstance(obj, dict) else obj.get(name, default)


@dataclass
class ManagedConfig:
    """Knobs of a managed run. `budget_usd` is the session's hard spend cap (list prices)."""

    model: str = DEFAULT_MODEL
    budget_usd: float = 5.0
    keep_environment: bool = True
    pip_packages: list[str] = field(default_factory=pinned_packages)
    smoke_bars: int = 2_000
    turn_timeout_s: float = 6 * 3600.0
    poll_s: float = 0.5

    @property
    def upload_expiry_s(self) -> int:
        """Seconds an upload lives: both turns at their timeout plus an hour, within the Files API's range."""
        return int(min(MAX_UPLOAD_EXPIRY_S, max(MIN_UPLOAD_EXPIRY_S, 2 * self.turn_timeout_s + 3600)))


@dataclass
class TurnOutcome:
    """What one user turn produced, read from the session's events after our message."""

    stop_reason: str | None = None
    errors: list[str] = field(default_factory=list)
    failed_commands: list[tuple[str, str]] = field(default_factory=list)
    agent_text: list[str] = field(default_factory=list)
    events: int = 0
    stream_dropped: bool = False


@dataclass
class RemoteRun:
    """A finished remote job: its (hash-checked, not yet trusted) result and what it cost."""

    result: JobResult
    run_id: str
    session_id: str
    environment_id: str
    active_seconds: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    stream_drops: int


def session_usage(session: Any, model: str) -> dict[str, Any]:
    """Container time, tokens (prompt-cache reads and writes included) and their list-price cost, of a session."""
    u = session.usage
    cc = u.cache_creation
    w5 = int((cc.ephemeral_5m_input_tokens or 0) if cc is not None else 0)
    w1 = int((cc.ephemeral_1h_input_tokens or 0) if cc is not None else 0)
    active = float(u.active_seconds or 0.0)
    tin, tout, tread = int(u.input_tokens or 0), int(u.output_tokens or 0), int(u.cache_read_input_tokens or 0)
    try:
        usd = session_cost_usd(active, tin, tout, model, cache_read_tokens=tread, cache_write_5m_tokens=w5,
                               cache_write_1h_tokens=w1)
    except ValueError:  # a model without a known list price here: the service's own list cost, if it has one
        usd = float(u.list_cost.amount) / 100 if u.list_cost is not None else float("nan")
    return {"active_seconds": active, "input_tokens": tin, "output_tokens": tout, "cache_read_tokens": tread,
            "cache_write_tokens": w5 + w1, "cost_usd": usd}


def session_model(session: Any, default: str = DEFAULT_MODEL) -> str:
    """The model id a session's agent runs (priced by `cost.model_price`), or `default`."""
    return str(_get(_get(session.agent, "model"), "id") or default)


class ManagedAgentsBackend:
    """Runs bundles on Claude Managed Agents. `client` is an `anthropic.Anthropic` (any base_url)."""

    def __init__(self, client: Any, *, workspace_tag: str, wheel: Path | str, store: Store | None = None,
                 config: ManagedConfig | None = None) -> None:
        self.client = client
        self.tag = workspace_tag
        self.wheel = Path(wheel)
        self.store = store
        self.config = config or ManagedConfig()
        self.stream_drops = 0

    # -- environment and agent ----------------------------------------------------------------------------------
    def _packages_hash(self) -> str:
        return sha256_hex(canonical_json(sorted(self.config.pip_packages)))[:16]

    def _reusable(self, env: Any, packages_hash: str) -> bool:
        md = env.metadata or {}
        return (self.config.keep_environment and md.get(tags.WORKSPACE) == self.tag and md.get(tags.KEEP) == "true"
                and md.get(tags.PACKAGES) == packages_hash and not env.archived_at)

    def ensure_environment(self) -> tuple[str, bool]:
        """(environment id, created). Reuses a kept environment of this workspace with the same pins; otherwise
        creates one under the first free name (see the module docstring), never a duplicate name."""
        from anthropic import ConflictError

        ph = self._packages_hash()
        envs = self.client.beta.environments
        taken: set[str] = set()
        for _ in range(MAX_NAME_ATTEMPTS):
            listed = list(envs.list(include_archived=True))
            for env in listed:
                if self._reusable(env, ph):
                    return env.id, False
            taken |= {env.name for env in listed}
            name = next(n for n in self._env_names() if n not in taken)
            try:
                env = envs.create(
                    name=name, description="AuraQuant job runner (pinned auraquant runtime deps)",
                    config={"type": "cloud", "networking": {"type": "limited", "allowed_hosts": [],
                                                            "allow_package_managers": True},
                            "packages": {"type": "packages", "pip": list(self.config.pip_packages)}},
                    metadata={tags.WORKSPACE: self.tag, tags.ROLE: tags.ROLE_ENV, tags.PACKAGES: ph,
                              tags.KEEP: "true" if self.config.keep_environment else "false"})
            except ConflictError:
                taken.add(name)  # created meanwhile (or not listed to us): look again, then take the next name
                continue
            return env.id, True
        raise RemoteJobFailed(f"no free environment name after {MAX_NAME_ATTEMPTS} attempts "
                              f"(auraquant-{self.tag}, -2, ...); run `auraquant cloud doctor --clean --include-kept`")

    def _env_names(self) -> Any:
        base = f"auraquant-{self.tag}"
        yield base
        n = 2
        while True:
            yield f"{base}-{n}"
            n += 1

    def ensure_agent(self) -> str:
        for agent in self.client.beta.agents.list():
            md = agent.metadata or {}
            if md.get(tags.WORKSPACE) == self.tag and _get(agent.model, "id") == self.config.model \
                    and not agent.archived_at:
                return agent.id
        agent = self.client.beta.agents.create(
            model=self.config.model, name=f"auraquant-runner-{self.tag}", system=SYSTEM_PROMPT,
            tools=[{"type": "agent_toolset_20260401"}], metadata={tags.WORKSPACE: self.tag})
        return agent.id

    # -- events ----------------------------------------------------------------------------------------------------
    def _turn(self, session_id: str, text: str) -> TurnOutcome:
        """Send one user message and read the session's events until it stops (see the module docstring)."""
        events = self.client.beta.sessions.events
        out = TurnOutcome()
        stream = events.stream(session_id)
        sent = events.send(session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}])
        mine = sent.data[0].id if sent.data else None
        seen_mine, done = False, False
        deadline = time.monotonic() + self.config.turn_timeout_s
        # A quiet stream yields nothing to check the clock on: a watchdog closes it at the deadline.
        watchdog = threading.Timer(self.config.turn_timeout_s, stream.close)
        watchdog.daemon = True
        watchdog.start()
        try:
            for ev in stream:
                checkpoint()
                if ev.id == mine:
                    seen_mine = True
                    continue
                if seen_mine or mine is None:
                    done = self._absorb(out, ev)
                    if done:
                        break
                elif ev.type in TERMINAL:
                    # a turn ended and our message's echo never came: the stream opened after it was sent
                    # (or lost it). Never wait out the timeout on that: read the log from our message instead.
                    break
        except Exception:  # any transport failure of the stream (cut connection, bad chunk): fall back to paging
            done = False
        finally:
            watchdog.cancel()
            stream.close()
        if not done and time.monotonic() > deadline:
            raise RemoteJobFailed(f"session {session_id} did not stop within {self.config.turn_timeout_s:g}s; "
                                  "it is interrupted and deleted")
        if done:
            return out
        self.stream_drops += 1
        return self._page_until_done(session_id, mine)

    def _page_until_done(self, session_id: str, mine: str | None) -> TurnOutcome:
        """Re-read the whole event log (every page) until a terminal event follows our message."""
        deadline = time.monotonic() + self.config.turn_timeout_s
        while time.monotonic() < deadline:
            out = TurnOutcome(stream_dropped=True)
            seen_mine = mine is None
            for ev in self.client.beta.sessions.events.list(session_id, order="asc"):
                checkpoint()
                if ev.id == mine:
                    seen_mine = True
                    continue
                if seen_mine and self._absorb(out, ev):
                    return out
            time.sleep(self.config.poll_s)
            checkpoint()
        raise RemoteJobFailed(f"session {session_id} did not stop within {self.config.turn_timeout_s:g}s")

    @staticmethod
    def _absorb(out: TurnOutcome, ev: Any) -> bool:
        """Fold one event into `out`; True when it ends the turn."""
        out.events += 1
        kind = ev.type
        if kind == "session.error":
            err = ev.error
            out.errors.append(f"{_get(err, 'type')}: {_get(err, 'message')}")
        elif kind == "agent.tool_result" and ev.is_error:
            text = "".join(_get(b, "text", "") or "" for b in (ev.content or []))
            out.failed_commands.append((ev.tool_use_id, text[-2000:]))
        elif kind == "agent.message":
            out.agent_text.append("".join(_get(b, "text", "") or "" for b in ev.content))
        if kind in TERMINAL:
            out.stop_reason = _get(ev.stop_reason, "type") if kind == "session.status_idle" else kind
            return True
        return False

    # -- one run -----------------------------------------------------------------------------------------------------
    def _command(self, bundle_name: str, job_id: str) -> str:
        return (f"python -m auraquant.cta.cloud job run {UPLOADS}/{bundle_name} --out aq-{job_id} "
                f"--archive {OUTPUTS}/result-{job_id}.tar --json")

    def _check(self, outcome: TurnOutcome, what: str) -> None:
        if outcome.stop_reason == "budget_reached":
            raise BudgetReached(f"{what}: the session hit its ${self.config.budget_usd:.2f} budget before the job "
                                f"finished; raise --budget or shrink the job. Nothing was kept.")
        if outcome.errors:
            raise RemoteJobFailed(f"{what}: session error: {'; '.join(outcome.errors)}")
        if outcome.failed_commands:
            raise RemoteJobFailed(f"{what}: a command failed in the container:\n{outcome.failed_commands[0][1]}")
        if outcome.stop_reason != "end_turn":
            raise RemoteJobFailed(f"{what}: the session stopped with {outcome.stop_reason!r}")

    def _fetch(self, session_id: str, job_id: str, dest: Path) -> JobResult:
        name = f"result-{job_id}.tar"
        for f in self.client.beta.files.list(scope_id=session_id, betas=FILES_BETAS):
            if f.filename == name:
                path = dest / name
                path.write_bytes(self.client.beta.files.download(f.id, betas=FILES_BETAS).read())
                result = open_results(path)
                if result.job_id != job_id:
                    raise RemoteJobFailed(f"{name} holds results of {result.job_id}, not {job_id}")
                return result
        raise RemoteJobFailed(f"the session produced no {name}; the job did not write its results")

    @staticmethod
    def _preflight(smoke_bundle: Path, smoke_result: JobResult) -> None:
        """The smoke result must reproduce locally before the batch starts billing (engine or data mismatch)."""
        from auraquant.cta.cloud.errors import TrustRefused
        from auraquant.cta.cloud.trust import verify_results

        try:
            verify_results(smoke_bundle, smoke_result.out_dir, audit_n=0)
        except TrustRefused as e:
            raise RemoteJobFailed(f"smoke job: the container's result does not reproduce here, so the batch was "
                                  f"not started: {e}") from e

    def _remember(self, run_id: str, body: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.memory_put(tags.MEMORY_NAMESPACE, tags.inflight_key(run_id), body)

    def run(self, bundle_path: Path | str, out_dir: Path | str) -> RemoteRun:
        """Run the bundle remotely; results land in `out_dir/result-<job id>/` (hash-checked, untrusted)."""
        bundle = open_bundle(bundle_path)
        job = bundle.job
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        run_id = f"{job.id}-{secrets.token_hex(4)}"
        tmp = Path(tempfile.mkdtemp(prefix="aq-managed-"))
        files = self.client.beta.files
        uploaded: list[str] = []
        expiry: dict[str, str | None] = {}
        session_id: str | None = None
        env_id: str | None = None
        inflight: dict[str, Any] = {"state": "running", "run_id": run_id, "job_id": job.id, "environment_id": None,
                                    "files": uploaded, "file_expiry": expiry, "session_id": None,
                                    "keep_environment": self.config.keep_environment,
                                    "started_at": datetime.now(UTC).isoformat(), **tags.owner()}
        self._remember(run_id, inflight)  # on record before anything exists remotely
        try:
            env_id, _ = self.ensure_environment()
            inflight["environment_id"] = env_id
            self._remember(run_id, inflight)
            agent_id = self.ensure_agent()
            sjob, sbars = smoke_job(job, bundle.bars, max_bars=self.config.smoke_bars)
            smoke_path = write_bundle(sjob, sbars, tmp, modules=bundle.modules)
            main_path = write_bundle(job, bundle.bars, tmp, modules=bundle.modules)
            resources = []
            for p in (main_path, smoke_path, self.wheel):
                meta = files.upload(file=(p.name, p.read_bytes(), "application/octet-stream"),
                                    expires_in_seconds=self.config.upload_expiry_s, betas=FILES_BETAS)
                uploaded.append(meta.id)
                expiry[meta.id] = meta.expires_at.isoformat() if meta.expires_at else None
                self._remember(run_id, inflight)  # every upload is on record before the next step
                # The documented form: relative to the uploads directory, read at f"{UPLOADS}/{p.name}".
                resources.append({"type": "file", "file_id": meta.id, "mount_path": f"/{p.name}"})
            session = self.client.beta.sessions.create(
                agent=agent_id, environment_id=env_id, title=f"auraquant job {job.id}", resources=resources,
                budget={"type": "limit", "max_list_cost": {"amount": str(max(1, round(self.config.budget_usd * 100))),
                                                           "currency": "USD"}},
                metadata={tags.WORKSPACE: self.tag, tags.ROLE: tags.ROLE_SESSION, tags.JOB: job.id, tags.RUN: run_id})
            session_id = session.id
            inflight["session_id"] = session_id
            self._remember(run_id, inflight)
            smoke = self._turn(session_id, "Smoke test. Run:\n```bash\n"
                               f"pip install --no-deps {UPLOADS}/{self.wheel.name}\n"
                               f"{self._command(smoke_path.name, sjob.id)}\n```\nThen stop.")
            self._check(smoke, "smoke job")
            self._preflight(smoke_path, self._fetch(session_id, sjob.id, tmp))
            checkpoint()
            batch = self._turn(session_id, f"Run the job:\n```bash\n{self._command(main_path.name, job.id)}\n```\n"
                                           "Then stop.")
            self._check(batch, "batch job")
            fetched = self._fetch(session_id, job.id, tmp)
            final = out_dir / f"result-{job.id}"
            if final.exists():
                shutil.rmtree(final)
            shutil.copytree(fetched.out_dir, final)
            result = open_results(final)
            usage = session_usage(self.client.beta.sessions.retrieve(session_id), self.config.model)
            return RemoteRun(result=result, run_id=run_id, session_id=session_id, environment_id=env_id,
                             stream_drops=self.stream_drops, **usage)
        finally:
            self._cleanup(run_id, job.id, session_id, env_id, uploaded, inflight)
            shutil.rmtree(tmp, ignore_errors=True)

    def _record_cost(self, job_id: str, session_id: str, usage: dict[str, Any], run_id: str) -> None:
        if self.store is not None:
            self.store.memory_put(tags.COST_NAMESPACE, f"managed:{session_id}", {
                "backend": "managed_agents", "job_id": job_id, "run_id": run_id, "session_id": session_id,
                "model": self.config.model, "recorded_by": "run", "recorded_at": datetime.now(UTC).isoformat(),
                **usage})

    def _cleanup(self, run_id: str, job_id: str, session_id: str | None, env_id: str | None, uploaded: list[str],
                 inflight: dict[str, Any]) -> None:
        with deferred_signals():  # a signal arriving now takes effect after the cleanup, not halfway through it
            self._clean(run_id, job_id, session_id, env_id, uploaded, inflight)

    def _clean(self, run_id: str, job_id: str, session_id: str | None, env_id: str | None, uploaded: list[str],
               inflight: dict[str, Any]) -> None:
        sessions, files = self.client.beta.sessions, self.client.beta.files
        if session_id is not None:
            s = sessions.retrieve(session_id)
            if s.status == "running":
                sessions.events.send(session_id, events=[{"type": "user.interrupt"}])
                deadline = time.monotonic() + 30
                while sessions.retrieve(session_id).status == "running" and time.monotonic() < deadline:
                    time.sleep(0.1)
            self._record_cost(job_id, session_id, session_usage(sessions.retrieve(session_id), self.config.model),
                              run_id)
            outputs = [f.id for f in files.list(scope_id=session_id, betas=FILES_BETAS)]
            sessions.delete(session_id)
            for fid in outputs:
                files.delete(fid, betas=FILES_BETAS)
        for fid in uploaded:
            files.delete(fid, betas=FILES_BETAS)
        if env_id is not None and not self.config.keep_environment:
            self.client.beta.environments.delete(env_id)
        self._remember(run_id, {**inflight, "state": "cleaned", "cleaned_at": datetime.now(UTC).isoformat()})
