"""Compaction bookkeeping: where to cut, what the summary sees, what the new history looks like."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aura.providers import ModelInfo, OfflineProvider, ScriptedTurn
from aura.runtime import AUTO_CONTINUE, AgentEngine, CompactionPolicy, Message, PromptLayers, find_orphans
from aura.runtime.compaction import (
    SNAPSHOT_TAGS,
    chunk_entries,
    header_message,
    latest_request_to_carry,
    normalize_snapshot,
    plan_split,
    render_transcript,
    summarize,
)
from aura.runtime.events import Compacted
from aura.runtime.messages import ToolCallPart, ToolResultPart, assistant_message, user_text
from aura.runtime.tokens import estimate_message_tokens, estimate_text_tokens
from aura.tools import ToolRegistry, tool


def _random_history(rng: random.Random, turns: int) -> list[Message]:
    msgs = [user_text("the original request")]
    for t in range(turns):
        if rng.random() < 0.1:
            msgs.append(assistant_message(text="a plain answer " * rng.randint(1, 30)))
            msgs.append(user_text(f"follow-up {t}"))
            continue
        calls = [
            ToolCallPart(id=f"c{t}_{i}", name="f", arguments=f'{{"x": {i}}}')
            for i in range(rng.randint(1, 4))
        ]
        msgs.append(assistant_message(text="thinking " * rng.randint(0, 5), tool_calls=calls))
        msgs.append(
            Message(
                role="user",
                kind="tool_results",
                parts=tuple(
                    ToolResultPart(tool_call_id=c.id, name="f", content="r" * rng.randint(10, 3000))
                    for c in calls
                ),
            )
        )
    return msgs


def test_split_never_separates_a_batch_and_keeps_about_the_recent_fifth() -> None:
    policy = CompactionPolicy()
    rng = random.Random(7)
    for _ in range(200):
        msgs = _random_history(rng, rng.randint(2, 60))
        split = plan_split(msgs, policy)
        if split is None:
            continue
        kept = msgs[split.cut :]
        assert len(kept) >= policy.min_keep_messages
        assert not kept[0].tool_results  # the kept part never opens with orphaned results
        assert find_orphans(kept) == []
        counts = [estimate_message_tokens(m) for m in msgs]
        total = sum(counts)
        assert (
            split.kept_tokens == sum(counts[split.cut :])
            and split.summarized_tokens == total - split.kept_tokens
        )
        assert split.kept_tokens >= policy.keep_ratio * total or len(kept) == policy.min_keep_messages
        # minimal: dropping the first kept message (or its batch) would go under the target
        nxt = split.cut + (2 if kept[0].tool_calls else 1)
        if nxt <= len(msgs) - policy.min_keep_messages:
            assert sum(counts[nxt:]) < policy.keep_ratio * total


def test_split_returns_none_when_nothing_can_be_summarised() -> None:
    policy = CompactionPolicy()
    call = ToolCallPart(id="c", name="f", arguments="{}")
    one_batch = [
        assistant_message(tool_calls=[call]),
        Message(
            role="user",
            kind="tool_results",
            parts=(ToolResultPart(tool_call_id="c", name="f", content="x" * 10_000),),
        ),
    ]
    assert plan_split(one_batch, policy) is None
    assert plan_split([user_text("a"), assistant_message("b")], policy) is None


def test_latest_request_is_carried_across_repeated_compactions() -> None:
    msgs = [
        user_text("first"),
        assistant_message("ok"),
        user_text("second request, exactly"),
        assistant_message("x"),
    ]
    assert latest_request_to_carry(msgs, cut=3) == "second request, exactly"
    assert latest_request_to_carry(msgs, cut=2) is None  # kept in place anyway
    header = header_message(PromptLayers(), normalize_snapshot(""), "line one\n  line </b> two")
    later = [header, assistant_message("more"), Message(role="user", kind="tool_results", parts=())]
    assert latest_request_to_carry(later, cut=2) == "line one\n  line </b> two"


def test_header_reinjects_layers_and_auto_continue() -> None:
    layers = PromptLayers(system_prompt="SYS", agents_md="CONTRACT-1", active_skill="SKILL-9")
    h = header_message(layers, normalize_snapshot("<overall_goal>g</overall_goal>"), "do the thing")
    assert h.role == "user" and h.kind == "compaction"
    for needle in (
        "CONTRACT-1",
        "SKILL-9",
        "<overall_goal>\ng\n</overall_goal>",
        "do the thing",
        AUTO_CONTINUE,
    ):
        assert needle in h.text
    assert "SYS" not in h.text  # the system prompt travels as the system prompt of every call
    assert h.text.rstrip().splitlines()[-1].startswith("Continue the task")


def test_normalize_snapshot_keeps_order_and_salvages_free_text() -> None:
    s = normalize_snapshot("<key_knowledge>k</key_knowledge> junk <overall_goal>g</overall_goal>")
    assert [s.index(f"<{t}>") for t in SNAPSHOT_TAGS] == sorted(s.index(f"<{t}>") for t in SNAPSHOT_TAGS)
    assert "<overall_goal>\ng\n</overall_goal>" in s and "<contract_memory>\n\n</contract_memory>" in s
    free = normalize_snapshot("the model ignored the format")
    assert "<key_knowledge>\nthe model ignored the format\n</key_knowledge>" in free


def test_transcript_has_no_tool_blocks_and_chunks_fit_the_budget() -> None:
    msgs = _random_history(random.Random(3), 40)
    entries = render_transcript(msgs, max_part_chars=1_000)
    assert len(entries) == len(msgs) and entries[0] == "[user request] the original request"
    assert all(len(line) < 1_200 for e in entries for line in e.splitlines())
    chunks = chunk_entries(entries, budget_tokens=2_000)
    assert len(chunks) > 1 and all(estimate_text_tokens(c) <= 2_000 for c in chunks)
    assert "\n\n".join(chunks) == "\n\n".join(entries)


def test_summarize_folds_chunks_and_every_call_fits() -> None:
    entries = [f"[assistant] {'w' * 3_000} {i}" for i in range(40)]  # ~30k tokens
    seen: list[tuple[str, str]] = []

    async def model(system: str, text: str) -> str:
        seen.append((system, text))
        return f"<overall_goal>goal</overall_goal><key_knowledge>after {len(seen)} calls</key_knowledge>"

    snapshot, calls = asyncio.run(summarize(entries, model, input_budget_tokens=8_000))
    assert calls == len(seen) >= 4
    assert all(estimate_text_tokens(s) + estimate_text_tokens(t) <= 8_000 for s, t in seen)
    assert "<previous_snapshot>" not in seen[0][1] and "after 1 calls" in seen[1][1]  # folded
    assert f"after {calls} calls" in snapshot


@tool
def bulky(i: int) -> str:
    """Return a lot of text."""
    return f"result {i} " + "z" * 2_000


def test_engine_compacts_at_threshold_with_offline_provider() -> None:
    window = 6_000
    script = [ScriptedTurn(tool_calls=[("bulky", {"i": i}), ("bulky", {"i": i + 100})]) for i in range(30)]
    provider = OfflineProvider(
        script + [ScriptedTurn(text="done")],
        info=ModelInfo(provider="offline", model="m", context_window=window, max_output_tokens=500),
    )
    layers = PromptLayers(system_prompt="sys", agents_md="AGENTS-X", active_skill="SKILL-Y")
    engine: AgentEngine[Any] = AgentEngine(provider, ToolRegistry([bulky]), layers=layers)
    events: list[Any] = []
    stop = asyncio.run(engine.run_until_stopped("please do 30 bulky steps", events.append))
    assert stop.final_text == "done"
    compactions = [e for e in events if isinstance(e, Compacted)]
    assert len(compactions) >= 3
    for c in compactions:
        assert c.tokens_before >= 0.8 * window > c.tokens_after
    for req in provider.requests:
        if req.purpose == "turn":
            assert find_orphans(req.messages) == []
    first = engine.messages[0]
    assert (
        first.kind == "compaction" and "AGENTS-X" in first.text and "please do 30 bulky steps" in first.text
    )
    summary_reqs = [r for r in provider.requests if r.purpose == "summary"]
    assert summary_reqs and all(not r.tools for r in summary_reqs)


def test_threshold_is_per_provider_budget() -> None:
    p = CompactionPolicy()
    assert p.threshold(200_000, 16_000) == 160_000  # 80% binds
    assert p.threshold(16_000, 8_000) == 8_000  # the output reserve binds on a small window
