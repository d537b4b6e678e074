"""One actionable line for each way the Managed Agents API can refuse us before any job runs.

`explain(exc, base_url)` turns an `anthropic` SDK error into a `CloudError` whose message says what happened
and what to do next; the CLI renders it as its one-line error. Status codes, as the service uses them:

- 401 `authentication_error`: the key is missing, mistyped or revoked;
- 403 `permission_error`: the key is valid but its organization has no access to the Managed Agents beta;
- 404 `not_found_error` on a collection: the base URL does not serve the Managed Agents API (a proxy, a typo,
  a gateway without the beta routes); on one resource: it is gone (deleted elsewhere);
- no answer at all (`APIConnectionError`, timeouts included): the host cannot be reached.
Other errors keep the service's own message, prefixed with the status.
"""

from __future__ import annotations

import os
from typing import Any

from auraquant.cta.cloud.errors import CloudError

DEFAULT_BASE_URL = "https://api.anthropic.com"
BETA = "managed-agents-2026-04-01"


class ApiUnavailable(CloudError):
    """The Managed Agents API refused or could not be reached (the message says which and what to do)."""


def _endpoint(base_url: str | None) -> str:
    return base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL


def _service_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or exc)


def explain(exc: BaseException, base_url: str | None = None) -> CloudError:
    """The `CloudError` (one actionable line) for an `anthropic` SDK exception `exc`."""
    import anthropic

    where = _endpoint(base_url)
    if isinstance(exc, anthropic.AuthenticationError):
        return ApiUnavailable(f"the Managed Agents API at {where} rejected the API key (401): set ANTHROPIC_API_KEY "
                              "to a current key from console.anthropic.com (Settings > API keys) and retry")
    if isinstance(exc, anthropic.PermissionDeniedError):
        return ApiUnavailable(f"this API key's organization has no access to the Managed Agents beta ({BETA}) at "
                              f"{where} (403: {_service_message(exc)}); ask an admin to enable it, or run with "
                              "--backend local or --backend dask")
    if isinstance(exc, anthropic.NotFoundError):
        req = getattr(exc, "request", None)
        path = getattr(getattr(req, "url", None), "path", "") or "?"
        if path.rstrip("/").endswith(("/sessions", "/environments", "/agents", "/files")):
            return ApiUnavailable(f"{where} does not serve the Managed Agents API (404 on {path}): check --base-url "
                                  "/ ANTHROPIC_BASE_URL (leave both unset for api.anthropic.com)")
        return ApiUnavailable(f"not found (404) at {where}{path}: the resource was deleted elsewhere; run "
                              "`auraquant cloud doctor` to see what is left")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}" if cause is not None else ""
        return ApiUnavailable(f"cannot reach the Managed Agents API at {where}{detail}; check the network or proxy, "
                              "and --base-url / ANTHROPIC_BASE_URL")
    if isinstance(exc, anthropic.APIStatusError):
        return ApiUnavailable(f"the Managed Agents API at {where} answered {exc.status_code}: {_service_message(exc)}")
    return ApiUnavailable(f"the Managed Agents API at {where} failed: {type(exc).__name__}: {exc}")
