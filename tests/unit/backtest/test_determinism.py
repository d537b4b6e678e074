"""Must show 5: same inputs -> byte-identical artifacts across runs and thread counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from auraquant.cta.backtest.artifacts import save_artifacts
from auraquant.cta.backtest.engine import run_backtest, run_sweep
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars

ROOT = Path(__file__).resolve().parents[3]
SPEC = Spec(baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 21}},
            filters=[{"name": "adx_trend", "params": {"period": 7, "min_adx": 15}}],
            execution=[{"name": "fixed_sltp", "params": {"sl_pct": 0.02, "tp_pct": 0.04}},
                       {"name": "trailing_pct", "params": {"pct": 0.03}}],
            risk=[{"name": "vol_target", "params": {"lookback": 24}}, {"name": "leverage_cap"}],
            engine={"commission_bps": 7.5, "slippage_bps": 2.0})
GRID = [{"baseline.fast": f, "execution.trailing_pct.pct": p} for f in (3, 5, 8) for p in (0.01, 0.03, 0.05)]

_SCRIPT = """
import sys, hashlib
import numpy as np
from auraquant.cta.backtest.artifacts import save_artifacts
from auraquant.cta.backtest.engine import run_backtest, run_sweep
from tests.unit.backtest.test_determinism import SPEC, GRID, _bars
bars = _bars()
files = save_artifacts(run_backtest(bars, SPEC), sys.argv[1])
table = run_sweep(bars, SPEC, GRID)
print(sorted(files.items()), hashlib.sha256(np.ascontiguousarray(table.to_numpy(float)).tobytes()).hexdigest())
"""


def _bars():
    return random_bars(np.random.default_rng(99), 2000)


def test_artifacts_are_byte_identical_across_runs(tmp_path: Path) -> None:
    bars = _bars()
    a = save_artifacts(run_backtest(bars, SPEC), tmp_path / "a")
    b = save_artifacts(run_backtest(bars, SPEC), tmp_path / "b")
    assert a == b
    for name in a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert set(a) == {"report.json", "equity.parquet", "trades.parquet", "steps.parquet",
                      "filter_decisions.parquet", "risk_decisions.parquet"}


def test_sweep_is_identical_on_one_and_two_threads_and_matches_single_runs() -> None:
    bars = _bars()
    one = run_sweep(bars, SPEC, GRID, threads=1)
    two = run_sweep(bars, SPEC, GRID, threads=2)
    assert one.to_numpy(float).tobytes() == two.to_numpy(float).tobytes()
    assert {"psr", "dsr", "sharpe", "max_drawdown"} <= set(one.columns) and len(one) == len(GRID)
    defined = one["dsr"].notna()
    assert defined.any() and (one.loc[defined, "dsr"] <= one.loc[defined, "psr"]).all()  # deflation only lowers
    from auraquant.cta.strategy.spec import apply_params
    for k in (0, 4, 8):
        single = run_backtest(bars, apply_params(SPEC, GRID[k]), record=False).metrics
        row = one.iloc[k]
        assert all(np.array_equal(single[m], row[m], equal_nan=True) for m in single)


def test_artifacts_identical_in_a_fresh_process_with_other_thread_count(tmp_path: Path) -> None:
    outs = []
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads, PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / threads)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300, check=True)
        outs.append(proc.stdout.strip().splitlines()[-1])
    assert outs[0] == outs[1]
    for name in ("report.json", "trades.parquet", "steps.parquet"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()
