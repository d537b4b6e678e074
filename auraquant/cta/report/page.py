"""The tearsheet HTML page: one self-contained file (CSS, data and plotly.js inline; no network at view time).

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

import plotly
from plotly.io.json import to_json_plotly

from auraquant import __version__
from auraquant.cta.report import theme
from auraquant.cta.report.figures import equity_figure, montecarlo_figure, trades_figure
from auraquant.cta.report.formatting import fmt_metric, fmt_pct, fmt_time, sign_class
from auraquant.cta.report.model import TearsheetData
from auraquant.cta.report.transforms import monthly_returns

MAX_TRADE_ROWS = 1000
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
.monthly td {{ min-width: 58px; }}
.monthly td.year {{ font-weight: 600; border-left: 1px solid {theme.BORDER}; }}
.empty {{ color: {theme.MUTED}; font-style: italic; }}
#render-errors {{ display: none; background: #3d1214; border: 1px solid {theme.LOSS}; color: #ffdcd7;
  border-radius: 8px; padding: 10px 14px; white-space: pre-wrap; }}
html[data-render="error"] #render-errors {{ display: block; }}
footer {{ color: {theme.MUTED}; font-size: 12px; margin-top: 8px; }}
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
  try {
    var ids = Object.keys(FIGURES);
    Promise.all(ids.map(function (id) {
      return Plotly.newPlot(id, FIGURES[id].data, FIGURES[id].layout, CONFIG);
    })).then(function () {
      var drawn = ids.filter(function (id) { return document.getElementById(id).querySelector(".main-svg"); });
      root.setAttribute("data-figures", String(drawn.length));
      if (drawn.length !== ids.length) { fail("figures not drawn: " + ids.length + " expected, " + drawn.length + " drawn"); return; }
      if (window.__aqErrors.length) { fail("errors during rendering"); return; }
      root.setAttribute("data-render", "ready");
    }, fail);
  } catch (err) { fail(err); }
})();
"""


def _header(d: TearsheetData) -> str:
    chips = "".join(f'<span class="chip">{_e(k)} <code>{_e(v)}</code></span>' for k, v in d.ids.items())
    sub = f'<p class="subtitle">{_e(d.subtitle)}</p>' if d.subtitle else ""
    return f'<header><div><h1>{_e(d.title)}</h1>{sub}</div><div class="ids">{chips}</div></header>'


def _kpis(d: TearsheetData) -> str:
    cards = "".join(f'<div class="kpi"><div class="label">{_e(m.name)}</div>'
                    f'<div class="value {sign_class(m.value, m.unit)}">{_e(fmt_metric(m))}</div></div>'
                    for m in d.headline_metrics())
    return f'<section class="kpis">{cards}</section>' if cards else ""


def _metrics_table(d: TearsheetData) -> str:
    if not d.metrics:
        return '<p class="empty">no metrics given</p>'
    rows = "".join(f'<div class="metric"><span class="name">{_e(m.name)}</span>'
                   f'<span class="{sign_class(m.value, m.unit)}">{_e(fmt_metric(m))}</span></div>' for m in d.metrics)
    return f'<div class="metrics">{rows}</div>'


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


def _cell(x: float, extra_class: str = "") -> str:
    sign = "" if not math.isfinite(x) else "pos" if x > 0 else "neg" if x < 0 else ""
    text = fmt_pct(x, 1) if math.isfinite(x) else ""
    return f'<td class="{" ".join(c for c in (extra_class, sign) if c)}">{text}</td>'


def _monthly(d: TearsheetData) -> str:
    mt = monthly_returns(d.equity)
    head = "".join(f"<th>{m}</th>" for m in _MONTHS)
    body = "".join(f'<tr><td class="name">{y}</td>{"".join(_cell(x) for x in row)}'
                   f'{_cell(tot, "year")}</tr>'
                   for y, row, tot in zip(mt.years, mt.months, mt.year_total, strict=True))
    return (f'<table class="monthly"><thead><tr><th class="name">year</th>{head}<th>year</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _trades_table(d: TearsheetData) -> str:
    if not d.trades:
        return '<p class="empty">no closed trades</p>'
    shown = d.trades[-MAX_TRADE_ROWS:]
    first = len(d.trades) - len(shown)
    rows = "".join(
        f'<tr><td>{first + i + 1}</td><td class="name">{"long" if t.side > 0 else "short"}</td>'
        f"<td>{fmt_time(t.entry_time)}</td><td>{fmt_time(t.exit_time)}</td>"
        f'<td class="{"pos" if t.ret > 0 else "neg" if t.ret < 0 else ""}">{fmt_pct(t.ret, 2, signed=True)}</td>'
        f'<td class="{"pos" if t.pnl > 0 else "neg" if t.pnl < 0 else ""}">{t.pnl:,.2f}</td>'
        f'<td class="name">{_e(t.exit_reason)}</td></tr>' for i, t in enumerate(shown))
    note = (f'<p class="caption">showing the last {len(shown):,} of {len(d.trades):,} trades</p>'
            if first else f'<p class="caption">{len(d.trades):,} closed trades; return = net pnl / entry notional</p>')
    return (f'<div class="scroll"><table><thead><tr><th>#</th><th class="name">side</th><th>entry (UTC)</th>'
            f'<th>exit (UTC)</th><th>return</th><th>net pnl</th><th class="name">exit reason</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>{note}")


def _windows_table(d: TearsheetData) -> str:
    rows = "".join(f'<tr><td class="name">{_e(w.label)}</td><td>{fmt_time(w.start)}</td><td>{fmt_time(w.end)}</td></tr>'
                   for w in d.oos_windows)
    return (f'<section class="panel"><h2>Out-of-sample windows</h2><div class="scroll"><table class="narrow"><thead><tr>'
            f'<th class="name">window</th><th>start (UTC)</th><th>end (UTC)</th></tr></thead><tbody>{rows}'
            f"</tbody></table></div></section>")


def render_html(d: TearsheetData) -> str:
    """The complete page for `d` (a pure function of `d` and the installed plotly version)."""
    figures: dict[str, Any] = {"fig-equity": equity_figure(d)}
    trades_panel = '<p class="empty">no closed trades</p>'
    if d.trades:
        figures["fig-trades"] = trades_figure(d)
        trades_panel = '<div id="fig-trades"></div>'
    mc_panel = '<p class="empty">no Monte Carlo simulation given</p>'
    if d.monte_carlo is not None:
        figures["fig-mc"] = montecarlo_figure(d.monte_carlo)
        mc = d.monte_carlo
        mc_panel = (f'<div id="fig-mc"></div><p class="caption">{_e(mc.method)}, {mc.n_sims:,} simulations, '
                    f"seed {mc.seed}; bands between symmetric quantiles of simulated equity</p>")
    figures_json = "{" + ",".join(f"{json.dumps(k)}:{to_json_plotly(v)}" for k, v in figures.items()) + "}"
    n_win = len(d.oos_windows)
    eq_caption = ("Drawdown = NAV / running peak - 1." +
                  (f" Dashed: {d.benchmark_label} of the same instrument over the same span." if d.benchmark else "") +
                  (f" Shaded bands: {n_win} out-of-sample window{'s' if n_win != 1 else ''}." if n_win else ""))
    return f"""<!DOCTYPE html>
<html lang="en" data-render="pending">
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
<section class="panel"><h2>Equity and drawdown</h2><div id="fig-equity"></div>
<p class="caption">{_e(eq_caption)}</p></section>
<div class="grid2">
<section class="panel"><h2>Metrics</h2>{_metrics_table(d)}</section>
<section class="panel"><h2>How these numbers were computed</h2>{_settings(d)}</section>
</div>
<section class="panel"><h2>Monthly returns</h2>{_monthly(d)}
<p class="caption">Month-end NAV over the previous month-end NAV (UTC); the year column compounds the months.</p>
</section>
<div class="grid2">
<section class="panel"><h2>Trade distribution</h2>{trades_panel}</section>
<section class="panel"><h2>Monte Carlo</h2>{mc_panel}</section>
</div>
{_windows_table(d) if d.oos_windows else ""}
<section class="panel"><h2>Trades</h2>{_trades_table(d)}</section>
<footer>Generated by AuraQuant {_e(__version__)}. Metrics are shown as computed by the engine; this page derives
only the drawdown curve and the monthly returns from the equity curve. Self-contained file: no network access.</footer>
</main>
<script>
var FIGURES = {_script_json(figures_json)};
var CONFIG = {_script_json(_PLOTLY_CONFIG)};
{_RENDER}
</script>
</body>
</html>
"""
