"""Structured tool failures. They are returned to the model as a tool result, never raised into the loop."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ToolErrorKind = Literal[
    "unknown_tool",
    "invalid_json",
    "invalid_arguments",
    "too_large",
    "permission_denied",
    "preflight_failed",
    "timeout",
    "tool_failed",
    "exception",
    "cancelled",
    "not_executed",
]


class ToolError(BaseModel):
    """Why a call produced no result. `message` is written for the model: it says what to change."""

    model_config = ConfigDict(frozen=True)
    tool: str
    kind: ToolErrorKind
    message: str
    details: Any = None

    def to_model_text(self) -> str:
        return json.dumps({"error": self.model_dump(mode="json", exclude_none=True)}, ensure_ascii=False)


class ToolFailure(Exception):
    """Raise inside a tool to fail with a message meant for the model (kind `tool_failed`), e.g. "no such
    symbol; call list_symbols first". Any other exception becomes kind `exception`."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
