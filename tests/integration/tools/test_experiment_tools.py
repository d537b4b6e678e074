"""Experiment tools: runs are content-addressed and never recomputed, comparisons and robustness cite the
runner's stored numbers, and Monte Carlo results are stored under their own id."""

from __future__ import annotations

from auraquant.cta.experiment import runner
from auraquant.cta.tools.experiment import MC_KIND, MonteCarloRecord

from .conftest import SEARCH, WALK_FORWARD, Lab


def test_same_inputs_same_run_not_recomputed(lab: Lab) -> None:
    before = runner.load_result(lab.ws, lab.ids["run"])
    st = lab.ok("experiment_run", {"spec_id": lab.ids["spec"], "walk_forward": WALK_FORWARD, "search": SEARCH})
    assert st.run_id == lab.ids["run"] and st.state == "finished"
    assert st.result["total_trials"] == before.total_trials
    assert runner.load_result(lab.ws, lab.ids["run"]).finished_at == before.finished_at


def test_compare_runs_uses_stored_results(lab: Lab) -> None:
    cmp = lab.ok("evaluation_compare", {"a": lab.ids["run"], "b": lab.ids["run2"]})
    assert cmp.kind == "run" and cmp.config["seed"] == {"a": 0, "b": 1}
    ra, rb = runner.load_result(lab.ws, lab.ids["run"]), runner.load_result(lab.ws, lab.ids["run2"])
    sharpe = next(m for m in cmp.metrics if m["metric"] == "sharpe")
    assert (sharpe["a"], sharpe["b"]) == (ra.oos.sharpe, rb.oos.sharpe)
    reports = lab.ok("evaluation_compare", {"a": lab.ids["report"], "b": lab.ids["report2"]})
    trades = next(m for m in reports.metrics if m["metric"] == "trades")
    assert trades["delta"] == trades["b"] - trades["a"]


def test_robustness_and_montecarlo(lab: Lab) -> None:
    rob = lab.ok("robustness_report", {"run_id": lab.ids["run"]})
    res = runner.load_result(lab.ws, lab.ids["run"])
    assert rob.total_trials == res.total_trials and rob.deflated_sharpe["dsr"] == res.oos.dsr
    assert rob.montecarlo, "the Monte Carlo stored by the lab fixture is cited"
    assert ("pbo" in rob.runner_robustness) != any(m.startswith("PBO") for m in rob.not_available)
    mc = lab.ok("montecarlo_run", {"source_id": lab.ids["run"], "method": "trade_order", "n_sims": 300, "seed": 4})
    again = lab.ok("montecarlo_run", {"source_id": lab.ids["run"], "method": "trade_order", "n_sims": 300, "seed": 4})
    assert mc.id == again.id and mc.summary == again.summary  # seeded and content-addressed
    assert mc.summary["max_drawdown"]["ci_low"] >= -1.0
    assert any(m.id == mc.id for m in lab.ws.store.list_objects(MC_KIND, MonteCarloRecord))
