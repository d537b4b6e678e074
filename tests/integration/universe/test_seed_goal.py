"""Must-show 2: the seed's goal "Find a robust trend-following strategy on BTC/ETH 1h, Sharpe >= 1.2, MaxDD <= -15%"
runs end to end on the shared BTC and ETH 1h data through `auraquant research` (offline autopilot, reduced
budget): a universe of both, one holdout sealed for both at once, universe walk-forward rounds with
per-instrument and portfolio results and the significance gates. A second session with a lenient goal and the
gates off drives the same loop through the holdout, scored once for every member."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auraquant.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]
SEED = "Find a robust trend-following strategy on BTC/ETH 1h, Sharpe >= 1.2, MaxDD <= -15%"
GATES_OFF = '{"min_dsr": null, "max_pbo": null, "max_spa_p": null, "min_oos_trades": null}'


def _cli(args: list[str], cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "auraquant", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_seed_goal_on_btc_eth_1h(shared_data: Path, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    assert _cli(["init", str(ws_dir), "--no-demo-data", "--json"], tmp_path).returncode == 0
    for asset in ("BTC", "ETH"):
        out = _cli(["data", "import", str(shared_data / f"binance_{asset}USDT_1h_2017-2026.parquet"), "--symbol",
                    f"{asset}/USDT", "--timeframe", "1h", "-w", str(ws_dir), "--json"], tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
    out = _cli(["research", "-w", str(ws_dir), "--goal", SEED, "--provider", "offline", "--max-iters", "2",
                "--windows", "2", "--trials", "6", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    assert res["experiments"] == 2 and res["status"] in ("BUDGET_SPENT", "NOT_SIGNIFICANT", "GOAL_MET",
                                                          "HOLDOUT_FAILED", "STAGNATED")
    uv = res["universe"]
    assert [m["symbol"] for m in uv["universe"]["members"]] == ["BTC/USDT", "ETH/USDT"]
    # one holdout, sealed for both members at the same time, before any experiment
    froms = {m["holdout_from"] for m in uv["universe"]["members"]}
    assert len(froms) == 1 and None not in froms
    # per-instrument and portfolio results side by side, correlation and the equal-weight basket
    assert set(uv["members"]) == {"BTC/USDT", "ETH/USDT"}
    assert uv["portfolio"]["trades"] == sum(m["trades"] for m in uv["members"].values())
    assert -1.0 <= uv["correlation"]["BTC/USDT"]["ETH/USDT"] <= 1.0
    assert uv["basket_buy_and_hold"]["sharpe"] is not None
    assert uv["consistency"]["members"] == 2
    # the gates were applied to every run (the verdict names the failed ones)
    sig = uv["significance"]
    assert sig["gates"].startswith("session DSR") and sig["significance"] in ("significant", "not significant")
    assert sig["dsr_n_trials"] >= 12
    if res["status"] != "GOAL_MET":
        assert uv["holdout"] is None or res["status"] == "HOLDOUT_FAILED"
    ws = Workspace.open(ws_dir)
    assert not [r for r in ws.store.list_holdout_reads() if r.reader != "score_universe_holdout"]

    # a lenient goal with the gates off: a candidate, then the holdout of both members scored once
    (ws_dir / ".aura" / "config" / "gates.json").write_text(GATES_OFF)
    out = _cli(["research", "-w", str(ws_dir), "--goal", "BTC/ETH 1h trades >= 10, sharpe >= -5 on each",
                "--provider", "offline", "--max-iters", "2", "--windows", "2", "--trials", "6", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    res2 = json.loads(out.stdout)
    assert res2["status"] in ("GOAL_MET", "HOLDOUT_FAILED"), res2["detail"]
    hold = res2["universe"]["holdout"]
    assert set(hold["members"]) == {"BTC/USDT", "ETH/USDT"} and hold["holdout_look"] >= 1
    reads = [r for r in ws.store.list_holdout_reads() if r.reader == "score_universe_holdout"]
    assert len(reads) == 2 and {r.data_version_id for r in reads} == {
        m["data_version_id"] for m in uv["universe"]["members"]}
    assert res2["holdout"]  # the goal's thresholds against the holdout, in the outcome
