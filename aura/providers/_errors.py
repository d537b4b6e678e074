"""Map SDK and transport exceptions to `ProviderError` (shared by the Anthropic and OpenAI adapters)."""

from __future__ import annotations

from typing import Any

import httpx2

from aura.runtime.provider import RETRYABLE_STATUS, ProviderError, retry_after_seconds

#: Error types a server may send *inside* a 200 stream (SSE `error` event) that are worth retrying.
_RETRYABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "server_error"})


def classify(
    exc: BaseException,
    *,
    status_error: type,
    timeout_error: type,
    connection_error: type,
    mid_stream: bool = False,
) -> ProviderError:
    """Translate one exception raised while opening (`mid_stream=False`) or reading a stream."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, timeout_error):
        return ProviderError(f"timeout: {exc}", retryable=True, kind="timeout")
    if isinstance(exc, connection_error | httpx2.TransportError) and mid_stream:
        cause = exc.__cause__ or exc
        return dropped(f"{type(cause).__name__}: {cause}")
    if isinstance(exc, connection_error):
        return ProviderError(f"connection error: {exc}", retryable=True, kind="connection")
    if isinstance(exc, status_error):
        status: int = getattr(exc, "status_code", 0)
        response: Any = getattr(exc, "response", None)
        err_type = _error_type(getattr(exc, "body", None))
        retryable = status in RETRYABLE_STATUS or (status == 200 and err_type in _RETRYABLE_STREAM_ERRORS)
        return ProviderError(
            f"HTTP {status} {err_type or ''}: {exc}".strip(),
            retryable=retryable,
            status=status,
            retry_after_s=retry_after_seconds(getattr(response, "headers", None)),
            kind="status" if status != 200 else "stream_error",
        )
    if _error_type(getattr(exc, "body", None)) in _RETRYABLE_STREAM_ERRORS:
        # An error event inside an otherwise healthy stream (e.g. OpenAI's `data: {"error": ...}`).
        return ProviderError(f"stream error: {exc}", retryable=True, kind="stream_error")
    if isinstance(exc, httpx2.TransportError):
        # Raised mid-stream when the connection drops (e.g. incomplete chunked read).
        return ProviderError(f"stream dropped: {type(exc).__name__}: {exc}", retryable=True, kind="dropped")
    return ProviderError(f"{type(exc).__name__}: {exc}", retryable=False, kind="unexpected")


def dropped(detail: str) -> ProviderError:
    return ProviderError(f"stream dropped: {detail}", retryable=True, kind="dropped")


def _error_type(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            t = err.get("type") or err.get("code")
            return str(t) if t is not None else None
    return None
