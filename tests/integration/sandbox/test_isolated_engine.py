"""Agent-written copies of built-in modules (baseline, filter, execution, risk) give bit-identical results
through the sandbox worker: sweeps, recorded backtests (trades, equity, filter/risk decisions with the
filter's reject_reason) and look-ahead findings, at both confinement levels."""

from __future__ import annotations

import numpy as np
import pytest

from auraquant.cta.backtest.engine import run_backtest, run_sweep
from auraquant.cta.backtest.lookahead import check_spec
from auraquant.cta.data import synthetic
from auraquant.cta.strategy.loader import _BUILTIN_ROOT
from auraquant.cta.strategy.spec import Spec

from .conftest import Lab

pytestmark = pytest.mark.slow
COPIES = {("baselines", "ema_cross"): "agent_ema", ("filters", "adx_trend"): "agent_adx",
          ("executions", "atr_stop"): "agent_atr", ("risks", "vol_target"): "agent_vol"}


def _specs(lab: Lab) -> tuple[Spec, Spec]:
    for (kind, name), new in COPIES.items():
        src = (_BUILTIN_ROOT / kind / f"{name}.py").read_text()
        (lab.runtime / kind / f"{new}.py").write_text(src.replace(f'name = "{name}"', f'name = "{new}"'))
    engine = {"commission_bps": 5, "slippage_bps": 2}
    builtin = Spec(baseline={"name": "ema_cross", "params": {"fast": 8, "slow": 30}},
                   filters=[{"name": "adx_trend", "params": {"min_adx": 15}}],
                   execution=[{"name": "atr_stop", "params": {"period": 10}}],
                   risk=[{"name": "vol_target"}], engine=engine)
    agent = Spec(baseline={"name": "agent_ema", "params": {"fast": 8, "slow": 30}},
                 filters=[{"name": "agent_adx", "params": {"min_adx": 15}}],
                 execution=[{"name": "agent_atr", "params": {"period": 10}}],
                 risk=[{"name": "agent_vol"}], engine=engine)
    return builtin, agent


def test_agent_copies_match_builtins_bit_for_bit(lab: Lab) -> None:
    builtin, agent = _specs(lab)
    frame = synthetic.generate(2500, seed=9, timeframe="1h", start="2024-01-01")
    sets_b = [{"baseline.fast": f, "baseline.slow": s, "execution.atr_stop.sl_mult": m}
              for f in (5, 8) for s in (30, 60) for m in (1.5, 3.0)]
    sets_a = [{k.replace("atr_stop", "agent_atr"): v for k, v in s.items()} for s in sets_b]
    ref, got = run_sweep(frame, builtin, sets_b), run_sweep(frame, agent, sets_a, extra_dir=lab.runtime)
    metrics = [c for c in ref.columns if not c.startswith(("baseline.", "execution."))]
    assert ref[metrics].equals(got[metrics])
    rb, ra = run_backtest(frame, builtin), run_backtest(frame, agent, extra_dir=lab.runtime)
    assert rb.metrics == ra.metrics and rb.trades.equals(ra.trades) and rb.equity.equals(ra.equity)
    assert rb.steps.equals(ra.steps) and rb.risk_decisions.equals(ra.risk_decisions)
    fb = rb.filter_decisions.drop(columns="filter")
    fa = ra.filter_decisions.drop(columns="filter")
    assert fb.equals(fa) and set(ra.filter_decisions["filter"]) == {"agent_adx"}
    assert (ra.filter_decisions["reason"] != "").any()
    lb = check_spec(frame, builtin, n_checks=6)
    la = check_spec(frame, agent, extra_dir=lab.runtime, n_checks=6)
    assert [(f.ok, f.prefixes_checked) for f in lb] == [(f.ok, f.prefixes_checked) for f in la]
    assert [f.module for f in la] == ["agent_ema", "agent_adx", "agent_atr", "agent_vol"]
    assert np.isfinite(got["sharpe"]).all()


def test_worker_outlives_the_short_lived_thread_that_needed_it(lab: Lab) -> None:
    """Experiments call the engine from pool threads that end; a worker they started stays usable (it is
    spawned from one long-lived thread, so death-with-parent does not fire when a caller thread ends)."""
    import threading
    import time

    from auraquant.cta.backtest.prepare import prepare
    from auraquant.cta.sandbox.client import POOL

    POOL.close()
    spec = Spec(baseline={"name": "clean"})
    t = threading.Thread(target=lambda: prepare(lab.bars, spec, None, lab.runtime))
    t.start()
    t.join()
    time.sleep(1.0)
    pids = [w.proc.pid for ws in POOL._idle.values() for w in ws]
    assert len(pids) == 1 and all(w.alive() for ws in POOL._idle.values() for w in ws)
    prepare(lab.bars, spec, None, lab.runtime)
    assert [w.proc.pid for ws in POOL._idle.values() for w in ws] == pids  # reused, not replaced
