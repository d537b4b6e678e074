"""Walk-forward and search configuration, and the window plan derived from them.

All lengths are in bars of the run's data (before the sealed holdout). Window k (k = 0, 1, ...) is laid
out as

    train [a, b) | embargo | validation [c, d) | embargo | target [e, f)

with, for `rolling`, a = k * step and b = a + train_bars; for `anchored`, a = 0 and
b = train_bars + k * step (the train segment grows). `embargo_bars` bars are skipped between train and
validation and between validation and target (none when validation_bars = 0: then train | embargo |
target). Windows are planned from the start of the data while the target fits before the holdout;
`n_windows` keeps the first n (an error if fewer fit). `step_bars` defaults to `target_bars` and must
be >= `target_bars` so target segments never overlap and stitch into one out-of-sample curve.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

Objective = Literal["sharpe", "sortino", "calmar", "constrained"]
Sampler = Literal["qmc_parzen", "optuna_tpe"]


class WalkForwardConfig(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}

    train_bars: int = Field(gt=1)
    validation_bars: int = Field(0, ge=0)
    target_bars: int = Field(gt=1)
    step_bars: int | None = Field(None, gt=0)
    mode: Literal["rolling", "anchored"] = "rolling"
    embargo_bars: int = Field(0, ge=0)
    n_windows: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _step_covers_target(self) -> WalkForwardConfig:
        if self.validation_bars == 1:
            raise ValueError("validation_bars must be 0 (no validation) or >= 2")
        if self.step < self.target_bars:
            raise ValueError(f"step_bars ({self.step}) < target_bars ({self.target_bars}): target segments "
                             "would overlap and could not be stitched")
        return self

    @property
    def step(self) -> int:
        return self.step_bars or self.target_bars


class SearchConfig(BaseModel):
    """Per-window Optuna search.

    objective: `sharpe` | `sortino` | `calmar` (annualized, as metrics.py defines them) or `constrained`
      (Sharpe subject to at least `min_trades` closed trades on train, via Optuna trial constraints;
      infeasible trials are never selected while a feasible one exists).
    Trials are asked in batches of `batch_size` and evaluated with one `run_sweep` call per batch; the
    top `top_k` distinct train parameter sets are re-ranked on validation.

    sampler: how each batch is proposed (`auraquant.cta.experiment.search` states both exactly).
      `qmc_parzen` (default): a scrambled Sobol start for the first `n_startup_trials` trials (at least the
      first batch), then Optuna's univariate TPE rule batched with the constant liar and computed in numpy
      (`auraquant.cta.experiment.sampler`); a batch's proposals cost milliseconds, so the search runs at
      the engine's batch speed. `optuna_tpe`: Optuna's `TPESampler` (multivariate, constant liar, `n_startup_trials`
      random trials) asked once per trial, the reference it is measured against. Either way every proposal
      is evaluated once, recorded in the window's Optuna study and counted as a trial.
    """

    model_config = {"frozen": True, "extra": "forbid"}

    n_trials: int = Field(100, gt=0)
    batch_size: int = Field(10, gt=0)
    objective: Objective = "sharpe"
    min_trades: int = Field(0, ge=0)
    top_k: int = Field(5, gt=0)
    n_startup_trials: int = Field(10, ge=0)
    sampler: Sampler = "qmc_parzen"


class Segment(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


class Window(BaseModel):
    """Bar index ranges [start, stop) of one walk-forward window."""

    model_config = {"frozen": True, "extra": "forbid"}
    index: int
    train: Segment
    validation: Segment | None
    target: Segment


def plan_windows(n_bars: int, cfg: WalkForwardConfig) -> list[Window]:
    """The windows of `cfg` over `n_bars` bars (see the module docstring)."""
    windows: list[Window] = []
    k = 0
    while cfg.n_windows is None or k < cfg.n_windows:
        a = 0 if cfg.mode == "anchored" else k * cfg.step
        b = (cfg.train_bars + k * cfg.step) if cfg.mode == "anchored" else a + cfg.train_bars
        val = None
        nxt = b + cfg.embargo_bars
        if cfg.validation_bars:
            val = Segment(start=nxt, stop=nxt + cfg.validation_bars)
            nxt = val.stop + cfg.embargo_bars
        target = Segment(start=nxt, stop=nxt + cfg.target_bars)
        if target.stop > n_bars:
            break
        windows.append(Window(index=k, train=Segment(start=a, stop=b), validation=val, target=target))
        k += 1
    if not windows:
        raise ValueError(f"no walk-forward window fits in {n_bars} bars (one window needs "
                         f"{cfg.train_bars + cfg.validation_bars + cfg.target_bars + 2 * cfg.embargo_bars})")
    if cfg.n_windows is not None and len(windows) < cfg.n_windows:
        raise ValueError(f"only {len(windows)} of the requested {cfg.n_windows} windows fit in {n_bars} bars")
    return windows
