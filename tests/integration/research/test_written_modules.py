"""The modules the autopilot writes pass the real module_write gate (code guard, Protocol, output contract,
look-ahead check) and can be put in a Spec, so the autopilot never proposes code the tools would refuse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from auraquant.cta.research.ideas import WRITTEN
from auraquant.cta.tools import build_registry, research_context
from auraquant.workspace import Workspace


@pytest.mark.parametrize("new", WRITTEN, ids=lambda w: w.module)
def test_written_module_passes_the_gate_and_backs_a_spec(workspace: Path, new) -> None:
    ws = Workspace.open(workspace)
    reg, ctx = build_registry(), research_context(ws)
    out = asyncio.run(reg.call("module_write", {"kind": new.kind, "name": new.module, "source": new.source,
                                                "overwrite": True}, ctx))
    assert out.ok, out.content
    assert out.value.lookahead and "no look-ahead" in out.value.lookahead
    assert (ws.runtime_dir / new.kind / f"{new.module}.py").read_text() == new.source
    dv = ws.store.list_data_versions()[0].id
    spec = {"name": new.family.name, "baseline": {"name": new.module, "params": new.family.defaults},
            "execution": [{"name": "trailing_pct"}], "search_space": new.family.space}
    put = asyncio.run(reg.call("spec_put", {"spec": spec, "data_version_id": dv}, ctx))
    assert put.ok, put.content
    bt = asyncio.run(reg.call("backtest_run", {"spec_id": put.value.spec_id, "end": "2022-06-01"}, ctx))
    assert bt.ok and bt.value.metrics["trades"] > 0, bt.content
