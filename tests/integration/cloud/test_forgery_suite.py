"""Forgery suite: results of real jobs (run through `runner.run_job`, as `auraquant job run` does) are tampered
with the way a dishonest remote executor could — every edited file re-hashed into the manifest, so only the
local recomputation can catch it — and every forgery must be refused with nothing signed or archived.

Audit draws depend on a local secret; tests that need a particular row audited inject a secret found by a
deterministic search (never the job's seed), so they are reproducible.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auraquant.canonical import sha256_hex
from auraquant.cta.backtest.metrics import add_trial_statistics
from auraquant.cta.cloud import audit, runner
from auraquant.cta.cloud.bundle import make_job, open_bundle, write_bundle
from auraquant.cta.cloud.errors import TrustRefused
from auraquant.cta.cloud.trust import accept_results, manifest_digest, verify_results
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.record import GoalThresholds, Threshold
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace

from .conftest import PARAM_SETS, SPEC

pytestmark = pytest.mark.slow  # ~40 s: two real jobs and ~45 local verifications

SECRET = bytes(range(32))
GOAL = GoalThresholds(thresholds={"trades": Threshold(min=1)})
WF_SPEC = Spec(name="ema-wf-forgery", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
               search_space={"baseline.fast": {"kind": "int", "low": 3, "high": 20},
                             "baseline.slow": {"kind": "int", "low": 25, "high": 80}})
WF_SEARCH = {"walk_forward": {"train_bars": 900, "validation_bars": 200, "target_bars": 300},
             "search": {"n_trials": 12, "batch_size": 6, "top_k": 2, "n_startup_trials": 6}}


# -- the forger's tools ------------------------------------------------------------------------------------
def rehash(result_dir: Path, *names: str) -> None:
    """Rewrite the manifest entries of `names` so the file hashes match again (what a forger does)."""
    manifest = json.loads((result_dir / runner.MANIFEST).read_text())
    for name in names:
        manifest["files"][name]["sha256"] = sha256_hex((result_dir / name).read_bytes())
        manifest["files"][name]["digest"] = runner.frame_digest(pd.read_parquet(result_dir / name))
        manifest["files"][name]["rows"] = len(pd.read_parquet(result_dir / name))
    (result_dir / runner.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def edit_frame(result_dir: Path, name: str, edit: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
    frame = pd.read_parquet(result_dir / name)
    out = edit(frame)
    (frame if out is None else out).to_parquet(result_dir / name, index=False)
    rehash(result_dir, name)


def edit_manifest(result_dir: Path, edit: Callable[[dict], None]) -> None:
    manifest = json.loads((result_dir / runner.MANIFEST).read_text())
    edit(manifest)
    (result_dir / runner.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def reforge_sweep(result_dir: Path, bundle_path: Path, metrics: pd.DataFrame) -> None:
    """The strongest sweep forger: from an edited metrics table, rebuild psr/dsr, the trial table, the top
    trials' artifacts and the manifest exactly as an honest run would, so everything is self-consistent."""
    bundle = open_bundle(bundle_path)
    job = bundle.job
    names = [c for c in metrics.columns if c in {k for p in job.param_sets for k in p}]
    stats = add_trial_statistics(metrics.drop(columns=["trial", *names, "psr", "dsr"]).copy())
    metrics = metrics.assign(psr=stats["psr"], dsr=stats["dsr"])
    objective = metrics[job.rank_by].to_numpy(dtype=float)
    pj = [runner.params_json(p) for p in job.param_sets]
    trials = pd.DataFrame({"trial": metrics["trial"], "params": pj,
                           "params_hash": [sha256_hex(p.encode())[:16] for p in pj],
                           "objective": objective, "rank": runner.rank_trials(objective)})
    files = {runner.METRICS_FILE: metrics, runner.TRIALS_FILE: trials}
    top = []
    for rank, trial in enumerate(runner.top_trials(trials, job.top_k), start=1):
        _, equity, trades = runner.artifacts_for(bundle, job.param_sets[trial])
        files[runner.equity_file(rank)] = equity
        files[runner.trades_file(rank)] = trades
        top.append(runner.top_entry(job, rank, trial, metrics.iloc[trial].to_dict()))
    for p in result_dir.iterdir():
        p.unlink()
    runner.write_results(job, files, top, result_dir, None, 0.0)


def reforge_walkforward(result_dir: Path, bundle_path: Path, trials: pd.DataFrame) -> None:
    """The strongest walk-forward forger: from an edited trial table, re-apply the honest selection rule
    (`experiment.window.select`) in every window and rebuild target runs, selection, stitched curve, trades
    and manifest exactly as an honest run would."""
    import io

    from auraquant.cta.experiment.models import WindowResult
    from auraquant.cta.experiment.runner import selection_table
    from auraquant.cta.experiment.stitch import stitch_buy_and_hold, stitch_equity
    from auraquant.cta.experiment.window import _plain, _span, run_target, select

    bundle = open_bundle(bundle_path)
    plan = runner.walkforward_plan(bundle)
    spec, cfg, names = bundle.job.spec, plan.run.search, list(bundle.job.spec.search_space)
    windows, equities, trade_frames, blocks = [], [], [], []
    for w in plan.windows:
        raw = trials[trials["window"] == w.index].drop(
            columns=["window", "train_rank", "validation_score", "selected"]).reset_index(drop=True)
        train = plan.bars.segment(w.train.start, w.train.stop)
        validation = plan.bars.segment(w.validation.start, w.validation.stop)
        target = plan.bars.segment(w.target.start, w.target.stop)
        block, best, val_score = select(raw, names, validation, spec, cfg)
        chosen = {p: _plain(block.loc[best, p]) for p in names}
        res, equity, trades = run_target(target, spec, chosen, w.index)
        block["selected"] = block.index == best
        block.insert(0, "window", w.index)
        blocks.append(block)
        equities.append(equity)
        trade_frames.append(trades)
        windows.append(WindowResult(
            window=w, train_span=_span(train), validation_span=_span(validation), target_span=_span(target),
            params=chosen, train_score=float(block.loc[best, "score"]), validation_score=val_score,
            train_rank=int(block.loc[best, "train_rank"]), n_trials=len(block),
            target_report=res.report.model_dump(mode="json")))

    def parquet(frame: pd.DataFrame) -> pd.DataFrame:  # as an honest run's files hold them
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return pd.read_parquet(io.BytesIO(buf.getvalue()))

    all_trials = pd.concat(blocks, ignore_index=True)
    stitched = stitch_equity(equities, spec.engine.initial_capital)
    stitched["buy_and_hold"] = stitch_buy_and_hold(
        [plan.bars.segment(w.target.start, w.target.stop) for w in plan.windows], spec.engine)[1]["equity"].to_numpy()
    files = {"selection.parquet": parquet(selection_table(windows)), "trials.parquet": parquet(all_trials),
             "oos_equity.parquet": parquet(stitched),
             "oos_trades.parquet": parquet(pd.concat(trade_frames, ignore_index=True))}
    for p in result_dir.iterdir():
        p.unlink()
    runner.write_results(bundle.job, files, runner.walkforward_top(windows), result_dir, None, 0.0,
                          extra={"run_id": plan.run.id, "n_trials": len(all_trials)})


def secret_auditing(result_dir: Path, job_id: str, candidates: list[int], k: int, row: int,
                    purpose: str = "sweep", want: bool = True) -> bytes:
    """The first secret (deterministic search) whose draw on these exact files does (or does not) audit `row`."""
    digest = manifest_digest(runner.open_results(result_dir))
    for i in range(10_000):
        s = i.to_bytes(32, "big")
        if (row in audit.draw(candidates, k, audit.audit_seed(s, job_id, digest, purpose))) == want:
            return s
    raise AssertionError("no such secret")


# -- fixtures: honest results of real jobs -------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, bars: pd.DataFrame) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sweep")
    job = make_job(bars, SPEC, param_sets=PARAM_SETS, seed=3, top_k=2, symbol="SYNTH/USDT", timeframe="1h")
    bundle = write_bundle(job, bars, root / "bundles")
    return bundle, runner.run_job(bundle, root / "honest").out_dir


@pytest.fixture(scope="module")
def walkforward(tmp_path_factory: pytest.TempPathFactory, bars: pd.DataFrame) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("wf")
    job = make_job(bars, WF_SPEC, kind="walkforward", search=WF_SEARCH, seed=5)
    bundle = write_bundle(job, bars, root / "bundles")
    return bundle, runner.run_job(bundle, root / "honest").out_dir


@pytest.fixture
def forged_sweep(sweep: tuple[Path, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "forged"
    shutil.copytree(sweep[1], dst)
    return dst


@pytest.fixture
def forged_wf(walkforward: tuple[Path, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "forged-wf"
    shutil.copytree(walkforward[1], dst)
    return dst


def _refused(ws: Workspace, bundle: Path, result: Path, match: str, **kw: object) -> None:
    with pytest.raises(TrustRefused, match=match):
        accept_results(ws, bundle, result, backend="managed", goal=GOAL, secret=SECRET, **kw)  # type: ignore[arg-type]
    assert not (ws.artifacts / "cloud").exists()
    assert Archive(ws.store, ws.aura).list_records() == []


def _best(result_dir: Path, k: int = 1) -> list[int]:
    return runner.top_trials(pd.read_parquet(result_dir / runner.TRIALS_FILE), k)


def _worst(result_dir: Path) -> int:
    return int(pd.read_parquet(result_dir / runner.TRIALS_FILE).sort_values("rank")["trial"].iloc[-1])


def _non_top(result_dir: Path, top_k: int = 2) -> list[int]:
    top = set(_best(result_dir, top_k))
    return [t for t in range(len(PARAM_SETS)) if t not in top]


# -- honest baselines: the suite's forgeries are the only reason for refusal ---------------------------------
def test_honest_results_are_accepted_and_signed_from_local_numbers(workspace: Workspace, sweep, walkforward) -> None:
    acc = accept_results(workspace, sweep[0], sweep[1], backend="local", goal=GOAL, secret=SECRET)
    v = acc.verification
    assert v.auditable == len(PARAM_SETS) - 2 and len(v.audited_trials) == 2
    assert v.escape_probability == pytest.approx(1 - 2 / 6)
    assert "escapes with probability 1 - k/n = 0.667" in v.verdict and "C(n-m,k)/C(n,k)" in v.verdict
    body = acc.envelope.body
    assert [t["trial"] for t in body["top"]] == _best(sweep[1], 2)
    acc_wf = accept_results(workspace, walkforward[0], walkforward[1], backend="local", secret=SECRET)
    wf = acc_wf.envelope.body["walkforward"]
    assert acc_wf.verification.kind == "walkforward" and len(wf["windows"]) >= 2
    from auraquant.cta.cloud.walkforward_check import default_replay_count

    assert len(wf["replayed_windows"]) == default_replay_count(len(wf["windows"])) >= 1
    assert wf["replay_escape_probability"] == pytest.approx(1 - len(wf["replayed_windows"]) / len(wf["windows"]))
    # the signed out-of-sample summary is the experiment layer's own, recomputed from the local windows
    from auraquant.cta.experiment.stitch import stitch_buy_and_hold, summarize

    stitched = pd.read_parquet(walkforward[1] / "oos_equity.parquet")
    trials = pd.read_parquet(walkforward[1] / "trials.parquet")
    oos = summarize(stitched, 10_000.0, 365, len(pd.read_parquet(walkforward[1] / "oos_trades.parquet")),
                    (trials["daily_mean"] / trials["daily_std"]).to_numpy(dtype=float), len(trials))
    plan = runner.walkforward_plan(open_bundle(walkforward[0]))
    bh, curve = stitch_buy_and_hold([plan.bars.segment(w.target.start, w.target.stop) for w in plan.windows],
                                    WF_SPEC.engine, versus=oos)
    assert np.array_equal(curve["equity"].to_numpy(), stitched["buy_and_hold"].to_numpy())
    oos = oos.model_copy(update={"buy_and_hold": bh})
    assert acc_wf.envelope.body["walkforward"]["oos"] == json.loads(oos.model_dump_json())


# -- sweep forgeries -------------------------------------------------------------------------------------------
def test_F01_manifest_top_metric_edited_is_refused(workspace, sweep, forged_sweep) -> None:
    # The attack from the issue: a Sharpe of 9.99 written only into the (unhashed) manifest's top.
    edit_manifest(forged_sweep, lambda m: m["top"][0]["metrics"].__setitem__("sharpe", 9.99))
    _refused(workspace, sweep[0], forged_sweep, "manifest's top trials .* differ from the local recomputation")


def test_F02_manifest_top_params_edited_is_refused(workspace, sweep, forged_sweep) -> None:
    edit_manifest(forged_sweep, lambda m: m["top"][0]["params"].__setitem__("baseline.fast", 7))
    _refused(workspace, sweep[0], forged_sweep, "manifest's top trials .* differ")


def test_F03_forged_sharpe_in_the_top_row_is_refused(workspace, sweep, forged_sweep) -> None:
    best = _best(forged_sweep)[0]
    edit_frame(forged_sweep, runner.METRICS_FILE,
               lambda f: f.__setitem__("sharpe", f["sharpe"].where(f["trial"] != best, 9.99)))
    _refused(workspace, sweep[0], forged_sweep, "sharpe does not follow from the row's other metrics")


def test_F04_coherent_fake_best_row_is_refused_by_its_rerun(workspace, sweep, forged_sweep) -> None:
    # The worst trial claims the best trial's whole, self-consistent metric row (dsr, ranks, top and the
    # top artifacts rebuilt): it enters the top, and the top is always re-run locally.
    best, worst = _best(forged_sweep)[0], _worst(forged_sweep)
    m = pd.read_parquet(forged_sweep / runner.METRICS_FILE)
    cols = [c for c in m.columns if c not in {"trial", *PARAM_SETS[0]}]
    m.loc[worst, cols] = m.loc[best, cols].to_numpy()
    reforge_sweep(forged_sweep, sweep[0], m)
    assert worst in _best(forged_sweep, 2)
    _refused(workspace, sweep[0], forged_sweep, f"trial {worst} \\(rank [12]\\) does not reproduce")


def test_F05_forged_sharpe_in_a_non_top_row_is_refused(workspace, sweep, forged_sweep) -> None:
    worst = _worst(forged_sweep)
    edit_frame(forged_sweep, runner.METRICS_FILE,
               lambda f: f.__setitem__("sharpe", f["sharpe"].where(f["trial"] != worst, f["sharpe"] - 0.1)))
    _refused(workspace, sweep[0], forged_sweep, "sharpe does not follow")


def test_F06_hidden_true_best_is_refused_when_audited(workspace, sweep, forged_sweep) -> None:
    # The remote reports its best trial with the (consistent) metrics of its worst one and rebuilds
    # everything else, so the runner-up becomes "best". Only an audit of that row can catch it.
    best, worst = _best(forged_sweep)[0], _worst(forged_sweep)
    m = pd.read_parquet(forged_sweep / runner.METRICS_FILE)
    cols = [c for c in m.columns if c not in {"trial", *PARAM_SETS[0]}]
    m.loc[best, cols] = m.loc[worst, cols].to_numpy()
    reforge_sweep(forged_sweep, sweep[0], m)
    assert best not in _best(forged_sweep, 2)  # the true best is hidden below the top
    candidates = _non_top(forged_sweep)
    secret = secret_auditing(forged_sweep, open_bundle(sweep[0]).job.id, candidates, 2, best)
    with pytest.raises(TrustRefused, match=f"audited trial {best} does not reproduce"):
        accept_results(workspace, sweep[0], forged_sweep, backend="managed", goal=GOAL, secret=secret)
    # Raising the audit count to every row refuses it whatever the secret.
    _refused(workspace, sweep[0], forged_sweep, f"audited trial {best} does not reproduce", audit_n=len(candidates))
    # With a secret that misses it the forgery escapes: that chance is what the verdict prints.
    lucky = secret_auditing(forged_sweep, open_bundle(sweep[0]).job.id, candidates, 2, best, want=False)
    v = verify_results(sweep[0], forged_sweep, secret=lucky)
    assert v.escape_probability == pytest.approx(audit.escape_probability(len(candidates), 2))
    assert v.escape_probability == pytest.approx(1 - 2 / 6)


def test_F07_naively_lowered_true_best_is_refused(workspace, sweep, forged_sweep) -> None:
    best = _best(forged_sweep)[0]
    m = pd.read_parquet(forged_sweep / runner.METRICS_FILE)
    m.loc[best, "sharpe"] = -1.0
    reforge_sweep(forged_sweep, sweep[0], m)
    _refused(workspace, sweep[0], forged_sweep, "sharpe does not follow")


def test_F08_reordered_ranks_are_refused(workspace, sweep, forged_sweep) -> None:
    edit_frame(forged_sweep, runner.TRIALS_FILE, lambda f: f.__setitem__("rank", f["rank"].to_numpy()[::-1].copy()))
    _refused(workspace, sweep[0], forged_sweep, "trial ranks do not follow")


@pytest.mark.parametrize("how", ["dropped", "duplicated", "extra"])
def test_F09_dropped_duplicated_or_extra_trials_are_refused(workspace, sweep, forged_sweep, how: str) -> None:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        if how == "dropped":
            return f.drop(index=_worst(forged_sweep)).reset_index(drop=True)
        if how == "duplicated":
            return pd.concat([f, f.iloc[[_best(forged_sweep)[0]]]], ignore_index=True)
        extra = f.iloc[[0]].assign(trial=len(f))
        return pd.concat([f, extra], ignore_index=True)
    edit_frame(forged_sweep, runner.METRICS_FILE, change)
    edit_frame(forged_sweep, runner.TRIALS_FILE, change)
    _refused(workspace, sweep[0], forged_sweep, "one row per parameter set")


@pytest.mark.parametrize(("key", "value", "match"), [
    ("n_trials", len(PARAM_SETS) + 1, "manifest n_trials"),
    ("data_hash", "0" * 64, "manifest data_hash"),
    ("spec_id", "spec_forged", "manifest spec_id"),
    ("rank_by", "total_return", "manifest rank_by"),
    ("verified", True, "unknown fields"),
])
def test_F10_wrong_manifest_identity_is_refused(workspace, sweep, forged_sweep, key, value, match) -> None:
    edit_manifest(forged_sweep, lambda m: m.__setitem__(key, value))
    _refused(workspace, sweep[0], forged_sweep, match)


@pytest.mark.parametrize("name", [runner.equity_file(1), runner.trades_file(2)])
def test_F11_edited_equity_or_trades_with_rehashed_manifest_are_refused(workspace, sweep, forged_sweep, name) -> None:
    col = "equity" if name.startswith("equity") else "pnl"
    edit_frame(forged_sweep, name, lambda f: f.__setitem__(col, f[col] * 1.0000001))
    _refused(workspace, sweep[0], forged_sweep, f"{name} .*does not reproduce bit for bit")


def test_F12_edited_dsr_column_is_refused(workspace, sweep, forged_sweep) -> None:
    edit_frame(forged_sweep, runner.METRICS_FILE, lambda f: f.__setitem__("dsr", f["dsr"].clip(upper=0.5) + 0.49))
    _refused(workspace, sweep[0], forged_sweep, "dsr column is not the statistic")


@pytest.mark.parametrize("col", ["max_drawdown", "sharpe", "trades"])
def test_F13_nan_injection_is_refused(workspace, sweep, forged_sweep, col: str) -> None:
    row = _non_top(forged_sweep)[0]
    edit_frame(forged_sweep, runner.METRICS_FILE, lambda f: f.__setitem__(col, f[col].where(f["trial"] != row, np.nan)))
    _refused(workspace, sweep[0], forged_sweep, "NaN|undefined|not a whole number|not internally consistent")


def test_F14_negative_trade_count_is_refused(workspace, sweep, forged_sweep) -> None:
    row = _non_top(forged_sweep)[1]
    edit_frame(forged_sweep, runner.METRICS_FILE,
               lambda f: f.__setitem__("trades", f["trades"].where(f["trial"] != row, -3.0)))
    _refused(workspace, sweep[0], forged_sweep, "trades is not a whole number >= 0")


def test_F15_results_from_another_job_are_refused(workspace, sweep, tmp_path: Path, bars: pd.DataFrame) -> None:
    other = make_job(bars, SPEC, param_sets=PARAM_SETS[::-1], seed=3, top_k=2)
    res = runner.run_job(write_bundle(other, bars, tmp_path / "o"), tmp_path / "other").out_dir
    _refused(workspace, sweep[0], res, "manifest job_id")
    # ... also when the forger rewrites the job id into the other job's manifest
    edit_manifest(res, lambda m: m.__setitem__("job_id", open_bundle(sweep[0]).job.id))
    _refused(workspace, sweep[0], res, "params|parameter|manifest")


def test_F16_consistent_edit_of_an_audited_row_is_refused(workspace, sweep, forged_sweep) -> None:
    # A non-top row gets another row's complete metrics (self-consistent): refused when the secret audits it.
    row, donor = _non_top(forged_sweep)[0], _non_top(forged_sweep)[1]
    m = pd.read_parquet(forged_sweep / runner.METRICS_FILE)
    cols = [c for c in m.columns if c not in {"trial", *PARAM_SETS[0]}]
    m.loc[row, cols] = m.loc[donor, cols].to_numpy()
    reforge_sweep(forged_sweep, sweep[0], m)
    secret = secret_auditing(forged_sweep, open_bundle(sweep[0]).job.id, _non_top(forged_sweep), 2, row)
    with pytest.raises(TrustRefused, match=f"audited trial {row} does not reproduce"):
        verify_results(sweep[0], forged_sweep, secret=secret)


def test_F17_extra_result_file_is_refused(workspace, sweep, forged_sweep) -> None:
    shutil.copy(forged_sweep / runner.equity_file(1), forged_sweep / runner.equity_file(3))
    edit_manifest(forged_sweep, lambda m: m["files"].__setitem__(runner.equity_file(3),
                                                                 dict(m["files"][runner.equity_file(1)])))
    _refused(workspace, sweep[0], forged_sweep, "result files .* are not the job's")


def test_F18_unlisted_file_in_the_results_is_refused(workspace, sweep, forged_sweep) -> None:
    (forged_sweep / "notes.parquet").write_bytes((forged_sweep / runner.METRICS_FILE).read_bytes())
    _refused(workspace, sweep[0], forged_sweep, "files the manifest does not list")


@pytest.mark.parametrize("edit", [
    lambda m: m["files"][runner.METRICS_FILE].pop("sha256"),
    lambda m: m["files"].__setitem__(runner.TRIALS_FILE, "not-an-entry"),
    lambda m: m.__setitem__("top", {"not": "a list"}),
])
def test_F20_malformed_manifest_is_refused_not_a_traceback(workspace, sweep, forged_sweep, edit) -> None:
    edit_manifest(forged_sweep, edit)
    _refused(workspace, sweep[0], forged_sweep, "REFUSED")


def test_F21_metrics_table_with_a_dropped_column_is_refused(workspace, sweep, forged_sweep) -> None:
    edit_frame(forged_sweep, runner.METRICS_FILE, lambda f: f.drop(columns=["win_rate"]))
    _refused(workspace, sweep[0], forged_sweep, "columns are not the engine's")


@pytest.mark.parametrize("params", ['{"baseline.fast":5.0,"baseline.slow":30,"execution.trailing_pct.pct":0.02}',
                                    '{"baseline.fast":7,"baseline.slow":30,"execution.trailing_pct.pct":0.02}',
                                    'not json'])
def test_F22_edited_params_in_the_trial_table_are_refused(workspace, sweep, forged_sweep, params: str) -> None:
    def edit(f: pd.DataFrame) -> None:
        f.loc[0, "params"] = params
        f.loc[0, "params_hash"] = sha256_hex(params.encode())[:16]
    edit_frame(forged_sweep, runner.TRIALS_FILE, edit)
    _refused(workspace, sweep[0], forged_sweep, "the trial table's params are not the bundle's")


def test_F19_a_refused_job_is_audited_in_full_when_resubmitted(workspace, sweep, forged_sweep) -> None:
    # Resubmitting until a forgery slips past a partial audit does not work: after one refusal, every
    # trial of that job is re-run on the next submission.
    edit_manifest(forged_sweep, lambda m: m["top"][0]["metrics"].__setitem__("sharpe", 9.99))
    _refused(workspace, sweep[0], forged_sweep, "manifest's top trials")
    acc = accept_results(workspace, sweep[0], sweep[1], backend="local", secret=SECRET, audit_n=1)
    v = acc.verification
    assert v.audited_trials == _non_top(sweep[1]) and v.escape_probability == 0.0
    assert "full audit: this job was refused 1 time(s) before" in v.checks


# -- walk-forward forgeries --------------------------------------------------------------------------------------
def test_W01_edited_window_selection_is_refused(workspace, walkforward, forged_wf) -> None:
    edit_frame(forged_wf, "selection.parquet",
               lambda f: f.__setitem__("param.baseline.fast", f["param.baseline.fast"].where(f["window"] != 0, 19)))
    _refused(workspace, walkforward[0], forged_wf, "selection.parquet .*does not reproduce")


def test_W02_edited_target_segment_is_refused(workspace, walkforward, forged_wf) -> None:
    # the trades of one window that has target trades (which windows trade depends on the searched params)
    edit_frame(forged_wf, "oos_trades.parquet",
               lambda f: f.__setitem__("pnl", f["pnl"].where(f["window"] != f["window"].iloc[-1], f["pnl"] + 5)))
    _refused(workspace, walkforward[0], forged_wf, "oos_trades.parquet .*does not reproduce")


def test_W03b_edited_stitched_buy_and_hold_is_refused(workspace, walkforward, forged_wf) -> None:
    # a weaker benchmark makes the strategy's excess look better
    edit_frame(forged_wf, "oos_equity.parquet", lambda f: f.__setitem__("buy_and_hold", f["buy_and_hold"] * 0.9))
    _refused(workspace, walkforward[0], forged_wf, "oos_equity.parquet .*does not reproduce")


def test_W03_edited_stitched_equity_is_refused(workspace, walkforward, forged_wf) -> None:
    def lift(f: pd.DataFrame) -> None:
        f["ret"] = f["ret"].where(f["window"] != 1, f["ret"] + 1e-4)
        f["equity"] = 10_000.0 * np.cumprod(1.0 + f["ret"].to_numpy())
    edit_frame(forged_wf, "oos_equity.parquet", lift)
    _refused(workspace, walkforward[0], forged_wf, "oos_equity.parquet .*does not reproduce")


def test_W04_moved_selection_flag_is_refused(workspace, walkforward, forged_wf) -> None:
    def move(f: pd.DataFrame) -> None:
        w0 = f.index[f["window"] == 0]
        sel = f.loc[w0, "selected"].to_numpy()
        f.loc[w0, "selected"] = np.roll(sel, 1)
    edit_frame(forged_wf, "trials.parquet", move)
    _refused(workspace, walkforward[0], forged_wf, "window 0: the selected trial is not the one")


def test_W05_manifest_window_choice_edited_is_refused(workspace, walkforward, forged_wf) -> None:
    edit_manifest(forged_wf, lambda m: m["top"][1]["metrics"].__setitem__("sharpe", 9.99))
    _refused(workspace, walkforward[0], forged_wf, "per-window choices or target metrics differ")


def test_W06_edited_validation_score_is_refused(workspace, walkforward, forged_wf) -> None:
    edit_frame(forged_wf, "trials.parquet", lambda f: f.__setitem__(
        "validation_score", f["validation_score"].where(~(f["selected"] & (f["window"] == 1)), 5.0)))
    _refused(workspace, walkforward[0], forged_wf, "window 1: the validation scores do not reproduce")


def test_W07_selected_trial_reported_with_another_rows_metrics_is_refused(workspace, walkforward, forged_wf) -> None:
    # The selected trial of window 0 reported with the train metrics of the window's worst trial: the
    # selected trial is always re-run on train, and its rank no longer follows.
    def hide(f: pd.DataFrame) -> None:
        w0 = f.index[f["window"] == 0]
        sel = w0[f.loc[w0, "selected"].to_numpy()][0]
        worst = f.loc[w0, "score"].idxmin()
        for c in ("sharpe", "sortino", "calmar", "total_return", "max_drawdown", "trades", "daily_mean",
                  "daily_std", "n_days", "skew", "kurtosis", "score"):
            f.loc[sel, c] = f.loc[worst, c]
    edit_frame(forged_wf, "trials.parquet", hide)
    _refused(workspace, walkforward[0], forged_wf, "window 0: (train_rank|trial .* does not reproduce|the selected)")


def test_W08_nan_injection_in_the_trial_table_is_refused(workspace, walkforward, forged_wf) -> None:
    # a NaN Sharpe on a row whose daily_std is positive contradicts the engine's definitions
    edit_frame(forged_wf, "trials.parquet", lambda f: f.__setitem__("sharpe", f["sharpe"].where(f.index != 3, np.nan)))
    _refused(workspace, walkforward[0], forged_wf, "not internally consistent|score or feasible")


def test_W09_dropped_trial_row_is_refused(workspace, walkforward, forged_wf) -> None:
    edit_frame(forged_wf, "trials.parquet", lambda f: f.drop(index=5).reset_index(drop=True))
    _refused(workspace, walkforward[0], forged_wf, "trials for each of the")


def test_W10_consistent_train_edit_is_refused_when_every_trial_is_audited(workspace, walkforward, forged_wf) -> None:
    # A non-selected, non-candidate trial of window 1 gets another such trial's whole metric row (score and
    # feasibility included, ranks rebuilt): every row stays self-consistent; only re-running it on train
    # catches it.
    from auraquant.cta.experiment.search import METRIC_COLUMNS

    trials = pd.read_parquet(forged_wf / "trials.parquet")
    w1 = trials[(trials["window"] == 1) & ~trials["selected"] & trials["validation_score"].isna()]
    victim, donor = w1.index[0], w1.index[-1]
    cols = [*METRIC_COLUMNS, "score", "feasible"]
    trials.loc[victim, cols] = trials.loc[donor, cols].to_numpy()
    block = trials[trials["window"] == 1]
    ranked = block.sort_values(["feasible", "score", "batch", "slot"], ascending=[False, False, True, True],
                               kind="stable")
    trials.loc[ranked.index, "train_rank"] = range(1, len(ranked) + 1)
    trials.to_parquet(forged_wf / "trials.parquet", index=False)
    rehash(forged_wf, "trials.parquet")
    _refused(workspace, walkforward[0], forged_wf, "window 1: trial .* does not reproduce on train",
             audit_n=WF_SEARCH["search"]["n_trials"])


def test_W12_hidden_true_best_of_a_window_is_refused_when_audited(workspace, walkforward, forged_wf) -> None:
    # The remote reports window 0's honestly selected trial with the (consistent) metrics of the window's
    # worst trial, re-applies the selection rule and rebuilds every downstream file: another trial is now
    # selected, with honest target numbers. Only re-running the hidden trial on train catches it.
    from auraquant.cta.experiment.search import METRIC_COLUMNS

    trials = pd.read_parquet(forged_wf / "trials.parquet")
    w0 = trials[trials["window"] == 0]
    hidden = int(w0.index[w0["selected"]][0])
    worst = int(w0["score"].idxmin())
    cols = [*METRIC_COLUMNS, "score", "feasible"]
    trials.loc[hidden, cols] = trials.loc[worst, cols].to_numpy()
    reforge_walkforward(forged_wf, walkforward[0], trials)
    forged = pd.read_parquet(forged_wf / "trials.parquet")
    assert not bool(forged.loc[hidden, "selected"])  # the true choice is hidden
    jid = open_bundle(walkforward[0]).job.id
    n = WF_SEARCH["search"]["n_trials"]
    new_best = int(forged[forged["window"] == 0].index[forged[forged["window"] == 0]["selected"]][0])
    others = [r for r in range(n) if r != new_best]
    k = audit.default_audit_count(len(others), minimum=1)
    # every number checks out without the audit (and without the proposal replay)
    v = verify_results(walkforward[0], forged_wf, secret=SECRET, audit_n=0, replay_n=0)
    assert v.escape_probability == 1.0
    secret = secret_auditing(forged_wf, jid, others, k, hidden, purpose="walkforward/0")
    with pytest.raises(TrustRefused, match=f"window 0: trial {hidden} does not reproduce on train"):
        accept_results(workspace, walkforward[0], forged_wf, backend="managed", secret=secret, replay_n=0)
    _refused(workspace, walkforward[0], forged_wf, f"window 0: trial {hidden} does not reproduce", audit_n=n,
             replay_n=0)


# -- the audit draw is unpredictable to the remote side ------------------------------------------------------
def test_audited_rows_depend_on_the_local_secret_not_on_the_job_seed(sweep) -> None:
    bundle, result = sweep
    job = open_bundle(bundle).job
    draws = {tuple(verify_results(bundle, result, secret=i.to_bytes(32, "big"), audit_n=2).audited_trials)
             for i in range(12)}
    assert len(draws) >= 5  # the secret moves the sample; the job (and its seed) is the same every time
    same = [verify_results(bundle, result, secret=SECRET, audit_n=2).audited_trials for _ in range(2)]
    assert same[0] == same[1]  # deterministic given the secret
    # The draw is exactly the HMAC rule: nothing of the job but its id and the received files enters it.
    digest = manifest_digest(runner.open_results(result))
    others = _non_top(result)
    assert same[0] == audit.draw(others, 2, audit.audit_seed(SECRET, job.id, digest, "sweep"))
    # Over many secrets each row is audited about k/n of the time: no row is predictably skipped.
    hits = np.zeros(len(PARAM_SETS))
    for i in range(600):
        for t in audit.draw(others, 2, audit.audit_seed(i.to_bytes(32, "big"), job.id, digest, "sweep")):
            hits[t] += 1
    assert np.all(np.abs(hits[others] / 600 - 2 / 6) < 0.08)


def test_workspace_secret_is_private_stable_and_never_signed(workspace, sweep) -> None:
    s1 = audit.workspace_secret(workspace.aura)
    path = audit.secret_path(workspace.aura)
    assert path.stat().st_mode & 0o777 == 0o600 and len(s1) == 32
    assert audit.workspace_secret(workspace.aura) == s1
    acc = accept_results(workspace, sweep[0], sweep[1], backend="local")
    assert s1.hex() not in acc.path.read_text() and s1.hex() not in open_bundle(sweep[0]).job.model_dump_json()


def test_escape_probability_matches_hand_computed_values() -> None:
    assert audit.escape_probability(10, 2, 1) == pytest.approx(0.8)  # 1 - k/n
    assert audit.escape_probability(10, 2, 2) == pytest.approx(28 / 45)  # C(8,2)/C(10,2)
    assert audit.escape_probability(10, 0, 3) == 1.0 and audit.escape_probability(10, 10, 1) == 0.0
    assert audit.escape_probability(6, 3, 4) == 0.0  # C(2,3) = 0: some tampered row is always drawn


def test_W11_parameter_set_slipped_into_the_search_is_refused_by_the_proposal_replay(workspace, walkforward,
                                                                                        forged_wf) -> None:
    # The forger swaps the parameters of one trial asked before the selected one in its batch for a set of
    # its choosing, with that set's honest train metrics (ranks rebuilt; it stays out of the validation
    # candidates), so every number in the table is true. Only replaying the seeded search catches it.
    from auraquant.cta.experiment.search import evaluate

    bundle = open_bundle(walkforward[0])
    plan = runner.walkforward_plan(bundle)
    cfg = plan.run.search
    trials = pd.read_parquet(forged_wf / "trials.parquet")
    for w in plan.windows:
        block = trials[trials["window"] == w.index]
        sel = block.index[block["selected"]][0]
        same = block[(block["batch"] == block.loc[sel, "batch"]) & (block["slot"] < block.loc[sel, "slot"])
                     & block["validation_score"].isna()]
        if len(same):
            victim = same.index[0]
            break
    else:
        pytest.skip("no window has a non-candidate trial before its selected one in the same batch")
    train = plan.bars.segment(w.train.start, w.train.stop)
    candidates = [{"baseline.fast": f, "baseline.slow": s} for f in (3, 4) for s in (79, 80)]
    table = evaluate(train, WF_SPEC, candidates, cfg)
    pick = int(table["score"].idxmin())
    for p, v in candidates[pick].items():
        trials.loc[victim, p] = v
    for c in [*table.columns.intersection(trials.columns)]:
        trials.loc[victim, c] = table[c].iloc[pick]
    block = trials[trials["window"] == w.index]
    ranked = block.sort_values(["feasible", "score", "batch", "slot"], ascending=[False, False, True, True],
                               kind="stable")
    trials.loc[ranked.index, "train_rank"] = range(1, len(ranked) + 1)
    trials.to_parquet(forged_wf / "trials.parquet", index=False)
    rehash(forged_wf, "trials.parquet")
    n = len(plan.windows)
    # without the replay every number checks out: the slip would pass
    verify_results(walkforward[0], forged_wf, secret=SECRET, audit_n=0, replay_n=0)
    _refused(workspace, walkforward[0], forged_wf, "is not what the seeded search proposes", audit_n=0, replay_n=n)


@pytest.mark.shared_data
def test_honest_results_on_real_bars_pass_every_check(shared_data: Path, tmp_path: Path) -> None:
    """No false refusals on real data: a wide sweep over real BTC/USDT 1h bars (incl. sets that barely trade
    and leveraged-looking tight stops) passes the consistency checks and a full audit."""
    from itertools import product

    bars = pd.read_parquet(shared_data / "binance_BTCUSDT_1h_2017-2026.parquet").iloc[-20_000:].reset_index(drop=True)
    sets = [{"baseline.fast": f, "baseline.slow": s, "execution.trailing_pct.pct": p}
            for f, s, p in product((2, 5, 21, 60), (10, 80, 400, 1500), (0.003, 0.05, 0.3))]
    job = make_job(bars, SPEC, param_sets=sets, top_k=3, symbol="BTC/USDT", timeframe="1h")
    path = write_bundle(job, bars, tmp_path / "b")
    result = runner.run_job(path, tmp_path / "r").out_dir
    v = verify_results(path, result, secret=SECRET, audit_n=len(sets))
    assert v.escape_probability == 0.0 and len(v.audited_trials) == len(sets) - 3
