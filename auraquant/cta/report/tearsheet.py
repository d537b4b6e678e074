"""Tearsheets: `write_tearsheet(data, out_dir)` -> a self-contained HTML page and a PNG of the equity curve.

The input is `TearsheetData` (see `auraquant.cta.report.model`); adapters from engine and experiment
objects live in `auraquant.cta.report.adapters`. The page's sections (equity against buy and hold with a log
toggle and the holdout band, grouped metrics with verdicts, rolling Sharpe and volatility, worst drawdowns,
monthly heatmap, price chart with entries, exits and indicators, per-window parameters and their stability,
trades with duration / MAE / MFE, a collapsed appendix of raw values) are listed in `auraquant.cta.report.page`.
Output is deterministic: the same data gives byte-identical files (for the same plotly and matplotlib versions).
"""

from __future__ import annotations

import os
from pathlib import Path

from auraquant.cta.report.model import EquityCurve, Metric, MonteCarloFan, OOSWindow, TearsheetData, Trade
from auraquant.cta.report.page import render_html
from auraquant.cta.report.png import write_equity_png

__all__ = ["EquityCurve", "Metric", "MonteCarloFan", "OOSWindow", "TearsheetData", "Trade", "write_tearsheet"]

HTML_NAME = "tearsheet.html"
PNG_NAME = "equity.png"


def write_tearsheet(data: TearsheetData, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `<out_dir>/tearsheet.html` and `<out_dir>/equity.png` (replacing them atomically); return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, png_path = out / HTML_NAME, out / PNG_NAME
    tmp_html = out / f".{HTML_NAME}.{os.getpid()}.tmp"
    tmp_png = out / f".{PNG_NAME}.{os.getpid()}.tmp"
    try:
        tmp_html.write_text(render_html(data), encoding="utf-8")
        write_equity_png(data, tmp_png)
        os.replace(tmp_html, html_path)
        os.replace(tmp_png, png_path)
    finally:
        tmp_html.unlink(missing_ok=True)
        tmp_png.unlink(missing_ok=True)
    return html_path, png_path
