"""The Dask backend: a job's sweep batches run on an existing cluster, addressed as `tcp://host:8786`.

The bars are scattered once (broadcast to every worker); each batch of parameter sets is one task running
`batches.run_batch`; results are collected in batch order and merged with the DSR recomputed over all
trials (`batches.merge_batches`), so the result files equal a local run's bit for bit. A worker that dies
mid-run costs time only: Dask reruns its tasks elsewhere, and batches lost with the scattered bars are
resubmitted (see `_run_parts`). Recorded artifacts of
the top trials are computed on the client (a handful of backtests). Workers need auraquant importable at the
same version as the client (a cluster whose engine differs will be caught by the trust gate anyway).
Walk-forward jobs send their windows to the cluster through the experiment layer's `DaskExecutor`; training
jobs one task per window and Monte Carlo jobs one task per chunk (`_tasks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from auraquant.cta.cloud import batches
from auraquant.cta.cloud.bundle import open_bundle
from auraquant.cta.cloud.runner import JobResult, run_job


class DaskBackend:
    """Run bundles on a Dask cluster. Pass `address` (a scheduler) or an existing `distributed.Client`."""

    def __init__(self, address: str | None = None, *, client: Any = None, batches_per_worker: int = 2,
                 max_rescatters: int = 3) -> None:
        if (address is None) == (client is None):
            raise ValueError("give exactly one of a scheduler address or a distributed.Client")
        self._address = address
        self._client = client
        self.batches_per_worker = batches_per_worker
        self.max_rescatters = max_rescatters

    def _connect(self) -> tuple[Any, bool]:
        if self._client is not None:
            return self._client, False
        from distributed import Client

        return Client(self._address, set_as_default=False), True

    def run(self, bundle_path: Path | str, out_dir: Path | str, *, archive: Path | str | None = None) -> JobResult:
        """Run the bundle with its sweep spread over the cluster's workers; files as `runner.run_job`."""
        kind = open_bundle(bundle_path).job.kind
        if kind == "walkforward":
            return self._walkforward(bundle_path, out_dir, archive)
        if kind in ("train", "montecarlo"):
            return self._tasks(bundle_path, out_dir, archive)
        client, owned = self._connect()
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))

            def execute(bars: pd.DataFrame, spec_json: str, parts: list[list[dict[str, Any]]],
                        modules: dict[tuple[str, str], bytes]) -> list[pd.DataFrame]:
                return _run_parts(client, bars, spec_json, parts, self.max_rescatters, modules)

            return run_job(bundle_path, out_dir, executor=execute, n_batches=n_workers * self.batches_per_worker,
                           archive=archive)
        finally:
            if owned:
                client.close()

    def _tasks(self, bundle_path: Path | str, out_dir: Path | str, archive: Path | str | None) -> JobResult:
        """A training job (one task per window, `training.train_window`) or a Monte Carlo job (one task per
        chunk, `montecarlo_job.simulate_chunk`): the shared input (bars, returns) scattered once, results
        gathered in order, so the files equal a local run's (same weights hashes, same paths)."""
        client, owned = self._connect()
        try:
            def mapper(fn: Any, data: Any, *args: Any) -> list[Any]:
                *fixed, todo = args
                [data_f] = client.scatter([data], broadcast=True, hash=False)
                futures = [client.submit(fn, data_f, *fixed, *(t if isinstance(t, tuple) else (t,)), pure=False)
                           for t in todo]
                try:
                    return client.gather(futures)
                finally:
                    for f in futures:
                        f.release()
                    data_f.release()

            return run_job(bundle_path, out_dir, archive=archive, window_executor=mapper)
        finally:
            if owned:
                client.close()

    def _walkforward(self, bundle_path: Path | str, out_dir: Path | str, archive: Path | str | None) -> JobResult:
        from auraquant.cta.experiment.executors import DaskExecutor

        ex = DaskExecutor(self._address or self._client.scheduler.address)
        try:
            return run_job(bundle_path, out_dir, window_executor=ex, archive=archive)
        finally:
            ex.close()


def _run_parts(client: Any, bars: pd.DataFrame, spec_json: str, parts: list[list[dict[str, Any]]],
               max_rescatters: int, modules: dict[tuple[str, str], bytes] | None = None) -> list[pd.DataFrame]:
    """`batches.run_batch` of every part on the cluster, results in part order.

    Tolerates workers dying mid-run. Dask reschedules a lost task by itself, but scattered data cannot be
    recomputed: when the workers holding the bars die, the scheduler forgets the tasks that need them and
    their futures are cancelled. Those parts are then submitted again against a fresh scatter, at most
    `max_rescatters` times. Results are stored by part index, so the merged result does not depend on
    what failed or when.
    """
    from concurrent.futures import CancelledError

    done: dict[int, pd.DataFrame] = {}
    for _ in range(max_rescatters + 1):
        [bars_f] = client.scatter([bars], broadcast=True, hash=False)
        futures = {client.submit(batches.run_batch, bars_f, spec_json, part, None, modules or None, pure=False): i
                   for i, part in enumerate(parts) if i not in done}
        for f in futures:  # in order: a result done early waits on its worker (Dask reruns it if lost)
            try:
                done[futures[f]] = f.result()
            except CancelledError:
                continue  # lost with the scattered bars: resubmitted on the next attempt
            finally:
                f.release()
        bars_f.release()
        if len(done) == len(parts):
            return [done[i] for i in range(len(parts))]
    missing = sorted(set(range(len(parts))) - set(done))
    raise RuntimeError(f"sweep batches {missing} were lost with their workers {max_rescatters + 1} times")
