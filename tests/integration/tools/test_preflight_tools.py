"""Must-show 2: pre-flight refuses before any engine work, naming the missing step and the tool that fixes it."""

from __future__ import annotations

import json

import pytest

from auraquant.cta.experiment.models import RUN_KIND, Run
from auraquant.cta.tools import experiment as experiment_tools
from auraquant.cta.tools.sdk import scaffold

from .conftest import SEARCH, SPEC, WALK_FORWARD, Lab


@pytest.fixture(autouse=True)
def engine_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every entry into the engine or the walk-forward runner made by a tool in these tests."""
    calls: list[str] = []

    def spy(name: str, real):  # type: ignore[no-untyped-def]
        def wrapped(*a, **k):  # type: ignore[no-untyped-def]
            calls.append(name)
            return real(*a, **k)
        return wrapped

    monkeypatch.setattr(experiment_tools, "run_backtest", spy("run_backtest", experiment_tools.run_backtest))
    monkeypatch.setattr(experiment_tools, "run_sweep", spy("run_sweep", experiment_tools.run_sweep))
    monkeypatch.setattr(experiment_tools.runner, "run_from_store",
                        spy("run_from_store", experiment_tools.runner.run_from_store))
    return calls


def _refused(lab: Lab, name: str, args: dict, fix_tool: str) -> str:
    out = lab.call(name, args)
    assert not out.ok and out.error is not None and out.error.kind == "preflight_failed", out.content
    msg = json.loads(out.content)["error"]["message"]
    assert msg.startswith("missing step '") and f"-> call {fix_tool}" in msg, msg
    return msg


def _engine_untouched(lab: Lab, runs_before: int) -> None:
    assert len(lab.ws.store.list_objects(RUN_KIND, Run)) == runs_before
    assert lab.ctx.deps.jobs.get("never") is None


def test_experiment_without_persisted_spec(lab: Lab, engine_spy: list[str]) -> None:
    before = len(lab.ws.store.list_objects(RUN_KIND, Run))
    msg = _refused(lab, "experiment_run", {"spec_id": "spec_0123456789abcdef0123", "walk_forward": WALK_FORWARD},
                   "spec_put")
    assert "persist the Spec" in msg
    _refused(lab, "backtest_run", {"spec_id": "spec_0123456789abcdef0123"}, "spec_put")
    _refused(lab, "sweep_run", {"spec_id": "spec_0123456789abcdef0123", "param_sets": [{"baseline.fast": 5}]},
             "spec_put")
    _engine_untouched(lab, before)
    assert engine_spy == []


def test_experiment_with_a_missing_module(lab: Lab, engine_spy: list[str]) -> None:
    # a persisted Spec whose agent-written module was deleted afterwards
    lab.ok("module_write", {"kind": "baselines", "name": "doomed", "source": scaffold("baselines", "doomed")})
    spec = {**SPEC, "name": "doomed", "baseline": {"name": "doomed"},
            "search_space": {"baseline.period": {"kind": "int", "low": 5, "high": 30}}}
    sid = lab.ok("spec_put", {"spec": spec, "data_version_id": lab.ids["dv"]}).spec_id
    (lab.ws.runtime_dir / "baselines" / "doomed.py").unlink()
    before = len(lab.ws.store.list_objects(RUN_KIND, Run))
    for name, args in (("experiment_run", {"spec_id": sid, "walk_forward": WALK_FORWARD, "search": SEARCH}),
                       ("backtest_run", {"spec_id": sid})):
        msg = _refused(lab, name, args, "module_list, then module_scaffold + module_write")
        assert "baselines/doomed does not exist" in msg
    _engine_untouched(lab, before)
    assert engine_spy == []


def test_spec_put_needs_qualified_data_and_existing_modules(lab: Lab) -> None:
    _refused(lab, "spec_put", {"spec": SPEC, "data_version_id": "dv_missing"}, "data_version_list")
    _refused(lab, "spec_put", {"spec": {**SPEC, "baseline": {"name": "no_such"}}, "data_version_id": lab.ids["dv"]},
             "module_list")


def test_search_space_and_holdout_checks(lab: Lab, engine_spy: list[str]) -> None:
    sid = lab.ok("spec_put", {"spec": {**SPEC, "name": "fixed", "search_space": {}},
                              "data_version_id": lab.ids["dv"]}).spec_id
    _refused(lab, "experiment_run", {"spec_id": sid, "walk_forward": WALK_FORWARD}, "spec_put (with a search_space)")
    # reaching into the sealed holdout is refused before the engine runs
    msg = _refused(lab, "backtest_run", {"spec_id": lab.ids["spec"], "end": "2030-01-01"}, "data_slice_list")
    assert "holdout" in msg
    # a data version without a declared holdout cannot host an experiment
    dv2 = lab.ok("data_synth", {"n": 2500, "seed": 99}).version.id
    sid2 = lab.ok("spec_put", {"spec": {**SPEC, "name": "other-data"}, "data_version_id": dv2}).spec_id
    _refused(lab, "experiment_run", {"spec_id": sid2, "data_version_id": dv2, "walk_forward": WALK_FORWARD},
             "data_slice_create (role=holdout, the final segment)")
    # a holdout that would seal every bar is refused, and nothing is sealed by the attempt
    out = lab.call("data_slice_create", {"data_version_id": dv2, "role": "holdout", "start": "2000-01-01"})
    assert not out.ok and "would seal all the data" in out.content
    assert all(s.role != "holdout" for s in lab.ok("data_slice_list", {"data_version_id": dv2}))
    assert engine_spy == []


def test_search_space_must_name_declared_params(lab: Lab) -> None:
    out = lab.call("spec_put", {"spec": {**SPEC, "search_space": {"baseline.speed": {"kind": "int", "low": 1,
                                                                                      "high": 3}}},
                                "data_version_id": lab.ids["dv"]})
    assert not out.ok and "no param 'speed'" in out.content
    out = lab.call("spec_put", {"spec": {**SPEC, "search_space": {"baseline.fast": {"kind": "int", "low": 0,
                                                                                     "high": 3}}},
                                "data_version_id": lab.ids["dv"]})
    assert not out.ok and "outside" in out.content
