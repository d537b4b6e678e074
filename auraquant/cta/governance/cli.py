"""Governance commands: `archive list|show|verify|export|anchor`, `keys show|trust|revoke|rotate`,
`keys approver init|show`, `approve`, `reject`.

Mount with `register(app)` (adds the `archive` and `keys` groups and the top-level `approve` / `reject`).
`approve` and `reject` are the only way a promotion decision is made: they ask for interactive confirmation
(`--yes` for scripts) and for the approver passphrase, and sign the decision with the approver key; the
approver's name comes from that key, never from the login name.

The passphrase is read with `getpass` from the terminal, or for scripts from `--passphrase-file PATH` (a file
that only its owner can read, as for key files) or `--passphrase-fd N` (an inherited file descriptor, e.g.
`3<secret`). There is deliberately no environment variable: the research process and everything it starts
inherit the environment, so a passphrase there would be readable by the agent's own process.

Readers verify before they show: `archive list` / `show` print a row that fails verification as UNVERIFIED
(red; `verified: false` and the reason in `--json`), never as plain numbers.
"""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.markup import escape

from auraquant.console import cli_errors, console, err_console, fail, print_json, say, table
from auraquant.cta.governance.actors import Actor
from auraquant.cta.governance.approver import (
    ApproverSigner,
    approver_configured,
    approver_key_path,
    approver_roots,
    init_approver,
    unlock_approver,
)
from auraquant.cta.governance.archive import Archive, RecordCheck, StoredRecord, checkpoint_sidecar
from auraquant.cta.governance.errors import GovernanceError, KeyManagementError, SignatureInvalid
from auraquant.cta.governance.keys import (
    TrustList,
    repair_trust,
    revoke_key,
    rotate_witness_key,
    trust_key,
    trust_pin_path,
    trust_sig_path,
    witness_status,
)
from auraquant.cta.governance.record import ArchiveRecord, LifecycleState, holdout_look_text
from auraquant.cta.governance.userconfig import check_private_file, config_dir
from auraquant.ids import resolve_id
from auraquant.workspace import Workspace

archive_app = typer.Typer(no_args_is_help=True, help="Signed research records: list, show, verify, export.")
keys_app = typer.Typer(no_args_is_help=True, help="Witness key and pinned trust list (.aura/config/trust.json).")
approver_app = typer.Typer(no_args_is_help=True, help="The human approver key (outside the workspace).")
keys_app.add_typer(approver_app, name="approver")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (stored with the decision).")]
PassFileOpt = Annotated[Path | None, typer.Option("--passphrase-file", help="Read the approver passphrase from "
                                                  "this file (mode 0600; first line) instead of the terminal.")]
PassFdOpt = Annotated[int | None, typer.Option("--passphrase-fd", help="Read the approver passphrase from this "
                                               "inherited file descriptor (first line) instead of the terminal.")]


def check_passphrase_source(file: Path | None, fd: int | None) -> None:
    """Refuse an unusable passphrase source up front (before any question is asked or anything changes): both
    given, or a file that is missing, not a regular file, readable by others or not UTF-8 text."""
    if file is not None and fd is not None:
        raise KeyManagementError("give --passphrase-file or --passphrase-fd, not both")
    if file is None:
        return
    if not file.is_file():
        raise KeyManagementError(f"passphrase file {file}: " + ("is a directory" if file.is_dir() else
                                                                "no such file"))
    check_private_file(file, "passphrase file")
    try:
        file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise KeyManagementError(f"passphrase file {file} is not UTF-8 text") from None


def read_passphrase(file: Path | None, fd: int | None, *, confirm: bool = False) -> str:
    """The approver passphrase from `file`, `fd`, or the terminal (asked twice when `confirm`)."""
    check_passphrase_source(file, fd)
    if file is not None:
        text = file.read_text(encoding="utf-8")
        return text.splitlines()[0] if text else ""
    if fd is not None:
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(fd, 1)
            if not chunk:
                break
            data += chunk
        return data.decode().rstrip("\r\n")
    first = getpass.getpass("Approver passphrase: ")
    if confirm and getpass.getpass("Repeat the passphrase: ") != first:
        raise KeyManagementError("the two passphrases differ; nothing was created")
    return first


def _unlock(file: Path | None, fd: int | None) -> ApproverSigner:
    return unlock_approver(read_passphrase(file, fd))


def _trust_approver(aura: Path, file: Path | None, fd: int | None) -> ApproverSigner | None:
    """The unlocked approver for a trust-list change: needed when this user has an approver key or the list
    is already signed; None (the list stays unsigned) for a workspace with no approver at all."""
    if approver_configured() or trust_sig_path(aura).exists() or trust_pin_path(aura).exists():
        return _unlock(file, fd)
    return None


def register(app: typer.Typer) -> None:
    """Mount every governance command on the top-level `auraquant` app."""
    app.add_typer(archive_app, name="archive")
    app.add_typer(keys_app, name="keys")  # includes `keys approver`
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


def _summary(s: StoredRecord | None, check: RecordCheck) -> dict[str, Any]:
    """One listed record; numbers only travel with `verified` (a failed check withholds nothing in JSON,
    but says it is not to be believed)."""
    base = {"id": check.record_id, "state": check.state, "verified": check.ok, "reason": check.problem,
            "signed": check.signed, "key_id": check.key_id}
    if s is None:
        return base
    r = s.record
    return base | {"family": r.family, "model_id": r.model_id, "spec_id": r.spec_id,
                   "data_version_id": r.data_version_id, "sharpe": r.metrics.get("sharpe"),
                   "trial_count": r.trial_count, "significance": r.significance.get("label"),
                   "failed_gates": r.significance.get("failed_gates") or None, "dsr": r.significance.get("dsr"),
                   "created_at": r.created_at.isoformat()}


UNVERIFIED = "[bold red]UNVERIFIED[/]"


@archive_app.command("list")
@cli_errors
@_governance_errors
def archive_list(
    state: Annotated[str | None, typer.Option(help="Only records in this state.")] = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Archived records, oldest first, each verified first (failures are shown as UNVERIFIED)."""
    states = get_args(LifecycleState)
    if state is not None and state not in states:
        raise typer.BadParameter(f"--state must be one of {', '.join(states)}; got {state!r}")
    records = [_summary(s, c) for s, c in _archive(workspace).checked(state)]  # type: ignore[arg-type]
    if json_out:
        print_json(records)
        return
    console.print(table("archive", ["id", "state", "family", "sharpe", "DSR", "significance", "trials", "signed",
                                    "model"],
                        [(r["id"], r["state"], r.get("family", "?"),
                          _fmt(r.get("sharpe")) if r["verified"] else UNVERIFIED,
                          _fmt(r.get("dsr")) if r["verified"] else UNVERIFIED,
                          _significance(r.get("significance")) if r["verified"] else UNVERIFIED,
                          r.get("trial_count", "?") if r["verified"] else UNVERIFIED,
                          r["key_id"] if r["verified"] else UNVERIFIED if r["signed"] else "[red]UNSIGNED[/]",
                          r.get("model_id", "?")) for r in records]))
    for r in records:  # the reasons go below the table: one copyable line each
        if not r["verified"]:
            err_console.print(f"[bold red]UNVERIFIED[/] {r['id']}: {escape(r['reason'] or '')}", highlight=False,
                              soft_wrap=True)


def _significance(label: str | None) -> str:
    return {"significant": "[green]significant[/]", "not significant": "[yellow]NOT SIGNIFICANT[/]"}.get(
        label or "", "-")


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
    """One record: contents (only once verified), verification, approval status and its lifecycle events."""
    arch = _archive(workspace)
    record_id = record_id if record_id is None else resolve_id(arch.store, record_id)
    check = arch.verify(record_id)
    stored = arch.get(record_id)
    status = arch.approval_status(record_id)
    events = arch.events(record_id)
    if json_out:
        print_json({"record": stored.record, "verified": check.ok, "reason": check.problem, "signed": stored.signed,
                    "envelope": stored.envelope.model_dump(exclude={"body"}) if stored.envelope else None,
                    "verification": check, "approval": status, "events": events})
        return
    r = stored.record

    def shown(text: str) -> str:  # unverified content is never printed as plain numbers
        return escape(text) if check.ok else f"{UNVERIFIED} [red]{escape(text)}[/]"

    rows: list[tuple[str, Any]] = [
        ("state", r.state), ("family", r.family), ("spec", f"{r.spec_id} ({r.spec_hash[:12]})"),
        ("data", f"{r.data_version_id} ({r.data_hash[:12]})"), ("run", r.run_id), ("model", r.model_id),
        ("trials", shown(str(r.trial_count))), ("parents", ", ".join(r.parents) or "-"),
        ("params", shown(", ".join(f"{k}={v}" for k, v in sorted(r.params.items())) or "-")),
        ("metrics", shown(", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.metrics.items())))),
        ("robustness", shown(", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.robustness.items())) or "-")),
        ("buy and hold", shown(_buy_and_hold(r))),
        ("significance", shown(_significance(r.significance.get("label")) + (
            f" — DSR {_fmt(r.significance.get('dsr'))} with the {r.significance.get('dsr_scope')} trial count "
            f"N={r.significance.get('dsr_n_trials')}, Var(SR)={_fmt(r.significance.get('dsr_sharpe_variance'))}; "
            f"gates: {r.significance.get('gates')}; PBO/SPA trials: {r.significance.get('pbo_spa_selection')}"
            + (f"; failed: {r.significance.get('failed_gates')}" if r.significance.get("failed_gates") else "")
            if r.significance else ""))),
        ("holdout", shown(", ".join(f"{k}={_fmt(v)}" for k, v in sorted((r.holdout or {}).items())) or "not scored")),
        ("holdout look", shown(holdout_look_text(r.holdout))),
        ("artifacts", shown(f"{len(r.artifacts)} pinned by sha256")),
        ("approval", shown(f"{r.approval.approved_by} at {r.approval.approved_at:%Y-%m-%d %H:%M:%S} UTC")
         if r.approval else status.next_step),
        ("signature", f"[green]valid[/] (key {check.key_id}, {check.signed_at})" if check.ok
         else f"[bold red]REFUSED[/]: {escape(check.problem or '')}"),
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
    record_id = record_id if record_id is None else resolve_id(arch.store, record_id)
    if file is not None:
        try:
            rec = arch.verify_artifact(file.read_bytes())
            checkpoint = arch.verify_checkpoint_file(checkpoint_sidecar(file))
        except SignatureInvalid as e:
            fail(f"REFUSED {file}: {e}", as_json=json_out, kind="SignatureInvalid")
            return
        if json_out:
            print_json({"ok": True, "file": str(file), "record_id": rec.id, "state": rec.state,
                        "checkpoint": checkpoint})
        else:
            console.print(f"[green]valid[/] {file}: {rec.id} ({rec.state})" +
                          (f", chain checkpoint at event {checkpoint['seq']}" if checkpoint else ""))
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
    record_id = resolve_id(ws.store, record_id)
    dest = out
    if dest is None:
        dest = ws.artifacts / "governance"
        dest.mkdir(parents=True, exist_ok=True)
    path = Archive(ws.store, ws.aura).export(record_id, dest)
    if json_out:
        print_json({"record_id": record_id, "path": str(path), "checkpoint": str(checkpoint_sidecar(path))})
    else:
        say(f"exported {record_id} -> {path} (chain checkpoint: {checkpoint_sidecar(path)})")


@archive_app.command("anchor")
@cli_errors
@_governance_errors
def archive_anchor(
    yes: YesOpt = False,
    passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Checkpoint a chain that has none (a workspace from before checkpoints, or moved to this user).

    A human decision: the chain must verify in every other respect; the approver passphrase is asked once an
    approver exists (configured here, or the workspace's trust list is signed)."""
    ws = Workspace.open(workspace)
    arch = Archive(ws.store, ws.aura)
    check_passphrase_source(passphrase_file, passphrase_fd)
    _confirm_or_abort("Anchor the current lifecycle chain head as trusted?", yes, json_out)
    key = _trust_approver(ws.aura, passphrase_file, passphrase_fd)
    seq = arch.anchor(key if key is not None else Actor.human())
    if json_out:
        print_json({"anchored_seq": seq})
    else:
        console.print(f"chain anchored at event {seq}")


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
    passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Promote a frozen record to production (a human with the approver key; everything is verified first,
    fail closed, and the decision is signed with the approver key)."""
    arch = _archive(workspace)
    record_id = record_id if record_id is None else resolve_id(arch.store, record_id)
    check_passphrase_source(passphrase_file, passphrase_fd)
    check = arch.verify(record_id)
    stored = arch.get(record_id)
    roots = approver_roots()
    if not roots:
        raise KeyManagementError("no approver configured: create the approver key with `auraquant keys approver "
                                 "init` (outside the workspace, passphrase-protected) before approving")
    names = ", ".join(sorted({r.name for r in roots.values()}))
    if not json_out:
        r = stored.record
        console.print(table(f"approve {record_id} -> production?", ["field", "value"], [
            ("state", r.state), ("family", r.family), ("model", r.model_id),
            ("metrics", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.metrics.items()))),
            ("buy and hold", _buy_and_hold(r)),
            ("holdout", ", ".join(f"{k}={_fmt(v)}" for k, v in sorted((r.holdout or {}).items())) or "not scored"),
            ("holdout look", holdout_look_text(r.holdout)),
            ("signature", "valid" if check.ok else f"REFUSED: {check.problem}"), ("approver key", names)]))
    if not check.ok:  # fail closed before asking anyone anything
        raise SignatureInvalid(f"refusing to promote {record_id}: {check.problem}")
    _confirm_or_abort(f"Promote {record_id} to production (approver key: {names})? "
                      f"({holdout_look_text(stored.record.holdout)})", yes, json_out)
    key = _unlock(passphrase_file, passphrase_fd)
    promoted = arch.approve(record_id, key, note=note)
    assert promoted.approval is not None
    if json_out:
        print_json({"record_id": record_id, "state": promoted.state, "approved_by": promoted.approval.approved_by,
                    "approver_key_id": key.key_id, "approved_at": promoted.approval.approved_at,
                    "request_id": promoted.approval.request_id})
    else:
        console.print(f"[green]{record_id} promoted to production[/] by {key.name} (approver key {key.key_id}) at "
                      f"{promoted.approval.approved_at:%Y-%m-%d %H:%M:%S} UTC")


@cli_errors
@_governance_errors
def reject(
    record_id: Annotated[str, typer.Argument(help="The frozen record whose promotion is declined.")],
    yes: YesOpt = False,
    note: NoteOpt = "",
    passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Decline promotion of a frozen record (it stays frozen; the decision is signed with the approver key
    and chained)."""
    arch = _archive(workspace)
    record_id = record_id if record_id is None else resolve_id(arch.store, record_id)
    check_passphrase_source(passphrase_file, passphrase_fd)
    arch.get(record_id)  # an unknown record is refused before anyone is asked anything
    _confirm_or_abort(f"Reject promotion of {record_id}?", yes, json_out)
    req = arch.reject(record_id, _unlock(passphrase_file, passphrase_fd), note=note)
    if json_out:
        print_json(req)
    else:
        console.print(f"{record_id}: promotion [red]rejected[/] by {req.resolved_by} at "
                      f"{req.resolved_at:%Y-%m-%d %H:%M:%S} UTC (request {req.id})")


# -- keys ----------------------------------------------------------------------------------------------------------
@keys_app.command("show")
@cli_errors
@_governance_errors
def keys_show(
    unverified: Annotated[bool, typer.Option("--unverified", help="Show trust.json even when its signature does "
                                             "not verify (to review it before `keys trust --repair`).")] = False,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """The active witness key, the approver key, every pinned key and the trust list's signature state."""
    ws = Workspace.open(workspace)
    trust = TrustList.load(ws.aura, verify_signature=not unverified)
    status = witness_status(ws.aura, trust)
    roots = approver_roots()
    approver = {"configured": approver_configured(), "path": str(approver_key_path()),
                "keys": [r.model_dump() for r in roots.values()]}
    if json_out:
        print_json({"witness": status, "trusted_keys": trust.keys, "trust_list": trust.signature_state,
                    "approver": approver})
        return
    active = f"{status.key_id} ({status.status})" if status.key_id else ("missing" if not status.present else status.error)
    say(f"witness key: {active} at {status.path}" + (" (from AURAQUANT_WITNESS_KEY)" if status.from_env else ""))
    say("approver: " + (", ".join(f"{r.name} ({r.key_id})" for r in roots.values()) if roots else
                        "no approver configured (`auraquant keys approver init`); production needs one"))
    say(f"trust list: {trust.signature_state}")
    console.print(table("trust.json", ["key id", "role", "status", "added", "revoked", "note"],
                        [(k.key_id, k.role, k.status, k.added_at, k.revoked_at, k.note) for k in trust.keys]))


@keys_app.command("trust")
@cli_errors
@_governance_errors
def keys_trust(
    public_key: Annotated[str | None, typer.Argument(help="64 hex chars, a PEM block, or a file holding either.")]
    = None,
    repair: Annotated[bool, typer.Option("--repair", help="Re-sign trust.json as it is now, after review (the way "
                                         "back from a list that fails verification).")] = False,
    note: NoteOpt = "",
    yes: YesOpt = False,
    passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Pin a public key as a trusted witness key (signed by the approver key when one is configured), or
    `--repair`: re-sign the current list with the approver key."""
    ws = Workspace.open(workspace)
    if repair:
        current = TrustList.load(ws.aura, verify_signature=False)
        if not json_out:
            console.print(table("trust.json as it is now (NOT verified)", ["key id", "role", "status", "note"],
                                [(k.key_id, k.role, k.status, k.note) for k in current.keys]))
        _confirm_or_abort("Sign this trust list with the approver key?", yes, json_out)
        trust = repair_trust(ws.aura, _unlock(passphrase_file, passphrase_fd))
        if json_out:
            print_json({"trust_list": trust.signature_state, "keys": trust.keys})
        else:
            console.print(f"trust list re-signed: {trust.signature_state}")
        return
    if public_key is None:
        raise KeyManagementError("give the public key to trust (or --repair)")
    candidate = Path(public_key)
    text = candidate.read_text() if len(public_key) < 4096 and candidate.is_file() else public_key
    approver = _trust_approver(ws.aura, passphrase_file, passphrase_fd)
    entry = trust_key(ws.aura, text, note=note, approver=approver)
    if json_out:
        print_json(entry)
    else:
        console.print(f"trusted {entry.key_id}" + ("" if approver else
                                                    " (trust list unsigned: no approver configured)"))


@keys_app.command("revoke")
@cli_errors
@_governance_errors
def keys_revoke(
    key_id: str, yes: YesOpt = False, note: NoteOpt = "", passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None, workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False,
) -> None:
    """Revoke a pinned key: every artifact it signed is refused from now on (permanent)."""
    ws = Workspace.open(workspace)
    check_passphrase_source(passphrase_file, passphrase_fd)
    if TrustList.load(ws.aura).get(key_id) is None:  # refused before the question, not after
        raise KeyManagementError(f"no key {key_id} in trust.json (`auraquant keys show` lists them)")
    _confirm_or_abort(f"Revoke key {key_id}? Artifacts it signed will no longer verify.", yes, json_out)
    entry = revoke_key(ws.aura, key_id, note=note,
                       approver=_trust_approver(ws.aura, passphrase_file, passphrase_fd))
    if json_out:
        print_json(entry)
    else:
        console.print(f"[red]revoked[/] {entry.key_id} at {entry.revoked_at}")


@keys_app.command("rotate")
@cli_errors
@_governance_errors
def keys_rotate(
    revoke_old: Annotated[bool, typer.Option("--revoke-old", help="Also revoke the old key.")] = False,
    passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None,
    workspace: WorkspaceOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Make a new witness key and pin it; the old public key stays trusted unless `--revoke-old`."""
    ws = Workspace.open(workspace)
    check_passphrase_source(passphrase_file, passphrase_fd)
    old, new = rotate_witness_key(ws.aura, revoke_old=revoke_old,
                                  approver=_trust_approver(ws.aura, passphrase_file, passphrase_fd))
    if json_out:
        print_json({"old_key_id": old, "new_key_id": new, "old_revoked": revoke_old})
    else:
        console.print(f"rotated witness key {old} -> {new}" + (" (old key revoked)" if revoke_old else
                                                                " (old key stays trusted)"))


@approver_app.command("init")
@cli_errors
@_governance_errors
def approver_init(
    name: Annotated[str | None, typer.Option("--name", help="The approver's name, recorded with every decision "
                                             "(default: your login name).")] = None,
    passphrase_file: PassFileOpt = None,
    passphrase_fd: PassFdOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create the approver key (Ed25519, passphrase-encrypted, 0600) in the user config dir and pin it."""
    passphrase = read_passphrase(passphrase_file, passphrase_fd, confirm=True)
    root = init_approver(name or getpass.getuser(), passphrase, now=datetime.now(UTC))
    if json_out:
        print_json({"key_id": root.key_id, "name": root.name, "path": str(approver_key_path()),
                    "config_dir": str(config_dir())})
    else:
        say(f"approver key {root.key_id} for {root.name} at {approver_key_path()} (passphrase-protected)")
        say("approve/reject and trust-list changes now ask for this passphrase")


@approver_app.command("show")
@cli_errors
@_governance_errors
def approver_show(json_out: JsonOpt = False) -> None:
    """The approver key of this user and every pinned approver public key."""
    roots = approver_roots()
    body = {"configured": approver_configured(), "path": str(approver_key_path()),
            "approvers": [r.model_dump() for r in roots.values()]}
    if json_out:
        print_json(body)
        return
    say(f"approver key: {'present' if body['configured'] else 'none'} at {approver_key_path()}")
    console.print(table("pinned approvers", ["key id", "name", "added"],
                        [(r.key_id, r.name, r.added_at) for r in roots.values()]))
