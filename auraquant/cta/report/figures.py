"""The tearsheet's plotly figures, as plain JSON-able dicts (the page calls `Plotly.newPlot` on them).

Only SVG traces are used (no WebGL), so the page renders in any browser, including headless ones without
a GPU. Times are written as UTC strings `YYYY-MM-DD HH:MM:SS`, so the output is byte-stable.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from auraquant.cta.report import theme
from auraquant.cta.report.formatting import fmt_metric
from auraquant.cta.report.model import HoldoutSegment, MonteCarloFan, TearsheetData
from auraquant.cta.report.transforms import RollingStats, display_indices, drawdown

_MAX_LABELLED_WINDOWS = 12


def _t(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def _style(fig: go.Figure, height: int) -> dict[str, Any]:
    axis = {"gridcolor": theme.GRID, "zerolinecolor": theme.BORDER, "linecolor": theme.BORDER,
            "tickfont": {"color": theme.MUTED, "size": 11}, "title": {"font": {"color": theme.MUTED, "size": 12}}}
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    fig.update_layout(
        height=height, paper_bgcolor=theme.PANEL, plot_bgcolor=theme.PANEL, template="none",
        font={"family": theme.FONT, "color": theme.TEXT, "size": 12},
        margin={"l": 64, "r": 24, "t": 36, "b": 44}, hovermode="x unified",
        hoverlabel={"bgcolor": theme.BG, "bordercolor": theme.BORDER, "font": {"color": theme.TEXT}},
        legend={"orientation": "h", "x": 0, "y": 1.08, "bgcolor": "rgba(0,0,0,0)",
                "font": {"color": theme.MUTED, "size": 11}})
    return fig.to_plotly_json()


def _holdout_result(ho: HoldoutSegment) -> str:
    """The band's short label: `sealed`, or the scored return and Sharpe."""
    if not ho.scored:
        return "sealed"
    by_key = {m.key: m for m in ho.metrics}
    parts = ["scored once"]
    for key, fmt in (("holdout_total_return", "return {}"), ("holdout_sharpe", "Sharpe {}")):
        if key in by_key:
            parts.append(fmt.format(fmt_metric(by_key[key])))
    return "<br>".join(parts)


def equity_figure(data: TearsheetData) -> dict[str, Any]:
    """Equity (top, 70%) and drawdown (bottom) on one time axis; OOS windows as shaded bands across both; the
    benchmark (buy and hold), when given, as a dashed line beside the NAV."""
    nav = np.asarray(data.equity.nav, dtype=np.float64)
    dd = drawdown(data.equity)
    idx = display_indices(nav, dd)
    bench = None if data.benchmark is None else np.asarray(data.benchmark.nav, dtype=np.float64)
    if bench is not None and data.benchmark is not None:
        # the benchmark's own extremes are drawn exactly too (both curves share the marks)
        idx = np.union1d(idx, display_indices(bench, drawdown(data.benchmark)))
    times = [_t(data.equity.times[i]) for i in idx]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.7, 0.3])
    fig.add_trace(go.Scatter(x=times, y=nav[idx].tolist(), name="NAV", mode="lines",
                             line={"color": theme.EQUITY, "width": 1.8},
                             hovertemplate="%{y:,.2f}<extra>NAV</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=times, y=(dd[idx] * 100).tolist(), name="drawdown", mode="lines",
                             line={"color": theme.DRAWDOWN, "width": 1.2}, fill="tozeroy",
                             fillcolor="rgba(248, 81, 73, 0.25)",
                             hovertemplate="%{y:.2f}%<extra>drawdown</extra>"), row=2, col=1)
    if data.equity.initial is not None:
        fig.add_hline(y=data.equity.initial, line={"color": theme.MUTED, "width": 1, "dash": "dot"}, row=1, col=1)
    label = len(data.oos_windows) <= _MAX_LABELLED_WINDOWS
    for k, w in enumerate(data.oos_windows):
        # Alternating tint plus an edge line at each start keeps adjacent windows distinguishable.
        fig.add_vrect(x0=_t(w.start), x1=_t(w.end), fillcolor=theme.OOS_FILL if k % 2 == 0 else theme.OOS_FILL_ALT,
                      line_width=0, layer="below", row="all", col=1)
        fig.add_vline(x=_t(w.start), line={"color": theme.OOS_LINE, "width": 1, "dash": "dot"}, layer="below",
                      row="all", col=1)
        if label and w.label:
            fig.add_annotation(x=_t(w.start), y=1.0, xref="x", yref="paper", text=w.label, showarrow=False,
                               xanchor="left", yanchor="top", xshift=3, yshift=-2 - 12 * (k % 2),
                               font={"size": 10, "color": theme.OOS_EDGE})
    if data.oos_windows:
        # A legend entry for the bands (shapes have none).
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="out-of-sample window",
                                 marker={"symbol": "square", "size": 12, "color": theme.OOS_EDGE, "opacity": 0.5},
                                 hoverinfo="skip"), row=1, col=1)
    ho = data.holdout
    if ho is not None:
        # One band over both panels (yref "paper", so it is told apart from the OOS window bands) from the holdout
        # start to the end of the data; the x axis is extended to show it even though no curve is drawn there.
        fig.add_shape(type="rect", xref="x", yref="paper", x0=_t(ho.start), x1=_t(ho.end), y0=0, y1=1,
                      fillcolor=theme.HOLDOUT_FILL, line={"color": theme.HOLDOUT, "width": 1, "dash": "dash"},
                      layer="below", name="holdout")
        fig.add_annotation(x=_t(ho.start), y=0.5, xref="x", yref="paper", xanchor="left", yanchor="middle",
                           xshift=4, showarrow=False, align="left",
                           text="HOLDOUT<br>" + _holdout_result(ho),
                           font={"size": 11, "color": theme.HOLDOUT})
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="holdout",
                                 marker={"symbol": "square", "size": 12, "color": theme.HOLDOUT, "opacity": 0.5},
                                 hoverinfo="skip"), row=1, col=1)
        fig.update_xaxes(range=[_t(data.equity.times[0]), _t(ho.end)])
    if bench is not None:  # added last: the NAV and drawdown traces keep their places
        label = data.benchmark_label
        fig.add_trace(go.Scatter(x=times, y=bench[idx].tolist(), name=label, mode="lines",
                                 line={"color": theme.BENCHMARK, "width": 1.3, "dash": "dash"},
                                 hovertemplate=f"%{{y:,.2f}}<extra>{label}</extra>"), row=1, col=1)
    fig.update_yaxes(title_text="NAV", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    return _style(fig, 540)


def trades_figure(data: TearsheetData) -> dict[str, Any]:
    """Histogram of trade returns (winners / losers, shared bins) and trade counts by exit reason."""
    rets = np.asarray([t.ret for t in data.trades], dtype=np.float64) * 100
    fig = make_subplots(rows=1, cols=2, column_widths=[0.68, 0.32], horizontal_spacing=0.14)
    lo, hi = (float(rets.min()), float(rets.max())) if rets.size else (-1.0, 1.0)
    size = max((hi - lo) / 40, 1e-6)
    bins = {"start": lo, "end": hi + size, "size": size}
    for name, mask, color in (("winners", rets > 0, theme.GAIN), ("losers", rets <= 0, theme.LOSS)):
        fig.add_trace(go.Histogram(x=rets[mask].tolist(), name=name, xbins=bins, autobinx=False,
                                   marker={"color": color, "line": {"color": theme.PANEL, "width": 0.5}},
                                   opacity=0.85, hovertemplate="%{x}%: %{y} trades<extra></extra>"), row=1, col=1)
    reasons = sorted(Counter(t.exit_reason for t in data.trades).items(), key=lambda kv: (-kv[1], kv[0]))
    fig.add_trace(go.Bar(x=[c for _, c in reasons], y=[r for r, _ in reasons], orientation="h", showlegend=False,
                         width=0.6, marker={"color": "rgba(88, 166, 255, 0.75)"},
                         hovertemplate="%{y}: %{x} trades<extra></extra>"), row=1, col=2)
    fig.update_layout(barmode="overlay", bargap=0.04)
    fig.update_xaxes(title_text="return per trade (%)", row=1, col=1)
    fig.update_xaxes(title_text="trades by exit reason", row=1, col=2)
    fig.update_yaxes(title_text="trades", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    return _style(fig, 340)


def _band_pairs(fan: MonteCarloFan) -> list[tuple[float, float]]:
    qs = sorted(fan.quantiles)
    return [(q, 1.0 - q) for q in qs if q < 0.5 and any(abs(p - (1.0 - q)) < 1e-12 for p in qs)]


def montecarlo_figure(fan: MonteCarloFan) -> dict[str, Any]:
    """Bands between symmetric quantile pairs (outermost lightest), the median and the observed path."""
    x = [_t(v) for v in fan.x] if fan.x and not isinstance(fan.x[0], int) else list(fan.x)
    qs = sorted(fan.quantiles)
    fig = go.Figure()
    pairs = _band_pairs(fan)
    for k, (lo, hi) in enumerate(pairs):
        upper = next(p for p in qs if abs(p - hi) < 1e-12)
        color = theme.MC_OUTER if k == 0 and len(pairs) > 1 else theme.MC_INNER
        fig.add_trace(go.Scatter(x=x, y=fan.quantiles[lo], mode="lines", line={"width": 0}, showlegend=False,
                                 hovertemplate=f"p{lo * 100:g}: %{{y:.3f}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=fan.quantiles[upper], mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=color, name=f"p{lo * 100:g}-p{upper * 100:g}",
                                 hovertemplate=f"p{upper * 100:g}: %{{y:.3f}}<extra></extra>"))
    median = next((q for q in qs if abs(q - 0.5) < 1e-12), None)
    if median is not None:
        fig.add_trace(go.Scatter(x=x, y=fan.quantiles[median], mode="lines", name="median",
                                 line={"color": theme.MC_MEDIAN, "width": 2}))
    if fan.observed is not None:
        fig.add_trace(go.Scatter(x=x, y=fan.observed, mode="lines", name="observed",
                                 line={"color": theme.OBSERVED, "width": 1.6, "dash": "dot"}))
    fig.add_hline(y=1.0, line={"color": theme.MUTED, "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text=fan.x_label)
    fig.update_yaxes(title_text="equity (start = 1.0)")
    return _style(fig, 340)


def rolling_figure(stats: RollingStats) -> dict[str, Any]:
    """Rolling annualized Sharpe (top, with the zero line) and rolling annualized volatility in % (bottom)."""
    days = [_t(d) for d in stats.days]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45])

    def vals(a: np.ndarray, scale: float = 1.0) -> list[float | None]:
        return [float(v) * scale if np.isfinite(v) else None for v in a]

    fig.add_trace(go.Scatter(x=days, y=vals(stats.sharpe), name=f"rolling Sharpe ({stats.window}d)", mode="lines",
                             line={"color": theme.EQUITY, "width": 1.6}, connectgaps=False,
                             hovertemplate="%{y:.2f}<extra>Sharpe</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=days, y=vals(stats.volatility, 100), name=f"rolling volatility ({stats.window}d)",
                             mode="lines", line={"color": theme.OBSERVED, "width": 1.4}, connectgaps=False,
                             hovertemplate="%{y:.1f}%<extra>volatility</extra>"), row=2, col=1)
    fig.add_hline(y=0, line={"color": theme.MUTED, "width": 1, "dash": "dot"}, row=1, col=1)
    fig.update_yaxes(title_text="Sharpe", row=1, col=1)
    fig.update_yaxes(title_text="volatility %", rangemode="tozero", row=2, col=1)
    return _style(fig, 360)


def price_figure(data: TearsheetData, max_points: int = 6000) -> dict[str, Any]:
    """Close prices, the Spec's indicator lines, entries (triangles: up = long, down = short) and exits
    (crosses, green for a winning trade, red for a losing one); window starts as dotted lines."""
    pc = data.price
    assert pc is not None
    close = np.asarray(pc.close, dtype=np.float64)
    idx = display_indices(close, np.zeros_like(close), max_points)
    times = [_t(pc.times[i]) for i in idx]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=times, y=close[idx].tolist(), name=pc.symbol or "close", mode="lines",
                             line={"color": theme.PRICE, "width": 1.2}, hovertemplate="%{y:,.2f}<extra>close</extra>"))
    for k, ov in enumerate(pc.overlays):
        fig.add_trace(go.Scatter(x=times, y=[ov.values[i] for i in idx], name=ov.name, mode="lines",
                                 line={"color": theme.OVERLAYS[k % len(theme.OVERLAYS)], "width": 1.1},
                                 hovertemplate=f"%{{y:,.2f}}<extra>{ov.name}</extra>"))
    t0, t1 = pc.times[0], pc.times[-1]
    shown = [t for t in data.trades if t0 <= t.entry_time <= t1]
    for side, name, symbol, color in ((1, "long entry", "triangle-up", theme.GAIN),
                                      (-1, "short entry", "triangle-down", theme.LOSS)):
        tr = [t for t in shown if t.side == side]
        fig.add_trace(go.Scatter(x=[_t(t.entry_time) for t in tr], y=[t.entry_price for t in tr], name=name,
                                 mode="markers", marker={"symbol": symbol, "size": 9, "color": color,
                                                         "line": {"color": theme.BG, "width": 0.5}},
                                 hovertemplate="%{y:,.2f}<extra>" + name + "</extra>"))
    fig.add_trace(go.Scatter(x=[_t(t.exit_time) for t in shown], y=[t.exit_price for t in shown], name="exit",
                             mode="markers", marker={"symbol": "x", "size": 7,
                                                     "color": [theme.GAIN if t.pnl > 0 else theme.LOSS for t in shown]},
                             customdata=[t.exit_reason for t in shown],
                             hovertemplate="%{y:,.2f} %{customdata}<extra>exit</extra>"))
    for w in data.oos_windows:
        fig.add_vline(x=_t(w.start), line={"color": theme.OOS_LINE, "width": 1, "dash": "dot"}, layer="below")
    fig.update_yaxes(title_text="price")
    return _style(fig, 440)
