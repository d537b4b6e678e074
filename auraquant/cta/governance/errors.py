"""The governance error family. Every refusal is one of these, with a message that says what to do next."""

from __future__ import annotations

from auraquant.errors import UserError


class GovernanceError(UserError, RuntimeError):
    """Base of every governance refusal (the CLI renders these as one-line errors)."""


class IllegalTransition(GovernanceError):
    """A lifecycle transition the state machine does not allow (or not for this actor)."""


class ThresholdsNotMet(GovernanceError):
    """A record was offered as a candidate but its metrics miss the goal's thresholds."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__(message)
        self.failures = failures


class GatesNotMet(GovernanceError):
    """A record below the workspace's significance gates was offered for freezing; nothing was changed."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__(message)
        self.failures = failures


class SignatureInvalid(GovernanceError):
    """An artifact is unsigned, signed by an untrusted or revoked key, or its signature does not verify.

    Raised by the fail-closed gates (freeze, promotion, verify): nothing was changed.
    """


class TrustListInvalid(SignatureInvalid):
    """trust.json failed verification (hand-edited, unsigned where a signature is required, rolled back):
    nothing is verified against it until an approver re-signs it or a known-good copy is restored."""


class SigningUnavailable(GovernanceError):
    """No usable witness key (missing, unreadable, or not trusted in trust.json)."""


class ApprovalRefused(GovernanceError):
    """An approval was attempted by something other than a human at the CLI (e.g. from an agent session)."""


class ChainBroken(GovernanceError):
    """The lifecycle event chain failed verification (an event was edited, deleted, reordered or forged)."""


class RecordConflict(GovernanceError):
    """The record changed underneath an operation (a concurrent transition won the race); nothing was written."""


class KeyManagementError(GovernanceError):
    """A key operation that would leave trust.json inconsistent or was asked of an externally managed key."""
