"""Compare two finished walk-forward runs: what differs in their definition, per-metric deltas of the
out-of-sample summary (and of numeric robustness entries), and which windows selected different
parameters. Deltas are B - A; a metric undefined on either side has delta None.
"""

from __future__ import annotations

from typing import Any

from auraquant.cta.backtest.metrics import buy_and_hold_metrics
from auraquant.cta.experiment.models import Run, RunResult

_ROBUSTNESS_KEYS = ("pbo", "spa_consistent_median")


def _delta(a: Any, b: Any) -> float | None:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    return float(b) - float(a)


def _config_diff(a: Run, b: Run) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    pairs = {"spec_id": (a.spec.id, b.spec.id), "data_bars_hash": (a.data.bars_hash, b.data.bars_hash),
             "seed": (a.seed, b.seed)}
    for k, v in a.walk_forward.model_dump().items():
        pairs[f"walk_forward.{k}"] = (v, getattr(b.walk_forward, k))
    for k, v in a.search.model_dump().items():
        pairs[f"search.{k}"] = (v, getattr(b.search, k))
    for k, (x, y) in pairs.items():
        if x != y:
            out[k] = {"a": x, "b": y}
    return out


def compare_runs(run_a: Run, res_a: RunResult, run_b: Run, res_b: RunResult) -> dict[str, Any]:
    """The comparison as a JSON-able dict: `config`, `metrics`, `windows`, `windows_changed`."""
    # buy and hold enters flat (bh_*, excess_*), so every row is a number with a delta
    oa, ob = ({k: v for k, v in r.oos.model_dump().items() if k != "buy_and_hold"}
              | buy_and_hold_metrics(r.oos.buy_and_hold) for r in (res_a, res_b))
    metrics = [{"metric": k, "a": oa[k], "b": ob[k], "delta": _delta(oa[k], ob[k])} for k in oa]
    metrics.append({"metric": "total_trials", "a": res_a.total_trials, "b": res_b.total_trials,
                    "delta": _delta(res_a.total_trials, res_b.total_trials)})
    for k in _ROBUSTNESS_KEYS:
        if k in res_a.robustness or k in res_b.robustness:
            x, y = res_a.robustness.get(k), res_b.robustness.get(k)
            metrics.append({"metric": f"robustness.{k}", "a": x, "b": y, "delta": _delta(x, y)})
    wa = {w.window.index: w for w in res_a.windows}
    wb = {w.window.index: w for w in res_b.windows}
    windows = []
    for k in sorted(set(wa) | set(wb)):
        x, y = wa.get(k), wb.get(k)
        if x is None or y is None:
            windows.append({"window": k, "status": "only_in_a" if y is None else "only_in_b", "changed": True})
            continue
        changed_params = sorted(p for p in set(x.params) | set(y.params) if x.params.get(p) != y.params.get(p))
        same_span = x.target_span == y.target_span and x.train_span == y.train_span
        sa, sb = x.target_report.get("sharpe"), y.target_report.get("sharpe")
        windows.append({"window": k, "status": "both", "changed": bool(changed_params) or not same_span,
                        "changed_params": changed_params, "span_changed": not same_span,
                        "params_a": x.params, "params_b": y.params, "target_sharpe_a": sa, "target_sharpe_b": sb,
                        "target_sharpe_delta": _delta(sa, sb)})
    return {"a": res_a.run_id, "b": res_b.run_id, "config": _config_diff(run_a, run_b), "metrics": metrics,
            "windows": windows, "windows_changed": [w["window"] for w in windows if w["changed"]]}
