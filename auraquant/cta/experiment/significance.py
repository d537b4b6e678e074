"""The significance block of an archive record: the walk-forward result judged against the workspace's
gates (`gates.py`) with the trial ledger's counts (`ledger.py`), and the same judgement re-done at freeze.

The block (`ArchiveRecord.significance`) holds, all from the store:
- `oos_daily_sharpe`, `oos_n_days`, `oos_skew`, `oos_kurtosis`: the stitched OOS curve's per-day Sharpe and
  the moments the DSR needs;
- for each scope s in (session, workspace): `dsr_s`, `dsr_s_n_trials`, `dsr_s_sharpe_variance` — the DSR
  deflated by that ledger count and variance; `dsr_scope` names the scope the gate uses and `dsr`,
  `dsr_n_trials`, `dsr_sharpe_variance` repeat that scope's values; `dsr_run` / `run_trials` are the
  one-experiment DSR and count, kept for contrast only;
- `pbo`, `spa_p`, `pbo_spa_selection` (which trials they used), `oos_trades`;
- `gates` (the thresholds applied, in words), `label` ("significant" / "not significant") and
  `failed_gates`.
At freeze the ledger has usually grown (research went on after the candidate was archived), so the DSR is
recomputed with the current counts of the record's session and data content before the holdout is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from auraquant.cta.backtest.sharpe import sharpe_ratio
from auraquant.cta.experiment import ledger
from auraquant.cta.experiment.gates import NOT_SIGNIFICANT, SIGNIFICANT, GateConfig, gate_failures
from auraquant.cta.experiment.models import Run, RunResult
from auraquant.store import Store

Significance = dict[str, float | int | str | bool | None]


def _f(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


Counts = dict[tuple[str, str, str], ledger.LedgerCount]


def _dsr_block(store: Store, content_hash: str, session_id: str, sig: Significance,
               cache: Counts | None = None) -> Significance:
    sharpe, n_obs = _f(sig.get("oos_daily_sharpe")), int(sig.get("oos_n_days") or 0)  # type: ignore[arg-type]
    skew, kurt = _f(sig.get("oos_skew")), _f(sig.get("oos_kurtosis"))
    out: Significance = {}
    for scope in ("session", "workspace"):
        k = (content_hash, scope, session_id)
        c = cache.get(k) if cache is not None else None
        if c is None:
            c = ledger.count(store, content_hash, scope, session_id)  # type: ignore[arg-type]
            if cache is not None:
                cache[k] = c
        d = ledger.ledger_dsr(sharpe, n_obs, skew, kurt, c)
        out[f"dsr_{scope}"] = d.dsr
        out[f"dsr_{scope}_n_trials"] = c.n_trials
        out[f"dsr_{scope}_sharpe_variance"] = c.sharpe_variance
    return out


def _judge(sig: Significance, cfg: GateConfig) -> Significance:
    scope = cfg.dsr_scope
    sig = {**sig, "dsr_scope": scope, "dsr": sig.get(f"dsr_{scope}"), "dsr_n_trials": sig.get(f"dsr_{scope}_n_trials"),
           "dsr_sharpe_variance": sig.get(f"dsr_{scope}_sharpe_variance"), "gates": cfg.describe()}
    trades = sig.get("oos_trades")
    failed = gate_failures(_f(sig.get("dsr")), _f(sig.get("pbo")), _f(sig.get("spa_p")),
                           int(trades) if isinstance(trades, int | float) else None, cfg)
    sig["label"] = NOT_SIGNIFICANT if failed else SIGNIFICANT
    sig["failed_gates"] = "; ".join(failed)
    return sig


def _oos_daily_sharpe(o: Any) -> float | None:
    """The per-day Sharpe of a stitched OOS summary (`auraquant.cta.backtest.sharpe`): None when undefined,
    capped at 0 when the OOS curve was ruined (the Sharpe its DSR deflates)."""
    sr = sharpe_ratio(o.daily_mean, o.daily_std, o.n_days, ruined=bool(o.ruined))
    return sr if math.isfinite(sr) else None


def assess_run(store: Store, run: Run, result: RunResult, session_id: str | None, cfg: GateConfig) -> Significance:
    """The significance block of a finished run for the session selecting it (module docstring). The run's
    trials are recorded for that session first: selecting a run makes its trials the session's."""
    sid = ledger.session_key(session_id)
    ledger.record_run(store, sid, run, result)
    o = result.oos
    content = ledger.content_hash_of(store, run.data.data_version_id, run.data.bars_hash)
    rob = result.robustness
    sig: Significance = {
        "session_id": sid, "data_content_hash": content,
        "oos_daily_sharpe": _oos_daily_sharpe(o), "oos_n_days": o.n_days,
        "oos_skew": o.skew, "oos_kurtosis": o.kurtosis, "oos_trades": o.trades,
        "dsr_run": o.dsr, "run_trials": result.total_trials,
        "pbo": _f(rob.get("pbo")), "spa_p": _f(rob.get("spa_consistent_median")),
        "pbo_spa_selection": str(rob.get("pbo_spa_selection", "top 16 by train score (before the ledger)")),
    }
    sig.update(_dsr_block(store, content, sid, sig))
    return _judge(sig, cfg)


def reassess(store: Store, sig: Significance, cfg: GateConfig) -> Significance:
    """The block re-judged now: DSR recomputed with the ledger's current counts of the record's session and
    data content, gates as configured now."""
    content, sid = sig.get("data_content_hash"), sig.get("session_id")
    if not isinstance(content, str) or not isinstance(sid, str):
        return _judge({**sig, "dsr_session": None, "dsr_workspace": None}, cfg)
    return _judge({**sig, **_dsr_block(store, content, sid, sig)}, cfg)


def freeze_gate(store: Store, cfg: GateConfig) -> Callable[[Any], list[str]]:
    """The `gates` hook of `Archive.freeze`: the failed gates of a record, re-judged at freeze."""

    def check(record: Any) -> list[str]:
        if not record.significance:
            return ["the record carries no significance evidence (archive it with archive_candidate)"]
        now = reassess(store, dict(record.significance), cfg)
        return [s for s in str(now["failed_gates"]).split("; ") if s]

    return check


def ledger_view(store: Store, run: Run, result: RunResult, session_id: str | None,
                cache: Counts | None = None) -> dict[str, Any]:
    """The run's OOS DSR with the session's and the workspace's ledger counts, as tools show it (the run's
    trials are recorded for the session first). Pass one `cache` to share counts across several runs judged
    at the same moment (record every run first)."""
    sid = ledger.session_key(session_id)
    ledger.record_run(store, sid, run, result)
    o = result.oos
    sig: Significance = {"oos_daily_sharpe": _oos_daily_sharpe(o),
                         "oos_n_days": o.n_days, "oos_skew": o.skew, "oos_kurtosis": o.kurtosis}
    block = _dsr_block(store, ledger.content_hash_of(store, run.data.data_version_id, run.data.bars_hash), sid, sig,
                       cache)
    return {"session_id": sid, **block, "run_dsr": o.dsr, "run_trials": result.total_trials}
