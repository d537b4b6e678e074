"""Verifying an outside walk-forward result per window, at a fraction of the job's cost.

A walk-forward's evidence is what each window chose and how that choice did out of sample. For every
window (`experiment.window` defines the rule) this module refuses unless:

1. the window's block of `trials.parquet` has the job's columns and exactly `search.n_trials` rows in
   (batch, slot) order with Optuna numbers 0..n-1, every parameter inside the spec's search space, and
   rows that are internally consistent (`consistency.metric_problems`; `score`/`feasible` follow from the
   metrics by `experiment.search.score`/`feasible`);
2. `train_rank` is the ranking the selection rule derives from the table, the validation candidates (top
   `top_k` distinct parameter sets) are re-run locally on the validation segment and their scores are
   bit-identical to the claimed `validation_score` (NaN elsewhere), and `selected` marks the one trial the
   rule picks from the reproduced scores;
3. the selected trial and an audit sample of the other trials of the window are re-run on the train
   segment with bit-identical metrics, score and feasibility; the sample is drawn per window with the local
   audit secret (`audit.audit_seed`), never with the job's seed;
4. the selected parameters re-run on the target segment (`experiment.window.run_target`) give the
   window's target equity, trades and report; `selection.parquet`, `oos_trades.parquet` and the stitched
   `oos_equity.parquet` (`experiment.stitch.stitch_equity` of the local segments) are rebuilt locally and
   must be bit-identical, and the manifest's `top` must equal the entries built from the local windows;
5. in `replay_n` windows drawn with the secret (default: 20% of them, at least 1), the selected trial's
   search batch is replayed up to its slot (`_check_proposals`): its parameters, and those asked before it
   in that batch, must be what the seeded sampler proposes given the table's earlier batches, so a
   parameter set slipped into the table and selected is caught with probability replay_n / windows. (TPE
   asks late in a search cost as much as the engine work of a window, so replaying every window would
   break the cost budget; `replay_n` = all windows makes it certain.)

What is not re-run: the train metrics of unaudited trials (a tampered one, e.g. a hidden true best,
escapes with probability C(n-m, k)/C(n, k) per window) and the proposals outside the replayed batches.
Cost: the selected trial + k audited trials on train, top_k candidates on validation and one target run
per window, at most one batch of TPE asks per replayed window; the job runs n_trials on train (twice: the
search, then the final table) plus every ask and tell (`benchmarks/cloud_verify.py` measures the ratio).

Workspace modules the spec uses re-run from the bundle's own (digest-checked) sources, in the sandbox worker,
after the look-ahead gate here: what is signed never depends on the remote side's checks.
"""

from __future__ import annotations

import io
import math
import tempfile
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from auraquant.cta.backtest.metrics import table_daily_sharpe
from auraquant.cta.cloud import audit, runner
from auraquant.cta.cloud.bundle import Bundle, materialize_modules
from auraquant.cta.cloud.consistency import bits_equal, metric_problems
from auraquant.cta.cloud.trust import (
    Verification,
    check_frame,
    check_identity,
    manifest_digest,
    refuse,
    same_json,
)
from auraquant.cta.experiment.models import WindowResult
from auraquant.cta.experiment.runner import selection_table
from auraquant.cta.experiment.search import (
    METRIC_COLUMNS,
    batch_plan,
    distributions,
    evaluate,
    feasible,
    propose,
    score,
)
from auraquant.cta.experiment.stitch import stitch_buy_and_hold, stitch_equity, summarize
from auraquant.cta.experiment.window import _plain, _span, run_target

HEAD = ["window", "batch", "slot", "optuna_number"]
TAIL = ["score", "feasible", "train_rank", "validation_score", "selected"]


def _roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the job's files hold it (Parquet round trip: same dtypes as the remote side's)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return pd.read_parquet(io.BytesIO(buf.getvalue()))


def _params(block: pd.DataFrame, names: list[str], rows: Any) -> list[dict[str, int | float]]:
    """Rows' parameters as the search passed them to the engine (ints stay ints: `experiment.window._plain`)."""
    cols = {p: block[p].to_numpy() for p in names}
    return [{p: _plain(cols[p][r]) for p in names} for r in rows]


def _in_space(value: Any, dist: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return any(bits_equal(float(value), float(c)) if isinstance(c, int | float) else value == c
                   for c in dist.choices)
    v = float(value)
    if not math.isfinite(v) or v < dist.low or v > dist.high:
        return False
    if isinstance(dist, IntDistribution):
        return v == math.floor(v) and (v - dist.low) % dist.step == 0
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        return abs((v - dist.low) / dist.step - round((v - dist.low) / dist.step)) < 1e-9
    return True


def _expected_slots(cfg: Any) -> tuple[list[int], list[int]]:
    plan = batch_plan(cfg)
    return [b for b, n in enumerate(plan) for _ in range(n)], [s for n in plan for s in range(n)]


def _check_block(jid: str, w: int, block: pd.DataFrame, names: list[str], spec: Any, cfg: Any) -> None:
    n = cfg.n_trials
    batches, slots = _expected_slots(cfg)
    if len(block) != n or list(block["batch"]) != batches or list(block["slot"]) != slots or \
            list(block["optuna_number"]) != list(range(n)):
        raise refuse(jid, f"window {w}: the trial table does not hold the search's {n} trials in (batch, slot) "
                          "order (trials dropped, duplicated, added or re-ordered)")
    dists = distributions(spec)
    for p in names:
        bad = [i for i, v in enumerate(block[p]) if not _in_space(v, dists[p])]
        if bad:
            raise refuse(jid, f"window {w}: parameter {p} of trials {bad[:5]} is outside the search space")
    problems = metric_problems(block, spec, _params(block, names, range(len(block))))
    if problems:
        raise refuse(jid, f"window {w}: the trial table is not internally consistent: " + "; ".join(problems[:3]))
    if not bits_equal(block["score"], score(block, cfg)) or \
            not np.array_equal(block["feasible"].to_numpy(dtype=bool), feasible(block, cfg)):
        raise refuse(jid, f"window {w}: score or feasible do not follow from the trials' metrics")


def _selection(jid: str, w: Any, block: pd.DataFrame, names: list[str], spec: Any, cfg: Any,
               validation: pd.DataFrame | None, extra: str | None) -> tuple[int, float | None, int]:
    """(row of the selected trial, its reproduced validation score, its train rank); see module rule 2."""
    ranked = block.sort_values(["feasible", "score", "batch", "slot"], ascending=[False, False, True, True],
                               kind="stable")
    want_rank = np.zeros(len(block), dtype=np.int64)
    want_rank[ranked.index.to_numpy()] = np.arange(1, len(block) + 1)
    if not np.array_equal(block["train_rank"].to_numpy(dtype=np.int64), want_rank):
        raise refuse(jid, f"window {w.index}: train_rank does not follow from the trials' scores")
    top = ranked.drop_duplicates(subset=names, keep="first").head(cfg.top_k)
    want_val = np.full(len(block), np.nan)
    val_score: float | None = None
    if validation is None:
        best = int(top.index[0])
    else:
        val = evaluate(validation, spec, _params(block, names, top.index), cfg,
                       extra_dir=extra)["score"].to_numpy(dtype=np.float64)
        want_val[top.index.to_numpy()] = val
        order = sorted(range(len(top)), key=lambda i: (-val[i], i))
        best, val_score = int(top.index[order[0]]), float(val[order[0]])
    if not bits_equal(block["validation_score"], want_val):
        raise refuse(jid, f"window {w.index}: the validation scores do not reproduce (the candidates re-run on "
                          "validation give other scores)")
    selected = block["selected"].to_numpy(dtype=bool)
    if selected.sum() != 1 or not selected[best]:
        raise refuse(jid, f"window {w.index}: the selected trial is not the one the selection rule picks "
                          f"(trial {best})")
    return best, val_score, int(want_rank[best])


def _check_proposals(jid: str, w: int, block: pd.DataFrame, best: int, names: list[str], spec: Any, cfg: Any,
                     seed: int) -> int:
    """The selected trial's batch replayed up to its slot: each proposal must be what the seeded search
    proposes given the table's earlier batches (`experiment.search.propose`, the search's own proposal
    rule for its configured sampler). A parameter set slipped into the table (e.g. one picked for its
    out-of-sample result) is refused even when its own metrics are honest. Returns the number of proposals
    replayed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(spec)
    batch, slot = int(block["batch"].iloc[best]), int(block["slot"].iloc[best])
    params = _params(block, names, range(len(block)))
    prior = np.flatnonzero(block["batch"].to_numpy() < batch)
    first = int(np.flatnonzero(block["batch"].to_numpy() == batch)[0])
    asked = propose(cfg, dists, seed=seed, window=w, batch=batch, size=batch_plan(cfg)[batch],
                    history=[params[r] for r in prior], scores=block["score"].to_numpy(dtype=float)[prior],
                    trades=block["trades"].to_numpy(dtype=float)[prior], upto=slot + 1)
    for k, a in enumerate(asked):
        claimed = params[first + k]
        if any(not bits_equal(float(a[p]), float(claimed[p])) for p in names):
            raise refuse(jid, f"window {w}: trial {first + k} (batch {batch}, slot {k}) is not what the seeded search "
                              f"proposes there ({ {p: a[p] for p in names} }): the trial set was altered")
    return slot + 1


def _audit_train(jid: str, w: int, block: pd.DataFrame, rows: list[int], names: list[str], spec: Any, cfg: Any,
                 train: pd.DataFrame, extra: str | None) -> None:
    local = evaluate(train, spec, _params(block, names, rows), cfg, extra_dir=extra)
    for c in (*METRIC_COLUMNS, "score"):
        claimed = block[c].to_numpy(dtype=np.float64)[rows]
        mine = local[c].to_numpy(dtype=np.float64)
        for i, r in enumerate(rows):
            if not bits_equal(claimed[i], mine[i]):
                raise refuse(jid, f"window {w}: trial {r} does not reproduce on train ({c}: claimed "
                                  f"{float(claimed[i])!r}, reproduced {float(mine[i])!r})")
    if not np.array_equal(block["feasible"].to_numpy(dtype=bool)[rows], local["feasible"].to_numpy(dtype=bool)):
        raise refuse(jid, f"window {w}: the feasibility of trials {rows} does not reproduce on train")


def default_replay_count(n_windows: int) -> int:
    """Windows whose selected trial's proposals are replayed by default: 20% (rounded up), at least 1."""
    return audit.default_audit_count(n_windows, fraction=0.2, minimum=1)


def verify_walkforward(bundle: Bundle, jid: str, result: runner.JobResult, *, audit_n: int | None,
                       secret: bytes, replay_n: int | None = None) -> Verification:
    """Verify a walk-forward result window by window (module docstring); refuses with `TrustRefused`."""
    with tempfile.TemporaryDirectory(prefix="aq-verify-") as tmp:
        # workspace modules re-run from the bundle's own sources after the look-ahead gate here, as for a sweep
        extra = materialize_modules(bundle, tmp)
        runner.check_modules_causal(bundle, extra)
        return _verify(bundle, jid, result, audit_n, secret, replay_n, None if extra is None else str(extra))


def _verify(bundle: Bundle, jid: str, result: runner.JobResult, audit_n: int | None, secret: bytes,
            replay_n: int | None, extra: str | None) -> Verification:
    job = bundle.job  # `jid` is its id (computed once by the caller: it hashes the whole job)
    plan = runner.walkforward_plan(bundle)
    run, cfg, spec = plan.run, plan.run.search, bundle.job.spec
    n_windows = len(plan.windows)
    check_identity(job, jid, result, n_windows * cfg.n_trials, set(runner.WALKFORWARD_FILES))
    if result.manifest.get("run_id") != run.id:
        raise refuse(jid, f"manifest run_id is {result.manifest.get('run_id')!r}, the bundle's run is {run.id}")
    names = list(spec.search_space)
    try:
        trials = runner.read_frame(result, "trials.parquet")
    except (OSError, ValueError) as e:
        raise refuse(jid, f"trials.parquet does not read: {e}") from e
    if list(trials.columns) != [*HEAD, *names, *METRIC_COLUMNS, *TAIL]:
        raise refuse(jid, "trials.parquet does not have the walk-forward trial columns")
    if list(trials["window"]) != [w.index for w in plan.windows for _ in range(cfg.n_trials)]:
        raise refuse(jid, f"trials.parquet does not hold {cfg.n_trials} trials for each of the {n_windows} windows")
    digest = manifest_digest(result)
    r = default_replay_count(n_windows) if replay_n is None else max(0, min(replay_n, n_windows))
    replay_seed = audit.audit_seed(secret, jid, digest, "walkforward/replay")
    replay = set(audit.draw([w.index for w in plan.windows], r, replay_seed))
    local_windows, equities, trade_frames, audited_rows, targets = [], [], [], [], []
    worst_escape, auditable, audited_total, replayed = 0.0, 0, 0, 0
    per_window: list[dict[str, Any]] = []
    for w in plan.windows:
        off = w.index * cfg.n_trials
        block = trials.iloc[off:off + cfg.n_trials].reset_index(drop=True)
        train = plan.bars.segment(w.train.start, w.train.stop)
        validation = None if w.validation is None else plan.bars.segment(w.validation.start, w.validation.stop)
        target = plan.bars.segment(w.target.start, w.target.stop)
        _check_block(jid, w.index, block, names, spec, cfg)
        best, val_score, train_rank = _selection(jid, w, block, names, spec, cfg, validation, extra)
        others = [r for r in range(len(block)) if r != best]
        k = audit.default_audit_count(len(others), minimum=1) if audit_n is None else max(0, min(audit_n, len(others)))
        drawn = audit.draw(others, k, audit.audit_seed(secret, jid, digest, f"walkforward/{w.index}"))
        _audit_train(jid, w.index, block, [best, *drawn], names, spec, cfg, train, extra)
        if w.index in replay:
            replayed += _check_proposals(jid, w.index, block, best, names, spec, cfg, run.seed)
        chosen = _params(block, names, [best])[0]
        res, equity, trades = run_target(target, spec, chosen, w.index, extra)
        targets.append(target)
        equities.append(equity)
        trade_frames.append(trades)
        local_windows.append(WindowResult(
            window=w, train_span=_span(train), validation_span=None if validation is None else _span(validation),
            target_span=_span(target), params=chosen, train_score=float(block.loc[best, "score"]),
            validation_score=val_score, train_rank=train_rank, n_trials=len(block),
            target_report=res.report.model_dump(mode="json")))
        audited_rows += [off + r for r in drawn]
        escape = audit.escape_probability(len(others), len(drawn))
        worst_escape = max(worst_escape, escape)
        auditable += len(others)
        audited_total += len(drawn)
        per_window.append({"window": w.index, "selected_trial": off + best, "audited": [off + r for r in drawn],
                           "auditable": len(others), "escape_probability": escape})
    initial = spec.engine.initial_capital
    check_frame(jid, result, "selection.parquet", _roundtrip(selection_table(local_windows)), "window selection")
    check_frame(jid, result, "oos_trades.parquet", _roundtrip(pd.concat(trade_frames, ignore_index=True)),
                "target trades")
    # The out-of-sample curve and summary exactly as the experiment layer's `_finish` builds them, from the
    # local target runs; the summary's DSR uses the trial table's daily Sharpe ratios (every row
    # consistency-checked, the audited ones re-run), and buy and hold is stitched over the same targets.
    stitched = stitch_equity(equities, initial)
    daily_sr = table_daily_sharpe(trials)
    oos = summarize(stitched, initial, spec.engine.annualization, sum(len(t) for t in trade_frames), daily_sr,
                    len(trials))
    bh, bh_curve = stitch_buy_and_hold(targets, spec.engine, versus=oos)
    oos = oos.model_copy(update={"buy_and_hold": bh})
    stitched["buy_and_hold"] = bh_curve["equity"].to_numpy()
    check_frame(jid, result, "oos_equity.parquet", _roundtrip(stitched), "stitched out-of-sample equity")
    local_top = runner.walkforward_top(local_windows)
    if not same_json(result.manifest.get("top"), local_top):
        raise refuse(jid, "the manifest's per-window choices or target metrics differ from the local recomputation")
    replay_escape = 1.0 - len(replay) / n_windows
    odds = (f"per window, {audited_total} of {auditable} non-selected trials audited in all; a single tampered "
            f"trial (e.g. a hidden true best) escapes with probability 1 - k/n <= {worst_escape:.3f} (worst "
            "window); m tampered trials in a window escape with C(n-m,k)/C(n,k); a parameter set slipped into "
            f"one window's search and selected escapes the proposal replay ({len(replay)} of {n_windows} "
            f"windows) with probability {replay_escape:.3f}")
    checks = ["file hashes", "manifest identity", f"{n_windows} windows: trial table structure and consistency",
              "train ranks", "validation candidates re-run", "selected trials re-run on train and target",
              f"{audited_total} audited trials re-run on train",
              f"{replayed} search proposal(s) replayed in windows {sorted(replay)}",
              "selection, target trades and stitched equity rebuilt locally bit for bit"]
    return Verification(job_id=jid, kind=job.kind, reproduced_trials=[w.index for w in plan.windows],
                        audited_trials=audited_rows, auditable=auditable, escape_probability=worst_escape,
                        top=local_top, checks=checks,
                        details={"odds": odds, "walkforward": {"windows": per_window, "run_id": run.id,
                                                           "replayed_windows": sorted(replay),
                                                           "replay_escape_probability": replay_escape,
                                                           "oos": oos.model_dump(mode="json")}})

