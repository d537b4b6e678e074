"""The trial ledger: how many trials were evaluated on a data content, and how their Sharpe ratios spread.

A record's Deflated Sharpe Ratio must deflate by every trial that could have been selected, not by the
trials of the one experiment that happened to produce it: a researcher who runs 16 experiments and keeps
the best one has made 16 x (trials per experiment) trials. So every trial evaluated on a data content —
each Optuna trial of every walk-forward window, each parameter set of a sweep, each single backtest — is
recorded in the store's `trial_ledger` table, keyed by the data content hash (the `DataVersion.content_hash`,
so a re-import of the same bars under another symbol shares the ledger) and by the research session that
evaluated it. Two counts exist:

- **session**: the distinct trials one research session evaluated on the content;
- **workspace**: the distinct trials any session evaluated on the content.

Each ledger row keeps the trial's per-day Sharpe ratio (mean / std of its UTC daily returns on the bars it
was evaluated on; NULL when undefined). `ledger_dsr` deflates a per-day Sharpe with N = the count of the
chosen scope and V = the sample variance (ddof=1) of the finite per-day Sharpe ratios of those trials:

    SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))      (g = Euler-Mascheroni)
    DSR = Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurt - 1) / 4 SR^2))

(`metrics.deflated_sharpe_ratio`; T daily returns of the evaluated curve, skew and non-excess kurtosis of
those returns). Trials evaluated outside any research session (the CLI) are recorded under the session id
`NO_SESSION`; they count in the workspace scope.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from auraquant.cta.backtest.metrics import table_daily_sharpe
from auraquant.cta.experiment.deflated import deflate
from auraquant.store import Store

Scope = Literal["session", "workspace"]
NO_SESSION = "no-session"
RUN, SWEEP, BACKTEST = "run", "sweep", "backtest"


def session_key(session_id: str | None) -> str:
    """The ledger's session id for a tool context's session id (empty = called outside a session)."""
    return session_id or NO_SESSION


def record_table(store: Store, content_hash: str, session_id: str | None, source_kind: str, source_id: str,
                 table: pd.DataFrame, keys: list[str]) -> int:
    """Record the rows of a trial table (columns daily_mean, daily_std, n_days) under `keys` (one per row).
    Returns how many trials were new for this session."""
    if len(keys) != len(table):
        raise ValueError(f"{len(keys)} keys for {len(table)} trials")
    sr = table_daily_sharpe(table)  # undefined -> NULL; a ruined trial capped at 0, as in the sweep's DSR
    n = table["n_days"].to_numpy(dtype=float)
    rows = [(k, float(s) if math.isfinite(s) else None, int(d) if math.isfinite(d) else 0)
            for k, s, d in zip(keys, sr, n, strict=True)]
    return store.ledger_add(content_hash, session_key(session_id), source_kind, source_id, rows)


def record_run_trials(store: Store, content_hash: str, session_id: str | None, run_id: str,
                      trials: pd.DataFrame) -> int:
    """Every trial of every window of a walk-forward run (its `trials.parquet`): key `wKKK/bBsS`."""
    keys = [f"w{int(w):03d}/b{int(b)}s{int(s)}" for w, b, s in
            zip(trials["window"], trials["batch"], trials["slot"], strict=True)]
    return record_table(store, content_hash, session_id, RUN, run_id, trials, keys)


def record_sweep_trials(store: Store, content_hash: str, session_id: str | None, sweep_id: str,
                        table: pd.DataFrame) -> int:
    """Every parameter set of a sweep: key = its row number."""
    return record_table(store, content_hash, session_id, SWEEP, sweep_id, table,
                        [f"set{i:05d}" for i in range(len(table))])


def record_backtest(store: Store, content_hash: str, session_id: str | None, report_id: str,
                    daily_mean: float | None, daily_std: float | None, n_days: int) -> int:
    """One backtest is one trial."""
    table = pd.DataFrame({"daily_mean": [np.nan if daily_mean is None else daily_mean],
                          "daily_std": [np.nan if daily_std is None else daily_std], "n_days": [n_days]})
    return record_table(store, content_hash, session_id, BACKTEST, report_id, table, ["bt"])


@dataclass(frozen=True)
class LedgerCount:
    """The trials of one scope: N (every distinct trial, defined Sharpe or not) and the sample variance of
    the finite per-day Sharpe ratios among them (None with fewer than two)."""

    scope: Scope
    session_id: str | None
    n_trials: int
    n_finite: int
    sharpe_variance: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count(store: Store, content_hash: str, scope: Scope, session_id: str | None = None) -> LedgerCount:
    """The ledger count of `scope` on `content_hash` (session scope: `session_id`'s trials)."""
    sid = session_key(session_id) if scope == "session" else None
    trials = store.ledger_trials(content_hash, sid)
    sr = trials["sharpe"].to_numpy(dtype=float) if len(trials) else np.array([])
    finite = sr[np.isfinite(sr)]
    var = float(finite.var(ddof=1)) if finite.size > 1 else None
    return LedgerCount(scope=scope, session_id=sid, n_trials=int(len(trials)), n_finite=int(finite.size),
                       sharpe_variance=var)


@dataclass(frozen=True)
class LedgerDSR:
    """A DSR computed with a ledger count (None when undefined: no variance, no trials, flat curve)."""

    dsr: float | None
    sr0: float | None
    count: LedgerCount


def ledger_dsr(sharpe: float | None, n_obs: int, skew: float | None, kurtosis: float | None,
               c: LedgerCount) -> LedgerDSR:
    """DSR of a per-day Sharpe `sharpe` over `n_obs` daily returns, deflated by the ledger count `c`
    (see the module docstring)."""
    if (sharpe is None or not math.isfinite(sharpe) or n_obs < 3 or c.n_trials < 1
            or c.sharpe_variance is None):
        return LedgerDSR(None, None, c)
    d = deflate(sharpe, c.n_trials, c.sharpe_variance, n_obs, 0.0 if skew is None else skew,
                3.0 if kurtosis is None else kurtosis)
    return LedgerDSR(d.dsr if math.isfinite(d.dsr) else None, d.sr0, c)


def content_hash_of(store: Store, data_version_id: str | None, fallback: str) -> str:
    """The ledger key of a data version (its content hash), or `fallback` for ad-hoc bars."""
    return store.get_data_version(data_version_id).content_hash if data_version_id else fallback


def learned_trials(run_artifacts: Path) -> pd.DataFrame:
    """The trials a learned baseline's hyperparameter search added to a run (every non-chosen model with
    every kernel parameter set of its window; `auraquant.cta.models.window`): columns window, hp_trial,
    batch, slot, daily_mean, daily_std, n_days, ruined. Empty for any other baseline."""
    cols = ["window", "hp_trial", "batch", "slot", "daily_mean", "daily_std", "n_days", "ruined"]
    frames = [pd.read_parquet(f, columns=cols)
              for f in sorted(Path(run_artifacts).glob("windows/w*_model/trials.parquet"))]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def record_run(store: Store, session_id: str | None, run: Any, result: Any) -> int:
    """Record every trial of a finished walk-forward `run` (its `trials.parquet`, plus the trials a learned
    baseline's hyperparameter search added: `windows/wKKK_model/trials.parquet`, see
    `auraquant.cta.models.window`) for `session_id` (a no-op when the session recorded it already)."""
    key = content_hash_of(store, run.data.data_version_id, run.data.bars_hash)
    if store.ledger_has(key, session_key(session_id), RUN, run.id):
        return 0
    trials = pd.read_parquet(Path(result.artifacts) / "trials.parquet",
                             columns=["window", "batch", "slot", "daily_mean", "daily_std", "n_days"])
    keys = [f"w{int(w):03d}/b{int(b)}s{int(s)}" for w, b, s in
            zip(trials["window"], trials["batch"], trials["slot"], strict=True)]
    # a learned baseline's other hyperparameter trials, each with every kernel trial (one source, one call)
    extra = learned_trials(Path(result.artifacts))
    keys += [f"w{int(w):03d}/h{int(h)}/b{int(b)}s{int(s)}" for w, h, b, s in
             zip(extra["window"], extra["hp_trial"], extra["batch"], extra["slot"], strict=True)]
    trials = pd.concat([trials, extra[list(trials.columns)]], ignore_index=True) if len(extra) else trials
    return record_table(store, key, session_id, RUN, run.id, trials, keys)
