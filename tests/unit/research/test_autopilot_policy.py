"""The autopilot's decisions, given tool results exactly as a model reads them (JSON tool-result messages).
The full loop against real tools is in tests/integration/research."""

import json
from typing import Any

from aura.providers.offline import PolicyState, ScriptedTurn
from aura.runtime.messages import Message, ToolResultPart, user_text
from aura.runtime.provider import TurnRequest
from auraquant.cta.research.autopilot import Autopilot, AutopilotConfig
from auraquant.cta.research.goal import parse_goal

DV = {"id": "dv_synth", "symbol": "SYNTH/USDT", "timeframe": "1h", "bars": 9000, "first": "2022-01-01T00:00:00Z",
      "last": "2023-01-11T23:00:00Z", "source": "synthetic:x", "synthetic": True, "qualified": True, "gaps": 0,
      "missing_bars": 0, "warnings": []}


class Driver:
    def __init__(self, goal: str = "SYNTH/USDT 1h Sharpe >= 1.2, max drawdown >= -15%", **kw: Any) -> None:
        self.pilot = Autopilot(AutopilotConfig(goal=parse_goal(goal), **kw))
        self.turn = 0
        self.last: ScriptedTurn | None = None

    def step(self, *results: Any, errors: tuple[int, ...] = ()) -> ScriptedTurn:
        if self.last is None:
            msg = user_text("go")
        else:
            assert len(results) == len(self.last.tool_calls), (results, self.last.tool_calls)
            msg = Message(role="user", kind="tool_results", parts=tuple(
                ToolResultPart(tool_call_id=f"c{i}", name=name, is_error=i in errors,
                               content=json.dumps({"error": {"message": r}} if i in errors else r))
                for i, ((name, _), r) in enumerate(zip(self.last.tool_calls, results, strict=True))))
        self.last = self.pilot(PolicyState(turn=self.turn, request=TurnRequest(system="", messages=(msg,))))
        self.turn += 1
        return self.last


def names(turn: ScriptedTurn) -> list[str]:
    return [n for n, _ in turn.tool_calls]


def through_data_phase(d: Driver) -> ScriptedTurn:
    assert names(d.step()) == ["skill_load", "data_version_list", "memory_search"]
    show = d.step("skill text", [DV], [])
    assert names(show) == ["data_version_show"]
    made = d.step({"version": DV, "slices": [], "holdout_from": None})
    assert names(made) == ["data_slice_create"]
    args = made.tool_calls[0][1]
    assert args["role"] == "holdout" and args["start"].startswith("2022-11-")  # last 15% of the bars
    return d.step({"id": "ds_h", "start": args["start"], "bars": 1350})


def test_the_goal_market_is_used_and_a_holdout_sealed() -> None:
    d = Driver()
    first = through_data_phase(d)
    assert names(first) == ["spec_put"]
    spec = first.tool_calls[0][1]["spec"]
    assert spec["baseline"]["name"] == "ema_cross" and spec["search_space"]
    assert d.pilot.data_version_id == "dv_synth"
    # windows fitted to the bars before the holdout as the slice counts them (9000 - 1350)
    assert d.pilot._wf == {"train_bars": 2 * (7650 // 6), "target_bars": 7650 // 6, "n_windows": 4}


def test_a_goal_symbol_without_data_is_refused_never_researched_on_a_stand_in() -> None:
    d = Driver(goal="ETH/USDT 1h Sharpe >= 1")
    d.step()
    end = d.step("skill", [DV, {**DV, "id": "dv_btc", "symbol": "BTC/USDT", "synthetic": False}], [])
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "STRUCTURAL_GAP"
    assert d.pilot.termination is not None
    assert d.pilot.termination.detail.startswith("no data for ETH/USDT 1h; import or fetch it")
    assert d.pilot.data_version_id is None and d.pilot.rounds == []


def test_the_matching_version_is_picked_among_several_markets() -> None:
    d = Driver(goal="ETH/USDT 1h Sharpe >= 1")
    d.step()
    eth = {**DV, "id": "dv_eth", "symbol": "ETH/USDT", "synthetic": False, "bars": 5000}
    show = d.step("skill", [{**DV, "id": "dv_btc", "symbol": "BTC/USDT", "bars": 90000}, eth,
                            {**DV, "id": "dv_eth4h", "symbol": "ETH/USDT", "timeframe": "4h"}], [])
    assert names(show) == ["data_version_show"] and show.tool_calls[0][1] == {"data_version_id": "dv_eth"}


def test_windows_shrink_to_fit_short_data_and_too_little_data_is_a_gap() -> None:
    from auraquant.cta.research.autopilot import MIN_TARGET_BARS, fit_windows

    assert fit_windows(6000, 4) == (4, 1000)
    assert fit_windows(5 * MIN_TARGET_BARS, 4) == (3, MIN_TARGET_BARS)  # 4 windows would need 6 targets
    assert fit_windows(3 * MIN_TARGET_BARS, 4) == (1, MIN_TARGET_BARS)
    assert fit_windows(3 * MIN_TARGET_BARS - 1, 4) == (0, 0)
    d = Driver()
    d.step()
    d.step("skill", [{**DV, "bars": 200}], [])
    end = d.step({"version": {**DV, "bars": 200}, "slices": [{"role": "holdout", "bars": 30}],
                  "holdout_from": "2022-01-08T00:00:00Z"})
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "STRUCTURAL_GAP"
    assert "only 170 bars before the holdout" in d.pilot.termination.detail  # type: ignore[union-attr]


def test_no_data_of_the_goal_timeframe_is_a_structural_gap() -> None:
    d = Driver(goal="SYNTH/USDT 4h sharpe >= 1")
    d.step()
    end = d.step("skill", [DV], [])
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "STRUCTURAL_GAP"
    assert d.pilot.termination is not None and "4h" in d.pilot.termination.detail
    final = d.step({"block": "..."})
    assert not final.tool_calls and "STRUCTURAL_GAP" in final.text  # the final summary, no more calls


def _round(d: Driver, run: str, metrics: dict[str, Any], windows: list[dict[str, Any]]) -> ScriptedTurn:
    ran = d.step({"spec_id": f"spec_{run}"}) if names(d.last) == ["spec_put"] else \
        d.step({"block": "b"}, {"spec_id": f"spec_{run}"})
    assert names(ran) == ["experiment_run"]
    judged = d.step({"run_id": run, "state": "finished", "windows": 2, "windows_complete": 2})
    assert names(judged) == ["evaluation_show", "robustness_report"]  # one batch: run in parallel
    return d.step({"metrics": metrics, "details": {"windows": [{"params": w} for w in windows]}},
                  {"runner_robustness": {"pbo": 0.3}})


SIGNIFICANT = {"signed": True, "significance": "significant", "failed_gates": None, "dsr": 0.97,
               "dsr_count": "session N=48, Var(SR)=0.01"}


def _two_candidates(d: Driver, sig_a: dict[str, Any], sig_b: dict[str, Any]) -> ScriptedTurn:
    through_data_phase(d)
    nxt = _round(d, "run_a", {"sharpe": 1.5, "max_drawdown": -0.1, "dsr": 0.9, "trades": 40},
                 [{"baseline.fast": 10, "baseline.slow": 100}])
    assert names(nxt) == ["iter_state_update", "archive_candidate"]
    arch = nxt.tool_calls[1][1]
    assert arch["run_id"] == "run_a" and arch["goal"] == {"sharpe": {"min": 1.2}, "max_drawdown": {"min": -0.15}}
    assert arch["parents"] == []
    tried = nxt.tool_calls[0][1]["tried"]
    assert tried == [{"label": tried[0]["label"], "evaluation_id": "run_a", "verdict": "meets the goal out of sample"}]
    cont = d.step({"block": "b"}, {"record_id": "rec_a", **sig_a})
    assert names(cont) == ["spec_put"]  # the candidate does not end the research
    second = _round(d, "run_b", {"sharpe": 1.8, "max_drawdown": -0.12, "trades": 50}, [{"baseline.fast": 12}])
    assert names(second) == ["iter_state_update", "archive_candidate"]
    assert second.tool_calls[1][1]["parents"] == ["rec_a"]  # lineage
    return d.step({"block": "b"}, {"record_id": "rec_b", **sig_b})


def test_goal_met_needs_a_significant_candidate_whose_holdout_confirms() -> None:
    d = Driver(max_iters=2)
    freeze = _two_candidates(d, SIGNIFICANT, SIGNIFICANT)
    assert names(freeze) == ["archive_freeze"]  # iteration budget used: converged -> freeze the best
    assert freeze.tool_calls[0][1] == {"record_id": "rec_b"}
    # holdout Sharpe 0.8 >= 1.2 - 0.5 x 1.2 = 0.6 and drawdown -0.05 >= -0.225: confirmed within the tolerance
    req = d.step({"record_id": "rec_b", "holdout": {"sharpe": 0.8, "max_drawdown": -0.05}})
    assert names(req) == ["approval_request"] and "rec_b" in req.tool_calls[0][1]["reason"]
    end = d.step({"id": "apr_1"})
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "GOAL_MET"
    assert d.pilot.record_id == "rec_b" and d.pilot.approval_id == "apr_1"
    assert [rid for rid, _ in d.pilot.candidates] == ["rec_a", "rec_b"]
    assert "| sharpe | 0.800 | >= 1.2 | >= 0.6 | confirms |" in d.pilot.summary_markdown()


def test_a_holdout_that_does_not_confirm_is_holdout_failed_without_approval() -> None:
    d = Driver(max_iters=2)
    freeze = _two_candidates(d, SIGNIFICANT, SIGNIFICANT)
    end = d.step({"record_id": "rec_b", "holdout": {"sharpe": -0.02, "max_drawdown": -0.05}})
    assert names(end) == ["iter_state_update"]  # no approval_request
    assert end.tool_calls[0][1]["status"] == "HOLDOUT_FAILED"
    assert "holdout sharpe -0.020 < 0.600" in end.tool_calls[0][1]["next_action"]
    assert d.pilot.approval_id is None and freeze.tool_calls[0][1] == {"record_id": "rec_b"}


def test_only_significant_candidates_are_frozen_and_none_is_not_significant() -> None:
    d = Driver(max_iters=2)
    weak = {"signed": True, "significance": "not significant", "failed_gates": "session DSR 0.310 < 0.95",
            "dsr": 0.31, "dsr_count": "session N=48, Var(SR)=0.01"}
    freeze = _two_candidates(d, SIGNIFICANT, weak)
    assert freeze.tool_calls[0][1] == {"record_id": "rec_a"}  # the better rec_b is not significant
    d = Driver(max_iters=2)
    end = _two_candidates(d, weak, weak)
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "NOT_SIGNIFICANT"
    assert "session DSR 0.310 < 0.95" in end.tool_calls[0][1]["next_action"]
    assert d.pilot.record_id is None


def test_a_freeze_refused_by_the_gates_ends_not_significant() -> None:
    d = Driver(max_iters=2)
    _two_candidates(d, SIGNIFICANT, SIGNIFICANT)
    end = d.step("refusing to freeze rec_b: below the significance gates: session DSR 0.801 < 0.95", errors=(0,))
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "NOT_SIGNIFICANT"


def test_refused_experiments_are_never_recorded_as_falsified() -> None:
    d = Driver(goal="sharpe >= 5")
    through_data_phase(d)
    # one evaluated round, then experiments refused three times in a row: a structural gap, no induction
    _round(d, "run_1", {"sharpe": 0.5, "max_drawdown": -0.1}, [])
    for _ in range(3):
        ran = d.step({"block": "b"}, {"spec_id": "spec_x"}) if len(d.last.tool_calls) == 2 else \
            d.step({"spec_id": "spec_x"})
        assert names(ran) == ["experiment_run"]
        d.step("only 3 of the requested 4 windows fit in 64109 bars", errors=(0,))
    assert d.pilot.termination is not None and d.pilot.termination.status == "STRUCTURAL_GAP"
    assert "refused or failed" in d.pilot.termination.detail
    assert all(n != "memory_store" for n in names(d.last))
    assert [x.evaluated for x in d.pilot.rounds] == [True, False, False, False]


def test_an_induction_falsifies_only_evaluated_families() -> None:
    d = Driver(goal="sharpe >= 5")
    through_data_phase(d)
    d.pilot._induction_rounds = []
    _round(d, "run_1", {"sharpe": -0.5, "max_drawdown": -0.1}, [])
    fam = d.pilot.rounds[-1].family
    # a second family whose only round was refused
    d.pilot._families["donchian"] = type(d.pilot._families[fam])(d.pilot._family("donchian"), {"filters": 0,
                                                                  "execution": 0, "risk": 0}, rounds=1)
    turn = d.pilot._induce("")
    note = turn.tool_calls[1][1]["value"]
    assert note["falsified_families"] == [fam]  # donchian was never evaluated: not falsified
    assert note["falsified_rounds"] == [] or all(r["run_id"] for r in note["falsified_rounds"])


def test_a_goal_to_beat_buy_and_hold_is_honoured() -> None:
    d = Driver(goal="SYNTH/USDT 1h Sharpe >= 1.2, beats buy and hold", max_iters=3)
    through_data_phase(d)
    # Sharpe meets the goal but holding the instrument returned far more: no candidate.
    lost = _round(d, "run_a", {"sharpe": 1.5, "max_drawdown": -0.1, "trades": 40, "excess_return": -12.9,
                               "excess_sharpe": 0.4}, [{"baseline.fast": 10}])
    assert "archive_candidate" not in names(lost)
    assert d.pilot.rounds[-1].verdict != "meets the goal out of sample"
    won = _round(d, "run_b", {"sharpe": 1.6, "max_drawdown": -0.1, "trades": 40, "excess_return": 0.2,
                              "excess_sharpe": 0.1}, [{"baseline.fast": 12}])
    assert names(won) == ["iter_state_update", "archive_candidate"]
    assert won.tool_calls[1][1]["goal"] == {"sharpe": {"min": 1.2}, "excess_return": {"min": 0.0},
                                            "excess_sharpe": {"min": 0.0}}


def test_improvement_refines_the_selected_range_then_dead_ends_escalate() -> None:
    d = Driver(goal="sharpe >= 5")
    through_data_phase(d)
    nxt = _round(d, "run_1", {"sharpe": 0.5, "max_drawdown": -0.1}, [{"baseline.fast": 10, "baseline.slow": 100},
                                                                      {"baseline.fast": 14, "baseline.slow": 120}])
    refine = nxt.tool_calls[1][1]["spec"]["search_space"]
    assert refine["baseline.fast"] == {"kind": "int", "low": 7, "high": 18}  # 0.75 x min .. 1.25 x max
    assert refine["baseline.slow"] == {"kind": "int", "low": 75, "high": 150}
    dims = []
    for i, s in enumerate([0.52, 0.1, 0.2, 0.3]):  # four dead ends: structure, hypothesis, external, external
        nxt = _round(d, f"run_{i + 2}", {"sharpe": s, "max_drawdown": -0.1}, [{"baseline.fast": 9}])
        dims.append(d.pilot.rounds[-1].dimension)
        label = nxt.tool_calls[-1][1]["spec"]["description"]
        dims.append(label)
    assert dims[0] == "parameter refine"
    assert "swap filters" in dims[1]  # the goal misses only on Sharpe: entry quality first
    assert dims[3].startswith("donchian")  # new hypothesis after 2 dead ends
    assert dims[5].startswith("external idea") and dims[7].startswith("external idea")


def test_drawdown_miss_swaps_risk_first() -> None:
    d = Driver(goal="sharpe >= 1, max drawdown >= -10%")
    through_data_phase(d)
    _round(d, "run_1", {"sharpe": 1.4, "max_drawdown": -0.3}, [])  # no window params: no refinement
    nxt = d.last
    spec = nxt.tool_calls[-1][1]["spec"]
    assert "swap risk" in spec["description"]
    assert [m["name"] for m in spec["risk"]] != ["fixed_fraction"]


def test_a_candidate_frozen_by_an_earlier_session_stops_at_the_approval_gate() -> None:
    d = Driver(max_iters=1)
    through_data_phase(d)
    _round(d, "run_a", {"sharpe": 1.5, "max_drawdown": -0.1}, [])
    end = d.step({"block": "b"}, {"record_id": "rec_old", "signed": True, "state": "frozen",
                                  "significance": "significant"})
    assert names(end) == ["iter_state_update"]  # no second freeze: the human gate is what remains
    assert end.tool_calls[0][1]["status"] == "APPROVAL_GATE" and "auraquant approve rec_old" in \
        end.tool_calls[0][1]["next_action"]


def test_writes_a_new_module_when_memory_falsified_every_builtin_family() -> None:
    d = Driver(goal="sharpe >= 2")
    d.step()
    note = {"key": "induction-iter-010", "value": {"data_version_id": "dv_synth", "falsified_families": [
        "ema-cross", "donchian", "ts-momentum", "bollinger"]}}
    other = {"key": "induction-iter-020", "value": {"data_version_id": "dv_other", "falsified_families": ["keltner"]}}
    d.step("skill", [DV], [note, other])  # a note about another data version does not count
    d.step({"version": DV, "slices": [{"role": "holdout", "bars": 1350}], "holdout_from": "2022-11-20T00:00:00Z"})
    write = d.last
    assert names(write) == ["module_scaffold", "module_write"]
    args = write.tool_calls[1][1]
    assert args["kind"] == "baselines" and args["name"] == "keltner_breakout" and "class KeltnerBreakout" in args["source"]
    spec = d.step({"template": "..."}, {"ok": True, "path": "cta_runtime/baselines/keltner_breakout.py",
                                        "lookahead": "no look-ahead"})
    assert names(spec) == ["spec_put"]
    assert spec.tool_calls[0][1]["spec"]["baseline"]["name"] == "keltner_breakout"
    assert any("keltner_breakout.py" in n for n in d.pilot.notes)


def test_a_refused_module_is_dropped_not_retried() -> None:
    d = Driver(goal="sharpe >= 2")
    d.step()
    note = {"key": "induction-iter-010", "value": {"data_version_id": "dv_synth", "falsified_families": [
        "ema-cross", "donchian", "ts-momentum", "bollinger"]}}
    d.step("skill", [DV], [note])
    d.step({"version": DV, "slices": [{"role": "holdout", "bars": 1350}], "holdout_from": "2022-11-20T00:00:00Z"})
    nxt = d.step({"template": "..."}, "keltner_breakout refused at stage guard", errors=(1,))
    assert names(nxt) == ["spec_put"]  # falls back to an external recipe instead of rewriting the module
    assert nxt.tool_calls[0][1]["spec"]["description"].startswith("external idea")


def test_a_record_frozen_earlier_whose_holdout_missed_is_holdout_failed_not_an_approval_gate() -> None:
    d = Driver(max_iters=1)
    through_data_phase(d)
    _round(d, "run_a", {"sharpe": 1.5, "max_drawdown": -0.1}, [])
    end = d.step({"block": "b"}, {"record_id": "rec_old", "signed": True, "state": "frozen",
                                  "significance": "significant", "holdout": {"sharpe": 0.1, "max_drawdown": -0.05}})
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "HOLDOUT_FAILED"
