"""Must-show 3: module_write refuses escapes and look-ahead (nothing is written); a clean agent-written
baseline passes, and a Spec using it is persisted and backtested by the engine."""

from __future__ import annotations

import pytest

from auraquant.cta.tools.sdk import scaffold

from .conftest import SEARCH, WALK_FORWARD, Lab

CLEAN = scaffold("baselines", "clean_cross")
PEEK = CLEAN.replace("clean_cross", "peeker").replace("CleanCross", "Peeker").replace(
    "trend = ema(bars.close, int(params[\"period\"]))",
    "trend = ema(np.concatenate([bars.close[1:], bars.close[-1:]]), int(params[\"period\"]))")

REFUSED = {
    "import_os": ("baselines", "uses_os", "import os\n" + CLEAN.replace("clean_cross", "uses_os")),
    "open": ("baselines", "opens", CLEAN.replace("clean_cross", "opens").replace(
        "out = np.zeros", "data = open('/etc/passwd').read()\n        out = np.zeros")),
    "dunder_import": ("baselines", "imp", CLEAN.replace("clean_cross", "imp") + "\nx = __import__('os')\n"),
    "eval": ("baselines", "evals", CLEAN.replace("clean_cross", "evals") + "\nx = eval('1')\n"),
    "mro_trick": ("baselines", "mro", CLEAN.replace("clean_cross", "mro") + "\nx = ().__class__.__mro__\n"),
    "path_traversal": ("baselines", "../../evil", CLEAN),
    "absolute_path": ("baselines", "/tmp/evil", CLEAN),
    "kind_traversal": ("../x", "evil", CLEAN),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_and_nothing_written(lab: Lab, case: str) -> None:
    kind, name, source = REFUSED[case]
    before = sorted(p.relative_to(lab.ws.root) for p in lab.ws.root.rglob("*.py"))
    out = lab.call("module_write", {"kind": kind, "name": name, "source": source})
    assert not out.ok and out.error is not None
    assert out.error.kind in {"tool_failed", "invalid_arguments"}
    assert sorted(p.relative_to(lab.ws.root) for p in lab.ws.root.rglob("*.py")) == before


def test_future_peeking_module_is_refused_by_the_lookahead_check(lab: Lab) -> None:
    verdict = lab.ok("module_validate", {"kind": "baselines", "name": "peeker", "source": PEEK})
    assert not verdict.ok and verdict.stage == "lookahead"
    assert "baselines/peeker: LOOK-AHEAD" in verdict.violations[0].message
    out = lab.call("module_write", {"kind": "baselines", "name": "peeker", "source": PEEK})
    assert not out.ok and "stage lookahead" in out.content
    assert not (lab.ws.runtime_dir / "baselines" / "peeker.py").exists()


def test_clean_agent_baseline_is_usable_in_a_spec(lab: Lab) -> None:
    res = lab.ok("module_write", {"kind": "baselines", "name": "clean_cross", "source": CLEAN})
    assert res.ok and res.path == "cta_runtime/baselines/clean_cross.py"
    assert (lab.ws.runtime_dir / "baselines" / "clean_cross.py").read_text() == CLEAN
    listed = {(m.kind, m.name): m.origin for m in lab.ok("module_list", {})}
    assert listed[("baselines", "clean_cross")] == "workspace"
    assert listed[("baselines", "ema_cross")] == "builtin"
    spec = {"name": "agent", "baseline": {"name": "clean_cross", "params": {"period": 30}},
            "execution": [{"name": "trailing_pct"}], "risk": [{"name": "fixed_fraction"}]}
    sid = lab.ok("spec_put", {"spec": spec, "data_version_id": lab.ids["dv"]}).spec_id
    assert lab.ok("lookahead_check", {"spec_id": sid}).ok
    bt = lab.ok("backtest_run", {"spec_id": sid})
    assert bt.metrics["trades"] > 0
    again = lab.ok("backtest_run", {"spec_id": sid})
    assert again.report_id == bt.report_id  # deterministic: same Spec and bars give the same stored Report
    # overwriting needs an explicit flag; built-in names can never be replaced
    assert not lab.call("module_write", {"kind": "baselines", "name": "clean_cross", "source": CLEAN}).ok
    out = lab.call("module_write", {"kind": "baselines", "name": "ema_cross",
                                    "source": scaffold("baselines", "ema_cross")})
    assert not out.ok and "built-in" in out.content


def test_agent_baseline_runs_in_a_walk_forward_experiment(lab: Lab) -> None:
    """Workspace modules reach every engine call of the runner (search, selection, target, robustness)."""
    if not (lab.ws.runtime_dir / "baselines" / "clean_cross.py").exists():
        lab.ok("module_write", {"kind": "baselines", "name": "clean_cross", "source": CLEAN})
    spec = {"name": "agent-wf", "baseline": {"name": "clean_cross", "params": {"period": 30}},
            "execution": [{"name": "trailing_pct"}], "risk": [{"name": "fixed_fraction"}],
            "search_space": {"baseline.period": {"kind": "int", "low": 10, "high": 60}}}
    sid = lab.ok("spec_put", {"spec": spec, "data_version_id": lab.ids["dv"]}).spec_id
    started = lab.ok("experiment_run", {"spec_id": sid, "walk_forward": WALK_FORWARD, "search": SEARCH})
    done = lab.ok("experiment_wait", {"run_id": started.run_id, "timeout_s": 300})
    assert done.state == "finished" and done.windows_complete == done.windows == 2, done
    shown = lab.ok("evaluation_show", {"evaluation_id": started.run_id})
    assert shown.kind == "run" and shown.spec_id == sid and "baseline.period" in shown.model_dump_json()


def test_scaffolds_of_every_kind_validate(lab: Lab) -> None:
    for kind in ("baselines", "filters", "executions", "risks"):
        s = lab.ok("module_scaffold", {"kind": kind, "name": f"tpl_{kind}"})
        verdict = lab.ok("module_validate", {"kind": kind, "name": f"tpl_{kind}", "source": s.template})
        assert verdict.ok, (kind, verdict.violations)
        assert "Code rules" in s.notes
