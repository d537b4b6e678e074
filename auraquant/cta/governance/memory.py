"""Governance memory namespaces in the store: research memory, profitable patterns, cost tracking.

- `research-memory`: free-form notes the research loop keeps between sessions (key -> JSON).
- `patterns`: `profitable-<family>` is written when a signed record's Sharpe is strictly above 1.5; it keeps
  every such record of the family (id, Sharpe, params, metrics) and the best one.
- `cost-tracking`: one entry per paid run (cloud container time, tokens, USD) and their totals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from auraquant.cta.governance.record import ArchiveRecord
from auraquant.store import Store

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
        body["records"][record.id] = {"sharpe": sharpe, "params": record.params, "metrics": record.metrics,
                                      "spec_id": record.spec_id, "data_version_id": record.data_version_id,
                                      "model_id": record.model_id}
        best = max(body["records"].items(), key=lambda kv: (kv[1]["sharpe"], kv[0]))
        body["best"] = {"record_id": best[0], "sharpe": best[1]["sharpe"]}
        store.memory_put(NS_PATTERNS, key, body)
    return key


def patterns(store: Store) -> dict[str, Any]:
    return store.memory_list(NS_PATTERNS)


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
