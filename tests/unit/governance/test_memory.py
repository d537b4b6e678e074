"""Memory namespaces: research memory, profitable patterns (Sharpe > 1.5), cost tracking."""

from __future__ import annotations

from pathlib import Path

from auraquant.cta.governance.memory import (
    NS_PATTERNS,
    CostEntry,
    cost_summary,
    patterns,
    recall,
    record_cost,
    record_pattern,
    remember,
    research_notes,
)
from auraquant.store import Store
from tests.unit.governance.factories import make_record


def test_patterns_only_above_1_5_and_best_is_tracked(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert record_pattern(store, make_record(metrics={"sharpe": 1.5})) is None
    assert record_pattern(store, make_record(metrics={"sharpe": None})) is None
    a, b = make_record(metrics={"sharpe": 1.51}), make_record(metrics={"sharpe": 2.2}, run_id="r2")
    assert record_pattern(store, a) == "profitable-donchian_breakout"
    record_pattern(store, b)
    record_pattern(store, make_record(metrics={"sharpe": 1.8}, family="ema_cross"))
    got = patterns(store)
    assert set(got) == {"profitable-donchian_breakout", "profitable-ema_cross"}
    don = store.memory_get(NS_PATTERNS, "profitable-donchian_breakout")
    assert set(don["records"]) == {a.id, b.id} and don["best"] == {"record_id": b.id, "sharpe": 2.2}
    assert don["records"][a.id]["params"]["baseline.window"] == 55


def test_research_memory_and_costs(tmp_path: Path) -> None:
    store = Store(tmp_path)
    remember(store, "dead-ends", {"families": ["rsi_meanrev"]})
    assert recall(store, "dead-ends") == {"families": ["rsi_meanrev"]} and recall(store, "x") is None
    assert list(research_notes(store)) == ["dead-ends"]
    record_cost(store, CostEntry(key="wf-1", source="managed-agents", usd=0.42, container_seconds=600,
                                 input_tokens=1000, output_tokens=200))
    record_cost(store, CostEntry(key="wf-2", source="anthropic", usd=0.08, input_tokens=500))
    s = cost_summary(store)
    assert s["entries"] == 2 and abs(s["usd"] - 0.50) < 1e-12 and s["container_seconds"] == 600
    assert (s["input_tokens"], s["output_tokens"]) == (1500, 200)
