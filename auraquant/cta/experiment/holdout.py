"""Scoring the sealed holdout: the one explicit, recorded read of the bars a run's search never saw.

Governance calls `score_holdout` once per run, at freeze. The bars come from
`auraquant.cta.data.access.read_holdout`, the only function that reads sealed bars; it appends an audit
record first. Scoring is counted per holdout CONTENT, not per run: the score carries `look` (1 for the first
read of those sealed bars, k for the k-th, whichever run or re-imported DataVersion read them before), and
the look travels with the metrics (`holdout_look`) into the frozen record and its chain event.

It backtests the chosen parameters (by default those selected in the run's last window, the most recent
selection) on the holdout bars `[holdout_start, end of the data version)`, on those bars alone (flat start,
warm-up inside, like every walk-forward segment), and persists a `HoldoutScore` under the run's id. A second
call for the same run raises `HoldoutAlreadyScored` (before anything is read).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.metrics import buy_and_hold_metrics
from auraquant.cta.data.access import read_holdout
from auraquant.cta.experiment.models import HOLDOUT_KIND, RUN_KIND, Run
from auraquant.cta.experiment.runner import load_result
from auraquant.cta.strategy.spec import apply_params
from auraquant.store import NotFound
from auraquant.workspace import Workspace


class HoldoutAlreadyScored(RuntimeError):
    pass


class HoldoutScore(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    run_id: str
    params: dict[str, int | float]
    holdout_start: datetime
    bars: int
    report: dict[str, Any]
    scored_at: datetime
    look: int = Field(1, ge=1, description="k-th look at this holdout content (1 = first ever read)")
    read_seq: int | None = Field(None, description="sequence number of the audited read in the holdout log")


def existing_score(ws: Workspace, run_id: str) -> HoldoutScore | None:
    try:
        return ws.store.get_object(HOLDOUT_KIND, run_id, HoldoutScore)
    except NotFound:
        return None


def score_holdout(ws: Workspace, run_id: str, params: dict[str, int | float] | None = None) -> HoldoutScore:
    """Score a finished run's sealed holdout once (see the module docstring)."""
    run = ws.store.get_object(RUN_KIND, run_id, Run)
    if run.data.holdout_start is None or run.data.data_version_id is None:
        raise ValueError(f"run {run_id} has no sealed holdout in a stored data version")
    prior = existing_score(ws, run_id)
    if prior is not None:
        when = f"{prior.scored_at:%Y-%m-%d %H:%M}"
        raise HoldoutAlreadyScored(f"the holdout of run {run_id} was already scored at {when} UTC; "
                                   "it cannot be scored again")
    if params is None:
        result = load_result(ws, run_id)
        if result is None:
            raise ValueError(f"run {run_id} has not finished; nothing was selected to score")
        params = dict(result.windows[-1].params)
    bars, read = read_holdout(ws.store, run.data.data_version_id, pd.Timestamp(run.data.holdout_start),
                              reader="score_holdout", run_id=run_id)
    res = run_backtest(bars, apply_params(run.spec, params), record=False, extra_dir=ws.runtime_dir)
    score = HoldoutScore(run_id=run_id, params=params, holdout_start=run.data.holdout_start, bars=len(bars),
                         report=res.report.model_dump(mode="json"), scored_at=datetime.now(UTC), look=read.look,
                         read_seq=read.seq)
    ws.store.put_object(HOLDOUT_KIND, score, obj_id=run_id)
    return score


def holdout_metrics(score: HoldoutScore) -> dict[str, float | None]:
    """The numeric metrics of a holdout score (None for undefined values), as governance stores them;
    buy and hold over the holdout bars as `bh_total_return`, `bh_sharpe`, `bh_max_drawdown` and the excess
    as `excess_return`, `excess_sharpe` (absent for scores made before buy and hold existed)."""
    out: dict[str, float | None] = {}
    for k, v in score.report.items():
        if isinstance(v, bool) or not isinstance(v, int | float | type(None)):
            continue
        out[k] = None if v is None else float(v)
    bh = score.report.get("buy_and_hold")
    if isinstance(bh, dict):
        out.update(buy_and_hold_metrics(bh))
    out["holdout_bars"] = float(score.bars)
    out["holdout_look"] = float(score.look)
    if score.read_seq is not None:  # links the record (and its chain event) to the audited read
        out["holdout_read_seq"] = float(score.read_seq)
    return out


def holdout_scorer(ws: Workspace) -> Any:
    """A `governance.archive.HoldoutScorer`: scores the record's run with the record's params, once."""

    def score(record: Any) -> dict[str, float | None]:
        if not record.run_id:
            raise ValueError(f"record {record.id} names no walk-forward run; its holdout cannot be scored")
        params = {k: v for k, v in record.params.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return holdout_metrics(score_holdout(ws, record.run_id, params or None))

    return score
