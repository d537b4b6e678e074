"""`auraquant backtest`: run one Spec on bars, print a rich (or `--json`) report, save artifacts.

Mount it in `auraquant/cli.py` with `register(app)` (adds the `backtest` command to the root app). `app`
is a standalone single-command Typer running the same function (`python -m auraquant.cta.backtest.cli`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from auraquant.canonical import canonical_json
from auraquant.console import console, error_message, fail, say

app = typer.Typer(add_completion=False, help="Backtest a strategy Spec on bars (deterministic, numba kernel).")


def _load_frame(data: Path) -> pd.DataFrame:
    if data.suffix == ".parquet":
        frame = pd.read_parquet(data)
    elif data.suffix == ".csv":
        frame = pd.read_csv(data, float_precision="round_trip")  # exact decimal -> float64
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
    else:
        raise typer.BadParameter(f"--data must be .parquet or .csv, got {data}")
    return frame


def _bars(data: Path | None, data_version: str | None, slice_id: str | None, workspace: Path | None,
          start: str | None, end: str | None) -> tuple[pd.DataFrame, object | None]:
    """The bars to test and the workspace (if any), through the data access layer: a stored version or slice
    stops at its sealed holdout, and a file's rows from the first sealed bar of the workspace on are cut."""
    from auraquant.cta.data import access
    from auraquant.ids import resolve_id
    from auraquant.workspace import Workspace

    if sum(x is not None for x in (data, data_version, slice_id)) != 1:
        raise typer.BadParameter("give exactly one of --data FILE, --data-version ID or --slice ID (with --workspace)")
    for text, flag in ((start, "--start"), (end, "--end")):
        if text is not None:
            _utc(text, flag)  # a malformed bound is refused before any data is read
    if data is not None or slice_id is not None:  # a version applies the range in the access layer itself
        frame, ws = _source_bars(data, slice_id, workspace)
        return _time_range(frame, start, end), ws
    ws = Workspace.open(workspace or Path("."))
    data_version = resolve_id(ws.store, str(data_version))  # a unique prefix names the full id from here on
    sealed = access.holdout_start(ws.store, data_version)
    if sealed is not None and end is None:
        typer.echo(f"note: bars stop at the sealed holdout of {data_version} (from {sealed})", err=True)
    return access.research_bars(ws.store, data_version, start, end), ws


def _time_range(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    """Bars with `start <= time < end` (UTC; either bound optional); refuses a range that leaves no bar."""
    if start is None and end is None:
        return frame
    lo, hi = (None if t is None else _utc(t, flag) for t, flag in ((start, "--start"), (end, "--end")))
    keep = pd.Series(True, index=frame.index)
    if lo is not None:
        keep &= frame["time"] >= lo
    if hi is not None:
        keep &= frame["time"] < hi
    out = frame.loc[keep].reset_index(drop=True)
    if out.empty:
        raise ValueError(f"no bars in [{start or 'first'}, {end or 'last'})")
    return out


def _utc(text: str, flag: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise typer.BadParameter(f"{flag} {text!r} is not a date or time (e.g. 2023-01-01 or 2023-01-01T12:00)") \
            from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _source_bars(data: Path | None, slice_id: str | None, workspace: Path | None
                 ) -> tuple[pd.DataFrame, object | None]:
    """The bars of a file or a stored slice (see `_bars`)."""
    from auraquant.cta.data import access, service
    from auraquant.ids import resolve_id
    from auraquant.workspace import NotAWorkspace, Workspace

    if data is not None:
        try:  # a file is checked against the holdouts of the workspace it is used in, when there is one
            ws = Workspace.open(workspace or Path("."))
        except NotAWorkspace:
            if workspace is not None:
                raise
            return _load_frame(data), None
        raw = _load_frame(data)
        frame = access.unsealed_frame(ws.store, raw, f"--data {data.name}")
        if len(frame) < len(raw):  # stderr: --json output stays one document
            typer.echo(f"note: the {len(raw) - len(frame)} rows of {data.name} after {frame['time'].iloc[-1]} are "
                       "sealed holdout bars of this workspace and were not read", err=True)
        return frame, ws
    ws = Workspace.open(workspace or Path("."))
    return service.slice_bars(ws.store, ws.store.get_data_slice(resolve_id(ws.store, str(slice_id)))), ws


#: costs of a Spec built from flags when --commission-bps / --slippage-bps are not given: a liquid crypto
#: pair's taker fee and a small market-impact allowance, per side (a Spec file keeps its own engine costs)
FLAGS_MODE_COSTS = {"commission_bps": 5.0, "slippage_bps": 2.0}


def zero_cost_warning(spec: object) -> str | None:
    """The warning shown when a Spec trades for free (both costs 0), else None."""
    eng = spec.engine  # type: ignore[attr-defined]
    if eng.commission_bps == 0 and eng.slippage_bps == 0:
        return ("warning: zero trading costs (commission and slippage 0 bps per side): results overstate what "
                "trading earns; set --commission-bps / --slippage-bps or the Spec's engine costs")
    return None


def _parse_value(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _stored_or_file_spec(spec_file: Path, ws: object | None) -> object:
    """The Spec in `spec_file`, or, when no such file exists and a workspace is open, the stored Spec of that
    id (or unique id prefix): `--spec` takes either, as in `experiment run`."""
    from auraquant.cta.strategy.spec import Spec
    from auraquant.ids import resolve_id

    if spec_file.is_dir():
        raise ValueError(f"--spec {spec_file} is a directory; give a Spec JSON file or a stored spec id")
    if not spec_file.exists() and ws is not None and str(spec_file).startswith("spec_"):
        store = ws.store  # type: ignore[attr-defined]
        return store.get_object("spec", resolve_id(store, str(spec_file)), Spec)
    try:
        return Spec.model_validate_json(spec_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"--spec {spec_file} is not a text file (a Spec is JSON)") from None


def _build_spec(spec_file: Path | None, baseline: str | None, filters: list[str], executions: list[str],
                risks: list[str], params: list[str], engine: dict, ws: object | None = None) -> object:
    from auraquant.cta.strategy.spec import Spec, apply_params

    if spec_file is not None:
        spec = _stored_or_file_spec(spec_file, ws)
        if any(v is not None for v in engine.values()):
            spec = spec.model_copy(update={"engine": spec.engine.model_copy(
                update={k: v for k, v in engine.items() if v is not None})})
            spec = Spec.model_validate(spec.model_dump())
    else:
        if baseline is None:
            raise typer.BadParameter("give a SPEC file or --baseline NAME")
        spec = Spec(baseline={"name": baseline}, filters=[{"name": f} for f in filters],
                    execution=[{"name": e} for e in executions], risk=[{"name": r} for r in risks],
                    engine=FLAGS_MODE_COSTS | {k: v for k, v in engine.items() if v is not None})
    flat = {}
    for item in params:
        if "=" not in item:
            raise typer.BadParameter(f"--param expects path=value, got {item!r}")
        path, value = item.split("=", 1)
        flat[path.strip()] = _parse_value(value.strip())
    return apply_params(spec, flat) if flat else spec


def _print_report(report, out_dir: Path | None) -> None:
    table = Table(title=f"Backtest {report.spec_id}  ({report.data_from} .. {report.data_to}, {report.bars} bars)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    pct = {"total_return", "ann_return", "ann_volatility", "max_drawdown", "win_rate", "exposure", "var_95",
           "cvar_95", "avg_trade_return"}
    for name in ("total_return", "ann_return", "ann_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                 "trades", "win_rate", "profit_factor", "expectancy", "avg_trade_return", "exposure", "turnover",
                 "var_95", "cvar_95", "psr", "final_nav"):
        v = getattr(report, name)
        text = "n/a" if v is None else (f"{v:.2%}" if name in pct else (f"{v:,.4f}" if isinstance(v, float) else str(v)))
        table.add_row(name, text)
    if report.buy_and_hold is not None:
        from auraquant.cta.backtest.metrics import buy_and_hold_metrics

        for name, v in buy_and_hold_metrics(report.buy_and_hold).items():
            text = "n/a" if v is None else (f"{v:.2%}" if name.endswith(("return", "drawdown")) else f"{v:,.4f}")
            table.add_row(name, text)
    console.print(table)
    console.print(f"fill={report.fill}{' (OPTIMISTIC: same-bar close fills)' if report.fill_optimistic else ''}  "
                  f"intrabar={report.intrabar_policy}  commission={report.commission_bps} bps/side  "
                  f"slippage={report.slippage_bps} bps/side  annualization={report.annualization_basis} days/year")
    console.print(f"semantics: {report.semantics}")
    if report.buy_and_hold is not None:
        from auraquant.cta.backtest.metrics import BUY_AND_HOLD_SEMANTICS

        console.print(f"bh_*: {BUY_AND_HOLD_SEMANTICS}; excess_* = strategy - buy and hold", highlight=False)
    if out_dir is not None:
        say(f"artifacts: {out_dir}")


def backtest(
    spec_file: Annotated[Path | None, typer.Argument(help="Spec JSON file (omit to build one from flags)")] = None,
    spec_opt: Annotated[Path | None, typer.Option("--spec", help="Spec JSON file or stored spec id (same as the "
                                                  "SPEC argument)")] = None,
    data: Annotated[Path | None, typer.Option(help="bars file: .parquet or .csv (time, open, high, low, close, volume)")] = None,
    data_version: Annotated[str | None, typer.Option(help="DataVersion id in --workspace")] = None,
    slice_: Annotated[str | None, typer.Option("--slice", help="DataSlice id in --workspace")] = None,
    start: Annotated[str | None, typer.Option(help="first bar time (UTC), for any data source")] = None,
    end: Annotated[str | None, typer.Option(help="exclusive end time (UTC), for any data source")] = None,
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w",
                                                   help="workspace directory (data versions, cta_runtime/)")] = None,
    baseline: Annotated[str | None, typer.Option(help="baseline module name (flags mode)")] = None,
    filter_: Annotated[list[str] | None, typer.Option("--filter", help="filter module (repeatable)")] = None,
    execution: Annotated[list[str] | None, typer.Option(help="execution module (repeatable)")] = None,
    risk: Annotated[list[str] | None, typer.Option(help="risk module (repeatable)")] = None,
    param: Annotated[list[str] | None, typer.Option(help="path=value, e.g. baseline.fast=12 (repeatable)")] = None,
    fill: Annotated[str | None, typer.Option(help="next_open | same_close")] = None,
    intrabar: Annotated[str | None, typer.Option(help="stop_first | ohlc_path | candle_color")] = None,
    commission_bps: Annotated[float | None, typer.Option(help="commission per side, bps (flags mode default "
                                                         f"{FLAGS_MODE_COSTS['commission_bps']:g})")] = None,
    slippage_bps: Annotated[float | None, typer.Option(help="slippage per side, bps (flags mode default "
                                                       f"{FLAGS_MODE_COSTS['slippage_bps']:g})")] = None,
    capital: Annotated[float | None, typer.Option(help="initial capital")] = None,
    annualization: Annotated[int | None, typer.Option(help="365 (24/7) or 252 (exchange calendar)")] = None,
    sides: Annotated[str | None, typer.Option(help="both | long | short")] = None,
    modules_dir: Annotated[Path | None, typer.Option(help="extra module root (<dir>/<kind>/<name>.py)")] = None,
    out: Annotated[Path | None, typer.Option(help="artifact directory (default: artifacts/backtest-<spec id>)")] = None,
    no_artifacts: Annotated[bool, typer.Option("--no-artifacts", help="metrics only, save nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    universe: Annotated[str | None, typer.Option(help="universe id in --workspace: the Spec on every member, "
                                                      "sized equal weight into one portfolio")] = None,
) -> None:
    """Run a backtest. Data from --data FILE, --data-version ID or --slice ID (--workspace DIR), or on every
    member of a universe (--universe ID).

    Bars never reach into a sealed holdout: a version without --end stops at it, a range or slice into it is
    refused, and a file's rows from the first bar sealed in the workspace on are cut."""
    from auraquant.cta.backtest.artifacts import save_artifacts
    from auraquant.cta.backtest.engine import run_backtest
    from auraquant.cta.backtest.lookahead_gate import require_causal, workspace_cache_dir
    from auraquant.cta.sandbox import isolation
    from auraquant.cta.sandbox.errors import ModuleSandboxError

    if spec_file is not None and spec_opt is not None and spec_file != spec_opt:
        raise typer.BadParameter(f"two Spec files given: {spec_file} and --spec {spec_opt}; give one")
    spec_file = spec_file or spec_opt
    if modules_dir is not None and not modules_dir.is_dir():
        raise typer.BadParameter(f"--modules-dir {modules_dir}: " + ("not a directory" if modules_dir.exists()
                                                                     else "no such directory"))
    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"--out {out}: a file is there; give a directory")

    engine = {"fill": fill, "intrabar": intrabar, "commission_bps": commission_bps, "slippage_bps": slippage_bps,
              "initial_capital": capital, "annualization": annualization, "sides": sides}
    extra_dir = modules_dir
    cache_dir = None
    if universe is not None:
        _universe_backtest(universe, workspace, spec_file, baseline, filter_ or [], execution or [], risk or [],
                           param or [], engine, start, end, modules_dir, as_json)
        return
    # HoldoutSealed, a missing file or data version: rendered as one line by the root error handler
    frame, ws = _bars(data, data_version, slice_, workspace, start, end)
    if ws is not None:
        extra_dir = extra_dir or ws.runtime_dir  # type: ignore[attr-defined]
        cache_dir = workspace_cache_dir(ws)  # type: ignore[arg-type]
        out = out or (ws.artifacts / "backtests" if data is None else None)  # type: ignore[attr-defined]
    try:
        spec = _build_spec(spec_file, baseline, filter_ or [], execution or [], risk or [], param or [], engine,
                           ws)
        # mandatory: modules that are not built in must pass the look-ahead check on these very bars
        require_causal(spec, frame, extra_dir, cache_dir=cache_dir)
        result = run_backtest(frame, spec, record=not no_artifacts, extra_dir=extra_dir)
        level = isolation.spec_isolation(spec, extra_dir)
    except (ValueError, LookupError, TypeError, ModuleSandboxError) as exc:  # refused Spec or module: exit 2
        fail(error_message(exc), as_json=as_json, kind=type(exc).__name__, code=2)
    warning = zero_cost_warning(spec)
    if warning:  # stderr: --json output stays one document
        typer.echo(warning, err=True)
    out_dir = None
    if not no_artifacts:
        out_dir = (out or Path("artifacts")) / f"backtest-{spec.id}"
        save_artifacts(result, out_dir)
        (out_dir / "spec.json").write_bytes(canonical_json(spec.model_dump(mode="json") | {"id": spec.id}))
    if as_json:
        body = result.report.model_dump(mode="json") | {"id": result.report.id,
                                                        "artifacts": str(out_dir) if out_dir else None,
                                                        "isolation": level}
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
    else:
        _print_report(result.report, out_dir)
        if level is not None:
            typer.echo(f"agent-written modules ran in the sandbox worker ({level})")


def _universe_backtest(universe: str, workspace: Path | None, spec_file: Path | None, baseline: str | None,
                       filters: list[str], executions: list[str], risks: list[str], params: list[str],
                       engine: dict[str, object], start: str | None, end: str | None, modules_dir: Path | None,
                       as_json: bool) -> None:
    from auraquant.cta.backtest.lookahead_gate import require_causal, workspace_cache_dir
    from auraquant.cta.backtest.portfolio import Sizing, run_portfolio_backtest
    from auraquant.cta.universe import service
    from auraquant.cta.universe.align import align
    from auraquant.workspace import Workspace

    ws = Workspace.open(workspace or Path("."))
    try:
        spec = _build_spec(spec_file, baseline, filters, executions, risks, params, engine)
        uv = service.get(ws.store, universe)
        frames = service.research_frames(ws.store, uv, start, end)  # never a sealed bar of any member
        extra_dir = modules_dir or ws.runtime_dir
        for frame in frames.values():  # mandatory look-ahead check of agent-written modules, on every member
            require_causal(spec, frame, extra_dir, cache_dir=workspace_cache_dir(ws))
        res = run_portfolio_backtest(align(frames), spec, Sizing(), extra_dir=extra_dir)
        out = {"universe_id": uv.id, **res.summary()}
    except (ValueError, LookupError, TypeError) as exc:
        fail(error_message(exc), as_json=as_json, kind=type(exc).__name__, code=2)
    if as_json:
        typer.echo(json.dumps(out, indent=2, sort_keys=True, default=str))
        return
    p = out["portfolio"]
    say(f"portfolio {out['report_id']} on {universe}: sharpe={p['sharpe']} max_drawdown={p['max_drawdown']} "
        f"total_return={p['total_return']} trades={p['trades']}")
    for sym, m in out["members"].items():
        say(f"  {sym}: sharpe={m['sharpe']} max_drawdown={m['max_drawdown']} trades={m['trades']}")
    bh = out["basket_buy_and_hold"]
    say(f"  equal-weight basket buy and hold: sharpe={bh['sharpe']} total_return={bh['total_return']}")
    say(f"  carriers (member Sharpe > 0): {out['consistency']['carriers']} of {out['consistency']['members']}")


def register(root: typer.Typer) -> None:
    """Add `backtest` as a command of the root `auraquant` app."""
    root.command("backtest")(backtest)


app.command()(backtest)

if __name__ == "__main__":
    app()
