"""Making job bundles from what a workspace stores (a persisted Spec and a DataVersion) — the only part of
the cloud package that reads the workspace catalog to build a job; bundles themselves never refer to it.

Both directions go through the data access layer (`auraquant.cta.data.access`): a bundle holds only the bars
before the version's sealed holdout, and `unsealed_bundle` refuses to run (or ship) a bundle, wherever it
came from, whose bars contain a bar sealed in this workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auraquant.cta.cloud.bundle import JobKind, make_job, open_bundle, write_bundle
from auraquant.cta.data import access
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace

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
    job = make_job(bars, spec, kind=kind, param_sets=param_sets, search=search, seed=seed, top_k=top_k,
                   rank_by=rank_by, data_version_id=dv.id, symbol=dv.symbol, timeframe=dv.timeframe)
    return write_bundle(job, bars, bundles_dir(ws))


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
