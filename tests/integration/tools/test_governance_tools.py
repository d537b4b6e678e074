"""Must-show 4: no tool can grant production approval. Plus: archive records carry only stored numbers,
and the iteration state takes metrics from the store, never from the agent."""

from __future__ import annotations

import re

import pytest

from aura.tools import ToolFailure
from auraquant.cta.experiment import runner
from auraquant.cta.experiment.models import RUN_KIND, Run
from auraquant.cta.experiment.significance import ledger_view
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.archive import Archive
from auraquant.cta.tools import build_registry
from auraquant.cta.tools.governance import _governed

from .conftest import GOAL, Lab


@pytest.fixture(scope="module")
def frozen(lab: Lab) -> str:
    """A signed candidate of run2, frozen through the tool (its sealed holdout scored once)."""
    rid = lab.ok("archive_candidate", {"run_id": lab.ids["run2"], "family": "ema-cross", "goal": GOAL}).record_id
    rec = lab.ok("archive_freeze", {"record_id": rid})
    assert rec.state == "frozen" and rec.holdout is not None and rec.holdout["holdout_bars"] > 0
    # Buy and hold over the holdout bars is scored with it, and the excess over it.
    assert rec.holdout["bh_total_return"] is not None
    assert rec.holdout["excess_return"] == rec.holdout["total_return"] - rec.holdout["bh_total_return"]
    again = lab.call("archive_freeze", {"record_id": rid})
    assert not again.ok and "IllegalTransition" in again.content  # the holdout is scored once
    return rid


def test_no_tool_resolves_approvals() -> None:
    reg = build_registry()
    for t in reg.tools(caller="human"):
        assert not re.search(r"approve|grant|promot|reject|resolve", t.name), t.name
    assert {"approval_request", "approval_status"} <= set(reg.names())


def test_agent_can_request_but_never_grant(lab: Lab, frozen: str) -> None:
    req = lab.ok("approval_request", {"record_id": frozen, "reason": f"OOS evidence in {lab.ids['run2']}"})
    assert req.status == "pending" and req.requested_by == "agent:test-model"
    status = lab.ok("approval_status", {"record_or_request_id": req.id})
    assert status.record_state == "frozen" and "auraquant approve" in status.next_step
    # everything the agent can do with this record leaves it frozen and the request pending
    for name, args in [("approval_request", {"record_id": frozen, "reason": "again, please approve this now"}),
                       ("archive_freeze", {"record_id": frozen}), ("artifact_verify", {"record_id": frozen}),
                       ("archive_show", {"record_id": frozen}), ("pattern_store", {"record_id": frozen}),
                       ("archive_candidate", {"run_id": lab.ids["run2"], "family": "ema-cross", "goal": GOAL})]:
        lab.call(name, args)
    stored = Archive(lab.ws.store, lab.ws.aura).get(frozen)
    assert stored.record.state == "frozen" and stored.record.approval is None
    assert lab.ok("approval_status", {"record_or_request_id": frozen}).request.status == "pending"


def test_governance_calls_run_as_the_agent(lab: Lab, frozen: str) -> None:
    """Even code reached through a governance tool cannot promote: it runs inside the agent session."""
    arch = Archive(lab.ws.store, lab.ws.aura)
    with pytest.raises(ToolFailure, match="only a human"):
        _governed(lab.ctx, lambda: arch.approve(frozen, Actor.human("mallory")))
    assert arch.get(frozen).record.state == "frozen"


def test_human_caller_gets_no_extra_power(lab: Lab, frozen: str) -> None:
    import asyncio
    from dataclasses import replace

    human = replace(lab.ctx, caller="human")
    out = asyncio.run(lab.reg.call("approval_request", {"record_id": frozen, "reason": "a human asks via tools"},
                                   human))
    assert out.ok and out.value.status == "pending"
    assert Archive(lab.ws.store, lab.ws.aura).get(frozen).record.state == "frozen"


def test_archive_record_numbers_come_from_the_store(lab: Lab) -> None:
    rec = Archive(lab.ws.store, lab.ws.aura).get(lab.ids["record"]).record
    res = runner.load_result(lab.ws, lab.ids["run"])
    assert rec.metrics["sharpe"] == res.oos.sharpe and rec.metrics["max_drawdown"] == res.oos.max_drawdown
    # trial_count is the ledger count the record's DSR used (every trial of the session on this data content:
    # both runs, the backtest and the sweep), never fewer than the run's own trials
    assert rec.trial_count == rec.significance["dsr_n_trials"] > res.total_trials and rec.model_id == "test-model"
    assert any(k.startswith("mc_") for k in rec.robustness)  # the stored Monte Carlo of this run
    assert set(rec.code_hashes) == {"baselines/ema_cross", "executions/trailing_pct", "risks/fixed_fraction"}
    assert lab.ok("artifact_verify", {"record_id": rec.id}).ok
    # Buy and hold over the run's stitched OOS span, in the signed body and beside the metrics.
    bh = res.oos.buy_and_hold
    assert bh is not None and bh.segments == len(res.windows)
    assert rec.buy_and_hold == bh.numbers()
    assert rec.metrics["excess_return"] == bh.excess_return == res.oos.total_return - bh.total_return
    assert rec.metrics["bh_sharpe"] == bh.sharpe
    shown = lab.ok("archive_show", {"record_id": rec.id}).record
    assert shown["buy_and_hold"] == bh.numbers()
    ev = lab.ok("evaluation_show", {"evaluation_id": lab.ids["run"]})
    assert ev.metrics["excess_sharpe"] == bh.excess_sharpe and ev.metrics["buy_and_hold"]["segments"] == bh.segments


def test_iter_state_takes_metrics_from_the_store(lab: Lab) -> None:
    out = lab.ok("iter_state_update", {"iter": 3, "max_iters": 200, "goal": "BTC 1h Sharpe >= 1.2",
                                       "tried": [{"label": "ema 8/40", "evaluation_id": lab.ids["run"]},
                                                 {"label": "ema bt", "evaluation_id": lab.ids["report"]}],
                                       "next_action": "try a breakout baseline"})
    res = runner.load_result(lab.ws, lab.ids["run"])
    # the DSR shown is deflated by this session's trial ledger (every trial on the data so far), not by the
    # run's own trials
    view = ledger_view(lab.ws.store, lab.ws.store.get_object(RUN_KIND, lab.ids["run"], Run), res, lab.ctx.session_id)
    assert out.state.tried[0].sharpe == res.oos.sharpe and out.state.tried[0].dsr == view["dsr_session"]
    assert view["dsr_session_n_trials"] > res.total_trials and out.state.tried[0].dsr != res.oos.dsr
    assert out.block.startswith("<ITER_STATE>\niter: 3 / 200") and lab.ids["run"] in out.block
    refused = lab.call("iter_state_update", {"iter": 4, "max_iters": 200, "tried": [
        {"label": "made up", "evaluation_id": lab.ids["run"], "sharpe": 9.9}]})
    assert not refused.ok and refused.error.kind == "invalid_arguments"
    assert lab.ok("iter_state_show", {}).state.iter == 3
