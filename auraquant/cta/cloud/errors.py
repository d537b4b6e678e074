"""The cloud-offload error family: every refusal says what happened and what to do next."""

from __future__ import annotations

from auraquant.errors import UserError


class CloudError(UserError, RuntimeError):
    """Base of every cloud-offload failure (the CLI renders these as one-line errors)."""


class BundleError(CloudError):
    """A job bundle or a result directory is malformed, incomplete, or its contents do not match its hashes."""


class ConfirmationRequired(CloudError):
    """A long or costly run was requested without an explicit `--yes` (or an interactive confirmation)."""


class RemoteJobFailed(CloudError):
    """The remote session reported an error, was terminated, or the job exited non-zero; nothing was trusted."""


class BudgetReached(RemoteJobFailed):
    """The session hit its hard spend cap (`budget_reached`) before the job finished."""


class TrustRefused(CloudError):
    """Results from outside did not reproduce bit for bit locally (or were altered): nothing was archived."""
