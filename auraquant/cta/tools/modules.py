"""Strategy modules as the tool surface sees them: the catalog (built-in vs. workspace), loading, the full
validation pipeline for agent-written code, and the module directory handed to the engine.

Validation of a candidate source, in order (each stage only runs if the previous passed):
1. the static code guard (`codeguard.check_source`), and the name must not be a built-in's;
2. loading it from a private staging directory (the loader checks the Protocol and `MODULE.name`);
3. the output contract on sample bars (shapes, dtypes, values in {-1, 0, 1} for baselines);
4. the engine's look-ahead check (`backtest.lookahead.check_module`, a fresh instance per prefix) on the
   same sample bars. The check that binds is the one on the run's own data before every experiment,
   sweep and backtest (`backtest.lookahead_gate`).
Stages 2-4 run inside a one-shot sandbox worker (`auraquant.cta.sandbox`): agent-written code is never
imported into the research process, and a module that hangs, forks, floods output or exhausts memory is
refused at stage `load` with the sandbox's typed error. Only a source that passes all four is written to
`<workspace>/cta_runtime/<kind>/<name>.py`. `load` of a workspace module likewise returns only its declared
interface (`isolation.ModuleInfo`), described by a worker.
"""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import cta_runtime
from auraquant.cta.data import synthetic
from auraquant.cta.sandbox import isolation
from auraquant.cta.sandbox.errors import ModuleSandboxError
from auraquant.cta.strategy.bars import Bars, bars_from_frame
from auraquant.cta.strategy.loader import list_modules, load_module
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.tools.codeguard import KINDS, Violation, check_source, write_module

_BUILTIN_ROOT = Path(cta_runtime.__file__).resolve().parent  # type: ignore[arg-type]
SAMPLE_BARS = 720  # a month of hourly bars: enough warm-up for typical lookbacks, fast to recompute
SPEC_FIELDS = (("baseline", "baselines"), ("filters", "filters"), ("execution", "executions"), ("risk", "risks"))


class ModuleValidation(BaseModel):
    """Verdict on one module source. `stage` is the last stage reached (guard, load, contract, lookahead, ok)."""

    kind: str
    name: str
    ok: bool
    stage: str
    violations: list[Violation]
    lookahead: str | None = None
    params: dict[str, dict[str, Any]] = {}
    code_hash: str | None = None
    path: str | None = None
    isolation: str | None = None  # confinement level stages 2-4 ran under (bubblewrap / rlimits-only)


@cache
def sample_bars() -> Bars:
    """Deterministic sample bars for validation (synthetic, seeded; never research data)."""
    return bars_from_frame(synthetic.generate(SAMPLE_BARS, seed=11, timeframe="1h", start="2024-01-01"))


def builtin_names(kind: str) -> list[str]:
    return list_modules(kind)


def origin(runtime: Path, kind: str, name: str) -> str:
    """`builtin`, `workspace` (agent-written), `conflict` (edited copy of a built-in) or `missing`."""
    ws_file = runtime / kind / f"{name}.py"
    if name in builtin_names(kind):
        if ws_file.is_file() and ws_file.read_bytes() != (_BUILTIN_ROOT / kind / f"{name}.py").read_bytes():
            return "conflict"
        return "builtin"
    return "workspace" if ws_file.is_file() else "missing"


def source_of(runtime: Path, kind: str, name: str) -> str | None:
    """The code Specs run for `kind/name` (the built-in's, or the workspace file's), None when missing."""
    where = origin(runtime, kind, name)
    if where == "missing":
        return None
    path = _BUILTIN_ROOT / kind / f"{name}.py" if where == "builtin" else runtime / kind / f"{name}.py"
    return path.read_text(encoding="utf-8")


def load(runtime: Path, kind: str, name: str) -> Any:
    """A built-in's module object, or a workspace module's declared interface (`isolation.ModuleInfo`:
    name, params, reject_reason), guard-checked, then described by a sandbox worker (never imported here)."""
    where = origin(runtime, kind, name)
    if where == "builtin":
        return load_module(kind, name)
    if where == "missing":
        raise LookupError(f"no module {kind}/{name}; module_list shows what exists")
    if where == "conflict":
        raise ValueError(f"{kind}/{name}.py in the workspace differs from the built-in of that name; rename it")
    src = (runtime / kind / f"{name}.py").read_text(encoding="utf-8")
    report = check_source(src, kind, name)
    if not report.ok:
        raise ValueError(f"{kind}/{name} fails validation: {report.violations[0].message}")
    return isolation.describe(kind, name, runtime)


def describe_params(mod: Any) -> dict[str, dict[str, Any]]:
    return {k: {"default": p.default, "kind": p.kind, "low": p.low, "high": p.high, "doc": p.doc}
            for k, p in mod.params.items()}


def validate_source(runtime: Path, kind: str, name: str, source: str, *, allow_builtin: bool = False
                    ) -> ModuleValidation:
    """Run the four validation stages on `source` as the future `<kind>/<name>.py` (nothing is written).
    Stages 2-4 run in a one-shot sandbox worker under the workspace's sandbox policy."""
    guard = check_source(source, kind, name)
    base = {"kind": kind, "name": name}
    if not guard.ok:
        return ModuleValidation(**base, ok=False, stage="guard", violations=guard.violations)
    if not allow_builtin and name in builtin_names(kind):
        return ModuleValidation(**base, ok=False, stage="guard", violations=[Violation(
            line=0, rule="name", message=f"{kind}/{name} is a built-in module; choose another name")])
    base["isolation"] = isolation.level_in_force(runtime)
    with tempfile.TemporaryDirectory(prefix="aq_stage_") as tmp:
        staged = write_module(Path(tmp), kind, name, source)
        try:
            verdict = isolation.validate(kind, name, sample_bars(), staged.parent.parent, config_dir=runtime)
        except ModuleSandboxError as exc:  # hung, forked, flooded, exhausted memory...: refused, not a crash
            return ModuleValidation(**base, ok=False, stage="load", violations=[Violation(
                line=0, rule=f"sandbox:{exc.cause}", message=str(exc))])
    params = describe_params(verdict.module) if verdict.module is not None else {}
    if verdict.stage in ("load", "contract"):
        return ModuleValidation(**base, ok=False, stage=verdict.stage, params=params, violations=[Violation(
            line=0, rule=verdict.stage, message=verdict.message or "")])
    code_hash = hashlib.sha256(source.encode("utf-8")).hexdigest()
    finding = verdict.finding
    if verdict.stage == "lookahead":
        msg = finding.describe() if finding is not None else (verdict.message or "")
        return ModuleValidation(**base, ok=False, stage="lookahead", lookahead=msg if finding is not None else None,
                                params=params, code_hash=code_hash if finding is not None else None,
                                violations=[Violation(line=0, rule="lookahead", message=msg)])
    return ModuleValidation(**base, ok=True, stage="ok", violations=[], lookahead=finding.describe(),
                            params=params, code_hash=code_hash)


def spec_refs(spec: Spec) -> list[tuple[str, Any]]:
    """(kind, ModuleRef) of every module a Spec uses."""
    out: list[tuple[str, Any]] = []
    for field, kind in SPEC_FIELDS:
        refs = getattr(spec, field)
        out.extend((kind, r) for r in (refs if isinstance(refs, list) else [refs]))
    return out


def engine_modules_dir(runtime: Path, spec: Spec) -> Path | None:
    """The `extra_dir` to hand the engine for `spec`: None when it uses built-ins only, otherwise the
    workspace's module directory (built-ins are not copied there, so names never collide)."""
    uses_workspace = any(origin(runtime, k, r.name) == "workspace" for k, r in spec_refs(spec))
    return runtime if uses_workspace else None


def catalog(runtime: Path, kind: str | None = None) -> list[tuple[str, str, str]]:
    """(kind, name, origin) of every module available to Specs in this workspace."""
    out = []
    for k in KINDS if kind is None else (kind,):
        for name in list_modules(k, runtime):
            out.append((k, name, origin(runtime, k, name)))
    return out
