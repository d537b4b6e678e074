"""Sessions as append-only JSONL logs: one file per session, one record per line, never rewritten.

Records (`"t"` field): `meta` (first line), `msg` (a message appended to the history), `compact`
(history := [header] + history[remove:]), `replace` (history[index] := a stub of that message,
written when compaction cuts an oversized message), `turn` (usage and cost of one model call),
`trace` (a `RunTrace`), `stop` (why a run ended). Full texts of tool outputs that a size cap or a
stub cut live next to the log, in `<session_id>.outputs/` (see `aura.tools.limits.OutputStore`). Replaying the records in order gives back exactly the
history the writer held in memory after its last flushed write; a torn last line from a killed
process is ignored and cut off before the next append.

API keys never reach this file: records hold messages, usage and traces only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aura.runtime.messages import Message
from aura.runtime.trace import RunTrace
from aura.runtime.usage import Usage

FORMAT_VERSION = 1
_SESSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass
class SessionState:
    """Everything a log replays to."""

    session_id: str
    meta: dict[str, Any]
    messages: list[Message] = field(default_factory=list)
    traces: list[RunTrace] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model_turns: int = 0
    compactions: int = 0
    stops: list[dict[str, Any]] = field(default_factory=list)


class SessionLog:
    """Writer and reader of one session file. `fsync=True` also survives power loss (slower)."""

    def __init__(self, path: Path, session_id: str, *, fsync: bool = False) -> None:
        self.path = path
        self.session_id = session_id
        self._fsync = fsync
        self._fh: Any = None

    # -- writing ------------------------------------------------------------------------------
    def _open(self) -> Any:
        if self._fh is None:
            _cut_torn_tail(self.path)
            self._fh = open(self.path, "a", encoding="utf-8")  # kept open for appends
        return self._fh

    def append(self, record: dict[str, Any]) -> None:
        fh = self._open()
        fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        fh.flush()  # a killed process loses nothing that was appended
        if self._fsync:
            os.fsync(fh.fileno())

    def append_message(self, message: Message) -> None:
        self.append({"t": "msg", "m": message.model_dump(mode="json")})

    def append_compaction(self, header: Message, removed: int, tokens_before: int, tokens_after: int) -> None:
        self.append(
            {
                "t": "compact",
                "remove": removed,
                "header": header.model_dump(mode="json"),
                "tokens_before": tokens_before,
                "tokens_after": tokens_after,
            }
        )

    def append_replace(self, index: int, message: Message) -> None:
        self.append({"t": "replace", "index": index, "m": message.model_dump(mode="json")})

    @property
    def outputs_dir(self) -> Path:
        """Where the full texts of capped tool outputs of this session are kept."""
        return self.path.with_name(f"{self.session_id}.outputs")

    def append_turn(self, model: str, usage: Usage, cost_usd: float, purpose: str = "turn") -> None:
        self.append(
            {
                "t": "turn",
                "model": model,
                "usage": usage.model_dump(),
                "cost_usd": cost_usd,
                "purpose": purpose,
            }
        )

    def append_trace(self, trace: RunTrace) -> None:
        self.append({"t": "trace", **trace.model_dump(mode="json")})

    def append_stop(self, reason: str, detail: str) -> None:
        self.append({"t": "stop", "reason": reason, "detail": detail, "at": _now()})

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # -- reading ------------------------------------------------------------------------------
    def replay(self) -> SessionState:
        state = SessionState(session_id=self.session_id, meta={})
        for rec in _records(self.path):
            t = rec.get("t")
            if t == "meta":
                state.meta = rec
            elif t == "msg":
                state.messages.append(Message.model_validate(rec["m"]))
            elif t == "compact":
                state.messages = [Message.model_validate(rec["header"]), *state.messages[rec["remove"] :]]
                state.compactions += 1
            elif t == "replace":
                state.messages[rec["index"]] = Message.model_validate(rec["m"])
            elif t == "turn":
                state.usage = state.usage + Usage.model_validate(rec["usage"])
                state.cost_usd += rec["cost_usd"]
                if rec.get("purpose", "turn") == "turn":
                    state.model_turns += 1
            elif t == "trace":
                state.traces.append(RunTrace.model_validate({k: v for k, v in rec.items() if k != "t"}))
            elif t == "stop":
                state.stops.append(rec)
        return state


class SessionStore:
    """A directory of session logs (`.aura/sessions/` in a workspace)."""

    def __init__(self, root: Path | str, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self._fsync = fsync

    def path(self, session_id: str) -> Path:
        if not _SESSION_ID.match(session_id):
            raise ValueError(f"invalid session id {session_id!r}")
        return self.root / f"{session_id}.jsonl"

    def create(self, session_id: str | None = None, meta: dict[str, Any] | None = None) -> SessionLog:
        sid = session_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
        path = self.path(sid)
        if path.exists():
            raise FileExistsError(f"session {sid} already exists; open it to resume")
        self.root.mkdir(parents=True, exist_ok=True)
        log = SessionLog(path, sid, fsync=self._fsync)
        log.append(
            {"t": "meta", "session_id": sid, "format": FORMAT_VERSION, "created": _now(), **(meta or {})}
        )
        return log

    def open(self, session_id: str) -> SessionLog:
        path = self.path(session_id)
        if not path.exists():
            raise FileNotFoundError(f"no session {session_id} in {self.root}")
        return SessionLog(path, session_id, fsync=self._fsync)

    def latest(self) -> str | None:
        """Id of the most recently modified session (for a bare `--resume`)."""
        logs = (
            sorted(self.root.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if self.root.exists() else []
        )
        return logs[-1].stem if logs else None

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.jsonl")) if self.root.exists() else []


def _records(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn tail of a killed writer
            out.append(json.loads(line))
    return out


def _cut_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
