"""Strategy tools: the module catalog, scaffolds and the SDK reference, writing and validating agent-written
modules, persisted Specs (schema, put, get, list, diff) and the look-ahead check.

Spec identity is its content hash (`Spec.id`); `spec_put` also records the qualified DataVersion the Spec
was written for, which later experiment tools use by default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.cta.backtest.lookahead import check_module
from auraquant.cta.sandbox import isolation
from auraquant.cta.sandbox.errors import ModuleSandboxError
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.protocols import resolve_params
from auraquant.cta.strategy.spec import Spec, locate_param
from auraquant.cta.tools import modules, sdk, state
from auraquant.cta.tools.codeguard import WriteRefused, write_module
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.tools.modules import ModuleValidation
from auraquant.cta.tools.preflight import modules_ready, persisted_spec, qualified_data

CAT = "strategy"
Kind = Literal["baselines", "filters", "executions", "risks"]


class ModuleInfo(BaseModel):
    kind: Kind
    name: str
    origin: str = Field(description="builtin, workspace (agent-written) or conflict")
    summary: str
    params: dict[str, dict[str, Any]]


class ModuleSource(BaseModel):
    kind: Kind
    name: str
    origin: str
    source: str


class Scaffold(BaseModel):
    kind: Kind
    name: str
    template: str
    notes: str


class SpecStored(BaseModel):
    spec_id: str
    created: bool
    data_version_id: str
    modules: list[str]
    search_space: list[str]


class SpecEntry(BaseModel):
    spec_id: str
    name: str
    modules: list[str]
    search_space: list[str]
    data_version_id: str | None


class SpecChange(BaseModel):
    path: str
    a: Any
    b: Any


class SpecDiff(BaseModel):
    a: str
    b: str
    identical: bool
    changes: list[SpecChange]


class LookaheadResult(BaseModel):
    data_version_id: str
    bars: int
    ok: bool
    findings: list[str]


def _summary(source: str | None) -> str:
    if not source:
        return ""
    doc = source.strip().split('"""')
    return doc[1].strip().split("\n")[0] if len(doc) > 2 else ""


@tool(category=CAT, timeout_s=60)
def module_list(ctx: Ctx, kind: Kind | None = None) -> list[ModuleInfo]:
    """List strategy modules usable in Specs (built-in and agent-written), with their declared params.

    Each param shows default, type and inclusive bounds; these bound both Spec params and search ranges.
    An agent-written module that no longer validates is listed with origin `invalid`."""
    runtime = ctx.deps.runtime_dir
    out = []
    for k, name, where in modules.catalog(runtime, kind):
        src = modules.source_of(runtime, k, name)
        try:
            params = modules.describe_params(modules.load(runtime, k, name))
        except Exception:  # a broken agent module must not hide the others
            where, params = "invalid", {}
        out.append(ModuleInfo(kind=k, name=name, origin=where, summary=_summary(src), params=params))  # type: ignore[arg-type]
    return out


@tool(category=CAT, timeout_s=10)
def module_show(ctx: Ctx, kind: Kind, name: str) -> ModuleSource:
    """The source code of one module (built-in or agent-written): read it before writing a variant."""
    runtime = ctx.deps.runtime_dir
    src = modules.source_of(runtime, kind, name)
    if src is None:
        raise ToolFailure(f"no module {kind}/{name}; call module_list")
    return ModuleSource(kind=kind, name=name, origin=modules.origin(runtime, kind, name), source=src)


@tool(category=CAT, timeout_s=10)
def module_scaffold(kind: Kind, name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")) -> Scaffold:
    """A working template for a new module of `kind`, plus the SDK notes for that kind.

    The template already passes validation; replace its logic and docstring with your hypothesis, then
    save it with module_write (which validates again and runs the look-ahead check)."""
    return Scaffold(kind=kind, name=name, template=sdk.scaffold(kind, name), notes=sdk.reference(kind))


@tool(category=CAT, timeout_s=10)
def sdk_reference(topic: sdk.Topic = "overview") -> str:
    """SDK reference on demand: module protocols, kernel slots, indicators, Spec format, code rules and
    performance notes. Topics: overview, baselines, filters, executions, risks, indicators, bars, spec,
    performance, rules."""
    return sdk.reference(topic)


@tool(category=CAT, timeout_s=120)
def module_validate(ctx: Ctx, kind: Kind, name: str, source: str | None = None) -> ModuleValidation:
    """Validate a module without saving it: code guard, loading, output contract, look-ahead check.

    With `source` omitted, validates the existing workspace or built-in file of that name."""
    runtime = ctx.deps.runtime_dir
    if source is None:
        source = modules.source_of(runtime, kind, name)
        if source is None:
            raise ToolFailure(f"no module {kind}/{name}; pass `source` or call module_list")
        return modules.validate_source(runtime, kind, name, source, allow_builtin=True)
    return modules.validate_source(runtime, kind, name, source)


@tool(category=CAT, timeout_s=120, exclusive=True)
def module_write(ctx: Ctx, kind: Kind, name: str, source: str, overwrite: bool = False) -> ModuleValidation:
    """Validate, then save an agent-written module to cta_runtime/<kind>/<name>.py.

    Nothing is written unless every stage passes: the AST allow-list (numpy/pandas/pandas_ta/math and the
    SDK only; no files, network, processes, eval/exec or dunder access; size limits), loading and the
    Protocol, the output contract, and the look-ahead check on sample bars. Violations come back with
    line numbers. Built-in names cannot be replaced; an existing workspace module needs overwrite=true."""
    runtime = ctx.deps.runtime_dir
    result = modules.validate_source(runtime, kind, name, source)
    if not result.ok:
        lines = [f"line {v.line}: [{v.rule}] {v.message}" if v.line else f"[{v.rule}] {v.message}"
                 for v in result.violations]
        raise ToolFailure(f"{kind}/{name} refused at stage {result.stage}, nothing written:\n" + "\n".join(lines),
                          details=result.model_dump(mode="json", exclude={"params"}))
    if modules.origin(runtime, kind, name) == "workspace" and not overwrite:
        raise ToolFailure(f"{kind}/{name} already exists; pass overwrite=true or choose another name "
                          "(note: Specs using it will change behaviour; their ids stay the same)")
    try:
        path = write_module(runtime, kind, name, source)
    except WriteRefused as exc:
        raise ToolFailure(str(exc)) from None
    return result.model_copy(update={"path": str(path.relative_to(ctx.deps.workspace.root.resolve()))})


@tool(category=CAT, timeout_s=10)
def spec_schema() -> dict[str, Any]:
    """The JSON schema of a Spec plus the parameter-path rules used by search spaces."""
    return {"schema": Spec.model_json_schema(), "parameter_paths": sdk.reference("spec")}


def _check_params(ctx: Ctx, spec: Spec) -> None:
    runtime = ctx.deps.runtime_dir
    loaded = {}
    for kind, ref in modules.spec_refs(spec):
        mod = modules.load(runtime, kind, ref.name)
        loaded[(kind, ref.name)] = mod
        try:
            resolve_params(ref.name, mod.params, ref.params)
        except ValueError as exc:
            raise ToolFailure(f"{kind}/{ref.name}: {exc}") from None
    for path, space in spec.search_space.items():
        field, idx, param = locate_param(spec, path)
        ref = spec.baseline if field == "baseline" else getattr(spec, field)[idx]
        kind = dict(modules.SPEC_FIELDS)[field]
        declared = loaded[(kind, ref.name)].params
        if param not in declared:
            raise ToolFailure(f"search path {path}: {kind}/{ref.name} has no param {param!r}; "
                              f"known: {sorted(declared)}")
        values = space.choices if space.kind == "categorical" else [space.low, space.high]
        for v in values:
            try:
                declared[param].coerce(param, v)
            except ValueError as exc:
                raise ToolFailure(f"search path {path}: {exc}") from None


@tool(category=CAT, timeout_s=60,
      preflight=[qualified_data(), modules_ready(lambda ctx, args: args.spec)])
def spec_put(ctx: Ctx, spec: Spec, data_version_id: str) -> SpecStored:
    """Persist a Spec (content-addressed: the same content gives the same id) for a qualified data version.

    Checks first: the data version is qualified, every module exists and validates, module params are
    declared and within bounds, and every search-space path names a declared param with in-bound ranges.
    Returns the spec_id to cite; experiments refuse Specs that were not put. Putting the same Spec again
    for another data version re-binds it to that version; give variants distinct names instead."""
    store = ctx.deps.workspace.store
    _check_params(ctx, spec)
    created = not state.has_spec(store, spec.id)
    store.put_object(state.SPEC, spec)
    store.memory_put(state.SPEC_DATA, spec.id, {"data_version_id": data_version_id})
    return SpecStored(spec_id=spec.id, created=created, data_version_id=data_version_id,
                      modules=[f"{k}/{r.name}" for k, r in modules.spec_refs(spec)],
                      search_space=sorted(spec.search_space))


@tool(category=CAT, timeout_s=10, preflight=[persisted_spec()])
def spec_get(ctx: Ctx, spec_id: str) -> dict[str, Any]:
    """A persisted Spec as JSON (with its id and the data version it was put for)."""
    store = ctx.deps.workspace.store
    spec = state.spec(store, spec_id)
    return {"spec_id": spec.id, "data_version_id": state.spec_data_version(store, spec_id),
            "spec": spec.model_dump(mode="json")}


@tool(category=CAT, timeout_s=30)
def spec_list(ctx: Ctx, name_contains: str | None = None) -> list[SpecEntry]:
    """List persisted Specs, oldest first: id, name, modules, searched params and bound data version."""
    store = ctx.deps.workspace.store
    out = []
    for spec in store.list_objects(state.SPEC, Spec):
        if name_contains and name_contains.lower() not in spec.name.lower():
            continue
        out.append(SpecEntry(spec_id=spec.id, name=spec.name,
                             modules=[f"{k}/{r.name}" for k, r in modules.spec_refs(spec)],
                             search_space=sorted(spec.search_space),
                             data_version_id=state.spec_data_version(store, spec.id)))
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        return _flatten({v["name"]: v for v in value}, prefix)
    return {prefix: value}


@tool(category=CAT, timeout_s=10, preflight=[persisted_spec("a"), persisted_spec("b")])
def spec_diff(ctx: Ctx, a: str, b: str) -> SpecDiff:
    """What changed between two persisted Specs, field by field (modules matched by name)."""
    store = ctx.deps.workspace.store
    fa = _flatten(state.spec(store, a).model_dump(mode="json", exclude={"description"}))
    fb = _flatten(state.spec(store, b).model_dump(mode="json", exclude={"description"}))
    changes = [SpecChange(path=p, a=fa.get(p), b=fb.get(p)) for p in sorted(set(fa) | set(fb))
               if fa.get(p) != fb.get(p)]
    return SpecDiff(a=a, b=b, identical=not changes, changes=changes)


@tool(category=CAT, timeout_s=300)
def lookahead_check(ctx: Ctx, spec_id: str | None = None, kind: Kind | None = None, name: str | None = None,
                    data_version_id: str | None = None) -> LookaheadResult:
    """Look-ahead check: recompute modules on truncated prefixes of real bars and compare with the full run.

    Give a persisted `spec_id` (checks all its modules with the Spec's params) or `kind` + `name` (defaults).
    Uses every bar of the data version before its holdout (the Spec's by default), at full length, with a
    fresh module instance per prefix (as the mandatory check before experiments, sweeps and backtests).
    A failure names the module, the output and the first bar that changed."""
    store = ctx.deps.workspace.store
    runtime = ctx.deps.runtime_dir
    if spec_id is not None:
        spec = state.spec(store, spec_id)
        targets = [(k, r.name, r.params) for k, r in modules.spec_refs(spec)]
        data_version_id = data_version_id or state.spec_data_version(store, spec_id)
    elif kind is not None and name is not None:
        targets = [(kind, name, {})]
    else:
        raise ToolFailure("give spec_id, or kind and name")
    if data_version_id is None:
        raise ToolFailure("give data_version_id (data_version_list shows them)")
    state.data_version(store, data_version_id)
    frame = state.research_bars(store, data_version_id)
    bars = bars_from_frame(frame)
    findings = []
    for k, n, params in targets:
        try:
            mod = modules.load(runtime, k, n)
            if modules.origin(runtime, k, n) == "workspace":  # agent code: checked inside the sandbox worker
                findings.extend(isolation.lookahead(bars, [(k, n, params)], runtime, n_checks=24))
            else:
                findings.append(check_module(k, mod, bars, params, n_checks=24))
        except (LookupError, ValueError, ModuleSandboxError) as exc:
            raise ToolFailure(str(exc)) from None
    return LookaheadResult(data_version_id=data_version_id, bars=len(bars), ok=all(f.ok for f in findings),
                           findings=[f.describe() for f in findings])


TOOLS = [module_list, module_show, module_scaffold, sdk_reference, module_validate, module_write, spec_schema,
         spec_put, spec_get, spec_list, spec_diff, lookahead_check]
