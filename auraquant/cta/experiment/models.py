"""Persisted experiment objects: `Run` (what to run; its content id names the experiment) and `RunResult`
(what came out; stored under the run's id). Executor, storage URL and timestamps are not part of a Run's
identity: the same Run gives the same results on any executor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from auraquant.canonical import ContentModel, content_id
from auraquant.cta.backtest.metrics import BuyAndHold
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig, Window
from auraquant.cta.strategy.spec import Spec

RUN_KIND = "run"
RESULT_KIND = "run_result"
HOLDOUT_KIND = "holdout_score"


class DataRef(BaseModel):
    """The bars a run searches on: a stored data version (or ad-hoc bars, `data_version_id` None) cut
    before the sealed holdout. `bars_hash` is the content hash of exactly those visible bars."""

    model_config = {"frozen": True, "extra": "forbid"}
    data_version_id: str | None
    start: datetime | None = None
    holdout_start: datetime | None
    bars: int
    first_time: datetime
    last_time: datetime
    bars_hash: str


class Run(ContentModel):
    """A walk-forward experiment's definition. Its id hashes everything that can change a result: the
    spec (by its own identity, so its free-text description does not count), the data, the walk-forward
    and search settings, and the seed."""

    _id_prefix = "run"
    _id_exclude = frozenset({"created_at", "note"})

    spec: Spec
    data: DataRef
    walk_forward: WalkForwardConfig
    search: SearchConfig
    seed: int = 0
    created_at: datetime | None = None
    note: str = ""

    @property
    def id(self) -> str:
        body = self.model_dump(mode="json", exclude={"created_at": True, "note": True,
                                                     "spec": set(self.spec._id_exclude)})
        return content_id(self._id_prefix, body)


class WindowResult(BaseModel):
    """The outcome of one walk-forward window. Scores are the search objective's values."""

    model_config = {"frozen": True, "extra": "forbid"}
    window: Window
    train_span: tuple[datetime, datetime]
    validation_span: tuple[datetime, datetime] | None
    target_span: tuple[datetime, datetime]
    params: dict[str, int | float]
    train_score: float
    validation_score: float | None
    train_rank: int
    n_trials: int
    target_report: dict[str, Any]
    # a learned baseline's fitted model: ids and sha256 of its artifacts (auraquant.cta.models.artifacts)
    model: dict[str, Any] | None = None


class OOSSummary(BaseModel):
    """Metrics of the stitched out-of-sample equity (UTC daily returns, see `stitch.py`)."""

    model_config = {"frozen": True, "extra": "forbid"}
    total_return: float
    ann_return: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    n_days: int
    daily_mean: float
    daily_std: float | None
    skew: float | None
    kurtosis: float | None
    trades: int
    dsr: float | None = None
    dsr_n_trials: int | None = None
    dsr_sharpe_variance: float | None = None
    buy_and_hold: BuyAndHold | None = Field(None, description="buy and hold over the same stitched target "
                                                              "segments, and the excess over it")
    ruined: bool = Field(False, description="the stitched NAV reached 0 (a target segment was ruined); "
                                            "Sharpe and the DSR's Sharpe are then capped at 0")


class RunResult(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    run_id: str
    windows: list[WindowResult]
    oos: OOSSummary
    total_trials: int
    artifacts: str
    finished_at: datetime | None = None
    robustness: dict[str, Any] = Field(default_factory=dict)
    # Confinement level agent-written modules ran under ("bubblewrap" / "rlimits-only"); None = built-ins only.
    isolation: str | None = None
