"""Engine-facing operations on agent-written modules, each one round trip to a sandbox worker.

`needed(spec, extra_dir)` says whether a Spec uses any non-built-in module (then the engine must come
here); `prepare`, `sweep`, `lookahead`, `describe` and `validate` run the matching worker op and rebuild
trusted objects from its reply after validating every array's dtype, shape and index range and every
JSON field's type and size (the worker is assumed hostile). Built-in-only Specs never reach this module.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auraquant.cta.sandbox import errors
from auraquant.cta.sandbox.policy import Policy, resolve
from auraquant.cta.strategy.bars import Bars
from auraquant.cta.strategy.protocols import Param
from auraquant.jsonsafe import python_scalar

_MAX_TEXT = 4000
_last_level: dict[str, str] = {}
_level_lock = threading.Lock()


def _spec_names(spec: Any) -> list[tuple[str, str]]:
    return ([("baselines", spec.baseline.name)] + [("filters", r.name) for r in spec.filters]
            + [("executions", r.name) for r in spec.execution] + [("risks", r.name) for r in spec.risk])


def needed(spec: Any, extra_dir: Path | str | None) -> bool:
    """True when `spec` uses a module that is not built-in and we are not already inside the worker."""
    from auraquant.cta.strategy import loader
    if extra_dir is None or loader._untrusted_ok:
        return False
    return any(not loader.is_builtin(kind, name) for kind, name in _spec_names(spec))


def _policy(extra_dir: Path | str, config_dir: Path | str | None = None) -> Policy:
    pol = resolve(Path(config_dir if config_dir is not None else extra_dir))
    with _level_lock:
        _last_level[str(Path(extra_dir).resolve())] = pol.level
    return pol


def level_in_force(extra_dir: Path | str) -> str:
    """The confinement level agent modules from `extra_dir` run under now ("bubblewrap" / "rlimits-only"),
    or the one-line reason they are refused."""
    try:
        return _policy(extra_dir).level
    except errors.ConfinementUnavailable as exc:
        return f"refused: {exc}"


def level_summary(extra_dir: Path | str) -> str:
    """One line for headers: the level in force for `extra_dir`'s workspace and why (or why refused)."""
    try:
        pol = _policy(extra_dir)
    except errors.ConfinementUnavailable as exc:
        return f"refused ({exc})"
    if pol.level == "rlimits-only":
        return f"{pol.level} ({pol.reason}; no filesystem confinement)"
    return pol.level if pol.level == "bubblewrap" else f"{pol.level} ({pol.reason})"


def spec_isolation(spec: Any, extra_dir: Path | str | None) -> str | None:
    """For run metadata and tool output: None when `spec` runs only built-ins (in-process), otherwise the
    confinement level its agent-written modules run under (or why they are refused)."""
    return level_in_force(extra_dir) if extra_dir is not None and needed(spec, extra_dir) else None


def _bars_payload(b: Bars) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return {"bar_ns": int(b.bar_ns)}, {"time_ns": b.time_ns, "open": b.open, "high": b.high, "low": b.low,
                                      "close": b.close, "volume": b.volume}


def _plain(v: Any) -> Any:
    """A parameter value for the wire: a JSON scalar (numpy scalars as Python ones; NaN kept), else refused."""
    out = python_scalar(v)
    if isinstance(out, bool | int | float | str) or out is None:
        return out
    raise TypeError(f"parameter value {v!r} is not a number")


def _sets_json(param_sets: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in s.items()} for s in (param_sets or [])]


def _call(extra_dir: Path | str, op: str, header: dict[str, Any], arrays: dict[str, np.ndarray], *,
          threads: int = 1, max_bytes: int | None = None, config_dir: Path | str | None = None,
          reuse: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from auraquant.cta.sandbox.client import POOL, warm_engine_cache
    pol = _policy(extra_dir, config_dir)
    if op in ("sweep", "prepare"):
        warm_engine_cache()
    return POOL.run(pol, Path(extra_dir), threads, lambda w: w.request(op, header, arrays, max_bytes=max_bytes),
                    reuse=reuse)


def _array(out: dict[str, np.ndarray], name: str, dtype: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    a = out.get(name)
    if a is None or a.dtype != np.dtype(dtype) or a.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, a.shape, strict=True)):
        got = "missing" if a is None else f"{a.dtype} {a.shape}"
        raise errors.SandboxProtocolViolation(f"reply array {name!r}: expected {np.dtype(dtype)} {shape}, got {got}")
    return a


def _text(v: Any, what: str) -> str:
    if not isinstance(v, str) or len(v) > _MAX_TEXT:
        raise errors.SandboxProtocolViolation(f"reply field {what} must be a string of at most {_MAX_TEXT} chars")
    return v


def prepare(bars: Bars, spec: Any, param_sets: Sequence[Mapping[str, Any]] | None, extra_dir: Path | str) -> Any:
    """`backtest.prepare.prepare` of a Spec with agent-written modules, computed in the worker."""
    from auraquant.cta.backtest.layout import FILL_CODES, N_FPARAMS, N_IPARAMS, POLICY_CODES, SIDES_CODES
    from auraquant.cta.backtest.prepare import Prepared, day_index
    n, k = len(bars), max(1, len(param_sets or []))
    h, a = _bars_payload(bars)
    reply, out = _call(extra_dir, "prepare", {**h, "spec": spec.model_dump_json(),
                                             "param_sets": _sets_json(param_sets)}, a)
    sig = _array(out, "sig_pool", np.int8, (None, n))
    allow = _array(out, "allow_pool", np.int8, (None, n))
    series = _array(out, "series_pool", np.float64, (None, n))
    ip = _array(out, "iparams", np.int64, (k, N_IPARAMS))
    fp = _array(out, "fparams", np.float64, (k, N_FPARAMS))
    from auraquant.cta.backtest.layout import I_ALLOW, I_SIG, I_STOP_ATR, I_TRAIL_ATR, I_VOL
    # The kernel indexes the pools with these rows unchecked: every index must be in range.
    for col, pool in ((I_SIG, sig), (I_ALLOW, allow), (I_STOP_ATR, series), (I_TRAIL_ATR, series), (I_VOL, series)):
        if ip.size and (ip[:, col].min() < 0 or ip[:, col].max() >= pool.shape[0]):
            raise errors.SandboxProtocolViolation("reply iparams index outside its pool")
    if sig.size and (sig.min() < -1 or sig.max() > 1):
        raise errors.SandboxProtocolViolation("reply candidates outside -1/0/+1")
    if allow.size and (allow.min() < 0 or allow.max() > 3):
        raise errors.SandboxProtocolViolation("reply allow masks outside 0..3")
    filters = reply.get("filters")
    names = [f.name for f in spec.filters]
    if not isinstance(filters, list) or len(filters) != len(names):
        raise errors.SandboxProtocolViolation("reply must describe each filter of the Spec")
    outputs, reasons = [], {}
    for i, (f, want) in enumerate(zip(filters, names, strict=True)):
        if not isinstance(f, dict) or f.get("name") != want:
            raise errors.SandboxProtocolViolation(f"reply filter {i} is not {want!r}")
        outputs.append((want, _array(out, f"f{i}_long", np.bool_, (n,)), _array(out, f"f{i}_short", np.bool_, (n,))))
        reasons[want] = _text(f.get("reject_reason"), "reject_reason")
    day_id, n_days = day_index(bars.time_ns)
    e = spec.engine
    return Prepared(bars=bars, day_id=day_id, n_days=n_days, sig_pool=np.ascontiguousarray(sig),
                    allow_pool=np.ascontiguousarray(allow), series_pool=np.ascontiguousarray(series),
                    iparams=np.ascontiguousarray(ip), fparams=np.ascontiguousarray(fp), fill_mode=FILL_CODES[e.fill],
                    policy=POLICY_CODES[e.intrabar], sides=SIDES_CODES[e.sides], comm=e.commission_bps * 1e-4,
                    slip=e.slippage_bps * 1e-4, initial=float(e.initial_capital), basis=float(e.annualization),
                    filter_outputs=outputs, filter_reasons=reasons)


def sweep(bars: Bars, spec: Any, param_sets: Sequence[Mapping[str, Any]], *, threads: int | None,
          extra_dir: Path | str) -> np.ndarray:
    """The metric matrix of `engine.sweep_matrix`, module outputs and kernel both run in the worker."""
    import numba

    from auraquant.cta.backtest.layout import METRIC_NAMES
    h, a = _bars_payload(bars)
    n_threads = int(threads or numba.get_num_threads())
    _, out = _call(extra_dir, "sweep", {**h, "spec": spec.model_dump_json(), "param_sets": _sets_json(param_sets),
                                        "threads": n_threads}, a, threads=n_threads,
                   max_bytes=len(param_sets) * len(METRIC_NAMES) * 8)
    return _array(out, "metrics", np.float64, (len(param_sets), len(METRIC_NAMES)))


def _finding(d: Any) -> Any:
    from auraquant.cta.backtest.lookahead import LookaheadFinding
    if not isinstance(d, dict) or not all(isinstance(k, str) for k in d):
        raise errors.SandboxProtocolViolation("reply finding must be an object")
    def scalar(v: Any) -> bool:
        return v is None or isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= _MAX_TEXT)

    for k, v in d.items():
        # `params` echoes the checked parameter set: a flat object of scalars, nothing else
        ok = (isinstance(v, dict) and len(v) <= 256 and all(isinstance(pk, str) and scalar(pv) for pk, pv in v.items())
              if k == "params" else scalar(v))
        if not ok:
            raise errors.SandboxProtocolViolation(f"reply finding field {k!r} has an unexpected value")
    try:
        return LookaheadFinding(**d)
    except TypeError as exc:
        raise errors.SandboxProtocolViolation(f"reply finding does not match LookaheadFinding ({exc})") from None


def lookahead(bars: Bars, targets: Sequence[tuple[str, str, Mapping[str, Any]]], extra_dir: Path | str, *,
              n_checks: int = 40) -> list[Any]:
    """`lookahead.check_module` of each (kind, name, params) target, run in the worker."""
    h, a = _bars_payload(bars)
    reply, _ = _call(extra_dir, "lookahead", {**h, "n_checks": int(n_checks), "targets": [
        {"kind": k, "name": n, "params": {str(p): _plain(v) for p, v in params.items()}} for k, n, params in targets]},
        a, max_bytes=0)
    found = reply.get("findings")
    if not isinstance(found, list) or len(found) != len(targets):
        raise errors.SandboxProtocolViolation("reply must hold one finding per target")
    return [_finding(d) for d in found]


def causal(kind: str, name: str, source: str, bars: Bars, param_sets: Sequence[Mapping[str, Any]],
           extra_dir: Path | str, *, n_checks: int = 40) -> list[Any]:
    """`lookahead.check_module_source` of `source` under each parameter set, run in the worker: the look-ahead
    gate's checker for agent-written modules (`backtest.lookahead_gate`). One finding per set up to and
    including the first failing one."""
    h, a = _bars_payload(bars)
    reply, _ = _call(extra_dir, "causal", {**h, "kind": kind, "name": name, "source": source,
                                           "n_checks": int(n_checks), "param_sets": _sets_json(param_sets)},
                     a, max_bytes=0)
    found = reply.get("findings")
    if not isinstance(found, list) or len(found) > len(param_sets) or (len(param_sets) > 0 and not found):
        raise errors.SandboxProtocolViolation("reply must hold one finding per checked parameter set")
    out = [_finding(d) for d in found]
    if len(out) < len(param_sets) and out[-1].ok:
        raise errors.SandboxProtocolViolation("reply stopped before a failing parameter set")
    return out


@dataclass(frozen=True)
class ModuleInfo:
    """What the research process may know of an agent-written module without running it: its declared
    interface, rebuilt from the worker's JSON reply (no code object of the module ever crosses over)."""

    kind: str
    name: str
    params: dict[str, Param] = field(default_factory=dict)
    reject_reason: str | None = None


def _module_info(kind: str, name: str, d: Any) -> ModuleInfo:
    if not isinstance(d, dict) or d.get("name") != name or not isinstance(d.get("params"), dict):
        raise errors.SandboxProtocolViolation(f"reply does not describe module {kind}/{name}")
    params = {}
    for k, p in d["params"].items():
        if not isinstance(k, str) or not k.isidentifier() or not isinstance(p, dict):
            raise errors.SandboxProtocolViolation(f"reply param {str(k)[:50]!r} is malformed")
        nums = [p.get("default"), p.get("low"), p.get("high")]
        if (p.get("kind") not in ("int", "float") or isinstance(nums[0], bool) or not isinstance(nums[0], int | float)
                or any(x is not None and (isinstance(x, bool) or not isinstance(x, int | float)) for x in nums[1:])):
            raise errors.SandboxProtocolViolation(f"reply param {k!r} has malformed bounds or kind")
        params[k] = Param(nums[0], p["kind"], nums[1], nums[2], _text(p.get("doc", ""), "doc"))
    reason = _text(d["reject_reason"], "reject_reason") if kind == "filters" else None
    return ModuleInfo(kind=kind, name=name, params=params, reject_reason=reason)


def describe(kind: str, name: str, extra_dir: Path | str) -> ModuleInfo:
    """Name, declared params (and a filter's reject_reason) of an agent-written module, from the worker."""
    reply, _ = _call(extra_dir, "describe", {"kind": kind, "name": name}, {}, max_bytes=0)
    return _module_info(kind, name, reply.get("module"))


@dataclass(frozen=True)
class Verdict:
    """Stages 2-4 of module validation as run in the worker: the last stage reached and what failed."""

    stage: str  # load, contract, lookahead, ok
    message: str | None
    module: ModuleInfo | None
    finding: Any | None  # LookaheadFinding when the look-ahead check ran


def validate(kind: str, name: str, bars: Bars, extra_dir: Path | str, *, config_dir: Path | str | None = None
             ) -> Verdict:
    """Load `<extra_dir>/<kind>/<name>.py` in a one-shot worker, check its contract and look-ahead on `bars`.
    `config_dir` is the workspace's module directory whose sandbox config applies (default: `extra_dir`)."""
    h, a = _bars_payload(bars)
    reply, _ = _call(extra_dir, "validate", {**h, "kind": kind, "name": name}, a, max_bytes=0,
                     config_dir=config_dir, reuse=False)
    stage = reply.get("stage")
    if stage not in ("load", "contract", "lookahead", "ok"):
        raise errors.SandboxProtocolViolation(f"reply stage {str(stage)[:40]!r} is unknown")
    msg = reply.get("message")
    info = _module_info(kind, name, reply["module"]) if "module" in reply else None
    finding = _finding(reply["finding"]) if "finding" in reply else None
    if stage in ("ok", "lookahead") and info is None:
        raise errors.SandboxProtocolViolation("reply lacks the module description")
    if stage == "ok" and (finding is None or not finding.ok):
        raise errors.SandboxProtocolViolation("reply says ok without a passing look-ahead finding")
    return Verdict(stage=stage, message=None if msg is None else _text(msg, "message"), module=info, finding=finding)


def describe_json(info: ModuleInfo) -> str:
    """Stable JSON of a ModuleInfo (for logs and tests)."""
    return json.dumps({"kind": info.kind, "name": info.name, "reject_reason": info.reject_reason,
                       "params": {k: vars(p) for k, p in info.params.items()}}, sort_keys=True)
