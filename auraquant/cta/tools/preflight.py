"""Pre-flight checks: cheap static validations that run before anything expensive.

Each factory returns a registry pre-flight callable `(ctx, args) -> str | None`. A refusal is a
`PreflightIssue` rendered as one line that names the missing step and the tool that fixes it, e.g.
`missing step 'persist the Spec': no Spec 'spec_x' in the store -> call spec_put`. The registry returns
it to the model as a `preflight_failed` error, and the tool body (the engine work) never starts.

The hard dependencies of the research loop (AGENTS.md §2) live here:
qualified DataVersion before a Spec; Spec persisted before an experiment; module files exist and pass
the code guard; search space configured; sealed holdout untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from auraquant.cta.strategy.loader import list_modules
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.tools import state
from auraquant.cta.tools.codeguard import check_source
from auraquant.cta.tools.deps import Ctx
from auraquant.store import NotFound

SPEC_KINDS = (("baseline", "baselines"), ("filters", "filters"), ("execution", "executions"), ("risk", "risks"))
Check = Callable[[Ctx, Any], str | None]


class PreflightIssue(BaseModel):
    """A refused pre-flight: the step that is missing and the tool that performs it."""

    step: str
    fix_tool: str
    message: str

    def __str__(self) -> str:
        return f"missing step '{self.step}': {self.message} -> call {self.fix_tool}"


def _issue(step: str, fix_tool: str, message: str) -> str:
    return str(PreflightIssue(step=step, fix_tool=fix_tool, message=message))


def qualified_data(field: str = "data_version_id") -> Check:
    """The data version named by `args.<field>` exists and its quality report has no errors."""

    def check(ctx: Ctx, args: Any) -> str | None:
        dv_id = getattr(args, field)
        if dv_id is None:
            return None
        try:
            dv = ctx.deps.workspace.store.get_data_version(dv_id)
        except NotFound:
            return _issue("qualified data version", "data_version_list (or data_import / data_fetch / data_synth)",
                          f"no data version {dv_id!r} in the store")
        if dv.quality.errors:
            return _issue("qualified data version", "data_import (with repaired data)",
                          f"{dv_id} has quality errors: {[e.kind for e in dv.quality.errors]}")
        return None

    return check


def persisted_spec(field: str = "spec_id") -> Check:
    """`args.<field>` names a Spec persisted in the store."""

    def check(ctx: Ctx, args: Any) -> str | None:
        spec_id = getattr(args, field)
        if not state.has_spec(ctx.deps.workspace.store, spec_id):
            return _issue("persist the Spec", "spec_put", f"no Spec {spec_id!r} in the store")
        return None

    return check


def module_problems(ctx: Ctx, spec: Spec) -> list[str]:
    """Missing or invalid module files a Spec refers to (static only: existence + code guard)."""
    runtime = ctx.deps.runtime_dir
    problems: list[str] = []
    for field, kind in SPEC_KINDS:
        refs = getattr(spec, field)
        for ref in refs if isinstance(refs, list) else [refs]:
            if ref.name not in list_modules(kind, runtime):
                problems.append(f"{kind}/{ref.name} does not exist")
                continue
            path = runtime / kind / f"{ref.name}.py"
            if path.is_file():
                report = check_source(path.read_text(encoding="utf-8"), kind, ref.name)
                if not report.ok:
                    problems.append(f"{kind}/{ref.name} fails validation: {report.violations[0].message}")
    return problems


def modules_ready(spec_of: Callable[[Ctx, Any], Spec | None]) -> Check:
    """Every module of the Spec `spec_of(ctx, args)` exists (built-in or under cta_runtime/) and validates."""

    def check(ctx: Ctx, args: Any) -> str | None:
        spec = spec_of(ctx, args)
        if spec is None:
            return None
        problems = module_problems(ctx, spec)
        if problems:
            return _issue("write or fix the strategy modules", "module_list, then module_scaffold + module_write",
                          "; ".join(problems))
        return None

    return check


def stored_spec(field: str = "spec_id") -> Callable[[Ctx, Any], Spec | None]:
    """`spec_of` for `modules_ready`: the persisted Spec named by `args.<field>` (None if absent)."""

    def get(ctx: Ctx, args: Any) -> Spec | None:
        store = ctx.deps.workspace.store
        sid = getattr(args, field)
        return state.spec(store, sid) if state.has_spec(store, sid) else None

    return get


def search_space_configured(field: str = "spec_id") -> Check:
    """The persisted Spec has a non-empty search space (a search needs parameters to search)."""

    def check(ctx: Ctx, args: Any) -> str | None:
        store = ctx.deps.workspace.store
        sid = getattr(args, field)
        if state.has_spec(store, sid) and not state.spec(store, sid).search_space:
            return _issue("configure the search space", "spec_put (with a search_space)",
                          f"Spec {sid} has an empty search_space")
        return None

    return check


def spec_bound_to_data(spec_field: str = "spec_id", dv_field: str = "data_version_id") -> Check:
    """A data version is known for the run: given explicitly, or the one the Spec was put for."""

    def check(ctx: Ctx, args: Any) -> str | None:
        if getattr(args, dv_field) is not None:
            return None
        sid = getattr(args, spec_field)
        if state.spec_data_version(ctx.deps.workspace.store, sid) is None:
            return _issue("choose a qualified data version", "spec_put (with data_version_id)",
                          f"Spec {sid} is not bound to a data version and none was given")
        return None

    return check


def holdout_untouched(dv_field: str = "data_version_id", end_field: str = "end",
                      spec_field: str | None = "spec_id") -> Check:
    """The requested range ends before the sealed holdout of its data version (if one is declared)."""

    def check(ctx: Ctx, args: Any) -> str | None:
        store = ctx.deps.workspace.store
        dv_id = getattr(args, dv_field)
        if dv_id is None and spec_field is not None:
            dv_id = state.spec_data_version(store, getattr(args, spec_field))
        if dv_id is None:
            return None
        sealed = state.holdout_start(store, dv_id)
        end = state.utc(getattr(args, end_field))
        if sealed is not None and end is not None and end > sealed:
            return _issue("keep the holdout sealed", "data_slice_list (holdout bounds) and pass an earlier end",
                          f"end {end} reaches into the holdout of {dv_id}, sealed from {sealed}")
        return None

    return check


def holdout_declared(dv_field: str = "data_version_id", spec_field: str = "spec_id") -> Check:
    """The run's data version has a sealed holdout (an experiment must never be able to select on it)."""

    def check(ctx: Ctx, args: Any) -> str | None:
        store = ctx.deps.workspace.store
        dv_id = getattr(args, dv_field) or state.spec_data_version(store, getattr(args, spec_field))
        if dv_id is not None and state.holdout_start(store, dv_id) is None:
            return _issue("declare the sealed holdout", "data_slice_create (role=holdout, the final segment)",
                          f"{dv_id} has no holdout slice; experiments search only on data before it")
        return None

    return check
