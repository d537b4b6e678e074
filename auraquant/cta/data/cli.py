"""`auraquant data …`: import, fetch, synth, list, show, slice, features."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from auraquant.console import cli_errors, console, print_json, table
from auraquant.cta.data.models import DataVersion
from auraquant.ids import resolve_id
from auraquant.lazy import lazy_module
from auraquant.store import Store
from auraquant.workspace import Workspace

# The service (pandas, the quality checks) loads on first use, so `data list` and `data show` start fast.
service = lazy_module("auraquant.cta.data.service")
access = lazy_module("auraquant.cta.data.access")

app = typer.Typer(no_args_is_help=True, help="Market data: versions, slices, features.")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def check_symbol(symbol: str) -> str:
    """`symbol` when it can name an instrument (e.g. BTC/USDT, BTCUSDT): non-empty, at most 40 characters, no
    whitespace or control characters; otherwise a one-line refusal (it becomes part of ids, paths and goals)."""
    if not symbol or len(symbol) > 40 or any(ch.isspace() or not ch.isprintable() for ch in symbol):
        raise typer.BadParameter(f"--symbol {symbol!r}: expected an instrument name such as BTC/USDT "
                                 "(1-40 characters, no spaces)")
    return symbol


def version_json(dv: DataVersion, created: bool | None = None, store: Store | None = None) -> dict[str, Any]:
    """A version as JSON; with `store`, the quality examples stop at its sealed holdout and `holdout_from` says
    where that is."""
    quality = dv.quality if store is None else access.visible_quality(store, dv)
    out: dict[str, Any] = {
        "id": dv.id, "symbol": dv.symbol, "timeframe": dv.timeframe, "bars": dv.bars,
        "first": dv.first.isoformat(), "last": dv.last.isoformat(), "source": dv.source,
        "content_hash": dv.content_hash, "quality": quality.summary(),
    }
    if store is not None:
        hs = access.holdout_start(store, dv.id)
        out["holdout_from"] = None if hs is None else hs.isoformat()
    if created is not None:
        out["created"] = created
    return out


def show_quality(dv: DataVersion, store: Store | None = None) -> None:
    """The quality table; with `store`, no example or gap start at or after the sealed holdout is shown."""
    q = dv.quality if store is None else access.visible_quality(store, dv)
    rows = [
        ("bars", f"{q.bars:,} (from {q.rows_in:,} rows)"),
        ("span", f"{dv.first:%Y-%m-%d %H:%M} .. {dv.last:%Y-%m-%d %H:%M} UTC"),
        ("gaps", f"{q.gaps} ({q.missing_bars} missing bars, largest {q.largest_gap_bars} from {q.largest_gap_start})"
         if q.gaps else "0"),
        ("duplicates", f"{q.duplicates_identical} identical (dropped), {q.duplicates_conflicting} conflicting"),
        ("NaN", ", ".join(f"{k}={v}" for k, v in q.nan.items()) or "0"),
        ("out of order", str(q.non_monotonic)),
        ("OHLC inconsistent", str(q.ohlc_inconsistent)),
        ("non-positive prices", str(q.non_positive_prices)),
        ("zero volume", str(q.zero_volume)),
        ("repairs", "; ".join(q.repairs) or "none"),
        ("errors", "; ".join(f"{e.kind} ({e.count})" for e in q.errors) or "none"),
    ]
    console.print(table(f"{dv.id}  {dv.symbol} {dv.timeframe}  source={dv.source}", ["check", "result"], rows))


def _report(dv: DataVersion, created: bool, json_out: bool, store: Store) -> None:
    if json_out:
        print_json(version_json(dv, created, store))
        return
    verb = "stored" if created else "already stored (same bars, same id; nothing written)"
    console.print(f"[green]{dv.id}[/] {verb}")
    hs = access.holdout_start(store, dv.id)
    if hs is not None:
        console.print(f"sealed holdout from {hs:%Y-%m-%d %H:%M} UTC (these bars are sealed data already declared)")
    show_quality(dv, store)


@app.command("import")
@cli_errors
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of bars.")],
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTC/USDT.")],
    timeframe: Annotated[str, typer.Option(help="Bar timeframe, e.g. 1h.")],
    map_: Annotated[list[str] | None, typer.Option("--map", help="Column mapping target=column (repeatable).")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Import bars from a file into a new (or existing, identical) DataVersion."""
    from auraquant.cta.data.ingest import parse_mapping

    check_symbol(symbol)
    ws = Workspace.open(workspace)
    dv, created = service.import_file(ws.store, file, symbol=symbol, timeframe=timeframe, mapping=parse_mapping(map_))
    _report(dv, created, json_out, ws.store)


@app.command("synth")
@cli_errors
def synth_cmd(
    symbol: Annotated[str, typer.Option()] = "SYNTH/USDT",
    timeframe: Annotated[str, typer.Option()] = "1h",
    bars: Annotated[int, typer.Option(min=2)] = 17_520,
    seed: Annotated[int, typer.Option()] = 7,
    start: Annotated[str, typer.Option(help="First bar time (UTC).")] = "2022-01-01",
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Generate labelled synthetic bars (regime-switching trends, volatility clustering)."""
    check_symbol(symbol)
    ws = Workspace.open(workspace)
    dv, created = service.synth(ws.store, symbol=symbol, timeframe=timeframe, n=bars, seed=seed, start=start)
    _report(dv, created, json_out, ws.store)


@app.command("fetch")
@cli_errors
def fetch_cmd(
    symbol: Annotated[str, typer.Option()],
    timeframe: Annotated[str, typer.Option()],
    exchange: Annotated[str, typer.Option()] = "binance",
    since: Annotated[datetime | None, typer.Option(help="First bar (UTC); resumes after the last stored bar.")] = None,
    until: Annotated[datetime | None, typer.Option()] = None,
    api_url: Annotated[str | None, typer.Option(help="Override the exchange's API host (testnet, mirror).")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Fetch closed bars from an exchange through CCXT (paginated, rate limited, retried, resumable)."""
    check_symbol(symbol)
    ws = Workspace.open(workspace)
    with Progress(TextColumn("fetching {task.description}"), BarColumn(), TextColumn("{task.completed:,} bars"),
                  TimeElapsedColumn(), console=console, disable=json_out, transient=True) as bar:
        task = bar.add_task(f"{exchange} {symbol} {timeframe}", total=None)
        dv, created = service.fetch(ws.store, exchange=exchange, symbol=symbol, timeframe=timeframe, since=since,
                                    until=until, exchange_options={"api_base_url": api_url} if api_url else None,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    _report(dv, created, json_out, ws.store)


@app.command("list")
@cli_errors
def list_cmd(workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """List data versions."""
    store = Workspace.open(workspace).store
    versions = store.list_data_versions()
    if json_out:
        print_json([version_json(v, store=store) for v in versions])
        return
    console.print(table("data versions", ["id", "symbol", "tf", "bars", "first", "last", "gaps", "source"], [
        (v.id, v.symbol, v.timeframe, f"{v.bars:,}", f"{v.first:%Y-%m-%d}", f"{v.last:%Y-%m-%d}", v.quality.gaps,
         v.source) for v in versions]))


@app.command("show")
@cli_errors
def show_cmd(dv_id: str, workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Show a data version with its quality report."""
    store = Workspace.open(workspace).store
    dv = store.get_data_version(resolve_id(store, dv_id))
    if json_out:
        print_json(version_json(dv, store=store))
    else:
        show_quality(dv, store)


@app.command("slice")
@cli_errors
def slice_cmd(
    dv_id: str,
    start: Annotated[datetime | None, typer.Option()] = None,
    end: Annotated[datetime | None, typer.Option(help="Exclusive end (UTC).")] = None,
    role: Annotated[str, typer.Option(help="train | validation | target | holdout | full")] = "full",
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Create a DataSlice `[start, end)` of a version with a role.

    `--role holdout` seals the data content from START on (the final segment). Other roles may not reach
    into a sealed holdout: pass an --end at or before its start."""
    store = Workspace.open(workspace).store
    ds = service.make_slice(store, resolve_id(store, dv_id), start=start, end=end, role=role)  # type: ignore[arg-type]
    if json_out:
        print_json(ds.model_dump(mode="json") | {"id": ds.id})
    else:
        console.print(f"[green]{ds.id}[/] {ds.role} {ds.start:%Y-%m-%d %H:%M} .. {ds.end:%Y-%m-%d %H:%M} ({ds.bars:,} bars)")


@app.command("features")
@cli_errors
def features_cmd(
    ds_id: str,
    indicator: Annotated[str, typer.Option(help="pandas-ta indicator name, e.g. ema, atr, adx.")],
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value (repeatable).")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Compute on this higher timeframe (closed bars only).")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Compute (or reuse from cache) an indicator over a slice."""
    params: dict[str, Any] = {}
    for p in param or []:
        if "=" not in p:
            raise ValueError(f"bad --param {p!r}: use name=value")
        k, v = p.split("=", 1)
        params[k] = int(v) if v.lstrip("-").isdigit() else float(v) if _is_float(v) else v
    store = Workspace.open(workspace).store
    fs, values = service.make_features(store, resolve_id(store, ds_id), indicator, params, timeframe)
    if json_out:
        print_json(fs.model_dump(mode="json") | {"id": fs.id, "rows": len(values)})
    else:
        tail = values.tail(3).to_string(index=False)
        console.print(f"[green]{fs.id}[/] {fs.indicator}{fs.params} tf={fs.timeframe or 'native'} -> {fs.columns}\n{tail}")


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True
