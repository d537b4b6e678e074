"""Walk-forward on a universe: windows on the common calendar, selection on the portfolio objective (or per
member), stitched out-of-sample portfolio equity beside each member's, one holdout for every member.

Procedure (`run_universe_walkforward`):
1. Bars: every member's research bars, cut at the universe's seal (`universe.service.research_frames`: the
   earliest holdout start among the members, so no member is searched on a bar another member holds out),
   aligned on the union calendar.
2. Windows: rolling on the calendar. Window k trains on calendar bars [k t, k t + train) and is judged on
   [k t + train, k t + train + t) (t = `target_bars`), each segment on its own bars (flat start).
3. Trials: `n_trials` parameter sets drawn from the Spec's search space (seeded, distinct), the same sets in
   every window. `selection="portfolio"`: one set for all members, the best portfolio Sharpe on train (ruined
   runs last). `selection="per_member"`: each member takes the set with its own best train Sharpe; the
   portfolio then runs each member with its own set.
4. Trial ledger, counted honestly: a portfolio trial is evaluated on every member's data, so each one is
   recorded on each member's content (key `uwKKK/setJJJJ`); per-member selection records each member's
   trials on its own content. The DSR deflates by the largest session count among the members.
5. Out of sample: the selected set(s) backtested on each target segment (`run_portfolio_backtest`); the
   segments' portfolio NAVs (and each member's, and the equal-weight basket's buy and hold) are chained
   into stitched curves; metrics by `metrics.nav_metrics`; trades summed over segments.
6. Robustness: PBO (CSCV) and Hansen's SPA over the trials' daily portfolio returns of each train window,
   the gates of the workspace (`gates.gate_failures`), and the consistency across members.
The holdout is scored once per run by `score_universe_holdout` (every member's sealed bars, audited).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from auraquant.canonical import ContentModel
from auraquant.cta.backtest.layout import M
from auraquant.cta.backtest.metrics import nav_metrics, rank_rows
from auraquant.cta.backtest.portfolio import (
    PortfolioResult,
    Sizing,
    consistency,
    run_portfolio_backtest,
    run_portfolio_sweep,
    sweep_matrices,
)
from auraquant.cta.experiment import ledger
from auraquant.cta.experiment.gates import GateConfig, gate_failures
from auraquant.cta.experiment.stitch import daily_return_matrix
from auraquant.cta.strategy.spec import FloatRange, IntRange, Spec, apply_params
from auraquant.cta.universe import service
from auraquant.cta.universe.align import AlignedUniverse, align
from auraquant.cta.universe.model import Universe
from auraquant.store import NotFound, Store

RUN_KIND = "universe_run"
RESULT_KIND = "universe_run_result"
HOLDOUT_KIND = "universe_holdout"
LEDGER_SOURCE = "universe_run"


class UniverseWalkForward(BaseModel):
    """Window layout (calendar bars), trials and sizing of a universe walk-forward."""

    model_config = {"frozen": True, "extra": "forbid"}
    n_windows: int = Field(3, ge=1, le=50)
    train_bars: int = Field(ge=50)
    target_bars: int = Field(ge=20)
    n_trials: int = Field(16, ge=2, le=2000)
    seed: int = 7
    sizing: Sizing = Field(default_factory=Sizing)
    selection: Literal["portfolio", "per_member"] = "portfolio"


class UniverseRun(ContentModel):
    """What was run: universe, Spec, layout, and the content of every member's research bars (`urun_…`)."""

    _id_prefix = "urun"
    universe_id: str
    spec: Spec
    config: UniverseWalkForward
    members: list[str]
    data_hashes: dict[str, str]
    holdout_start: datetime | None
    calendar_bars: int


class UniverseRunResult(BaseModel):
    """Out-of-sample results: portfolio, members, windows, robustness and the significance verdict."""

    model_config = {"frozen": True, "extra": "forbid"}
    run_id: str
    universe_id: str
    spec_id: str
    windows: list[dict[str, Any]]
    oos: dict[str, Any]
    members: dict[str, dict[str, Any]]
    consistency: dict[str, Any]
    correlation: dict[str, dict[str, float | None]]
    basket_buy_and_hold: dict[str, Any]
    robustness: dict[str, Any]
    significance: dict[str, Any]
    total_trials: int
    trials: list[dict[str, Any]] = Field(default_factory=list, description="every trial as the ledger counts it: "
                                         "content hash, key, daily mean/std, days (re-counted for a new session)")
    stitched: dict[str, list[Any]] = Field(description="daily closes of the stitched OOS curves (time, portfolio, "
                                                       "each member, equal-weight basket buy and hold)")
    finished_at: datetime


class UniverseHoldoutScore(BaseModel):
    """The one scoring of a universe run's holdout: every member's sealed bars, read (and logged) once."""

    model_config = {"frozen": True, "extra": "forbid"}
    run_id: str
    holdout_start: datetime
    params: dict[str, Any]
    member_params: dict[str, dict[str, Any]]
    metrics: dict[str, Any]
    members: dict[str, dict[str, Any]]
    look: int
    bars: int
    scored_at: datetime


class HoldoutAlreadyScored(RuntimeError):
    pass


# -- trials ------------------------------------------------------------------------------------------------
def sample_sets(spec: Spec, n: int, seed: int) -> list[dict[str, int | float]]:
    """`n` distinct parameter sets from `spec.search_space` (seeded; fewer if the space is smaller). The
    first is the Spec's own values where the space allows them."""
    space = spec.search_space
    if not space:
        raise ValueError("the Spec has no search space; add one (spec_put) before a walk-forward")
    rng = np.random.Generator(np.random.PCG64(seed))
    out: list[dict[str, int | float]] = []
    seen: set[tuple] = set()
    for _ in range(n * 20):
        if len(out) >= n:
            break
        s: dict[str, int | float] = {}
        for path, p in space.items():
            if isinstance(p, IntRange):
                steps = (p.high - p.low) // p.step
                s[path] = int(p.low + p.step * int(rng.integers(0, steps + 1)))
            elif isinstance(p, FloatRange):
                if p.log:
                    v = float(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
                else:
                    v = float(rng.uniform(p.low, p.high))
                if p.step:
                    v = p.low + p.step * round((v - p.low) / p.step)
                s[path] = round(min(max(v, p.low), p.high), 10)
            else:
                s[path] = p.choices[int(rng.integers(0, len(p.choices)))]
        key = tuple(sorted(s.items()))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _trial_returns(au: AlignedUniverse, spec: Spec, sets: list[dict[str, Any]], sizing: Sizing,
                   extra_dir: Path | str | None) -> np.ndarray:
    """(days x trials) daily portfolio returns of every trial on a train window (for PBO and SPA), with the
    same module directory as the window's sweep (a Spec may use workspace modules)."""
    navs = []
    for s in sets:
        r = run_portfolio_backtest(au, apply_params(spec, s), sizing, extra_dir=extra_dir)
        assert r.equity is not None
        navs.append(r.equity["equity"].to_numpy())
    return daily_return_matrix(pd.Series(au.times()), np.vstack(navs), spec.engine.initial_capital).to_numpy()


# -- the walk-forward -----------------------------------------------------------------------------------------
def run_universe_walkforward(store: Store, uv: Universe, spec: Spec, cfg: UniverseWalkForward, *,
                             session_id: str | None, gates: GateConfig | None = None,
                             extra_dir: str | None = None, frames: dict[str, pd.DataFrame] | None = None
                             ) -> tuple[UniverseRun, UniverseRunResult]:
    """Run (or find, when the same run was stored before) a universe walk-forward (module docstring).
    `frames`: the universe's `service.research_frames` when the caller already read them (not read again)."""
    au = align(frames) if frames is not None else service.research_aligned(store, uv)
    hs = service.holdout_start(store, uv)
    need = cfg.train_bars + cfg.n_windows * cfg.target_bars
    if need > len(au):
        raise ValueError(f"{cfg.n_windows} windows of train {cfg.train_bars} + target {cfg.target_bars} bars need "
                         f"{need} calendar bars; the universe has {len(au)} before its holdout")
    hashes = {m.symbol: store.get_data_version(m.data_version_id).content_hash for m in uv.members}
    run = UniverseRun(universe_id=uv.id, spec=spec, config=cfg, members=list(au.symbols), data_hashes=hashes,
                      holdout_start=None if hs is None else hs.to_pydatetime(), calendar_bars=len(au))
    try:
        found = store.get_object(RESULT_KIND, run.id, UniverseRunResult)
    except NotFound:
        found = None
    if found is not None:
        # the same run found again: its trials count for this session too (the ledger is per session)
        _record(store, session_id, run.id, found.trials)
        sig = _significance(store, run, found.oos, found.robustness.get("pbo"),
                            found.robustness.get("spa_consistent_median"), session_id, gates or GateConfig())
        return run, found.model_copy(update={"significance": sig})
    gates = gates or GateConfig()
    sets = sample_sets(spec, cfg.n_trials, cfg.seed)
    C = spec.engine.initial_capital
    windows: list[dict[str, Any]] = []
    segs: list[tuple[AlignedUniverse, PortfolioResult]] = []
    pbos: list[float] = []
    spas: list[float] = []
    total = 0
    trial_rows: list[dict[str, Any]] = []
    t = au.times()
    for k in range(cfg.n_windows):
        a = k * cfg.target_bars
        b = a + cfg.train_bars
        c = b + cfg.target_bars
        train = au.window(a, b)
        keys = [f"uw{k:03d}/set{j:04d}" for j in range(len(sets))]
        member_params: dict[str, dict[str, Any]] = {}
        if cfg.selection == "portfolio":
            table = run_portfolio_sweep(train, spec, sets, cfg.sizing, extra_dir=extra_dir)
            for sym in train.symbols:  # one portfolio trial is a trial on every member's content
                trial_rows += _rows(hashes[sym], keys, table)
            total += len(sets)
            best = int(rank_rows(table.assign(_row=range(len(table))), "sharpe")["_row"].iloc[0])
            params: dict[str, Any] = dict(sets[best])
            train_score = float(table["sharpe"].iloc[best])
        else:
            _, mmat = sweep_matrices(train, spec, sets, cfg.sizing, extra_dir=extra_dir)
            params = {}
            for i, sym in enumerate(train.symbols):
                mt = pd.DataFrame(mmat[:, i, :], columns=list(M))
                trial_rows += _rows(hashes[sym], keys, mt)
                total += len(sets)
                best = int(rank_rows(mt.assign(_row=range(len(mt))), "sharpe")["_row"].iloc[0])
                member_params[sym] = dict(sets[best])
            train_score = float("nan")
        mat = _trial_returns(train, spec, sets, cfg.sizing, extra_dir)
        if mat.shape[0] >= 10:
            from auraquant.cta.experiment.pbo import pbo_cscv
            from auraquant.cta.experiment.robustness import RobustnessConfig, _splits
            from auraquant.cta.experiment.spa import snooping_test

            rc = RobustnessConfig()
            n_split = _splits(mat.shape[0], rc.n_splits)
            if n_split is not None:
                pbos.append(float(pbo_cscv(mat, n_splits=n_split).pbo))
            spas.append(float(snooping_test(mat, reps=rc.spa_reps, seed=cfg.seed + k).spa_consistent))
        target = au.window(b, c)
        oos_spec = apply_params(spec, params) if params else spec
        res = run_portfolio_backtest(target, oos_spec, cfg.sizing, member_params=member_params or None,
                                     extra_dir=extra_dir)
        segs.append((target, res))
        windows.append({"window": k, "train_from": str(t[a]), "train_to": str(t[b - 1]), "target_from": str(t[b]),
                        "target_to": str(t[c - 1]), "params": params, "member_params": member_params,
                        "train_sharpe": None if not math.isfinite(train_score) else train_score,
                        "oos_sharpe": res.metrics["sharpe"], "oos_trades": int(res.metrics["trades"]),
                        "members_oos_sharpe": {s: _fin(m["sharpe"]) for s, m in res.member_metrics.items()}})
    _record(store, session_id, run.id, trial_rows)
    return run, _finish(store, uv, run, spec, cfg, au, segs, windows, pbos, spas, total, trial_rows, session_id,
                        gates, C)


def _rows(content_hash: str, keys: list[str], table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"content_hash": content_hash, "key": k, "daily_mean": _fin(m), "daily_std": _fin(s), "n_days": int(d)}
            for k, m, s, d in zip(keys, table["daily_mean"], table["daily_std"], table["n_days"], strict=True)]


def _record(store: Store, session_id: str | None, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Count the trials in the ledger for `session_id`, per member content (idempotent per session)."""
    by_hash: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_hash.setdefault(r["content_hash"], []).append(r)
    for h, rs in by_hash.items():
        table = pd.DataFrame({"daily_mean": [np.nan if r["daily_mean"] is None else r["daily_mean"] for r in rs],
                              "daily_std": [np.nan if r["daily_std"] is None else r["daily_std"] for r in rs],
                              "n_days": [r["n_days"] for r in rs]})
        ledger.record_table(store, h, session_id, LEDGER_SOURCE, run_id, table, [r["key"] for r in rs])


def _fin(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _stitch(segs: list[tuple[AlignedUniverse, PortfolioResult]], column: str, initial: float
            ) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Chain the segments' curves (each starts at `initial`) into one: each segment continues from the
    previous one's last value. A segment without `column` (a member absent there) stays flat."""
    times, parts, level = [], [], 1.0
    for au, res in segs:
        assert res.equity is not None
        v = res.equity[column].to_numpy() if column in res.equity else np.full(len(au), initial)
        parts.append(level * v / initial)
        level = float(parts[-1][-1])
        times.append(au.times())
    return pd.DatetimeIndex(np.concatenate([t.to_numpy() for t in times])), np.concatenate(parts) * initial


def _chained_bh(segs: list[tuple[AlignedUniverse, PortfolioResult]], sym: str) -> float | None:
    """Buy and hold of one member over the stitched target segments: each segment's buy-and-hold return
    compounded, as `_stitch` chains the curves (a segment without the member adds nothing)."""
    level = 1.0
    for _, res in segs:
        rep = res.members.get(sym)
        bh = rep.buy_and_hold if rep is not None else None
        if bh is None:
            continue
        if bh.total_return is None or not math.isfinite(bh.total_return):
            return None
        level *= 1.0 + bh.total_return
    return level - 1.0


def _finish(store: Store, uv: Universe, run: UniverseRun, spec: Spec, cfg: UniverseWalkForward,
            au: AlignedUniverse, segs: list[tuple[AlignedUniverse, PortfolioResult]], windows: list[dict[str, Any]],
            pbos: list[float], spas: list[float], total: int, trial_rows: list[dict[str, Any]],
            session_id: str | None, gates: GateConfig, C: float) -> UniverseRunResult:
    basis = spec.engine.annualization
    times, nav = _stitch(segs, "equity", C)
    oos: dict[str, Any] = {k: _fin(v) for k, v in nav_metrics(times, nav, C, basis).items()}
    oos["trades"] = int(sum(r.metrics["trades"] for _, r in segs))
    members: dict[str, dict[str, Any]] = {}
    stitched: dict[str, list[Any]] = {}
    day_nav = pd.Series(nav, index=times).resample("1D").last().dropna()
    day_idx = day_nav.index
    stitched["time"] = [str(t) for t in day_idx]
    stitched["portfolio"] = day_nav.tolist()
    for sym in au.symbols:
        mt, mnav = _stitch(segs, f"nav_{sym}", C)
        m = {k: _fin(v) for k, v in nav_metrics(mt, mnav, C, basis).items()}
        m["trades"] = int(sum(r.member_metrics[sym]["trades"] for _, r in segs if sym in r.member_metrics))
        m["bh_total_return"] = _chained_bh(segs, sym)
        members[sym] = m
        stitched[sym] = pd.Series(mnav, index=mt).resample("1D").last().reindex(day_idx).ffill().tolist()
    bt, bnav = _stitch(segs, "basket_buy_and_hold", C)
    basket = {k: _fin(v) for k, v in nav_metrics(bt, bnav, C, basis).items()}
    stitched["basket_buy_and_hold"] = pd.Series(bnav, index=bt).resample("1D").last().reindex(day_idx).ffill().tolist()
    oos["bh_total_return"] = basket["total_return"]
    oos["bh_sharpe"] = basket["sharpe"]
    oos["bh_max_drawdown"] = basket["max_drawdown"]
    oos["excess_return"] = (oos["total_return"] - basket["total_return"]
                            if oos["total_return"] is not None and basket["total_return"] is not None else None)
    oos["excess_sharpe"] = (oos["sharpe"] - basket["sharpe"]
                            if oos["sharpe"] is not None and basket["sharpe"] is not None else None)
    daily = pd.DataFrame({s: pd.Series(stitched[s], index=day_idx).pct_change() for s in au.symbols}).iloc[1:]
    corr = daily.corr()
    correlation = {a: {b: _fin(float(corr.loc[a, b])) for b in au.symbols} for a in au.symbols}
    pbo = float(np.mean(pbos)) if pbos else None
    spa = float(np.median(spas)) if spas else None
    significance = _significance(store, run, oos, pbo, spa, session_id, gates)
    result = UniverseRunResult(
        run_id=run.id, universe_id=uv.id, spec_id=spec.id, windows=windows, oos=oos, members=members,
        consistency=consistency(members), correlation=correlation, basket_buy_and_hold=basket,
        robustness={"pbo": pbo, "pbo_windows": pbos, "spa_consistent_median": spa, "spa_windows": spas},
        significance=significance, total_trials=total, trials=trial_rows, stitched=stitched, finished_at=datetime.now(UTC))
    store.put_object(RUN_KIND, run)
    store.put_object(RESULT_KIND, result, obj_id=run.id)
    return result


def _significance(store: Store, run: UniverseRun, oos: dict[str, Any], pbo: float | None, spa: float | None,
                  session_id: str | None, gates: GateConfig) -> dict[str, Any]:
    """The significance block under `gates`: the DSR deflated by the ledger's current count (the largest among
    the members' contents), PBO, SPA p and OOS trades, the failed gates and the verdict."""
    counts = [ledger.count(store, h, gates.dsr_scope, session_id) for h in run.data_hashes.values()]
    cnt = max(counts, key=lambda c: c.n_trials)
    dm, ds = oos.get("daily_mean"), oos.get("daily_std")
    sr = dm / ds if dm is not None and ds and ds > 0 else None
    d = ledger.ledger_dsr(sr, int(oos.get("n_days") or 0), oos.get("skew"), oos.get("kurtosis"), cnt)
    fails = gate_failures(d.dsr, pbo, spa, oos.get("trades"), gates)
    return {f"dsr_{gates.dsr_scope}": d.dsr, "dsr_n_trials": cnt.n_trials, "dsr_sharpe_variance": cnt.sharpe_variance,
            "pbo": pbo, "spa_p": spa, "oos_trades": oos.get("trades"), "gates": gates.describe(),
            "failed_gates": fails, "significance": "significant" if not fails else "not significant"}


def goal_metrics(result: UniverseRunResult) -> dict[str, Any]:
    """The flat metrics a goal is judged on: the portfolio's OOS metrics, `dsr` (ledger), and `members`."""
    return {**result.oos, "dsr": result.significance.get("dsr_session", result.significance.get("dsr_workspace")),
            "members": result.members, "carriers": result.consistency.get("carriers")}


def score_universe_holdout(store: Store, run_id: str, *,
                           extra_dir: Path | str | None = None) -> UniverseHoldoutScore:
    """Score a universe run's holdout once: every member's sealed bars from the universe's seal (each read
    audited by `access.read_holdout`), the last window's selection, one portfolio backtest. A second call
    for the same run raises `HoldoutAlreadyScored` before anything is read."""
    try:
        prior = store.get_object(HOLDOUT_KIND, run_id, UniverseHoldoutScore)
        raise HoldoutAlreadyScored(f"the holdout of {run_id} was already scored at {prior.scored_at:%Y-%m-%d %H:%M} "
                                   "UTC; it cannot be scored again")
    except NotFound:
        pass
    run = store.get_object(RUN_KIND, run_id, UniverseRun)
    result = store.get_object(RESULT_KIND, run_id, UniverseRunResult)
    uv = service.get(store, run.universe_id)
    frames, reads = service.holdout_frames(store, uv, reader="score_universe_holdout", run_id=run_id)
    au = align({s: f for s, f in frames.items() if len(f) >= 2})
    last = result.windows[-1]
    spec = apply_params(run.spec, last["params"]) if last["params"] else run.spec
    res = run_portfolio_backtest(au, spec, run.config.sizing, member_params=last["member_params"] or None,
                                 extra_dir=extra_dir)
    metrics = {k: _fin(v) for k, v in res.metrics.items()}
    metrics["bh_total_return"] = res.basket.get("total_return")
    metrics["bh_sharpe"] = res.basket.get("sharpe")
    metrics["excess_return"] = res.report.buy_and_hold.excess_return if res.report.buy_and_hold else None
    metrics["excess_sharpe"] = res.report.buy_and_hold.excess_sharpe if res.report.buy_and_hold else None
    assert run.holdout_start is not None
    score = UniverseHoldoutScore(
        run_id=run_id, holdout_start=run.holdout_start, params=last["params"], member_params=last["member_params"],
        metrics=metrics, members={s: {k: _fin(v) for k, v in m.items()} for s, m in res.member_metrics.items()},
        look=max(r.look for r in reads), bars=len(au), scored_at=datetime.now(UTC))
    store.put_object(HOLDOUT_KIND, score, obj_id=run_id)
    return score


def current_gate_failures(store: Store, run_id: str, result: UniverseRunResult, session_id: str | None,
                          gates: GateConfig) -> list[str]:
    """The gates a universe run fails now: its DSR re-deflated with the ledger's current count (trials made
    after the run count too), its PBO, SPA p and OOS trades."""
    run = store.get_object(RUN_KIND, run_id, UniverseRun)
    sig = _significance(store, run, result.oos, result.robustness.get("pbo"),
                        result.robustness.get("spa_consistent_median"), session_id, gates)
    return list(sig["failed_gates"])


def run_in_workspace(ws: Any, universe_id: str, spec: Spec, *, train: int, target: int, windows: int | None,
                     trials: int, seed: int) -> dict[str, Any]:
    """`auraquant experiment run --universe`: a universe walk-forward with the workspace's gates, outside any
    research session; its summary (without the per-trial rows and the stitched curves)."""
    from auraquant.cta.experiment.gates import load_gates

    uv = service.get(ws.store, universe_id)
    if service.holdout_start(ws.store, uv) is None:
        raise ValueError(f"universe {uv.id} has no holdout; declare one (universe_create with holdout_start)")
    cfg = UniverseWalkForward(n_windows=windows or 3, train_bars=train, target_bars=target, n_trials=trials, seed=seed)
    run, res = run_universe_walkforward(ws.store, uv, spec, cfg, session_id=None, gates=load_gates(ws.config),
                                        extra_dir=str(ws.runtime_dir))
    return {"run_id": run.id, **res.model_dump(mode="json", exclude={"trials", "stitched"})}
