"""The sandbox worker: a separate process that loads and runs agent-written modules for the research process.

Started by `auraquant.cta.sandbox.client` (under bubblewrap or with rlimits only). Startup, before any
agent code is read: read the `hello` frame (modules root, limits, thread count), import the engine, apply
the resource limits (RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_NPROC, no core files),
move the protocol onto private descriptors (fd 1 then carries nothing but stderr, so a stray `print`
cannot forge a reply), ask for SIGKILL when the parent dies, at the `landlock` level confine itself
(`landlock.py`; it exits instead of serving if that fails), install the seccomp filter (`seccomp.py`),
and answer `ready` with what is in force. Then it serves one request frame at a time (`OPS`), replying
with raw arrays + JSON (never pickle). A module's exception becomes an error reply whose `kind` names
the cause (`memory`, `denied` for OS errors such as a refused file or socket, `module` otherwise).
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import resource
import signal
import sys
import traceback
from typing import Any

import numpy as np

_PR_SET_PDEATHSIG = 1


def _nproc_cap() -> int:
    """RLIMIT_NPROC for the worker: the tasks its uid runs now plus headroom for the engine's threads.
    (Ineffective for uid 0, which the kernel exempts; the seccomp filter is what refuses fork there.)"""
    uid, n = os.getuid(), 0
    try:
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.stat(f"/proc/{d}").st_uid == uid:
                        n += len(os.listdir(f"/proc/{d}/task"))
                except OSError:
                    continue
    except OSError:
        return 256
    return n + 64


def _apply_limits(lim: dict[str, int]) -> None:
    for res, value in ((resource.RLIMIT_AS, lim["memory_bytes"]), (resource.RLIMIT_FSIZE, lim["file_bytes"]),
                       (resource.RLIMIT_NOFILE, lim["open_files"]), (resource.RLIMIT_CORE, 0),
                       (resource.RLIMIT_NPROC, _nproc_cap())):
        resource.setrlimit(res, (value, value))
    # CPU: SIGXCPU at the soft limit, SIGKILL a few seconds later at the hard one.
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 5))


def _cpu_used() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:  # Python ignores SIGXFSZ: RLIMIT_FSIZE hit
        kind = "output"
    elif isinstance(exc, OSError):
        kind = "denied"
    else:
        kind = "module"
    msg = f"{type(exc).__name__}: {exc}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(tb)
                  if "cta_runtime" in f.filename or f.filename.startswith(_ROOT[0])), None)
    return {"ok": False, "kind": kind, "message": (f"{msg} (at {where})" if where else msg)[:2000]}


_ROOT = ["/nonexistent"]
_CONTAINED = (MemoryError, OSError)


def _bars(h: dict[str, Any], a: dict[str, np.ndarray]) -> Any:
    from auraquant.cta.strategy.bars import Bars
    return Bars(a["time_ns"], a["open"], a["high"], a["low"], a["close"], a["volume"], int(h["bar_ns"]))


def _spec(h: dict[str, Any]) -> Any:
    from auraquant.cta.strategy.spec import Spec
    return Spec.model_validate_json(h["spec"])


def op_ping(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return {}, {}


def op_describe(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Name, declared params and (filters) reject_reason of one module."""
    from auraquant.cta.strategy.loader import load_module
    mod = load_module(h["kind"], h["name"], _ROOT[0])
    return {"module": _describe(h["kind"], mod)}, {}


def _describe(kind: str, mod: Any) -> dict[str, Any]:
    params = {k: {"default": p.default, "kind": p.kind, "low": p.low, "high": p.high, "doc": p.doc}
              for k, p in mod.params.items()}
    out: dict[str, Any] = {"name": mod.name, "params": params}
    if kind == "filters":
        out["reject_reason"] = mod.reject_reason
    return out


def op_validate(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Stages 2-4 of module validation (load + Protocol, output contract, look-ahead) on the sent bars."""
    from auraquant.cta.backtest.lookahead import check_module
    from auraquant.cta.strategy.contract import contract_problem
    from auraquant.cta.strategy.loader import load_module
    kind, name = h["kind"], h["name"]
    bars = _bars(h, a)
    try:
        mod = load_module(kind, name, _ROOT[0])
    except _CONTAINED:  # memory exhaustion and refused OS operations are typed errors, not verdicts
        raise
    except Exception as exc:  # the agent's code raised while importing: a verdict, not a worker failure
        return {"stage": "load", "message": f"{type(exc).__name__}: {exc}"}, {}
    desc = _describe(kind, mod)
    try:
        problem = contract_problem(kind, mod, bars)
    except _CONTAINED:
        raise
    except Exception as exc:
        problem = f"raised {type(exc).__name__}: {exc}"
    if problem:
        return {"stage": "contract", "message": problem, "module": desc}, {}
    try:
        # a fresh instance per evaluation: state cached on a first call cannot hide a leak
        finding = check_module(kind, mod, bars, fresh=_fresh(kind, name))
    except _CONTAINED:
        raise
    except Exception as exc:
        return {"stage": "lookahead", "message": f"raised {type(exc).__name__}: {exc}", "module": desc}, {}
    return {"stage": "lookahead" if not finding.ok else "ok", "finding": dataclasses.asdict(finding),
            "module": desc}, {}


def op_prepare(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Module outputs of a Spec under parameter sets: the kernel's pools and parameter rows."""
    from auraquant.cta.backtest.prepare import prepare
    from auraquant.cta.strategy.loader import load_module
    prep = prepare(_bars(h, a), _spec(h), h["param_sets"] or None, _ROOT[0])
    arrays = {"sig_pool": prep.sig_pool, "allow_pool": prep.allow_pool, "series_pool": prep.series_pool,
              "iparams": prep.iparams, "fparams": prep.fparams}
    filters = []
    for i, (fname, al, ash) in enumerate(prep.filter_outputs):
        arrays[f"f{i}_long"], arrays[f"f{i}_short"] = np.asarray(al, bool), np.asarray(ash, bool)
        filters.append({"name": fname, "reject_reason": load_module("filters", fname, _ROOT[0]).reject_reason})
    return {"filters": filters}, arrays


def op_sweep(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Module outputs and the compiled kernel for every parameter set: the metric matrix."""
    from auraquant.cta.backtest.engine import sweep_matrix
    mat = sweep_matrix(_bars(h, a), _spec(h), h["param_sets"], threads=h.get("threads"), extra_dir=_ROOT[0])
    return {}, {"metrics": np.ascontiguousarray(mat, dtype=np.float64)}


def _fresh(kind: str, name: str) -> Any:
    """A factory of fresh instances of a module from its source under the modules root (None for a
    built-in, which is stateless and checked by the test suite)."""
    from pathlib import Path

    from auraquant.cta.backtest.lookahead import module_factory
    from auraquant.cta.strategy.loader import is_builtin
    if is_builtin(kind, name):
        return None
    return module_factory(kind, name, (Path(_ROOT[0]) / kind / f"{name}.py").read_text(encoding="utf-8"))


def op_lookahead(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """`lookahead.check_module` for each (kind, name, params) target, a fresh instance per evaluation."""
    from auraquant.cta.backtest.lookahead import check_module
    from auraquant.cta.strategy.loader import load_module
    bars = _bars(h, a)
    out = []
    for t in h["targets"]:
        mod = load_module(t["kind"], t["name"], _ROOT[0])
        out.append(dataclasses.asdict(check_module(t["kind"], mod, bars, t["params"], n_checks=int(h["n_checks"]),
                                                   fresh=_fresh(t["kind"], t["name"]))))
    return {"findings": out}, {}


def op_causal(h: dict[str, Any], a: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The look-ahead gate's unit of work: `lookahead.check_module_source` of the sent source (the text the
    gate hashed for its verdict cache) under each parameter set; stops at the first failing set."""
    from auraquant.cta.backtest.lookahead import check_module_source
    found = check_module_source(h["kind"], h["name"], h["source"], _bars(h, a), h["param_sets"],
                                n_checks=int(h["n_checks"]))
    return {"findings": [dataclasses.asdict(f) for f in found]}, {}


OPS = {"ping": op_ping, "describe": op_describe, "validate": op_validate, "prepare": op_prepare,
       "sweep": op_sweep, "lookahead": op_lookahead, "causal": op_causal}


def main() -> None:
    """Entry point (see the module docstring for the order of the startup steps)."""
    from auraquant.cta.sandbox import seccomp, wire
    hello, _ = wire.receive(0)
    _ROOT[0] = hello["modules_root"]
    os.environ["NUMBA_NUM_THREADS"] = str(int(hello.get("threads") or 1))
    import numba  # noqa: F401  (imported before the limits: LLVM maps much address space once)

    import auraquant.cta.backtest.engine
    import auraquant.cta.backtest.lookahead  # noqa: F401
    from auraquant.cta.strategy import loader
    loader.allow_untrusted_in_process()
    _apply_limits(hello["limits"])
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a module's print() lands in the capped stderr stream, never on the reply channel
    os.close(devnull)
    sys.stdout = sys.stderr
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1 and not hello.get("pid_namespace"):
        os._exit(0)  # the parent is already gone
    land = None
    if "landlock" in hello:
        from auraquant.cta.sandbox import landlock
        land = landlock.restrict(hello["landlock"]["read_only"], hello["landlock"]["read_write"])
        if land is not None:  # asked for and not in force: refuse to serve rather than run unconfined
            wire.send(proto_out, {"ok": True, "ready": False, "landlock": False, "landlock_note": land})
            os._exit(0)
    sec = seccomp.install() if hello.get("seccomp", True) else "disabled by the parent"
    wire.send(proto_out, {"ok": True, "ready": True, "seccomp": sec is None, "seccomp_note": sec,
                          "landlock": "landlock" in hello and land is None, "cpu": _cpu_used()})
    while True:
        try:
            req, arrays = wire.receive(proto_in)
        except EOFError:
            os._exit(0)
        fn = OPS.get(req.get("op", ""))
        try:
            if fn is None:
                raise ValueError(f"unknown op {req.get('op')!r}")
            header, out = fn(req, arrays)
            reply = {"ok": True, **header}
        except BaseException as exc:  # any failure of agent code is a reply, not a crash
            reply, out = _error(exc), {}
        reply["cpu"] = _cpu_used()
        try:
            wire.send(proto_out, reply, out)
        except MemoryError:
            wire.send(proto_out, {"ok": False, "kind": "memory", "message": "MemoryError while replying",
                                  "cpu": _cpu_used()})
