"""`cloud doctor`: find and remove remote resources this workspace created and no run is cleaning up.

Orphans (by the tags of `auraquant.cta.cloud.tags`):
- every session tagged with this workspace (runs delete their session eagerly, so one that still exists was
  left by a crash or a kill) — except one whose run is still alive on this host (`active`, never touched);
- every environment tagged with this workspace and `aq_keep=false` and not in use by a live run; kept
  environments are listed as `kept` and removed only with `include_kept`;
- uploaded files named by the in-flight record (`cloud`/`inflight:<job>`) of a run that is no longer alive.

Cleaning interrupts a running session before deleting it, deletes its output files, and marks the in-flight
records cleaned. Another workspace's resources are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.sessions or self.environments or self.files)


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
    for body in running:
        if not tags.owner_alive(body):
            out.files.extend(body.get("files") or [])
    return out


def _running_records(store: Store | None) -> list[dict[str, Any]]:
    if store is None:
        return []
    return [body for key, body in store.memory_list(tags.MEMORY_NAMESPACE).items()
            if key.startswith("inflight:") and body.get("state") == "running"]


def clean_orphans(client: Any, tag: str, store: Store | None = None, *, include_kept: bool = False) -> Orphans:
    """Find orphans (as `find_orphans`) and delete them; `removed` lists every id deleted."""
    from anthropic import NotFoundError

    found = find_orphans(client, tag, store)
    sessions, files = client.beta.sessions, client.beta.files
    for s in found.sessions:
        if s["status"] == "running":
            sessions.events.send(s["id"], events=[{"type": "user.interrupt"}])
            deadline = time.monotonic() + 30
            while sessions.retrieve(s["id"]).status == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
        outputs = [f.id for f in files.list(scope_id=s["id"])]
        sessions.delete(s["id"])
        found.removed.append(s["id"])
        for fid in outputs:
            files.delete(fid)
            found.removed.append(fid)
    for fid in found.files:
        try:
            files.delete(fid)
            found.removed.append(fid)
        except NotFoundError:
            pass  # already gone: the run got as far as deleting it
    envs = found.environments + (found.kept_environments if include_kept else [])
    for env in envs:
        client.beta.environments.delete(env["id"])
        found.removed.append(env["id"])
    if store is not None:
        for key, body in store.memory_list(tags.MEMORY_NAMESPACE).items():
            if key.startswith("inflight:") and body.get("state") == "running" and not tags.owner_alive(body):
                store.memory_put(tags.MEMORY_NAMESPACE, key, {**body, "state": "cleaned-by-doctor"})
    return found
