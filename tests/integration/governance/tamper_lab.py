"""A governed workspace built once (real walk-forward run, records in every state, an approver, a signed trust
list, a checkpoint) and copied for each tamper case, plus the attacker's tools.

The template holds: A frozen with a pending approval request, B in production (approved with the approver
key), C frozen and rejected (the rejection is the newest chain event), D a candidate. Every record is made
from the same run and pins its artifacts. `copy_lab` gives a test its own copy of the workspace and of the
user config dir (the workspace id, and so its checkpoint and trust pin, carry over).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auraquant.canonical import canonical_json
from auraquant.cta.data.service import synth
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.runner import run_experiment, run_from_store
from auraquant.cta.governance.approver import ApproverSigner, sign_decision
from auraquant.cta.governance.archive import Archive, envelope_digest
from auraquant.cta.governance.chain import append_event
from auraquant.cta.governance.keys import trust_key, trust_path, trust_sig_path
from auraquant.cta.governance.record import ARCHIVE_RECORD_SCHEMA, ArchiveRecord, GoalThresholds
from auraquant.cta.governance.signing import Signer, WitnessSigner, sign_envelope, witness_signer
from auraquant.cta.governance.userconfig import workspace_id
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.tools.governance import run_artifacts
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace
from tests.integration.governance.helpers import AGENT
from tests.unit.governance.factories import make_approver, passphrase_file

SPEC = Spec.model_validate({
    "name": "ema_tamper", "baseline": {"name": "ema_cross", "params": {"fast": 10, "slow": 30}},
    "search_space": {"baseline.fast": {"kind": "int", "low": 3, "high": 20},
                     "baseline.slow": {"kind": "int", "low": 25, "high": 80}}})
WF = WalkForwardConfig(train_bars=600, target_bars=300, n_windows=2)
SEARCH = SearchConfig(n_trials=4, batch_size=4, n_startup_trials=2, top_k=1)
NO_GOAL = GoalThresholds(thresholds={})


@dataclass
class Lab:
    ws: Workspace
    ids: dict[str, str]
    config: Path
    passphrase: Path
    run_id: str
    template: Path

    @property
    def archive(self) -> Archive:
        return Archive(self.ws.store, self.ws.aura)

    @property
    def run_dir(self) -> Path:
        return self.ws.artifacts / "runs" / self.run_id


def build_template(base: Path) -> dict[str, Any]:
    """Build the template under `base` (`ws/`, `config/`); returns the record ids and the run id."""
    root, config = base / "ws", base / "config"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AURAQUANT_CONFIG_DIR", str(config))
        mp.delenv("AURAQUANT_WITNESS_KEY", raising=False)
        init_workspace(root, demo_data=False)
        ws = Workspace.open(root)
        dv, _ = synth(ws.store, n=1500, seed=5)
        run, bars = run_from_store(ws, SPEC, dv.id, WF, SEARCH, seed=1, holdout_bars=200)
        result = run_experiment(ws, run, bars, executor="threads:1", robustness=None).result
        arch = Archive(ws.store, ws.aura)

        def record(family: str) -> ArchiveRecord:
            return ArchiveRecord(spec_id=SPEC.id, spec_hash=SPEC.id, data_version_id=dv.id, data_hash=dv.content_hash,
                                 run_id=run.id, family=family, params=result.windows[-1].params,
                                 metrics={"sharpe": result.oos.sharpe, "max_drawdown": result.oos.max_drawdown},
                                 trial_count=result.total_trials, model_id=AGENT.name,
                                 artifacts=run_artifacts(ws, run.id, result.artifacts, dv.id),
                                 created_at=datetime(2026, 1, 1, tzinfo=UTC))

        ids = {}
        for name in "ABCD":
            ids[name] = arch.submit_candidate(record(f"fam_{name.lower()}"), NO_GOAL, AGENT).id
            if name != "D":
                arch.freeze(ids[name], lambda r: {"sharpe": 1.0}, AGENT)
        approver = make_approver("ana")
        arch.approve(ids["B"], approver, note="reviewed")
        arch.request_approval(ids["A"], AGENT, "holdout confirms the OOS result")
        v1 = base / "trust_v1"
        v1.mkdir()
        shutil.copy2(trust_path(ws.aura), v1 / "trust.json")
        shutil.copy2(trust_sig_path(ws.aura), v1 / "trust.json.sig")
        extra = Ed25519PrivateKey.generate().public_key()
        trust_key(ws.aura, extra.public_bytes_raw().hex(), note="ci runner", approver=approver)
        arch.reject(ids["C"], approver, note="too short a holdout")
        assert arch.verify_all().ok
    return {"ids": ids, "run_id": run.id}


def copy_lab(template: Path, meta: dict[str, Any], dest: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    shutil.copytree(template / "ws", dest / "ws")
    shutil.copytree(template / "config", dest / "config")
    monkeypatch.setenv("AURAQUANT_CONFIG_DIR", str(dest / "config"))
    monkeypatch.delenv("AURAQUANT_WITNESS_KEY", raising=False)
    ws = Workspace.open(dest / "ws")
    return Lab(ws=ws, ids=dict(meta["ids"]), config=dest / "config", passphrase=passphrase_file(dest),
               run_id=meta["run_id"], template=template)


# -- the attacker's tools --------------------------------------------------------------------------------------------
def sql(lab: Lab, query: str, args: list[Any] | None = None) -> None:
    with lab.ws.store.transaction() as con:
        con.execute(query, args or [])


def row(lab: Lab, record_id: str) -> tuple[str, str]:
    with lab.ws.store.connect() as con:
        body, env = con.execute("SELECT body, envelope FROM archive_records WHERE id = ?", [record_id]).fetchone()
    return body, env


def forge_promotion(lab: Lab, record_id: str, decision: dict[str, Any] | None, *, name: str = "ana",
                    signer: Signer | None = None) -> None:
    """What someone holding the workspace files (witness key included) and the database can write: a promoted
    record signed by the witness key, a resolved request and a correctly hashed, witness-signed chain event.
    Only `decision` (the approver signature) is beyond their reach."""
    signer = signer or witness_signer(lab.ws.aura)
    body, env_text = row(lab, record_id)
    rec = json.loads(body)
    req = f"apr_forged_{record_id[-6:]}"
    now = datetime.now(UTC)
    promoted = ArchiveRecord.model_validate({**rec, "state": "production", "approval": {
        "request_id": req, "approved_by": name, "approved_at": now.isoformat(), "note": "", "decision": decision}})
    env = sign_envelope(ARCHIVE_RECORD_SCHEMA, promoted.model_dump(mode="json"), signer, now=now).to_json()
    from auraquant.cta.governance.actors import Actor

    with lab.ws.store.transaction() as con:
        con.execute("UPDATE archive_records SET state = 'production', body = ?, envelope = ? WHERE id = ?",
                    [canonical_json(promoted).decode(), env, record_id])
        con.execute("UPDATE approval_requests SET status = 'approved', resolved_by = ? WHERE record_id = ?",
                    [name, record_id])
        append_event(con, record_id=record_id, event_type="transition", from_state="frozen", to_state="production",
                     actor=Actor.human(name), payload={"envelope_digest": envelope_digest(env), "request_id": req,
                                                       "decision": "approved", "approval": decision},
                     signer=signer, now=now)


def decision_by(lab: Lab, key: Ed25519PrivateKey, record_id: str, name: str = "ana") -> dict[str, Any]:
    """An approval decision with the right shape, signed by `key` (whatever key the attacker has)."""
    _, env_text = row(lab, record_id)
    env = sign_decision(ApproverSigner(key, name), workspace_id=workspace_id(lab.ws.aura), record_id=record_id,
                        record_envelope_digest=envelope_digest(env_text), decision="approved", note="",
                        request_id=f"apr_forged_{record_id[-6:]}", now=datetime.now(UTC))
    return env.model_dump(mode="json", exclude_none=True)


def witness_private(lab: Lab) -> Ed25519PrivateKey:
    from auraquant.cta.governance.keys import load_witness_key

    return load_witness_key(lab.ws.aura)


def revoked_witness_append(lab: Lab) -> None:
    """The human rotates the witness key and revokes the old one; an attacker who kept the old key file
    (it stays under .aura/keys/retired/) appends a signed event with it."""
    from auraquant.cta.governance.actors import Actor
    from auraquant.cta.governance.keys import rotate_witness_key

    old = WitnessSigner(witness_private(lab))
    rotate_witness_key(lab.ws.aura, revoke_old=True, approver=make_approver())
    with lab.ws.store.transaction() as con:
        append_event(con, record_id=lab.ids["A"], event_type="approval_requested", from_state="frozen",
                     to_state="frozen", actor=Actor.agent("mallory"), payload={"request_id": "apr_x", "reason": "x"},
                     signer=old, now=datetime.now(UTC))
