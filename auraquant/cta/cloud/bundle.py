"""Job bundles: a portable, content-hashed description of a heavy job plus the bars it needs.

A bundle is a directory (or an uncompressed tar of one, `<job id>.tar`) holding exactly:

- `job.json`: the `JobSpec` (canonical JSON), whose id is the hash of everything in it;
- `bars.parquet`: the OHLCV bars (columns time, open, high, low, close, volume);
- `module.<kind>.<name>.py`, one per workspace (agent-written) module the spec uses: its exact source, listed in
  `JobSpec.modules` with its sha256. Opening a bundle checks every digest and refuses a missing, extra or altered
  module, so the code that runs remotely and the code re-run here are the code that was bundled. Such modules
  still run only inside the sandbox worker (`auraquant.cta.sandbox`), here and in the container
  (`materialize_modules` lays them out as a module root for it).

The bars are bound to the spec by `DataRef.content_hash` (`auraquant.content_hash.bars_content_hash`: a hash of the
values, not of the Parquet encoding), so a bundle whose data was swapped or edited does not open. Nothing in
a bundle refers to a workspace: `auraquant job run BUNDLE --out DIR` runs it anywhere the package is installed.

Tars are written deterministically (sorted members, zero mtimes and owners), so the same job always yields
the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from auraquant.canonical import ContentModel, canonical_json
from auraquant.content_hash import bars_content_hash
from auraquant.cta.cloud.errors import BundleError
from auraquant.cta.strategy.spec import Spec

SCHEMA = "auraquant-job/v1"
JOB_FILE = "job.json"
BARS_FILE = "bars.parquet"
BAR_COLUMNS = ["time", "open", "high", "low", "close", "volume"]
MODULE_MEMBER = re.compile(r"^module\.(baselines|filters|executions|risks)\.([a-z][a-z0-9_]*)\.py$")

JobKind = Literal["sweep", "walkforward", "train", "montecarlo"]


class EngineVersion(BaseModel):
    """The software a result was computed with (recorded; reproduction is what decides trust)."""

    model_config = {"frozen": True, "extra": "forbid"}
    auraquant: str
    numba: str
    numpy: str


def current_engine_version() -> EngineVersion:
    import numba
    import numpy

    from auraquant import __version__

    return EngineVersion(auraquant=__version__, numba=numba.__version__, numpy=numpy.__version__)


class DataRef(BaseModel):
    """Which bars the job runs on: the workspace data version (if any) and the hash of the values."""

    model_config = {"frozen": True, "extra": "forbid"}
    data_version_id: str | None = None
    symbol: str = ""
    timeframe: str = ""
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    bars: int = Field(gt=0)
    first: str
    last: str


class ModuleRef(BaseModel):
    """A workspace module shipped in the bundle: kind, name and the sha256 of its source bytes."""

    model_config = {"frozen": True, "extra": "forbid"}
    kind: Literal["baselines", "filters", "executions", "risks"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def member(self) -> str:
        """Its file name inside the bundle."""
        return f"module.{self.kind}.{self.name}.py"


def module_refs(sources: dict[tuple[str, str], bytes]) -> list[ModuleRef]:
    """`ModuleRef`s (sorted by kind, name) for `(kind, name) -> source bytes`."""
    return [ModuleRef(kind=k, name=n, sha256=hashlib.sha256(src).hexdigest())  # type: ignore[arg-type]
            for (k, n), src in sorted(sources.items())]


class JobSpec(ContentModel):
    """A heavy job: `kind` over `spec` and `data`, deterministic given `seed`.

    sweep: every flat parameter dict of `param_sets` (paths as in `auraquant.cta.strategy.spec`) is
      backtested; `top_k` best by `rank_by` (descending, NaN last, ties by trial index) get full artifacts.
    walkforward: `search` is the experiment layer's walk-forward config (passed through verbatim).
    train: a learned baseline's model trained per window of `search["walk_forward"]`, with the feature set and
      window selection in `train` (`auraquant.cta.cloud.training`).
    montecarlo: a block bootstrap of `param_sets[0]`'s daily returns in seeded chunks, sized by `montecarlo`
      (`auraquant.cta.cloud.montecarlo_job`).
    """

    _id_prefix = "job"

    schema_name: str = SCHEMA
    kind: JobKind
    spec: Spec
    data: DataRef
    param_sets: list[dict[str, int | float]] = Field(default_factory=list)
    search: dict[str, Any] | None = None
    seed: int = 0
    top_k: int = Field(3, ge=1)
    rank_by: str = "sharpe"
    engine: EngineVersion
    # Omitted when empty, so bundles of built-in-only specs keep the ids they always had.
    modules: list[ModuleRef] = Field(default_factory=list, exclude_if=lambda v: not v)
    train: dict[str, Any] | None = Field(None, exclude_if=lambda v: v is None)
    montecarlo: dict[str, Any] | None = Field(None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _kind_inputs(self) -> JobSpec:
        if self.kind == "sweep" and not self.param_sets:
            raise ValueError("a sweep job needs at least one parameter set")
        if self.kind == "walkforward" and not self.search:
            raise ValueError("a walkforward job needs its `search` config")
        if self.kind == "train" and not (self.search and self.search.get("walk_forward") and self.train
                                         and self.train.get("feature_set")):
            raise ValueError("a train job needs search.walk_forward and train.feature_set")
        if self.kind == "montecarlo" and not (self.montecarlo and len(self.param_sets) == 1):
            raise ValueError("a montecarlo job needs its `montecarlo` sizes and exactly one parameter set")
        if self.kind == "train" and self.modules:
            raise ValueError("train bundles run built-in modules only (the learned baselines); offload a workspace "
                             "module as a sweep, a walk-forward or a Monte Carlo")
        return self

    @property
    def size(self) -> int:
        """Bar-evaluations of the job's main work (bars x parameter sets), the unit of the cost model."""
        return self.data.bars * max(1, len(self.param_sets))


@dataclass
class Bundle:
    """An opened, verified bundle: the job, its bars and the sources of its workspace modules (by `(kind, name)`)."""

    job: JobSpec
    bars: pd.DataFrame
    modules: dict[tuple[str, str], bytes] = field(default_factory=dict)


def _canonical_bars(bars: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise BundleError(f"bars lack columns {missing}")
    out = bars[BAR_COLUMNS].reset_index(drop=True).copy()
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out


def make_job(bars: pd.DataFrame, spec: Spec, *, kind: JobKind = "sweep",
             param_sets: list[dict[str, int | float]] | None = None, search: dict[str, Any] | None = None,
             seed: int = 0, top_k: int = 3, rank_by: str = "sharpe", data_version_id: str | None = None,
             symbol: str = "", timeframe: str = "", modules: dict[tuple[str, str], bytes] | None = None,
             train: dict[str, Any] | None = None, montecarlo: dict[str, Any] | None = None) -> JobSpec:
    """A `JobSpec` for `bars` (hashing their values) under the current engine version; `modules` are the sources of
    the workspace modules the spec uses, by `(kind, name)` (their digests go into the job)."""
    b = _canonical_bars(bars)
    data = DataRef(data_version_id=data_version_id, symbol=symbol, timeframe=timeframe,
                   content_hash=bars_content_hash(b), bars=len(b), first=b["time"].iloc[0].isoformat(),
                   last=b["time"].iloc[-1].isoformat())
    return JobSpec(kind=kind, spec=spec, data=data, param_sets=list(param_sets or []), search=search,
                   seed=seed, top_k=top_k, rank_by=rank_by, engine=current_engine_version(),
                   modules=module_refs(modules or {}), train=train, montecarlo=montecarlo)


def write_bundle(job: JobSpec, bars: pd.DataFrame, out_dir: Path | str, *, tar: bool = True,
                 modules: dict[tuple[str, str], bytes] | None = None) -> Path:
    """Write the bundle under `out_dir`: `<job id>.tar` (default) or the directory `<job id>/`. Returns it.

    `modules` must hold exactly the sources `job.modules` lists (same digests)."""
    b = _canonical_bars(bars)
    if bars_content_hash(b) != job.data.content_hash:
        raise BundleError(f"bars do not match job {job.id}: content hash differs from the job's data ref")
    if module_refs(modules or {}) != job.modules:
        raise BundleError(f"module sources do not match job {job.id}: the job lists "
                          f"{[f'{m.kind}/{m.name}' for m in job.modules]} with other digests")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    job_bytes = canonical_json(job)
    buf = io.BytesIO()
    b.to_parquet(buf, index=False, compression="zstd")
    members = {JOB_FILE: job_bytes, BARS_FILE: buf.getvalue()}
    for ref in job.modules:
        members[ref.member] = (modules or {})[(ref.kind, ref.name)]
    if not tar:
        d = out_dir / job.id
        d.mkdir(exist_ok=True)
        for name, data in members.items():
            (d / name).write_bytes(data)
        return d
    path = out_dir / f"{job.id}.tar"
    write_tar(path, members)
    return path


def write_tar(path: Path, members: dict[str, bytes]) -> None:
    """A deterministic uncompressed tar of `members` (name -> bytes), written atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(members[name]))
    tmp.replace(path)


def read_members(path: Path | str) -> dict[str, bytes]:
    """The regular files of a bundle directory or tar (flat: no subdirectories, no links)."""
    path = Path(path)
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
    if not path.is_file():
        raise BundleError(f"no bundle at {path}")
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf.getmembers():
                if not m.isfile() or "/" in m.name or m.name.startswith("."):
                    raise BundleError(f"{path}: unexpected tar member {m.name!r} (bundles are flat files)")
                fh = tf.extractfile(m)
                assert fh is not None
                out[m.name] = fh.read()
    except tarfile.TarError as e:
        raise BundleError(f"{path} is neither a bundle directory nor a readable tar: {e}") from e
    return out


def open_bundle(path: Path | str) -> Bundle:
    """Open and verify a bundle: job.json parses, and the bars hash to the job's `content_hash`."""
    members = read_members(path)
    for need in (JOB_FILE, BARS_FILE):
        if need not in members:
            raise BundleError(f"{path}: missing {need}")
    try:
        job = JobSpec.model_validate(json.loads(members[JOB_FILE]))
    except ValueError as e:
        raise BundleError(f"{path}: invalid {JOB_FILE}: {e}") from e
    bars = pd.read_parquet(io.BytesIO(members[BARS_FILE]))
    if bars_content_hash(bars) != job.data.content_hash or len(bars) != job.data.bars:
        raise BundleError(f"{path}: {BARS_FILE} does not match the job's data hash (altered or wrong data)")
    return Bundle(job=job, bars=bars, modules=_checked_modules(path, job, members))


def _checked_modules(path: Path | str, job: JobSpec, members: dict[str, bytes]) -> dict[tuple[str, str], bytes]:
    """The module sources of a bundle, after checking them against the job's digests (refusing anything else)."""
    listed = {ref.member: ref for ref in job.modules}
    unknown = sorted(n for n in members if n not in (JOB_FILE, BARS_FILE) and n not in listed)
    if unknown:
        raise BundleError(f"{path}: members {unknown} are not listed in the job (only its modules may be shipped)")
    out = {}
    for name, ref in listed.items():
        if name not in members:
            raise BundleError(f"{path}: module {ref.kind}/{ref.name} is listed but missing")
        if hashlib.sha256(members[name]).hexdigest() != ref.sha256:
            raise BundleError(f"{path}: module {ref.kind}/{ref.name} was altered (sha256 differs from the job)")
        out[(ref.kind, ref.name)] = members[name]
    return out


def materialize_modules(bundle: Bundle, root: Path | str) -> Path | None:
    """Write the bundle's modules as a module root `<root>/cta_runtime/<kind>/<name>.py` and return it (the
    `extra_dir` the engine hands to the sandbox worker), or None when the bundle has none."""
    from auraquant.cta.cloud.batches import write_module_root

    return write_module_root(bundle.modules, Path(root)) if bundle.modules else None


def smoke_job(job: JobSpec, bars: pd.DataFrame, *, max_bars: int = 2000) -> tuple[JobSpec, pd.DataFrame]:
    """A tiny job of the same spec: the first parameter set on the last `max_bars` bars (a training job: its
    first window for one epoch, `training.smoke_training_job`; a Monte Carlo job: one small chunk).

    It exercises the whole path (install, data, spec, engine, output files) in seconds, so a bad spec or a
    broken environment fails before the real batch starts billing.
    """
    if job.kind == "train":
        from auraquant.cta.cloud.training import smoke_training_job

        return smoke_training_job(job, _canonical_bars(bars))
    if job.kind == "montecarlo":
        from auraquant.cta.cloud.montecarlo_job import smoke_montecarlo_job

        return smoke_montecarlo_job(job, _canonical_bars(bars))
    tail = _canonical_bars(bars).iloc[-max_bars:].reset_index(drop=True)
    smoke = make_job(tail, job.spec, kind="sweep", param_sets=job.param_sets[:1] or [{}], seed=job.seed,
                     top_k=1, rank_by=job.rank_by, data_version_id=job.data.data_version_id,
                     symbol=job.data.symbol, timeframe=job.data.timeframe)
    return smoke.model_copy(update={"modules": job.modules}), tail

