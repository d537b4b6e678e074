"""`cloud doctor`: find and remove remote resources this workspace created and no run is cleaning up.

Orphans (by the tags of `auraquant.cta.cloud.tags`):
- every session tagged with this workspace (runs delete their session eagerly, so one that still exists was
  left by a crash or a kill) — except one whose run is still alive on this host (`active`, never touched);
- every environment tagged with this workspace and `aq_keep=false` and not in use by a live run; kept
  environments are listed as `kept` and removed only with `include_kept`;
- uploaded files named by the in-flight record (`cloud`/`inflight:<run id>`) of a run that is no longer alive;
  those whose expiry (set at upload) has passed are listed as `expired`: the service already removed them.

Cleaning interrupts a running session before deleting it, records what it cost (container time and tokens,
prompt-cache reads and writes included, at list prices) in the memory namespace `cost` under
`managed:<session id>` with `recorded_by: doctor` — an orphan's spend is real spend, so `cloud status` must
show it — deletes its output files, and marks the in-flight records cleaned. Another workspace's resources
are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auraquant.cta.cloud import tags
from auraquant.store import Store


@dataclass
class Orphans:
    """What doctor found (ids), and what it removed when asked to clean."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    active: list[dict[str, Any]] = field(default_factory=list)
    environments: list[dict[str, Any]] = field(default_factory=list)
    kept_environments: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.sessions or self.environments or self.files)

    @property
    def cost_usd(self) -> float:
        """What the cleaned orphan sessions cost, in total (list prices)."""
        return sum(float(c["cost_usd"]) for c in self.costs)


def _expired(expires_at: str | None, now: datetime) -> bool:
    return expires_at is not None and datetime.fromisoformat(expires_at) <= now


def find_orphans(client: Any, tag: str, store: Store | None = None) -> Orphans:
    """List this workspace's leftover sessions, environments and uploaded files (nothing is changed)."""
    out = Orphans()
    running = _running_records(store)
    live_sessions = {r.get("session_id") for r in running if tags.owner_alive(r)}
    live_envs = {r.get("environment_id") for r in running if tags.owner_alive(r)}
    for s in client.beta.sessions.list():
        md = s.metadata or {}
        if md.get(tags.WORKSPACE) == tag:
            row = {"id": s.id, "status": s.status, "job": md.get(tags.JOB), "created_at": str(s.created_at)}
            (out.active if s.id in live_sessions else out.sessions).append(row)
    for env in client.beta.environments.list(include_archived=True):
        md = env.metadata or {}
        if md.get(tags.WORKSPACE) != tag:
            continue
        row = {"id": env.id, "name": env.name, "created_at": str(env.created_at)}
        kept = md.get(tags.KEEP) == "true" or env.id in live_envs
        (out.kept_environments if kept else out.environments).append(row)
    now = datetime.now(UTC)
    for body in running:
        if not tags.owner_alive(body):
            expiry = body.get("file_expiry") or {}
            for fid in body.get("files") or []:
                (out.expired if _expired(expiry.get(fid), now) else out.files).append(fid)
    return out


def _running_records(store: Store | None) -> list[dict[str, Any]]:
    if store is None:
        return []
    return [body for key, body in store.memory_list(tags.MEMORY_NAMESPACE).items()
            if key.startswith("inflight:") and body.get("state") == "running"]


def clean_orphans(client: Any, tag: str, store: Store | None = None, *, include_kept: bool = False) -> Orphans:
    """Find orphans (as `find_orphans`) and delete them; `removed` lists every id deleted."""
    from anthropic import NotFoundError

    from auraquant.cta.cloud.managed import FILES_BETAS, session_model, session_usage

    found = find_orphans(client, tag, store)
    sessions, files = client.beta.sessions, client.beta.files
    for s in found.sessions:
        if s["status"] == "running":
            sessions.events.send(s["id"], events=[{"type": "user.interrupt"}])
            deadline = time.monotonic() + 30
            while sessions.retrieve(s["id"]).status == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
        _record_orphan_cost(store, sessions.retrieve(s["id"]), s, found, session_model, session_usage)
        outputs = [f.id for f in files.list(scope_id=s["id"], betas=FILES_BETAS)]
        sessions.delete(s["id"])
        found.removed.append(s["id"])
        for fid in outputs:
            files.delete(fid, betas=FILES_BETAS)
            found.removed.append(fid)
    for fid in found.files:
        try:
            files.delete(fid, betas=FILES_BETAS)
            found.removed.append(fid)
        except NotFoundError:
            pass  # already gone: the run got as far as deleting it, or it expired
    envs = found.environments + (found.kept_environments if include_kept else [])
    for env in envs:
        client.beta.environments.delete(env["id"])
        found.removed.append(env["id"])
    if store is not None:
        for key, body in store.memory_list(tags.MEMORY_NAMESPACE).items():
            if key.startswith("inflight:") and body.get("state") == "running" and not tags.owner_alive(body):
                store.memory_put(tags.MEMORY_NAMESPACE, key, {**body, "state": "cleaned-by-doctor"})
    return found


def _record_orphan_cost(store: Store | None, session: Any, row: dict[str, Any], found: Orphans,
                        model_of: Any, usage_of: Any) -> None:
    """Price an orphan session before deleting it (its usage is gone afterwards) and keep the record."""
    model = model_of(session)
    cost = {"backend": "managed_agents", "job_id": row.get("job"), "run_id": (session.metadata or {}).get(tags.RUN),
            "session_id": session.id, "model": model, "recorded_by": "doctor", "orphan": True,
            "recorded_at": datetime.now(UTC).isoformat(), **usage_of(session, model)}
    found.costs.append(cost)
    if store is not None:
        store.memory_put(tags.COST_NAMESPACE, f"managed:{session.id}", cost)
