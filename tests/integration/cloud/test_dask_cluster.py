"""A real Dask cluster (`dask scheduler` + two `dask worker` processes on 127.0.0.1): a walk-forward and a
sweep bundle run through `dask://`, one worker is SIGKILLed while it holds a task, and the results equal
the thread-pool run bit for bit (the scheduler reschedules the lost task on the surviving worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.cloud import runner
from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.cloud.dask_backend import DaskBackend
from auraquant.cta.data.synthetic import generate
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.runner import execute, run_from_frame
from tests.support.dask_cluster import DaskCluster, KillWhenBusy, dask_cluster, processing_counts
from tests.support.specs import SWEEP_SPEC, ema_chandelier_spec

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

# Small enough to keep the test fast, 3 windows so the survivor must also run what the dead worker held.
WF = WalkForwardConfig(train_bars=800, validation_bars=200, target_bars=250, embargo_bars=5, n_windows=3)
SEARCH = SearchConfig(n_trials=12, batch_size=6, n_startup_trials=4, top_k=2)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    with dask_cluster(2, log_dir=tmp_path / "dask-logs") as c:
        yield c


def _survivors(address: str) -> set[str]:
    with distributed.Client(address, set_as_default=False) as client:
        return {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}


def _assert_rerun(cluster: DaskCluster, killer: KillWhenBusy, n_tasks: int) -> None:
    """The worker died holding a task, and that work ran again on the survivor: the scheduler rescheduled
    the key (processing twice), or our code resubmitted it under a new key (more keys than tasks)."""
    assert killer.killed_key is not None, "the worker was never seen holding a task: nothing was killed"
    assert cluster.workers["w1"].poll() is not None  # the process is gone
    assert _survivors(cluster.address) == {"w0"}
    counts = processing_counts(cluster.address, killer.prefix)
    assert counts.get(killer.killed_key, 0) >= 2 or len(counts) > n_tasks, counts


def test_walkforward_on_dask_cluster_with_a_killed_worker_equals_threads(tmp_path: Path, cluster) -> None:
    run, bars = run_from_frame(generate(2_400, seed=17), ema_chandelier_spec("ema_atr_dask"), WF, SEARCH, seed=5,
                               holdout_bars=200)
    threads = execute(run, bars, out_dir=tmp_path / "threads", storage_url=f"journal:{tmp_path / 't.journal'}",
                      executor="threads:2", robustness=None)
    port = cluster.address.rsplit(":", 1)[1]
    killer = KillWhenBusy(cluster, "w1", "run_window").start()
    try:
        # The journal is on this machine's filesystem, which every worker of a 127.0.0.1 cluster shares.
        dask = execute(run, bars, out_dir=tmp_path / "dask", storage_url=f"journal:{tmp_path / 'd.journal'}",
                       executor=f"dask://127.0.0.1:{port}", robustness=None)
    finally:
        killer.stop()
    _assert_rerun(cluster, killer, WF.n_windows)
    assert dask.executed_windows == threads.executed_windows == WF.n_windows
    skip = {"finished_at", "artifacts"}
    assert dask.result.model_dump(exclude=skip) == threads.result.model_dump(exclude=skip)
    for name in ("oos_equity.parquet", "selection.parquet", "oos_trades.parquet", "reports.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "threads" / name).read_bytes(), name
    # Optuna's own trial numbers depend on the storage's history (a resumed window re-adds trials);
    # everything the research sees (params, metrics, scores, batch/slot order) must be identical.
    a = pd.read_parquet(tmp_path / "dask" / "trials.parquet").drop(columns="optuna_number")
    b = pd.read_parquet(tmp_path / "threads" / "trials.parquet").drop(columns="optuna_number")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_sweep_bundle_on_dask_cluster_with_a_killed_worker_equals_threads(tmp_path: Path, cluster) -> None:
    bars = generate(20_000, seed=23)
    param_sets = [{"baseline.fast": f, "baseline.slow": s, "execution.trailing_pct.pct": p}
                  for f in range(4, 24, 2) for s in range(30, 130, 20) for p in (0.02, 0.04, 0.06, 0.08)]
    job = make_job(bars, SWEEP_SPEC, param_sets=param_sets, seed=3, top_k=2, symbol="SYNTH/USDT", timeframe="1h")
    bundle = write_bundle(job, bars, tmp_path / "bundles")
    local = runner.run_job(bundle, tmp_path / "threads", threads=2)
    killer = KillWhenBusy(cluster, "w1", "run_batch").start()
    try:
        remote = DaskBackend(cluster.address, batches_per_worker=3).run(bundle, tmp_path / "dask")
    finally:
        killer.stop()
    _assert_rerun(cluster, killer, 6)  # 2 workers x 3 batches
    assert remote.manifest["files"] == local.manifest["files"]  # sha256 + value digests, file by file
    assert remote.manifest["top"] == local.manifest["top"]
    for name in local.manifest["files"]:
        assert (remote.out_dir / name).read_bytes() == (local.out_dir / name).read_bytes(), name
