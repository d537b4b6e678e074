"""Making job bundles from what a workspace stores (a persisted Spec and a DataVersion) — the only part of
the cloud package that reads the workspace catalog to build a job; bundles themselves never refer to it.

Both directions go through the data access layer (`auraquant.cta.data.access`): a bundle holds only the bars
before the version's sealed holdout, and `unsealed_bundle` refuses to run (or ship) a bundle, wherever it
came from, whose bars contain a bar sealed in this workspace.

A spec that uses the workspace's own modules (`<workspace>/cta_runtime/<kind>/<name>.py`) gets their sources
bundled with their digests (`workspace_modules`); they must pass the look-ahead gate on the bundled bars before
the bundle is written, as before any local sweep."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from auraquant.cta.cloud.bundle import JobKind, JobSpec, make_job, open_bundle, write_bundle
from auraquant.cta.data import access
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

SPEC_KIND = "spec"


def bundles_dir(ws: Workspace) -> Path:
    return ws.artifacts / "cloud" / "bundles"


def bundle_from_workspace(ws: Workspace, spec_id: str, data_version_id: str, *, kind: JobKind = "sweep",
                          param_sets: list[dict[str, int | float]] | None = None,
                          search: dict[str, Any] | None = None, seed: int = 0, top_k: int = 3,
                          rank_by: str = "sharpe") -> Path:
    """Write `<workspace>/.aura/artifacts/cloud/bundles/<job id>.tar` for a stored spec over a stored version."""
    spec = ws.store.get_object(SPEC_KIND, spec_id, Spec)
    dv = ws.store.get_data_version(data_version_id)
    bars = access.research_bars(ws.store, data_version_id)
    modules = workspace_modules(ws, spec)
    job = make_job(bars, spec, kind=kind, param_sets=param_sets, search=search, seed=seed, top_k=top_k,
                   rank_by=rank_by, data_version_id=dv.id, symbol=dv.symbol, timeframe=dv.timeframe,
                   modules=modules)
    return _write_gated(ws, job, spec, bars, modules)


def _write_gated(ws: Workspace, job: JobSpec, spec: Spec, bars: pd.DataFrame,
                 modules: dict[tuple[str, str], bytes]) -> Path:
    """Write the bundle of `job`; a job that carries workspace modules passes the look-ahead gate on its bars
    and every parameter set it runs first (a bundle is never written for a module that peeks)."""
    if modules:
        from auraquant.cta.backtest.lookahead_gate import require_causal, workspace_cache_dir

        require_causal(spec, bars, ws.runtime_dir, cache_dir=workspace_cache_dir(ws), data_hash=job.data.content_hash,
                       extra_sets=job.param_sets)
    return write_bundle(job, bars, bundles_dir(ws), modules=modules)


def workspace_modules(ws: Workspace, spec: Spec) -> dict[tuple[str, str], bytes]:
    """Sources of the spec's modules that are not built in, from the workspace's `cta_runtime/` (by kind, name).

    Raises `LookupError` for a module that is neither built in nor in the workspace."""
    from auraquant.cta.strategy.loader import is_builtin

    used = [("baselines", spec.baseline.name)] + [("filters", r.name) for r in spec.filters] + \
        [("executions", r.name) for r in spec.execution] + [("risks", r.name) for r in spec.risk]
    out = {}
    for kind, name in used:
        if is_builtin(kind, name):
            continue
        path = ws.runtime_dir / kind / f"{name}.py"
        if not path.is_file():
            raise LookupError(f"module {kind}/{name} is neither built in nor in {ws.runtime_dir}")
        out[(kind, name)] = path.read_bytes()
    return out


def unsealed_bundle(ws: Workspace, bundle_path: Path | str) -> Path:
    """`bundle_path`, after checking that none of its bars is sealed in `ws` (else `HoldoutSealed`)."""
    bundle = open_bundle(bundle_path)
    access.unsealed_frame(ws.store, bundle.bars, f"bundle {bundle.job.id}", refuse=True)
    return Path(bundle_path)


def find_bundle(ws: Workspace, job_id: str) -> Path:
    path = bundles_dir(ws) / f"{job_id}.tar"
    if not path.is_file():
        raise FileNotFoundError(f"no bundle {job_id} in {bundles_dir(ws)}; make one with cloud_bundle first")
    return path


def training_bundle_from_workspace(ws: Workspace, spec_id: str, data_version_id: str, config: dict[str, Any], *,
                                   seed: int = 0) -> Path:
    """A training bundle (`training.make_training_job`) of a stored learned-baseline spec over a stored version's
    research bars. `config`: {"walk_forward": {...}, "holdout_bars"?: int, "windows"?: [int]}. A stored feature
    set the spec names (`features` param) is resolved here and travels in the job."""
    from auraquant.cta.cloud.training import make_training_job
    from auraquant.cta.models.window import baseline_params, feature_set_for, learned_kind

    spec = ws.store.get_object(SPEC_KIND, spec_id, Spec)
    if learned_kind(spec) is None:
        raise ValueError(f"spec {spec_id} has baseline {spec.baseline.name}, not a learned one: nothing to train")
    dv = ws.store.get_data_version(data_version_id)
    bars = access.research_bars(ws.store, data_version_id)
    fs = feature_set_for(int(baseline_params(spec)["features"]), ws.runtime_dir)
    job = make_training_job(bars, spec, config["walk_forward"], seed=seed, feature_set=fs,
                            holdout_bars=int(config.get("holdout_bars", 0)), windows=config.get("windows"),
                            data_version_id=dv.id, symbol=dv.symbol, timeframe=dv.timeframe)
    return write_bundle(job, bars, bundles_dir(ws))


def montecarlo_bundle_from_workspace(ws: Workspace, spec_id: str, data_version_id: str, config: dict[str, Any], *,
                                     seed: int = 0) -> Path:
    """A Monte Carlo bundle (`montecarlo_job.make_montecarlo_job`) of a stored spec over a stored version's
    research bars. `config`: {"params"?: {...}, "n_sims"?: int, "chunk_sims"?: int, "mean_block"?: float}."""
    from auraquant.cta.cloud.montecarlo_job import make_montecarlo_job

    spec = ws.store.get_object(SPEC_KIND, spec_id, Spec)
    dv = ws.store.get_data_version(data_version_id)
    bars = access.research_bars(ws.store, data_version_id)
    modules = workspace_modules(ws, spec)
    job = make_montecarlo_job(bars, spec, config.get("params"), n_sims=int(config.get("n_sims", 10_000)),
                              chunk_sims=int(config.get("chunk_sims", 1_000)), mean_block=config.get("mean_block"),
                              seed=seed, data_version_id=dv.id, symbol=dv.symbol, timeframe=dv.timeframe,
                              modules=modules)
    return _write_gated(ws, job, spec, bars, modules)
