"""A real Dask cluster for tests: `dask scheduler` and N `dask worker` processes on 127.0.0.1.

Each process is a child of the test (started with `subprocess.Popen`, ended by its pid), listens on a port
found free just before, and runs without a dashboard. Workers run `--no-nanny` so that the pid the test
holds is the worker itself: SIGKILL on it is an abrupt worker death, exactly what a crashed machine looks
like to the scheduler (no nanny restarts it). The workers get the repository on PYTHONPATH and as cwd so
`auraquant` and `tests` import the same code as the test process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask_cli() -> list[str]:
    # The `dask` entry point of the interpreter running the tests (same venv as the client).
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "dask"]


@dataclass
class DaskCluster:
    """A running scheduler and its workers; `workers` maps a worker name to its process."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    worker_addresses: dict[str, str] = field(default_factory=dict)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker process `name` and reap it."""
        p = self.workers[name]
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)

    def stop(self) -> None:
        """End every process of the cluster, by pid: SIGTERM, then SIGKILL after 5 s."""
        procs = [*self.workers.values(), self.scheduler]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


@contextmanager
def dask_cluster(n_workers: int = 2, *, log_dir: Path, timeout: float = 60.0) -> Iterator[DaskCluster]:
    """Start a scheduler and `n_workers` single-threaded workers (names w0, w1, ...); stop them on exit.

    Waits until every worker is registered with the scheduler. Process output goes to files in `log_dir`.
    """
    from distributed import Client

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"

    def start(args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(log_dir / log, "wb")  # the child keeps its own descriptor
        try:
            return subprocess.Popen([*_dask_cli(), *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()

    cluster = DaskCluster(address, start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                          "--no-dashboard"], "scheduler.log"))
    try:
        for i in range(n_workers):
            name = f"w{i}"
            cluster.workers[name] = start(
                ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--worker-port", str(free_port()),
                 "--local-directory", str(log_dir / name)], f"{name}.log")
        with Client(address, timeout=timeout, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=timeout)
            for addr, info in client.scheduler_info(n_workers=-1)["workers"].items():
                cluster.worker_addresses[info["name"]] = addr
        yield cluster
    finally:
        cluster.stop()


@dataclass
class KillWhenBusy:
    """A thread that SIGKILLs one worker as soon as the scheduler has a task of `prefix` on it.

    `killed_key` is the key that was processing on the worker at the kill (None if it never got one
    before `stop()`); the scheduler must then reschedule it on a surviving worker.
    """

    cluster: DaskCluster
    worker: str
    prefix: str
    killed_key: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> KillWhenBusy:
        self._thread = threading.Thread(target=self._run, name="kill-when-busy", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from distributed import Client

        try:
            addr = self.cluster.worker_addresses[self.worker]
            with Client(self.cluster.address, set_as_default=False) as client:
                while not self._stop.is_set():
                    keys = [str(k) for k in client.processing().get(addr, ())]
                    busy = [k for k in keys if k.startswith(self.prefix)]
                    if busy:
                        # Let the task really start executing, so the kill lands mid-computation.
                        time.sleep(0.1)
                        self.cluster.kill_worker(self.worker)
                        self.killed_key = busy[0]
                        return
                    time.sleep(0.02)
        except BaseException as e:  # surfaced by stop(): a silent killer thread would fake a pass
            self.error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.error is not None:
            raise self.error


def processing_counts(address: str, prefix: str) -> dict[str, int]:
    """For every task key starting with `prefix` the scheduler still remembers: how many times it moved
    into `processing` (2+ means Dask rescheduled it after its worker died)."""
    from distributed import Client

    def counts(dask_scheduler: Any, prefix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for rec in dask_scheduler.transition_log:
            key = str(rec[0])
            if key.startswith(prefix) and rec[2] == "processing":
                out[key] = out.get(key, 0) + 1
        return out

    with Client(address, set_as_default=False) as client:
        return dict(client.run_on_scheduler(counts, prefix=prefix))
