"""Agent tools for offloading: bundle, estimate, run (local or Dask only), status, doctor (list only).

Policy: spending money is a human decision. The agent can bundle a job, see its estimate, run it locally or
on an existing Dask cluster when the estimate does not need confirmation, read the recorded spend, and list
orphans. Managed Agents runs, long runs (`needs_confirmation`) and deleting remote resources are CLI-only
(`auraquant cloud run ... --yes`, `auraquant cloud doctor --clean`), run by a person.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.cta.cloud import cost, jobs, tags, trust
from auraquant.cta.cloud.bundle import open_bundle
from auraquant.cta.cloud.errors import CloudError
from auraquant.cta.data.access import HoldoutSealed
from auraquant.cta.tools.deps import Ctx

CAT = "cloud"


class BundleInfo(BaseModel):
    job_id: str
    kind: str
    bars: int
    param_sets: int
    path: str


class RunSummary(BaseModel):
    job_id: str
    backend: str
    attestation: str
    reproduced_trials: list[int]
    top: list[dict[str, Any]]  # the local recomputation (what was signed), never the remote's claim
    audited_trials: list[int] = []
    escape_probability: float = 1.0  # chance that one tampered, unaudited row (a hidden best) escapes
    verdict: str = ""


class SpendSummary(BaseModel):
    total_usd: float
    sessions: int
    inflight_jobs: list[str]


def _bundle_path(ctx: Ctx, job_id: str) -> Any:
    """The bundle of `job_id` (none of its bars sealed), or a tool error the model can act on (no host paths)."""
    try:
        return jobs.unsealed_bundle(_ws(ctx), jobs.find_bundle(_ws(ctx), job_id))
    except FileNotFoundError:
        raise ToolFailure(f"no bundle {job_id!r} in this workspace; make one with cloud_bundle first") from None
    except HoldoutSealed as e:
        raise ToolFailure(str(e)) from None


def _ws(ctx: Ctx) -> Any:
    return ctx.deps.workspace


@tool(category=CAT, timeout_s=120)
def cloud_bundle(ctx: Ctx, spec_id: str, data_version_id: str,
                 param_sets: list[dict[str, int | float]] = Field(min_length=1, max_length=100_000),
                 top_k: int = Field(3, ge=1, le=20), seed: int = 0) -> BundleInfo:
    """Write a portable sweep job bundle (spec + bars + parameter sets, content-hashed) for offloading.

    Parameter paths are the spec's (`baseline.fast`, `execution.trailing_pct.pct`, ...). Returns the job id
    to pass to cloud_estimate / cloud_run."""
    try:
        path = jobs.bundle_from_workspace(_ws(ctx), spec_id, data_version_id, param_sets=param_sets, top_k=top_k,
                                          seed=seed)
    except (CloudError, ValueError, KeyError, HoldoutSealed) as e:
        raise ToolFailure(str(e)) from e
    job = open_bundle(path).job
    return BundleInfo(job_id=job.id, kind=job.kind, bars=job.data.bars, param_sets=len(job.param_sets),
                      path=str(path))


@tool(category=CAT, timeout_s=120)
def cloud_estimate(ctx: Ctx, job_id: str) -> cost.Estimate:
    """Calibrate the engine here and estimate a bundled job: local seconds, container time and cost at
    $0.08 per session-hour plus tokens, the route (local / offload) and whether a human must confirm it."""
    b = open_bundle(_bundle_path(ctx, job_id))
    return cost.estimate_job(b.job, cost.calibrate(b.job, b.bars, modules=b.modules))


@tool(category=CAT, timeout_s=3600, exclusive=True)
def cloud_run(ctx: Ctx, job_id: str, backend: Literal["local", "dask"] = "local",
              address: str | None = None) -> RunSummary:
    """Run a bundled job locally or on a Dask cluster (`address` tcp://host:8786), then verify it by local
    reproduction and sign the attestation. Refuses jobs whose estimate needs a human's confirmation."""
    ws = _ws(ctx)
    path = _bundle_path(ctx, job_id)
    b = open_bundle(path)
    est = cost.estimate_job(b.job, cost.calibrate(b.job, b.bars, modules=b.modules))
    if est.needs_confirmation:
        raise ToolFailure("this job needs a human's confirmation (" + "; ".join(est.reasons) + "); ask the user "
                          f"to run `auraquant cloud run {path} --yes`")
    out = ws.artifacts / "cloud" / "runs" / job_id
    try:
        if backend == "dask":
            from auraquant.cta.cloud.dask_backend import DaskBackend

            if not address:
                raise ToolFailure("backend dask needs an address (tcp://host:8786)")
            result = DaskBackend(address).run(path, out)
        else:
            from auraquant.cta.cloud.runner import run_job

            result = run_job(path, out)
        acc = trust.accept_results(ws, path, result.out_dir, backend=backend, model_id=ctx.deps.model_id)
    except CloudError as e:
        raise ToolFailure(str(e)) from e
    return RunSummary(job_id=job_id, backend=backend, attestation=str(acc.path),
                      reproduced_trials=acc.verification.reproduced_trials, top=acc.verification.top,
                      audited_trials=acc.verification.audited_trials,
                      escape_probability=acc.verification.escape_probability, verdict=acc.verification.verdict)


@tool(category=CAT, timeout_s=30)
def cloud_status(ctx: Ctx) -> SpendSummary:
    """Recorded cloud spend (memory namespace `cost`) and offloaded jobs still in flight."""
    store = _ws(ctx).store
    costs = store.memory_list(tags.COST_NAMESPACE)
    inflight = [k.removeprefix("inflight:") for k, v in store.memory_list(tags.MEMORY_NAMESPACE).items()
                if k.startswith("inflight:") and v.get("state") == "running"]
    return SpendSummary(total_usd=sum(float(v.get("cost_usd", 0.0)) for v in costs.values()), sessions=len(costs),
                        inflight_jobs=inflight)


@tool(category=CAT, timeout_s=60)
def cloud_doctor(ctx: Ctx) -> dict[str, Any]:
    """List (never delete) remote sessions, environments and uploads this workspace left behind. Needs
    ANTHROPIC_API_KEY in the host's environment; cleaning is `auraquant cloud doctor --clean`, by a person."""
    from auraquant.cta.cloud.cli import _client
    from auraquant.cta.cloud.doctor import find_orphans

    ws = _ws(ctx)
    import anthropic

    from auraquant.cta.cloud.api_errors import explain

    try:
        found = find_orphans(_client(None), tags.workspace_tag(ws.root), ws.store)
    except CloudError as e:
        raise ToolFailure(str(e)) from e
    except anthropic.APIError as e:  # 401 / 403 / 404 / unreachable: the same one actionable line as the CLI
        raise ToolFailure(str(explain(e))) from e
    return {"sessions": found.sessions, "environments": found.environments,
            "kept_environments": found.kept_environments, "files": found.files}


TOOLS = [cloud_bundle, cloud_estimate, cloud_run, cloud_status, cloud_doctor]
