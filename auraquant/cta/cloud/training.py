"""The training job kind: a learned baseline's model trained per walk-forward window, anywhere, then trusted
only after local checks.

A training job (`JobSpec.kind == "train"`, made by `make_training_job`) carries:
- `spec`: a Spec whose baseline is a learned one (`model_lstm`, `model_transformer`, `model_nbeats`,
  `model_lightgbm`); its params give the model (`models.window.model_config`), the label and its horizon;
- `search["walk_forward"]` (+ optional `holdout_bars`): the windows (`experiment.config.plan_windows`);
- `train["feature_set"]`: the feature set, resolved when the job is made (a workspace's stored set travels in
  the job, so the container needs no workspace); optional `train["windows"]` (which windows, default all) and
  `train["epochs"]` (an override; the smoke job uses one epoch of the first window).
Per window (`train_window`, a pure function of the bars, the job and the window index): the training set of
`models.window.training_set` (train segment only, purged and embargoed by the horizon; validation from the
validation segment), one model of the Spec's config (no hyperparameter search: that is the walk-forward's
job), seeded with `models.window.model_seed(job.seed, window)`, and its probabilities on the target segment.

Result files (`runner`'s flat layout, each sha256 in the manifest): `windows.parquet` (one row per window:
spans, sample counts, n_features, weights sha256, train/validation log loss and accuracy),
`predictions.parquet` (window, absolute decision bar, probability) and `weights_w<NNN>.bin` (the exact
`TrainedModel.weights_bytes()`). The same bundle gives the same weight hashes locally, on Dask and in a
Managed Agents container (models API determinism, CPU).

Local verification (`verify_training`, before anything is signed):
1. identity: the manifest is this job's, lists exactly the files such a job writes, the windows table covers
   exactly the planned windows with their spans, and each weights file hashes to its row;
2. re-predict: every window's returned weights are loaded here; a sample of its target predictions, drawn with
   the workspace's audit secret (`audit.audit_seed`, unknown to the remote side; `PREDICT_SAMPLE` rows) is
   recomputed and must agree within `PREDICT_TOLERANCE`; its train/validation metrics are recomputed here
   from the returned weights (inference only) and must equal the claimed ones within `PREDICT_TOLERANCE`;
3. retrain: `audit_n` windows (default 1), drawn with the same secret, are trained again here from scratch;
   the weights must hash the same (CPU training is bit-identical), or — another CPU, another BLAS — their
   target probabilities must agree within `RETRAIN_TOLERANCE` (max absolute difference), which the verdict
   states; otherwise the result is refused.
The attestation then signs the per-window weight hashes and the locally recomputed metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.canonical import sha256_hex
from auraquant.cta.cloud.bundle import Bundle, JobSpec, make_job
from auraquant.jsonsafe import json_safe

WINDOWS_FILE = "windows.parquet"
PREDICTIONS_FILE = "predictions.parquet"
PREDICT_TOLERANCE = 1e-6  # max |p_here - p_claimed| re-predicting with the returned weights (same weights, CPU)
RETRAIN_TOLERANCE = 1e-4  # max |p_retrained - p_claimed| on the audit window when the weights are not bit-identical
PREDICT_SAMPLE = 256  # target predictions re-computed per window (drawn with the local audit secret)
METRIC_KEYS = ("train_logloss", "train_accuracy", "val_logloss", "val_accuracy")

# Maps the window trainer over window indices (in order): sequential here, one task per window on Dask.
WindowMapper = Callable[[Callable[..., dict[str, Any]], pd.DataFrame, str, list[int]], list[dict[str, Any]]]


def weights_file(window: int) -> str:
    return f"weights_w{window:03d}.bin"


@dataclass
class TrainPlan:
    """What a training job trains: the model config, features, label, horizon and windows."""

    config: Any  # models.config.ModelConfig
    feature_set: Any  # models.features.FeatureSet
    label: str
    horizon: int
    windows: list[Any]  # experiment.config.Window (only the ones this job trains)
    seed: int


@dataclass
class _Task:
    """The fields of a walk-forward task that `models.window.training_set` reads."""

    window: Any
    train: pd.DataFrame
    validation: pd.DataFrame | None


def make_training_job(bars: pd.DataFrame, spec: Any, walk_forward: dict[str, Any], *, seed: int = 0,
                      feature_set: Any = None, holdout_bars: int = 0, windows: Sequence[int] | None = None,
                      data_version_id: str | None = None, symbol: str = "", timeframe: str = "") -> JobSpec:
    """A training job for `spec` (a learned baseline) over `bars`; `feature_set` defaults to the baseline's own
    (`features` param 0: the default set). Raises ValueError for a baseline that is not learned."""
    from auraquant.cta.models.features import DEFAULT_FEATURE_SET
    from auraquant.cta.models.window import baseline_params, learned_kind

    if learned_kind(spec) is None:
        raise ValueError(f"{spec.baseline.name} is not a learned baseline (model_lstm, model_transformer, "
                         "model_nbeats, model_lightgbm)")
    if feature_set is None:
        if int(baseline_params(spec)["features"]) != 0:
            raise ValueError("the spec names a stored feature set: pass it (feature_set=...) so the job carries it")
        feature_set = DEFAULT_FEATURE_SET
    train: dict[str, Any] = {"feature_set": feature_set.model_dump(mode="json")}
    if windows is not None:
        train["windows"] = sorted({int(w) for w in windows})
    return make_job(bars, spec, kind="train", search={"walk_forward": walk_forward, "holdout_bars": holdout_bars},
                    seed=seed, top_k=1, data_version_id=data_version_id, symbol=symbol, timeframe=timeframe,
                    train=train)


def train_plan(job: JobSpec, n_bars: int) -> TrainPlan:
    """The plan of a training job over its `n_bars` bars (the one place that interprets `train` and `search`)."""
    from auraquant.cta.experiment.config import WalkForwardConfig, plan_windows
    from auraquant.cta.models.features import FeatureSet
    from auraquant.cta.models.labels import LABEL_CODES
    from auraquant.cta.models.window import baseline_params, learned_kind, model_config

    cfg = job.search or {}
    train = job.train or {}
    params = baseline_params(job.spec)
    mcfg = model_config(str(learned_kind(job.spec)), params)
    if train.get("epochs") is not None:
        mcfg = mcfg.model_copy(update={"epochs": int(train["epochs"])})
    planned = plan_windows(n_bars - int(cfg.get("holdout_bars", 0)),
                           WalkForwardConfig.model_validate(cfg["walk_forward"]))
    chosen = set(train["windows"]) if train.get("windows") is not None else None
    wins = [w for w in planned if chosen is None or w.index in chosen]
    if not wins:
        raise ValueError("the training job selects no window of its walk-forward plan")
    return TrainPlan(config=mcfg, feature_set=FeatureSet.model_validate(train["feature_set"]),
                     label=LABEL_CODES[int(params["label"])], horizon=int(params["horizon"]), windows=wins,
                     seed=job.seed)


def _segment(bars: pd.DataFrame, seg: Any) -> pd.DataFrame:
    return bars.iloc[seg.start:seg.stop].reset_index(drop=True).copy()


def window_data(bars: pd.DataFrame, plan: TrainPlan, window: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """(training set, target samples X, their absolute decision bars) of one window, from its own bars."""
    from auraquant.cta.models.features import feature_matrix, windows
    from auraquant.cta.models.window import training_set

    task = _Task(window=window, train=_segment(bars, window.train),
                 validation=_segment(bars, window.validation) if window.validation is not None else None)
    data = training_set(task, plan.feature_set, plan.config.lookback, plan.label, plan.horizon)
    target = _segment(bars, window.target)
    X, rows = windows(feature_matrix(target, plan.feature_set).to_numpy(), plan.config.lookback)
    return data, X, rows.astype(np.int64) + window.target.start


def train_window(bars: pd.DataFrame, job_json: str, index: int) -> dict[str, Any]:
    """Train window `index` of the job (given as its JSON): weights bytes, their sha256, n_features, metrics and
    target predictions. Pure: what a local loop, a Dask task or a container runs."""
    from auraquant.cta.models.training import train_model
    from auraquant.cta.models.window import model_seed

    job = JobSpec.model_validate_json(job_json)
    plan = train_plan(job, len(bars))
    [window] = [w for w in plan.windows if w.index == index]
    data, X_target, target_bars = window_data(bars, plan, window)
    model = train_model(plan.config, data.X_train, data.y_train, data.X_val, data.y_val,
                        seed=model_seed(plan.seed, index))
    weights = model.weights_bytes()
    return {"window": index, "weights": weights, "weights_sha256": sha256_hex(weights),
            "n_features": int(model.n_features), "n_train": len(data.X_train), "n_val": len(data.X_val),
            "metrics": {k: float(model.metrics[k]) for k in METRIC_KEYS},
            "target_bars": target_bars, "probability": model.predict_proba(X_target)}


def local_mapper(fn: Callable[..., dict[str, Any]], bars: pd.DataFrame, job_json: str,
                 indices: list[int]) -> list[dict[str, Any]]:
    return [fn(bars, job_json, i) for i in indices]


def run_training(bundle: Bundle, out_dir: Path | str, archive: Path | str | None = None,
                 mapper: WindowMapper | None = None, t0: float | None = None) -> Any:
    """Train every window of the bundle's job (through `mapper`, default in this process) and write the result
    files (module docstring). Returns the `runner.JobResult`."""
    from auraquant.cta.cloud import runner

    start = time.perf_counter() if t0 is None else t0
    job = bundle.job
    plan = train_plan(job, len(bundle.bars))
    fits = (mapper or local_mapper)(train_window, bundle.bars, job.model_dump_json(), [w.index for w in plan.windows])
    table = windows_table(plan, fits)
    files: dict[str, pd.DataFrame | bytes] = {WINDOWS_FILE: table, PREDICTIONS_FILE: predictions_table(fits)}
    for fit in fits:
        files[weights_file(fit["window"])] = fit["weights"]
    return runner.write_results(job, files, training_top(table), out_dir, archive, time.perf_counter() - start)


def windows_table(plan: TrainPlan, fits: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per trained window, in window order."""
    by = {f["window"]: f for f in fits}
    rows = []
    for w in plan.windows:
        f = by[w.index]
        v = w.validation
        rows.append({"window": w.index, "train_start": w.train.start, "train_stop": w.train.stop,
                     "validation_start": v.start if v is not None else -1,
                     "validation_stop": v.stop if v is not None else -1,
                     "target_start": w.target.start, "target_stop": w.target.stop,
                     "n_train": f["n_train"], "n_val": f["n_val"], "n_features": f["n_features"],
                     "weights_sha256": f["weights_sha256"], **{k: f["metrics"][k] for k in METRIC_KEYS}})
    return pd.DataFrame(rows).astype({c: "int64" for c in ("window", "train_start", "train_stop",
                                                             "validation_start", "validation_stop", "target_start",
                                                             "target_stop", "n_train", "n_val", "n_features")})


def predictions_table(fits: list[dict[str, Any]]) -> pd.DataFrame:
    parts = [pd.DataFrame({"window": np.full(len(f["target_bars"]), f["window"], dtype=np.int64),
                           "bar": np.asarray(f["target_bars"], dtype=np.int64),
                           "probability": np.asarray(f["probability"], dtype=np.float64)})
             for f in sorted(fits, key=lambda f: f["window"])]
    return pd.concat(parts, ignore_index=True)


def training_top(windows: pd.DataFrame) -> list[dict[str, Any]]:
    """The manifest's `top` of a training job: per window, its weights hash and metrics (NaN as None)."""
    return [_top_entry(i + 1, int(r["window"]), r["weights_sha256"], r) for i, (_, r) in enumerate(windows.iterrows())]


def _top_entry(rank: int, window: int, weights_sha256: str, metrics: Any) -> dict[str, Any]:
    """One window's `top` entry (the run writes it from its table, the verification rebuilds it from local metrics)."""
    return {"rank": rank, "trial": window, "params": {"weights_sha256": weights_sha256},
            "metrics": {k: json_safe(float(metrics[k])) for k in METRIC_KEYS}}


def smoke_training_job(job: JobSpec, bars: pd.DataFrame) -> tuple[JobSpec, pd.DataFrame]:
    """The smoke run of a training job: its first window only, one epoch, on the same bars."""
    plan = train_plan(job, len(bars))
    train = {**(job.train or {}), "windows": [plan.windows[0].index], "epochs": 1}
    return job.model_copy(update={"train": train}), bars


def expected_files(job: JobSpec, n_bars: int) -> set[str]:
    return {WINDOWS_FILE, PREDICTIONS_FILE} | {weights_file(w.index) for w in train_plan(job, n_bars).windows}


def verify_training(bundle: Bundle, jid: str, result: Any, *, audit_n: int | None, secret: bytes) -> Any:
    """The local checks of a training job's results (module docstring); returns a `trust.Verification` whose
    `top` holds, per window, the weights hash and the metrics recomputed here. Raises `TrustRefused`."""
    from auraquant.cta.cloud import audit, runner
    from auraquant.cta.cloud.trust import Verification, check_identity, manifest_digest, refuse, same_json
    from auraquant.cta.models.training import TrainedModel, train_model
    from auraquant.cta.models.window import model_seed

    job = bundle.job
    plan = train_plan(job, len(bundle.bars))
    check_identity(job, jid, result, len(job.param_sets), expected_files(job, len(bundle.bars)))
    table = runner.read_frame(result, WINDOWS_FILE)
    preds = runner.read_frame(result, PREDICTIONS_FILE)
    local_rows = windows_table(plan, [{"window": w.index, "n_train": 0, "n_val": 0, "n_features": 0,
                                       "weights_sha256": "", "metrics": dict.fromkeys(METRIC_KEYS, 0.0)}
                                      for w in plan.windows])
    spans = [c for c in local_rows.columns if c.endswith(("_start", "_stop")) or c == "window"]
    if list(table.columns) != list(local_rows.columns) or not table[spans].equals(local_rows[spans]):
        raise refuse(jid, f"{WINDOWS_FILE} does not list exactly the job's windows and spans")
    digest = manifest_digest(result)
    draw_seed = audit.audit_seed(secret, jid, digest, "train-predict")
    entries, worst_predict = [], 0.0
    for (_, row), window in zip(table.iterrows(), plan.windows, strict=True):
        w = int(row["window"])
        data = (result.out_dir / weights_file(w)).read_bytes()
        if sha256_hex(data) != row["weights_sha256"]:
            raise refuse(jid, f"window {w}: {weights_file(w)} does not hash to the weights_sha256 of its row")
        ts, X_target, target_bars = window_data(bundle.bars, plan, window)
        if (int(row["n_train"]), int(row["n_val"])) != (len(ts.X_train), len(ts.X_val)):
            raise refuse(jid, f"window {w}: sample counts {int(row['n_train'])}/{int(row['n_val'])} differ from "
                              f"the purged training set here ({len(ts.X_train)}/{len(ts.X_val)})")
        try:
            model = TrainedModel.from_bytes(plan.config, int(row["n_features"]), data, seed=model_seed(plan.seed, w))
        except ValueError as e:
            raise refuse(jid, f"window {w}: the returned weights do not load: {e}") from e
        # metrics recomputed here from the returned weights (inference only): what gets signed
        local = _metrics_of(model, ts)
        claimed = {k: float(row[k]) for k in METRIC_KEYS}
        bad = [k for k in METRIC_KEYS if not _close(claimed[k], local[k], PREDICT_TOLERANCE)]
        if bad:
            raise refuse(jid, f"window {w}: claimed {bad[0]} {claimed[bad[0]]!r} but the returned weights give "
                              f"{local[bad[0]]!r} here")
        mine = preds[preds["window"] == w]
        if not np.array_equal(mine["bar"].to_numpy(dtype=np.int64), target_bars):
            raise refuse(jid, f"window {w}: the predictions do not cover exactly the target samples")
        k = min(PREDICT_SAMPLE, len(target_bars))
        picked = audit.draw(list(range(len(target_bars))), k, draw_seed + w)
        here = model.predict_proba(X_target[picked]) if picked else np.zeros(0)
        diff = float(np.max(np.abs(here - mine["probability"].to_numpy()[picked]))) if picked else 0.0
        if not diff <= PREDICT_TOLERANCE:
            raise refuse(jid, f"window {w}: re-predicting {k} target samples with the returned weights differs by "
                              f"{diff:.3g} (> {PREDICT_TOLERANCE:g})")
        worst_predict = max(worst_predict, diff)
        entries.append(_top_entry(len(entries) + 1, w, row["weights_sha256"], local))
    if not same_json(result.manifest.get("top"), entries):
        raise refuse(jid, "the manifest's per-window entries differ from the local recomputation")
    indices = [w.index for w in plan.windows]
    k = 1 if audit_n is None else max(0, min(audit_n, len(indices)))
    retrain = audit.draw(indices, k, audit.audit_seed(secret, jid, digest, "train-retrain"))
    outcomes = {}
    for w in retrain:
        window = next(x for x in plan.windows if x.index == w)
        ts, X_target, _ = window_data(bundle.bars, plan, window)
        again = train_model(plan.config, ts.X_train, ts.y_train, ts.X_val, ts.y_val, seed=model_seed(plan.seed, w))
        row = table[table["window"] == w].iloc[0]
        if again.weights_sha256 == row["weights_sha256"]:
            outcomes[w] = {"weights": "bit-identical", "max_abs_probability_diff": 0.0}
            continue
        diff = float(np.max(np.abs(again.predict_proba(X_target)
                                   - preds[preds["window"] == w]["probability"].to_numpy()))) if len(X_target) else 0.0
        if not diff <= RETRAIN_TOLERANCE:
            raise refuse(jid, f"window {w} retrained here gives other weights and target probabilities differing "
                              f"by {diff:.3g} (> {RETRAIN_TOLERANCE:g}): the weights were not trained as claimed")
        outcomes[w] = {"weights": "within tolerance", "max_abs_probability_diff": diff}
    n = len(indices)
    checks = ["file hashes", "manifest identity", "windows and spans", "weights hashes",
              f"metrics of {n} windows recomputed from the returned weights",
              f"up to {PREDICT_SAMPLE} target predictions per window re-predicted (<= {PREDICT_TOLERANCE:g})",
              f"{len(retrain)} of {n} windows retrained here ({', '.join(v['weights'] for v in outcomes.values())}"
              f"{'' if outcomes else 'none'}; tolerance {RETRAIN_TOLERANCE:g})"]
    return Verification(job_id=jid, kind=job.kind, reproduced_trials=retrain, audited_trials=indices, auditable=n,
                        escape_probability=audit.escape_probability(n, len(retrain)), top=entries, checks=checks,
                        details={"odds": f"{len(retrain)} of {n} windows retrained with the local secret: weights not "
                                         f"trained as claimed in one window escape with probability "
                                         f"{audit.escape_probability(n, len(retrain)):.3f}",
                                 "training": {"retrained": {str(k): v for k, v in outcomes.items()},
                                              "predict_tolerance": PREDICT_TOLERANCE,
                                              "retrain_tolerance": RETRAIN_TOLERANCE,
                                              "max_abs_predict_diff": worst_predict}})


def _metrics_of(model: Any, ts: Any) -> dict[str, float]:
    from auraquant.cta.models.training import _metrics

    return (_metrics(model.predict_proba(ts.X_train), ts.y_train.astype(np.float32), "train")
            | _metrics(model.predict_proba(ts.X_val), ts.y_val.astype(np.float32), "val"))


def _close(a: float, b: float, tol: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def calibrate_training(job: JobSpec, bars: pd.DataFrame) -> Any:
    """A `cost.Calibration` for a training job, measured on its first window here after a warm-up on a few rows:
    building its samples (per bar,
    `module_s`), one and two epochs of training (the difference per training sample and epoch, `unit_s`; the rest
    per window, `call_s`) and predicting its target samples (per sample, `record_s`)."""
    from auraquant.cta.cloud.cost import Calibration
    from auraquant.cta.models.training import train_model

    t_start = time.perf_counter()
    plan = train_plan(job, len(bars))
    w = plan.windows[0]
    t0 = time.perf_counter()
    ts, X_target, _ = window_data(bars, plan, w)
    span = max(1, (w.target.stop - w.train.start))
    module_s = (time.perf_counter() - t0) / span
    warm = plan.config.model_copy(update={"epochs": 1})  # loads torch / lightgbm once: not a per-window cost
    train_model(warm, ts.X_train[:32], ts.y_train[:32], ts.X_val[:0], ts.y_val[:0], seed=0)
    times = []
    for epochs in (1, 2):
        cfg = plan.config.model_copy(update={"epochs": epochs})
        t0 = time.perf_counter()
        model = train_model(cfg, ts.X_train, ts.y_train, ts.X_val, ts.y_val, seed=0)
        times.append(time.perf_counter() - t0)
    n = max(1, len(ts.X_train))
    per_epoch = max(times[1] - times[0], times[0] / 2)
    t0 = time.perf_counter()
    model.predict_proba(X_target)
    record_s = (time.perf_counter() - t0) / max(1, len(X_target))
    return Calibration(call_s=max(0.0, times[0] - per_epoch), unit_s=per_epoch / n, module_s=module_s,
                       record_s=record_s, io_s=0.0, sample_bars=span, sample_sets=1,
                       measured_s=time.perf_counter() - t_start)


def training_work(job: JobSpec, cal: Any, fixed_s: float) -> tuple[int, int, float]:
    """(training sample-epochs, windows, seconds) of a training job from its calibration (`calibrate_training`)."""
    plan = train_plan(job, job.data.bars)
    units = sum(w.train.length * plan.config.epochs for w in plan.windows)
    seconds = sum(cal.call_s + w.train.length * plan.config.epochs * cal.unit_s
                  + (w.target.stop - w.train.start) * cal.module_s + w.target.length * cal.record_s
                  for w in plan.windows) + fixed_s
    return units, len(plan.windows), seconds
