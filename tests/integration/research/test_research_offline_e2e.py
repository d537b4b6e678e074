"""Must-show 1: offline end to end. `auraquant init`, then `auraquant research --goal "SYNTH/USDT 1h Sharpe >= 1.2,
max drawdown >= -15%" --max-iters 20` runs data -> spec -> walk-forward -> evaluation (-> archive), forces an
induction at iteration 10, stops with a stated reason and leaves ITER_STATE, RunTraces and the session log.
Experiments are tiny (2 windows x 4 trials) to keep the test lean; the loop and the tools are the real ones."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from aura.runtime.sessions import SessionStore
from auraquant.cta.research import iter_state
from auraquant.cta.research.protocol import TERMINAL
from auraquant.cta.tools import build_registry, research_context
from auraquant.workspace import Workspace

from .conftest import research_cli, run

GOAL = "SYNTH/USDT 1h Sharpe >= 1.2, max drawdown >= -15%"  # the market of the workspace's demo data


def test_offline_research_end_to_end(workspace: Path, tmp_path: Path) -> None:
    out = run([*research_cli(), "research", "-w", str(workspace), "--goal", GOAL, "--max-iters", "20",
               "--windows", "2", "--trials", "4", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    ws = Workspace.open(workspace)

    # a stated stop reason, the same in the outcome, in ITER_STATE and in the session log
    assert res["status"] in TERMINAL and res["detail"]
    st = iter_state.current(ws.store)
    assert st is not None and st.status == res["status"] and st.iter == res["iterations"]
    log_path = Path(res["session_log"])
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    stops = [r for r in records if r["t"] == "research_stop"]
    assert stops and stops[-1]["status"] == res["status"]

    # the forced induction at iteration 10, stored in research memory, with ITER_STATE history up to there
    assert res["iterations"] >= 10
    assert 10 in iter_state.inductions(ws.store)
    assert [h.iter for h in iter_state.history(ws.store)][:10] == list(range(1, 11))
    from auraquant.cta.governance.memory import recall
    note = recall(ws.store, "induction-iter-010")
    assert note["iter"] == 10 and "next_direction" in note and "falsified_rounds" in note

    # RunTrace of every tool call, phases in order: data -> spec -> walk-forward -> evaluation
    traces = SessionStore(ws.sessions).open(res["session_id"]).replay().traces
    tools = [t.tool for t in traces]
    assert set(tools) <= set(build_registry().names())
    first = {name: tools.index(name) for name in ("data_version_list", "data_slice_create", "spec_put",
                                                   "experiment_run", "evaluation_show", "iter_state_update")}
    assert first["data_version_list"] < first["data_slice_create"] < first["spec_put"] < first["experiment_run"] \
        < first["evaluation_show"] < first["iter_state_update"]
    assert all(t.model == "autopilot" and t.session_id == res["session_id"] for t in traces)
    assert res["tool_calls"] == len(traces)

    # every metric in ITER_STATE is the stored engine number of the run it cites
    reg = build_registry()
    ctx = research_context(ws)
    for tried in st.tried[:3]:
        ev = asyncio.run(reg.call("evaluation_show", {"evaluation_id": tried.evaluation_id}, ctx)).value
        assert math.isclose(tried.sharpe, ev.metrics["sharpe"]) and tried.trades == ev.metrics["trades"]
    best = max(st.tried, key=lambda t: t.sharpe)
    assert res["best_run_id"] == best.evaluation_id

    # governance: a record is frozen only when it passed the significance gates, and GOAL_MET only when its
    # holdout confirms the goal; the tearsheet of the best result exists
    assert res["experiments"] == res["iterations"]
    if res["status"] in ("GOAL_MET", "HOLDOUT_FAILED"):
        detail = asyncio.run(reg.call("archive_show", {"record_id": res["record_id"]}, ctx)).value
        assert detail.record["state"] == "frozen" and detail.record["significance"]["label"] == "significant"
        verdicts = {r["verdict"] for r in res["holdout"]}
        assert ("misses" not in verdicts) == (res["status"] == "GOAL_MET")
    else:
        assert res["record_id"] is None and res["holdout"] is None
    for rec in asyncio.run(reg.call("archive_list", {}, ctx)).value:
        assert rec.significance in ("significant", "not significant") and rec.dsr_count.startswith("session N=")
        assert rec.state != "frozen" or rec.significance == "significant"
    assert Path(res["tearsheet"]["html"]).is_file() and Path(res["tearsheet"]["png"]).stat().st_size > 0
