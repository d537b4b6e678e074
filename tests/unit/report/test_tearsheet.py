from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auraquant.cta.report.model import EquityCurve, OOSWindow, TearsheetData
from auraquant.cta.report.tearsheet import write_tearsheet
from auraquant.cta.report.transforms import drawdown
from tests.unit.report.sample_data import sample_data


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[TearsheetData, Path, Path]:
    data = sample_data()
    html_path, png_path = write_tearsheet(data, tmp_path_factory.mktemp("ts"))
    return data, html_path, png_path


def _figures(html: str) -> dict:
    m = re.search(r"var FIGURES = (\{.*?\});\nvar CONFIG", html, re.S)
    assert m, "figure data not found in the page"
    return json.loads(m.group(1))


def test_page_is_self_contained(written: tuple[TearsheetData, Path, Path]) -> None:
    _, html_path, _ = written
    html = html_path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", html, re.I), "external script"
    assert not re.search(r"<link[^>]*\bhref=\"?https?:", html, re.I), "external stylesheet"
    assert "<script src=\"http" not in html
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js is inline


def test_page_states_ids_metrics_and_policies_as_given(written: tuple[TearsheetData, Path, Path]) -> None:
    data, html_path, _ = written
    html = html_path.read_text(encoding="utf-8")
    for v in data.ids.values():
        assert v in html
    for text in ("1.23", "-12.34%", "55.00%", "n/a", "365 daily returns per year", "next_open", "stop_first",
                 "commission 5 bps + slippage 2 bps per side", "synthetic data", "trade bootstrap, 300 simulations"):
        assert text in html, text
    assert html.count('<div class="metric" data-metric=') == len(data.metrics)
    assert html.count("<tr data-trade=") == len(data.trades)  # one row per trade
    for w in data.oos_windows:
        assert f'<td class="name">{w.label}</td>' in html


def test_figures_carry_the_given_curve_and_windows(written: tuple[TearsheetData, Path, Path]) -> None:
    data, html_path, _ = written
    figs = _figures(html_path.read_text(encoding="utf-8"))
    assert set(figs) == {"fig-equity", "fig-trades", "fig-mc", "fig-rolling"}  # no bars given: no price chart
    eq = figs["fig-equity"]
    nav_trace, dd_trace = eq["data"][0], eq["data"][1]
    by_time = {t.strftime("%Y-%m-%d %H:%M:%S"): v for t, v in zip(data.equity.times, data.equity.nav, strict=True)}
    assert [by_time[x] for x in nav_trace["x"]] == nav_trace["y"]
    assert nav_trace["x"][0] == "2023-01-01 00:00:00" and nav_trace["x"][-1] == data.equity.times[-1].strftime(
        "%Y-%m-%d %H:%M:%S")
    assert min(dd_trace["y"]) == pytest.approx(float(drawdown(data.equity).min()) * 100)
    for panel in ("y domain", "y2 domain"):  # shaded on both the equity and the drawdown panel
        bands = [s for s in eq["layout"]["shapes"] if s["type"] == "rect" and s["yref"] == panel]
        assert [(b["x0"][:10], b["x1"][:10]) for b in bands] == [
            (w.start.strftime("%Y-%m-%d"), w.end.strftime("%Y-%m-%d")) for w in data.oos_windows]
    hist_n = sum(len(t["x"]) for t in figs["fig-trades"]["data"] if t["type"] == "histogram")
    assert hist_n == len(data.trades)
    mc = figs["fig-mc"]["data"]
    assert mc[-1]["name"] == "observed" and mc[-1]["y"] == data.monte_carlo.observed


def test_output_is_byte_identical_for_the_same_input(written: tuple[TearsheetData, Path, Path],
                                                     tmp_path: Path) -> None:
    data, html_path, png_path = written
    html2, png2 = write_tearsheet(sample_data(), tmp_path / "again")
    assert html2.read_bytes() == html_path.read_bytes()
    assert png2.read_bytes() == png_path.read_bytes()
    assert b"tIME" not in png_path.read_bytes()  # no timestamp chunk
    html3, _ = write_tearsheet(sample_data(seed=4), tmp_path / "other")
    assert html3.read_bytes() != html_path.read_bytes()


def test_png_shows_the_equity_curve(written: tuple[TearsheetData, Path, Path]) -> None:
    _, _, png_path = written
    im = np.asarray(Image.open(png_path).convert("RGB")).astype(int)
    assert im.shape == (715, 1320, 3)
    blue = np.array([0x58, 0xA6, 0xFF])
    line = np.abs(im - blue).sum(axis=2) < 60
    cols = np.flatnonzero(line.any(axis=0))
    assert line.sum() > 2000, "equity line colour barely present"
    assert cols.max() - cols.min() > 0.8 * im.shape[1], "equity line does not span the chart"


def test_user_text_cannot_break_out_of_the_page(tmp_path: Path) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    evil = "</script><script>alert(1)</script>"
    data = TearsheetData(title=evil, ids={"run": evil},
                         equity=EquityCurve(times=[t0 + timedelta(days=i) for i in range(40)],
                                            nav=[100.0 + i for i in range(40)]),
                         oos_windows=[OOSWindow(start=t0 + timedelta(days=10), end=t0 + timedelta(days=20),
                                                label=evil)])
    html = write_tearsheet(data, tmp_path)[0].read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html
    assert _figures(html)["fig-equity"]["layout"]["annotations"][0]["text"] == evil


def test_benchmark_must_share_the_equity_marks() -> None:
    d = sample_data(n_bars=200, n_trades=10)
    bench = EquityCurve(times=d.equity.times, nav=[10_000.0 + i for i in range(200)], initial=10_000.0)
    with_bench = d.model_copy(update={"benchmark": bench})
    TearsheetData.model_validate(with_bench.model_dump())
    shifted = EquityCurve(times=[t + timedelta(hours=1) for t in d.equity.times], nav=bench.nav, initial=10_000.0)
    with pytest.raises(ValueError, match="same times"):
        TearsheetData.model_validate({**d.model_dump(), "benchmark": shifted.model_dump()})


def test_benchmark_is_drawn_on_page_and_png(tmp_path: Path) -> None:
    d = sample_data(n_bars=24 * 60, n_trades=20)
    bench_nav = (10_000 * np.linspace(1.0, 1.5, len(d.equity.nav))).tolist()
    d = d.model_copy(update={"benchmark": EquityCurve(times=d.equity.times, nav=bench_nav, initial=10_000.0)})
    html_path, png_path = write_tearsheet(d, tmp_path / "with")
    html = html_path.read_text(encoding="utf-8")
    figs = json.loads(re.search(r"var FIGURES = (\{.*?\});\nvar CONFIG", html, re.S).group(1))
    names = [t.get("name") for t in figs["fig-equity"]["data"]]
    assert names[0] == "NAV" and names[-1] == "buy and hold"
    line = figs["fig-equity"]["data"][-1]
    assert line["y"][0] == bench_nav[0] and line["y"][-1] == bench_nav[-1]
    _, plain = write_tearsheet(d.model_copy(update={"benchmark": None}), tmp_path / "plain")
    assert png_path.read_bytes() != plain.read_bytes()  # the dashed line is in the PNG
