"""Approval requests: how a frozen record asks a human for promotion to production.

The agent-facing surface is exactly two functions, `approval_request` and `approval_status`; a tool layer
exposes those and nothing else. Resolving a request (approve or reject) lives in `Archive.approve` /
`Archive.reject`, which require a human actor outside any agent session (`actors.require_human`); the CLI
commands `auraquant approve ID` / `auraquant reject ID` are their only intended callers.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from auraquant.cta.governance.actors import Actor

if TYPE_CHECKING:
    from auraquant.cta.governance.archive import Archive

ApprovalStatusName = Literal["pending", "approved", "rejected"]


class ApprovalRequest(BaseModel):
    """One request to promote a frozen record. `resolved_*` are set only by a human decision."""

    model_config = {"frozen": True, "extra": "forbid"}

    id: str
    record_id: str
    status: ApprovalStatusName
    requested_by: str
    requested_at: datetime
    reason: str
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str | None = None


class ApprovalStatus(BaseModel):
    """What the agent may know: the record's state and its latest request (if any)."""

    model_config = {"frozen": True, "extra": "forbid"}

    record_id: str
    record_state: str
    request: ApprovalRequest | None
    next_step: str


def approval_request(archive: Archive, record_id: str, model_id: str, reason: str) -> ApprovalRequest:
    """Open (or return the already pending) approval request for a frozen record, as the agent `model_id`."""
    return archive.request_approval(record_id, Actor.agent(model_id), reason)


def approval_status(archive: Archive, record_or_request_id: str) -> ApprovalStatus:
    """The state of a record's approval, by record id or request id. Read-only."""
    return archive.approval_status(record_or_request_id)
