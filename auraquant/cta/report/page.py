"""The tearsheet HTML page: one self-contained file (CSS, data and plotly.js inline; no network at view time).

Sections, top to bottom (each with a stable `id`; rows and cells carry `data-*` attributes for tests):
- `#ts-header`: title, what the object is (`<html data-kind="backtest|run|record">`) and the cited ids;
- `#kpis`: headline cards (total and annualized return, Sharpe, max drawdown, excess over buy and hold,
  trades); `#at-a-glance`: every verdict sentence (robustness, buy and hold, holdout) in one list;
- `#equity`: NAV against buy and hold of the same instrument over the same span, drawdown below, OOS
  windows shaded, the holdout band labelled; `#equity-log-toggle` switches a log price axis (also opened
  with `#log` in the URL);
- `#universe` (universe runs): `#universe-members`, each instrument's Sharpe, return, max drawdown, trades
  and buy and hold (`tr[data-symbol]`, `td[data-col]`) with the portfolio row in the footer
  (`tr[data-row="portfolio"]`); `#universe-consistency` (`data-carriers` of `data-members`);
  `#universe-correlation`, the members' return correlation (`td[data-row][data-col]`);
- `#metrics`: grouped cards (`data-group` return, risk, trades, benchmark, robustness, holdout); returns and
  drawdowns in percent, ratios as plain numbers, probabilities as `< 0.001` at the bottom; each robustness
  figure with its verdict (`auraquant.cta.report.verdicts`);
- `#rolling`: rolling Sharpe and volatility; `#drawdowns`: the 5 worst drawdowns (start, trough, recovery,
  depth, length); `#monthly`: monthly returns heatmap;
- `#price`: close prices with entries, exits and the Spec's indicators;
- `#windows` (walk-forward runs and records): per-window chosen parameters and the parameter-stability
  heatmap (each value placed in its search range);
- `#trades`: return distribution, Monte Carlo fan and the trade list with duration, MAE and MFE;
- `#settings`: how the numbers were computed; `#appendix-raw`: every raw value, collapsed (`<details>`).

Render status is observable from outside, for people and for the headless-browser test: the root element
starts as `data-render="pending"` and becomes `"ready"` only after every figure was drawn by
`Plotly.newPlot` without an exception, an unhandled rejection or a `console.error`; otherwise it becomes
`"error"` and the messages are shown in a visible box (`#render-errors`). The same input gives the same
bytes (fixed element ids, no timestamps, no random ids).
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from typing import Any

import numpy as np
import plotly
from plotly.io.json import to_json_plotly

from auraquant import __version__
from auraquant.cta.report import theme, verdicts
from auraquant.cta.report.figures import (
    equity_figure,
    montecarlo_figure,
    price_figure,
    rolling_figure,
    trades_figure,
)
from auraquant.cta.report.formatting import fmt_duration, fmt_metric, fmt_pct, fmt_time, fmt_value, sign_class
from auraquant.cta.report.model import InstrumentRow, Metric, TearsheetData
from auraquant.cta.report.transforms import monthly_returns, rolling_stats, worst_drawdowns

MAX_TRADE_ROWS = 1000
WORST_DRAWDOWNS = 5
_GROUPS = (("return", "Return"), ("risk", "Risk"), ("trades", "Trades"), ("benchmark", "vs buy and hold"),
           ("robustness", "Robustness"), ("holdout", "Holdout"), ("other", "Other"))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _script_json(obj: Any) -> str:
    """JSON safe inside <script>: '<' only occurs in strings, where the \\u003c escape is equivalent."""
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


_CSS = f"""
:root {{ color-scheme: dark; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; background: {theme.BG}; color: {theme.TEXT}; font: 14px/1.45 {theme.FONT}; }}
main {{ max-width: 1360px; margin: 0 auto; padding: 22px 24px 40px; }}
header {{ display: flex; justify-content: space-between; align-items: flex-end; gap: 24px; flex-wrap: wrap;
  border-bottom: 1px solid {theme.BORDER}; padding-bottom: 14px; margin-bottom: 16px; }}
h1 {{ font-size: 22px; margin: 0 0 2px; font-weight: 600; letter-spacing: .2px; }}
.subtitle {{ color: {theme.MUTED}; margin: 0; }}
.ids {{ display: flex; gap: 8px; flex-wrap: wrap; justify-content: flex-end; }}
.chip {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; border-radius: 6px; padding: 3px 8px;
  font-size: 12px; color: {theme.MUTED}; }}
.chip code {{ color: {theme.TEXT}; font: 12px ui-monospace, 'DejaVu Sans Mono', monospace; }}
.kpis {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 16px; }}
.kpi {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; border-radius: 8px; padding: 10px 14px; }}
.kpi .label {{ color: {theme.MUTED}; font-size: 12px; text-transform: uppercase; letter-spacing: .6px; }}
.kpi .value {{ font-size: 22px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }}
.panel {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; border-radius: 8px; padding: 14px 16px;
  margin-bottom: 16px; min-width: 0; }}
.panel h2 {{ font-size: 15px; margin: 0 0 10px; font-weight: 600; }}
.grid2 {{ display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }}
.grid2 > .panel {{ margin-bottom: 16px; }}
@media (max-width: 900px) {{ .grid2 {{ grid-template-columns: 1fr; }} }}
.caption {{ color: {theme.MUTED}; font-size: 12px; margin: 6px 2px 0; }}
table {{ border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }}
th, td {{ padding: 5px 8px; border-bottom: 1px solid {theme.GRID}; text-align: right; white-space: nowrap; }}
th {{ color: {theme.MUTED}; font-weight: 500; font-size: 12px; position: sticky; top: 0; background: {theme.PANEL}; }}
td.name, th.name {{ text-align: left; }}
tbody tr:hover td {{ background: rgba(88, 166, 255, .06); }}
.pos {{ color: {theme.GAIN}; }} .neg {{ color: {theme.LOSS}; }}
.metrics {{ display: grid; grid-template-columns: 1fr 1fr; column-gap: 28px; }}
.metric {{ display: flex; justify-content: space-between; gap: 12px; padding: 5px 4px;
  border-bottom: 1px solid {theme.GRID}; font-variant-numeric: tabular-nums; }}
.metric .name {{ color: {theme.MUTED}; }}
dl.settings {{ display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 0; }}
dl.settings dt {{ color: {theme.MUTED}; }} dl.settings dd {{ margin: 0; }}
ul.notes {{ margin: 12px 0 0; padding-left: 18px; color: {theme.OOS_EDGE}; }}
.scroll {{ max-height: 420px; overflow: auto; }}
table.narrow {{ width: auto; min-width: 50%; }}
.empty {{ color: {theme.MUTED}; font-style: italic; }}
#render-errors {{ display: none; background: #3d1214; border: 1px solid {theme.LOSS}; color: #ffdcd7;
  border-radius: 8px; padding: 10px 14px; white-space: pre-wrap; }}
html[data-render="error"] #render-errors {{ display: block; }}
footer {{ color: {theme.MUTED}; font-size: 12px; margin-top: 8px; }}
.kind {{ display: inline-block; font-size: 11px; text-transform: uppercase; letter-spacing: .8px; padding: 2px 8px;
  border-radius: 10px; border: 1px solid {theme.BORDER}; color: {theme.MUTED}; margin-right: 8px; vertical-align: 3px; }}
.glance {{ list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: 1fr 1fr; gap: 6px 24px; }}
.glance li, p.verdict {{ padding-left: 14px; position: relative; }}
.glance li::before, p.verdict::before {{ content: ""; position: absolute; left: 0; top: .5em; width: 8px; height: 8px;
  border-radius: 50%; background: {theme.MUTED}; }}
[data-level="good"]::before {{ background: {theme.GAIN} !important; }}
[data-level="weak"]::before {{ background: {theme.OOS_EDGE} !important; }}
[data-level="bad"]::before {{ background: {theme.LOSS} !important; }}
.groups {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; margin-bottom: 16px; }}
.groups > .panel {{ margin-bottom: 0; }}
.groups > .wide {{ grid-column: span 2; }}
.metric-list .metric {{ flex-wrap: wrap; }}
p.verdict {{ margin: 2px 4px 6px; font-size: 12px; color: {theme.TEXT}; flex-basis: 100%; }}
.toolbar {{ display: flex; justify-content: space-between; align-items: center; margin-bottom: 6px; }}
.toolbar h2 {{ margin: 0; }}
button.toggle {{ background: {theme.BG}; color: {theme.TEXT}; border: 1px solid {theme.BORDER}; border-radius: 6px;
  padding: 3px 10px; font: 12px {theme.FONT}; cursor: pointer; }}
button.toggle[data-scale="log"] {{ border-color: {theme.EQUITY}; color: {theme.EQUITY}; }}
.heat td {{ min-width: 54px; }}
.heat td.year {{ font-weight: 600; border-left: 1px solid {theme.BORDER}; }}
.heat td.empty-cell {{ background: transparent; }}
details.appendix summary {{ cursor: pointer; color: {theme.MUTED}; font-weight: 600; }}
details.appendix .metrics {{ margin-top: 10px; font-size: 12px; }}
.holdout-label {{ color: {theme.HOLDOUT}; font-size: 15px; margin: 0 0 4px; }}
.cols2 {{ display: grid; grid-template-columns: 1fr 1fr; column-gap: 28px; margin-top: 8px; }}
#windows h2 + .scroll, #windows .caption + h2 {{ margin-top: 14px; }}
"""

# Installed before plotly.js so that any failure while loading or drawing is caught.
_ERROR_CAPTURE = """
window.__aqErrors = [];
(function () {
  var root = document.documentElement;
  function record(msg) { window.__aqErrors.push(String(msg)); root.setAttribute("data-render", "error"); }
  window.__aqRecord = record;
  window.addEventListener("error", function (e) { record(e.message || e); });
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () { record(Array.prototype.join.call(arguments, " ")); return original.apply(console, arguments); };
})();
"""

_RENDER = """
(function () {
  var root = document.documentElement;
  function fail(err) {
    window.__aqRecord(err && err.stack ? err.stack : err);
    document.getElementById("render-errors").textContent =
      "Chart rendering failed:\\n" + window.__aqErrors.join("\\n");
  }
  function setScale(type) {
    var btn = document.getElementById("equity-log-toggle");
    return Plotly.relayout("fig-equity", {"yaxis.type": type}).then(function () {
      btn.setAttribute("data-scale", type);
      btn.textContent = type === "log" ? "linear scale" : "log scale";
      document.getElementById("fig-equity").setAttribute("data-scale", type);
    });
  }
  try {
    var ids = Object.keys(FIGURES);
    Promise.all(ids.map(function (id) {
      return Plotly.newPlot(id, FIGURES[id].data, FIGURES[id].layout, CONFIG);
    })).then(function () {
      var btn = document.getElementById("equity-log-toggle");
      btn.addEventListener("click", function () {
        setScale(btn.getAttribute("data-scale") === "log" ? "linear" : "log");
      });
      return window.location.hash === "#log" ? setScale("log") : null;
    }).then(function () {
      var drawn = ids.filter(function (id) { return document.getElementById(id).querySelector(".main-svg"); });
      root.setAttribute("data-figures", String(drawn.length));
      if (drawn.length !== ids.length) { fail("figures not drawn: " + ids.length + " expected, " + drawn.length + " drawn"); return; }
      if (window.__aqErrors.length) { fail("errors during rendering"); return; }
      // the page's own height (the document is at least as tall as the window): for cropping screenshots
      var main = document.querySelector("main");
      root.setAttribute("data-page-height", String(Math.ceil(main.getBoundingClientRect().bottom + window.scrollY)));
      root.setAttribute("data-render", "ready");
    }).catch(fail);
  } catch (err) { fail(err); }
})();
"""


def _empty(what: str, why: str) -> str:
    return f'<p class="empty" data-empty="{_e(what)}">{_e(why)}</p>'


def _header(d: TearsheetData) -> str:
    chips = "".join(f'<span class="chip" data-id-kind="{_e(k)}">{_e(k)} <code>{_e(v)}</code></span>'
                    for k, v in d.ids.items())
    kind = {"backtest": "backtest", "run": "walk-forward experiment", "record": "archive record",
            "universe_run": "universe walk-forward"}[d.kind]
    sub = f'<p class="subtitle">{_e(d.subtitle)}</p>' if d.subtitle else ""
    return (f'<header id="ts-header"><div><h1><span class="kind">{_e(kind)}</span>{_e(d.title)}</h1>{sub}</div>'
            f'<div class="ids">{chips}</div></header>')


def _kpis(d: TearsheetData) -> str:
    cards = "".join(f'<div class="kpi" data-metric="{_e(m.key or m.name)}"><div class="label">{_e(m.name)}</div>'
                    f'<div class="value {sign_class(m.value, m.unit)}">{_e(fmt_metric(m))}</div></div>'
                    for m in d.headline_metrics())
    return f'<section class="kpis" id="kpis">{cards}</section>' if cards else ""


def _glance(d: TearsheetData) -> str:
    items = [m for m in d.metrics if m.verdict]
    if not items:
        return ""
    lis = "".join(f'<li data-verdict="{_e(m.key or m.name)}" data-level="{m.level}">{_e(m.verdict)}</li>'
                  for m in items)
    return f'<section class="panel" id="at-a-glance"><h2>At a glance</h2><ul class="glance">{lis}</ul></section>'


def _metric_row(m: Metric) -> str:
    verdict = (f'<p class="verdict" data-level="{m.level}">{_e(m.verdict)}</p>' if m.verdict else "")
    return (f'<div class="metric" data-metric="{_e(m.key or m.name)}"><span class="name">{_e(m.name)}</span>'
            f'<span class="{sign_class(m.value, m.unit)}">{_e(fmt_metric(m))}</span>{verdict}</div>')


def _metric_groups(d: TearsheetData) -> str:
    if not d.metrics:
        return _empty("metrics", "no metrics given")
    cards = []
    for group, title in _GROUPS:
        if group == "holdout" and d.holdout is not None:
            continue  # listed in the holdout panel, under its band's label
        ms = [m for m in d.metrics if m.group == group]
        if ms:
            wide = " wide" if group == "robustness" else ""
            cards.append(f'<section class="panel metric-group{wide}" data-group="{group}"><h2>{_e(title)}</h2>'
                         f'<div class="metric-list">{"".join(_metric_row(m) for m in ms)}</div></section>')
    return f'<div class="groups" id="metrics">{"".join(cards)}</div>'


def _settings(d: TearsheetData) -> str:
    items: list[tuple[str, str]] = []
    if d.annualization_basis is not None:
        items.append(("annualization basis", f"{d.annualization_basis} daily returns per year"))
    if d.fill_policy:
        items.append(("fill", d.fill_policy))
    if d.intrabar_policy:
        items.append(("intrabar SL/TP policy", d.intrabar_policy))
    items += list(d.context.items())
    items.append(("equity span", f"{fmt_time(d.equity.times[0])} to {fmt_time(d.equity.times[-1])} UTC, "
                                 f"{len(d.equity.times):,} marks"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    notes = ("<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in d.notes) + "</ul>") if d.notes else ""
    return f'<dl class="settings">{dl}</dl>{notes}'


def _heat_style(x: float, scale: float) -> str:
    """Background of a heatmap cell: green for gains, red for losses, opacity by |x| / scale."""
    if not math.isfinite(x) or scale <= 0:
        return ""
    a = min(abs(x) / scale, 1.0) * 0.75 + 0.08
    rgb = "63, 185, 80" if x > 0 else "248, 81, 73" if x < 0 else "139, 148, 158"
    return f' style="background: rgba({rgb}, {a:.3f})"'


def _cell(x: float, scale: float, extra_class: str = "", attrs: str = "") -> str:
    if not math.isfinite(x):
        return f'<td class="empty-cell"{attrs}></td>'
    cls = " ".join(c for c in (extra_class,) if c)
    return f'<td class="{cls}"{attrs}{_heat_style(x, scale)}>{fmt_pct(x, 1)}</td>'


def _monthly(d: TearsheetData) -> str:
    mt = monthly_returns(d.equity)
    finite = mt.months[np.isfinite(mt.months)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    head = "".join(f"<th>{m}</th>" for m in _MONTHS)
    body = "".join(
        f'<tr data-year="{y}"><td class="name">{y}</td>'
        f'{"".join(_cell(x, scale, attrs=f' data-month="{y}-{k + 1:02d}"') for k, x in enumerate(row))}'
        f'{_cell(tot, max(scale, abs(tot) if math.isfinite(tot) else 0), "year")}</tr>'
        for y, row, tot in zip(mt.years, mt.months, mt.year_total, strict=True))
    return (f'<table class="heat" id="monthly-heatmap"><thead><tr><th class="name">year</th>{head}<th>year</th>'
            f"</tr></thead><tbody>{body}</tbody></table>")


def _drawdowns(d: TearsheetData) -> str:
    eps = worst_drawdowns(d.equity, WORST_DRAWDOWNS)
    if not eps:
        return _empty("drawdowns", "no drawdown: the NAV never fell below its running peak")
    rows = "".join(
        f'<tr data-rank="{i + 1}"><td>{i + 1}</td><td>{fmt_time(e.start)}</td><td>{fmt_time(e.trough)}</td>'
        f'<td>{fmt_time(e.recovery) if e.recovery else "not recovered"}</td>'
        f'<td class="neg">{fmt_pct(e.depth, 2)}</td><td>{fmt_duration(e.end - e.start)}'
        f'{"" if e.recovery else " (open)"}</td></tr>' for i, e in enumerate(eps))
    return (f'<table id="worst-drawdowns"><thead><tr><th>#</th><th>start (peak, UTC)</th><th>trough</th>'
            f"<th>recovery</th><th>depth</th><th>length</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<p class="caption">Deepest first. Length runs from the peak to the recovery (or to the last mark '
            f"while not recovered).</p>")


def _sign(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else "pos" if x > 0 else "neg" if x < 0 else ""


def _trades_table(d: TearsheetData) -> str:
    if not d.trades:
        return _empty("trades", "no closed trades")
    shown = d.trades[-MAX_TRADE_ROWS:]
    first = len(d.trades) - len(shown)
    has_px = any(t.entry_price is not None for t in shown)

    def px(x: float | None) -> str:
        return f"{x:,.2f}" if x is not None else "n/a"

    rows = "".join(
        f'<tr data-trade="{first + i + 1}"><td>{first + i + 1}</td>'
        f'<td class="name">{"long" if t.side > 0 else "short"}</td>'
        f"<td>{fmt_time(t.entry_time)}</td><td>{fmt_time(t.exit_time)}</td>"
        f'<td data-col="duration">{fmt_duration(t.exit_time - t.entry_time)}</td>'
        + (f"<td>{px(t.entry_price)}</td><td>{px(t.exit_price)}</td>" if has_px else "")
        + f'<td class="{_sign(t.ret)}">{fmt_pct(t.ret, 2, signed=True)}</td>'
        f'<td class="{_sign(t.pnl)}">{t.pnl:,.2f}</td>'
        f'<td data-col="mae" class="{_sign(t.mae) if t.mae else ""}">{fmt_pct(t.mae, 2, signed=True)}</td>'
        f'<td data-col="mfe" class="{_sign(t.mfe) if t.mfe else ""}">{fmt_pct(t.mfe, 2, signed=True)}</td>'
        f'<td class="name">{_e(t.exit_reason)}</td></tr>' for i, t in enumerate(shown))
    px_head = "<th>entry price</th><th>exit price</th>" if has_px else ""
    note = (f"showing the last {len(shown):,} of {len(d.trades):,} trades; " if first else
            f"{len(d.trades):,} closed trades; ")
    note += ("return = net pnl / entry notional; MAE / MFE = worst / best price move against / for the position "
             "while it was held, from the bars' highs and lows, in % of the entry price")
    return (f'<div class="scroll"><table id="trades-table"><thead><tr><th>#</th><th class="name">side</th>'
            f"<th>entry (UTC)</th><th>exit (UTC)</th><th>duration</th>{px_head}<th>return</th><th>net pnl</th>"
            f'<th>MAE</th><th>MFE</th><th class="name">exit reason</th></tr></thead><tbody>{rows}</tbody></table>'
            f'</div><p class="caption">{_e(note)}</p>')


def _fmt_param(v: int | float | None) -> str:
    """A parameter value as the search chose it: integers with separators, floats to 4 significant digits."""
    if v is None:
        return "n/a"
    return f"{v:,}" if isinstance(v, int) else f"{v:.4g}"


def _param_cell(v: int | float, lo: float, hi: float, attrs: str) -> str:
    pos = 0.5 if hi <= lo else min(max((v - lo) / (hi - lo), 0.0), 1.0)
    text = _fmt_param(v)
    return (f'<td{attrs} data-pos="{pos:.3f}" style="background: rgba(88, 166, 255, {0.1 + 0.75 * pos:.3f})">'
            f"{_e(text)}</td>")


def _windows(d: TearsheetData) -> str:
    if not d.oos_windows:
        return ""
    names = sorted({k for w in d.oos_windows for k in w.params})
    rows = "".join(
        f'<tr data-window="{_e(w.label)}"><td class="name">{_e(w.label)}</td><td>{fmt_time(w.start)}</td>'
        f"<td>{fmt_time(w.end)}</td>"
        + "".join(f'<td data-param="{_e(n)}">{_e(_fmt_param(w.params.get(n)))}</td>' for n in names)
        + f"<td>{fmt_value(w.train_score, 'ratio')}</td><td>{fmt_value(w.validation_score, 'ratio')}</td>"
        f"<td>{fmt_value(w.n_trials, 'count')}</td></tr>" for w in d.oos_windows)
    heads = "".join(f"<th>{_e(n)}</th>" for n in names)
    table = (f'<div class="scroll"><table id="window-params"><thead><tr><th class="name">window</th>'
             f"<th>target start (UTC)</th><th>target end</th>{heads}<th>train score</th><th>validation score</th>"
             f"<th>trials</th></tr></thead><tbody>{rows}</tbody></table></div>")
    if not names:
        return (f'<section class="panel" id="windows"><h2>Walk-forward windows</h2>{table}'
                f'{_empty("param-stability", "the Spec has no search space: every window used the same parameters")}'
                "</section>")
    hrows = []
    wheads = "".join(f"<th>{_e(w.label)}</th>" for w in d.oos_windows)
    for n in names:
        vals = [w.params[n] for w in d.oos_windows if n in w.params]
        lo, hi = d.param_space.get(n, (float(min(vals)), float(max(vals))))
        spread = (max(vals) - min(vals)) / (hi - lo) if hi > lo and vals else None
        text, level = verdicts.param_stability_verdict(n, spread, len(vals))
        cells = "".join(_param_cell(w.params[n], lo, hi, f' data-window="{_e(w.label)}"') if n in w.params
                        else '<td class="empty-cell"></td>' for w in d.oos_windows)
        hrows.append(f'<tr data-param="{_e(n)}"><td class="name">{_e(n)}</td><td>{lo:g} to {hi:g}</td>{cells}'
                     f'<td class="name"><p class="verdict" data-level="{level}">{_e(text)}</p></td></tr>')
    heat = (f'<div class="scroll"><table class="heat" id="param-stability"><thead><tr><th class="name">parameter'
            f'</th><th>search range</th>{wheads}<th class="name">stability</th></tr></thead>'
            f'<tbody>{"".join(hrows)}</tbody></table></div>')
    return (f'<section class="panel" id="windows"><h2>Walk-forward windows: chosen parameters</h2>{table}'
            f'<p class="caption">Each window searched its train segment and traded the chosen parameters on its target '
            f"segment (the shaded bands above).</p><h2>Parameter stability</h2>{heat}"
            f'<p class="caption">Cell shade = where the chosen value sits in the search range (light = low end, '
            f"dark = high end); stable when the values span at most {verdicts.THRESHOLDS.param_stable * 100:.0f}% "
            f"of the range.</p></section>")


_INSTRUMENT_COLS = (("sharpe", "Sharpe", "ratio"), ("total_return", "return", "return"),
                    ("max_drawdown", "max drawdown", "return"), ("trades", "trades", "count"),
                    ("bh_total_return", "buy and hold", "return"))


def _instrument_row(r: InstrumentRow, attrs: str) -> str:
    cells = "".join(f'<td data-col="{k}" class="{sign_class(getattr(r, k), unit)}">'
                    f"{_e(fmt_value(getattr(r, k), unit))}</td>" for k, _, unit in _INSTRUMENT_COLS)
    return f'<tr data-symbol="{_e(r.symbol)}"{attrs}><td class="name">{_e(r.symbol)}</td>{cells}</tr>'


def _correlation_cell(a: str, b: str, x: float | None) -> str:
    attrs = f' data-row="{_e(a)}" data-col="{_e(b)}"'
    if x is None or not math.isfinite(x):
        return f'<td class="empty-cell"{attrs}>n/a</td>'
    return f"<td{attrs}{_heat_style(x, 1.0)}>{x:.2f}</td>"


def _universe(d: TearsheetData) -> str:
    """`#universe`: each instrument beside the portfolio, the consistency and the return correlation."""
    u = d.universe
    if u is None:
        return ""
    heads = "".join(f"<th>{_e(label)}</th>" for _, label, _ in _INSTRUMENT_COLS)
    rows = "".join(_instrument_row(r, f' data-carrier="{"yes" if r.symbol in u.carrier_symbols else "no"}"')
                   for r in u.members)
    table = (f'<div class="scroll"><table id="universe-members"><thead><tr><th class="name">instrument</th>{heads}'
             f'</tr></thead><tbody>{rows}</tbody><tfoot>{_instrument_row(u.portfolio, " data-row=\"portfolio\"")}'
             "</tfoot></table></div>")
    text, level = verdicts.consistency_verdict(u.carriers, len(u.members), u.metric, u.threshold)
    cons = (f'<p class="verdict" id="universe-consistency" data-carriers="{u.carriers}" '
            f'data-members="{len(u.members)}" data-level="{level}">{_e(text)}</p>')
    names = [r.symbol for r in u.members]
    if u.correlation:
        body = "".join(f'<tr data-symbol="{_e(a)}"><td class="name">{_e(a)}</td>'
                       + "".join(_correlation_cell(a, b, u.correlation.get(a, {}).get(b)) for b in names) + "</tr>"
                       for a in names)
        corr = (f'<h2>Correlation of instrument returns</h2><div class="scroll"><table class="heat narrow" '
                f'id="universe-correlation"><thead><tr><th class="name"></th>'
                f'{"".join(f"<th>{_e(b)}</th>" for b in names)}</tr></thead><tbody>{body}</tbody></table></div>'
                '<p class="caption">Pearson correlation of the instruments\' daily out-of-sample NAV returns '
                "(green positive, red negative).</p>")
    else:
        corr = _empty("universe-correlation", "no correlation of member returns stored")
    return (f'<section class="panel" id="universe"><h2>Instruments and portfolio (out-of-sample)</h2>{table}'
            f'<p class="caption">Each instrument\'s sleeve as the portfolio traded it; buy and hold of the '
            f"instrument over the same span (n/a where not stored); the portfolio row's buy and hold is the "
            f"equal-weight basket.</p>{cons}{corr}</section>")


def _holdout(d: TearsheetData) -> str:
    ho = d.holdout
    if ho is None:
        return ""
    span = f"{fmt_time(ho.start)} to {fmt_time(ho.end)} UTC"
    state = "scored" if ho.scored else "sealed"
    body = (f'<p class="holdout-label" id="holdout-label">{_e(ho.label)}</p><p class="caption">{span}; '
            + ("scored once, at freeze, with the last window's parameters; its curve is not redrawn here (reading "
               "the holdout bars is the one audited read)." if ho.scored else
               "no search, experiment or report reads these bars before an archive record is frozen.") + "</p>")
    shown = [m for m in d.metrics if m.group == "holdout"]
    if shown:
        body += (f'<div class="metric-group metric-list cols2" data-group="holdout">'
                 f'{"".join(_metric_row(m.model_copy(update={"verdict": None})) for m in shown)}</div>')
    return f'<section class="panel" id="holdout" data-holdout="{state}"><h2>Holdout</h2>{body}</section>'


def _price(d: TearsheetData) -> str:
    if d.price is None:
        return (f'<section class="panel" id="price"><h2>Price, entries and exits</h2>'
                f'{_empty("price", "no stored bars for this object (a bare artifacts directory): no price chart")}'
                "</section>")
    legend = ", ".join(o.name for o in d.price.overlays) or "none drawn"
    return (f'<section class="panel" id="price"><h2>Price, entries and exits</h2><div id="fig-price"></div>'
            f'<p class="caption">{_e(d.price.caption)}. Indicators: {_e(legend)}. Triangles: entries (up = long, '
            f"down = short); crosses: exits (green = winning trade).</p></section>")


def _rolling(d: TearsheetData, figures: dict[str, Any]) -> str:
    st = rolling_stats(d.equity, d.annualization_basis or 365)
    if not np.isfinite(st.sharpe).any():
        return _empty("rolling", f"fewer than {st.window} daily returns: no rolling window fits")
    figures["fig-rolling"] = rolling_figure(st)
    return (f'<div id="fig-rolling"></div><p class="caption">Over {st.window} UTC days of daily NAV returns, '
            f"annualized with {d.annualization_basis or 365} days per year (the engine's Sharpe on each window).</p>")


def _appendix(d: TearsheetData) -> str:
    rows = d.raw or d.metrics
    body = "".join(f'<div class="metric" data-raw="{_e(m.name)}"><span class="name">{_e(m.name)}</span>'
                   f"<span>{_e(fmt_metric(m))}</span></div>" for m in rows)
    return (f'<details class="appendix panel" id="appendix-raw"><summary>Appendix: all {len(rows):,} raw values'
            f'</summary><div class="metrics">{body}</div></details>')


def render_html(d: TearsheetData) -> str:
    """The complete page for `d` (a pure function of `d` and the installed plotly version)."""
    figures: dict[str, Any] = {"fig-equity": equity_figure(d)}
    trades_panel = _empty("trade-distribution", "no closed trades")
    if d.trades:
        figures["fig-trades"] = trades_figure(d)
        trades_panel = '<div id="fig-trades"></div>'
    mc_panel = _empty("monte-carlo", "no Monte Carlo simulation (fewer than two trades)")
    if d.monte_carlo is not None:
        figures["fig-mc"] = montecarlo_figure(d.monte_carlo)
        mc = d.monte_carlo
        mc_panel = (f'<div id="fig-mc"></div><p class="caption">{_e(mc.method)}, {mc.n_sims:,} simulations, '
                    f"seed {mc.seed}; bands between symmetric quantiles of simulated equity</p>")
    rolling = _rolling(d, figures)
    price = _price(d)
    if d.price is not None:
        figures["fig-price"] = price_figure(d)
    figures_json = "{" + ",".join(f"{json.dumps(k)}:{to_json_plotly(v)}" for k, v in figures.items()) + "}"
    n_win = len(d.oos_windows)
    eq_caption = ("Drawdown = NAV / running peak - 1." +
                  (f" Dashed: {d.benchmark_label}" + (" of the members" if d.universe else " of the same instrument")
                   + " over the same span." if d.benchmark else
                   " No buy-and-hold curve in these artifacts.") +
                  (f" Shaded bands: {n_win} out-of-sample window{'s' if n_win != 1 else ''}." if n_win else "") +
                  (" Violet band: the holdout (" + ("scored once at freeze" if d.holdout and d.holdout.scored
                                                    else "sealed") + ")." if d.holdout else ""))
    return f"""<!DOCTYPE html>
<html lang="en" data-render="pending" data-kind="{d.kind}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="auraquant {_e(__version__)}, plotly.js {_e(plotly.__version__)}">
<title>{_e(d.title)}</title>
<style>{_CSS}</style>
<script>{_ERROR_CAPTURE}</script>
<script>{_plotly_js()}</script>
</head>
<body>
<main>
{_header(d)}
<pre id="render-errors"></pre>
{_kpis(d)}
{_glance(d)}
<section class="panel" id="equity"><div class="toolbar"><h2>Equity against {_e(d.benchmark_label)}</h2>
<button type="button" class="toggle" id="equity-log-toggle" data-scale="linear">log scale</button></div>
<div id="fig-equity" data-scale="linear"></div>
<p class="caption">{_e(eq_caption)}</p></section>
{_holdout(d)}
{_universe(d)}
{_metric_groups(d)}
<div class="grid2">
<section class="panel" id="rolling"><h2>Rolling Sharpe and volatility</h2>{rolling}</section>
<section class="panel" id="drawdowns"><h2>Worst drawdowns</h2>{_drawdowns(d)}</section>
</div>
<section class="panel" id="monthly"><h2>Monthly returns</h2>{_monthly(d)}
<p class="caption">Month-end NAV over the previous month-end NAV (UTC); the year column compounds the months.</p>
</section>
{price}
{_windows(d)}
<div class="grid2">
<section class="panel" id="trade-distribution"><h2>Trade distribution</h2>{trades_panel}</section>
<section class="panel" id="monte-carlo"><h2>Monte Carlo</h2>{mc_panel}</section>
</div>
<section class="panel" id="trades"><h2>Trades</h2>{_trades_table(d)}</section>
<section class="panel" id="settings"><h2>How these numbers were computed</h2>{_settings(d)}</section>
{_appendix(d)}
<footer>Generated by AuraQuant {_e(__version__)}. Metrics are shown as computed by the engine; this page derives
only the drawdown curve and table, the monthly and rolling returns, the price chart's indicators and each trade's
MAE / MFE from the equity curve and the bars. Self-contained file: no network access.</footer>
</main>
<script>
var FIGURES = {_script_json(figures_json)};
var CONFIG = {_script_json(_PLOTLY_CONFIG)};
{_RENDER}
</script>
</body>
</html>
"""
