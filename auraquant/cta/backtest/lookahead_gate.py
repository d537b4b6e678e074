"""The mandatory look-ahead gate in front of every experiment, sweep and backtest that uses a module that
is not built in (agent- or user-written, from a workspace's `cta_runtime/`).

`require_causal(spec, bars, extra_dir)` checks every such module of the Spec with
`lookahead.check_module_source` (in the sandbox worker: agent code never runs in this process) on the run's own bars (the caller passes the bars it will run on: for an
experiment every bar before the sealed holdout, at full length), with a fresh module instance per
evaluation (`lookahead.module_factory`), for each of the run's parameter sets: the Spec's params and the
corners of the Spec's search space for that module (`lookahead.corner_param_sets`). The first failure
raises `LookaheadError` naming the module, the slot, the first differing bar and the params.

Built-in modules are not re-checked here (the test suite proves each is causal). Verdicts are cached by
(check version, kind, name, sha256 of the module source, content hash of the bars, params), in memory and,
when `cache_dir` is given, as one small JSON file per verdict, so repeating a run costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.content_hash import bars_content_hash
from auraquant.cta.backtest.lookahead import (
    LookaheadError,
    LookaheadFinding,
    check_module_source,
    corner_param_sets,
)
from auraquant.cta.strategy.bars import Bars, bars_from_frame
from auraquant.cta.strategy.loader import list_modules
from auraquant.cta.strategy.spec import Spec

CHECK_VERSION = 2  # bump when the check gets stricter: cached verdicts of older checks are not reused
_SPEC_FIELDS = (("baseline", "baselines"), ("filters", "filters"), ("execution", "executions"), ("risk", "risks"))
_memory: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def _refs(spec: Spec) -> list[tuple[str, str, Any]]:
    """(spec field, module kind, ModuleRef) of every module of `spec`."""
    out = []
    for fld, kind in _SPEC_FIELDS:
        refs = getattr(spec, fld)
        out.extend((fld, kind, r) for r in (refs if isinstance(refs, list) else [refs]))
    return out


def workspace_cache_dir(ws: Any) -> Path:
    """Where a workspace keeps its look-ahead verdicts (`<workspace>/.aura/cache/lookahead/`)."""
    return Path(ws.aura) / "cache" / "lookahead"


def custom_modules(spec: Spec) -> list[tuple[str, str]]:
    """(kind, name) of the modules of `spec` that are not built in."""
    return [(kind, r.name) for _fld, kind, r in _refs(spec) if r.name not in list_modules(kind)]


def param_sets(spec: Spec, fld: str, ref: Any, extra_sets: Sequence[Mapping[str, Any]] = (),
               n_extra: int = 4) -> list[dict[str, Any]]:
    """The parameter sets of one module the gate checks: its Spec params, its search-space corners and, of
    `extra_sets` (flat `path -> value` sets a sweep will run), up to `n_extra` evenly spaced ones (first
    and last included)."""
    prefix = "baseline." if fld == "baseline" else f"{fld}.{ref.name}."

    def own(flat: Mapping[str, Any]) -> dict[str, Any]:
        return {path[len(prefix):]: v for path, v in flat.items()
                if path.startswith(prefix) and "." not in path[len(prefix):]}

    out = corner_param_sets(dict(ref.params), own(spec.search_space))
    if extra_sets:
        picks = sorted({int(round(i)) for i in np.linspace(0, len(extra_sets) - 1, num=min(n_extra, len(extra_sets)))})
        for i in picks:
            cand = {**ref.params, **own(extra_sets[i])}
            if cand not in out:
                out.append(cand)
    return out


def verdict_key(kind: str, name: str, code_hash: str, data_hash: str, params: dict[str, Any]) -> str:
    body = json.dumps([CHECK_VERSION, kind, name, code_hash, data_hash, sorted(params.items())], default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _cached(key: str, cache_dir: Path | None) -> dict[str, Any] | None:
    with _lock:
        hit = _memory.get(key)
    if hit is None and cache_dir is not None:
        path = cache_dir / f"{key}.json"
        if path.is_file():
            try:
                hit = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                hit = None  # unreadable: recompute
    return hit


def _store(key: str, finding: LookaheadFinding, cache_dir: Path | None) -> None:
    body = asdict(finding)
    with _lock:
        _memory[key] = body
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{key}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(body, default=str), encoding="utf-8")
        tmp.replace(cache_dir / f"{key}.json")


Checker = Callable[[str, str, str, Bars, list[dict[str, Any]]], list[LookaheadFinding]]


def in_process_checker(kind: str, name: str, source: str, bars: Bars, sets: list[dict[str, Any]]
                       ) -> list[LookaheadFinding]:
    """`lookahead.check_module_source` in this process: for trusted code only (tests of the check itself).
    Agent-written code never runs in the research process; the gate's default is `sandbox_checker`."""
    return check_module_source(kind, name, source, bars, sets)


def sandbox_checker(extra_dir: Path | str) -> Checker:
    """The default checker: `lookahead.check_module_source` run inside the sandbox worker of `extra_dir`
    (`auraquant.cta.sandbox.isolation.causal`), on exactly the source text the verdict cache is keyed by."""
    def run(kind: str, name: str, source: str, bars: Bars, sets: list[dict[str, Any]]) -> list[LookaheadFinding]:
        from auraquant.cta.sandbox import isolation
        return isolation.causal(kind, name, source, bars, sets, extra_dir)
    return run


def require_causal(spec: Spec, bars: pd.DataFrame | Bars, extra_dir: Path | str | None, *,
                   cache_dir: Path | None = None, data_hash: str | None = None,
                   extra_sets: Sequence[Mapping[str, Any]] = (), checker: Checker | None = None
                   ) -> list[LookaheadFinding]:
    """Check every non-built-in module of `spec` on `bars` (see the module docstring); return the findings
    (all ok) or raise `LookaheadError` at the first failing (module, params). A module that is not built
    in must be in `extra_dir`, else `LookupError`. `data_hash` (the bars' content hash) is computed when
    not given. `extra_sets`: flat parameter sets the caller will run besides the Spec's (see `param_sets`).
    `checker` runs the uncached sets of one module (default: `sandbox_checker(extra_dir)`, the worker)."""
    custom = [(fld, kind, r) for fld, kind, r in _refs(spec) if r.name not in list_modules(kind)]
    if not custom:
        return []
    frame = bars if isinstance(bars, pd.DataFrame) else None
    b = bars if isinstance(bars, Bars) else bars_from_frame(bars)
    if data_hash is None:
        data_hash = bars_content_hash(frame if frame is not None else pd.DataFrame({
            "time": pd.to_datetime(b.time_ns, unit="ns", utc=True), "open": b.open, "high": b.high, "low": b.low,
            "close": b.close, "volume": b.volume}))
    findings = []
    for fld, kind, ref in custom:
        path = Path(extra_dir) / kind / f"{ref.name}.py" if extra_dir is not None else None
        if path is None or not path.is_file():
            raise LookupError(f"no module {kind}/{ref.name} (not built in, not in the workspace's cta_runtime/)")
        run = checker or sandbox_checker(extra_dir)
        source = path.read_text(encoding="utf-8")
        code_hash = hashlib.sha256(source.encode("utf-8")).hexdigest()
        sets = param_sets(spec, fld, ref, extra_sets)
        keys = [verdict_key(kind, ref.name, code_hash, data_hash, p) for p in sets]
        hits = [_cached(k, cache_dir) for k in keys]
        todo = [p for p, h in zip(sets, hits, strict=True) if h is None]
        fresh = iter(run(kind, ref.name, source, b, todo) if todo else [])
        for key, hit in zip(keys, hits, strict=True):
            finding = LookaheadFinding(**hit) if hit is not None else next(fresh, None)
            if finding is None:  # the checker stopped at an earlier failure
                break
            if hit is None or (cache_dir is not None and not (cache_dir / f"{key}.json").is_file()):
                _store(key, finding, cache_dir)
            if not finding.ok:
                raise LookaheadError(finding)
            findings.append(finding)
    return findings
