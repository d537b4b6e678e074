"""Walk-forward runs: plan the windows, run them on an executor, stitch and persist the evidence.

Artifacts of run R live in `<workspace>/.aura/artifacts/runs/R/` (or any `out_dir`):
- `windows/wKKK.json` (WindowResult) with `wKKK_trials.parquet`, `wKKK_equity.parquet`,
  `wKKK_trades.parquet`, `wKKK_timings.json`: written as each window finishes, the JSON last, so a
  window with its JSON is complete and a resumed run skips it;
- `selection.parquet`: the window selection table (spans, chosen params, train/validation scores,
  target metrics); `trials.parquet`: every trial of every window (for DSR and PBO);
  `oos_equity.parquet`: the stitched out-of-sample curve; `oos_trades.parquet`: all target trades (with
  `equity_return`, their compounding return); `reports.json`: per-window target reports;
  `robustness/`: the per-window trial return matrices behind PBO and SPA;
  `result.json`: the RunResult; `meta.json`: the Optuna storage URL (resume reuses it).
The Optuna studies (`<run id>-wKKK`) live in `.aura/optuna/<run id>.journal` unless another storage URL
is given. The `Run` and its `RunResult` are persisted in the store (kinds `run`, `run_result`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from auraquant.cta.backtest.lookahead import LookaheadFinding
from auraquant.cta.backtest.lookahead_gate import custom_modules, require_causal, workspace_cache_dir
from auraquant.cta.backtest.metrics import table_daily_sharpe
from auraquant.cta.data import access
from auraquant.cta.experiment import ledger
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig, plan_windows
from auraquant.cta.experiment.executors import WindowExecutor, make_executor
from auraquant.cta.experiment.models import RESULT_KIND, RUN_KIND, DataRef, Run, RunResult, WindowResult
from auraquant.cta.experiment.robustness import RobustnessConfig, run_robustness
from auraquant.cta.experiment.sealed import SealedBars, bar_times, holdout_start_for
from auraquant.cta.experiment.search import Timings
from auraquant.cta.experiment.stitch import stitch_buy_and_hold, stitch_equity, summarize
from auraquant.cta.experiment.window import WindowOutcome, WindowTask, run_window
from auraquant.cta.models.hooks import fitted_window_specs
from auraquant.cta.sandbox import isolation
from auraquant.cta.strategy.spec import Spec
from auraquant.store import NotFound
from auraquant.workspace import Workspace

Progress = Callable[[int, int], None]


class RunMismatch(ValueError):
    """The bars or storage found for a run are not the ones it was created with."""


@dataclass
class RunOutput:
    result: RunResult
    timings: Timings
    executed_windows: int


# -- creating runs ----------------------------------------------------------------------------------------
def _data_ref(bars: SealedBars, dv_id: str | None, start: pd.Timestamp | None) -> DataRef:
    return DataRef(data_version_id=dv_id, start=None if start is None else start.to_pydatetime(),
                   holdout_start=None if bars.holdout_start is None else bars.holdout_start.to_pydatetime(),
                   bars=len(bars), first_time=bars.first_time.to_pydatetime(),
                   last_time=bars.last_time.to_pydatetime(), bars_hash=bars.content_hash())


def _run(spec: Spec, data: DataRef, wf: WalkForwardConfig, search: SearchConfig, seed: int, note: str) -> Run:
    run = Run(spec=spec, data=data, walk_forward=wf, search=search, seed=seed, note=note,
              created_at=datetime.now(UTC))
    plan_windows(data.bars, wf)  # fail early when no window fits
    return run


def run_from_store(ws: Workspace, spec: Spec, data_version_id: str, wf: WalkForwardConfig, search: SearchConfig,
                   *, seed: int = 0, holdout_bars: int = 0, start: pd.Timestamp | None = None,
                   note: str = "") -> tuple[Run, SealedBars]:
    """A Run over a stored data version and its bar access, sealed from the holdout declared on its content.

    The declared holdout (`auraquant.cta.data.access`) is the default. `holdout_bars > 0` seals the last
    `holdout_bars` bars (of the bars from `start` on) and declares that on the content, so every later reader
    and experiment honours it too; when a seal already starts earlier, the earlier one is the run's holdout."""
    times = bar_times(ws.store, data_version_id)
    if start is not None:
        times = times[times >= start]
    requested = holdout_start_for(times, holdout_bars)
    if requested is not None:
        access.declare_holdout(ws.store, data_version_id, requested, declared_by="experiment run")
    hs = access.holdout_start(ws.store, data_version_id)
    if hs is not None:
        sealed_times = times[times >= hs]
        # the run records the open time of its first sealed bar (the same bars whichever way it was declared)
        hs = pd.Timestamp(sealed_times[0]) if len(sealed_times) else hs
    if hs is not None and start is not None and hs <= start:
        raise access.HoldoutSealed(f"holdout sealed: the run would start at {start}, inside the holdout of "
                                   f"{data_version_id} sealed from {hs}")
    bars = SealedBars.from_store(ws.store, data_version_id, hs, start)
    return _run(spec, _data_ref(bars, data_version_id, start), wf, search, seed, note), bars


def run_from_frame(frame: pd.DataFrame, spec: Spec, wf: WalkForwardConfig, search: SearchConfig, *,
                   seed: int = 0, holdout_bars: int = 0, note: str = "") -> tuple[Run, SealedBars]:
    """A Run over ad-hoc bars (benchmarks, tests); it cannot be resumed from the store's data alone."""
    hs = holdout_start_for(frame["time"], holdout_bars)
    bars = SealedBars(frame, hs)
    return _run(spec, _data_ref(bars, None, None), wf, search, seed, note), bars


def sealed_bars_for(ws: Workspace, run: Run) -> SealedBars:
    """Reload the bar access of a stored run and check it is the very data the run was created on."""
    if run.data.data_version_id is None:
        raise RunMismatch(f"run {run.id} was made from ad-hoc bars; pass them again to resume it")
    hs = None if run.data.holdout_start is None else pd.Timestamp(run.data.holdout_start)
    start = None if run.data.start is None else pd.Timestamp(run.data.start)
    bars = SealedBars.from_store(ws.store, run.data.data_version_id, hs, start)
    if bars.content_hash() != run.data.bars_hash:
        raise RunMismatch(f"bars of {run.data.data_version_id} no longer hash to what run {run.id} used")
    return bars


# -- artifacts ---------------------------------------------------------------------------------------------
def run_dir(ws: Workspace, run_id: str) -> Path:
    return ws.artifacts / "runs" / run_id


def default_storage_url(ws: Workspace, run_id: str) -> str:
    return f"journal:{ws.aura / 'optuna' / (run_id + '.journal')}"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda p: p.write_text(text))


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    _atomic_write(path, lambda p: frame.to_parquet(p, index=False))


def _window_paths(out: Path, k: int) -> dict[str, Path]:
    base = out / "windows" / f"w{k:03d}"
    return {"json": base.with_suffix(".json"), "trials": Path(f"{base}_trials.parquet"),
            "equity": Path(f"{base}_equity.parquet"), "trades": Path(f"{base}_trades.parquet"),
            "timings": Path(f"{base}_timings.json")}


def _save_window(out: Path, o: WindowOutcome) -> None:
    p = _window_paths(out, o.result.window.index)
    for name, data in sorted(o.files.items()):
        _atomic_write(out / "windows" / f"w{o.result.window.index:03d}_{name}", lambda f, d=data: f.write_bytes(d))
    _write_parquet(p["trials"], o.trials)
    _write_parquet(p["equity"], o.equity)
    _write_parquet(p["trades"], o.trades)
    _write_text(p["timings"], json.dumps({"optuna_s": o.timings.optuna_s, "engine_s": o.timings.engine_s}))
    _write_text(p["json"], o.result.model_dump_json(indent=2))


def _load_window(out: Path, k: int) -> WindowOutcome | None:
    p = _window_paths(out, k)
    if not p["json"].is_file():
        return None
    t = json.loads(p["timings"].read_text())
    return WindowOutcome(result=WindowResult.model_validate_json(p["json"].read_text()),
                         trials=pd.read_parquet(p["trials"]), equity=pd.read_parquet(p["equity"]),
                         trades=pd.read_parquet(p["trades"]), timings=Timings(t["optuna_s"], t["engine_s"]))


def selection_table(windows: list[WindowResult]) -> pd.DataFrame:
    """One row per window: spans, chosen params, scores, and the target segment's key metrics."""
    rows = []
    for w in windows:
        r = w.target_report
        rows.append({"window": w.window.index, "train_start": w.train_span[0], "train_end": w.train_span[1],
                     "target_start": w.target_span[0], "target_end": w.target_span[1],
                     **{f"param.{k}": v for k, v in w.params.items()}, "train_score": w.train_score,
                     "validation_score": w.validation_score, "train_rank": w.train_rank,
                     "target_sharpe": r.get("sharpe"), "target_return": r.get("total_return"),
                     "target_max_drawdown": r.get("max_drawdown"), "target_trades": r.get("trades")})
    out = pd.DataFrame(rows)
    for c in ("train_start", "train_end", "target_start", "target_end"):  # same dtype fresh or reloaded
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[ns, UTC]")
    return out


# -- executing ---------------------------------------------------------------------------------------------
def require_causal_run(run: Run, bars: SealedBars, extra_dir: Path | str | None,
                       cache_dir: Path | None = None) -> list[LookaheadFinding]:
    """The mandatory look-ahead gate of a run (`auraquant.cta.backtest.lookahead_gate`): every module of
    the Spec that is not built in is checked on all the run's bars before the holdout (never the holdout:
    `bars` holds none), at full length, with the Spec's params and its search-space corners. Raises
    `LookaheadError` on a leak; verdicts are cached (by code, data and params hashes) in `cache_dir`."""
    if not custom_modules(run.spec):
        return []
    return require_causal(run.spec, bars.segment(0, len(bars)), extra_dir, cache_dir=cache_dir,
                          data_hash=bars.content_hash())


def lookahead_cache_dir(ws: Workspace) -> Path:
    return workspace_cache_dir(ws)


def execute(run: Run, bars: SealedBars, *, out_dir: Path, storage_url: str,
            executor: WindowExecutor | str | None = None, progress: Progress | None = None,
            robustness: RobustnessConfig | None = RobustnessConfig(), extra_dir: Path | str | None = None,
            lookahead_cache: Path | None = None) -> RunOutput:
    """Run every window of `run` not yet complete in `out_dir`, then stitch and write the artifacts
    (and the robustness statistics of `robustness.py` unless `robustness` is None). `extra_dir` holds
    the workspace's own strategy modules (`<dir>/<kind>/<name>.py`), passed to every engine call.
    Nothing runs before the Spec's non-built-in modules pass the look-ahead gate (`require_causal_run`;
    `lookahead_cache` keeps its verdicts)."""
    extra = None if extra_dir is None else str(extra_dir)
    if bars.content_hash() != run.data.bars_hash or len(bars) != run.data.bars:
        raise RunMismatch(f"the bars given are not the bars run {run.id} was created on")
    require_causal_run(run, bars, extra_dir, lookahead_cache)
    meta = out_dir / "meta.json"
    if meta.is_file():
        stored = json.loads(meta.read_text())["storage_url"]
        if stored != storage_url:
            raise RunMismatch(f"run {run.id} keeps its Optuna studies in {stored!r}, not {storage_url!r}")
    else:
        _write_text(meta, json.dumps({"run_id": run.id, "storage_url": storage_url}, indent=2))
    windows = plan_windows(len(bars), run.walk_forward)
    done: dict[int, WindowOutcome] = {}
    for w in windows:
        o = _load_window(out_dir, w.index)
        if o is not None:
            done[w.index] = o
    todo = [w for w in windows if w.index not in done]
    ex = make_executor(executor) if executor is None or isinstance(executor, str) else executor
    owned = executor is None or isinstance(executor, str)
    try:
        tasks = [WindowTask(
            run_id=run.id, spec=run.spec, search=run.search, seed=run.seed, window=w,
            train=bars.segment(w.train.start, w.train.stop),
            validation=None if w.validation is None else bars.segment(w.validation.start, w.validation.stop),
            target=bars.segment(w.target.start, w.target.stop), storage_url=storage_url,
            engine_threads=ex.engine_threads, extra_dir=extra) for w in todo]
        if progress:
            progress(len(done), len(windows))
        for o in ex.map_unordered(run_window, tasks):
            _save_window(out_dir, o)
            done[o.result.window.index] = o
            if progress:
                progress(len(done), len(windows))
    finally:
        if owned:
            ex.close()
    return RunOutput(result=_finish(run, bars, out_dir, [done[w.index] for w in windows], robustness, extra),
                     timings=_sum_timings(done.values()), executed_windows=len(todo))


def _sum_timings(outcomes: Any) -> Timings:
    tm = Timings()
    for o in outcomes:
        tm.add(o.timings)
    return tm


def _finish(run: Run, bars: SealedBars, out: Path, outcomes: list[WindowOutcome],
            robustness: RobustnessConfig | None, extra_dir: str | None = None) -> RunResult:
    e = run.spec.engine
    stitched = stitch_equity([o.equity for o in outcomes], e.initial_capital)
    trials = pd.concat([o.trials for o in outcomes], ignore_index=True)
    learned = ledger.learned_trials(out)  # a learned baseline's extra trials count too (models/window.py)
    counted = pd.concat([trials, learned], ignore_index=True) if len(learned) else trials
    daily_sr = table_daily_sharpe(counted)
    oos = summarize(stitched, e.initial_capital, e.annualization, sum(len(o.trades) for o in outcomes),
                    daily_sr, len(counted))
    windows = [o.result for o in outcomes]
    bh, bh_curve = stitch_buy_and_hold([bars.segment(w.window.target.start, w.window.target.stop)
                                        for w in windows], e, versus=oos)
    oos = oos.model_copy(update={"buy_and_hold": bh})
    stitched["buy_and_hold"] = bh_curve["equity"].to_numpy()
    _write_parquet(out / "oos_equity.parquet", stitched)
    _write_parquet(out / "trials.parquet", trials)
    _write_parquet(out / "selection.parquet", selection_table(windows))
    oos_trades = pd.concat([o.trades for o in outcomes], ignore_index=True)
    _write_parquet(out / "oos_trades.parquet", oos_trades)
    _write_text(out / "reports.json", json.dumps([w.target_report for w in windows], indent=2))
    rob: dict[str, Any] = {}
    if robustness is not None:
        rob = run_robustness(run.spec, run.seed, bars,
                             [(w.window.index, w.window.train.start, w.window.train.stop, o.trials)
                              for w, o in zip(windows, outcomes, strict=True)],
                             stitched, oos_trades, e.annualization, out, robustness, extra_dir,
                             window_specs=fitted_window_specs(run.spec, out, windows))
    result = RunResult(run_id=run.id, windows=windows, oos=oos, total_trials=len(trials), artifacts=str(out),
                       finished_at=datetime.now(UTC), robustness=rob,
                       isolation=isolation.spec_isolation(run.spec, extra_dir))
    _write_text(out / "result.json", result.model_dump_json(indent=2))
    return result


# -- workspace-level entry points ---------------------------------------------------------------------------
def run_experiment(ws: Workspace, run: Run, bars: SealedBars, *, executor: WindowExecutor | str | None = None,
                   storage_url: str | None = None, progress: Progress | None = None,
                   robustness: RobustnessConfig | None = RobustnessConfig(),
                   extra_dir: Path | str | None = None, session_id: str | None = None) -> RunOutput:
    """Persist `run`, execute it (resuming whatever is already done) and persist its RunResult. Strategy
    modules come from the package and from `extra_dir` (default: the workspace's `cta_runtime/`). A run
    whose modules fail the look-ahead gate is refused (`LookaheadError`) before anything is stored. Every
    trial is recorded in the trial ledger for `session_id` (None: outside a research session)."""
    extra_dir = ws.runtime_dir if extra_dir is None else extra_dir
    require_causal_run(run, bars, extra_dir, lookahead_cache_dir(ws))
    ws.store.put_object(RUN_KIND, run)
    out = run_dir(ws, run.id)
    meta = out / "meta.json"
    if storage_url is None:
        storage_url = (json.loads(meta.read_text())["storage_url"] if meta.is_file()
                       else default_storage_url(ws, run.id))
    output = execute(run, bars, out_dir=out, storage_url=storage_url, executor=executor, progress=progress,
                     robustness=robustness, extra_dir=extra_dir, lookahead_cache=lookahead_cache_dir(ws))
    ws.store.put_object(RESULT_KIND, output.result, obj_id=run.id)
    ledger.record_run(ws.store, session_id, run, output.result)
    return output


def resume_experiment(ws: Workspace, run_id: str, *, executor: WindowExecutor | str | None = None,
                      progress: Progress | None = None) -> RunOutput:
    """Continue a stored run where it stopped (completed windows and trials are reused)."""
    run = ws.store.get_object(RUN_KIND, run_id, Run)
    return run_experiment(ws, run, sealed_bars_for(ws, run), executor=executor, progress=progress)


def load_result(ws: Workspace, run_id: str) -> RunResult | None:
    try:
        return ws.store.get_object(RESULT_KIND, run_id, RunResult)
    except NotFound:
        p = run_dir(ws, run_id) / "result.json"
        return RunResult.model_validate_json(p.read_text()) if p.is_file() else None


def run_status(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Progress of a run: windows planned/complete and completed trials per window (from Optuna)."""
    import optuna

    from auraquant.cta.experiment.search import open_storage

    run = ws.store.get_object(RUN_KIND, run_id, Run)
    out = run_dir(ws, run_id)
    windows = plan_windows(run.data.bars, run.walk_forward)
    complete = [w.index for w in windows if _window_paths(out, w.index)["json"].is_file()]
    trials: dict[int, int] = {}
    meta = out / "meta.json"
    if meta.is_file():
        storage = open_storage(json.loads(meta.read_text())["storage_url"])
        names = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
        for w in windows:
            s = names.get(f"{run_id}-w{w.index:03d}")
            if s is not None:
                st = optuna.load_study(study_name=s.study_name, storage=storage)
                trials[w.index] = len(st.get_trials(deepcopy=False,
                                                    states=(optuna.trial.TrialState.COMPLETE,)))
    finished = load_result(ws, run_id) is not None
    return {"run_id": run_id, "state": "finished" if finished else ("running_or_stopped" if meta.is_file()
                                                                     else "created"),
            "windows": len(windows), "windows_complete": len(complete),
            "trials_per_window": run.search.n_trials, "trials_complete": trials}
