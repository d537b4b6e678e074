"""Where walk-forward windows run: threads in this process (default) or a Dask cluster.

Windows are independent (each has its own seeded study and its own bars), so the executor only
changes wall time, never results. Executor strings (`make_executor`):
- `threads` / `threads:N`: a thread pool of N (default: CPU count) workers; the engine kernels release
  the GIL, Optuna does not;
- `dask://host:port`: an existing Dask scheduler (the Optuna storage must then be reachable from every
  worker: an RDB URL, or a journal file on a shared filesystem). A worker that dies mid-run costs only
  time: Dask reschedules its pending windows on the others, and a window that was half searched resumes
  from the trials its study already persisted, so results are those of an uninterrupted run;
- `dask-local` / `dask-local:N`: a `LocalCluster` of N single-threaded worker processes (default 2),
  closed with the executor.
When several windows run at once, each engine sweep is single-threaded (`engine_threads = 1`) so
workers do not oversubscribe the cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Protocol


class WindowExecutor(Protocol):
    name: str
    engine_threads: int | None

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Apply fn to each task, yielding results as they complete (order not guaranteed)."""
        ...

    def close(self) -> None: ...


class ThreadExecutor:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.name = f"threads:{self.workers}"
        self.engine_threads = 1 if self.workers > 1 else None

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for t in tasks:
                yield fn(t)
            return
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="wf") as pool:
            futures = [pool.submit(fn, t) for t in tasks]
            try:
                for f in as_completed(futures):
                    yield f.result()
            finally:
                for f in futures:
                    f.cancel()

    def close(self) -> None:
        pass


class DaskExecutor:
    """Runs windows on a Dask cluster given by address, or on a LocalCluster it creates and owns."""

    def __init__(self, address: str | None = None, *, n_workers: int = 2) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
            self.name = f"dask-local:{n_workers}"
        else:
            self.client = Client(address)
            self.name = f"dask://{address.removeprefix('tcp://')}"
        self.engine_threads = 1

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed as dask_completed

        futures = {self.client.submit(fn, t, pure=False): None for t in tasks}
        try:
            for f in dask_completed(list(futures)):
                result = f.result()
                # Release a delivered result: if its worker dies later, the scheduler must not rerun it.
                # Tasks still pending on a dead worker are rescheduled by Dask (up to its
                # `allowed-failures`), and a window's rerun resumes its study from the shared storage.
                del futures[f]
                f.release()
                yield result
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(spec: str | None = None) -> WindowExecutor:
    """An executor from its string form (see the module docstring); None means `threads`."""
    s = (spec or "threads").strip()
    if s == "threads" or s.startswith("threads:"):
        n = int(s.split(":", 1)[1]) if ":" in s else None
        return ThreadExecutor(n)
    if s == "dask-local" or s.startswith("dask-local:"):
        return DaskExecutor(None, n_workers=int(s.split(":", 1)[1]) if ":" in s else 2)
    if s.startswith("dask://"):
        return DaskExecutor("tcp://" + s.removeprefix("dask://"))
    raise ValueError(f"unknown executor {spec!r}: use threads[:N], dask-local[:N] or dask://host:port")
