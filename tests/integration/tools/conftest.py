"""A research workspace prepared once per test session through the tool surface itself: synthetic data with a
sealed holdout, a persisted Spec, an agent-written baseline, a backtest, a small walk-forward run, a Monte
Carlo result, a signed candidate and a session log. Tests call tools through the registry against it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aura.runtime.sessions import SessionStore
from aura.runtime.trace import RunTrace
from aura.tools import ToolOutcome, ToolRegistry
from auraquant.cta.tools import build_registry, research_context
from auraquant.cta.tools.deps import Ctx, ResearchLimits
from auraquant.cta.tools.sdk import scaffold
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

SPEC = {"name": "ema-trail", "baseline": {"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
        "execution": [{"name": "trailing_pct"}], "risk": [{"name": "fixed_fraction"}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 4, "high": 20},
                         "baseline.slow": {"kind": "int", "low": 30, "high": 90}}}
WALK_FORWARD = {"train_bars": 1200, "target_bars": 400, "n_windows": 2}
SEARCH = {"n_trials": 12, "batch_size": 6, "n_startup_trials": 6, "top_k": 3}
GOAL = {"trades": {"min": 0}}  # a lenient goal: these tests are about the tool surface, not about alpha
# Gates off: these tests exercise freezing mechanics on tiny runs; the gates themselves are tested in
# tests/integration/research/test_significance_gates.py.
GATES_OFF = '{"min_dsr": null, "max_pbo": null, "max_spa_p": null, "min_oos_trades": null}'


@dataclass
class Lab:
    ws: Workspace
    reg: ToolRegistry
    ctx: Ctx
    ids: dict[str, str]

    def call(self, name: str, args: dict[str, Any] | str) -> ToolOutcome:
        return asyncio.run(self.reg.call(name, args, self.ctx))

    def ok(self, name: str, args: dict[str, Any]) -> Any:
        out = self.call(name, args)
        assert out.ok, out.content
        return out.value


def _session(ws: Workspace) -> str:
    log = SessionStore(ws.sessions).create("test-session", {"model": "offline"})
    log.append_trace(RunTrace(session_id="test-session", turn=1, tool_call_id="c1", tool="data_version_list",
                              arguments="{}", ok=True, duration_ms=3.0, result_summary="[]", model="offline",
                              input_tokens=10, output_tokens=5, cost_usd=0.001, started_at="2026-01-01T00:00:00Z"))
    log.append_trace(RunTrace(session_id="test-session", turn=2, tool_call_id="c2", tool="spec_get",
                              arguments="{}", ok=False, error_kind="preflight_failed", duration_ms=1.0,
                              result_summary="missing step", model="offline", input_tokens=10, output_tokens=5,
                              cost_usd=0.001, started_at="2026-01-01T00:00:01Z"))
    log.close()
    return "test-session"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab") / "ws"
    init_workspace(root, demo_data=False)
    ws = Workspace.open(root)
    (ws.config / "gates.json").write_text(GATES_OFF)
    reg = build_registry()
    ctx = research_context(ws, session_id=_session(ws), model_id="test-model",
                           limits=ResearchLimits(max_usd=1.0, max_iters=20))
    lab = Lab(ws, reg, ctx, {})
    ids = lab.ids
    ids["dv"] = lab.ok("data_synth", {"n": 3000, "seed": 5}).version.id
    ids["ds_train"] = lab.ok("data_slice_create", {"data_version_id": ids["dv"], "role": "train",
                                                   "end": "2022-03-01"}).id
    ids["ds_hold"] = lab.ok("data_slice_create", {"data_version_id": ids["dv"], "role": "holdout",
                                                  "start": "2022-04-01"}).id
    ids["spec"] = lab.ok("spec_put", {"spec": SPEC, "data_version_id": ids["dv"]}).spec_id
    ids["spec2"] = lab.ok("spec_put", {"spec": {**SPEC, "baseline": {"name": "ema_cross", "params": {"fast": 12}}},
                                       "data_version_id": ids["dv"]}).spec_id
    lab.ok("module_write", {"kind": "baselines", "name": "agent_cross",
                            "source": scaffold("baselines", "agent_cross")})
    ids["report"] = lab.ok("backtest_run", {"spec_id": ids["spec"]}).report_id
    ids["report2"] = lab.ok("backtest_run", {"spec_id": ids["spec2"]}).report_id
    ids["run"] = lab.ok("experiment_run", {"spec_id": ids["spec"], "walk_forward": WALK_FORWARD,
                                           "search": SEARCH, "wait_s": 300}).run_id
    ids["run2"] = lab.ok("experiment_run", {"spec_id": ids["spec"], "walk_forward": WALK_FORWARD,
                                            "search": SEARCH, "seed": 1, "wait_s": 300}).run_id
    lab.ok("montecarlo_run", {"source_id": ids["run"], "n_sims": 200})
    ids["record"] = lab.ok("archive_candidate", {"run_id": ids["run"], "family": "ema-cross", "goal": GOAL}).record_id
    lab.ok("agent_state_save", {"name": "s0", "state_body": {"focus": ids["spec"]}})
    lab.ok("iter_state_update", {"iter": 0, "max_iters": 20, "goal": "demo", "next_action": "start"})
    yield lab
    ctx.deps.jobs.close()
