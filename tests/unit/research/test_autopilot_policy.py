"""The autopilot's decisions, given tool results exactly as a model reads them (JSON tool-result messages).
The full loop against real tools is in tests/integration/research."""

import json
from typing import Any

from aura.providers.base import TurnRequest
from aura.providers.offline import PolicyState, ScriptedTurn
from aura.runtime.messages import Message, ToolResultPart, user_text
from auraquant.cta.research.autopilot import Autopilot, AutopilotConfig
from auraquant.cta.research.goal import parse_goal

DV = {"id": "dv_synth", "symbol": "SYNTH/USDT", "timeframe": "1h", "bars": 9000, "first": "2022-01-01T00:00:00Z",
      "last": "2023-01-11T23:00:00Z", "source": "synthetic:x", "synthetic": True, "qualified": True, "gaps": 0,
      "missing_bars": 0, "warnings": []}


class Driver:
    def __init__(self, goal: str = "BTC/USDT 1h Sharpe >= 1.2, max drawdown >= -15%", **kw: Any) -> None:
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


def test_missing_symbol_uses_a_stated_stand_in_and_seals_a_holdout() -> None:
    d = Driver()
    first = through_data_phase(d)
    assert names(first) == ["spec_put"]
    spec = first.tool_calls[0][1]["spec"]
    assert spec["baseline"]["name"] == "ema_cross" and spec["search_space"]
    assert any("no stored BTC/USDT" in n and "dv_synth" in n for n in d.pilot.notes)


def test_no_data_of_the_goal_timeframe_is_a_structural_gap() -> None:
    d = Driver(goal="BTC/USDT 4h sharpe >= 1")
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


def test_goal_met_archives_a_candidate_then_freezes_the_best_when_research_converges() -> None:
    d = Driver(max_iters=2)
    through_data_phase(d)
    nxt = _round(d, "run_a", {"sharpe": 1.5, "max_drawdown": -0.1, "dsr": 0.9, "trades": 40},
                 [{"baseline.fast": 10, "baseline.slow": 100}])
    assert names(nxt) == ["iter_state_update", "archive_candidate"]
    arch = nxt.tool_calls[1][1]
    assert arch["run_id"] == "run_a" and arch["goal"] == {"sharpe": {"min": 1.2}, "max_drawdown": {"min": -0.15}}
    assert arch["parents"] == []
    tried = nxt.tool_calls[0][1]["tried"]
    assert tried == [{"label": tried[0]["label"], "evaluation_id": "run_a", "verdict": "meets the goal out of sample"}]
    cont = d.step({"block": "b"}, {"record_id": "rec_a", "signed": True})
    assert names(cont) == ["spec_put"]  # the candidate does not end the research
    second = _round(d, "run_b", {"sharpe": 1.8, "max_drawdown": -0.12, "trades": 50}, [{"baseline.fast": 12}])
    assert names(second) == ["iter_state_update", "archive_candidate"]
    assert second.tool_calls[1][1]["parents"] == ["rec_a"]  # lineage
    freeze = d.step({"block": "b"}, {"record_id": "rec_b", "signed": True})
    assert names(freeze) == ["archive_freeze"]  # iteration budget used: converged -> freeze the best
    assert freeze.tool_calls[0][1] == {"record_id": "rec_b"}
    req = d.step({"record_id": "rec_b", "holdout": {"sharpe": 0.8, "max_drawdown": -0.05}})
    assert names(req) == ["approval_request"] and "rec_b" in req.tool_calls[0][1]["reason"]
    end = d.step({"id": "apr_1"})
    assert names(end) == ["iter_state_update"] and end.tool_calls[0][1]["status"] == "GOAL_MET"
    assert d.pilot.record_id == "rec_b" and d.pilot.approval_id == "apr_1"
    assert [rid for rid, _ in d.pilot.candidates] == ["rec_a", "rec_b"]


def test_a_goal_to_beat_buy_and_hold_is_honoured() -> None:
    d = Driver(goal="BTC/USDT 1h Sharpe >= 1.2, beats buy and hold", max_iters=3)
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
    end = d.step({"block": "b"}, {"record_id": "rec_old", "signed": True, "state": "frozen"})
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
