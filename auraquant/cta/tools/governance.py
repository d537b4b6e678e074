"""Governance tools: archive candidates from finished runs, freeze, request (never grant) approval, verify
signed artifacts, and the research memory and pattern namespaces.

Reads verify first: `archive_list`, `archive_show`, `pattern_store` and pattern searches through
`memory_search` check each record (signature, chain and checkpoint, artifact digests) and return a record
that fails as `verified: false` with the reason and without its numbers, so the agent is never handed an
edited row as evidence. A candidate's signed body pins the sha256 of the run's artifacts and data.

Every call runs inside `governance.actors.agent_session(model_id)`, so the governance layer itself
refuses any human-only operation (promotion, resolving a request) that a tool might reach; and no tool
here calls `Archive.approve` or `Archive.reject` at all. Promotion happens only through
`auraquant approve ID`, run by a person.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.backtest.metrics import buy_and_hold_metrics
from auraquant.cta.experiment.holdout import HoldoutAlreadyScored, holdout_scorer
from auraquant.cta.experiment.models import RESULT_KIND, RUN_KIND
from auraquant.cta.experiment.runner import run_dir
from auraquant.cta.experiment.significance import assess_run, freeze_gate
from auraquant.cta.governance import evidence
from auraquant.cta.governance import memory as gmem
from auraquant.cta.governance.actors import Actor, agent_session
from auraquant.cta.governance.approval import ApprovalRequest, ApprovalStatus
from auraquant.cta.governance.approval import approval_request as _request
from auraquant.cta.governance.approval import approval_status as _status
from auraquant.cta.governance.archive import Archive, ArchiveVerification, RecordCheck
from auraquant.cta.governance.errors import GatesNotMet, GovernanceError, ThresholdsNotMet
from auraquant.cta.governance.record import ArchiveRecord, GoalThresholds, LifecycleState, Threshold
from auraquant.cta.tools import modules, state
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.tools.experiment import MC_KIND, MonteCarloRecord, run_result
from auraquant.store import NotFound
from auraquant.workspace import Workspace

CAT = "governance"
_OOS_METRICS = ("total_return", "ann_return", "sharpe", "sortino", "max_drawdown", "dsr", "trades", "n_days")
MemoryNamespace = Literal["research", "patterns", "agent_state", "iter_state"]
_NAMESPACES = {"research": gmem.NS_RESEARCH, "patterns": gmem.NS_PATTERNS, "agent_state": state.AGENT_STATE,
               "iter_state": state.ITER_STATE}


class RecordSummary(BaseModel):
    """A record as the agent may see it: numbers only when `verified` (else empty, with `reason`)."""

    record_id: str
    state: LifecycleState
    family: str
    spec_id: str
    run_id: str | None
    signed: bool
    verified: bool = True
    reason: str | None = None
    metrics: dict[str, float | None]
    holdout: dict[str, float | None] | None
    trial_count: int
    buy_and_hold: dict[str, float | None] | None = None
    significance: str | None = None
    failed_gates: str | None = None
    dsr: float | None = None
    dsr_count: str | None = None


class RecordDetail(BaseModel):
    record: dict[str, Any] | None
    signed: bool
    verified: bool
    reason: str | None = None
    events: list[dict[str, Any]]


class PatternResult(BaseModel):
    record_id: str
    stored: bool
    key: str | None
    reason: str


def _archive(ctx: Ctx) -> Archive:
    return Archive(ctx.deps.workspace.store, ctx.deps.workspace.aura)


def dsr_count_text(sig: dict[str, Any]) -> str | None:
    """`session N=…, Var(SR)=…` — which ledger count and trial-Sharpe variance a record's DSR used."""
    if not sig or sig.get("dsr_scope") is None:
        return None
    var = sig.get("dsr_sharpe_variance")
    return (f"{sig['dsr_scope']} N={sig.get('dsr_n_trials')}, Var(SR)="
            + (f"{var:.3g}" if isinstance(var, float) else "n/a"))


def _summary(rec: ArchiveRecord, signed: bool, check: RecordCheck | None = None) -> RecordSummary:
    if check is not None and not check.ok:  # an unverified row never reaches the agent as numbers
        # (the row's id, not the edited body's content id)
        return RecordSummary(record_id=check.record_id, state=check.state, family=rec.family, spec_id=rec.spec_id,  # type: ignore[arg-type]
                             run_id=rec.run_id, signed=signed, verified=False, reason=check.problem, metrics={},
                             holdout=None, trial_count=1)
    sig = rec.significance
    return RecordSummary(record_id=rec.id, state=rec.state, family=rec.family, spec_id=rec.spec_id,
                         run_id=rec.run_id, signed=signed, metrics=rec.metrics, holdout=rec.holdout,
                         trial_count=rec.trial_count, buy_and_hold=rec.buy_and_hold,
                         significance=sig.get("label") if sig else None,  # type: ignore[arg-type]
                         failed_gates=(sig.get("failed_gates") or None) if sig else None,  # type: ignore[arg-type]
                         dsr=_finite(sig.get("dsr")) if sig else None, dsr_count=dsr_count_text(sig))


def run_artifacts(ws: Workspace, run_id: str, artifacts_dir: str, data_version_id: str) -> dict[str, str]:
    """The signed `artifacts` map of a record made from run `run_id`: the files a report of it shows
    (stitched equity, trades, selection, trials, per-window reports, result; for a learned baseline each
    window's model manifest, weights, predictions and extra trials), the run and its result rows,
    and the data version's content hash (see `governance.evidence`). Raises `ToolFailure` when the data no
    longer matches its hash."""
    art = run_dir(ws, run_id)  # the same precedence as the report, which must find these files pinned
    if not (art / "oos_equity.parquet").is_file():
        art = Path(artifacts_dir)
    files = [art / n for n in ("oos_equity.parquet", "oos_trades.parquet", "selection.parquet", "trials.parquet",
                               "reports.json", "result.json")]
    files += sorted(art.glob("windows/w*_model/*"))  # a learned baseline's per-window model artifacts
    try:
        return evidence.collect(ws.root, ws.store, files, [(RUN_KIND, run_id), (RESULT_KIND, run_id)],
                                data_version_id)
    except ValueError as exc:
        raise ToolFailure(f"run {run_id}: {exc}") from None


def _governed(ctx: Ctx, fn: Any) -> Any:
    """Run `fn()` as the agent (human-only operations refuse) and turn governance errors into tool errors."""
    with agent_session(ctx.deps.model_id):
        try:
            return fn()
        except (ThresholdsNotMet, GatesNotMet) as exc:
            raise ToolFailure(str(exc), details={"failures": exc.failures}) from None
        except NotFound as exc:
            raise ToolFailure(f"{exc}; archive_list shows the records") from None
        except (GovernanceError, HoldoutAlreadyScored) as exc:
            raise ToolFailure(f"{type(exc).__name__}: {exc}") from None


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and v == v and abs(v) != float("inf") else None


@tool(category=CAT, timeout_s=60)
def archive_candidate(ctx: Ctx, run_id: str, family: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
                      goal: dict[str, Threshold] = Field(min_length=1), parents: list[str] | None = None
                      ) -> RecordSummary:
    """Archive a finished walk-forward run as a signed candidate, if its OOS metrics meet the goal.

    The record's DSR deflates by the trial ledger: every trial this session (and the workspace) evaluated on
    the same data content, not just this run's. The record is judged against the workspace's significance
    gates (DSR, PBO, SPA p, OOS trades); below them it is archived labelled "not significant" and can never
    be frozen. Everything in the record comes from the store: OOS metrics of the run, its PBO/SPA and Monte
    Carlo results (plus any stored with montecarlo_run), trial count, spec and data hashes, module code hashes, the last window's params, and
    your model id as proposer; buy and hold over the same OOS span (and the excess over it, also in the
    metrics as bh_* and excess_return / excess_sharpe). `goal` maps metric -> {min, max}, e.g. {"sharpe": {"min": 1.2},
    "max_drawdown": {"min": -0.15}}. `parents` are earlier record ids this one descends from."""
    store = ctx.deps.workspace.store
    run, res = run_result(ctx, run_id)
    spec = run.spec
    if run.data.data_version_id is None:
        raise ToolFailure(f"run {run_id} was made from ad-hoc bars; archive runs over stored data versions")
    dv = state.data_version(store, run.data.data_version_id)
    sig = assess_run(store, run, res, ctx.session_id, state.gates(ctx.deps.workspace.config))
    oos = res.oos.model_dump()
    metrics = {k: _finite(oos.get(k)) for k in _OOS_METRICS}
    metrics.update(buy_and_hold_metrics(res.oos.buy_and_hold))  # a goal may require beating buy and hold
    metrics["dsr"] = _finite(sig["dsr"])  # the ledger DSR: a goal on DSR is judged with the true trial count
    robustness: dict[str, float | None] = {"dsr": _finite(sig["dsr"]),
                                           "dsr_sharpe_variance": _finite(sig["dsr_sharpe_variance"]),
                                           "dsr_run": _finite(res.oos.dsr),
                                           "dsr_run_sharpe_variance": _finite(res.oos.dsr_sharpe_variance)}
    for key in ("pbo", "spa_consistent_median"):
        if key in res.robustness:
            robustness[key] = _finite(res.robustness[key])
    summaries = {name: res.robustness[name] for name in ("mc_block", "mc_trades") if name in res.robustness}
    for mc in store.list_objects(MC_KIND, MonteCarloRecord):
        if mc.source_id == run_id:
            summaries[f"mc_{mc.method}_{mc.n_sims}_{mc.seed}"] = mc.summary
    for name, summary in summaries.items():
        for stat, vals in summary.items():
            for q in ("ci_low", "median", "ci_high"):
                robustness[f"{name}_{stat}_{q}"] = _finite(vals[q])
    code = {}
    for kind, ref in modules.spec_refs(spec):
        src = modules.source_of(ctx.deps.runtime_dir, kind, ref.name)
        if src is None:
            raise ToolFailure(f"module {kind}/{ref.name} of the run's Spec no longer exists")
        code[f"{kind}/{ref.name}"] = hashlib.sha256(src.encode("utf-8")).hexdigest()
    record = ArchiveRecord(
        spec_id=spec.id, spec_hash=sha256_hex(canonical_json(spec)), data_version_id=dv.id,
        data_hash=dv.content_hash, run_id=run_id, family=family, code_hashes=code,
        params=dict(res.windows[-1].params) if res.windows else {}, metrics=metrics, robustness=robustness,
        trial_count=max(int(sig["dsr_n_trials"] or 0), res.total_trials, 1), parents=parents or [],
        model_id=ctx.deps.model_id, significance=sig,
        buy_and_hold=None if res.oos.buy_and_hold is None else res.oos.buy_and_hold.numbers(),
        artifacts=run_artifacts(ctx.deps.workspace, run_id, res.artifacts, dv.id), created_at=datetime.now(UTC))
    goal_t = GoalThresholds(thresholds=goal)
    stored = _governed(ctx, lambda: _archive(ctx).submit_candidate(record, goal_t, Actor.agent(ctx.deps.model_id)))
    arch = _archive(ctx)
    return _summary(stored, signed=arch.get(stored.id).signed, check=_governed(ctx, lambda: arch.verify(stored.id)))


@tool(category=CAT, timeout_s=30)
def archive_list(ctx: Ctx, state_filter: LifecycleState | None = None) -> list[RecordSummary]:
    """Archived records (optionally in one lifecycle state), oldest first, with OOS and holdout metrics.
    Each is verified first; one that fails comes back `verified: false` with the reason and no numbers."""
    rows = _governed(ctx, lambda: _archive(ctx).checked(state_filter))
    return [_summary(s.record, s.signed, c) for s, c in rows if s is not None] + [
        RecordSummary(record_id=c.record_id, state=c.state, family="?", spec_id="?", run_id=None,  # type: ignore[arg-type]
                      signed=c.signed, verified=False, reason=c.problem, metrics={}, holdout=None, trial_count=1)
        for s, c in rows if s is None]


@tool(category=CAT, timeout_s=30)
def archive_show(ctx: Ctx, record_id: str) -> RecordDetail:
    """One archived record in full (only when it verifies: else `record` is null and `reason` says why),
    whether it is signed, and its hash-chained lifecycle events."""
    arch = _archive(ctx)
    check = _governed(ctx, lambda: arch.verify(record_id))
    stored = _governed(ctx, lambda: arch.get(record_id))
    events = [{"seq": e.seq, "type": e.event_type, "from": e.from_state, "to": e.to_state, "actor": e.actor,
               "at": e.at, "signed": e.signature is not None} for e in arch.events(record_id)]
    return RecordDetail(record=stored.record.model_dump(mode="json") if check.ok else None, signed=stored.signed,
                        verified=check.ok, reason=check.problem, events=events)


@tool(category=CAT, timeout_s=600, exclusive=True)
def archive_freeze(ctx: Ctx, record_id: str) -> RecordSummary:
    """Freeze a converged candidate: verify its signature (fail closed), check the significance gates, score
    the sealed holdout once, sign.

    The gates (workspace config: session DSR, PBO, SPA p, OOS trades) are re-checked first with the trial
    ledger's current counts; a record below any of them is refused, naming each failed gate, and its holdout
    stays sealed. The holdout is scored exactly once, here; its metrics are stored in the record. A frozen
    record can then be put forward with approval_request."""
    arch = _archive(ctx)
    ws = ctx.deps.workspace
    scorer = holdout_scorer(ws)
    gate = freeze_gate(ws.store, state.gates(ws.config))
    frozen = _governed(ctx, lambda: arch.freeze(record_id, scorer, Actor.agent(ctx.deps.model_id), gates=gate))
    return _summary(frozen, signed=True)


@tool(category=CAT, timeout_s=30)
def approval_request(ctx: Ctx, record_id: str, reason: str = Field(min_length=10, max_length=2000)
                     ) -> ApprovalRequest:
    """Ask a human to promote a frozen record to production. You cannot approve it yourself; a person runs
    `auraquant approve ID`. Idempotent while a request is pending. State the evidence (cite ids) in `reason`."""
    arch = _archive(ctx)
    return _governed(ctx, lambda: _request(arch, record_id, ctx.deps.model_id, reason))


@tool(category=CAT, timeout_s=30)
def approval_status(ctx: Ctx, record_or_request_id: str) -> ApprovalStatus:
    """Read-only state of a record's approval (by record id or `apr_` request id) and the next step."""
    arch = _archive(ctx)
    return _governed(ctx, lambda: _status(arch, record_or_request_id))


@tool(category=CAT, timeout_s=60)
def artifact_verify(ctx: Ctx, record_id: str | None = None) -> RecordCheck | ArchiveVerification:
    """Verify signed artifacts against the pinned trusted keys only (never a key carried in the artifact):
    one record, or with no id the whole archive and its hash-chained lifecycle log."""
    arch = _archive(ctx)
    if record_id is None:
        return _governed(ctx, arch.verify_all)
    return _governed(ctx, lambda: arch.verify(record_id))


@tool(category=CAT, timeout_s=10)
def memory_store(ctx: Ctx, key: str = Field(min_length=1, max_length=200), value: Any = None) -> dict[str, Any]:
    """Store a research-memory note under `key` (JSON value, replaces an older one): falsified hypotheses,
    lessons, next directions. Cite stored ids for any number; memory is not evidence by itself."""
    if value is None:
        raise ToolFailure("value is required")
    text = json.dumps(value, default=str)
    if len(text) > 20_000:
        raise ToolFailure(f"value is {len(text)} characters; keep notes under 20,000")
    gmem.remember(ctx.deps.workspace.store, key, value)
    return {"namespace": gmem.NS_RESEARCH, "key": key, "chars": len(text)}


@tool(category=CAT, timeout_s=10)
def memory_search(ctx: Ctx, query: str = "", namespace: MemoryNamespace = "research",
                  limit: int = Field(20, ge=1, le=200)) -> list[dict[str, Any]]:
    """Search a memory namespace (research notes, patterns, saved agent states, iteration states) for
    entries whose key or JSON value contains every word of `query` (case-insensitive; empty = all).
    Pattern entries are checked against their signed records first: an entry whose records do not verify,
    or whose numbers differ from them, comes back `verified: false` with the reason and without its value."""
    words = query.lower().split()
    out = []
    entries = ctx.deps.workspace.store.memory_list(_NAMESPACES[namespace])
    checks = (_governed(ctx, lambda: gmem.verify_patterns(_archive(ctx), entries)) if namespace == "patterns"
              else {})
    for key, body in entries.items():
        hay = (key + " " + json.dumps(body, default=str)).lower()
        if all(w in hay for w in words):
            problem = checks.get(key)
            out.append({"key": key, "value": body} if namespace != "patterns" else
                       {"key": key, "verified": problem is None, "value": body} if problem is None else
                       {"key": key, "verified": False, "reason": problem})
        if len(out) >= limit:
            break
    return out


@tool(category=CAT, timeout_s=10)
def pattern_store(ctx: Ctx, record_id: str) -> PatternResult:
    """Record a signed archive record as a `profitable-<family>` pattern. Accepted only when the record
    verifies and the engine's stored OOS Sharpe of it is above 1.5; you cannot write a pattern by assertion."""
    arch = _archive(ctx)
    stored = _governed(ctx, lambda: arch.get(record_id))
    if not stored.signed:
        return PatternResult(record_id=record_id, stored=False, key=None, reason="record is unsigned")
    check = _governed(ctx, lambda: arch.verify(record_id))
    if not check.ok:
        return PatternResult(record_id=record_id, stored=False, key=None, reason=f"UNVERIFIED: {check.problem}")
    key = gmem.record_pattern(ctx.deps.workspace.store, stored.record)
    sharpe = stored.record.metrics.get("sharpe")
    reason = (f"stored sharpe {sharpe} > {gmem.PROFITABLE_SHARPE}" if key else
              f"stored sharpe {sharpe} is not above {gmem.PROFITABLE_SHARPE}")
    return PatternResult(record_id=record_id, stored=key is not None, key=key, reason=reason)


TOOLS = [archive_candidate, archive_list, archive_show, archive_freeze, approval_request, approval_status,
         artifact_verify, memory_store, memory_search, pattern_store]
