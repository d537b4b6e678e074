"""A local emulator of the Claude Managed Agents endpoints AuraQuant uses, for the real `anthropic` SDK.

Served on 127.0.0.1 (ephemeral port) from a daemon thread; point `anthropic.Anthropic(base_url=emu.url)` at
it. Shapes follow anthropic 2.12.0 (`types/beta/...`): environments, agents, sessions, session events (send,
cursor-paged list, SSE stream) and files (multipart upload, scoped list, metadata, content, delete).
Every managed-agents request must carry `anthropic-beta: managed-agents-2026-04-01` and an API key (2.12.0 sends it as
`Authorization: Bearer`, older clients as `x-api-key`). Listing files (`GET /v1/files`) must carry both betas the
Managed Agents files docs show, `files-api-2025-04-14,managed-agents-2026-04-01` (the SDK adds neither to Files
calls by itself).

Service rules modelled (each answered with the real status code):
- environment names are unique among the live environments: creating a second one answers 409;
- a file resource's `mount_path` is relative to `/mnt/session/uploads` (the documented form: `"/data.csv"` is read at
  `/mnt/session/uploads/data.csv`; omitted, the file lands at `/mnt/session/uploads/<file_id>`); it must start with
  `/`, have no empty, `.` or `..` segment, be at most 4096 characters and not repeat in one session (else 400);
- uploads may set `expires_in_seconds` (3600 to 7776000, else 400); the metadata then carries `expires_at`, and an
  expired file's content is gone (404);
- `reject_key` answers every request 401, `beta_disabled` answers every managed-agents request 403.

The "agent" is scripted, not a model, but the container is real: for each `user.message` it takes the
commands of the message's ```bash fenced block(s), one per line, and runs them one by one in a subprocess
(`bash -c`) inside a per-session sandbox directory where `/mnt/session/...` maps to `<sandbox>/mnt/session/...`.
Mounted files (session `resources`) are copied to their mount paths; files that appear under
`/mnt/session/outputs/` become downloadable files scoped to the session (`files.list(scope_id=...)`). It stops
at the first failing command. Each model request (one per turn and one after each tool result) bills
`input_tokens_per_turn` / `output_tokens_per_turn` tokens.

The container image is the host virtualenv: `python` runs this interpreter; `pip install X.whl` is a shim that
checks the wheel is a readable wheel with a `.dist-info` and reports success without installing it (the
package is already importable here). Environment `packages.pip` pins are checked against the host's installed
versions at session start: a mismatch is a `session.error`, as a failed install would be.

Billing as documented: running time only (`usage.active_seconds`) at $0.08/hour + tokens at list price, in
`usage.list_cost` (minor units). Each model request also reads `cache_read_tokens_per_turn` and writes
`cache_write_tokens_per_turn` prompt-cache tokens (5-minute entries), priced at 0.1x and 1.25x the input price and
reported as `usage.cache_read_input_tokens` / `usage.cache_creation.ephemeral_5m_input_tokens`. A session
`budget` is a hard cap on new model requests: once the list cost reaches it, the agent issues no further model
request and the session goes idle with stop reason `budget_reached`; a command already running is not killed, it
finishes (its container time still bills).

Faults: `error_after_tool_uses` (emit a terminal `session.error`, then idle with `retries_exhausted`),
`drop_stream_after_events` (the next SSE connection is cut mid-body after that many events, once),
`stall_commands` (every command runs until the session is interrupted or deleted: a job that outlives any turn
timeout, so a timeout test does not race the job's real duration), `stream_starts_late` (the next SSE
stream delivers only the events after the next `user.message` echo: a stream that started after the message
was sent, once).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.support.http_harness import Exchange, HttpHarness

BETA = "managed-agents-2026-04-01"
FILES_BETA = "files-api-2025-04-14"
SESSION_HOUR_USD = 0.08
CACHE_READ_FACTOR, CACHE_WRITE_5M_FACTOR = 0.1, 1.25  # of the input price
MIN_EXPIRY_S, MAX_EXPIRY_S, MAX_MOUNT_PATH = 3600, 7_776_000, 4096
UPLOADS = "/mnt/session/uploads"
PRICES = {"claude-haiku-4-5": (1.0, 5.0), "claude-sonnet-4-5": (3.0, 15.0), "claude-sonnet-4-6": (3.0, 15.0)}

_PIP_SHIM = r'''#!{python}
import sys, zipfile
args = sys.argv[1:]
if not args or args[0] != "install":
    print("pip shim: only `pip install` is emulated", file=sys.stderr); sys.exit(2)
wheels = [a for a in args[1:] if not a.startswith("-")]
for w in wheels:
    try:
        names = zipfile.ZipFile(w).namelist()
    except (OSError, zipfile.BadZipFile) as e:
        print(f"ERROR: {{w}} is not a valid wheel: {{e}}", file=sys.stderr); sys.exit(1)
    if not w.endswith(".whl") or not any(n.split("/")[0].endswith(".dist-info") for n in names):
        print(f"ERROR: {{w}} is not a wheel (no .dist-info)", file=sys.stderr); sys.exit(1)
    print(f"Processing {{w}}\nSuccessfully installed {{w.rsplit('/', 1)[-1].split('-')[0]}}")
'''


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class _Session:
    def __init__(self, body: dict[str, Any], sandbox: Path) -> None:
        self.body = body
        self.sandbox = sandbox
        self.events: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.queue: list[dict[str, Any]] = []
        self.worker: threading.Thread | None = None
        self.proc: subprocess.Popen | None = None
        self.interrupted = False
        self.deleted = False
        self.running_since: float | None = None
        self.active_s = 0.0
        self.tool_uses = 0
        self.known_outputs: set[str] = set()


class ManagedAgentsEmulator(HttpHarness):
    """Context manager: `with ManagedAgentsEmulator() as emu: client = Anthropic(base_url=emu.url, ...)`.

    Served by the shared test HTTP harness (`tests/support/http_harness.py`); `respond` is the API's router."""

    def __init__(self, *, input_tokens_per_turn: int = 2_000, output_tokens_per_turn: int = 150,
                 cache_read_tokens_per_turn: int = 1_500, cache_write_tokens_per_turn: int = 400,
                 events_page_limit: int = 20) -> None:
        super().__init__()
        self.input_tokens_per_turn = input_tokens_per_turn
        self.output_tokens_per_turn = output_tokens_per_turn
        self.cache_read_tokens_per_turn = cache_read_tokens_per_turn
        self.cache_write_tokens_per_turn = cache_write_tokens_per_turn
        self.reject_key = False  # every request answers 401 (a revoked or mistyped key)
        self.beta_disabled = False  # every managed-agents request answers 403 (no beta access)
        self.events_page_limit = events_page_limit
        self.error_after_tool_uses: int | None = None
        self.drop_stream_after_events: int | None = None
        self.stall_commands = False
        self.stream_starts_late = False
        self.environments: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, _Session] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.targets: list[str] = []  # raw request targets (path + query), in order
        self.commands: list[str] = []
        self.uploads: list[tuple[str, int | None]] = []  # (filename, expires_in_seconds) of every upload
        self.streams_dropped = 0
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._root = Path(tempfile.mkdtemp(prefix="ma-emu-"))
        self._bin = self._root / "bin"
        self._bin.mkdir()
        (self._bin / "pip").write_text(_PIP_SHIM.format(python=sys.executable))
        (self._bin / "pip").chmod(0o755)
        # A wrapper, not a symlink: a venv interpreter only finds its site-packages from its own path.
        (self._bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (self._bin / "python").chmod(0o755)

    # -- lifecycle (serving: `HttpHarness`) ---------------------------------------------------------------------
    def __enter__(self) -> ManagedAgentsEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in list(self.sessions.values()):
            self._kill(s)
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def respond(self, ex: Exchange) -> None:
        """Answer one request (the harness calls this on its handler thread)."""
        _Api(self, ex).dispatch()

    def live_sessions(self) -> list[str]:
        return [sid for sid, s in self.sessions.items() if not s.deleted]

    def live_environments(self) -> list[str]:
        return [eid for eid, e in self.environments.items() if not e.get("_deleted")]

    # -- ids, events, billing ------------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}emu"

    def _emit(self, s: _Session, event: dict[str, Any]) -> dict[str, Any]:
        ev = {"id": self._id("sevt"), "processed_at": _now(), **event}
        with s.cond:
            s.events.append(ev)
            s.cond.notify_all()
        return ev

    def _active(self, s: _Session) -> float:
        return s.active_s + (time.monotonic() - s.running_since if s.running_since is not None else 0.0)

    def _cost_usd(self, s: _Session) -> float:
        model = s.body["agent"]["model"]["id"]
        pin, pout = next((p for n, p in PRICES.items() if model == n or model.startswith(n + "-")), (3.0, 15.0))
        u = s.body["usage"]
        cache_in = (u["cache_read_input_tokens"] * CACHE_READ_FACTOR
                    + u["cache_creation"]["ephemeral_5m_input_tokens"] * CACHE_WRITE_5M_FACTOR)
        return (self._active(s) / 3600 * SESSION_HOUR_USD + (u["input_tokens"] + cache_in) / 1e6 * pin
                + u["output_tokens"] / 1e6 * pout)

    def _over_budget(self, s: _Session) -> bool:
        budget = s.body.get("budget")
        return bool(budget) and self._cost_usd(s) * 100 >= float(budget["max_list_cost"]["amount"])

    def _session_view(self, s: _Session) -> dict[str, Any]:
        b = s.body
        active = self._active(s)
        b["usage"]["active_seconds"] = active
        b["usage"]["list_cost"] = {"amount": str(int(self._cost_usd(s) * 100)), "currency": "USD"}
        created = datetime.fromisoformat(b["created_at"].replace("Z", "+00:00"))
        b["stats"] = {"active_seconds": active, "duration_seconds": (datetime.now(UTC) - created).total_seconds()}
        return {k: v for k, v in b.items() if not k.startswith("_")}

    def _set_status(self, s: _Session, status: str, **idle: Any) -> None:
        if status == "running" and s.running_since is None:
            s.running_since = time.monotonic()
        if status != "running" and s.running_since is not None:
            s.active_s += time.monotonic() - s.running_since
            s.running_since = None
        s.body["status"] = status
        s.body["updated_at"] = _now()
        if status == "running":
            self._emit(s, {"type": "session.status_running"})
        elif status == "idle":
            self._emit(s, {"type": "session.status_idle", "stop_reason": idle.get("stop_reason", {"type": "end_turn"}),
                           "stop_details": None})
        elif status == "terminated":
            self._emit(s, {"type": "session.status_terminated"})

    # -- the scripted agent --------------------------------------------------------------------------------------
    def _model_request(self, s: _Session) -> bool:
        """Bill one model request; False (and idle with budget_reached) if the budget forbids it."""
        if self._over_budget(s):
            self._set_status(s, "idle", stop_reason={"type": "budget_reached"})
            return False
        self._emit(s, {"type": "span.model_request_start"})
        u = s.body["usage"]
        u["input_tokens"] += self.input_tokens_per_turn
        u["output_tokens"] += self.output_tokens_per_turn
        u["cache_read_input_tokens"] += self.cache_read_tokens_per_turn
        u["cache_creation"]["ephemeral_5m_input_tokens"] += self.cache_write_tokens_per_turn
        self._emit(s, {"type": "span.model_request_end", "model_usage": {
            "input_tokens": self.input_tokens_per_turn, "output_tokens": self.output_tokens_per_turn,
            "cache_read_input_tokens": self.cache_read_tokens_per_turn,
            "cache_creation_input_tokens": self.cache_write_tokens_per_turn}})
        return True

    def _work(self, s: _Session) -> None:
        while True:
            with s.cond:
                if not s.queue or s.deleted:
                    s.worker = None
                    return
                msg = s.queue.pop(0)
            self._turn(s, msg)

    def _turn(self, s: _Session, msg: dict[str, Any]) -> None:
        s.interrupted = False
        self._set_status(s, "running")
        text = "\n".join(b.get("text", "") for b in msg.get("content", []) if b.get("type") == "text")
        commands = [ln.strip() for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
                    for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        if not self._model_request(s):
            return
        env_error = s.body.get("_env_error")
        if env_error:
            self._error(s, "unknown_error", env_error)
            return
        results = []
        for cmd in commands:
            if s.deleted or s.interrupted:
                break
            if self.error_after_tool_uses is not None and s.tool_uses >= self.error_after_tool_uses:
                self._error(s, "model_overloaded_error", "the model is overloaded; retries exhausted")
                return
            s.tool_uses += 1
            use = self._emit(s, {"type": "agent.tool_use", "name": "bash", "input": {"command": cmd},
                                 "evaluated_permission": "allow"})
            rc, out = self._run(s, cmd)
            if rc is None:  # killed: interrupt or delete
                break
            self._emit(s, {"type": "agent.tool_result", "tool_use_id": use["id"], "is_error": rc != 0,
                           "content": [{"type": "text", "text": out[-4000:]}]})
            self._collect_outputs(s)
            results.append((cmd, rc))
            if not self._model_request(s):
                return
            if rc != 0:
                break
        if s.deleted:
            return
        failed = [c for c, rc in results if rc != 0]
        summary = (f"Command failed: `{failed[0]}`. Stopping." if failed
                   else f"Ran {len(results)} command(s) successfully." if not s.interrupted else "Interrupted.")
        self._emit(s, {"type": "agent.message", "content": [{"type": "text", "text": summary}]})
        self._set_status(s, "idle", stop_reason={"type": "end_turn"})

    def _error(self, s: _Session, kind: str, message: str) -> None:
        self._emit(s, {"type": "session.error", "error": {"type": kind, "message": message,
                                                          "retry_status": {"type": "exhausted"}}})
        self._set_status(s, "idle", stop_reason={"type": "retries_exhausted"})

    def _map(self, s: _Session, text: str) -> str:
        return text.replace("/mnt/session", str(s.sandbox / "mnt" / "session"))

    def _run(self, s: _Session, cmd: str) -> tuple[int | None, str]:
        self.commands.append(cmd)
        env = {**os.environ, "PATH": f"{self._bin}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(s.sandbox)}
        log = s.sandbox / f".cmd{s.tool_uses}.log"
        with open(log, "wb") as fh:
            argv = ["sleep", "infinity"] if self.stall_commands else ["bash", "-c", self._map(s, cmd)]
            s.proc = subprocess.Popen(argv, cwd=s.sandbox / "work", env=env,
                                      stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            while s.proc.poll() is None:
                # The budget caps model requests, not tools: a command running when the cap is hit finishes.
                if s.deleted or s.interrupted:
                    self._kill(s)
                    return None, ""
                time.sleep(0.05)
        rc = s.proc.returncode
        s.proc = None
        if s.deleted or s.interrupted:  # killed by an interrupt or a delete while it was finishing
            return None, ""
        return rc, log.read_text(errors="replace").replace(str(s.sandbox), "")

    def _kill(self, s: _Session) -> None:
        p = s.proc
        if p is not None and p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def _collect_outputs(self, s: _Session) -> None:
        out_dir = s.sandbox / "mnt" / "session" / "outputs"
        for p in sorted(out_dir.rglob("*")):
            if p.is_file() and str(p) not in s.known_outputs:
                s.known_outputs.add(str(p))
                self._add_file(p.name, p.read_bytes(), scope=s.body["id"])

    def _add_file(self, name: str, data: bytes, scope: str | None = None,
                  expires_in_seconds: int | None = None) -> dict[str, Any]:
        fid = self._id("file")
        now = datetime.now(UTC)
        expires = (now.timestamp() + expires_in_seconds) if expires_in_seconds is not None else None
        meta = {"id": fid, "type": "file", "filename": name, "mime_type": "application/octet-stream",
                "size_bytes": len(data), "created_at": _now(), "downloadable": True,
                "expires_at": (datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
                               if expires is not None else None),
                "scope": {"id": scope, "type": "session"} if scope else None}
        self.files[fid] = {"meta": meta, "data": data, "expires_in_seconds": expires_in_seconds,
                           "_expires": expires}
        return meta

    def expire_file(self, file_id: str) -> None:
        """Let `file_id`'s expiry pass now (its bytes become unavailable, as at the real expiry)."""
        self.files[file_id]["_expires"] = time.time() - 1

    def _expired(self, f: dict[str, Any]) -> bool:
        return f.get("_expires") is not None and time.time() >= f["_expires"]

    # -- resources ---------------------------------------------------------------------------------------------------
    def create_environment(self, body: dict[str, Any]) -> dict[str, Any]:
        cfg = body.get("config") or {"type": "cloud", "networking": {"type": "unrestricted"}, "packages": {}}
        pk = cfg.get("packages") or {}
        cfg = {**cfg, "packages": {"type": "packages", **{k: list(pk.get(k, [])) for k in
                                                          ("apt", "cargo", "gem", "go", "npm", "pip")}}}
        if any(e["name"] == body["name"] and not e.get("_deleted") for e in self.environments.values()):
            raise ApiError(409, "invalid_request_error",
                           f"an environment named {body['name']!r} already exists in this workspace")
        env = {"id": self._id("env"), "type": "environment", "name": body["name"], "config": cfg,
               "description": body.get("description"), "metadata": body.get("metadata") or {},
               "scope": body.get("scope"), "archived_at": None, "created_at": _now(), "updated_at": _now()}
        self.environments[env["id"]] = env
        return env

    def create_agent(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body["model"] if isinstance(body["model"], dict) else {"id": body["model"]}
        agent = {"id": self._id("agent"), "type": "agent", "name": body["name"], "model": model,
                 "system": body.get("system"), "description": body.get("description"),
                 "tools": body.get("tools") or [], "skills": [], "mcp_servers": [],
                 "execution_identity": {"type": "service_account"}, "metadata": body.get("metadata") or {},
                 "version": 1, "archived_at": None, "created_at": _now(), "updated_at": _now()}
        self.agents[agent["id"]] = agent
        return agent

    def _pip_mismatch(self, pins: list[str]) -> str | None:
        for pin in pins:
            name, _, version = pin.partition("==")
            try:
                have = metadata.version(name)
            except metadata.PackageNotFoundError:
                return f"pip install {pin} failed: no such package"
            if version and have != version:
                return f"pip install {pin} failed: the image has {name}=={have}"
        return None

    def create_session(self, body: dict[str, Any]) -> _Session:
        ref = body["agent"]
        agent = self.agents.get(ref if isinstance(ref, str) else ref["id"])
        env = self.environments.get(body["environment_id"])
        if agent is None or agent.get("archived_at"):
            raise ApiError(404, "not_found_error", f"agent {ref!r} not found")
        if env is None or env.get("_deleted") or env.get("archived_at"):
            raise ApiError(404, "not_found_error", f"environment {body['environment_id']!r} not found")
        sid = self._id("sesn")
        sandbox = self._root / sid
        for d in ("work", "mnt/session/uploads", "mnt/session/outputs"):
            (sandbox / d).mkdir(parents=True)
        resources, mounts = [], set()
        for r in body.get("resources") or []:
            f = self.files.get(r.get("file_id", ""))
            if r.get("type") != "file" or f is None or self._expired(f):
                raise ApiError(400, "invalid_request_error", f"bad resource {r!r}")
            given = r.get("mount_path")
            mount = UPLOADS + _check_mount_path(given if given is not None else f"/{r['file_id']}")
            if mount in mounts:
                raise ApiError(400, "invalid_request_error", f"mount_path {given!r} is already mounted in this session")
            mounts.add(mount)
            target = Path(self._map_path(sandbox, mount))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f["data"])
            resources.append({"id": self._id("sesrsc"), "type": "file", "file_id": r["file_id"],
                              "mount_path": given if given is not None else mount, "created_at": _now(),
                              "updated_at": _now()})
        view = {k: v for k, v in agent.items() if k not in ("metadata", "archived_at", "created_at", "updated_at")}
        s = _Session({"id": sid, "type": "session", "agent": view, "environment_id": env["id"],
                      "budget": body.get("budget"), "metadata": body.get("metadata") or {},
                      "title": body.get("title"), "resources": resources, "outcome_evaluations": [],
                      "vault_ids": list(body.get("vault_ids") or []), "status": "idle", "archived_at": None,
                      "created_at": _now(), "updated_at": _now(),
                      "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}},
                      "stats": {}, "_env_error": self._pip_mismatch(env["config"]["packages"].get("pip", []))},
                     sandbox)
        self.sessions[sid] = s
        for ev in body.get("initial_events") or []:
            self.send_event(s, ev)
        return s

    @staticmethod
    def _map_path(sandbox: Path, mount: str) -> str:
        return mount.replace("/mnt/session", str(sandbox / "mnt" / "session"), 1)

    def send_event(self, s: _Session, ev: dict[str, Any]) -> dict[str, Any]:
        kind = ev.get("type")
        if kind not in ("user.message", "user.interrupt"):
            raise ApiError(400, "invalid_request_error", f"event type {kind!r} is not supported here")
        echoed = self._emit(s, dict(ev))
        if kind == "user.interrupt":
            s.interrupted = True
            self._kill(s)
            return echoed
        with s.cond:
            s.queue.append(ev)
            if s.worker is None:
                s.worker = threading.Thread(target=self._work, args=(s,), daemon=True)
                s.worker.start()
        return echoed

    def delete_session(self, s: _Session) -> None:
        s.deleted = True
        self._kill(s)
        if s.body["status"] == "running":
            self._set_status(s, "terminated")
        self._emit(s, {"type": "session.deleted"})
        shutil.rmtree(s.sandbox, ignore_errors=True)


def _check_mount_path(path: Any) -> str:
    """`path` if it is a valid mount path in the documented form (relative to the uploads directory), else 400."""
    ok = (isinstance(path, str) and path.startswith("/") and 1 < len(path) <= MAX_MOUNT_PATH
          and all(seg not in ("", ".", "..") for seg in path[1:].split("/")))
    if not ok:
        raise ApiError(400, "invalid_request_error", f"mount_path {path!r} is invalid: give a path under the uploads "
                       "directory such as '/data.csv' (no empty, '.' or '..' segments)")
    return path


def _page(items: list[dict[str, Any]], query: dict[str, Any], default_limit: int) -> dict[str, Any]:
    start = int(str(query.get("page") or "p0")[1:])
    limit = min(int(query.get("limit") or default_limit), 100)
    chunk = items[start:start + limit]
    nxt = f"p{start + limit}" if start + limit < len(items) else None
    return {"data": chunk, "next_page": nxt, "prev_page": f"p{max(0, start - limit)}" if start else None}


def _query(ex: Exchange) -> dict[str, Any]:
    q: dict[str, Any] = {}
    for k, v in ex.query_items:
        if k.endswith("[]"):
            q.setdefault(k[:-2], []).append(v)
        else:
            q[k] = v
    return q


class _Api:
    """The Managed Agents routes, answering one `Exchange` on behalf of the emulator."""

    def __init__(self, emulator: ManagedAgentsEmulator, ex: Exchange) -> None:
        self.emulator = emulator
        self.ex = ex

    def _json(self, status: int, body: Any) -> None:
        self.ex.send_json(status, body, headers={"request-id": f"req_{time.monotonic_ns()}"})

    def _body(self) -> bytes:
        return self.ex.body()

    def dispatch(self) -> None:
        emu, ex = self.emulator, self.ex
        method = ex.method
        path = ex.path.rstrip("/")
        emu.targets.append(f"{method} {ex.target}")
        status = 200
        try:
            if emu.reject_key or not (ex.headers.get("x-api-key")
                                      or (ex.headers.get("authorization") or "").startswith("Bearer ")):
                raise ApiError(401, "authentication_error", "invalid x-api-key")
            betas = {b.strip() for b in (ex.headers.get("anthropic-beta") or "").split(",")}
            if not path.startswith("/v1/files"):
                if BETA not in betas:
                    raise ApiError(400, "invalid_request_error", f"this endpoint requires anthropic-beta: {BETA}")
                if emu.beta_disabled:
                    raise ApiError(403, "permission_error",
                                   f"your organization does not have access to the {BETA} beta")
            elif method == "GET" and path == "/v1/files" and not {FILES_BETA, BETA} <= betas:
                raise ApiError(400, "invalid_request_error",
                               f"listing files requires anthropic-beta: {FILES_BETA},{BETA}")
            if method == "GET" and path.endswith("/events/stream"):
                self._stream(self._live_session(path.split("/")[3]))  # long-lived: outside the lock
                return
            with emu._lock:
                result = self._route(method, path)
            if result is None:
                return
            self._json(200, result)
        except ApiError as e:
            status = e.status
            self._json(e.status, {"type": "error", "error": {"type": e.kind, "message": e.message}})
        finally:
            emu.requests.append((method, path, status))

    def _route(self, method: str, path: str) -> Any:
        emu = self.emulator
        parts = path.split("/")[2:]
        q = _query(self.ex)
        if parts[0] == "environments":
            if len(parts) == 1 and method == "POST":
                return emu.create_environment(json.loads(self._body()))
            if len(parts) == 1 and method == "GET":
                envs = [e for e in emu.environments.values() if not e.get("_deleted")
                        and (q.get("include_archived") == "true" or not e["archived_at"])]
                page = _page([{k: v for k, v in e.items() if not k.startswith("_")} for e in envs], q, 20)
                return {"data": page["data"], "next_page": page["next_page"]}
            env = emu.environments.get(parts[1])
            if env is None or env.get("_deleted"):
                raise ApiError(404, "not_found_error", f"environment {parts[1]!r} not found")
            if len(parts) == 3 and parts[2] == "archive":
                env["archived_at"] = _now()
                return env
            if method == "DELETE":
                env["_deleted"] = True
                return {"id": env["id"], "type": "environment_deleted"}
            return env
        if parts[0] == "agents":
            if len(parts) == 1 and method == "POST":
                return emu.create_agent(json.loads(self._body()))
            if len(parts) == 1:
                agents = [a for a in emu.agents.values() if q.get("include_archived") == "true" or not a["archived_at"]]
                page = _page(agents, q, 20)
                return {"data": page["data"], "next_page": page["next_page"]}
            agent = emu.agents.get(parts[1])
            if agent is None:
                raise ApiError(404, "not_found_error", f"agent {parts[1]!r} not found")
            if len(parts) == 3 and parts[2] == "archive":
                agent["archived_at"] = _now()
            return agent
        if parts[0] == "sessions":
            return self._sessions(method, parts, q)
        if parts[0] == "files":
            return self._files(method, parts, q)
        raise ApiError(404, "not_found_error", f"no route {method} {path}")

    def _sessions(self, method: str, parts: list[str], q: dict[str, Any]) -> Any:
        emu = self.emulator
        if len(parts) == 1 and method == "POST":
            return emu._session_view(emu.create_session(json.loads(self._body())))
        if len(parts) == 1:
            live = [s for s in emu.sessions.values() if not s.deleted]
            if q.get("statuses"):
                live = [s for s in live if s.body["status"] in q["statuses"]]
            return _page([emu._session_view(s) for s in live], q, 20)
        s = self._live_session(parts[1])
        if len(parts) == 2 and method == "DELETE":
            emu.delete_session(s)
            return {"id": s.body["id"], "type": "session_deleted"}
        if len(parts) == 2:
            return emu._session_view(s)
        if parts[2] == "archive":
            s.body["archived_at"] = _now()
            return emu._session_view(s)
        if parts[2] == "events" and len(parts) == 3 and method == "POST":
            sent = [emu.send_event(s, ev) for ev in json.loads(self._body())["events"]]
            return {"data": sent}
        if parts[2] == "events" and len(parts) == 3:
            with s.cond:
                events = list(s.events)
            if q.get("types"):
                events = [e for e in events if e["type"] in q["types"]]
            if q.get("order") == "desc":
                events.reverse()
            page = _page(events, q, emu.events_page_limit)
            return {"data": page["data"], "next_page": page["next_page"]}
        raise ApiError(404, "not_found_error", "no such session route")

    def _live_session(self, sid: str) -> _Session:
        s = self.emulator.sessions.get(sid)
        if s is None or s.deleted:
            raise ApiError(404, "not_found_error", f"session {sid!r} not found")
        return s

    def _stream(self, s: _Session) -> None:
        emu, ex = self.emulator, self.ex
        drop_after, emu.drop_stream_after_events = emu.drop_stream_after_events, None
        late, emu.stream_starts_late = emu.stream_starts_late, False
        with s.cond:
            # live events from the moment the stream opened: fixed before the client can see the response
            # start (and send a message whose echo must then be on this stream)
            cursor = len(s.events)
        ex.start_stream(200, "text/event-stream")
        if late:  # the stream starts just after the next message's echo: it never delivers that echo
            with s.cond:
                while (echo := next((j for j in range(cursor, len(s.events))
                                     if s.events[j]["type"] == "user.message"), None)) is None and not s.deleted:
                    s.cond.wait(timeout=1.0)
                cursor = len(s.events) if echo is None else echo + 1
        sent = 0
        try:
            while True:
                with s.cond:
                    if cursor >= len(s.events) and not s.deleted:
                        s.cond.wait(timeout=1.0)
                    batch = s.events[cursor:]
                    cursor += len(batch)
                    gone = s.deleted and not batch
                if gone:
                    ex.end_stream()
                    return
                if not batch:
                    ex.chunk(b"event: ping\ndata: {}\n\n")
                for ev in batch:
                    if drop_after is not None and sent >= drop_after:
                        emu.streams_dropped += 1
                        ex.chunk(b"event: message\ndata: {\"type\": \"agent.mes")  # cut mid-event
                        ex.cut()
                        return
                    ex.chunk(f"event: message\ndata: {json.dumps(ev)}\n\n".encode())
                    sent += 1
        except OSError:  # the client went away
            ex.handler.close_connection = True

    def _files(self, method: str, parts: list[str], q: dict[str, Any]) -> Any:
        emu = self.emulator
        if len(parts) == 1 and method == "POST":
            ctype = self.ex.headers.get("content-type", "")
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + self._body())
            fields = {part.get_param("name", header="content-disposition"): part for part in msg.iter_parts()}
            if "file" not in fields:
                raise ApiError(400, "invalid_request_error", "multipart body has no `file` part")
            expires = None
            if "expires_in_seconds" in fields:
                raw = fields["expires_in_seconds"].get_payload(decode=True).decode().strip()
                if not raw.isdigit() or not MIN_EXPIRY_S <= int(raw) <= MAX_EXPIRY_S:
                    raise ApiError(400, "invalid_request_error",
                                   f"expires_in_seconds must be between {MIN_EXPIRY_S} and {MAX_EXPIRY_S}")
                expires = int(raw)
            name = Path(fields["file"].get_filename() or "unnamed").name
            emu.uploads.append((name, expires))
            return emu._add_file(name, fields["file"].get_payload(decode=True), expires_in_seconds=expires)
        if len(parts) == 1:
            files = [f["meta"] for f in emu.files.values()]
            if q.get("scope_id"):
                files = [m for m in files if (m.get("scope") or {}).get("id") == q["scope_id"]]
            page = _page(files, q, 20)
            return {"data": page["data"], "next_page": page["next_page"]}
        f = emu.files.get(parts[1])
        if f is None:
            raise ApiError(404, "not_found_error", f"file {parts[1]!r} not found")
        if method == "DELETE":
            del emu.files[parts[1]]
            return {"id": parts[1], "type": "file_deleted"}
        if len(parts) == 3 and parts[2] == "content":
            if emu._expired(f):
                raise ApiError(404, "not_found_error", f"file {parts[1]!r} has expired")
            self.ex.send_bytes(200, f["data"], "application/octet-stream")
            return None
        return f["meta"]


def make_wheel(directory: Path, name: str = "auraquant", version: str = "0.1.0") -> Path:
    """A minimal, valid-looking wheel (for the pip shim); the real package is importable from the host venv."""
    path = Path(directory) / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", f'__version__ = "{version}"\n')
        z.writestr(f"{name}-{version}.dist-info/METADATA", f"Name: {name}\nVersion: {version}\n")
    return path
