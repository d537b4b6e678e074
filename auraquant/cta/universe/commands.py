"""What `auraquant backtest --universe` and `auraquant experiment run --universe` do (the CLI modules only parse
options and print): a portfolio backtest of a Spec on a universe's research bars, a universe walk-forward."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auraquant.cta.backtest.lookahead_gate import require_causal
from auraquant.cta.backtest.portfolio import Sizing, run_portfolio_backtest
from auraquant.cta.experiment import ledger
from auraquant.cta.experiment.gates import load_gates
from auraquant.cta.experiment.universe_walkforward import UniverseWalkForward, run_universe_walkforward
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.universe import service
from auraquant.cta.universe.align import align


def portfolio_backtest(ws: Any, universe_id: str, spec: Spec, *, start: Any = None, end: Any = None,
                       extra_dir: Path | None = None, cache_dir: Path | None = None,
                       sizing: Sizing | None = None) -> dict[str, Any]:
    """Backtest `spec` on every member of the universe (research bars: never its holdout), checked for
    look-ahead on each member's bars; counted as one trial on each member's content. Returns the summary
    (portfolio report, members, consistency, correlation, equal-weight basket buy and hold, attribution)."""
    uv = service.get(ws.store, universe_id)
    frames = service.research_frames(ws.store, uv, start, end)
    for frame in frames.values():
        require_causal(spec, frame, extra_dir, cache_dir=cache_dir)
    res = run_portfolio_backtest(align(frames), spec, sizing or Sizing(), extra_dir=extra_dir)
    rep = res.report
    for m in uv.members:
        ledger.record_backtest(ws.store, ws.store.get_data_version(m.data_version_id).content_hash, None, rep.id,
                               rep.daily_mean, rep.daily_std, rep.n_days)
    return {"universe_id": uv.id, **res.summary()}


def universe_experiment(ws: Any, universe_id: str, spec: Spec, *, train: int, target: int, windows: int | None,
                        trials: int, seed: int) -> dict[str, Any]:
    """A universe walk-forward (see `universe_walkforward`) with the workspace's gates; its summary."""
    uv = service.get(ws.store, universe_id)
    if service.holdout_start(ws.store, uv) is None:
        raise ValueError(f"universe {uv.id} has no holdout; declare one (universe_create with holdout_start)")
    cfg = UniverseWalkForward(n_windows=windows or 3, train_bars=train, target_bars=target, n_trials=trials, seed=seed)
    run, res = run_universe_walkforward(ws.store, uv, spec, cfg, session_id=None, gates=load_gates(ws.config),
                                        extra_dir=str(ws.runtime_dir))
    body = res.model_dump(mode="json", exclude={"trials", "stitched"})
    return {"run_id": run.id, **body}
