"""Governance commands: `archive list|show|verify|export`, `keys show|trust|revoke|rotate`, `approve`, `reject`.

Mount with `register(app)` (adds the `archive` and `keys` groups and the top-level `approve` / `reject`).
`approve` and `reject` are the only way a promotion decision is made: they ask for interactive confirmation
(`--yes` for scripts) and record the login name (`getpass.getuser()`) and the time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from auraquant.console import cli_errors, console, err_console, fail, print_json, say, table
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.archive import Archive, StoredRecord
from auraquant.cta.governance.errors import GovernanceError, SignatureInvalid
from auraquant.cta.governance.keys import (
    TrustList,
    revoke_key,
    rotate_witness_key,
    trust_key,
    witness_status,
)
from auraquant.cta.governance.record import ArchiveRecord
from auraquant.workspace import Workspace

archive_app = typer.Typer(no_args_is_help=True, help="Signed research records: list, show, verify, export.")
keys_app = typer.Typer(no_args_is_help=True, help="Witness key and pinned trust list (.aura/config/trust.json).")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (stored with the decision).")]


def register(app: typer.Typer) -> None:
    """Mount every governance command on the top-level `auraquant` app."""
    app.add_typer(archive_app, name="archive")
    app.add_typer(keys_app, name="keys")
    app.command("approve")(approve)
    app.command("reject")(reject)


def _governance_errors[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Render governance refusals like every other known error: one loud line (or JSON), exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GovernanceError as e:
            fail(str(e), as_json=bool(kwargs.get("json_out")), kind=type(e).__name__)
            raise AssertionError("unreachable") from e

    return wrapper


def _archive(workspace: Path) -> Archive:
    ws = Workspace.open(workspace)
    return Archive(ws.store, ws.aura)


def _summary(s: StoredRecord) -> dict[str, Any]:
    r = s.record
    return {"id": r.id, "state": r.state, "family": r.family, "model_id": r.model_id, "spec_id": r.spec_id,
            "data_version_id": r.data_version_id, "sharpe": r.metrics.get("sharpe"), "trial_count": r.trial_count,
            "signed": s.signed, "key_id": s.envelope.key_id if s.envelope else None,
            "created_at": r.created_at.isoformat()}


@archive_app.command("list")
@cli_errors
@_governance_errors
def archive_list(
    state: Annotated[str | None, typer.Option(help="Only records in this state.")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Archived records, oldest first."""
    records = [_summary(s) for s in _archive(workspace).list_records(state)]  # type: ignore[arg-type]
    if json_out:
        print_json(records)
        return
    console.print(table("archive", ["id", "state", "family", "sharpe", "trials", "signed", "model"],
                        [(r["id"], r["state"], r["family"], _fmt(r["sharpe"]), r["trial_count"],
                          r["key_id"] or "[red]UNSIGNED[/]", r["model_id"]) for r in records]))


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _buy_and_hold(r: ArchiveRecord) -> str:
    """The record's signed buy-and-hold comparison (same instrument, same out-of-sample span)."""
    if r.buy_and_hold is None:
        return "not recorded"
    b = r.buy_and_hold
    return (f"return={_fmt(b.get('total_return'))}, sharpe={_fmt(b.get('sharpe'))}, "
            f"max_drawdown={_fmt(b.get('max_drawdown'))}; excess return={_fmt(b.get('excess_return'))}, "
            f"excess sharpe={_fmt(b.get('excess_sharpe'))}")


@archive_app.command("show")
@cli_errors
@_governance_errors
def archive_show(record_id: str, workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """One record: contents, verification, approval status and its lifecycle events."""
    arch = _archive(workspace)
    stored = arch.get(record_id)
    check = arch.verify(record_id)
    status = arch.approval_status(record_id)
    events = arch.events(record_id)
    if json_out:
        print_json({"record": stored.record, "signed": stored.signed,
                    "envelope": stored.envelope.model_dump(exclude={"body"}) if stored.envelope else None,
                    "verification": check, "approval": status, "events": events})
        return
    r = stored.record
    rows: list[tuple[str, Any]] = [
        ("state", r.state), ("family", r.family), ("spec", f"{r.spec_id} ({r.spec_hash[:12]})"),
        ("data", f"{r.data_version_id} ({r.data_hash[:12]})"), ("run", r.run_id), ("model", r.model_id),
        ("trials", r.trial_count), ("parents", ", ".join(r.parents) or "-"),
        ("params", ", ".join(f"{k}={v}" for k, v in sorted(r.params.items())) or "-"),
        ("metrics", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.metrics.items()))),
        ("robustness", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.robustness.items())) or "-"),
        ("buy and hold", _buy_and_hold(r)),
        ("holdout", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted((r.holdout or {}).items())) or "not scored"),
        ("approval", f"{r.approval.approved_by} at {r.approval.approved_at:%Y-%m-%d %H:%M:%S} UTC"
         if r.approval else status.next_step),
        ("signature", f"[green]valid[/] (key {check.key_id}, {check.signed_at})" if check.ok
         else f"[bold red]REFUSED[/]: {check.problem}"),
    ]
    console.print(table(f"{r.id}", ["field", "value"], rows))
    console.print(table("lifecycle events", ["seq", "at", "event", "from", "to", "actor"],
                        [(e.seq, e.at, e.event_type, e.from_state, e.to_state, f"{e.actor_kind}:{e.actor}")
                         for e in events]))


@archive_app.command("verify")
@cli_errors
@_governance_errors
def archive_verify(
    record_id: Annotated[str | None, typer.Argument(help="One record (default: the chain and every record).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Verify an exported artifact file instead.")]
    = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Verify signatures against the pinned keys and the lifecycle chain. Exit code 1 if anything fails."""
    arch = _archive(workspace)
    if file is not None:
        try:
            rec = arch.verify_artifact(file.read_bytes())
        except SignatureInvalid as e:
            fail(f"REFUSED {file}: {e}", as_json=json_out, kind="SignatureInvalid")
            return
        if json_out:
            print_json({"ok": True, "file": str(file), "record_id": rec.id, "state": rec.state})
        else:
            console.print(f"[green]valid[/] {file}: {rec.id} ({rec.state})")
        return
    if record_id is not None:
        check = arch.verify(record_id)
        if json_out:
            print_json(check)
        elif check.ok:
            console.print(f"[green]valid[/] {record_id} ({check.state}) signed by {check.key_id} at {check.signed_at}")
        else:
            err_console.print(f"[bold red]REFUSED[/] {record_id}: {check.problem}", highlight=False)
        raise typer.Exit(0 if check.ok else 1)
    result = arch.verify_all()
    if json_out:
        print_json(result)
        raise typer.Exit(0 if result.ok else 1)
    chain = result.chain
    console.print(("[green]chain intact[/]" if chain.ok else "[bold red]CHAIN BROKEN[/]")
                  + f": {chain.events} events, head {chain.head_seq}")
    for p in chain.problems:
        err_console.print(f"  [red]problem:[/] {p}", highlight=False)
    for w in chain.warnings:
        err_console.print(f"  [yellow]warning:[/] {w}", highlight=False)
    for c in result.consistency:
        err_console.print(f"  [red]inconsistent:[/] {c}", highlight=False)
    console.print(table("records", ["id", "state", "verdict"],
                        [(c.record_id, c.state, f"valid ({c.key_id})" if c.ok else f"REFUSED: {c.problem}")
                         for c in result.records]))
    raise typer.Exit(0 if result.ok else 1)


@archive_app.command("export")
@cli_errors
@_governance_errors
def archive_export(
    record_id: str,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File or directory "
                                             "(default: .aura/artifacts/governance/).")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Write the verified signed artifact (canonical JSON). Refuses unsigned or invalid artifacts."""
    ws = Workspace.open(workspace)
    dest = out
    if dest is None:
        dest = ws.artifacts / "governance"
        dest.mkdir(parents=True, exist_ok=True)
    path = Archive(ws.store, ws.aura).export(record_id, dest)
    if json_out:
        print_json({"record_id": record_id, "path": str(path)})
    else:
        say(f"exported {record_id} -> {path}")


def _confirm_or_abort(question: str, yes: bool, json_out: bool) -> None:
    if yes:
        return
    if not typer.confirm(question, default=False, err=True):
        fail("not confirmed; nothing changed", as_json=json_out, kind="Aborted")


@cli_errors
@_governance_errors
def approve(
    record_id: Annotated[str, typer.Argument(help="The frozen record to promote to production.")],
    yes: YesOpt = False,
    note: NoteOpt = "",
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Promote a frozen record to production (human only; the signature is verified first, fail closed)."""
    arch = _archive(workspace)
    stored = arch.get(record_id)
    check = arch.verify(record_id)
    who = Actor.human()
    if not json_out:
        r = stored.record
        console.print(table(f"approve {record_id} -> production?", ["field", "value"], [
            ("state", r.state), ("family", r.family), ("model", r.model_id),
            ("metrics", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.metrics.items()))),
            ("buy and hold", _buy_and_hold(r)),
            ("holdout", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted((r.holdout or {}).items())) or "not scored"),
            ("signature", "valid" if check.ok else f"REFUSED: {check.problem}"), ("approver", who.name)]))
    if not check.ok:  # fail closed before asking anyone anything
        raise SignatureInvalid(f"refusing to promote {record_id}: {check.problem}")
    _confirm_or_abort(f"Promote {record_id} to production as {who.name}?", yes, json_out)
    promoted = arch.approve(record_id, who, note=note)
    assert promoted.approval is not None
    if json_out:
        print_json({"record_id": record_id, "state": promoted.state, "approved_by": promoted.approval.approved_by,
                    "approved_at": promoted.approval.approved_at, "request_id": promoted.approval.request_id})
    else:
        console.print(f"[green]{record_id} promoted to production[/] by {who.name} at "
                      f"{promoted.approval.approved_at:%Y-%m-%d %H:%M:%S} UTC")


@cli_errors
@_governance_errors
def reject(
    record_id: Annotated[str, typer.Argument(help="The frozen record whose promotion is declined.")],
    yes: YesOpt = False,
    note: NoteOpt = "",
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Decline promotion of a frozen record (it stays frozen; the decision is recorded and chained)."""
    arch = _archive(workspace)
    who = Actor.human()
    _confirm_or_abort(f"Reject promotion of {record_id} as {who.name}?", yes, json_out)
    req = arch.reject(record_id, who, note=note)
    if json_out:
        print_json(req)
    else:
        console.print(f"{record_id}: promotion [red]rejected[/] by {req.resolved_by} at "
                      f"{req.resolved_at:%Y-%m-%d %H:%M:%S} UTC (request {req.id})")


# -- keys ----------------------------------------------------------------------------------------------------------
@keys_app.command("show")
@cli_errors
@_governance_errors
def keys_show(workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """The active witness key and every pinned key."""
    ws = Workspace.open(workspace)
    status = witness_status(ws.aura)
    trust = TrustList.load(ws.aura)
    if json_out:
        print_json({"witness": status, "trusted_keys": trust.keys})
        return
    active = f"{status.key_id} ({status.status})" if status.key_id else ("missing" if not status.present else status.error)
    say(f"witness key: {active} at {status.path}" + (" (from AURAQUANT_WITNESS_KEY)" if status.from_env else ""))
    console.print(table("trust.json", ["key id", "status", "added", "revoked", "note"],
                        [(k.key_id, k.status, k.added_at, k.revoked_at, k.note) for k in trust.keys]))


@keys_app.command("trust")
@cli_errors
@_governance_errors
def keys_trust(
    public_key: Annotated[str, typer.Argument(help="64 hex chars, a PEM block, or a file holding either.")],
    note: NoteOpt = "",
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Pin a public key as trusted."""
    ws = Workspace.open(workspace)
    candidate = Path(public_key)
    text = candidate.read_text() if len(public_key) < 4096 and candidate.is_file() else public_key
    entry = trust_key(ws.aura, text, note=note)
    if json_out:
        print_json(entry)
    else:
        console.print(f"trusted {entry.key_id}")


@keys_app.command("revoke")
@cli_errors
@_governance_errors
def keys_revoke(
    key_id: str, yes: YesOpt = False, note: NoteOpt = "", workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Revoke a pinned key: every artifact it signed is refused from now on (permanent)."""
    ws = Workspace.open(workspace)
    _confirm_or_abort(f"Revoke key {key_id}? Artifacts it signed will no longer verify.", yes, json_out)
    entry = revoke_key(ws.aura, key_id, note=note)
    if json_out:
        print_json(entry)
    else:
        console.print(f"[red]revoked[/] {entry.key_id} at {entry.revoked_at}")


@keys_app.command("rotate")
@cli_errors
@_governance_errors
def keys_rotate(
    revoke_old: Annotated[bool, typer.Option("--revoke-old", help="Also revoke the old key.")] = False,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Make a new witness key and pin it; the old public key stays trusted unless `--revoke-old`."""
    ws = Workspace.open(workspace)
    old, new = rotate_witness_key(ws.aura, revoke_old=revoke_old)
    if json_out:
        print_json({"old_key_id": old, "new_key_id": new, "old_revoked": revoke_old})
    else:
        console.print(f"rotated witness key {old} -> {new}" + (" (old key revoked)" if revoke_old else
                                                                " (old key stays trusted)"))
