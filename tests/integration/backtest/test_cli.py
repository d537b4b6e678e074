"""`auraquant backtest` end to end through typer's runner, on a CSV and a Spec file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from auraquant.cta.backtest.cli import register
from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars

root = typer.Typer()
register(root)


@root.command()
def _noop() -> None:  # a second command keeps `backtest` a sub-command, as in auraquant/cli.py
    pass


def test_flags_mode_json_and_artifacts(tmp_path: Path) -> None:
    frame = random_bars(np.random.default_rng(4), 600)
    csv = tmp_path / "bars.csv"
    frame.to_csv(csv, index=False)
    args = ["backtest", "--data", str(csv), "--baseline", "ema_cross", "--execution", "fixed_sltp",
            "--param", "baseline.fast=4", "--param", "baseline.slow=15", "--param", "execution.fixed_sltp.sl_pct=0.01",
            "--commission-bps", "5", "--out", str(tmp_path / "arts"), "--json"]
    res = CliRunner().invoke(root, args)
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 4, "slow": 15}},
                execution=[{"name": "fixed_sltp", "params": {"sl_pct": 0.01}}],
                engine={"commission_bps": 5, "slippage_bps": 2})  # flags mode: 2 bps slippage unless given
    expected = run_backtest(frame, spec).report
    assert body["spec_id"] == spec.id and body["sharpe"] == expected.sharpe and body["trades"] == expected.trades
    out = Path(body["artifacts"])
    assert {p.name for p in out.iterdir()} >= {"report.json", "trades.parquet", "equity.parquet", "spec.json",
                                               "manifest.json"}
    assert json.loads((out / "report.json").read_text())["id"] == expected.id


def test_spec_file_mode_rich_output_and_errors(tmp_path: Path) -> None:
    frame = random_bars(np.random.default_rng(5), 400)
    data = tmp_path / "bars.parquet"
    frame.to_parquet(data)
    spec = Spec(baseline={"name": "donchian_breakout", "params": {"period": 10}},
                execution=[{"name": "trailing_pct", "params": {"pct": 0.02}}], engine={"fill": "same_close"})
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    res = CliRunner().invoke(root, ["backtest", str(spec_file), "--data", str(data), "--no-artifacts"])
    assert res.exit_code == 0, res.output
    assert "sharpe" in res.output and "OPTIMISTIC" in res.output
    bad = CliRunner().invoke(root, ["backtest", "--data", str(data), "--baseline", "nope"])
    assert bad.exit_code == 2 and "no module" in bad.output


def test_data_version_from_a_workspace(workspace, tmp_path: Path) -> None:
    from auraquant.cta.data.service import synth

    dv, _ = synth(workspace.store, n=800, seed=3)
    args = ["backtest", "--data-version", dv.id, "--workspace", str(workspace.root), "--baseline", "ema_cross",
            "--param", "baseline.fast=5", "--param", "baseline.slow=20", "--json"]
    res = CliRunner().invoke(root, args)
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    expected = run_backtest(workspace.store.load_bars(dv.id),
                            Spec(baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 20}},
                                 engine={"commission_bps": 5, "slippage_bps": 2})).report  # flags-mode costs
    assert body["id"] == expected.id and body["bars"] == 800
    # artifacts land in the workspace; the workspace's copies of the built-ins resolve to the built-ins
    assert Path(body["artifacts"]).is_relative_to(workspace.artifacts)


def test_output_carries_buy_and_hold_of_the_same_bars(tmp_path: Path) -> None:
    from auraquant.cta.backtest.metrics import buy_and_hold

    frame = random_bars(np.random.default_rng(6), 500)
    data = tmp_path / "bars.parquet"
    frame.to_parquet(data)
    args = ["backtest", "--data", str(data), "--baseline", "ema_cross", "--param", "baseline.fast=4",
            "--param", "baseline.slow=15", "--commission-bps", "4", "--slippage-bps", "1", "--no-artifacts"]
    res = CliRunner().invoke(root, [*args, "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    bh = buy_and_hold(frame["time"], frame["open"], frame["close"], commission_bps=4, slippage_bps=1)
    assert body["buy_and_hold"]["total_return"] == bh.total_return and body["buy_and_hold"]["sharpe"] == bh.sharpe
    assert body["buy_and_hold"]["excess_return"] == body["total_return"] - bh.total_return
    text = CliRunner().invoke(root, args)
    assert text.exit_code == 0, text.output
    assert "bh_total_return" in text.output and "excess_sharpe" in text.output
    assert f"{bh.total_return:.2%}" in text.output


def test_flags_mode_costs_are_realistic_and_zero_costs_are_warned(tmp_path: Path) -> None:
    from auraquant.cta.backtest.cli import FLAGS_MODE_COSTS

    frame = random_bars(np.random.default_rng(7), 300)
    data = tmp_path / "bars.parquet"
    frame.to_parquet(data)
    base = ["backtest", "--data", str(data), "--baseline", "ema_cross", "--no-artifacts", "--json"]
    res = CliRunner().invoke(root, base)
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert FLAGS_MODE_COSTS == {"commission_bps": 5.0, "slippage_bps": 2.0}
    assert (body["commission_bps"], body["slippage_bps"]) == (5.0, 2.0) and "zero trading costs" not in res.stderr
    free = CliRunner().invoke(root, [*base, "--commission-bps", "0", "--slippage-bps", "0"])
    assert free.exit_code == 0 and json.loads(free.stdout)["commission_bps"] == 0.0  # stdout stays one document
    assert free.stderr.startswith("warning: zero trading costs")
    spec_file = tmp_path / "spec.json"  # a Spec file keeps its own (here default, zero) costs: warned too
    spec_file.write_text(Spec(baseline={"name": "ema_cross"}).model_dump_json())
    from_file = CliRunner().invoke(root, ["backtest", "--spec", str(spec_file), "--data", str(data),
                                          "--no-artifacts", "--json"])
    assert from_file.exit_code == 0 and json.loads(from_file.stdout)["commission_bps"] == 0.0
    assert "warning: zero trading costs" in from_file.stderr


def test_start_and_end_apply_to_files_slices_and_versions(workspace, tmp_path: Path) -> None:
    from auraquant.cta.data.service import make_slice, synth

    dv, _ = synth(workspace.store, n=600, seed=8)
    bars = workspace.store.load_bars(dv.id)
    data = tmp_path / "bars.parquet"
    bars.to_parquet(data)
    ds = make_slice(workspace.store, dv.id, start=None, end=None, role="full")
    rng = ["--start", "2022-01-05", "--end", "2022-01-10T12:00"]
    common = ["--baseline", "ema_cross", "--no-artifacts", "--json", *rng]
    by_file = CliRunner().invoke(root, ["backtest", "--data", str(data), *common])
    by_version = CliRunner().invoke(root, ["backtest", "--data-version", dv.id, "-w", str(workspace.root), *common])
    by_slice = CliRunner().invoke(root, ["backtest", "--slice", ds.id, "-w", str(workspace.root), *common])
    reports = [json.loads(r.stdout) for r in (by_file, by_version, by_slice)]
    expected = ((bars["time"] >= "2022-01-05") & (bars["time"] < "2022-01-10T12:00")).sum()
    assert {r["bars"] for r in reports} == {int(expected)}
    assert reports[0]["sharpe"] == reports[1]["sharpe"] == reports[2]["sharpe"]
    bad = CliRunner().invoke(root, ["backtest", "--data", str(data), "--baseline", "ema_cross", "--end", "soon"])
    assert bad.exit_code != 0 and "--end 'soon' is not a date" in bad.output
