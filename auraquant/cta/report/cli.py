"""`auraquant report RUN_OR_RECORD`: write the tearsheet of a stored walk-forward run or archive record.

What an id can name, tried in this order:
1. a walk-forward run (store kind `run`, result from `experiment.runner.load_result`): its stitched OOS
   equity, target windows and trades;
2. a universe walk-forward run (store kind `universe_run`, `urun_…`): its stitched OOS portfolio equity against
   the equal-weight basket's buy and hold, each member beside the portfolio, the consistency and the correlation
   of member returns, all from the stored result (`auraquant.cta.report.universe`; no bar is read);
3. an archive record (`governance.archive.Archive.get`): the tearsheet of the run it came from, citing the
   record id and state (plus its holdout metrics once frozen); a record without a run cannot be drawn;
   the record is verified first (`Archive.verify`: signature, chain, checkpoint, artifact digests) and every
   file and store row the tearsheet reads must be pinned by its signed digests, else it is refused;
4. a stored backtest (store kind `backtest`, written by the `backtest_run` tool: the Spec, the data version
   and the directory of its saved artifacts), or the id of its Report (kind `report`, artifacts under
   `.aura/artifacts/backtests/<report id>/`), or the report id of a universe backtest (the `universe_backtest`
   tool: artifacts under `.aura/artifacts/portfolios/<report id>/`, drawn by `report.universe`);
5. a directory of backtest artifacts (`backtest.artifacts.save_artifacts`) or of universe backtest artifacts
   (`backtest.portfolio.save_portfolio_artifacts`), given as a path.
A run that an archive record cites is verified through that record the same way (a run nobody archived is
unsigned research output and is drawn as such); the bars behind its price chart must hash to the record's signed
data hash.

The price chart, the Spec's indicators and the trades' MAE / MFE need the bars: they are read through the
sealed access layer (`data.access.research_bars`: never a holdout bar) from the data version the run or stored
backtest names; a bare artifacts directory has none, and its page says so. The page's sections are listed in
`auraquant.cta.report.page`. Output goes to `<workspace>/.aura/artifacts/reports/<id>/` (`tearsheet.html`, `equity.png`) unless `--out`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import BaseModel

from auraquant.console import cli_errors, console, print_json
from auraquant.store import NotFound
from auraquant.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from auraquant.cta.report.model import TearsheetData

# The engine, plotly and matplotlib are imported when a report is built, not when the CLI starts.


BACKTEST_KIND = "backtest"
REPORT_KIND = "report"
SPEC_KIND = "spec"


class _BacktestRef(BaseModel):
    """The fields of a stored backtest record a tearsheet needs (the tool layer owns the full model)."""

    model_config = {"extra": "ignore"}
    spec_id: str
    data_version_id: str
    report_id: str
    artifacts: str  # relative to the workspace root


class ReportSourceError(ValueError):
    """The id names nothing a tearsheet can be drawn from."""


class UnverifiedSource(ReportSourceError):
    """The source is governed by an archive record that does not verify: nothing is drawn from it."""


def _records_citing(ws: Workspace, run_id: str) -> list[str]:
    with ws.store.connect() as con:
        rows = con.execute("SELECT id FROM archive_records WHERE json_extract_string(body, '$.run_id') = ? "
                           "ORDER BY created_at, id", [run_id]).fetchall()
    return [r[0] for r in rows]


def _verify_presented(ws: Workspace, record_id: str, files: list[Path], objects: list[str]) -> None:
    """Refuse unless the record verifies and its signed digests pin every file and row the report reads."""
    from auraquant.cta.governance import evidence
    from auraquant.cta.governance.archive import Archive

    arch = Archive(ws.store, ws.aura)
    check = arch.verify(record_id)
    if not check.ok:
        raise UnverifiedSource(f"UNVERIFIED archive record {record_id}: {check.problem}; refusing to draw it")
    signed = arch.get(record_id).record.artifacts
    missing = evidence.covers(ws.root, signed, files) + [o for o in objects if o not in signed]
    if missing:
        raise UnverifiedSource(f"UNVERIFIED: archive record {record_id} does not pin {', '.join(missing)} by a "
                               f"signed digest; refusing to draw it")


@dataclass(frozen=True)
class ReportOutput:
    source_kind: str
    source_id: str
    html: Path
    png: Path

    def as_json(self) -> dict[str, str]:
        return {"kind": self.source_kind, "id": self.source_id, "html": str(self.html), "png": str(self.png)}


def _data_notes(ws: Workspace, dv_id: str | None) -> list[str]:
    if not dv_id:
        return []
    try:
        dv = ws.store.get_data_version(dv_id)
    except NotFound:
        return [f"data version {dv_id} is not in this workspace"]
    note = f"data: {dv.symbol} {dv.timeframe}, source {dv.source}"
    return [note + (" (SYNTHETIC data, not a market)" if dv.source.startswith("synthetic") else "")]


@dataclass(frozen=True)
class _Bars:
    frame: pd.DataFrame | None
    symbol: str
    data_end: datetime | None


def _visible_bars(ws: Workspace, dv_id: str | None, signed_hash: str | None = None) -> _Bars:
    """The data version's bars before its seal (for the price chart and MAE / MFE), its label and last bar time.
    With `signed_hash` (an archive record's data hash) the stored bars must still hash to it."""
    from auraquant.cta.data import access

    if not dv_id:
        return _Bars(None, "", None)
    try:
        dv = ws.store.get_data_version(dv_id)
    except NotFound:
        return _Bars(None, "", None)
    if signed_hash is not None and access.stored_content_hash(ws.store, dv_id) != signed_hash:
        raise UnverifiedSource(f"UNVERIFIED: the bars of {dv_id} no longer hash to the record's signed data hash; "
                               "refusing to draw them")
    return _Bars(access.research_bars(ws.store, dv_id), f"{dv.symbol} {dv.timeframe}", dv.last)


def _run_data(ws: Workspace, run_id: str, *, ids: dict[str, str] | None = None, extra_notes: list[str] | None = None,
              title: str | None = None, verify_as: str | None = None,
              signed_hash: str | None = None) -> TearsheetData | None:
    """The tearsheet data of a run; verified through `verify_as` or else every record citing the run."""
    from auraquant.cta.experiment.models import RESULT_KIND, RUN_KIND, Run
    from auraquant.cta.experiment.runner import load_result, run_dir
    from auraquant.cta.report.adapters import from_run

    try:
        run = ws.store.get_object(RUN_KIND, run_id, Run)
    except NotFound:
        return None
    result = load_result(ws, run_id)
    if result is None:
        raise ReportSourceError(f"run {run_id} has not finished (no result yet); "
                                f"`auraquant experiment resume {run_id}` completes it")
    # The workspace's own run directory wins over the path recorded at run time, so a copied or moved
    # workspace shows (and verifies) its own files, never those at the old location.
    art = run_dir(ws, run_id)
    if not (art / "oos_equity.parquet").is_file():
        art = Path(result.artifacts)
    governed = [verify_as] if verify_as else _records_citing(ws, run_id)
    for record_id in governed:
        _verify_presented(ws, record_id, [art / "oos_equity.parquet", art / "oos_trades.parquet"],
                          [f"store:{RUN_KIND}/{run_id}", f"store:{RESULT_KIND}/{run_id}"])
    notes = _data_notes(ws, run.data.data_version_id) + (extra_notes or [])
    if not governed:
        notes.append("research run, not archived: no signature covers these files")
    bars = _visible_bars(ws, run.data.data_version_id, signed_hash)
    return from_run(run, result, art, ids=ids, notes=notes, title=title, bars=bars.frame, data_end=bars.data_end,
                    symbol=bars.symbol)


def _universe_run_data(ws: Workspace, run_id: str) -> TearsheetData | None:
    """The tearsheet data of a universe walk-forward run (`urun_…`), from its stored result alone."""
    from auraquant.cta.experiment.universe_walkforward import (
        RESULT_KIND,
        RUN_KIND,
        UniverseRun,
        UniverseRunResult,
    )
    from auraquant.cta.report.universe import from_universe_run
    from auraquant.cta.universe import service

    try:
        run = ws.store.get_object(RUN_KIND, run_id, UniverseRun)
    except NotFound:
        return None
    try:
        result = ws.store.get_object(RESULT_KIND, run_id, UniverseRunResult)
    except NotFound:
        raise ReportSourceError(f"universe run {run_id} has no stored result") from None
    notes, data_end = [], None
    try:  # the data versions' metadata (never their bars) place the end of the holdout band
        uv = service.get(ws.store, run.universe_id)
        dvs = [ws.store.get_data_version(m.data_version_id) for m in uv.members]
        data_end = max(dv.last for dv in dvs)
        if any(dv.source.startswith("synthetic") for dv in dvs):
            notes.append("SYNTHETIC data, not a market: " + ", ".join(dv.symbol for dv in dvs
                                                                       if dv.source.startswith("synthetic")))
    except NotFound:
        notes.append(f"universe {run.universe_id} or one of its data versions is not in this workspace")
    notes.append("research run, not archived: no signature covers these numbers")
    return from_universe_run(run, result, notes=notes, data_end=data_end)


def _record_data(ws: Workspace, record_id: str) -> TearsheetData | None:
    from auraquant.cta.governance.archive import Archive
    from auraquant.cta.governance.record import holdout_look_text
    from auraquant.cta.report.adapters import with_record

    try:
        stored = Archive(ws.store, ws.aura).get(record_id)
    except NotFound:
        return None
    rec = stored.record
    if rec.run_id is None:
        raise ReportSourceError(f"archive record {record_id} cites no walk-forward run, so there is no equity "
                                "curve to draw; render the run or backtest it came from")
    notes = [f"archive record in state '{rec.state}', verified (signature, chain, artifact digests)"]
    sig = rec.significance
    if sig:  # the record's DSR deflates by the trial ledger; the run's own DSR below counts one experiment only
        notes.append(f"{sig.get('label')}: DSR {sig.get('dsr')} with the {sig.get('dsr_scope')} trial count "
                     f"N={sig.get('dsr_n_trials')} (trial Sharpe variance {sig.get('dsr_sharpe_variance')}); the "
                     f"run's own DSR counts its {sig.get('run_trials')} trials only; gates: {sig.get('gates')}"
                     + (f"; failed: {sig.get('failed_gates')}" if sig.get("failed_gates") else ""))
    if rec.holdout:
        notes.append(holdout_look_text(rec.holdout))
    data = _run_data(ws, rec.run_id, ids={"record": record_id, "model": rec.model_id}, extra_notes=notes,
                     title=f"{rec.family}: archived {rec.state}", verify_as=record_id, signed_hash=rec.data_hash)
    if data is None:
        raise ReportSourceError(f"archive record {record_id} cites run {rec.run_id}, which is not in this workspace")
    oos_sharpe = next((m.value for m in data.metrics if m.key == "sharpe"), None)
    return with_record(data, rec, oos_sharpe if isinstance(oos_sharpe, int | float) else None)


def _backtest_citing(ws: Workspace, report_id: str) -> str | None:
    """The first stored backtest whose Report is `report_id` (a report id then draws with its bars too)."""
    with ws.store.connect() as con:
        row = con.execute("SELECT id FROM objects WHERE kind = ? AND json_extract_string(body, '$.report_id') = ? "
                          "ORDER BY created_at, id LIMIT 1", [BACKTEST_KIND, report_id]).fetchone()
    return row[0] if row else None


def _backtest_data(ws: Workspace, obj_id: str) -> TearsheetData | None:
    from auraquant.cta.report.adapters import from_backtest_artifacts
    from auraquant.cta.strategy.spec import Spec

    try:
        ref = ws.store.get_object(BACKTEST_KIND, obj_id, _BacktestRef)
    except NotFound:
        ref = None
        if (bt_id := _backtest_citing(ws, obj_id)) is not None:
            ref = ws.store.get_object(BACKTEST_KIND, bt_id, _BacktestRef)
            obj_id = bt_id
    extra: dict[str, object] = {}
    if ref is not None:
        art = ws.root / ref.artifacts
        ids, notes = {"backtest": obj_id, "data version": ref.data_version_id}, _data_notes(ws, ref.data_version_id)
        bars = _visible_bars(ws, ref.data_version_id)
        try:
            spec: Spec | None = ws.store.get_object(SPEC_KIND, ref.spec_id, Spec)
        except NotFound:
            spec = None
        extra = {"bars": bars.frame, "symbol": bars.symbol, "spec": spec}
    else:
        art, ids, notes = ws.artifacts / "backtests" / obj_id, {}, []
        if not (art / "report.json").is_file():
            portfolio = ws.artifacts / "portfolios" / obj_id  # a universe backtest's report id
            return _portfolio_data(portfolio, {"report": obj_id}) if _is_portfolio_dir(portfolio) else None
    if not (art / "equity.parquet").is_file():
        raise ReportSourceError(f"backtest {obj_id}: no saved equity curve in {art}")
    return from_backtest_artifacts(art, ids=ids, notes=notes, **extra)


def _is_portfolio_dir(path: Path) -> bool:
    return path.is_dir() and (path / "summary.json").is_file() and (path / "equity.parquet").is_file()


def _portfolio_data(path: Path, ids: dict[str, str] | None = None) -> TearsheetData:
    from auraquant.cta.report.universe import from_portfolio_artifacts

    if not (path / "trades.parquet").is_file():
        raise ReportSourceError(f"universe backtest in {path}: no saved trades")
    return from_portfolio_artifacts(path, ids=ids)


def build_report(run_or_record_id: str, workspace: str | Path = ".", out: str | Path | None = None) -> ReportOutput:
    """Resolve the id (see the module docstring), write the tearsheet, return where it went."""
    from auraquant.cta.report.adapters import from_backtest_artifacts
    from auraquant.cta.report.tearsheet import write_tearsheet

    ws = Workspace.open(workspace)
    as_path = Path(run_or_record_id)
    if as_path.is_dir() and (as_path / "report.json").is_file():
        kind, data, name = "backtest_dir", from_backtest_artifacts(as_path), as_path.resolve().name
    elif _is_portfolio_dir(as_path):
        kind, data, name = "portfolio_dir", _portfolio_data(as_path), as_path.resolve().name
    elif (data := _run_data(ws, run_or_record_id)) is not None:
        kind, name = "run", run_or_record_id
    elif (data := _universe_run_data(ws, run_or_record_id)) is not None:
        kind, name = "universe_run", run_or_record_id
    elif (data := _record_data(ws, run_or_record_id)) is not None:
        kind, name = "archive_record", run_or_record_id
    elif (data := _backtest_data(ws, run_or_record_id)) is not None:
        kind, name = "backtest", run_or_record_id
    else:
        raise ReportSourceError(f"{run_or_record_id!r} is neither a run, a universe run, an archive record, a "
                                "backtest, nor a "
                                "directory of backtest artifacts in this workspace (`auraquant archive list` "
                                "shows archived records)")
    target = Path(out) if out is not None else ws.artifacts / "reports" / name
    html_path, png_path = write_tearsheet(data, target)
    return ReportOutput(kind, str(as_path) if kind.endswith("_dir") else name, html_path, png_path)


@cli_errors
def report(
    run_or_record_id: Annotated[str, typer.Argument(metavar="RUN_OR_RECORD",
        help="A run, universe run, archive record, backtest or report id, or a backtest artifacts directory.")],
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")] = Path("."),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory (default: "
                                             ".aura/artifacts/reports/<id>/).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the paths as JSON.")] = False,
) -> None:
    """Write a self-contained HTML tearsheet and a PNG of the equity curve."""
    from auraquant.ids import ID_PREFIX, resolve_id
    from auraquant.workspace import Workspace

    if ID_PREFIX.match(run_or_record_id):  # a unique id prefix (a directory argument needs no workspace)
        run_or_record_id = resolve_id(Workspace.open(workspace).store, run_or_record_id)
    r = build_report(run_or_record_id, workspace, out)  # ReportSourceError is a ValueError: cli_errors renders it
    if json_out:
        print_json(r.as_json())
        return
    console.print(f"tearsheet of {r.source_kind} {r.source_id}")
    console.print(f"  html: {r.html}")
    console.print(f"  png:  {r.png}")


app = report
