"""Child process of the kill/resume and Ctrl-C tests: runs a session until a tool blocks forever.

Before blocking it writes the history it holds in memory to `mirror.json` and then `ready`, so the
parent can SIGKILL it and compare what the log replays to with what the process actually held.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from aura.providers import OfflineProvider, ScriptedTurn
from aura.runtime import AgentEngine, PromptLayers, SessionStore
from aura.tools import ToolContext, ToolRegistry, tool

ENGINE: list[AgentEngine[Any]] = []


def main(root: Path) -> None:
    @tool(category="work")
    def note(i: int) -> dict[str, int]:
        """Record a note."""
        return {"noted": i}

    @tool(category="work", timeout_s=None)
    def block_forever(ctx: ToolContext[Path], reason: str) -> str:
        """Never returns (the parent kills the process while this runs)."""
        mirror = [m.model_dump(mode="json") for m in ENGINE[0].messages]
        tmp = ctx.deps / "mirror.json.tmp"
        tmp.write_text(json.dumps(mirror))
        os.replace(tmp, ctx.deps / "mirror.json")
        (ctx.deps / "ready").write_text(ctx.tool_call_id)
        while True:
            time.sleep(1)

    script = [
        ScriptedTurn(text="two notes first", tool_calls=[("note", {"i": 1}), ("note", {"i": 2})]),
        ScriptedTurn(
            text="now the long one", tool_calls=[("note", {"i": 3}), ("block_forever", {"reason": "x"})]
        ),
    ]
    log = SessionStore(root / "sessions").create("killme", meta={"purpose": "kill test"})
    engine: AgentEngine[Path] = AgentEngine(
        OfflineProvider(script),
        ToolRegistry([note, block_forever]),
        deps=root,
        session=log,
        layers=PromptLayers(system_prompt="sys", agents_md="contract text", active_skill="skill text"),
    )
    ENGINE.append(engine)
    try:
        asyncio.run(engine.run_until_stopped("start the job"))
    except KeyboardInterrupt:  # Ctrl-C: the engine saved its state before this surfaced
        sys.exit(130)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
