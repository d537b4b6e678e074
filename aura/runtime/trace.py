"""`RunTrace`: one record per tool call, persisted in the session log."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SUMMARY_CHARS = 240


class RunTrace(BaseModel):
    """What happened in one tool call. Token and cost fields are those of the model turn that issued
    the call (shared by all calls of that turn)."""

    model_config = ConfigDict(frozen=True)
    session_id: str
    turn: int
    tool_call_id: str
    tool: str
    arguments: str
    ok: bool
    error_kind: str | None = None
    duration_ms: float
    result_summary: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cost_usd: float
    started_at: str


def summarize_result(content: str) -> str:
    return content if len(content) <= SUMMARY_CHARS else content[: SUMMARY_CHARS - 1] + "…"
