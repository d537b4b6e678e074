"""Agent runtime overhead (issue 5, must-show 5).

1. Engine overhead per model turn with 60 tools registered, model latency excluded: an instant
   provider returns a pre-built turn (one or three tool calls) so everything measured is ours —
   budgets, repeat guard, compaction check, tool validation and dispatch, events, RunTrace, session log.
   Budget: <= 5 ms per turn.
2. Compaction bookkeeping of a ~150k-token history, summary call excluded (an instant summarizer):
   split planning, transcript rendering and chunking, header, history rebuild, log record.
   Budget: <= 100 ms.
3. For scale: building the Anthropic wire request from the same long history (provider-side work that
   happens once per turn but is not engine overhead).

No agent-framework peer (pydantic-ai, openai-agents) is installed in this environment, so the
numbers are printed against the issue's budgets rather than as a peer ratio.

Run: .venv/bin/python benchmarks/agent_overhead.py [--turns 400] [--repeats 15]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, Field

from aura.providers.anthropic_provider import AnthropicProvider
from aura.runtime import AgentEngine, Budgets, Message, SessionStore
from aura.runtime.messages import TextPart, ToolCallPart, ToolResultPart, assistant_message, user_text
from aura.runtime.provider import ModelInfo, ProviderEvent, TurnCompleted, TurnRequest
from aura.runtime.tokens import estimate_messages_tokens
from aura.runtime.usage import Usage
from aura.tools import Tool, ToolRegistry, tool

INFO = ModelInfo(provider="bench", model="instant", context_window=10_000_000, max_output_tokens=8_192)


class Args(BaseModel):
    symbol: str = Field(description="instrument")
    window: int = Field(20, ge=1, le=500)
    threshold: float = 0.5


def make_tools(n: int) -> list[Tool]:
    tools = []
    for i in range(n):

        async def fn(args: Args, _i: int = i) -> dict[str, Any]:
            return {"tool": _i, "symbol": args.symbol, "window": args.window}

        fn.__doc__ = f"Benchmark tool number {i}.\n\nLonger reference text for tool {i}."
        tools.append(tool(fn, name=f"tool_{i:02d}", category=f"cat{i % 6}"))
    return tools


class InstantProvider:
    """Returns the same turn instantly: `calls` tool calls with fresh arguments, then stops."""

    def __init__(self, calls: int, turns: int, info: ModelInfo = INFO) -> None:
        self._info = info
        self._calls = calls
        self._turns = turns
        self._n = 0

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def aclose(self) -> None:
        return None

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        n = self._n
        self._n += 1
        if request.purpose == "summary":
            msg = assistant_message("<overall_goal>g</overall_goal><key_knowledge>k</key_knowledge>")
        elif n >= self._turns:
            msg = assistant_message("done")
        else:
            msg = Message(
                role="assistant",
                kind="model",
                parts=(
                    TextPart(text="next"),
                    *(
                        ToolCallPart(
                            id=f"c{n}_{j}",
                            name=f"tool_{(n + j) % 60:02d}",
                            arguments=f'{{"symbol": "BTC", "window": {1 + (n * 3 + j) % 400}}}',
                        )
                        for j in range(self._calls)
                    ),
                ),
            )
        yield TurnCompleted(message=msg, usage=Usage(input_tokens=1000, output_tokens=50), finish_reason="x")


def bench_turns(turns: int, calls: int, tools: list[Tool]) -> tuple[float, float]:
    """(mean ms per turn, total seconds) for one run of `turns` turns."""
    registry = ToolRegistry(tools)
    with tempfile.TemporaryDirectory() as d:
        engine: AgentEngine[Any] = AgentEngine(
            InstantProvider(calls, turns),
            registry,
            session=SessionStore(d).create("bench"),
            budgets=Budgets(max_turns=turns + 1, max_tool_calls=None, max_identical_calls=3),
        )
        t0 = time.perf_counter()
        stop = asyncio.run(engine.run_until_stopped("benchmark"))
        dt = time.perf_counter() - t0
    assert stop.turns == turns + 1, stop
    return dt * 1000.0 / (turns + 1), dt


def long_history(target_tokens: int) -> list[Message]:
    msgs: list[Message] = [user_text("Find a robust trend strategy for BTC and ETH, 1h bars.")]
    n = 0
    while estimate_messages_tokens(msgs) < target_tokens:
        calls = [
            ToolCallPart(id=f"h{n}_{j}", name="tool_01", arguments=f'{{"symbol": "BTC", "window": {j + 1}}}')
            for j in range(1 + n % 3)
        ]
        msgs.append(assistant_message(f"step {n}: checking", calls))
        msgs.append(
            Message(
                role="user",
                kind="tool_results",
                parts=tuple(
                    ToolResultPart(tool_call_id=c.id, name=c.name, content='{"rows": "' + "r" * 600 + '"}')
                    for c in calls
                ),
            )
        )
        n += 1
    return msgs


def bench_compaction(history: list[Message], repeats: int, tools: list[Tool]) -> list[float]:
    times = []
    registry = ToolRegistry(tools)
    info = ModelInfo(
        provider="bench",
        model="instant",
        context_window=estimate_messages_tokens(history) + 10_000,
        max_output_tokens=8_192,
    )
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            provider = InstantProvider(0, 0, info)
            engine: AgentEngine[Any] = AgentEngine(
                provider, registry, history=history, session=SessionStore(d).create(f"c{r}")
            )

            async def once(e: AgentEngine[Any] = engine) -> None:
                async for _ in e._compact():
                    pass

            gc.collect()
            t0 = time.perf_counter()
            asyncio.run(once())
            times.append((time.perf_counter() - t0) * 1000.0)
            assert engine.messages[0].kind == "compaction"
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    tools = make_tools(60)
    print(f"tools registered: {len(tools)}; turns per run: {a.turns}")
    bench_turns(50, 1, tools)  # warm-up (imports, pydantic schema caches)
    for calls in (1, 3):
        runs = [bench_turns(a.turns, calls, tools)[0] for _ in range(3)]
        med = statistics.median(runs)
        print(
            f"engine overhead per turn, {calls} tool call(s)/turn: median {med:.3f} ms over 3 runs "
            f"(runs: {', '.join(f'{x:.3f}' for x in runs)}) | budget 5 ms | "
            f"ratio budget/measured {5 / med:.1f}x"
        )

    history = long_history(150_000)
    tokens = estimate_messages_tokens(history)
    times = bench_compaction(history, a.repeats, tools)
    med = statistics.median(times)
    p95 = sorted(times)[max(0, int(0.95 * len(times)) - 1)]
    print(
        f"compaction bookkeeping, {tokens} tokens / {len(history)} messages: median {med:.1f} ms, "
        f"p95 {p95:.1f} ms over {a.repeats} runs | budget 100 ms | ratio budget/measured {100 / med:.1f}x"
    )

    provider = AnthropicProvider(INFO, api_key="unused", base_url="http://127.0.0.1:9")
    req = TurnRequest(system="sys", messages=tuple(history), tools=ToolRegistry(tools).schemas())
    build = []
    for _ in range(5):
        t0 = time.perf_counter()
        provider.build_params(req)
        build.append((time.perf_counter() - t0) * 1000.0)
    print(
        f"(provider side, for scale) Anthropic request build for that history: median "
        f"{statistics.median(build):.1f} ms"
    )


if __name__ == "__main__":
    main()
