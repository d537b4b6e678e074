"""A job run on a 2-worker Dask LocalCluster gives result files identical to the local run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.cloud import runner
from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.cloud.dask_backend import DaskBackend
from auraquant.cta.cloud.trust import verify_results
from auraquant.cta.strategy.spec import Spec
from tests.support.specs import renamed_builtin

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def _same_files(a: runner.JobResult, b: runner.JobResult) -> None:
    assert a.manifest["files"] == b.manifest["files"]  # same sha256 and value digests, file by file
    assert a.manifest["top"] == b.manifest["top"]
    for name in a.manifest["files"]:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes()


def test_sweep_on_dask_local_cluster_equals_local_run(tmp_path: Path, bundle_path: Path, cluster) -> None:
    local = runner.run_job(bundle_path, tmp_path / "local")
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as ts:
        remote = DaskBackend(cluster.scheduler_address, batches_per_worker=2).run(bundle_path, tmp_path / "dask")
    batches = [t for t in ts.data if t["key"].startswith("run_batch")]
    assert len(batches) == 4 and len({t["worker"] for t in batches}) == 2  # 4 batches, on both workers
    _same_files(local, remote)
    assert verify_results(bundle_path, remote.out_dir).reproduced_trials == [t["trial"] for t in local.manifest["top"]]


@pytest.mark.parametrize("baseline", ["ema_cross", "ws_cross"])
def test_walkforward_on_dask_local_cluster_equals_local_run(tmp_path: Path, bars: pd.DataFrame, cluster,
                                                            baseline: str) -> None:
    """Also for a spec on a workspace module (`ws_cross`, the EMA cross under another name): the bundle carries
    its source, the windows run it on the workers, and the result verifies."""
    modules = {} if baseline == "ema_cross" else {
        ("baselines", baseline): renamed_builtin("baselines", "ema_cross", baseline).encode()}
    spec = Spec(name="ema-wf", baseline={"name": baseline, "params": {"fast": 12, "slow": 26}},
                search_space={"baseline.fast": {"kind": "int", "low": 3, "high": 20},
                              "baseline.slow": {"kind": "int", "low": 25, "high": 80}})
    job = make_job(bars, spec, kind="walkforward", seed=5, modules=modules,
                   search={"walk_forward": {"train_bars": 900, "validation_bars": 200, "target_bars": 300},
                           "search": {"n_trials": 8, "batch_size": 4, "top_k": 2, "n_startup_trials": 4}})
    path = write_bundle(job, bars, tmp_path, modules=modules)
    local = runner.run_job(path, tmp_path / "local")
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as ts:
        remote = DaskBackend(cluster.scheduler_address).run(path, tmp_path / "dask")
    assert len({t["worker"] for t in ts.data if t["key"].startswith("run_window")}) == 2
    _same_files(local, remote)
    if modules:
        assert verify_results(path, remote.out_dir).top == local.manifest["top"]
