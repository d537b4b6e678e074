"""`auraquant backtest --universe` and `auraquant experiment run --universe` (JSON out, one-line errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from auraquant.cta.data.service import ingest_frame
from auraquant.cta.data.synthetic import generate_correlated
from auraquant.cta.universe import service
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]
SPEC = {"baseline": {"name": "ema_cross"}, "execution": {"name": "trailing_pct"},
        "search_space": {"baseline.fast": {"kind": "int", "low": 5, "high": 30},
                         "baseline.slow": {"kind": "int", "low": 40, "high": 120, "step": 20}}}


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "auraquant", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_backtest_and_experiment_on_a_universe(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", demo_data=False)
    ws = Workspace.open(tmp_path / "ws")
    frames = generate_correlated(2, 2500, seed=4, drift_scale=3.0)
    dvs = [ingest_frame(ws.store, f, symbol=s, timeframe="1h", source="synthetic:test")[0].id for s, f in frames.items()]
    uv, _ = service.create(ws.store, "pair", dvs)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    w = ["-w", str(tmp_path / "ws")]
    out = _cli(["backtest", "--universe", uv.id, *w, "--spec", str(tmp_path / "spec.json"), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    body = json.loads(out.stdout)
    assert set(body["members"]) == set(frames) and body["portfolio"]["trades"] == sum(
        m["trades"] for m in body["members"].values())
    run = _cli(["experiment", "run", "--universe", uv.id, "--spec", str(tmp_path / "spec.json"), "--train", "900",
                "--target", "400", "--windows", "2", "--trials", "4", *w, "--json"], tmp_path)
    assert run.returncode != 0 and "no holdout" in run.stdout + run.stderr and "Traceback" not in run.stderr
    service.declare_holdout(ws.store, uv, frames["SYN01/USDT"]["time"].iloc[2100], declared_by="test")
    run = _cli(["experiment", "run", "--universe", uv.id, "--spec", str(tmp_path / "spec.json"), "--train", "900",
                "--target", "400", "--windows", "2", "--trials", "4", *w, "--json"], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout)
    assert res["run_id"].startswith("urun_") and set(res["members"]) == set(frames)
    assert res["significance"]["gates"] and len(res["windows"]) == 2
    bad = _cli(["backtest", "--universe", "uv_nope", *w, "--baseline", "ema_cross"], tmp_path)
    assert bad.returncode != 0 and "no universe" in bad.stderr and "Traceback" not in bad.stderr
