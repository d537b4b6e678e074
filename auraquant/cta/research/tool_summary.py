"""One-line, human summaries of tool results for the terminal (`auraquant chat`, `auraquant research`).

A tool returns JSON meant for the model. A person watching a session needs the gist: which object was made
or read (its id), its state, and the few numbers that decide the next step. `summarize_tool_result` derives
that from the result's own fields, for every tool (no per-tool table to keep in sync): ids first, then
status-like fields, then the headline metrics present, then list sizes. The raw JSON stays available behind
`/verbose` in chat and in the session log.
"""

from __future__ import annotations

import json
from typing import Any

#: status-like fields, shown as `key value` right after the ids
STATUS_KEYS = ("status", "state", "verdict", "label", "ok", "created", "significance")
#: headline numbers in the order a researcher reads them
METRIC_KEYS = ("sharpe", "oos_sharpe", "total_return", "max_drawdown", "trades", "dsr", "pbo", "spa_p", "bars",
               "windows", "trials", "total_trials", "excess_sharpe", "bh_sharpe", "win_rate", "score")
#: at most this many parts in one summary
MAX_PARTS = 6


def summarize_tool_result(content: str, limit: int = 100) -> str:
    """`content` (a tool's result text) as one line of about `limit` characters. JSON objects become
    `id … · status … · sharpe 0.45 · trades 31`; lists `N items (first: id)`; other text its first line.
    Shortening drops whole parts (or whole words) from the end and marks it with `…`; an id or a path is
    never cut, so a line of long ids may exceed `limit` and wrap instead."""
    text = content.strip()
    try:
        obj = json.loads(text) if text[:1] in "{[" else None
    except ValueError:
        obj = None
    if obj is None:
        # the first line with words (a Markdown rule or front-matter fence such as `---` says nothing)
        line = next((ln.strip() for ln in text.splitlines() if any(ch.isalnum() for ch in ln)), "(empty result)")
        return _fit(line.split(" "), limit, sep=" ", keep=1)  # a lone word may be a path: never cut
    parts = _describe(obj)
    return _fit(parts, limit, sep=" · ", keep=_ids_in(obj, parts)) if parts else "done"


def _describe(obj: Any) -> list[str]:
    """The summary's parts in reading order: ids, status fields, headline metrics, list sizes."""
    if isinstance(obj, list):
        first = _first_id(obj[0]) if obj and isinstance(obj[0], dict) else None
        return [f"{len(obj)} item{'s' if len(obj) != 1 else ''}" + (f" (first: {first})" if first else "")]
    if not isinstance(obj, dict):
        return [_value(obj)]
    parts: list[str] = []
    for key, value in obj.items():  # ids: the objects to cite
        if _is_id(key, value) and value:
            parts.append(value)
    for key in STATUS_KEYS:
        if key in obj and isinstance(obj[key], str | bool) and obj[key] != "":
            parts.append(f"{key} {_value(obj[key])}")
    metrics = obj.get("metrics") if isinstance(obj.get("metrics"), dict) else {}
    oos = obj.get("oos") if isinstance(obj.get("oos"), dict) else {}
    for key in METRIC_KEYS:
        for source in (obj, metrics, oos):
            if key in source and isinstance(source[key], int | float) and not isinstance(source[key], bool):
                parts.append(f"{key} {_value(source[key])}")
                break
    for key, value in obj.items():
        if isinstance(value, list) and key not in METRIC_KEYS:
            parts.append(f"{len(value)} {key}")
    if not parts:  # nothing recognised: the first few scalar fields
        parts = [f"{k} {_value(v)}" for k, v in obj.items() if isinstance(v, str | int | float | bool)]
    return list(dict.fromkeys(parts))[:MAX_PARTS]


def _ids_in(obj: Any, parts: list[str]) -> int:
    """How many leading parts are ids (always shown whole, whatever the room)."""
    if not isinstance(obj, dict):
        return 1
    ids = {v for k, v in obj.items() if _is_id(k, v)}
    n = 0
    while n < len(parts) and parts[n] in ids:
        n += 1
    return n


def _is_id(key: str, value: Any) -> bool:
    """An id field: `id` or `*_id` holding text."""
    return isinstance(value, str) and (key == "id" or key.endswith("_id"))


def _first_id(item: dict[str, Any]) -> str | None:
    return next((v for k, v in item.items() if _is_id(k, v)), None)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return " ".join(str(v).split())


def _fit(parts: list[str], limit: int, *, sep: str, keep: int) -> str:
    """`parts` joined by `sep`, dropping whole parts from the end (marked `…`) until the line fits `limit`;
    the first `keep` parts (ids) always stay, whole. A lone first part that is not protected and still too
    long is cut to fit."""
    line = sep.join(parts)
    if len(line) <= limit:
        return line
    n = len(parts)
    while n > max(keep, 1) and len(sep.join(parts[:n])) + 2 > limit:
        n -= 1
    if n == 1 and keep == 0 and len(parts[0]) + 2 > limit:
        return parts[0][: limit - 1] + "…"
    return sep.join(parts[:n]) + " …"
