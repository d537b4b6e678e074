"""`auraquant report` end to end on real engine output: a walk-forward run, an archive record citing it, and
saved backtest artifacts. Every number on the page must be the stored one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from auraquant.cta.backtest.artifacts import save_artifacts
from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.data.service import synth
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.montecarlo import trade_order_mc
from auraquant.cta.experiment.runner import run_experiment, run_from_store
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.record import ArchiveRecord, GoalThresholds
from auraquant.cta.report.adapters import equity_returns, from_backtest_result
from auraquant.cta.report.cli import report
from auraquant.cta.report.formatting import fmt_value
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.tools.governance import run_artifacts
from auraquant.workspace import Workspace
from tests.integration.report.chromium import find_chromium, render

SPEC = Spec.model_validate({
    "name": "ema_chandelier", "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
    "execution": [{"name": "chandelier", "params": {"period": 22, "mult": 3.0}}],
    "search_space": {"baseline.fast": {"kind": "int", "low": 3, "high": 30},
                     "baseline.slow": {"kind": "int", "low": 20, "high": 120}},
    "engine": {"commission_bps": 5, "slippage_bps": 2}})
WF = WalkForwardConfig(train_bars=800, validation_bars=200, target_bars=400, n_windows=4)
SEARCH = SearchConfig(n_trials=8, batch_size=8, n_startup_trials=4, top_k=2)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report)  # how auraquant/cli.py mounts it
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps `report` a named subcommand
    return app


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory):
    from auraquant.cta.workspace_init import init_workspace

    root = tmp_path_factory.mktemp("report_ws") / "ws"
    init_workspace(root, demo_data=False)
    ws = Workspace.open(root)
    dv, _ = synth(ws.store, n=3000, seed=21)
    run, bars = run_from_store(ws, SPEC, dv.id, WF, SEARCH, seed=3, holdout_bars=200)
    out = run_experiment(ws, run, bars, executor="threads:1")
    return ws, dv, run, out.result


def _invoke(*args: str) -> dict:
    res = CliRunner().invoke(_cli(), ["report", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _metric(html: str, name: str) -> str:
    m = re.search(rf'<span class="name">{re.escape(name)}</span><span[^>]*>([^<]*)</span>', html)
    assert m, f"metric {name!r} not on the page"
    return m.group(1)


def test_report_of_a_walk_forward_run(finished_run, tmp_path: Path) -> None:
    ws, dv, run, result = finished_run
    out = _invoke(run.id, "--workspace", str(ws.root))
    expected_dir = ws.artifacts / "reports" / run.id
    assert out == {"kind": "run", "id": run.id, "html": str(expected_dir / "tearsheet.html"),
                   "png": str(expected_dir / "equity.png")}
    html = Path(out["html"]).read_text(encoding="utf-8")
    for cited in (run.id, SPEC.id, dv.id, "SYNTHETIC data"):
        assert cited in html
    oos = result.oos
    assert _metric(html, "Sharpe") == fmt_value(oos.sharpe, "ratio")
    assert _metric(html, "total return") == fmt_value(oos.total_return, "return")
    assert _metric(html, "max drawdown") == fmt_value(oos.max_drawdown, "return")
    assert _metric(html, "DSR") == fmt_value(oos.dsr, "prob")
    assert _metric(html, "trials (all windows)") == f"{result.total_trials:,}"
    # The drawn curve is the stitched OOS equity, with one band per target window on each panel.
    figs = json.loads(re.search(r"var FIGURES = (\{.*?\});\nvar CONFIG", html, re.S).group(1))
    eq = pd.read_parquet(Path(result.artifacts) / "oos_equity.parquet")
    assert figs["fig-equity"]["data"][0]["y"] == eq["equity"].tolist()
    bands = [s for s in figs["fig-equity"]["layout"]["shapes"] if s["type"] == "rect" and s["yref"] == "y domain"]
    assert len(bands) == len(result.windows) == 4
    trades = pd.read_parquet(Path(result.artifacts) / "oos_trades.parquet")
    assert html.count("<tr data-trade=") == len(trades) == oos.trades
    # Monte Carlo: the run's seed over the OOS trades' compounding returns.
    mc = trade_order_mc(trades["equity_return"].to_numpy(), n_sims=1000, seed=run.seed, mode="bootstrap")
    median = figs["fig-mc"]["data"][-2]
    assert median["name"] == "median"
    assert median["y"][-1] == pytest.approx(float(np.median(1 + mc.final_return)), rel=1e-12)
    assert Path(out["png"]).stat().st_size > 10_000
    # Deterministic end to end: the same run gives byte-identical files.
    again = _invoke(run.id, "--workspace", str(ws.root), "--out", str(tmp_path / "again"))
    assert Path(again["html"]).read_bytes() == Path(out["html"]).read_bytes()
    assert Path(again["png"]).read_bytes() == Path(out["png"]).read_bytes()


def test_report_of_an_archive_record(finished_run) -> None:
    ws, dv, run, result = finished_run
    record = ArchiveRecord(spec_id=SPEC.id, spec_hash=SPEC.id, data_version_id=dv.id, data_hash=dv.content_hash,
                           run_id=run.id, family="ema_cross", params=result.windows[-1].params,
                           metrics={"sharpe": result.oos.sharpe, "max_drawdown": result.oos.max_drawdown},
                           trial_count=result.total_trials, model_id="offline-autopilot",
                           artifacts=run_artifacts(ws, run.id, result.artifacts, dv.id),
                           created_at=datetime(2026, 1, 1, tzinfo=UTC))
    rec = Archive(ws.store, ws.aura).submit_candidate(record, GoalThresholds(thresholds={}),
                                                      Actor.agent("offline-autopilot"))
    out = _invoke(rec.id, "--workspace", str(ws.root))
    assert out["kind"] == "archive_record" and out["html"].endswith(f"reports/{rec.id}/tearsheet.html")
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert rec.id in html and run.id in html and "archive record in state &#x27;candidate&#x27;" in html
    assert _metric(html, "Sharpe") == fmt_value(result.oos.sharpe, "ratio")


def test_report_of_saved_backtest_artifacts(finished_run, tmp_path: Path) -> None:
    ws, dv, _, _ = finished_run
    res = run_backtest(ws.store.load_bars(dv.id), SPEC)
    save_artifacts(res, tmp_path / "bt")
    out = _invoke(str(tmp_path / "bt"), "--workspace", str(ws.root), "--out", str(tmp_path / "rep"))
    assert out["kind"] == "backtest_dir" and out["html"] == str(tmp_path / "rep" / "tearsheet.html")
    html = Path(out["html"]).read_text(encoding="utf-8")
    rep = res.report
    assert rep.id in html
    for field, name, unit in (("sharpe", "Sharpe", "ratio"), ("total_return", "total return", "return"),
                              ("profit_factor", "profit factor", "ratio"), ("exposure", "exposure", "pct"),
                              ("trades", "trades", "count")):
        assert _metric(html, name) == fmt_value(getattr(rep, field), unit), field
    assert "commission 5 bps + slippage 2 bps per side" in html and "stop_first" in html
    # Same tearsheet from the in-memory result as from the saved artifacts.
    direct = from_backtest_result(res)
    assert direct.metrics == from_backtest_result(res).metrics
    by_key = {m.key: m.value for m in direct.metrics}
    assert [by_key[k] for k in ("total_return", "ann_return", "sharpe", "max_drawdown")] == [
        rep.total_return, rep.ann_return, rep.sharpe, rep.max_drawdown]
    r = equity_returns(res.trades, res.equity, rep.initial_capital)
    mc = trade_order_mc(r, n_sims=1000, seed=0, mode="bootstrap")
    assert direct.monte_carlo.quantiles[0.5][-1] == pytest.approx(float(np.median(1 + mc.final_return)), rel=1e-12)


def test_report_of_a_stored_backtest_and_of_its_report_id(finished_run) -> None:
    """What the `backtest_run` tool stores (a BacktestRecord + the Report + saved artifacts) is renderable by
    either id."""
    from auraquant.cta.tools.experiment import BacktestRecord

    ws, dv, _, _ = finished_run
    bars = ws.store.load_bars(dv.id)
    res = run_backtest(bars, SPEC)
    report_id = ws.store.put_object("report", res.report)
    out_dir = ws.artifacts / "backtests" / report_id
    manifest = save_artifacts(res, out_dir)
    rec = BacktestRecord(spec_id=SPEC.id, data_version_id=dv.id, first_bar=bars["time"].iloc[0].to_pydatetime(),
                         last_bar=bars["time"].iloc[-1].to_pydatetime(), report_id=report_id,
                         artifacts=str(out_dir.relative_to(ws.root)), manifest=manifest)
    ws.store.put_object("backtest", rec)
    by_bt = _invoke(rec.id, "--workspace", str(ws.root))
    assert by_bt["kind"] == "backtest" and by_bt["html"].endswith(f"reports/{rec.id}/tearsheet.html")
    html = Path(by_bt["html"]).read_text(encoding="utf-8")
    assert rec.id in html and report_id in html and dv.id in html and "SYNTHETIC data" in html
    assert _metric(html, "Sharpe") == fmt_value(res.report.sharpe, "ratio")
    by_report = _invoke(report_id, "--workspace", str(ws.root))
    assert by_report["kind"] == "backtest"
    assert _metric(Path(by_report["html"]).read_text(encoding="utf-8"), "Sharpe") == _metric(html, "Sharpe")


def test_unknown_id_is_a_clean_error(finished_run) -> None:
    ws = finished_run[0]
    res = CliRunner().invoke(_cli(), ["report", "run_does_not_exist", "--workspace", str(ws.root), "--json"])
    assert res.exit_code == 1
    err = json.loads(res.output)
    assert err["kind"] == "ReportSourceError" and "neither a run" in err["error"]


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (scripts/system-deps.sh)")
def test_run_tearsheet_renders_in_chromium(finished_run, tmp_path: Path) -> None:
    ws, _, run, _ = finished_run
    out = _invoke(run.id, "--workspace", str(ws.root), "--out", str(tmp_path / "rep"))
    dom = render(find_chromium(), Path(out["html"]).as_uri(), tmp_path / "profile")
    assert re.search(r'<html[^>]*data-render="ready"', dom), dom[:400]


def _figures(html: str) -> dict:
    return json.loads(re.search(r"var FIGURES = (\{.*?\});\nvar CONFIG", html, re.S).group(1))


def test_run_tearsheet_shows_buy_and_hold_beside_the_strategy(finished_run, tmp_path: Path) -> None:
    ws, _, run, result = finished_run
    out = _invoke(run.id, "--workspace", str(ws.root), "--out", str(tmp_path / "bh"))
    html = Path(out["html"]).read_text(encoding="utf-8")
    bh = result.oos.buy_and_hold
    assert bh is not None and bh.segments == len(result.windows)
    # The equity line of buy and hold over the same stitched target span, on the same marks.
    eq = pd.read_parquet(Path(result.artifacts) / "oos_equity.parquet")
    line = [t for t in _figures(html)["fig-equity"]["data"] if t.get("name") == "buy and hold"]
    assert len(line) == 1 and line[0]["y"] == eq["buy_and_hold"].tolist() and line[0]["line"]["dash"] == "dash"
    assert line[0]["y"][-1] / run.spec.engine.initial_capital - 1 == pytest.approx(bh.total_return, rel=1e-12)
    # The metrics rows: buy and hold's numbers and the excess, as stored.
    assert _metric(html, "buy and hold return") == fmt_value(bh.total_return, "return")
    assert _metric(html, "buy and hold Sharpe") == fmt_value(bh.sharpe, "ratio")
    assert _metric(html, "buy and hold max drawdown") == fmt_value(bh.max_drawdown, "return")
    assert _metric(html, "excess return vs buy and hold") == fmt_value(bh.excess_return, "return")
    assert _metric(html, "excess Sharpe vs buy and hold") == fmt_value(bh.excess_sharpe, "ratio")
    assert "Dashed: buy and hold of the same instrument over the same span." in html


def test_backtest_tearsheet_shows_buy_and_hold(finished_run, tmp_path: Path) -> None:
    ws, dv, _, _ = finished_run
    res = run_backtest(ws.store.load_bars(dv.id), SPEC)
    save_artifacts(res, tmp_path / "bt")
    out = _invoke(str(tmp_path / "bt"), "--workspace", str(ws.root), "--out", str(tmp_path / "rep"))
    html = Path(out["html"]).read_text(encoding="utf-8")
    line = [t for t in _figures(html)["fig-equity"]["data"] if t.get("name") == "buy and hold"]
    assert line and line[0]["y"] == pd.read_parquet(tmp_path / "bt" / "equity.parquet")["buy_and_hold"].tolist()
    bh = res.report.buy_and_hold
    assert bh is not None and _metric(html, "excess return vs buy and hold") == fmt_value(bh.excess_return, "return")
    # Saved reports made before buy and hold existed still render (no column, no line, no rows).
    eq = pd.read_parquet(tmp_path / "bt" / "equity.parquet").drop(columns="buy_and_hold")
    eq.to_parquet(tmp_path / "bt" / "equity.parquet", index=False)
    body = json.loads((tmp_path / "bt" / "report.json").read_text())
    body.pop("buy_and_hold")
    (tmp_path / "bt" / "report.json").write_text(json.dumps(body))
    old = _invoke(str(tmp_path / "bt"), "--workspace", str(ws.root), "--out", str(tmp_path / "old"))
    old_html = Path(old["html"]).read_text(encoding="utf-8")
    assert not [t for t in _figures(old_html)["fig-equity"]["data"] if t.get("name") == "buy and hold"]
    assert _metric(old_html, "excess return vs buy and hold") == fmt_value(None, "return")


def test_price_chart_indicators_are_what_each_window_traded_on(finished_run) -> None:
    """Each window's EMA lines are the EMAs of its own target bars with the parameters it chose (the engine
    backtests a target segment on its own); every trade gets MAE <= 0 <= MFE from the stored bars."""
    from auraquant.cta.report.cli import _run_data
    from auraquant.cta.strategy.indicators import ema

    ws, _, run, result = finished_run
    data = _run_data(ws, run.id)
    assert data is not None and data.price is not None and data.holdout is not None
    assert data.holdout.start == run.data.holdout_start and not data.holdout.scored
    pc = data.price
    times = pd.DatetimeIndex(pc.times)
    assert times[-1] < pd.Timestamp(run.data.holdout_start)  # never a holdout bar
    lines = {o.name: np.array([np.nan if v is None else v for v in o.values]) for o in pc.overlays}
    for w in result.windows:
        seg = np.asarray((times >= w.target_span[0]) & (times <= w.target_span[1]))
        close = np.asarray(pc.close)[seg]
        np.testing.assert_array_equal(lines["EMA fast"][seg], ema(close, int(w.params["baseline.fast"])))
        np.testing.assert_array_equal(lines["EMA slow"][seg], ema(close, int(w.params["baseline.slow"])))
    assert data.trades and all(t.mae is not None and t.mfe is not None and t.mae <= 0 <= t.mfe for t in data.trades)
    assert [w.params for w in data.oos_windows] == [w.params for w in result.windows]
