"""CLI: `auraquant cloud bundle | estimate | run | verify | status | doctor` (`app`) and `auraquant job run` (`job_app`).

`job run` needs no workspace (it is what a remote container executes). The `cloud` commands work on the
workspace at `--workspace` (default: the current directory or a parent). Managed Agents commands read the
API key from ANTHROPIC_API_KEY and the endpoint from `--base-url` / ANTHROPIC_BASE_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from auraquant.console import cli_errors, console, fail, print_json, say, table
from auraquant.cta.cloud import cost, tags
from auraquant.cta.cloud.bundle import open_bundle
from auraquant.cta.cloud.errors import CloudError, ConfirmationRequired
from auraquant.workspace import Workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Offload heavy jobs: estimate, run, verify, status, doctor.")
job_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Portable job bundles.")


@job_app.callback()
def _job_group() -> None:
    """Portable job bundles (a group even with one command, so `job run` keeps its name)."""

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="Managed Agents API base URL.")]


def _cloud_errors(fn: Any) -> Any:
    """One-line errors for cloud commands: domain refusals as they are, `anthropic` SDK errors turned into an
    actionable line (`api_errors.explain`), and an interrupt (Ctrl-C, SIGTERM) after cleanup as exit 130/143."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from auraquant.cta.cloud.interrupts import Interrupted
        from auraquant.cta.governance.errors import GovernanceError

        as_json = bool(kwargs.get("json_out"))
        try:
            return fn(*args, **kwargs)
        except (CloudError, GovernanceError) as e:
            fail(str(e), as_json=as_json, kind=type(e).__name__)
        except Interrupted as e:
            fail(f"interrupted by {e}: the run stopped and its remote session, uploads and throwaway environment "
                 "were cleaned up (`auraquant cloud doctor` lists anything left)", as_json=as_json,
                 kind="Interrupted", code=128 + e.signum)
        except Exception as e:
            anthropic = sys.modules.get("anthropic")
            if anthropic is not None and isinstance(e, anthropic.APIError):
                from auraquant.cta.cloud.api_errors import explain

                err = explain(e, kwargs.get("base_url"))
                fail(str(err), as_json=as_json, kind=type(err).__name__)
            raise
    return cli_errors(wrapper)


def _unsealed_here(bundle: Path, workspace: Path | None) -> None:
    """Refuse a bundle with bars sealed in `workspace` (default: the current directory's workspace, if any)."""
    from auraquant.cta.cloud.jobs import unsealed_bundle
    from auraquant.workspace import NotAWorkspace

    try:
        ws = Workspace.open(workspace or Path("."))
    except NotAWorkspace:
        if workspace is not None:
            raise
        return
    unsealed_bundle(ws, bundle)


@job_app.command("run")
@_cloud_errors
def job_run(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.")],
    out: Annotated[Path, typer.Option("--out", help="Result directory (created).")],
    archive: Annotated[Path | None, typer.Option("--archive", help="Also pack the results into this tar.")] = None,
    threads: Annotated[int | None, typer.Option(help="Engine threads (default: all cores).")] = None,
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", help="Refuse bars sealed in this workspace "
                                                   "(default: the current one, if any).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a job bundle anywhere (no workspace needed); write results with their sha256 in manifest.json.

    Inside a workspace (or with --workspace) a bundle holding bars of a sealed holdout is refused."""
    from auraquant.cta.cloud.runner import run_job

    _unsealed_here(bundle, workspace)
    r = run_job(bundle, out, threads=threads, archive=archive)
    summary = {"job_id": r.job_id, "out": str(r.out_dir), "files": {n: e["sha256"] for n, e in r.manifest["files"].items()},
               "top": r.manifest["top"][:1], "elapsed_s": r.manifest["elapsed_s"]}
    if json_out:
        print_json(summary)
        return
    say(f"job {r.job_id}: {len(r.manifest['files'])} result files in {r.out_dir} ({r.manifest['elapsed_s']:.1f}s)")


def _estimate(bundle_path: Path, model: str, policy: cost.Policy) -> cost.Estimate:
    b = open_bundle(bundle_path)
    return cost.estimate_job(b.job, cost.calibrate(b.job, b.bars, modules=b.modules), policy=policy, model=model)


def _show_estimate(e: cost.Estimate) -> None:
    console.print(table(f"estimate for {e.job_id}", ["item", "value"], [
        ("size", f"{e.bars:,} bars x {e.param_sets:,} parameter sets"),
        ("local run", f"{e.local_s:,.1f} s"), ("container time", f"{e.container_s:,.1f} s"),
        ("container cost", f"${e.runtime_usd:.4f} (at ${cost.SESSION_HOUR_USD}/session-hour)"),
        ("tokens", f"{e.input_tokens:,} in + {e.output_tokens:,} out on {e.model} = ${e.tokens_usd:.4f}"),
        ("total if offloaded", f"${e.total_usd:.4f}"), ("route", e.route),
        ("needs --yes", "yes" if e.needs_confirmation else "no")]))
    for r in e.reasons:
        console.print(f"  {r}")


@app.command("bundle")
@_cloud_errors
def bundle_cmd(
    spec_id: Annotated[str, typer.Option("--spec", help="Stored Spec id.")],
    params: Annotated[Path | None, typer.Option(help="JSON file: a list of flat parameter dicts (sweep).")] = None,
    walkforward: Annotated[Path | None, typer.Option(help="JSON file: {walk_forward, search} (walk-forward).")] = None,
    train: Annotated[Path | None, typer.Option(help="JSON file: {walk_forward, holdout_bars?, windows?} (training "
                                               "of a learned baseline's model per window).")] = None,
    montecarlo: Annotated[Path | None, typer.Option(help="JSON file: {params?, n_sims?, chunk_sims?, mean_block?} "
                                                    "(Monte Carlo of one configuration).")] = None,
    top_k: Annotated[int, typer.Option(help="Trials that get full artifacts and local re-verification.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed (search, audit sampling).")] = 0,
    data_version: Annotated[str | None, typer.Option("--data-version", help="Stored DataVersion id.")] = None,
    data: Annotated[str | None, typer.Option("--data", hidden=True, help="Old name of --data-version.")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Bundle a stored spec over a stored data version as a portable job (`.aura/artifacts/cloud/bundles/`)."""
    import json

    from auraquant.cta.cloud.jobs import (
        bundle_from_workspace,
        montecarlo_bundle_from_workspace,
        training_bundle_from_workspace,
    )
    from auraquant.cta.experiment.cli import data_version_arg
    from auraquant.ids import resolve_id

    dv_arg = data_version_arg(data_version, data)
    if sum(x is not None for x in (params, walkforward, train, montecarlo)) != 1:
        raise CloudError("give exactly one of --params (sweep), --walkforward, --train or --montecarlo")
    ws = Workspace.open(workspace)
    spec_id, data_version_id = resolve_id(ws.store, spec_id), resolve_id(ws.store, dv_arg)
    if train is not None:
        path = training_bundle_from_workspace(ws, spec_id, data_version_id, json.loads(train.read_text()), seed=seed)
    elif montecarlo is not None:
        path = montecarlo_bundle_from_workspace(ws, spec_id, data_version_id, json.loads(montecarlo.read_text()),
                                                seed=seed)
    elif params is not None:
        path = bundle_from_workspace(ws, spec_id, data_version_id, param_sets=json.loads(params.read_text()),
                                     top_k=top_k, seed=seed)
    else:
        path = bundle_from_workspace(ws, spec_id, data_version_id, kind="walkforward", seed=seed,
                                     search=json.loads(walkforward.read_text()))  # type: ignore[union-attr]
    job = open_bundle(path).job
    if json_out:
        print_json({"job_id": job.id, "path": str(path), "kind": job.kind, "bars": job.data.bars,
                    "param_sets": len(job.param_sets)})
    else:
        say(f"bundle {job.id} ({job.kind}, {job.data.bars:,} bars, {len(job.param_sets)} sets): {path}")


@app.command("estimate")
@_cloud_errors
def estimate_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.")],
    model: Annotated[str, typer.Option(help="Orchestrating model (token prices).")] = cost.DEFAULT_MODEL,
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", help="Refuse bars sealed in this workspace "
                                                   "(default: the current one, if any).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Calibrate the engine on this machine and estimate time and cost of a job (nothing is run remotely).

    Calibration runs the engine on the bundle's bars: inside a workspace, sealed holdout bars are refused."""
    _unsealed_here(bundle, workspace)
    e = _estimate(bundle, model, cost.Policy())
    if json_out:
        print_json(e.model_dump())
    else:
        _show_estimate(e)


def _require_key() -> str:
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        raise CloudError("the Managed Agents backend needs ANTHROPIC_API_KEY (and Managed Agents beta access); "
                         "export it, or run with --backend local or --backend dask")
    return key


def _client(base_url: str | None) -> Any:
    import anthropic

    key = _require_key()
    return anthropic.Anthropic(api_key=key, base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL"))


# What a wheel is built from: the build configuration and the packages `pyproject.toml` declares.
_WHEEL_FILES = ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in", "LICENSE")
_WHEEL_PACKAGES = ("aura", "auraquant", "cta_runtime")


def build_wheel(dest: Path) -> Path:
    """Build the auraquant wheel from the source checkout this package was imported from, into `dest`.

    The build runs on a copy of the sources in a scratch directory: setuptools writes `build/` and
    `*.egg-info` next to the sources it builds, and the checkout (possibly read-only, or a repository whose
    status must stay clean) is never written to."""
    import shutil

    import auraquant

    root = Path(auraquant.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise CloudError("auraquant is not running from a source checkout; pass --wheel PATH")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aq-wheel-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in _WHEEL_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", "*.egg-info", "build")
        for pkg in _WHEEL_PACKAGES:
            if (root / pkg).is_dir():
                shutil.copytree(root / pkg, src / pkg, ignore=ignore, symlinks=False)
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                               "-w", str(dest), str(src)], capture_output=True, text=True, cwd=tmp)
    if proc.returncode != 0:
        raise CloudError(f"building the auraquant wheel failed: {(proc.stderr or proc.stdout).strip()[-400:]}; "
                         "pass --wheel PATH")
    wheels = sorted(dest.glob("auraquant-*.whl"))
    if not wheels:
        raise CloudError(f"pip wheel produced no auraquant wheel in {dest}")
    return wheels[-1]


@app.command("run")
@_cloud_errors
def run_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.")],
    backend: Annotated[str, typer.Option(help="auto | local | dask | managed")] = "auto",
    address: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")] = None,
    base_url: BaseUrlOpt = None,
    wheel: Annotated[Path | None, typer.Option(help="auraquant wheel to install remotely (default: build).")] = None,
    budget: Annotated[float, typer.Option(help="Hard USD cap for the managed session.")] = 5.0,
    model: Annotated[str, typer.Option(help="Orchestrating model.")] = cost.DEFAULT_MODEL,
    keep_environment: Annotated[bool, typer.Option(help="Keep the managed environment for reuse.")] = True,
    goal_sharpe: Annotated[float | None, typer.Option(help="Archive reproduced configs with sharpe >= this.")] = None,
    audit_n: Annotated[int | None, typer.Option(
        "--audit", min=0, help="Trials re-run locally beyond the top ones (per window for a walk-forward); "
        "default 10%, at least 2 (1 per window).")] = None,
    replay_n: Annotated[int | None, typer.Option("--replay", min=0, help="Walk-forward windows whose selected trial's "
                                                 "search proposals are replayed; default 20%, at least 1.")] = None,
    offload_above_s: Annotated[float, typer.Option(help="Route to offload above this local estimate.")] = 600.0,
    confirm_above_s: Annotated[float, typer.Option(help="Runs estimated longer than this need --yes.")] = 1800.0,
    confirm_above_usd: Annotated[float, typer.Option(help="Runs estimated costlier than this need --yes.")] = 1.0,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm a long or costly run.")] = False,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Estimate, route, run (local / Dask / Managed Agents), then verify locally and sign + archive."""
    from auraquant.cta.cloud import trust
    from auraquant.cta.cloud.jobs import unsealed_bundle
    from auraquant.cta.governance.record import GoalThresholds, Threshold

    if backend == "managed":
        _require_key()  # before anything is built, calibrated or uploaded
    ws = Workspace.open(workspace)
    unsealed_bundle(ws, bundle)  # before anything runs or leaves the machine
    est = _estimate(bundle, model, cost.Policy(offload_above_s=offload_above_s, confirm_above_s=confirm_above_s,
                                               confirm_above_usd=confirm_above_usd))
    chosen = est.route if backend == "auto" else backend
    if chosen == "offload":
        chosen = "dask" if address else "managed"
    if chosen == "managed":
        _require_key()
    if est.needs_confirmation and not yes:
        if json_out or not sys.stdin.isatty() or not typer.confirm(f"{'; '.join(est.reasons)}. Run anyway?"):
            raise ConfirmationRequired(f"not started: {'; '.join(est.reasons)}; pass --yes to run it")
    out = ws.artifacts / "cloud" / "runs"
    remote: dict[str, Any] = {}
    from auraquant.cta.cloud.interrupts import terminate_like_interrupt

    with terminate_like_interrupt():  # SIGTERM unwinds like Ctrl-C: every backend's cleanup runs
        if chosen == "local":
            from auraquant.cta.cloud.runner import run_job

            result_dir = run_job(bundle, out / est.job_id).out_dir
        elif chosen == "dask":
            from auraquant.cta.cloud.dask_backend import DaskBackend

            if not address:
                raise CloudError("--backend dask needs --address tcp://host:8786")
            result_dir = DaskBackend(address).run(bundle, out / est.job_id).out_dir
        elif chosen == "managed":
            remote = _run_managed(ws, bundle, out, est, base_url=base_url, wheel=wheel, budget=budget, model=model,
                                  keep_environment=keep_environment)
            result_dir = Path(remote.pop("result_dir"))
        else:
            raise CloudError(f"unknown backend {backend!r}; use auto, local, dask or managed")
    goal = GoalThresholds(thresholds={"sharpe": Threshold(min=goal_sharpe)}) if goal_sharpe is not None else None
    acc = trust.accept_results(ws, bundle, result_dir, backend=chosen, goal=goal, model_id=model, audit_n=audit_n,
                               replay_n=replay_n)
    summary = {"job_id": est.job_id, "backend": chosen, "estimate": est.model_dump(), "results": str(result_dir),
               **_acceptance_summary(acc), **remote}
    if json_out:
        print_json(summary)
        return
    _show_acceptance(acc)


def _run_managed(ws: Workspace, bundle: Path, out: Path, est: cost.Estimate, *, base_url: str | None,
                 wheel: Path | None, budget: float, model: str, keep_environment: bool) -> dict[str, Any]:
    """One Managed Agents run of `bundle`; the wheel, when built here, lives in a scratch directory removed after."""
    import shutil

    from auraquant.cta.cloud.managed import ManagedAgentsBackend, ManagedConfig

    if est.total_usd > budget:
        raise CloudError(f"the estimate (${est.total_usd:.4f}) exceeds the session budget (${budget:.2f}): the "
                         f"run would stop at budget_reached; raise --budget or shrink the job")
    client = _client(base_url)
    scratch = None if wheel is not None else Path(tempfile.mkdtemp(prefix="aq-wheel-"))
    try:
        whl = wheel or build_wheel(scratch)  # type: ignore[arg-type]
        mb = ManagedAgentsBackend(client, workspace_tag=tags.workspace_tag(ws.root), wheel=whl, store=ws.store,
                                  config=ManagedConfig(model=model, budget_usd=budget,
                                                       keep_environment=keep_environment))
        rr = mb.run(bundle, out)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {"result_dir": str(rr.result.out_dir), "run_id": rr.run_id, "session_id": rr.session_id,
            "active_seconds": rr.active_seconds, "cost_usd": rr.cost_usd, "input_tokens": rr.input_tokens,
            "output_tokens": rr.output_tokens, "cache_read_tokens": rr.cache_read_tokens,
            "cache_write_tokens": rr.cache_write_tokens, "stream_drops": rr.stream_drops}


def _acceptance_summary(acc: Any) -> dict[str, Any]:
    v = acc.verification
    return {"attestation": str(acc.path), "reproduced_trials": v.reproduced_trials,
            "audited_trials": v.audited_trials, "auditable": v.auditable,
            "escape_probability": v.escape_probability, "verdict": v.verdict, "top": v.top, "archived": acc.records}


def _show_acceptance(acc: Any) -> None:
    say(acc.verification.verdict)
    say(f"signed (local recomputation only) -> {acc.path}")
    if acc.records:
        say("archived candidates: " + ", ".join(acc.records))


@app.command("verify")
@_cloud_errors
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar the results claim to be for.")],
    results: Annotated[Path, typer.Argument(help="Result directory or .tar obtained elsewhere.")],
    audit_n: Annotated[int | None, typer.Option(
        "--audit", min=0, help="Trials re-run locally beyond the top ones (per window for a walk-forward).")] = None,
    replay_n: Annotated[int | None, typer.Option(
        "--replay", min=0, help="Walk-forward windows whose selected trial's search proposals are replayed.")] = None,
    goal_sharpe: Annotated[float | None, typer.Option(help="Archive reproduced configs with sharpe >= this.")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Verify results computed anywhere (recompute locally; audits drawn with this workspace's secret), then
    sign and archive only the local numbers. Refused results exit 1 with one line; nothing is written."""
    from auraquant.cta.cloud import trust
    from auraquant.cta.governance.record import GoalThresholds, Threshold

    ws = Workspace.open(workspace)
    _unsealed_here(bundle, workspace)  # re-running the claimed trials would read sealed bars
    goal = GoalThresholds(thresholds={"sharpe": Threshold(min=goal_sharpe)}) if goal_sharpe is not None else None
    acc = trust.accept_results(ws, bundle, results, backend="external", goal=goal, audit_n=audit_n,
                               replay_n=replay_n)
    if json_out:
        print_json({"job_id": acc.verification.job_id, "results": str(results), **_acceptance_summary(acc)})
        return
    _show_acceptance(acc)


@app.command("status")
@_cloud_errors
def status_cmd(workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Recorded cloud spend (memory namespace `cost`) and runs still in flight."""
    ws = Workspace.open(workspace)
    costs = ws.store.memory_list(tags.COST_NAMESPACE)
    inflight = {k: v for k, v in ws.store.memory_list(tags.MEMORY_NAMESPACE).items()
                if k.startswith("inflight:") and v.get("state") == "running"}
    total = sum(float(v.get("cost_usd", 0.0)) for v in costs.values())
    if json_out:
        print_json({"costs": costs, "total_usd": total, "inflight": inflight})
        return
    console.print(table("cloud spend", ["key", "job", "active s", "tokens in/out", "USD"],
                        [(k, v.get("job_id"), f"{v.get('active_seconds', 0):.1f}",
                          f"{v.get('input_tokens', 0)}/{v.get('output_tokens', 0)}", f"{v.get('cost_usd', 0):.4f}")
                         for k, v in costs.items()]))
    console.print(f"total ${total:.4f}; in flight: {', '.join(inflight) or 'none'}")


@app.command("doctor")
@_cloud_errors
def doctor_cmd(
    clean: Annotated[bool, typer.Option("--clean", help="Delete what was found.")] = False,
    include_kept: Annotated[bool, typer.Option(help="Also delete environments kept for reuse.")] = False,
    base_url: BaseUrlOpt = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """List (and with --clean remove) sessions, environments and files this workspace left behind."""
    from auraquant.cta.cloud.doctor import clean_orphans, find_orphans

    ws = Workspace.open(workspace)
    client, tag = _client(base_url), tags.workspace_tag(ws.root)
    found = (clean_orphans(client, tag, ws.store, include_kept=include_kept) if clean
             else find_orphans(client, tag, ws.store))
    body = {"workspace_tag": tag, "sessions": found.sessions, "active": found.active,
            "environments": found.environments, "kept_environments": found.kept_environments, "files": found.files,
            "expired_files": found.expired, "removed": found.removed, "orphan_costs": found.costs,
            "orphan_cost_usd": found.cost_usd}
    if json_out:
        print_json(body)
        return
    console.print(table(f"orphans of {tag}", ["kind", "id", "detail"],
                        [("session", s["id"], s["status"]) for s in found.sessions]
                        + [("session (active run)", s["id"], s["status"]) for s in found.active]
                        + [("environment", e["id"], e["name"]) for e in found.environments]
                        + [("environment (kept)", e["id"], e["name"]) for e in found.kept_environments]
                        + [("file", f, "upload") for f in found.files]
                        + [("file (expired)", f, "already removed by the service") for f in found.expired]))
    if clean:
        console.print(f"removed {len(found.removed)}: {', '.join(found.removed) or 'nothing'}")
        if found.costs:
            console.print(f"the orphan sessions cost ${found.cost_usd:.4f} (recorded under `cost`, see cloud status)")
