"""Must-show 2: a 300-turn session with tool batches through the real `anthropic` SDK against the
local Anthropic-protocol server. Compaction fires at the threshold, never splits a batch, keeps the
latest user request verbatim, re-injects the layers, and the server (which rejects orphaned tool
results and over-long prompts like the real API) accepts every request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
from aura_wire_helpers import FAKE_KEY, provider_for

from aura.providers.anthropic_provider import to_anthropic_messages
from aura.runtime import (
    AUTO_CONTINUE,
    AgentEngine,
    Budgets,
    CompactionPolicy,
    PromptLayers,
    SessionStore,
    StopReason,
    find_orphans,
)
from aura.runtime.events import Compacted, EngineEvent, Stopped
from aura.tools import ToolRegistry, tool
from tests.support.llm_emulators import AnthropicEmulator, Turn, anthropic_prompt_tokens

WINDOW = 16_000
MAX_OUT = 1_024
TURNS_PER_REQUEST = 100
REQUESTS = (
    "Survey the ledger shards and report the three largest anomalies, exactly as found.",
    "Now cross-check shard 7 against shard 12; keep the original anomaly ids in your answer.",
    "Finally write the summary table: id | shard | size, sorted by size (descending).",
)
LAYERS = PromptLayers(
    system_prompt="You are a careful auditing agent. Cite tool results by id.",
    agents_md="AGENTS-CONTRACT-7f3: never delete a shard; every number must come from a tool.",
    active_skill="SKILL-LEDGER-AUDIT-2c9: fetch shards in batches, then compare.",
)


class LongSessionBrain:
    """Answers 100 turns per request: tool batches of 1-3 calls, then a final text. Compaction
    summary calls (no tools, the compaction system prompt) get an XML snapshot."""

    def __init__(self) -> None:
        self.turns = 0
        self.summary_calls = 0

    def __call__(self, body: dict[str, Any], index: int) -> Turn:
        if "tools" not in body:
            self.summary_calls += 1
            return Turn(
                text=(
                    f"<overall_goal>audit the ledger (snapshot {self.summary_calls})</overall_goal>"
                    "<key_knowledge>anomalies so far: A-1, A-2</key_knowledge>"
                    "<contract_memory>never delete a shard</contract_memory>"
                    f"<spec_workflow_state>turn {self.turns}</spec_workflow_state>"
                )
            )
        n = self.turns
        self.turns += 1
        if n % TURNS_PER_REQUEST == TURNS_PER_REQUEST - 1:
            return Turn(text=f"Request {n // TURNS_PER_REQUEST + 1} done after {TURNS_PER_REQUEST} turns.")
        calls = tuple(
            ("fetch_shard", json.dumps({"shard": (n * 7 + j) % 50, "page": n})) for j in range(n % 3 + 1)
        )
        return Turn(text=f"turn {n}", tool_calls=calls)


@tool(category="ledger")
def fetch_shard(shard: int, page: int) -> dict[str, Any]:
    """Read one page of a ledger shard."""
    return {"shard": shard, "page": page, "rows": [f"row-{shard}-{page}-{i}:" + "x" * 40 for i in range(10)]}


def test_300_turn_session_compacts_correctly(tmp_path: Path) -> None:
    brain = LongSessionBrain()
    store = SessionStore(tmp_path)
    log = store.create("long")
    policy = CompactionPolicy()
    threshold = policy.threshold(WINDOW, MAX_OUT)
    assert threshold == 12_800  # 80% of the window (the output reserve is not the binding limit here)
    events: list[EngineEvent] = []
    with AnthropicEmulator(brain, context_window=WINDOW) as server:
        provider = provider_for("anthropic", server.url, context_window=WINDOW, max_output=MAX_OUT)
        engine: AgentEngine[Any] = AgentEngine(
            provider,
            ToolRegistry([fetch_shard]),
            layers=LAYERS,
            session=log,
            budgets=Budgets(max_turns=150, max_tool_calls=1000, max_identical_calls=None),
            compaction=policy,
        )
        request_of_call: list[int] = []  # which user request was active at each server request

        async def main() -> list[Stopped]:
            stops = []
            for k, req in enumerate(REQUESTS):
                start = len(server.requests)
                stops.append(await engine.run_until_stopped(req, events.append))
                request_of_call.extend([k] * (len(server.requests) - start))
            await provider.aclose()
            return stops

        stops = asyncio.run(main())
        session_rejections = list(server.rejections)
        session_requests = list(server.requests)
        naive_rejection = _naive_cut_is_rejected(server.url, engine)

    # -- the session ran to the end, every request accepted --
    assert [s.reason for s in stops] == [StopReason.COMPLETED] * 3
    assert brain.turns == 300
    assert session_rejections == []
    assert all(r.status == 200 for r in session_requests)
    assert find_orphans(engine.messages) == []

    # -- compaction fired at the threshold (not later than one turn's growth) and got below it --
    compactions = [e for e in events if isinstance(e, Compacted)]
    assert len(compactions) >= 5, len(compactions)
    for c in compactions:
        assert c.threshold_tokens == threshold
        assert threshold <= c.tokens_before < threshold + 1_500, c
        assert c.tokens_after < threshold, c
        assert c.kept_messages >= policy.min_keep_messages
    assert brain.summary_calls >= len(compactions)

    # -- every request after a compaction: layers re-injected, latest request verbatim, fits --
    post = [
        (i, r.body)
        for i, r in enumerate(session_requests)
        if "tools" in r.body and _first_text(r.body).startswith("<compacted_context>")
    ]
    assert len(post) > 100
    for i, body in post:
        header = _first_text(body)
        for needle in (
            LAYERS.agents_md,
            LAYERS.active_skill,
            AUTO_CONTINUE,
            "<overall_goal>",
            "<key_knowledge>",
            "<contract_memory>",
            "<spec_workflow_state>",
        ):
            assert needle in header
        assert body["system"][0]["text"] == LAYERS.system_prompt
        latest = REQUESTS[request_of_call[i]]
        assert latest in _all_texts(body), f"request {i} lost the latest user request"
    for r in session_requests:
        assert anthropic_prompt_tokens(r.body) + r.body["max_tokens"] <= WINDOW

    # -- the session log replays to exactly the in-memory history --
    replayed = store.open("long").replay()
    assert replayed.messages == list(engine.messages)
    assert replayed.compactions == len(compactions)

    # -- the emulator does reject orphans like the real API --
    assert naive_rejection.status_code == 400
    assert naive_rejection.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "tool_use_id" in str(naive_rejection)


def _naive_cut_is_rejected(url: str, engine: AgentEngine[Any]) -> anthropic.BadRequestError:
    """Send the final history cut the naive way (dropping the assistant message in front of a tool
    result message) straight through the SDK; the compacted history itself is accepted."""
    client = anthropic.Anthropic(api_key=FAKE_KEY, base_url=url, max_retries=0)
    msgs = list(engine.messages)
    wire: Any = to_anthropic_messages(msgs)
    with client.messages.stream(model="m", max_tokens=16, messages=wire) as accepted:
        assert accepted.get_final_message().content
    cut = next(i for i, m in enumerate(msgs) if m.tool_results)
    naive = [msgs[0], *msgs[cut:]]  # the tool results now answer nothing
    with pytest.raises(anthropic.BadRequestError) as exc:
        naive_wire: Any = to_anthropic_messages(naive)
        client.messages.create(model="m", max_tokens=16, stream=True, messages=naive_wire)
    client.close()
    return exc.value


def _first_text(body: dict[str, Any]) -> str:
    first = body["messages"][0]["content"]
    return next(b["text"] for b in first if b["type"] == "text")


def _all_texts(body: dict[str, Any]) -> str:
    return "\n".join(b.get("text", "") for m in body["messages"] for b in m["content"] if b["type"] == "text")
