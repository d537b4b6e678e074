"""Governance memory namespaces in the store: research memory, profitable patterns, cost tracking.

- `research-memory`: free-form notes the research loop keeps between sessions (key -> JSON).
- `patterns`: `profitable-<family>` is written when a signed record's Sharpe is strictly above 1.5; it keeps
  every such record of the family (id, Sharpe, params, metrics) and the best one.
- `cost-tracking`: one entry per paid run (cloud container time, tokens, USD) and their totals.

Pattern entries are derived data, not evidence: `verify_patterns` checks each entry against the signed
records it cites (each must verify, and every number the entry repeats must equal the signed one) before a
reader shows it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from auraquant.cta.governance.record import ArchiveRecord
from auraquant.store import Store

if TYPE_CHECKING:
    from auraquant.cta.governance.archive import Archive

NS_RESEARCH = "research-memory"
NS_PATTERNS = "patterns"
NS_COSTS = "cost-tracking"
PROFITABLE_SHARPE = 1.5


def remember(store: Store, key: str, value: Any) -> None:
    store.memory_put(NS_RESEARCH, key, value)


def recall(store: Store, key: str) -> Any | None:
    return store.memory_get(NS_RESEARCH, key)


def research_notes(store: Store) -> dict[str, Any]:
    return store.memory_list(NS_RESEARCH)


def pattern_key(family: str) -> str:
    return f"profitable-{family}"


def record_pattern(store: Store, record: ArchiveRecord) -> str | None:
    """Add `record` to `patterns/profitable-<family>` if its Sharpe > 1.5. Returns the key, or None."""
    sharpe = record.metrics.get("sharpe")
    if sharpe is None or not sharpe > PROFITABLE_SHARPE:
        return None
    key = pattern_key(record.family)
    with store.connect():  # hold the workspace lock across the read-modify-write
        body = store.memory_get(NS_PATTERNS, key) or {"family": record.family, "records": {}}
        body["records"][record.id] = _entry(record)
        best = max(body["records"].items(), key=lambda kv: (kv[1]["sharpe"], kv[0]))
        body["best"] = {"record_id": best[0], "sharpe": best[1]["sharpe"]}
        store.memory_put(NS_PATTERNS, key, body)
    return key


def patterns(store: Store) -> dict[str, Any]:
    """The pattern entries as stored (NOT verified; readers use `verify_patterns`)."""
    return store.memory_list(NS_PATTERNS)


def _entry(record: ArchiveRecord) -> dict[str, Any]:
    return {"sharpe": record.metrics.get("sharpe"), "params": record.params, "metrics": record.metrics,
            "spec_id": record.spec_id, "data_version_id": record.data_version_id, "model_id": record.model_id}


def verify_patterns(archive: Archive, entries: dict[str, Any]) -> dict[str, str]:
    """{key: why it is not trustworthy} for the pattern entries that fail; verified entries are absent.

    An entry fails when it is malformed, cites a record that does not verify, repeats a number that differs
    from the signed record, names a family other than the records', or names a `best` that is not the best."""
    problems: dict[str, str] = {}
    cited = sorted({rid for body in entries.values() if isinstance(body, dict)
                    for rid in (body.get("records") or {}) if isinstance(rid, str)})
    checked = {c.record_id: (s, c) for s, c in archive.checked(record_ids=cited)} if cited else {}
    for key, body in entries.items():
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, dict) or not records:
            problems[key] = "malformed pattern entry"
            continue
        for rid, shown in records.items():
            stored, check = checked.get(rid, (None, None))
            if check is None or stored is None:
                problems[key] = f"cites record {rid}, which is not in the archive"
            elif not check.ok:
                problems[key] = f"cites record {rid}, which does not verify: {check.problem}"
            elif shown != json.loads(json.dumps(_entry(stored.record))) or key != pattern_key(stored.record.family):
                problems[key] = f"its entry for {rid} differs from the signed record (edited)"
            if key in problems:
                break
        if key in problems:
            continue
        best = max(records.items(), key=lambda kv: (kv[1]["sharpe"], kv[0]))
        if body.get("best") != {"record_id": best[0], "sharpe": best[1]["sharpe"]}:
            problems[key] = "its `best` is not the best of its verified records (edited)"
    return problems


class CostEntry(BaseModel):
    """One paid run: where it ran and what it cost."""

    model_config = {"frozen": True, "extra": "forbid"}

    key: str
    source: str  # e.g. "managed-agents", "anthropic", "openai"
    usd: float = Field(ge=0)
    container_seconds: float = Field(default=0.0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def record_cost(store: Store, entry: CostEntry) -> None:
    store.memory_put(NS_COSTS, entry.key, entry.model_dump(mode="json"))


def cost_summary(store: Store) -> dict[str, float | int]:
    """Totals over every cost entry (USD, container seconds, tokens, entries)."""
    entries = [CostEntry.model_validate(v) for v in store.memory_list(NS_COSTS).values()]
    return {"entries": len(entries), "usd": sum(e.usd for e in entries),
            "container_seconds": sum(e.container_seconds for e in entries),
            "input_tokens": sum(e.input_tokens for e in entries),
            "output_tokens": sum(e.output_tokens for e in entries)}
