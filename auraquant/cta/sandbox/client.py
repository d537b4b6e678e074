"""The research-process side of the sandbox: start a confined worker, talk to it, kill it at its limits.

`Worker` is one worker process for one modules directory. Its environment is built from an allow-list
(no API keys, tokens, `AURAQUANT_*` variables or key paths can reach it); its stdout/stderr are drained by
a thread that kills it past `Limits.output_bytes`; each request has a wall-clock deadline after which it is
killed. Under bubblewrap it sees read-only binds of only the Python install, the venv, the `auraquant` and
`cta_runtime` code and the modules directory (at `/sandbox/modules`), a size-capped tmpfs scratch as its
home and working directory, `/proc` of its own PID namespace and a minimal `/dev`, and no network.
A worker's death is classified into the typed errors of `errors.py` by its exit status: SIGSYS (the
seccomp filter's kill for fork/exec) -> `SandboxForkRefused`, SIGXCPU or our deadline kill ->
`SandboxTimeout`, SIGXFSZ or the output cap -> `SandboxOutputFlood`, anything else -> `SandboxCrashed`.

`WorkerPool` keeps long-lived workers per (modules directory, policy) for reuse across batches; a worker
that failed in any way, or that used CPU while idle (a module left a thread running), is discarded and
the next request starts a fresh one.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from auraquant.cta.sandbox import errors, wire
from auraquant.cta.sandbox.policy import BWRAP, LANDLOCK, Limits, Policy, bwrap_path

CODE_ROOT = Path(__file__).resolve().parents[3]  # holds auraquant/ and cta_runtime/
SANDBOX_MODULES = "/sandbox/modules"
SANDBOX_SCRATCH = "/sandbox/scratch"
# Environment variables a worker may inherit (values copied); everything else is dropped.
_ENV_PASS = ("LANG", "LC_ALL", "TZ")
# `-c` puts the working directory (the writable scratch) on sys.path: drop it, so files a module writes there
# can never shadow an import; then the AuraQuant code root first.
_BOOT = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; sys.path.insert(0, sys.argv[1]); "
         "from auraquant.cta.sandbox.worker import main; main()")


def scrubbed_env(home: str, numba_cache: str) -> dict[str, str]:
    """The worker's whole environment: a fixed allow-list, never secrets, key paths or AURAQUANT_*."""
    env = {k: os.environ[k] for k in _ENV_PASS if k in os.environ}
    env.update({"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "PYTHONHASHSEED": "0",
                "PYTHONDONTWRITEBYTECODE": "1", "NUMBA_CACHE_DIR": numba_cache, "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def _numba_cache_files() -> list[tuple[Path, str]]:
    """(cache file, its relative path under NUMBA_CACHE_DIR) of every numba cache of the engine code, so a
    worker starts with the compiled kernel instead of compiling it again (seconds per start)."""
    from numba.core.caching import _CacheLocator
    out = []
    for pyc in sorted((CODE_ROOT / "auraquant").rglob("__pycache__")):
        files = [f for f in pyc.iterdir() if f.suffix in (".nbi", ".nbc")]
        if files:
            sub = _CacheLocator.get_suitable_cache_subpath(str(pyc.parent / "x.py"))
            out.extend((f, f"{sub}/{f.name}") for f in files)
    return out


_IDLE_CPU_S = 0.25  # CPU seconds an idle worker may show between two requests (ping + reply overhead)
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aq-sandbox-spawner")
_warm_lock = threading.Lock()
_warmed = False


def warm_engine_cache() -> None:
    """Compile (or load) the kernel in this process once, so its numba cache exists for workers to copy."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        from auraquant.cta.backtest.engine import run_backtest, run_sweep
        from auraquant.cta.data import synthetic
        from auraquant.cta.strategy.spec import Spec
        frame = synthetic.generate(300, seed=1, timeframe="1h", start="2024-01-01")
        spec = Spec(baseline={"name": "ema_cross"}, execution={"name": "trailing_pct"},
                    risk={"name": "fixed_fraction"})
        run_sweep(frame, spec, [{"baseline.fast": 5}], threads=1)
        run_backtest(frame, spec, record=True)
        run_backtest(frame, spec, record=False)
        _warmed = True


def _bind_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        args += ["--ro-bind-try", f, f]
    seen: list[str] = []
    for d in (sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parents[1])):
        if not any(d == s or d.startswith(s + "/") for s in seen) and not d.startswith("/usr"):
            seen.append(d)
            args += ["--ro-bind", d, d]
    for code in ("auraquant", "cta_runtime"):
        args += ["--ro-bind", str(CODE_ROOT / code), str(CODE_ROOT / code)]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    return args


def _landlock_read_paths(modules_dir: Path) -> list[str]:
    """What a Landlock-confined worker may read: system libraries, Python, the venv, the code, the modules."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/localtime",
             "/sys/devices/system/cpu", "/dev/null", "/dev/urandom", sys.base_prefix, sys.prefix,
             str(Path(sys.executable).resolve().parents[1]), str(CODE_ROOT / "auraquant"),
             str(CODE_ROOT / "cta_runtime"), str(modules_dir)]
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


class Worker:
    """One confined worker process serving requests for the modules under `modules_dir`."""

    def __init__(self, policy: Policy, modules_dir: Path, threads: int) -> None:
        self.policy = policy
        self.limits: Limits = policy.limits
        self.modules_dir = Path(modules_dir).resolve()
        self.level = policy.level
        self.seccomp = False
        self.cpu = 0.0
        self._host_scratch = tempfile.mkdtemp(prefix="aq_sbx_")
        self._out_bytes = 0
        self._out_tail = bytearray()
        self._flooded = threading.Event()
        self._killed_for: str | None = None
        try:
            self._start(threads)
        except BaseException:
            if hasattr(self, "proc"):
                self._kill("startup")
                self.close()
            else:
                shutil.rmtree(self._host_scratch, ignore_errors=True)
            raise

    # -- lifecycle -----------------------------------------------------------------------------------
    def _start(self, threads: int) -> None:
        cache_files = _numba_cache_files()
        fds: list[int] = []
        boot = [sys.executable, "-E", "-s", "-B", "-c", _BOOT, str(CODE_ROOT)]
        if self.level == BWRAP:
            bwrap, reason = bwrap_path()
            if bwrap is None:
                raise errors.ConfinementUnavailable(f"bubblewrap became unavailable: {reason}")
            cache_root = f"{SANDBOX_SCRATCH}/.numba"
            env = scrubbed_env(SANDBOX_SCRATCH, cache_root)
            argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                    "--clearenv", *_bind_args(), "--proc", "/proc", "--dev", "/dev",
                    "--size", str(self.limits.scratch_bytes), "--tmpfs", SANDBOX_SCRATCH]
            for src, rel in cache_files:
                fd = os.open(src, os.O_RDONLY)
                fds.append(fd)
                argv += ["--file", str(fd), f"{cache_root}/{rel}"]
            argv += ["--ro-bind", str(self.modules_dir), SANDBOX_MODULES, "--chdir", SANDBOX_SCRATCH]
            for k, v in env.items():
                argv += ["--setenv", k, v]
            argv += ["--", *boot]
            modules_root, cwd = SANDBOX_MODULES, None
        else:
            cache_root = os.path.join(self._host_scratch, ".numba")
            for src, rel in cache_files:
                dst = Path(cache_root) / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
            env = scrubbed_env(self._host_scratch, cache_root)
            argv, modules_root, cwd = boot, str(self.modules_dir), self._host_scratch
        try:
            # Started from one long-lived thread: bwrap's --die-with-parent and the worker's PDEATHSIG fire
            # when the *thread* that forked them ends, and callers may be short-lived pool threads.
            self.proc = _SPAWNER.submit(subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, cwd=cwd, pass_fds=fds,
                                        start_new_session=True, close_fds=True).result()
        finally:
            for fd in fds:
                os.close(fd)
        self._drain = threading.Thread(target=self._drain_output, daemon=True, name="aq-sandbox-output")
        self._drain.start()
        hello: dict[str, Any] = {"modules_root": modules_root, "limits": asdict(self.limits), "threads": threads,
                                 "pid_namespace": self.level == BWRAP, "seccomp": True}
        if self.level == LANDLOCK:
            hello["landlock"] = {"read_only": _landlock_read_paths(self.modules_dir), "read_write": [self._host_scratch]}
        reply, _ = self._exchange(hello, {}, max_bytes=0, wall=max(60.0, self.limits.wall_s))
        self.seccomp = bool(reply.get("seccomp"))
        self.cpu = float(reply.get("cpu", 0.0)) if isinstance(reply.get("cpu"), int | float) else 0.0
        if self.level == LANDLOCK and reply.get("landlock") is not True:
            raise errors.ConfinementUnavailable(f"Landlock could not be applied: {reply.get('landlock_note')}")

    def _drain_output(self) -> None:
        fd = self.proc.stderr.fileno()  # type: ignore[union-attr]
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._out_bytes += len(chunk)
            self._out_tail = (self._out_tail + chunk)[-2000:]
            if self._out_bytes > self.limits.output_bytes and not self._flooded.is_set():
                self._flooded.set()
                self._kill("output")

    def _kill(self, why: str) -> None:
        if self._killed_for is None:
            self._killed_for = why
        try:
            self.proc.kill()
        except OSError:
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None and self._killed_for is None

    def quiet_since_last_reply(self) -> bool:
        """Whether the idle worker used no CPU since its last reply (a ping): code left running in the
        background (a thread a module started) disqualifies it from serving another request."""
        before = self.cpu
        try:
            self._exchange({"op": "ping"}, {}, max_bytes=0, wall=10.0)
        except errors.ModuleSandboxError:
            return False
        return self.alive() and self.cpu - before < _IDLE_CPU_S

    def close(self) -> None:
        """Stop the worker (EOF, then kill) and remove its host scratch directory."""
        try:
            if self.proc.poll() is None:
                self.proc.stdin.close()  # type: ignore[union-attr]
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    self._kill("closed")
                    self.proc.wait(timeout=5)
        except OSError:
            pass
        for s in (self.proc.stdout, self.proc.stderr):
            try:
                s.close()  # type: ignore[union-attr]
            except OSError:
                pass
        shutil.rmtree(self._host_scratch, ignore_errors=True)

    # -- requests ------------------------------------------------------------------------------------
    def request(self, op: str, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None, *,
                max_bytes: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """One round trip. Error replies and any death of the worker raise the matching typed error."""
        cap = self.limits.reply_bytes if max_bytes is None else min(max_bytes, self.limits.reply_bytes)
        return self._exchange({"op": op, **header}, arrays or {}, max_bytes=cap, wall=self.limits.wall_s)

    def _exchange(self, header: dict[str, Any], arrays: dict[str, np.ndarray], *, max_bytes: int,
                  wall: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        deadline = time.monotonic() + wall
        try:
            wire.send(self.proc.stdin.fileno(), header, arrays)  # type: ignore[union-attr]
            reply, out = wire.receive(self.proc.stdout.fileno(), deadline=deadline,  # type: ignore[union-attr]
                                      max_array_bytes=max_bytes)
        except wire.Deadline:
            self._kill("timeout")
            raise self._death() from None
        except (wire.PeerClosed, BrokenPipeError, ConnectionResetError):
            raise self._death() from None
        except errors.SandboxProtocolViolation:
            self._kill("protocol")
            raise
        self.cpu = float(reply.get("cpu", 0.0)) if isinstance(reply.get("cpu"), int | float) else self.cpu
        if reply.get("ok") is not True:
            kind = reply.get("kind")
            cls = errors.BY_CAUSE.get(kind if isinstance(kind, str) else "", errors.SandboxProtocolViolation)
            msg = " ".join(str(reply.get("message", "")).split())[:2000]  # one line, bounded
            self._killed_for = self._killed_for or "error"  # never reuse a worker after a failure
            raise cls(_describe_failure(cls, msg, self.limits))
        return reply, out

    def _death(self) -> errors.ModuleSandboxError:
        """The typed error for a worker that stopped answering (waits for its exit status)."""
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill("unresponsive")
            rc = self.proc.wait(timeout=10)
        self._drain.join(timeout=2)
        why = self._killed_for
        self._killed_for = why or "died"
        sig = -rc if rc < 0 else (rc - 128 if self.level == BWRAP and rc > 128 else 0)
        tail = bytes(self._out_tail).decode("utf-8", "replace").strip().splitlines()
        last = f"; last output: {tail[-1][:300]}" if tail else ""
        lim = self.limits
        if why == "output" or self._flooded.is_set():
            return errors.SandboxOutputFlood(f"module output flood: the worker wrote more than {lim.output_bytes} "
                                             "bytes to stdout/stderr and was killed")
        if why == "timeout":
            return errors.SandboxTimeout(f"module timed out: no answer within the {lim.wall_s:g} s wall-clock "
                                         "limit; the worker was killed")
        if sig == signal.SIGSYS:
            return errors.SandboxForkRefused("module tried to start a process (fork/clone/exec); the worker was "
                                             "killed by the sandbox's seccomp filter")
        if sig == signal.SIGXCPU:
            return errors.SandboxTimeout(f"module exceeded the worker's CPU-time limit ({lim.cpu_s} s) and was "
                                         "killed")
        if sig == signal.SIGKILL and why is None:
            return errors.SandboxCrashed("module worker was killed (SIGKILL: the CPU hard limit after an ignored "
                                         "SIGXCPU, the out-of-memory killer, or an external kill)")
        if sig == signal.SIGXFSZ:
            return errors.SandboxOutputFlood(f"module output flood: a file write passed the {lim.file_bytes}-byte "
                                             "limit (RLIMIT_FSIZE); the worker was killed")
        if why == "protocol":
            return errors.SandboxProtocolViolation("the worker broke the reply protocol and was killed")
        what = f"signal {signal.Signals(sig).name}" if sig > 0 and sig in signal.valid_signals() else f"exit {rc}"
        return errors.SandboxCrashed(f"module worker crashed ({what}){last}")


def _describe_failure(cls: type[errors.ModuleSandboxError], msg: str, lim: Limits) -> str:
    if cls is errors.SandboxMemoryLimit:
        return f"module exhausted the {lim.memory_bytes // 2**20} MiB memory limit: {msg}"
    if cls is errors.SandboxDenied:
        return f"module attempted an operation the sandbox forbids: {msg}"
    if cls is errors.ModuleRaised:
        return f"module raised {msg}"
    if cls is errors.SandboxOutputFlood:
        return f"module output flood: a file write passed the {lim.file_bytes}-byte limit (RLIMIT_FSIZE): {msg}"
    return msg


class WorkerPool:
    """Long-lived workers per (modules directory, policy); at most `max_workers` of each run at once."""

    def __init__(self, max_workers: int = 2) -> None:
        self.max_workers = max_workers
        self._cond = threading.Condition()
        self._idle: dict[tuple, list[Worker]] = {}
        self._busy: dict[tuple, int] = {}

    def run(self, policy: Policy, modules_dir: Path, threads: int, fn: Callable[[Worker], Any], *,
            reuse: bool = True) -> Any:
        """`fn(worker)` on an idle (or new) worker; the worker returns to the pool only if it is healthy and
        `reuse` (a one-shot worker, e.g. for a staging directory about to be deleted, is closed after)."""
        key = (str(Path(modules_dir).resolve()), policy.level, policy.limits, threads)
        while True:
            with self._cond:
                while True:
                    idle = self._idle.setdefault(key, [])
                    while idle and (not idle[-1].alive() or idle[-1].cpu > policy.limits.cpu_s / 2):
                        idle.pop().close()
                    if idle:
                        w: Worker | None = idle.pop()
                        break
                    if self._busy.get(key, 0) < self.max_workers:
                        w = None
                        break
                    self._cond.wait()
                self._busy[key] = self._busy.get(key, 0) + 1
            if w is None or w.quiet_since_last_reply():  # checked outside the lock: a ping may take a while
                break
            w.close()
            with self._cond:
                self._busy[key] -= 1
                self._cond.notify()
        try:
            if w is None:
                w = Worker(policy, Path(modules_dir), threads)
            result = fn(w)
        except BaseException:
            if w is not None:
                w.close()
            raise
        finally:
            with self._cond:
                self._busy[key] -= 1
                self._cond.notify()
        with self._cond:
            keep = reuse and w.alive()
            if keep:
                self._idle.setdefault(key, []).append(w)
        if not keep:
            w.close()
        return result

    def close(self) -> None:
        """Stop every idle worker."""
        with self._cond:
            workers = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for w in workers:
            w.close()


POOL = WorkerPool()
atexit.register(POOL.close)
