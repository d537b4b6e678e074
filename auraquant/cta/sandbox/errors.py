"""Typed failures of agent-written modules run in the sandbox worker.

Every error names its cause in one line (`str(exc)`), so a tool can hand it to the agent verbatim and the
research loop goes on. All derive from `ModuleSandboxError` (a `RuntimeError`); `cause` is a stable
machine-readable tag (also the `kind` field of the worker's error replies).
"""

from __future__ import annotations

from auraquant.errors import UserError


class ModuleSandboxError(UserError, RuntimeError):
    """An agent-written module could not be run to completion inside the sandbox worker."""

    cause = "sandbox"


class SandboxTimeout(ModuleSandboxError):
    """The worker exceeded its wall-clock or CPU-time limit and was killed."""

    cause = "timeout"


class SandboxMemoryLimit(ModuleSandboxError):
    """The module exhausted the worker's address-space limit (RLIMIT_AS)."""

    cause = "memory"


class SandboxOutputFlood(ModuleSandboxError):
    """The worker wrote more than its output cap (stdout/stderr, a reply, or a file past RLIMIT_FSIZE)."""

    cause = "output"


class SandboxForkRefused(ModuleSandboxError):
    """The module tried to start a process (fork, clone, exec) and the worker was killed for it."""

    cause = "fork"


class SandboxCrashed(ModuleSandboxError):
    """The worker died for another reason (signal, unexpected exit) before answering."""

    cause = "crashed"


class SandboxProtocolViolation(ModuleSandboxError):
    """The worker's reply broke the protocol (bad frame, dtype, shape, index or oversized metadata)."""

    cause = "protocol"


class SandboxDenied(ModuleSandboxError):
    """The module attempted an operation the confinement forbids (a file outside scratch, the network...)."""

    cause = "denied"


class ModuleRaised(ModuleSandboxError, ValueError):
    """The module's own code raised (a bug or a contract violation); the worker stays usable. Also a
    `ValueError`, as the same failure of an in-process module always was."""

    cause = "module"


class ConfinementUnavailable(ModuleSandboxError):
    """The workspace requires OS confinement (`sandbox.require_os_confinement`) and none is available."""

    cause = "confinement"


BY_CAUSE: dict[str, type[ModuleSandboxError]] = {c.cause: c for c in (
    SandboxTimeout, SandboxMemoryLimit, SandboxOutputFlood, SandboxForkRefused, SandboxCrashed,
    SandboxProtocolViolation, SandboxDenied, ModuleRaised, ConfinementUnavailable)}
