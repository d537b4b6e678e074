"""`auraquant experiment …`: run | status | show | compare | resume | list (walk-forward experiments)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from auraquant.console import cli_errors, console, print_json, table
from auraquant.cta.backtest.metrics import BuyAndHold, buy_and_hold_metrics
from auraquant.cta.experiment.compare import compare_runs
from auraquant.cta.experiment.config import Objective, SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.gates import load_gates
from auraquant.cta.experiment.models import RUN_KIND, Run, RunResult
from auraquant.cta.experiment.robustness import RobustnessConfig
from auraquant.cta.experiment.runner import (
    RunOutput,
    load_result,
    resume_experiment,
    run_experiment,
    run_from_store,
    run_status,
)
from auraquant.cta.strategy.spec import Spec
from auraquant.ids import resolve_id
from auraquant.workspace import Workspace

app = typer.Typer(no_args_is_help=True, help="Walk-forward experiments: Optuna search, sealed holdout, robustness.")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ExecutorOpt = Annotated[str, typer.Option(help="threads[:N] | dask-local[:N] | dask://host:port")]
SPEC_KIND = "spec"


def _load_spec(ws: Workspace, spec: str) -> Spec:
    """A Spec from a JSON file, or a stored one by id (or unique id prefix)."""
    p = Path(spec)
    if p.is_dir():
        raise ValueError(f"--spec {spec} is a directory; give a Spec JSON file or a stored spec id")
    if p.is_file():
        try:
            return Spec.model_validate_json(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"--spec {spec} is not a text file (a Spec is JSON)") from None
    return ws.store.get_object(SPEC_KIND, resolve_id(ws.store, spec), Spec)


def data_version_arg(primary: str | None, alias: str | None) -> str:
    """The data version given with `--data-version` (or its old spelling `--data`, kept as a hidden alias)."""
    if primary is not None and alias is not None and primary != alias:
        raise typer.BadParameter(f"two data versions given: --data-version {primary} and --data {alias}; give one")
    value = primary if primary is not None else alias
    if value is None:
        raise typer.BadParameter("missing option '--data-version ID' (`auraquant data list` shows them)")
    return value


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _run_with_progress(fn: Any, json_out: bool) -> RunOutput:
    """Run `fn(progress)` under a live status line: windows done / total with the elapsed time, then, once
    every window is done, the robustness phase (PBO, SPA, Monte Carlo) that follows it."""
    if json_out:
        return fn(None)
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("walk-forward windows", total=None)

        def progress(done: int, total: int) -> None:
            phase = "robustness: PBO, SPA, Monte Carlo" if total and done >= total else "walk-forward windows"
            bar.update(task, completed=done, total=total, description=phase)

        return fn(progress)


def _summary_json(run: Run, res: RunResult) -> dict[str, Any]:
    return {"run_id": run.id, "spec_id": run.spec.id, "data": run.data.model_dump(mode="json"),
            "walk_forward": run.walk_forward.model_dump(), "search": run.search.model_dump(), "seed": run.seed,
            "oos": res.oos.model_dump(), "total_trials": res.total_trials, "artifacts": res.artifacts,
            "windows": [w.model_dump(mode="json", exclude={"target_report"}) | {
                "target": {k: w.target_report.get(k) for k in ("sharpe", "total_return", "max_drawdown", "trades")}
                | buy_and_hold_metrics(w.target_report.get("buy_and_hold"))}
                for w in res.windows],
            "robustness": res.robustness, "isolation": res.isolation}


def _buy_and_hold_rows(bh: BuyAndHold | None) -> list[tuple[str, str]]:
    """Buy and hold over the same stitched target segments, and the excess, as table rows."""
    if bh is None:
        return []

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:+.2%}"

    return [("buy and hold return", pct(bh.total_return)), ("buy and hold Sharpe", _fmt(bh.sharpe)),
            ("buy and hold max drawdown", pct(bh.max_drawdown)), ("excess return", pct(bh.excess_return)),
            ("excess Sharpe", _fmt(bh.excess_sharpe))]


def _show(run: Run, res: RunResult) -> None:
    o = res.oos
    console.print(f"[bold]{run.id}[/]  spec {run.spec.name} ({run.spec.id})  data {run.data.data_version_id}  "
                  f"seed {run.seed}")
    hs = run.data.holdout_start
    console.print(f"  {len(res.windows)} windows x {run.search.n_trials} trials ({res.total_trials} total), "
                  f"objective {run.search.objective}, top-{run.search.top_k} on validation; sealed holdout "
                  f"{'from ' + f'{hs:%Y-%m-%d %H:%M} UTC' if hs else 'none'}")
    console.print(table("out-of-sample (stitched targets)", ["metric", "value"], [
        ("total return", f"{o.total_return:+.2%}"), ("Sharpe", _fmt(o.sharpe)), ("Sortino", _fmt(o.sortino)),
        ("max drawdown", f"{o.max_drawdown:.2%}"), ("trades", o.trades), ("days", o.n_days),
        ("DSR", f"{_fmt(o.dsr)} (N={o.dsr_n_trials}, V[SR]={_fmt(o.dsr_sharpe_variance)})"),
        *_buy_and_hold_rows(o.buy_and_hold)]))
    names = list(run.spec.search_space)
    rows = [(w.window.index, f"{w.target_span[0]:%Y-%m-%d}",
             *(_fmt(w.params.get(n)) for n in names), _fmt(w.train_score), _fmt(w.validation_score),
             _fmt(w.target_report.get("sharpe")), _fmt(w.target_report.get("total_return")))
            for w in res.windows]
    short = [n.rsplit(".", 1)[-1] for n in names]  # full paths are in --json and selection.parquet
    console.print(table("window selection", ["w", "target from", *short, "train", "valid", "target SR",
                                             "target ret"], rows))
    if any(w.model for w in res.windows):  # a learned baseline: one fitted model per window (`auraquant model show`)
        console.print(table("models (auraquant model show ID)", ["w", "model", "val acc", "weights sha256"], [
            (w.window.index, w.model["model_id"], _fmt(w.model.get("val_accuracy")), w.model["weights_sha256"][:16])
            for w in res.windows if w.model]))
    r = res.robustness
    if r:
        rrows = [("PBO (mean over windows)", _fmt(r.get("pbo"))),
                 ("SPA consistent p (median)", _fmt(r.get("spa_consistent_median")))]
        for key, label in (("mc_block", "MC block bootstrap"), ("mc_trades", "MC trade bootstrap")):
            if key in r:
                for stat in ("final_return", "max_drawdown", "sharpe"):
                    s = r[key][stat]
                    rrows.append((f"{label} {stat} 95% CI", f"[{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}]"))
        console.print(table("robustness", ["statistic", "value"], rrows))
    if res.isolation:
        console.print(f"agent-written modules ran in the sandbox worker ({res.isolation})", highlight=False)
    console.print(f"artifacts: {res.artifacts}")


def _finished(ws: Workspace, run_id: str) -> tuple[Run, RunResult]:
    run = ws.store.get_object(RUN_KIND, run_id, Run)
    res = load_result(ws, run_id)
    if res is None:
        raise ValueError(f"run {run_id} has not finished; `auraquant experiment resume {run_id}` completes it")
    return run, res


@app.command("run")
@cli_errors
def run_cmd(
    spec: Annotated[str, typer.Option(help="Spec JSON file or a stored spec id.")],
    train: Annotated[int, typer.Option(help="Train bars per window.")],
    target: Annotated[int, typer.Option(help="Target (out-of-sample) bars per window.")],
    validation: Annotated[int, typer.Option(help="Validation bars per window (0: none).")] = 0,
    step: Annotated[int | None, typer.Option(help="Bars between windows (default: target).")] = None,
    mode: Annotated[str, typer.Option(help="rolling | anchored")] = "rolling",
    embargo: Annotated[int, typer.Option(help="Bars skipped between segments.")] = 0,
    windows: Annotated[int | None, typer.Option(help="Number of windows (default: as many as fit).")] = None,
    trials: Annotated[int, typer.Option(help="Optuna trials per window.")] = 100,
    batch: Annotated[int, typer.Option(help="Trials per engine sweep (one proposal batch).")] = 10,
    sampler: Annotated[str, typer.Option(help="qmc_parzen (Sobol start + batched TPE, fast) | optuna_tpe "
                                              "(Optuna's TPESampler asked per trial).")] = "qmc_parzen",
    objective: Annotated[str, typer.Option(help="sharpe | sortino | calmar | constrained")] = "sharpe",
    min_trades: Annotated[int, typer.Option(help="Minimum trades for the constrained objective.")] = 0,
    top_k: Annotated[int, typer.Option(help="Train top-K re-ranked on validation.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of every sampler.")] = 0,
    holdout_bars: Annotated[int, typer.Option(help="Seal the last N bars as holdout (declared on the data content); "
                                                   "0: the holdout already declared on the data, if any.")] = 0,
    executor: ExecutorOpt = "threads",
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL (default: journal in .aura/optuna).")] = None,
    robustness: Annotated[bool, typer.Option(help="Compute PBO, SPA and Monte Carlo at the end.")] = True,
    data_version: Annotated[str | None, typer.Option("--data-version", help="Data version id.")] = None,
    data: Annotated[str | None, typer.Option("--data", hidden=True, help="Old name of --data-version.")] = None,
    universe: Annotated[str | None, typer.Option(help="Universe id instead of --data-version: the Spec on every "
                                                      "member, selection on the portfolio Sharpe.")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Run a walk-forward experiment (resumes automatically if the same run was interrupted)."""
    if universe is not None and (data_version is not None or data is not None):
        raise typer.BadParameter("give exactly one of --data-version (a data version) and --universe (a universe)")
    ws = Workspace.open(workspace)
    if universe is not None:
        from auraquant.cta.experiment.universe_walkforward import run_in_workspace

        body = run_in_workspace(ws, resolve_id(ws.store, universe), _load_spec(ws, spec), train=train,
                                target=target, windows=windows, trials=trials, seed=seed)
        if json_out:
            print_json(body)
            return
        o = body["oos"]
        console.print(f"universe run [bold]{body['run_id']}[/]: OOS sharpe={o['sharpe']} max_drawdown="
                      f"{o['max_drawdown']} trades={o['trades']} ({body['significance']['significance']})")
        for sym, m in body["members"].items():
            console.print(f"  {sym}: sharpe={m['sharpe']} max_drawdown={m['max_drawdown']} trades={m['trades']}")
        return
    dv_id = resolve_id(ws.store, data_version_arg(data_version, data))
    wf = WalkForwardConfig(train_bars=train, validation_bars=validation, target_bars=target, step_bars=step,
                           mode=mode, embargo_bars=embargo, n_windows=windows)  # type: ignore[arg-type]
    obj: Objective = objective  # type: ignore[assignment]
    sc = SearchConfig(n_trials=trials, batch_size=batch, objective=obj, min_trades=min_trades, top_k=top_k,
                      sampler=sampler)  # type: ignore[arg-type]
    run, bars = run_from_store(ws, _load_spec(ws, spec), dv_id, wf, sc, seed=seed, holdout_bars=holdout_bars)
    if not json_out:
        console.print(f"run [bold]{run.id}[/] on {len(bars):,} bars ({executor})")
    out = _run_with_progress(lambda p: run_experiment(
        ws, run, bars, executor=executor, storage_url=storage, progress=p,
        robustness=RobustnessConfig(pbo_trials=load_gates(ws.config).pbo_spa_preselect) if robustness else None),
        json_out)
    if json_out:
        print_json(_summary_json(run, out.result) | {"executed_windows": out.executed_windows})
        return
    _show(run, out.result)


@app.command("resume")
@cli_errors
def resume_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")], executor: ExecutorOpt = "threads",
               workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Continue an interrupted run: finished windows and persisted trials are reused."""
    ws = Workspace.open(workspace)
    run_id = resolve_id(ws.store, run_id)
    out = _run_with_progress(lambda p: resume_experiment(ws, run_id, executor=executor, progress=p), json_out)
    run = ws.store.get_object(RUN_KIND, run_id, Run)
    if json_out:
        print_json(_summary_json(run, out.result) | {"executed_windows": out.executed_windows})
        return
    console.print(f"resumed: {out.executed_windows} window(s) executed")
    _show(run, out.result)


@app.command("status")
@cli_errors
def status_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")], workspace: WorkspaceOpt = Path("."),
               json_out: JsonOpt = False) -> None:
    """Progress of a run: windows complete and trials persisted per window."""
    ws = Workspace.open(workspace)
    run_id = resolve_id(ws.store, run_id)
    st = run_status(ws, run_id)
    if json_out:
        print_json(st)
        return
    console.print(f"{run_id}: {st['state']}, {st['windows_complete']}/{st['windows']} windows complete")
    rows = [(k, f"{v}/{st['trials_per_window']}") for k, v in sorted(st["trials_complete"].items())]
    if rows:
        console.print(table("trials persisted", ["window", "trials"], rows))


@app.command("show")
@cli_errors
def show_cmd(run_id: Annotated[str, typer.Argument(help="Run id.")], workspace: WorkspaceOpt = Path("."),
             json_out: JsonOpt = False) -> None:
    """A finished run: OOS summary, window selection table, robustness."""
    ws = Workspace.open(workspace)
    run, res = _finished(ws, resolve_id(ws.store, run_id))
    if json_out:
        print_json(_summary_json(run, res))
        return
    _show(run, res)


@app.command("compare")
@cli_errors
def compare_cmd(a: Annotated[str, typer.Argument(help="Run id A.")], b: Annotated[str, typer.Argument(help="Run id B.")],
                workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Per-metric deltas (B - A) and the windows whose selection changed."""
    ws = Workspace.open(workspace)
    a, b = resolve_id(ws.store, a), resolve_id(ws.store, b)
    ra, xa = _finished(ws, a)
    rb, xb = _finished(ws, b)
    cmp = compare_runs(ra, xa, rb, xb)
    if json_out:
        print_json(cmp)
        return
    if cmp["config"]:
        console.print(table("definition differences", ["field", "A", "B"],
                            [(k, _fmt(v["a"]), _fmt(v["b"])) for k, v in cmp["config"].items()]))
    console.print(table(f"metrics: A={a}  B={b}", ["metric", "A", "B", "B - A"],
                        [(m["metric"], _fmt(m["a"]), _fmt(m["b"]), _fmt(m["delta"])) for m in cmp["metrics"]]))
    rows = []
    for w in cmp["windows"]:
        if w["status"] != "both":
            rows.append((w["window"], w["status"], "", ""))
        else:
            rows.append((w["window"], "changed" if w["changed"] else "same", ", ".join(w["changed_params"]) or "-",
                         _fmt(w["target_sharpe_delta"])))
    console.print(table(f"windows ({len(cmp['windows_changed'])} changed)",
                        ["window", "selection", "params changed", "target SR delta"], rows))


@app.command("list")
@cli_errors
def list_cmd(workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Runs in this workspace and whether they finished."""
    ws = Workspace.open(workspace)
    runs = ws.store.list_objects(RUN_KIND, Run)
    rows = []
    for r in runs:
        res = load_result(ws, r.id)
        rows.append({"run_id": r.id, "spec": r.spec.name, "data": r.data.data_version_id, "seed": r.seed,
                     "finished": res is not None, "oos_sharpe": res.oos.sharpe if res else None})
    if json_out:
        print_json(rows)
        return
    console.print(table("experiment runs", ["run", "spec", "data", "seed", "finished", "OOS Sharpe"],
                        [(x["run_id"], x["spec"], x["data"], x["seed"], x["finished"], _fmt(x["oos_sharpe"]))
                         for x in rows]))
