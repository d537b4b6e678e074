"""`auraquant report urun_…`: the tearsheet of a universe walk-forward run, drawn through the real CLI from the
stored result alone. Each member beside the portfolio, the consistency, the correlation of member returns and
the portfolio against the equal-weight basket's buy and hold must show the stored numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from auraquant.cta.backtest.portfolio import Sizing, run_portfolio_backtest, save_portfolio_artifacts
from auraquant.cta.data import access
from auraquant.cta.data.service import ingest_frame
from auraquant.cta.data.synthetic import generate_correlated
from auraquant.cta.experiment.universe_walkforward import (
    RESULT_KIND,
    UniverseRunResult,
    UniverseWalkForward,
    run_universe_walkforward,
)
from auraquant.cta.report.cli import report
from auraquant.cta.report.formatting import fmt_value
from auraquant.cta.report.page import render_html
from auraquant.cta.report.universe import BASKET_LABEL, from_universe_run
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.universe import service
from auraquant.cta.universe.align import align
from auraquant.workspace import Workspace
from tests.integration.report.chromium import find_chromium, render
from tests.integration.report.dom import Element, parse

SPEC = Spec.model_validate({
    "name": "ema_trail", "baseline": {"name": "ema_cross"}, "execution": {"name": "trailing_pct"},
    "search_space": {"baseline.fast": {"kind": "int", "low": 5, "high": 30},
                     "baseline.slow": {"kind": "int", "low": 40, "high": 120, "step": 20}}})
COLS = (("sharpe", "ratio"), ("total_return", "return"), ("max_drawdown", "return"), ("trades", "count"),
        ("bh_total_return", "return"))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report)  # how auraquant/cli.py mounts it
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps `report` a named subcommand
    return app


def _invoke(*args: str) -> dict:
    res = CliRunner().invoke(_cli(), ["report", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture(scope="module")
def universe_run(tmp_path_factory: pytest.TempPathFactory):
    from auraquant.cta.workspace_init import init_workspace

    root = tmp_path_factory.mktemp("urun_report") / "ws"
    init_workspace(root, demo_data=False)
    ws = Workspace.open(root)
    frames = generate_correlated(3, 1800, seed=11, drift_scale=3.0, correlation=0.4)
    dvs = [ingest_frame(ws.store, f, symbol=s, timeframe="1h", source="synthetic:test")[0].id
           for s, f in frames.items()]
    uv, _ = service.create(ws.store, "trio", dvs)
    service.declare_holdout(ws.store, uv, frames["SYN01/USDT"]["time"].iloc[1500], declared_by="test")
    cfg = UniverseWalkForward(n_windows=2, train_bars=600, target_bars=300, n_trials=4, seed=5)
    run, _ = run_universe_walkforward(ws.store, uv, SPEC, cfg, session_id=None, extra_dir=str(ws.runtime_dir))
    # the result as stored (what `universe_run_show` reads), not the in-memory object
    return ws, uv, run, ws.store.get_object(RESULT_KIND, run.id, UniverseRunResult)


def _row_cells(row: Element) -> dict[str, str]:
    return {td.attrs["data-col"]: td.text.strip() for td in row.find_all("td") if "data-col" in td.attrs}


def test_universe_run_tearsheet(universe_run, tmp_path: Path) -> None:
    ws, uv, run, result = universe_run
    reads_before = len(access.holdout_reads(ws.store))
    out = _invoke(run.id, "--workspace", str(ws.root))
    assert out["kind"] == "universe_run" and out["id"] == run.id
    assert out["html"] == str(ws.artifacts / "reports" / run.id / "tearsheet.html")
    html = Path(out["html"]).read_text(encoding="utf-8")
    doc = parse(html)
    assert doc.find_all("html")[0].attrs["data-kind"] == "universe_run"
    assert {c.attrs["data-id-kind"]: c.find_all("code")[0].text for c in doc.find_all(class_="chip")} == {
        "universe run": run.id, "universe": uv.id, "spec": SPEC.id}
    assert "SYNTHETIC data" in html

    # Each member beside the portfolio, every cell the stored number.
    table = doc.by_id("universe-members")
    rows = table.find_all("tbody")[0].find_all("tr")
    assert [r.attrs["data-symbol"] for r in rows] == list(result.members) == run.members and len(rows) == 3
    carriers = set(result.consistency["carrier_symbols"])
    for r in rows:
        sym = r.attrs["data-symbol"]
        stored = result.members[sym]
        assert stored["bh_total_return"] is not None  # the run stores each member's own buy and hold
        assert _row_cells(r) == {k: fmt_value(stored[k], unit) for k, unit in COLS}, sym
        assert r.attrs["data-carrier"] == ("yes" if sym in carriers else "no")
    port = table.find_all("tr", data_row="portfolio")
    assert len(port) == 1 and port[0].attrs["data-symbol"] == "portfolio"
    expected = {k: fmt_value(result.oos[k], unit) for k, unit in COLS if k != "bh_total_return"}
    expected["bh_total_return"] = fmt_value(result.basket_buy_and_hold["total_return"], "return")
    assert _row_cells(port[0]) == expected
    assert result.oos["trades"] == sum(m["trades"] for m in result.members.values())

    # Consistency: how many members carry the edge.
    cons = doc.by_id("universe-consistency")
    assert int(cons.attrs["data-carriers"]) == result.consistency["carriers"] == len(carriers)
    assert int(cons.attrs["data-members"]) == 3
    assert f"{len(carriers)} of 3 instruments carry the edge" in cons.text
    assert cons.attrs["data-level"] == ("good" if len(carriers) == 3 else "weak" if len(carriers) == 2 else "bad")
    card = doc.by_id("metrics").find_all(data_metric="carriers")
    assert len(card) == 1 and str(result.consistency["carriers"]) in card[0].text

    # Correlation of member returns: one cell per pair, the stored value, symmetric with a unit diagonal.
    corr = doc.by_id("universe-correlation")
    cells = {(td.attrs["data-row"], td.attrs["data-col"]): td.text for td in corr.find_all("td", data_row=None)}
    assert len(cells) == 9
    for (a, b), text in cells.items():
        assert text == f"{result.correlation[a][b]:.2f}"
        assert cells[(b, a)] == text
    assert all(cells[(s, s)] == "1.00" for s in run.members)

    # Headline and metrics: the portfolio's stored OOS figures.
    kpis = doc.by_id("kpis")
    for key, unit in (("sharpe", "ratio"), ("total_return", "return"), ("max_drawdown", "return"),
                      ("excess_return", "return")):
        kpi = kpis.find_all(data_metric=key)
        assert len(kpi) == 1 and kpi[0].find_all(class_="value")[0].text == fmt_value(result.oos[key], unit), key
    bench = doc.by_id("metrics").find_all(data_metric="bh_total_return")[0]
    assert "basket buy and hold return" in bench.text
    assert fmt_value(result.basket_buy_and_hold["total_return"], "return") in bench.text

    # The portfolio's stitched OOS equity against the equal-weight basket's buy and hold, on the same marks.
    figs = json.loads(re.search(r"var FIGURES = (\{.*?\});\nvar CONFIG", html, re.S).group(1))
    traces = figs["fig-equity"]["data"]
    nav, basket = traces[0], next(t for t in traces if t.get("name") == BASKET_LABEL)
    assert nav["y"] == result.stitched["portfolio"] and basket["y"] == result.stitched["basket_buy_and_hold"]
    assert len(nav["x"]) == len(result.stitched["time"])
    bands = [s for s in figs["fig-equity"]["layout"]["shapes"] if s["type"] == "rect" and s["yref"] == "y domain"]
    assert len(bands) == len(result.windows) == 2
    assert doc.by_id("holdout").attrs["data-holdout"] == "sealed"
    assert len(doc.by_id("window-params").find_all("tr", data_window=None)) == 2

    # Drawn from the stored result only: no holdout bar was read, no trade list invented.
    assert len(access.holdout_reads(ws.store)) == reads_before
    assert doc.find_all(data_empty="trades")
    assert "the equal-weight basket's buy and hold" in doc.find_all(data_verdict="excess_return")[0].text
    # Deterministic: the same run (here named by a unique id prefix) gives byte-identical files.
    again = _invoke(run.id[:12], "--workspace", str(ws.root), "--out", str(tmp_path / "again"))
    assert Path(again["html"]).read_bytes() == Path(out["html"]).read_bytes()


def test_universe_backtest_tearsheet(universe_run, tmp_path: Path) -> None:
    ws, uv, _, _ = universe_run
    frames = service.research_frames(ws.store, uv)
    res = run_portfolio_backtest(align(frames), SPEC, Sizing(), record=True, extra_dir=str(ws.runtime_dir))
    save_portfolio_artifacts(res, tmp_path / "pf")
    summary = json.loads((tmp_path / "pf" / "summary.json").read_text(encoding="utf-8"))
    out = _invoke(str(tmp_path / "pf"), "--workspace", str(ws.root), "--out", str(tmp_path / "rep"))
    assert out["kind"] == "portfolio_dir"
    html = Path(out["html"]).read_text(encoding="utf-8")
    doc = parse(html)
    rows = doc.by_id("universe-members").find_all("tbody")[0].find_all("tr")
    assert [r.attrs["data-symbol"] for r in rows] == list(summary["members"]) and len(rows) == 3
    for r in rows:
        stored = summary["members"][r.attrs["data-symbol"]]
        assert _row_cells(r) == {k: fmt_value(stored[k], unit) for k, unit in COLS}
    port = doc.by_id("universe-members").find_all("tr", data_row="portfolio")[0]
    p = summary["portfolio"]
    assert _row_cells(port) == {"sharpe": fmt_value(p["sharpe"], "ratio"),
                                "total_return": fmt_value(p["total_return"], "return"),
                                "max_drawdown": fmt_value(p["max_drawdown"], "return"),
                                "trades": fmt_value(p["trades"], "count"),
                                "bh_total_return": fmt_value(summary["basket_buy_and_hold"]["total_return"], "return")}
    assert int(doc.by_id("universe-consistency").attrs["data-carriers"]) == summary["consistency"]["carriers"]
    corr = doc.by_id("universe-correlation")
    for td in corr.find_all("td", data_row=None):
        v = summary["correlation"][td.attrs["data-row"]][td.attrs["data-col"]]
        assert td.text == (f"{v:.2f}" if v is not None else "n/a")
    # Every member's trades are listed; the NAV and the basket are the saved curves.
    assert html.count("<tr data-trade=") == len(res.trades) == p["trades"]
    figs = json.loads(re.search(r"var FIGURES = (\{.*?\});\nvar CONFIG", html, re.S).group(1))
    eq = pd.read_parquet(tmp_path / "pf" / "equity.parquet")
    nav = figs["fig-equity"]["data"][0]
    basket = next(t for t in figs["fig-equity"]["data"] if t.get("name") == BASKET_LABEL)
    # the figure thins long curves to the points that draw them exactly; each drawn point is the saved one
    at = {pd.Timestamp(t): i for i, t in enumerate(eq["time"])}
    idx = [at[pd.Timestamp(x).tz_localize("UTC") if pd.Timestamp(x).tzinfo is None else pd.Timestamp(x)]
           for x in nav["x"]]
    assert nav["y"] == eq["equity"].iloc[idx].tolist() and basket["y"] == eq["basket_buy_and_hold"].iloc[idx].tolist()
    assert nav["y"][-1] == eq["equity"].iloc[-1]


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (scripts/system-deps.sh)")
def test_universe_run_tearsheet_renders_in_chromium(universe_run, tmp_path: Path) -> None:
    ws, _, run, result = universe_run
    out = _invoke(run.id, "--workspace", str(ws.root), "--out", str(tmp_path / "rep"))
    doc = parse(render(find_chromium(), Path(out["html"]).as_uri(), tmp_path / "profile"))
    root = doc.find_all("html")[0]
    assert root.attrs["data-render"] == "ready", doc.by_id("render-errors").text
    assert doc.by_id("fig-equity").find_all(class_="main-svg")
    assert len(doc.by_id("universe-members").find_all("tr", data_symbol=None)) == len(result.members) + 1
    assert len(doc.by_id("universe-correlation").find_all("td", data_row=None)) == len(result.members) ** 2


def test_per_member_selection_shows_each_members_parameters(universe_run) -> None:
    _, _, run, result = universe_run
    chosen = {"baseline.fast": 7, "baseline.slow": 60}
    windows = [w | {"params": {}, "member_params": {s: dict(chosen) for s in run.members}} for w in result.windows]
    data = from_universe_run(run, result.model_copy(update={"windows": windows}))
    doc = parse(render_html(data))
    rows = doc.by_id("param-stability").find_all("tr", data_param=None)
    assert {r.attrs["data-param"] for r in rows} == {f"{s} {k}" for s in run.members for k in chosen}
    assert data.param_space[f"{run.members[0]} baseline.fast"] == (5.0, 30.0)  # the Spec's search range
