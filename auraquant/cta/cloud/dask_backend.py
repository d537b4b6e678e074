"""The Dask backend: a job's sweep batches run on an existing cluster, addressed as `tcp://host:8786`.

The bars are scattered once (broadcast to every worker); each batch of parameter sets is one task running
`batches.run_batch`; results are gathered in submission order and merged with the DSR recomputed over all
trials (`batches.merge_batches`), so the result files equal a local run's bit for bit. Recorded artifacts of
the top trials are computed on the client (a handful of backtests). Workers need auraquant importable at the
same version as the client (a cluster whose engine differs will be caught by the trust gate anyway).
Walk-forward jobs send their windows to the cluster through the experiment layer's `DaskExecutor`.
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

    def __init__(self, address: str | None = None, *, client: Any = None, batches_per_worker: int = 2) -> None:
        if (address is None) == (client is None):
            raise ValueError("give exactly one of a scheduler address or a distributed.Client")
        self._address = address
        self._client = client
        self.batches_per_worker = batches_per_worker

    def _connect(self) -> tuple[Any, bool]:
        if self._client is not None:
            return self._client, False
        from distributed import Client

        return Client(self._address, set_as_default=False), True

    def run(self, bundle_path: Path | str, out_dir: Path | str, *, archive: Path | str | None = None) -> JobResult:
        """Run the bundle with its sweep spread over the cluster's workers; files as `runner.run_job`."""
        if open_bundle(bundle_path).job.kind == "walkforward":
            return self._walkforward(bundle_path, out_dir, archive)
        client, owned = self._connect()
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))

            def execute(bars: pd.DataFrame, spec_json: str, parts: list[list[dict[str, Any]]]) -> list[pd.DataFrame]:
                [bars_f] = client.scatter([bars], broadcast=True)
                futures = [client.submit(batches.run_batch, bars_f, spec_json, part, pure=False) for part in parts]
                return client.gather(futures)

            return run_job(bundle_path, out_dir, executor=execute, n_batches=n_workers * self.batches_per_worker,
                           archive=archive)
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
