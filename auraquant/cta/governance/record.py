"""`ArchiveRecord`: what research produced, in a form that can be signed, verified and promoted.

A record has two parts:
- the research result (identity): spec id and hash, data version id and its content hash, code hashes of
  the strategy modules, params, metrics, robustness statistics, trial count, parent records (lineage),
  the id of the model that proposed it, the strategy family, the run id, and buy and hold of the same
  instrument over the same out-of-sample span with the excess over it (`buy_and_hold`, the flat form of
  `auraquant.cta.backtest.metrics.BuyAndHold`; absent on records made before it existed, which keep their
  ids). The record id is the hash of this part only, so the same result is the same record in every state.
- `artifacts`: the sha256 of every file and store row the record presents (equity, trades, result, reports,
  the run and its result, the data content hash); signed with the record, not part of its identity;
- the lifecycle part (not identity): state, holdout metrics (scored once, at freeze), timestamps and
  the human approval.

Metrics, robustness and holdout are plain `{name: float | None}` maps filled by the experiment layer
(None = undefined, e.g. Sharpe with zero variance). Every number must be finite and every integer within
+-(2**53 - 1): anything else has no canonical JSON form and could not be signed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from auraquant.canonical import ContentModel, content_id

LifecycleState = Literal["candidate", "frozen", "production", "deprecated", "discarded"]
ParamValue = int | float | str | bool
_SAFE_INT = 2**53 - 1
ARCHIVE_RECORD_SCHEMA = "auraquant.archive_record/v1"


def _check_number(name: str, v: object) -> None:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return
    if isinstance(v, int) and abs(v) > _SAFE_INT:
        raise ValueError(f"{name}={v} is outside the exact JSON integer range +-(2**53-1)")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{name}={v} is not finite; store undefined values as None")


class Approval(BaseModel):
    """Who approved a promotion to production, when, through which request, and the proof: `decision`, the
    approver's signed decision envelope (`governance.approver.sign_decision`). `approved_by` is the name of
    the approver key that signed it; without a valid `decision` the production state does not verify."""

    model_config = {"frozen": True, "extra": "forbid"}

    request_id: str
    approved_by: str
    approved_at: datetime
    note: str = ""
    decision: dict[str, Any] | None = None


class ArchiveRecord(ContentModel):
    """One archived research result and its lifecycle state. See the module docstring."""

    _id_prefix = "rec"
    # `artifacts` pins the files that show the result, not the result: it is signed but not identity (the
    # same result written by another pyarrow version is still the same record).
    _id_exclude = frozenset({"state", "holdout", "created_at", "frozen_at", "approval", "closed_at", "artifacts"})

    spec_id: str
    spec_hash: str
    data_version_id: str
    data_hash: str
    run_id: str | None = None
    family: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    code_hashes: dict[str, str] = Field(default_factory=dict)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    metrics: dict[str, float | None]
    robustness: dict[str, float | None] = Field(default_factory=dict)
    trial_count: int = Field(ge=1)
    parents: list[str] = Field(default_factory=list)
    model_id: str
    buy_and_hold: dict[str, float | None] | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)  # reference -> sha256, see governance.evidence
    # The significance evidence (auraquant.cta.experiment.gates): ledger DSR of the session and workspace
    # with the counts and trial Sharpe variance used, PBO/SPA and how their trials were chosen, OOS
    # trades, the gates applied, `label` ("significant" / "not significant") and the failed gates.
    significance: dict[str, float | int | str | bool | None] = Field(default_factory=dict)

    state: LifecycleState = "candidate"
    holdout: dict[str, float | None] | None = None
    created_at: datetime
    frozen_at: datetime | None = None
    approval: Approval | None = None
    closed_at: datetime | None = None  # when it was discarded or deprecated

    @property
    def id(self) -> str:
        """The content id of the research-result part. A record without buy and hold or with an empty
        `significance` (records made before those fields existed) hashes exactly as before, so its stored id
        stays valid."""
        exclude = set(self._id_exclude) | ({"buy_and_hold"} if self.buy_and_hold is None else set()) \
            | ({"significance"} if not self.significance else set())
        return content_id(self._id_prefix, self.model_dump(mode="json", exclude=exclude))

    @field_validator("params", "metrics", "robustness", "holdout", "buy_and_hold", "significance")
    @classmethod
    def _finite(cls, v: Mapping[str, object] | None) -> Mapping[str, object] | None:
        for name, value in (v or {}).items():
            _check_number(name, value)
        return v

    @field_validator("trial_count")
    @classmethod
    def _safe_count(cls, v: int) -> int:
        _check_number("trial_count", v)
        return v


class Threshold(BaseModel):
    """Inclusive bounds on one metric (e.g. sharpe min 1.2; max_drawdown min -0.15)."""

    model_config = {"frozen": True, "extra": "forbid"}

    min: float | None = None
    max: float | None = None


class GoalThresholds(BaseModel):
    """The goal's metric thresholds; a record becomes a candidate only when it meets all of them."""

    model_config = {"frozen": True, "extra": "forbid"}

    thresholds: dict[str, Threshold]

    def failures(self, metrics: Mapping[str, float | None]) -> list[str]:
        """Human-readable reasons the metrics miss the goal (empty = meets it). Missing/undefined fails."""
        out = []
        for name, t in sorted(self.thresholds.items()):
            value = metrics.get(name)
            if value is None:
                out.append(f"{name} is missing or undefined")
                continue
            if t.min is not None and value < t.min:
                out.append(f"{name}={value:g} < {t.min:g}")
            if t.max is not None and value > t.max:
                out.append(f"{name}={value:g} > {t.max:g}")
        return out


def holdout_look_text(holdout: Mapping[str, float | None] | None) -> str:
    """One line saying which look at its sealed holdout a record's holdout score was (`holdout_look` in the
    holdout map: 1 = the first read of those bars; k = k-1 earlier scorings of the same content)."""
    if not holdout:
        return "holdout not scored"
    look = holdout.get("holdout_look")
    if look is None:
        return "holdout look not recorded (scored before looks were counted)"
    k = int(look)
    if k == 1:
        return "holdout look 1: the first read of these sealed bars"
    return (f"holdout look {k}: these sealed bars were scored {k - 1} time(s) before; "
            "this holdout is no longer an untouched test")


def code_hashes(modules: Iterable[str | Path]) -> dict[str, str]:
    """sha256 of the source bytes of each module (dotted name, resolved via the import system) or file."""
    out = {}
    for m in modules:
        if isinstance(m, Path):
            out[str(m)] = hashlib.sha256(m.read_bytes()).hexdigest()
            continue
        spec = importlib.util.find_spec(m)
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise ValueError(f"cannot locate the source of module {m!r}")
        out[m] = hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()
    return out
