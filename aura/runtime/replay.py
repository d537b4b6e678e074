"""How a stored tool call's arguments are re-sent to a provider.

The session log keeps a call's arguments exactly as the model sent them (a malformed call is then
answered with a precise `invalid_json` error). Re-sending them verbatim is not always possible:
servers that validate history (vLLM, llama.cpp, SGLang, the Anthropic API) refuse a request whose
past tool calls carry arguments that are not a JSON object, and a call the registry refused as too
large would put its whole payload back into every later request. So every provider replays through
`replay_arguments`:

- a JSON object within `max_call_chars` -> verbatim (same text, so prompt caches stay valid);
- empty text -> `{}` (a call without parameters);
- not a JSON object -> `{"_invalid_arguments": "<parse error>; not executed. As sent (clipped): …"}`,
  a valid object with the error recorded beside what was sent;
- over `max_call_chars` -> the object with every long string clipped (head…tail) and an
  `_omitted` note saying how much was cut; if that is still too large, only the note.

`max_call_chars` is the per-call limit of the registry that ran the calls (the engine puts it in
every `TurnRequest`), so exactly the calls the registry refused as too large are clipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aura.tools.limits import DEFAULT_LIMITS, clip_middle

#: characters of a malformed call's text quoted back in its replacement object
QUOTED_CHARS = 400
#: a string value of an oversized call is clipped to this many characters on replay
CLIPPED_STRING_CHARS = 1_000


@dataclass(frozen=True)
class ReplayedArguments:
    """`obj` is what object-typed wires (Anthropic `input`) get, `text` what string-typed wires
    (OpenAI `arguments`) get; `note` says why they differ from what was sent (None: verbatim)."""

    obj: dict[str, Any]
    text: str
    note: str | None = None


def replay_arguments(raw: str, max_call_chars: int = DEFAULT_LIMITS.max_call_chars) -> ReplayedArguments:
    """The replayable form of `raw` (see the module docstring). Deterministic and pure."""
    return _replay(raw, max_call_chars)


@lru_cache(maxsize=4096)
def _replay(raw: str, max_call_chars: int) -> ReplayedArguments:
    if not raw.strip():
        return ReplayedArguments({}, "{}")
    if len(raw) > max_call_chars:
        return _oversized(raw, max_call_chars)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return _invalid(raw, f"{exc.msg}: line {exc.lineno} column {exc.colno} (char {exc.pos})")
    if not isinstance(value, dict):
        return _invalid(raw, f"expected a JSON object, got {type(value).__name__}")
    return ReplayedArguments(value, raw)


def _invalid(raw: str, error: str) -> ReplayedArguments:
    note = (
        f"the arguments sent were not a JSON object ({error}); the call was not executed. "
        f"As sent (clipped): {clip_middle(raw, QUOTED_CHARS)}"
    )
    obj = {"_invalid_arguments": note}
    return ReplayedArguments(obj, _dumps(obj), note)


def _oversized(raw: str, limit: int) -> ReplayedArguments:
    note = (
        f"the arguments were {len(raw)} characters, over the {limit} per-call limit, and were refused; "
        f"long strings are clipped here"
    )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        obj = {**_clip_strings(value), "_omitted": note}
        text = _dumps(obj)
        if len(text) <= limit:
            return ReplayedArguments(obj, text, note)
    obj = {"_omitted": f"the arguments were {len(raw)} characters, over the {limit} per-call limit, "
                       "and were refused; they are not repeated here"}
    return ReplayedArguments(obj, _dumps(obj), obj["_omitted"])


def _clip_strings(value: Any) -> Any:
    if isinstance(value, str):
        return clip_middle(value, CLIPPED_STRING_CHARS)
    if isinstance(value, dict):
        return {k: _clip_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip_strings(v) for v in value]
    return value


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
