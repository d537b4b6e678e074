"""`experiment run | status | show | compare | resume | list` through typer's runner, with --json."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from auraquant.cta.experiment.cli import app
from tests.integration.experiment.wf_fixtures import ema_atr_spec

ARGS = ["--train", "1500", "--validation", "400", "--target", "500", "--embargo", "10", "--windows", "3",
        "--trials", "10", "--batch", "10", "--top-k", "3", "--holdout-bars", "800", "--executor", "threads:1"]


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_run_show_compare(synth_ws, tmp_path) -> None:
    ws, dv = synth_ws
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(ema_atr_spec().model_dump_json())
    cli = CliRunner()
    base = ["--data", dv, "--spec", str(spec_file), "-w", str(ws.root), *ARGS]
    a = _json(cli.invoke(app, ["run", *base, "--seed", "1", "--json"]))
    b = _json(cli.invoke(app, ["run", *base, "--seed", "2", "--json", "--no-robustness"]))
    assert a["executed_windows"] == 3 and len(a["windows"]) == 3 and "pbo" in a["robustness"]
    assert b["robustness"] == {}

    again = _json(cli.invoke(app, ["run", *base, "--seed", "1", "--json"]))
    assert again["run_id"] == a["run_id"] and again["executed_windows"] == 0 and again["oos"] == a["oos"]

    st = _json(cli.invoke(app, ["status", a["run_id"], "-w", str(ws.root), "--json"]))
    assert st["state"] == "finished" and st["windows_complete"] == 3

    shown = _json(cli.invoke(app, ["show", a["run_id"], "-w", str(ws.root), "--json"]))
    assert shown["oos"] == a["oos"]

    cmp = _json(cli.invoke(app, ["compare", a["run_id"], b["run_id"], "-w", str(ws.root), "--json"]))
    assert cmp["config"]["seed"] == {"a": 1, "b": 2}
    sharpe = next(m for m in cmp["metrics"] if m["metric"] == "sharpe")
    if sharpe["a"] is not None and sharpe["b"] is not None:
        assert sharpe["delta"] == sharpe["b"] - sharpe["a"]
    changed = [w["window"] for w in cmp["windows"]
               if a["windows"][w["window"]]["params"] != b["windows"][w["window"]]["params"]]
    assert cmp["windows_changed"] == changed
    same = _json(cli.invoke(app, ["compare", a["run_id"], a["run_id"], "-w", str(ws.root), "--json"]))
    assert same["windows_changed"] == [] and all(m["delta"] in (0.0, None) for m in same["metrics"])

    human = cli.invoke(app, ["compare", a["run_id"], b["run_id"], "-w", str(ws.root)])
    assert human.exit_code == 0 and "B - A" in human.output and "changed" in human.output
    shown_text = cli.invoke(app, ["show", a["run_id"], "-w", str(ws.root)])
    assert shown_text.exit_code == 0
    # Buy and hold beside the OOS result: both runs stitch the same target spans, so it is one number;
    # compare lists it flat (a delta of 0) and the excess delta equals the return delta.
    bh = a["oos"]["buy_and_hold"]
    assert bh["segments"] == 3 and bh == {**b["oos"]["buy_and_hold"], "excess_return": bh["excess_return"],
                                          "excess_sharpe": bh["excess_sharpe"],
                                          "excess_max_drawdown": bh["excess_max_drawdown"]}
    assert bh["excess_return"] == a["oos"]["total_return"] - bh["total_return"]
    rows = {m["metric"]: m for m in cmp["metrics"]}
    assert rows["bh_total_return"]["delta"] == 0.0 and "buy_and_hold" not in rows
    assert rows["excess_return"]["delta"] == pytest.approx(rows["total_return"]["delta"], abs=1e-12)
    assert f"{bh['total_return']:+.2%}" in shown_text.output and "buy and hold Sharpe" in shown_text.output
    assert all("bh_total_return" in w["target"] for w in a["windows"])
    listed = _json(cli.invoke(app, ["list", "-w", str(ws.root), "--json"]))
    assert {r["run_id"] for r in listed} == {a["run_id"], b["run_id"]}


def test_errors_are_clean(synth_ws) -> None:
    ws, _ = synth_ws
    r = CliRunner().invoke(app, ["show", "run_nope", "-w", str(ws.root), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["kind"] == "NotFound"
