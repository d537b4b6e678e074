"""Unique id prefixes: `dv_2c9c` names `dv_2c9cdde72fa4f6908dad` when no other stored id starts that way.

One resolver for every place a person or the agent gives an id: the CLI commands call `resolve_id` on their
id arguments, and every tool of the research registry gets `resolve_id_prefixes` as its first pre-flight
check (fields named `*_id` / `*_ids`). Resolution happens only at that boundary, so everything downstream
(holdout seals, ledgers, memory keys) always sees full ids.

Rules: a text is treated as a prefix only when it looks like one (`kind_` + 4 to 19 lowercase hex digits);
a unique match is replaced by the full id; several matches are refused in one line listing them; no match
leaves the text as it is (the caller's own lookup then says what is missing).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auraquant.store import Store

#: what a shortened id looks like (full content ids carry 20 hex digits)
ID_PREFIX = re.compile(r"^[a-z]{2,6}_[0-9a-f]{4,19}$")
#: tables whose `id` column holds research object ids (the typed objects live in `objects`)
_ID_TABLES = ("data_versions", "data_slices", "feature_slices", "objects", "archive_records", "approval_requests",
              "universes")
#: at most this many candidates are named in an ambiguity error
MAX_CANDIDATES = 8


class AmbiguousId(ValueError):
    """An id prefix matches more than one stored id."""


def resolve_id(store: Store, text: str) -> str:
    """The full id that `text` is a unique prefix of; `text` itself when it is not a prefix or matches
    nothing. Raises `AmbiguousId` (one line, naming the candidates) when several ids match."""
    if not ID_PREFIX.match(text):
        return text
    union = " UNION ".join(f"SELECT id FROM {t}" for t in _ID_TABLES)
    with store.connect() as con:
        rows = con.execute(f"SELECT DISTINCT id FROM ({union}) WHERE starts_with(id, ?) ORDER BY id LIMIT ?",
                           [text, MAX_CANDIDATES + 1]).fetchall()
    ids = [r[0] for r in rows]
    if len(ids) > 1:
        more = " …" if len(ids) > MAX_CANDIDATES else ""
        raise AmbiguousId(f"id prefix {text!r} is ambiguous: {', '.join(ids[:MAX_CANDIDATES])}{more}; "
                          "give more characters")
    return ids[0] if ids else text


def resolve_id_prefixes(ctx: Any, args: Any) -> str | None:
    """Tool pre-flight: replace id prefixes in the arguments' `*_id` / `*_ids` fields by full ids (in place,
    before every other check). An ambiguous prefix refuses the call with the candidates."""
    store = ctx.deps.workspace.store
    try:
        for name in type(args).model_fields:
            value = getattr(args, name)
            if name.endswith("_id") and isinstance(value, str):
                setattr(args, name, resolve_id(store, value))
            elif name.endswith("_ids") and isinstance(value, list):
                setattr(args, name, [resolve_id(store, v) if isinstance(v, str) else v for v in value])
    except AmbiguousId as exc:
        return str(exc)
    return None
