"""The equity curve as a PNG (matplotlib, Agg backend): NAV on top, drawdown below, OOS windows shaded, the
holdout (when the object has one) as a violet band labelled sealed or with its scored result.

Uses `matplotlib.figure.Figure` directly (no pyplot), so it renders headless with the Agg canvas and never
changes the process-wide backend or keeps figures alive in pyplot's registry.

Byte-stable for the same input and matplotlib version: no timestamp or software tag in the PNG metadata.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from auraquant.cta.report import theme
from auraquant.cta.report.model import TearsheetData
from auraquant.cta.report.transforms import drawdown


def _naive_utc(times: list) -> np.ndarray:
    return np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[ms]")


def write_equity_png(d: TearsheetData, path: Path, *, dpi: int = 110) -> Path:
    """Write the equity + drawdown chart of `d` to `path` (1320 x 715 px at the default dpi)."""
    t = _naive_utc(d.equity.times)
    nav = np.asarray(d.equity.nav, dtype=np.float64)
    dd = drawdown(d.equity) * 100
    fig = Figure(figsize=(12, 6.5), dpi=dpi, facecolor=theme.BG)
    gs = fig.add_gridspec(2, 1, height_ratios=[7, 3], hspace=0.06, left=0.075, right=0.985, top=0.9, bottom=0.08)
    ax, axd = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    ax.sharex(axd)
    for a in (ax, axd):
        a.set_facecolor(theme.PANEL)
        a.set_axisbelow(True)
        a.grid(True, color=theme.GRID, linewidth=0.8)
        a.tick_params(colors=theme.MUTED, labelsize=9)
        for s in a.spines.values():
            s.set_color(theme.BORDER)
        for k, w in enumerate(d.oos_windows):
            x0 = np.datetime64(w.start.replace(tzinfo=None), "ms")
            a.axvspan(x0, np.datetime64(w.end.replace(tzinfo=None), "ms"), color=theme.OOS_EDGE,
                      alpha=0.13 if k % 2 == 0 else 0.07, linewidth=0, zorder=0)
            a.axvline(x0, color=theme.OOS_EDGE, alpha=0.55, linewidth=0.8, linestyle=":", zorder=0)
    x_end = t[-1]
    if d.holdout is not None:
        h0 = np.datetime64(d.holdout.start.replace(tzinfo=None), "ms")
        x_end = np.datetime64(d.holdout.end.replace(tzinfo=None), "ms")
        for a in (ax, axd):
            a.axvspan(h0, x_end, color=theme.HOLDOUT, alpha=0.12, linewidth=0, zorder=0)
        ax.text(h0, 0.5, " HOLDOUT\n " + ("scored once" if d.holdout.scored else "sealed"), color=theme.HOLDOUT,
                fontsize=9, va="center", transform=ax.get_xaxis_transform())
    if d.benchmark is not None:
        ax.plot(t, np.asarray(d.benchmark.nav, dtype=np.float64), color=theme.BENCHMARK, linewidth=1.0,
                linestyle="--", label=d.benchmark_label)
    ax.plot(t, nav, color=theme.EQUITY, linewidth=1.4, label="NAV")
    if d.equity.initial is not None:
        ax.axhline(d.equity.initial, color=theme.MUTED, linewidth=0.8, linestyle=":")
    axd.fill_between(t, dd, 0, color=theme.DRAWDOWN, alpha=0.3, linewidth=0)
    axd.plot(t, dd, color=theme.DRAWDOWN, linewidth=0.9)
    ax.set_ylabel("NAV", color=theme.MUTED)
    axd.set_ylabel("drawdown %", color=theme.MUTED)
    ax.tick_params(labelbottom=False)
    loc = mdates.AutoDateLocator()
    axd.xaxis.set_major_locator(loc)
    axd.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    axd.set_xlim(t[0], x_end)
    fig.text(0.075, 0.95, d.title, color=theme.TEXT, fontsize=14, fontweight="bold", va="center")
    sub = "   ".join(f"{k} {v}" for k, v in d.ids.items())
    if d.oos_windows:
        sub += f"   shaded: {len(d.oos_windows)} out-of-sample window(s)"
    if d.benchmark is not None:
        sub += f"   dashed: {d.benchmark_label}"
    # one line under the title: long id lists get a smaller font instead of running off the canvas
    fig.text(0.075, 0.915, sub, color=theme.MUTED, fontsize=8.5 if len(sub) <= 150 else 7.0 * 190 / max(len(sub), 190),
             va="center")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", facecolor=theme.BG, metadata={"Software": None})
    return path
