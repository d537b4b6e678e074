"""The universe tools through the registry (valid and invalid input), on a workspace of SYNTHETIC members."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aura.tools import ToolOutcome
from auraquant.cta.data.service import ingest_frame
from auraquant.cta.data.synthetic import generate_correlated
from auraquant.cta.experiment import ledger
from auraquant.cta.tools import build_registry, research_context
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace
from tests.support.specs import renamed_builtin

SPEC = {"name": "ema-trail", "baseline": {"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
        "execution": [{"name": "trailing_pct"}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 4, "high": 20},
                         "baseline.slow": {"kind": "int", "low": 30, "high": 90, "step": 10}}}
GATES_OFF = '{"min_dsr": null, "max_pbo": null, "max_spa_p": null, "min_oos_trades": null}'


class Lab:
    def __init__(self, tmp) -> None:
        init_workspace(tmp, demo_data=False)
        self.ws = Workspace.open(tmp)
        (self.ws.config / "gates.json").write_text(GATES_OFF)
        self.reg = build_registry()
        self.ctx = research_context(self.ws, session_id="uv-session", model_id="test-model")
        frames = generate_correlated(3, 3000, seed=9, drift_scale=3.0)
        frames["SYN02/USDT"] = frames["SYN02/USDT"].drop(index=range(1000, 1010)).reset_index(drop=True)
        self.dvs = [ingest_frame(self.ws.store, f, symbol=s, timeframe="1h", source="synthetic:test")[0].id
                    for s, f in frames.items()]
        self.hold = frames["SYN01/USDT"]["time"].iloc[2500].isoformat()

    def call(self, name: str, args: dict[str, Any]) -> ToolOutcome:
        return asyncio.run(self.reg.call(name, args, self.ctx))

    def ok(self, name: str, args: dict[str, Any]) -> Any:
        out = self.call(name, args)
        assert out.ok, out.content
        return out.value


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("uv") / "ws")


def test_create_show_and_refusals(lab: Lab) -> None:
    out = lab.ok("universe_create", {"name": "syn3", "data_version_ids": lab.dvs})
    uv = out.universe
    assert uv["id"].startswith("uv_") and out.created
    assert lab.ok("universe_create", {"name": "syn3", "data_version_ids": lab.dvs}).universe["id"] == uv["id"]
    assert uv["research_calendar"]["missing_bars"]["SYN02/USDT"] == 10
    shown = lab.ok("universe_show", {"universe_id": uv["id"]}).universe
    assert [m["symbol"] for m in shown["members"]] == ["SYN01/USDT", "SYN02/USDT", "SYN03/USDT"]
    assert any(u["id"] == uv["id"] for u in lab.ok("universe_list", {}))
    bad = lab.call("universe_create", {"name": "x", "data_version_ids": ["dv_nope"]})
    assert not bad.ok and "no data version" in str(bad.content)
    dup = lab.call("universe_create", {"name": "x", "data_version_ids": [lab.dvs[0], lab.dvs[0]]})
    assert not dup.ok and "twice" in str(dup.content)
    assert not lab.call("universe_show", {"universe_id": "uv_nope"}).ok
    assert not lab.call("universe_create", {"name": "", "data_version_ids": lab.dvs}).ok


def test_backtest_walk_forward_and_one_holdout(lab: Lab) -> None:
    uv_id = lab.ok("universe_create", {"name": "syn3", "data_version_ids": lab.dvs}).universe["id"]
    spec_id = lab.ok("spec_put", {"spec": SPEC, "data_version_id": lab.dvs[0]}).spec_id
    bt = lab.ok("universe_backtest", {"spec_id": spec_id, "universe_id": uv_id,
                                      "sizing": {"rule": "inverse_vol", "rebalance": "day", "vol_lookback": 48}})
    assert set(bt.members) == {"SYN01/USDT", "SYN02/USDT", "SYN03/USDT"}
    assert bt.portfolio["trades"] == sum(m["trades"] for m in bt.members.values())
    assert "synthetic members: not market evidence" in bt.notes
    art = next(n for n in bt.notes if n.startswith("artifacts: "))[len("artifacts: "):]
    for f in ("equity.parquet", "trades.parquet", "attribution.parquet", "summary.json"):
        assert (lab.ws.root / art / f).is_file()
    assert bt.correlation["SYN01/USDT"]["SYN01/USDT"] == pytest.approx(1.0)
    cheap = lab.ok("universe_backtest", {"spec_id": spec_id, "universe_id": uv_id,
                                         "member_costs": {"SYN02/USDT": {"commission_bps": 50.0}},
                                         "member_params": {"SYN03/USDT": {"baseline.fast": 15}}})
    # member metrics do not depend on the sizing: only the overridden members changed
    assert cheap.members["SYN01/USDT"]["sharpe"] == bt.members["SYN01/USDT"]["sharpe"]
    assert cheap.members["SYN02/USDT"]["sharpe"] != bt.members["SYN02/USDT"]["sharpe"]
    assert cheap.members["SYN03/USDT"]["sharpe"] != bt.members["SYN03/USDT"]["sharpe"]
    bad = lab.call("universe_backtest", {"spec_id": spec_id, "universe_id": uv_id,
                                         "member_params": {"NOPE/USDT": {"baseline.fast": 15}}})
    assert not bad.ok and "outside the universe" in str(bad.content)
    wf = {"n_windows": 2, "train_bars": 1200, "target_bars": 500, "n_trials": 6}
    refused = lab.call("universe_experiment_run", {"spec_id": spec_id, "universe_id": uv_id, "walk_forward": wf})
    assert not refused.ok and "missing step 'holdout'" in str(refused.content)
    sealed = lab.ok("universe_create", {"name": "syn3", "data_version_ids": lab.dvs, "holdout_start": lab.hold})
    assert all(m["holdout_from"] is not None for m in sealed.universe["members"])
    assert len({m["holdout_from"] for m in sealed.universe["members"]}) == 1  # one time for every member
    run = lab.ok("universe_experiment_run", {"spec_id": spec_id, "universe_id": uv_id, "walk_forward": wf})
    assert run.run_id.startswith("urun_") and run.total_trials == 12
    assert set(run.members) == set(bt.members) and "carriers" in run.consistency
    assert run.basket_buy_and_hold["total_return"] is not None
    # every portfolio trial counts on every member's data content
    for dv in lab.dvs:
        h = lab.ws.store.get_data_version(dv).content_hash
        assert ledger.count(lab.ws.store, h, "session", "uv-session").n_trials >= 12
    # backtests never reach the holdout
    late = lab.call("universe_backtest", {"spec_id": spec_id, "universe_id": uv_id, "end": "2030-01-01T00:00:00Z"})
    assert not late.ok and "holdout" in str(late.content)
    hs = lab.ok("universe_holdout_score", {"run_id": run.run_id})
    assert hs.look >= 1 and hs.bars > 100 and set(hs.members) == set(run.members)
    again = lab.call("universe_holdout_score", {"run_id": run.run_id})
    assert not again.ok and "already scored" in str(again.content)
    reads = [r for r in lab.ws.store.list_holdout_reads() if r.run_id == run.run_id]
    assert len(reads) == 3  # one audited read per member


def test_synth_universe_is_labelled(tmp_path) -> None:
    from auraquant.cta.data.service import synth_universe

    init_workspace(tmp_path / "w", demo_data=False)
    ws = Workspace.open(tmp_path / "w")
    dvs = synth_universe(ws.store, n_instruments=3, n=600, seed=2)
    assert [d.symbol for d in dvs] == ["SYN01/USDT", "SYN02/USDT", "SYN03/USDT"]
    assert all(d.source.startswith("synthetic:correlated(") for d in dvs)


def test_a_workspace_module_runs_through_walk_forward_and_holdout(lab: Lab) -> None:
    """A Spec on an agent-written module reaches every portfolio run of a universe walk-forward: the window
    sweeps, the trial returns behind PBO/SPA and the holdout scoring (each hands the engine the workspace's
    module directory)."""
    src = renamed_builtin("baselines", "ema_cross", "my_ema")
    lab.ok("module_write", {"kind": "baselines", "name": "my_ema", "source": src})
    spec = {**SPEC, "name": "my-ema-trail", "baseline": {"name": "my_ema", "params": {"fast": 8, "slow": 40}}}
    spec_id = lab.ok("spec_put", {"spec": spec, "data_version_id": lab.dvs[0]}).spec_id
    uv_id = lab.ok("universe_create", {"name": "syn3", "data_version_ids": lab.dvs,
                                       "holdout_start": lab.hold}).universe["id"]
    wf = {"n_windows": 2, "train_bars": 1200, "target_bars": 500, "n_trials": 6}
    run = lab.ok("universe_experiment_run", {"spec_id": spec_id, "universe_id": uv_id, "walk_forward": wf})
    assert run.total_trials == 12 and run.significance
    hs = lab.ok("universe_holdout_score", {"run_id": run.run_id})
    assert hs.bars > 100 and set(hs.members) == set(run.members)
